"""How error and warning messages word counts, lists and exceptions.

One job: the small pieces of wording that the command line and the
pooling share, so that a list of names reads the same in every message.
"""


def one_line(exc):
    """An exception's message on one line (its type's name if it has none)."""
    lines = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in lines) if lines else type(exc).__name__


def plural(count):
    """The plural ``s`` of a number, or of a list's length."""
    if not isinstance(count, int):
        count = len(count)
    return "" if count == 1 else "s"


def listing(items, limit=5):
    """Join texts with commas, cut after ``limit`` so messages stay one line.

    >>> listing(["'a'", "'b'", "'c'"], limit=2)
    "'a', 'b' and 1 more"
    """
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def names_of(names, limit=5):
    """:func:`listing` of names, each as its ``repr``."""
    return listing([repr(name) for name in names], limit)
