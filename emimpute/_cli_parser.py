"""The argument parser of the ``emimpute`` command: its options and their help.

:func:`build_parser` builds the subcommands ``impute``, ``cluster`` and
``demo``, each with its options, the checks of their values (a type function
per kind of value, so that a bad one is refused before any work) and their
help; :class:`_Parser` keeps argparse's errors on one line.

Only :mod:`argparse` and the standard library are imported, so that
``emimpute --help`` answers at once. From :mod:`emimpute._cli` come the
command each subcommand runs and the value of a bare ``--passthrough``
(that module imports this one when :func:`~emimpute._cli.main` runs, not up
front, so the two do not import each other), and from
:mod:`emimpute._cli_errors` the status of a user's error.
"""

import argparse
import re

from emimpute import __version__
from emimpute._cli import ALL_NON_NUMERIC, run_cluster, run_demo, run_impute
from emimpute._cli_errors import USER_ERROR

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# pandas' default missing-value markers besides the empty cell (its
# STR_NA_VALUES, which a test compares with this), for the help: importing
# pandas would slow --help down.
DEFAULT_NA_VALUES = (
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _components(text):
    """``--n-components`` of ``impute``: a positive integer or 'auto'."""
    return text if text == "auto" else _positive_int(text)


def _non_negative(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _delimiter(text):
    # Shells make a literal tab awkward to type, so accept "\t" as well.
    text = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character, got {text!r}")
    return text


def _decimal(text):
    if text not in (".", ","):
        raise argparse.ArgumentTypeError(f"expected '.' or ',', got {text!r}")
    return text


def _thousands(text):
    """``--thousands``: one character that is not part of a number's digits
    (a no-break space too: the Python parser of pandas reads that)."""
    if len(text) != 1 or text.isdigit() or text in "+-eE":
        raise argparse.ArgumentTypeError(
            f"expected one character such as , . ' or a space, got {text!r}"
        )
    return text


def _encoding(text):
    """``--encoding``: a text encoding that Python knows.

    Checked here, before any work; ``"".encode`` refuses a codec that is
    not one for text (rot13, base64), which pandas cannot read with either.
    """
    try:
        "".encode(text)
    except LookupError:
        raise argparse.ArgumentTypeError(
            f"unknown text encoding {text!r}; give one such as utf-8, cp1252 or latin-1"
        ) from None
    return text


def _float_format(text):
    try:
        text % 1.5
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected a printf-style format of one number such as %.3f or %.6g, "
            f"got {text!r}"
        ) from None
    return text


def _rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def _add_model_options(parser, *, n_components, default=None, auto=None):
    """The options of the estimator; ``default`` describes the default of
    --n-components (``n_components`` itself if None), ``auto`` describes
    --n-components auto."""
    model = parser.add_argument_group("model and fit")
    model.add_argument(
        "--n-components",
        type=_positive_int if auto is None else _components,
        default=n_components,
        help="number of mixture components (default: "
        f"{n_components if default is None else default})"
        + ("" if auto is None else f"; auto: {auto}"),
    )
    model.add_argument(
        "--prior",
        choices=["default"],
        default=None,
        help=(
            "fit under mclust's default conjugate prior (MAP-EM), which keeps "
            "mixtures on few rows or many columns well posed (default: none, "
            "maximum likelihood)"
        ),
    )
    model.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="shape of each component's covariance (default: full)",
    )
    model.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of the initialisation, for reproducible output (default: 0)",
    )
    model.add_argument(
        "--max-iter",
        type=_positive_int,
        default=100,
        help="maximum number of EM iterations (default: 100)",
    )
    model.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        help="number of EM restarts, the best is kept (default: 1)",
    )
    model.add_argument(
        "--tol",
        type=_non_negative,
        help=(
            "EM stops when the per-row log-likelihood changes by less; "
            "impute also waits until the fitted means, covariances and "
            "category probabilities move by less (default: the estimator's, "
            "1e-3)"
        ),
    )
    model.add_argument(
        "--reg-covar",
        type=_non_negative,
        help="added to the covariances' diagonal (default: the estimator's, 1e-6)",
    )
    shown = parser.add_argument_group("progress")
    shown.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=(
            "show every EM iteration and each step's time on stderr (by "
            "default a long fit shows its progress once a second, and only "
            "when stderr is a terminal)"
        ),
    )
    shown.add_argument(
        "-q", "--quiet", action="store_true", help="show no progress on stderr"
    )


def _add_table_options(parser):
    table = parser.add_argument_group("tables")
    table.add_argument(
        "--sep",
        "--delimiter",
        dest="sep",
        type=_delimiter,
        help=(
            "field delimiter of the CSV files, one character or \\t (default: "
            "sniffed from the input, decompressed if it is .gz, .bz2, .xz, .zip, "
            ".zst or .tar, among , ; tab |); a header that comes out as one "
            "unquoted field holding another of these is an error"
        ),
    )
    table.add_argument(
        "--encoding",
        type=_encoding,
        metavar="ENC",
        help=(
            "text encoding of the CSV files, the input read and the outputs "
            "written in it, e.g. cp1252 or latin-1 (default: utf-8); a UTF-8 "
            "byte-order mark that begins the input begins the outputs too"
        ),
    )
    table.add_argument(
        "--decimal",
        type=_decimal,
        default=".",
        help="decimal mark of the numbers, . or , (default: .)",
    )
    table.add_argument(
        "--thousands",
        type=_thousands,
        metavar="SEP",
        help=(
            "thousands separator of the numbers, e.g. , for 1,234.5 or . with "
            "--decimal , for 1.234,5, or a no-break space (default: none; a "
            "column that reads as numbers with one is an error that names it); "
            "a cell holding it not between groups of three digits (2,5) is an "
            "error; imputed numbers are written without it"
        ),
    )
    table.add_argument(
        "--na-values",
        action="append",
        metavar="VALUE[,VALUE]",
        help=(
            "also read these cells of a CSV file as missing, e.g. '?' or -999 "
            "(as pandas matches them: -999 also matches -999.0); may be "
            "repeated; a value with commas is split at them and its parts "
            "stripped, a value without one is taken as it is (' ' marks a cell "
            "of one space), so a marker cannot hold a comma"
        ),
    )
    table.add_argument(
        "--no-default-na",
        action="store_true",
        help=(
            "read only empty cells and those of --na-values as missing, not "
            "pandas' default markers (keeps a category such as None or NA)"
        ),
    )
    table.add_argument(
        "--index-col",
        action="append",
        default=[],
        metavar="COL",
        help=(
            "a column that names the rows (by name or 0-based position), copied "
            "to the output and not modelled; an unnamed first column, as pandas "
            "writes its index, is one by default; may be repeated"
        ),
    )
    table.add_argument(
        "--columns",
        action="append",
        metavar="COL[,COL]",
        help="model these columns only; may be repeated",
    )
    table.add_argument(
        "--exclude",
        action="append",
        metavar="COL[,COL]",
        help="leave these columns out of the model; may be repeated",
    )
    table.add_argument(
        "--float-format",
        type=_float_format,
        help=(
            "printf-style format of the numbers written, e.g. %%.3f (default: "
            "the fewest digits that read back as the computed value); observed "
            "cells always keep their text"
        ),
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


# What argparse takes for a negative number (an option's value), not an
# option. Before Python 3.14 it knows only -5, -.5 and -1.5, so
# "--min-value -1e3" and "--max-value -inf" failed with "expected one
# argument". 3.14 takes any "-" and digit ("-.5", "-1e3"), as this does, which
# adds what float() reads as -inf and nan. No option looks like these.
NEGATIVE_NUMBER = re.compile(r"-\.?\d|-(inf|infinity|nan)$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors fit on one line, like the others, and
    that reads ``-1e3`` and ``-inf`` as values (:data:`NEGATIVE_NUMBER`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A private attribute, argparse's only hook for this; were it ever
        # gone, "--min-value=-1e3", which the help gives, still works.
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message):
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


FORMATS = (
    "Tables are CSV files with a header row (delimiter sniffed, - for "
    "stdin/stdout) or Parquet files (by their suffix .parquet or .pq; needs "
    "pyarrow). Empty cells are missing, and so are, unless --no-default-na, "
    f"pandas' markers {', '.join(DEFAULT_NA_VALUES)}; --na-values adds others. "
    "In a CSV file of one column a blank line between rows is a missing cell "
    "(elsewhere, and before the header or after the last row, blank lines are "
    "skipped). CSV outputs are written as the input is: in its encoding "
    "(--encoding), with its UTF-8 byte-order mark if it has one, and with CRLF "
    "line ends if its first line ends so. A Parquet output keeps the column "
    "types of a Parquet input (a category column its categories and their "
    "order), but a column of integers with filled holes becomes float64."
)


def build_parser():
    """The argument parser of the ``emimpute`` command."""
    parser = _Parser(
        prog="emimpute",
        description=(
            "Fit Gaussian mixtures by EM on incomplete data: fill the holes of a "
            "table, cluster its rows, or run a demo on bundled data. Columns "
            "of numbers are modelled as numbers and columns of text as "
            f"categories. {FORMATS}"
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    impute = subparsers.add_parser(
        "impute",
        usage="%(prog)s [options] IN.csv",
        help="fill the missing cells of a table",
        description=(
            "Fill the missing cells of a table under a Gaussian mixture fit "
            "by EM: a number with its conditional expectation, a category (a "
            "text column, or one named in --categorical) with its most probable "
            "value. The output has the input's shape and column names, and every "
            "observed cell keeps its text. With one component the categories are "
            "independent of the other columns and a missing one gets its "
            "column's most frequent value; --n-components 2 or more relates "
            f"them. {FORMATS}"
        ),
    )
    # Optional only so that "impute --passthrough IN.csv", where the bare
    # --passthrough takes the file for a column list, still works: run_impute
    # takes the input back and fails if there is none.
    impute.add_argument(
        "input",
        metavar="IN.csv",
        nargs="?",
        help="table with a header row (- for stdin)",
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
            "observed); the index columns are copied, categorical and other "
            "unmodelled columns left empty"
        ),
    )
    impute.add_argument(
        "--sample-posterior",
        action="store_true",
        help="fill with a draw from the conditional distribution, not its mean",
    )
    multiple = impute.add_argument_group(
        "multiple imputation",
        description=(
            "Several completed tables, each imputed under its own draw of the "
            "model's parameters (proper multiple imputation, see "
            "emimpute.multiple_impute): analyse each, then pool the results "
            "by Rubin's rules (emimpute.pool, or R's mice::pool)."
        ),
    )
    multiple.add_argument(
        "--imputations",
        metavar="M",
        type=_positive_int,
        help=(
            "write M imputations of the table (at least 2; 5 to 20 are usual), "
            "stacked in one table whose first columns are .imp (1 to M) and "
            ".id (the row, from 1), as R's mice writes complete(imp, 'long')"
        ),
    )
    multiple.add_argument(
        "--method",
        choices=("bootstrap", "posterior"),
        help=(
            "how each imputation draws the parameters: EM refit on a row "
            "bootstrap, as Amelia (default), or from their posterior by data "
            "augmentation, as norm and mice"
        ),
    )
    multiple.add_argument(
        "--separate",
        action="store_true",
        help=(
            "write the imputations to OUT_1.csv, ..., OUT_M.csv (as Amelia's "
            "write.amelia) instead of one stacked table"
        ),
    )
    multiple.add_argument(
        "--with-original",
        action="store_true",
        help=(
            "stack the input table, holes and all, first as .imp 0 (the long "
            "form R's mice::as.mids reads); its holes are written NA, which "
            "R's read.csv reads as missing in any column"
        ),
    )
    multiple.add_argument(
        "--n-jobs",
        type=int,
        metavar="N",
        help=(
            "bootstrap imputations on N threads at once (default: 1; -1: every core)"
        ),
    )
    impute.add_argument(
        "--min-value",
        action="append",
        metavar="[COL=]NUMBER",
        help=(
            "impute no value below NUMBER, in every numeric column or in COL "
            "only; may be repeated, but not with two different NUMBERs for "
            "every column or for one COL (observed cells are never changed); a "
            "negative NUMBER may also be written --min-value=-1e3"
        ),
    )
    impute.add_argument(
        "--max-value",
        action="append",
        metavar="[COL=]NUMBER",
        help="impute no value above NUMBER, as --min-value",
    )
    impute.add_argument(
        "--log",
        action="append",
        metavar="COL[,COL]",
        help=(
            "fit these positive columns on the log scale, so that their "
            "imputations stay positive; may be repeated"
        ),
    )
    impute.add_argument(
        "--sqrt",
        action="append",
        metavar="COL[,COL]",
        help=(
            "fit these non-negative columns on the square-root scale, so that "
            "their imputations stay non-negative (a column with a 0 cannot "
            "take --log); may be repeated"
        ),
    )
    impute.add_argument(
        "--passthrough",
        action="append",
        nargs="?",
        const=ALL_NON_NUMERIC,
        metavar="COL[,COL]",
        help=(
            "copy these columns to the output untouched instead of modelling "
            "them (as --exclude); without COL, every column that is not all "
            "numbers; may be repeated"
        ),
    )
    _add_column_options(impute, verb="named in --passthrough")
    _add_table_options(impute)
    _add_model_options(
        impute,
        n_components=None,
        default="1; with --imputations, auto when a categorical column has a "
        "hole, so that its imputations keep its associations",
        auto=(
            "the fewest components (1 to 9, under the default prior) whose "
            "imputations predict observed cells held out within one standard "
            "error of the best"
        ),
    )
    impute.set_defaults(run=run_impute, parser=impute)

    cluster = subparsers.add_parser(
        "cluster",
        usage="%(prog)s [options] IN.csv",
        help="assign the rows of a table to mixture components",
        description=(
            "Fit a mixture by EM, marginalising the missing cells, and write the "
            "most likely component of every row (after the index columns, if "
            "any). Columns of numbers are Gaussian within a component; columns "
            "of text, and those named in --categorical, are categories with "
            f"their own probabilities in each component. {FORMATS}"
        ),
    )
    cluster.add_argument(
        "input", metavar="IN.csv", help="table with a header row (- for stdin)"
    )
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
        help="leave these columns out of the model (as --exclude); may be repeated",
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
    _add_table_options(cluster)
    _add_model_options(cluster, n_components=2)
    cluster.set_defaults(run=run_cluster, parser=cluster)

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
        help=(
            "probability of removing each value (default: 0.3); every row "
            "keeps one, so less is removed: 26%% at 0.3 on the 2 columns"
        ),
    )
    demo.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of the holes and of the fits (default: 0)",
    )
    demo.set_defaults(run=run_demo)
    return parser
