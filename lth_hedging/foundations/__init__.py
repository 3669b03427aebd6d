"""The bottom layer: the config schema, the experiment store, code fingerprints. Imports
nothing else of the package."""
