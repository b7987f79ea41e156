"""padctl: the clerk's and technician's tool for the PIN pads (the simulated world: padsim)."""
__version__ = "0.1.0"
