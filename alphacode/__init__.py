"""alphacode: an open, runnable AlphaCode-style system."""

__version__ = "0.1.0"
