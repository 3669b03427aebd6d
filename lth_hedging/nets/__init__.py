"""The networks: the model, P&L and risk measures, training one network or a stack of them,
masks, and where networks train (device, threads, Ray). Imports ``market`` and below."""
