"""tfgrad: controllable gradient item retrieval and visually-aware recommendation."""

__version__ = "0.1.0"
