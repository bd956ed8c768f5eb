"""The ``emimpute`` command line: impute or cluster a CSV file, or run a demo.

Columns of numbers are modelled as numbers and columns of text as
categories (see :func:`read_table`). Only the standard library and numpy read
and write the CSV files, so the command line works without pandas. Every user
error ends as one line on stderr and exit code 2, never as a traceback.
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

# The value of a bare --passthrough: every non-numeric column.
ALL_NON_NUMERIC = "<every non-numeric column>"


@dataclass(frozen=True)
class ColumnChoice:
    """What the command line says about the columns of the input.

    Attributes
    ----------
    skip : tuple of str
        Names of the columns left out of the model (``--passthrough COL`` of
        ``impute``, ``--ignore COL`` of ``cluster``).
    skip_non_numeric : bool
        Leave out every column that is not all numbers, except those named
        in ``categorical`` (a bare ``--passthrough``, ``--ignore-non-numeric``).
    categorical : tuple of str
        Names of the columns modelled as categories whatever they hold
        (``--categorical``).
    detect : bool
        Model the text columns as categories (False with ``--no-categorical``).
    skip_option : str
        The option that leaves a column out, for the messages.
    hint : str
        End of the message that lists the columns nothing models.
    """

    skip: tuple = ()
    skip_non_numeric: bool = False
    categorical: tuple = ()
    detect: bool = True
    skip_option: str = "--passthrough"
    hint: str = ""


@dataclass
class Table:
    """A CSV file as read: the cells verbatim plus the modelled columns parsed.

    Attributes
    ----------
    header : list of str
        Column names, verbatim.
    cells : list of list of str
        Data rows, verbatim, so observed cells can be written back exactly.
    numeric : list of int
        Indices of the columns that the model sees as numbers.
    values : ndarray of shape (n_rows, len(numeric))
        The numeric columns as float64, NaN where missing.
    categorical : list of int
        Indices of the columns that the model sees as categories.
    labels : ndarray of shape (n_rows, len(categorical))
        The categorical cells as str, stripped of surrounding spaces, None
        where missing.
    """

    header: list
    cells: list
    numeric: list
    values: np.ndarray
    categorical: list
    labels: np.ndarray

    @property
    def n_rows(self):
        return len(self.cells)

    @property
    def modelled(self):
        """Indices of the columns the model sees, in the file's order."""
        return sorted(self.numeric + self.categorical)

    @property
    def categorical_positions(self):
        """Positions of the categorical columns among :attr:`modelled`."""
        modelled = self.modelled
        return [modelled.index(j) for j in self.categorical]

    def model_input(self):
        """What the estimators fit: float64, or an object array with categories.

        Without a categorical column this is :attr:`values` itself, so the
        fit is exactly the one of a numeric array.
        """
        if not self.categorical:
            return self.values
        modelled = self.modelled
        X = np.empty((self.n_rows, len(modelled)), dtype=object)
        X[:, [modelled.index(j) for j in self.numeric]] = self.values
        X[:, self.categorical_positions] = self.labels
        return X

    def missing(self):
        """True where a modelled cell is missing, columns as :attr:`modelled`."""
        if not self.categorical:
            return np.isnan(self.values)
        modelled = self.modelled
        mask = np.zeros((self.n_rows, len(modelled)), dtype=bool)
        mask[:, [modelled.index(j) for j in self.numeric]] = np.isnan(self.values)
        mask[:, self.categorical_positions] = np.equal(self.labels, None)
        return mask


@dataclass
class _Column:
    """One column as parsed: its numbers, and its first cell that is not one."""

    values: np.ndarray  # the numbers, NaN in the other cells
    n_numbers: int
    text: tuple | None  # (row, token) of the first non-numeric cell

    @property
    def kind(self):
        if self.text is None:
            return "numeric"
        return "mixed" if self.n_numbers else "text"


def read_table(path, *, delimiter=",", columns=ColumnChoice()):
    """Read a CSV file with a header row into a :class:`Table`.

    ``columns`` decides which columns are modelled and how: a column of
    numbers is numeric, a column of text categorical when
    ``columns.detect``; a column named in ``columns.categorical`` is
    categorical whatever it holds, one named in ``columns.skip`` left out.
    A column that nothing models raises a :class:`CLIError` naming it.
    """
    with progress(f"reading {path}"):
        header, cells, lines = _read_rows(path, delimiter)
        parsed = [_parse_column([row[j] for row in cells]) for j in range(len(header))]
    skip = set(_resolve(columns.skip, header, columns.skip_option, path))
    forced = set(_resolve(columns.categorical, header, "--categorical", path))
    both = sorted(skip & forced)
    if both:
        raise CLIError(
            f"{path}: column{_plural(both)} {_names([header[j] for j in both])} "
            f"named in both {columns.skip_option} and --categorical"
        )

    numeric, categorical, text, mixed = [], [], [], []
    for j, column in enumerate(parsed):
        if j in forced:
            categorical.append(j)
        elif j in skip or (columns.skip_non_numeric and column.kind != "numeric"):
            continue
        elif column.kind == "numeric":
            numeric.append(j)
        elif column.kind == "text" and columns.detect:
            categorical.append(j)
        else:
            (mixed if column.kind == "mixed" and columns.detect else text).append(j)

    def listing(indices):
        items = []
        for j in indices:
            row, token = parsed[j].text
            items.append(f"{header[j]!r} ({token!r} on line {lines[row]})")
        return items

    if text:
        text = listing(text)
        raise CLIError(
            f"{path}: non-numeric column{_plural(text)} "
            f"{_listing(text)}; remove {_them(text)}{columns.hint}"
        )
    if mixed:
        mixed = listing(mixed)
        raise CLIError(
            f"{path}: column{_plural(mixed)} {_listing(mixed)} "
            f"mix{'es' if len(mixed) == 1 else ''} numbers and text; fix "
            f"{_them(mixed)}, or name {_them(mixed)} in --categorical to model "
            f"{_them(mixed)} as categories or in {columns.skip_option} to leave "
            f"{_them(mixed)} out of the model"
        )
    if not numeric and not categorical:
        raise CLIError(
            f"{path}: no numeric column and no categorical column to work on"
        )

    detected = [j for j in categorical if j not in forced]
    _check_comma_numbers(path, header, cells, lines, detected, columns.skip_option)

    values = (
        np.column_stack([parsed[j].values for j in numeric])
        if numeric
        else np.empty((len(cells), 0))
    )
    infinite = [header[numeric[k]] for k in np.flatnonzero(np.isinf(values).any(0))]
    if infinite:
        raise CLIError(
            f"{path}: infinite values in column{_plural(infinite)} "
            f"{_names(infinite)}; EM needs finite numbers"
        )
    labels = np.array(
        [[_label(row[j]) for j in categorical] for row in cells], dtype=object
    ).reshape(len(cells), len(categorical))
    empty = [header[numeric[k]] for k in np.flatnonzero(np.isnan(values).all(0))]
    unlabelled = np.equal(labels, None).all(0)
    empty += [header[categorical[k]] for k in np.flatnonzero(unlabelled)]
    if empty:
        raise CLIError(
            f"{path}: column{_plural(empty)} {_names(empty)} "
            f"{'has' if len(empty) == 1 else 'have'} no values; "
            f"remove {_them(empty)} first"
        )
    return Table(
        header=header,
        cells=cells,
        numeric=numeric,
        values=values,
        categorical=categorical,
        labels=labels,
    )


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
    """Parse one column into a :class:`_Column`: its numbers, NaN elsewhere."""
    column = np.full(len(tokens), np.nan)
    n_numbers, text = 0, None
    for i, token in enumerate(tokens):
        stripped = token.strip()
        if stripped.lower() in MISSING_TOKENS:
            continue
        try:
            column[i] = float(stripped)
        except ValueError:
            if text is None:
                text = (i, token)
            continue
        n_numbers += 1
    return _Column(values=column, n_numbers=n_numbers, text=text)


def _resolve(names, header, option, path):
    """Indices of the columns named by an option's values.

    Each value is a column name or a comma-separated list of them; names
    are compared with the header's without surrounding spaces.
    """
    positions = {}
    for j, name in enumerate(header):
        positions.setdefault(name.strip(), []).append(j)
    indices = []
    for value in names:
        parts = [value] if value.strip() in positions else value.split(",")
        for name in (part.strip() for part in parts):
            if not name:
                continue
            if name not in positions:
                raise CLIError(
                    f"{path}: {option} names no column {name!r}; the columns are "
                    f"{_names(header)}"
                )
            if len(positions[name]) > 1:
                raise CLIError(
                    f"{path}: {option} names {name!r}, which is the name of "
                    f"{len(positions[name])} columns"
                )
            indices.append(positions[name][0])
    return indices


def _label(token):
    """A categorical cell's category: the token without spaces, None if missing."""
    stripped = token.strip()
    return None if stripped.lower() in MISSING_TOKENS else stripped


def _check_comma_numbers(path, header, cells, lines, indices, skip_option):
    """Refuse text columns that are numbers written with a comma.

    Before text columns became categorical such a column was an error; as
    categories it would be modelled, silently, as something it is not.
    """
    for j in indices:
        first = None
        for i, row in enumerate(cells):
            token = row[j].strip()
            if token.lower() in MISSING_TOKENS:
                continue
            try:
                float(token.replace(",", "."))
            except ValueError:
                break
            if first is None:
                first = (i, row[j])
        else:
            row, token = first
            raise CLIError(
                f"{path}: column {header[j]!r} holds numbers written with a comma "
                f"({token!r} on line {lines[row]}), which emimpute does not read "
                f"as numbers; write them with a decimal point and no thousands "
                f"separator, or name the column in "
                f"--categorical to model it as categories or in {skip_option} to "
                f"leave it out of the model"
            )


def write_table(path, table, filled, *, fill="observed", delimiter=","):
    """Write ``table`` with its modelled columns taken from ``filled``.

    Parameters
    ----------
    filled : ndarray of shape (n_rows, len(table.modelled))
        The modelled columns, in the order of ``table.modelled``: numbers,
        and categories in the categorical columns.
    fill : {"observed", "blank"}
        What to write in the observed cells and in the other columns:
        ``"observed"`` writes them verbatim as read (the imputed table),
        ``"blank"`` writes the numeric values everywhere and leaves the
        categorical and passthrough columns empty (the std table).
    """
    with progress(f"writing {path}"):
        rows = _output_rows(table, filled, fill)
        write_rows(path, [table.header, *rows], delimiter=delimiter)


def _output_rows(table, filled, fill):
    """The data rows that :func:`write_table` writes, one list at a time."""
    missing = table.missing()
    modelled = table.modelled
    categorical = set(table.categorical)
    for i, row in enumerate(table.cells):
        out = list(row) if fill == "observed" else [""] * len(row)
        for k, j in enumerate(modelled):
            if j in categorical:
                if fill == "observed" and missing[i, k]:
                    out[j] = str(filled[i, k])
            elif fill == "blank" or missing[i, k]:
                # repr gives the shortest string that reads back to the same
                # float, so nothing is lost in the round trip.
                out[j] = repr(float(filled[i, k]))
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


def _read_fit_table(args, columns):
    """The ``--input`` table, checked to have enough rows to fit."""
    table = read_table(args.input, delimiter=args.delimiter, columns=columns)
    _check_rows(table, args.n_components, args.input)
    return table


def _em_parameters(args, table):
    """The estimator parameters that ``impute`` and ``cluster`` share."""
    return dict(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        max_iter=args.max_iter,
        n_init=args.n_init,
        random_state=args.random_state,
        categorical_features=table.categorical_positions or None,
    )


def _shape(table):
    """``rows x columns`` of what the model sees, for the progress line."""
    n_categorical = len(table.categorical)
    shape = f"{table.n_rows} rows x {len(table.modelled)} columns"
    return f"{shape} ({n_categorical} categorical)" if n_categorical else shape


# --------------------------------------------------------------------------
# Subcommands


def run_impute(args):
    """``emimpute impute``: fill the holes of a CSV file."""
    from emimpute import EMImputer

    passthrough = list(args.passthrough or ())
    if args.input is None:
        # A bare --passthrough takes an optional value, so in
        # "impute --passthrough IN.csv" it swallowed the input file.
        named = [k for k, value in enumerate(passthrough) if value != ALL_NON_NUMERIC]
        if not named:
            args.parser.error("the following arguments are required: IN.csv")
        args.input = passthrough[named[-1]]
        passthrough[named[-1]] = ALL_NON_NUMERIC
    columns = ColumnChoice(
        skip=tuple(name for name in passthrough if name != ALL_NON_NUMERIC),
        skip_non_numeric=ALL_NON_NUMERIC in passthrough,
        categorical=tuple(args.categorical or ()),
        detect=not args.no_categorical,
        skip_option="--passthrough",
        # Only --no-categorical leaves text columns unmodelled, so only then
        # does the message that ends with the hint appear.
        hint=(
            " or pass --passthrough to copy them to the output untouched or "
            "--categorical to impute them as categories"
        ),
    )
    table = _read_fit_table(args, columns)
    imputer = EMImputer(
        **_em_parameters(args, table), sample_posterior=args.sample_posterior
    )
    X = table.model_input()
    with (
        progress(f"fitting EMImputer on {_shape(table)}"),
        user_errors("cannot impute"),
    ):
        imputer.fit(X)
        if args.std is not None:
            imputed, std = imputer.transform(X, return_std=True)
        else:
            imputed = imputer.transform(X)

    write_table(args.output, table, imputed, delimiter=args.delimiter)
    if args.std is not None:
        write_table(args.std, table, std, fill="blank", delimiter=args.delimiter)
    return 0


def run_cluster(args):
    """``emimpute cluster``: label the rows of a CSV file."""
    from emimpute import EMMixture

    columns = ColumnChoice(
        skip=tuple(args.ignore or ()),
        skip_non_numeric=args.ignore_non_numeric,
        categorical=tuple(args.categorical or ()),
        detect=not args.no_categorical,
        skip_option="--ignore",
        hint=(
            " or pass --ignore-non-numeric or --categorical to model them as categories"
        ),
    )
    table = _read_fit_table(args, columns)
    mixture = EMMixture(**_em_parameters(args, table))
    X = table.model_input()
    with (
        progress(f"fitting EMMixture on {_shape(table)}"),
        user_errors("cannot cluster"),
    ):
        labels = mixture.fit_predict(X)
        proba = mixture.predict_proba(X) if args.proba else None

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


def _add_column_options(parser, *, verb):
    parser.add_argument(
        "--categorical",
        action="append",
        metavar="COL[,COL]",
        help=(
            "model these columns as categories even if they hold numbers "
            "(integer codes, years...); may be repeated"
        ),
    )
    parser.add_argument(
        "--no-categorical",
        action="store_true",
        help=(
            "do not model text columns as categories: only the columns named "
            f"in --categorical are; the other text columns are an error unless "
            f"{verb}"
        ),
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
            "CSV file, cluster its rows, or run a demo on bundled data. Columns "
            "of numbers are modelled as numbers and columns of text as "
            "categories. Empty cells and NA, NaN, N/A, null are read as missing."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    impute = subparsers.add_parser(
        "impute",
        usage="%(prog)s [options] IN.csv",
        help="fill the missing cells of a CSV file",
        description=(
            "Fill the missing cells of a CSV file under a Gaussian mixture fit "
            "by EM: a number with its conditional expectation, a category (a "
            "text column, or one named in --categorical) with its most probable "
            "value. The output has the input's shape and column names, and the "
            "observed cells verbatim. With one component the categories are "
            "independent of the other columns and a missing one gets its "
            "column's most frequent value; --n-components 2 or more relates them."
        ),
    )
    # Optional only so that "impute --passthrough IN.csv", where the bare
    # --passthrough takes the file for a column list, still works: run_impute
    # takes the input back and fails if there is none.
    impute.add_argument(
        "input", metavar="IN.csv", nargs="?", help="CSV file with a header row"
    )
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
        help=(
            "also write the conditional std of every numeric cell (0 where "
            "observed); categorical and passthrough columns are left empty"
        ),
    )
    impute.add_argument(
        "--sample-posterior",
        action="store_true",
        help="fill with a draw from the conditional distribution, not its mean",
    )
    impute.add_argument(
        "--passthrough",
        action="append",
        nargs="?",
        const=ALL_NON_NUMERIC,
        metavar="COL[,COL]",
        help=(
            "copy these columns to the output untouched instead of modelling "
            "them; without COL, every column that is not all numbers; may be "
            "repeated"
        ),
    )
    _add_column_options(impute, verb="named in --passthrough")
    _add_model_options(impute, n_components=1)
    impute.set_defaults(run=run_impute, parser=impute)

    cluster = subparsers.add_parser(
        "cluster",
        help="assign the rows of a CSV file to mixture components",
        description=(
            "Fit a mixture by EM, marginalising the missing cells, and write the "
            "most likely component of every row. Columns of numbers are "
            "Gaussian within a component; columns of text, and those named in "
            "--categorical, are categories with their own probabilities in "
            "each component."
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
        "--ignore",
        action="append",
        metavar="COL[,COL]",
        help="leave these columns out of the model; may be repeated",
    )
    cluster.add_argument(
        "--ignore-non-numeric",
        action="store_true",
        help=(
            "leave out every column that is not all numbers, except those "
            "named in --categorical"
        ),
    )
    _add_column_options(cluster, verb="--ignore-non-numeric is given")
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
