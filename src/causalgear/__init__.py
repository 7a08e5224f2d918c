"""causalgear: find the causal gears inside a language model, prove them, and turn them."""

__version__ = "0.1.0"
