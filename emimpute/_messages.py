"""How error and warning messages word counts, lists and exceptions.

One job: the small pieces of wording that the command line and the
pooling share, so that a list of names reads the same in every message.
"""

import os


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


def cannot_write(path, exc):
    """``PATH: cannot write: REASON``, the reason of an OSError in words.

    Python's text of the error starts with ``[Errno N]``, a number meant for
    programs, and repeats the path.

    Parameters
    ----------
    path : str or path-like
        The output, as the user named it.
    exc : OSError
        What writing it raised.

    Returns
    -------
    message : str
        One line; the file the error names, when it is another (the target
        of a link), in parentheses.

    Examples
    --------
    >>> import errno
    >>> from emimpute._messages import cannot_write
    >>> cannot_write("out.csv", OSError(errno.ENOSPC, "No space left on device"))
    'out.csv: cannot write: No space left on device'
    """
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else None)
    if reason is None:
        return f"{path}: cannot write: {one_line(exc)}"
    if exc.filename is not None and str(exc.filename) != str(path):
        reason = f"{reason} ({exc.filename})"
    return f"{path}: cannot write: {reason}"
