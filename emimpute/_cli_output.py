"""The output paths of the ``emimpute`` command, checked before any work.

Each file writable, no two the same file, none but ``-o`` the input, at most
one on stdout (:func:`_check_outputs`), so that a long fit does not end in
an error about where to write. Only the standard library is imported, and
from the command line's own modules the error it raises
(:mod:`emimpute._cli_errors`) and the message of a failed write
(:mod:`emimpute._messages`).
"""

import os
import pathlib

from emimpute._cli_errors import CLIError
from emimpute._messages import cannot_write


def _check_outputs(args, outputs, *, input_allowed=()):
    """Refuse outputs that would clash, or that cannot be written, before the
    work.

    ``outputs`` are ``(option, path)`` pairs, ``-`` for stdout. At most one
    may write to stdout, no two the same file, and none the input, except
    the options of ``input_allowed`` (``impute -o IN.csv`` rewrites the
    input with its holes filled, which reading it first makes safe).
    """
    on_stdout = [(option, path) for option, path in outputs if _is_stdout(path)]
    if len(on_stdout) > 1:
        # -o writes to stdout by default: the user may not have typed "-o -".
        names = [
            option if (option, path) == ("-o", "-") else f"{option} {path}"
            for option, path in on_stdout
        ]
        args.parser.error(
            f"{' and '.join(names)} both write to stdout (-o does by default); give "
            "one of them a file"
        )
    files = [(option, path) for option, path in outputs if not _is_stdout(path)]
    for k, (option, path) in enumerate(files):
        for other_option, other in files[:k]:
            # Output thrown away twice is no clash.
            if _same_file(path, other) and not _same_file(path, os.devnull):
                args.parser.error(
                    f"{other_option} {other} and {option} {path} are the same "
                    "file; give each output its own"
                )
        if args.input != "-" and option not in input_allowed:
            if _same_file(path, args.input):
                args.parser.error(
                    f"{option} {path} is the input file, which it would "
                    "overwrite; give it another name"
                )
    for _, path in files:
        _check_writable(path)


# The names of the command's stdout on Linux and macOS.
STDOUT_NAMES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def _is_stdout(path):
    """Whether an output goes to stdout: ``-``, a name of it, or the file
    that stdout is redirected to (``-o out.csv > out.csv``). /dev/null is
    not: output thrown away twice is no clash."""
    if path == "-" or str(path) in STDOUT_NAMES:
        return True
    if _same_file(path, os.devnull):
        return False
    try:
        return os.path.samefile(path, "/dev/stdout")
    except (OSError, ValueError):  # no such path, or no /dev/stdout
        return False


def _same_file(a, b):
    """Whether two paths name one file: the same once resolved (links
    followed), or, when both exist, the same file on disk (a hard link)."""
    a, b = pathlib.Path(a), pathlib.Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _check_writable(output):
    """Refuse a path that cannot be written, before the work that fills it.

    Its directory must exist. A regular file is opened for appending, which
    leaves it as it is; a path with nothing there is created to try, then
    removed. Anything else is not opened: a named pipe's reader would take
    the close for the end of the output, and a dangling link would be
    replaced by a file when removed, its target left empty. Of those, what
    can be told without opening is checked: a dangling link's directory is
    writable, a pipe or device is open to us for writing.
    """
    path = pathlib.Path(output)
    directory = path.resolve().parent
    if not directory.is_dir():
        raise CLIError(f"{output}: cannot write: no directory {str(directory)!r}")
    if path.is_file() or path.is_dir():  # a directory fails to open, EISDIR
        _try_open(output, os.O_WRONLY | os.O_APPEND)
    elif path.is_symlink() or path.exists():
        # A dangling link (written through, to its target), a pipe, a device.
        where = path if path.exists() else directory
        if not os.access(where, os.W_OK):
            raise CLIError(f"{output}: cannot write: {str(where)!r} is not writable")
    else:
        # O_EXCL creates the file, or fails if something (a link) is there
        # by now: what is removed is the file just made.
        _try_open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        path.unlink()


def _try_open(output, flags):
    """Open and close ``output`` with ``flags``, or a one-line error."""
    try:
        os.close(os.open(output, flags, 0o666))
    except OSError as exc:
        raise CLIError(cannot_write(output, exc)) from None
