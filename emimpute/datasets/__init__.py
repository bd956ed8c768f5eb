"""Small bundled datasets and a helper to make complete data incomplete."""

from emimpute.datasets._faithful import load_old_faithful
from emimpute.datasets._missing import make_missing
from emimpute.datasets._penguins import load_penguins

__all__ = ["load_old_faithful", "load_penguins", "make_missing"]
