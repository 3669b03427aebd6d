"""Measures of trained networks: convergence speed, P&L statistics and tests over seeds,
what a mask and its weights are made of. Imports ``nets`` and below."""
