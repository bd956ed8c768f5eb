"""emimpute: Gaussian and Gaussian-mixture models fit by EM on incomplete data."""

__version__ = "0.1.0"
