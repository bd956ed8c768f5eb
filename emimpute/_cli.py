"""The ``emimpute`` command line: impute or cluster a CSV file, or run a demo.

Only the standard library and numpy read and write the CSV files, so the
command line works without pandas. Every user error ends as one line on
stderr and exit code 2, never as a traceback.
"""

import argparse
import csv
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

USER_ERROR = 2
INTERNAL_ERROR = 1

# Cells read as missing, compared case-insensitively after stripping spaces.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null"})

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Fits that take longer than this many seconds announce themselves on stderr.
PROGRESS_DELAY = 2.0


class CLIError(Exception):
    """A problem with the user's input, reported as one line."""


# --------------------------------------------------------------------------
# CSV input and output


@dataclass
class Table:
    """A CSV file as read: the cells verbatim plus the numeric columns parsed.

    Attributes
    ----------
    header : list of str
        Column names, verbatim.
    cells : list of list of str
        Data rows, verbatim, so observed cells can be written back exactly.
    numeric : list of int
        Indices of the columns that the model sees.
    values : ndarray of shape (n_rows, len(numeric))
        The numeric columns as float64, NaN where missing.
    """

    header: list
    cells: list
    numeric: list
    values: np.ndarray

    @property
    def n_rows(self):
        return len(self.cells)


def read_table(path, *, delimiter=",", passthrough=False, hint=""):
    """Read a CSV file with a header row into a :class:`Table`.

    Non-numeric columns raise a :class:`CLIError` naming them and ending with
    ``hint``, unless ``passthrough`` is True, in which case they are left out
    of ``values``.
    """
    with progress(f"reading {path}"):
        header, cells, lines = _read_rows(path, delimiter)
        numeric, values, non_numeric = [], [], []
        for j, name in enumerate(header):
            column, bad = _parse_column([row[j] for row in cells])
            if bad is None:
                numeric.append(j)
                values.append(column)
            else:
                row, token = bad
                non_numeric.append(f"{name!r} ({token!r} on line {lines[row]})")

    if non_numeric and not passthrough:
        raise CLIError(
            f"{path}: non-numeric column{_plural(non_numeric)} "
            f"{_listing(non_numeric)}; remove {_them(non_numeric)}{hint}"
        )
    if not numeric:
        raise CLIError(f"{path}: no numeric column to work on")
    values = np.column_stack(values)

    infinite = [header[numeric[j]] for j in np.flatnonzero(np.isinf(values).any(0))]
    if infinite:
        raise CLIError(
            f"{path}: infinite values in column{_plural(infinite)} "
            f"{_names(infinite)}; EM needs finite numbers"
        )
    empty = [header[numeric[j]] for j in np.flatnonzero(np.isnan(values).all(0))]
    if empty:
        raise CLIError(
            f"{path}: column{_plural(empty)} {_names(empty)} "
            f"{'has' if len(empty) == 1 else 'have'} no values; "
            f"remove {_them(empty)} first"
        )
    return Table(header=header, cells=cells, numeric=numeric, values=values)


def _read_rows(path, delimiter):
    """The header, the data rows and their line numbers; blank lines skipped."""
    try:
        # utf-8-sig drops the byte-order mark that spreadsheets like to add.
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            rows, lines = [], []
            for row in reader:
                if row:
                    rows.append(row)
                    lines.append(reader.line_num)
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a UTF-8 text file") from None
    except (OSError, csv.Error) as exc:
        raise CLIError(f"{path}: cannot read: {_one_line(exc)}") from None

    if not rows:
        raise CLIError(f"{path}: empty file, expected a header row and data rows")
    header, cells, lines = rows[0], rows[1:], lines[1:]
    if not cells:
        raise CLIError(f"{path}: no data rows after the header")
    for row, line in zip(cells, lines, strict=True):
        if len(row) != len(header):
            raise CLIError(
                f"{path}: line {line} has {len(row)} field{_plural(row)} but the "
                f"header has {len(header)}"
            )
    return header, cells, lines


def _parse_column(tokens):
    """Parse one column: (float64 array, None), or (None, (row, bad token))."""
    column = np.empty(len(tokens))
    for i, token in enumerate(tokens):
        stripped = token.strip()
        if stripped.lower() in MISSING_TOKENS:
            column[i] = np.nan
            continue
        try:
            column[i] = float(stripped)
        except ValueError:
            return None, (i, token)
    return column, None


def write_table(path, table, numeric_values, *, fill="observed", delimiter=","):
    """Write ``table`` with its numeric columns taken from ``numeric_values``.

    Parameters
    ----------
    fill : {"observed", "blank"}
        What to write in the observed numeric cells and in the other columns:
        ``"observed"`` writes them verbatim as read (the imputed table),
        ``"blank"`` writes the numeric values everywhere and leaves the
        passthrough columns empty (the std table).
    """
    with progress(f"writing {path}"):
        rows = _output_rows(table, numeric_values, fill)
        write_rows(path, [table.header, *rows], delimiter=delimiter)


def _output_rows(table, numeric_values, fill):
    """The data rows that :func:`write_table` writes, one list at a time."""
    observed = ~np.isnan(table.values)
    for i, row in enumerate(table.cells):
        out = list(row) if fill == "observed" else [""] * len(row)
        for k, j in enumerate(table.numeric):
            if fill == "blank" or not observed[i, k]:
                # repr gives the shortest string that reads back to the same
                # float, so nothing is lost in the round trip.
                out[j] = repr(float(numeric_values[i, k]))
        yield out


def write_rows(path, rows, *, delimiter=","):
    """Write rows to a CSV file, or to stdout when ``path`` is ``-``."""
    try:
        if path == "-":
            csv.writer(sys.stdout, delimiter=delimiter, lineterminator="\n").writerows(
                rows
            )
            return
        with open(path, "w", newline="", encoding="utf-8") as file:
            csv.writer(file, delimiter=delimiter, lineterminator="\n").writerows(rows)
    except OSError as exc:
        raise CLIError(f"{path}: cannot write: {_one_line(exc)}") from None


# --------------------------------------------------------------------------
# Fitting with a progress line and one-line errors and warnings


@contextmanager
def progress(what, *, delay=PROGRESS_DELAY):
    """Announce ``what`` on stderr if it runs longer than ``delay`` seconds."""
    announced = threading.Event()

    def announce():
        announced.set()
        print(f"emimpute: {what} ...", file=sys.stderr, flush=True)

    # A timer rather than a line up front keeps quick runs quiet while a
    # long one still says at once (not only at the end) what it is doing.
    timer = threading.Timer(delay, announce)
    timer.daemon = True
    start = time.perf_counter()
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
    if announced.is_set():
        elapsed = time.perf_counter() - start
        print(f"emimpute: {what} done in {elapsed:.1f} s", file=sys.stderr)


@contextmanager
def user_errors(what):
    """Turn the estimators' errors and warnings into one-line messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise CLIError(f"{what}: {_one_line(exc)}") from None
        finally:
            seen = set()
            for warning in caught:
                message = _one_line(warning.message)
                if message not in seen:
                    seen.add(message)
                    print(f"emimpute: warning: {message}", file=sys.stderr)


def _check_rows(table, n_components, path):
    if table.n_rows < n_components:
        raise CLIError(
            f"{path}: {table.n_rows} data row{_plural(table.cells)}, fewer than "
            f"--n-components {n_components}"
        )


def _read_fit_table(args, *, passthrough, hint):
    """The ``--input`` table, checked to have enough rows to fit."""
    table = read_table(
        args.input, delimiter=args.delimiter, passthrough=passthrough, hint=hint
    )
    _check_rows(table, args.n_components, args.input)
    return table


def _em_parameters(args):
    """The estimator parameters that ``impute`` and ``cluster`` share."""
    return dict(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        max_iter=args.max_iter,
        n_init=args.n_init,
        random_state=args.random_state,
    )


# --------------------------------------------------------------------------
# Subcommands


def run_impute(args):
    """``emimpute impute``: fill the holes of a CSV file."""
    from emimpute import EMImputer

    table = _read_fit_table(
        args,
        passthrough=args.passthrough,
        hint=" or pass --passthrough to copy them to the output untouched",
    )
    imputer = EMImputer(**_em_parameters(args), sample_posterior=args.sample_posterior)
    n_rows, n_cols = table.values.shape
    with (
        progress(f"fitting EMImputer on {n_rows} rows x {n_cols} columns"),
        user_errors("cannot impute"),
    ):
        imputer.fit(table.values)
        if args.std is not None:
            imputed, std = imputer.transform(table.values, return_std=True)
        else:
            imputed = imputer.transform(table.values)

    write_table(args.output, table, imputed, delimiter=args.delimiter)
    if args.std is not None:
        write_table(args.std, table, std, fill="blank", delimiter=args.delimiter)
    return 0


def run_cluster(args):
    """``emimpute cluster``: label the rows of a CSV file."""
    from emimpute import EMMixture

    table = _read_fit_table(
        args, passthrough=args.ignore_non_numeric, hint=" or pass --ignore-non-numeric"
    )
    mixture = EMMixture(**_em_parameters(args))
    n_rows, n_cols = table.values.shape
    with (
        progress(f"fitting EMMixture on {n_rows} rows x {n_cols} columns"),
        user_errors("cannot cluster"),
    ):
        labels = mixture.fit_predict(table.values)
        proba = mixture.predict_proba(table.values) if args.proba else None

    write_rows(
        args.output,
        [["label"], *([str(label)] for label in labels)],
        delimiter=args.delimiter,
    )
    if proba is not None:
        header = [f"proba_{k}" for k in range(proba.shape[1])]
        body = [[repr(float(p)) for p in row] for row in proba]
        write_rows(args.proba, [header, *body], delimiter=args.delimiter)
    return 0


def run_demo(args):
    """``emimpute demo``: the main job on the bundled Old Faithful data."""
    from emimpute._demo import demo

    with user_errors("demo failed"):
        return demo(
            output=args.output,
            missing_rate=args.missing_rate,
            random_state=args.random_state,
        )


# --------------------------------------------------------------------------
# Argument parsing


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _delimiter(text):
    # Shells make a literal tab awkward to type, so accept "\t" as well.
    text = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character, got {text!r}")
    return text


def _rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def _add_model_options(parser, *, n_components):
    parser.add_argument(
        "--n-components",
        type=_positive_int,
        default=n_components,
        help=f"number of Gaussian components (default: {n_components})",
    )
    parser.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="shape of each component's covariance (default: full)",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of the initialisation, for reproducible output (default: 0)",
    )
    parser.add_argument(
        "--max-iter",
        type=_positive_int,
        default=100,
        help="maximum number of EM iterations (default: 100)",
    )
    parser.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        help="number of EM restarts, the best is kept (default: 1)",
    )
    parser.add_argument(
        "--delimiter",
        type=_delimiter,
        default=",",
        help="field delimiter of the CSV files, one character or \\t (default: ',')",
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors fit on one line, like the others."""

    def error(self, message):
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    """The argument parser of the ``emimpute`` command."""
    parser = _Parser(
        prog="emimpute",
        description=(
            "Fit Gaussian mixtures by EM on incomplete data: fill the holes of a "
            "CSV file, cluster its rows, or run a demo on bundled data. Empty "
            "cells and NA, NaN, N/A, null are read as missing."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    impute = subparsers.add_parser(
        "impute",
        help="fill the missing cells of a CSV file",
        description=(
            "Fill the missing cells of a CSV file with their conditional "
            "expectation under a Gaussian mixture fit by EM. The output has the "
            "input's shape and column names, and the observed cells verbatim."
        ),
    )
    impute.add_argument("input", metavar="IN.csv", help="CSV file with a header row")
    impute.add_argument(
        "-o",
        "--output",
        metavar="OUT.csv",
        default="-",
        help="where to write the imputed table (default: stdout)",
    )
    impute.add_argument(
        "--std",
        metavar="OUT_STD.csv",
        help="also write the conditional std of every cell (0 where observed)",
    )
    impute.add_argument(
        "--sample-posterior",
        action="store_true",
        help="fill with a draw from the conditional distribution, not its mean",
    )
    impute.add_argument(
        "--passthrough",
        action="store_true",
        help="copy non-numeric columns to the output untouched instead of failing",
    )
    _add_model_options(impute, n_components=1)
    impute.set_defaults(run=run_impute)

    cluster = subparsers.add_parser(
        "cluster",
        help="assign the rows of a CSV file to mixture components",
        description=(
            "Fit a Gaussian mixture by EM, marginalising the missing cells, and "
            "write the most likely component of every row."
        ),
    )
    cluster.add_argument("input", metavar="IN.csv", help="CSV file with a header row")
    cluster.add_argument(
        "-o",
        "--output",
        metavar="LABELS.csv",
        default="-",
        help="where to write the labels, one per row (default: stdout)",
    )
    cluster.add_argument(
        "--proba",
        metavar="PROBA.csv",
        help="also write every row's component probabilities",
    )
    cluster.add_argument(
        "--ignore-non-numeric",
        action="store_true",
        help="cluster on the numeric columns only instead of failing",
    )
    _add_model_options(cluster, n_components=2)
    cluster.set_defaults(run=run_cluster)

    demo = subparsers.add_parser(
        "demo",
        help="impute and cluster the bundled Old Faithful data",
        description=(
            "Remove a share of the bundled Old Faithful data at random, fit a "
            "two-component mixture by EM, print the clusters and the imputation "
            "error next to mean imputation's, and draw a figure."
        ),
    )
    demo.add_argument(
        "--output",
        "-o",
        metavar="FIG.png",
        default="emimpute_demo.png",
        help="where to write the figure (default: emimpute_demo.png)",
    )
    demo.add_argument(
        "--missing-rate",
        type=_rate,
        default=0.3,
        help="share of the values to remove (default: 0.3)",
    )
    demo.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of the holes and of the fits (default: 0)",
    )
    demo.set_defaults(run=run_demo)
    return parser


def main(argv=None):
    """Run the ``emimpute`` command line.

    The console script ``emimpute`` and ``python -m emimpute`` both call it.
    Errors in the input end as one line on stderr and a non-zero status,
    never as a traceback.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    status : int
        0 on success, 2 on a user error (bad input or arguments), 1 on an
        unexpected failure.

    Examples
    --------
    >>> from emimpute._cli import main
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: emimpute [-h] COMMAND ...
    ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except SystemExit as exc:
        # argparse exits on --help and on bad arguments; return its status so
        # that main() can be called from Python too.
        return exc.code if isinstance(exc.code, int) else USER_ERROR
    except CLIError as exc:
        print(f"emimpute: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("emimpute: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a command line never shows a traceback
        print(
            f"emimpute: error: unexpected {type(exc).__name__}: {_one_line(exc)}",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


# --------------------------------------------------------------------------
# Message helpers


def _one_line(exc):
    lines = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in lines) if lines else type(exc).__name__


def _plural(items):
    return "" if len(items) == 1 else "s"


def _them(items):
    return "it" if len(items) == 1 else "them"


def _names(names):
    return _listing([repr(name) for name in names])


def _listing(items, limit=5):
    """Join items with commas, cut after ``limit`` so messages stay one line."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
