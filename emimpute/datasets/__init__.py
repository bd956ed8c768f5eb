"""Small bundled datasets and a helper to make complete data incomplete."""

from emimpute.datasets._faithful import load_old_faithful
from emimpute.datasets._missing import make_missing

__all__ = ["load_old_faithful", "make_missing"]
