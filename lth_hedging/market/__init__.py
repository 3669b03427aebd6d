"""The market: Heston paths, prices and greeks, the traded instruments, the classical hedges
along paths, the network's inputs. Imports only ``foundations``."""
