"""envdoctor: diagnose, fix and prove GPU deep-learning environments."""

__version__ = "0.1.0"
