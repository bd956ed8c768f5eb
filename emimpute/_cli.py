"""The ``emimpute`` command line: impute or cluster a table, or run a demo.

Tables are read and written by pandas (:mod:`emimpute._cli_table`): CSV, with
the delimiter sniffed, or ``-`` for stdin and stdout, and Parquet when the
file says so. Columns of numbers are modelled as numbers and columns of text
as categories. Progress of long fits is the engine's own record of every EM
iteration, sent through the ``"emimpute"`` :mod:`logging` logger and shown on
stderr by a :class:`logging.StreamHandler` (:func:`progress`). Every user
error ends as one line on stderr and exit code 2, never as a traceback; a
closed pipe (``emimpute impute data.csv | head``) ends quietly with 0, the
output files written first (:func:`_write_all`). The outputs are checked
before any work (:mod:`emimpute._cli_output`): each file writable, no two the
same file, none but ``-o`` the input, at most one on stdout. The options of
each subcommand are :mod:`emimpute._cli_parser`'s; this module holds the
commands and :func:`main`, which runs them.

Only the standard library (and :mod:`argparse`, for the parser) is imported
up front: pandas, scikit-learn and the estimators are imported when a
command runs, so ``emimpute --help`` and ``--version`` answer at once.
"""

import logging
import os
import pathlib
import shlex
import sys
import time
import warnings
from contextlib import contextmanager

from emimpute._cli_errors import INTERNAL_ERROR, USER_ERROR, CLIError
from emimpute._cli_output import _check_outputs, _check_writable, _is_stdout
from emimpute._messages import cannot_write, one_line, plural

# On a terminal, an iteration is shown at most this often, and not before a
# fit has run this long, so quick fits stay silent.
PROGRESS_INTERVAL = 1.0

# The value of a bare --passthrough: every non-numeric column.
ALL_NON_NUMERIC = "<every non-numeric column>"

# How --with-original writes the holes of .imp 0: R's read.csv reads NA as
# missing in a column of any type (an empty field only in numeric ones).
ORIGINAL_MISSING = "NA"

log = logging.getLogger("emimpute.cli")


# --------------------------------------------------------------------------
# Progress on stderr, from the engine's log records


class _Throttle(logging.Filter):
    """Let through an EM iteration once per ``interval`` seconds of a run.

    A run's first line comes after ``interval`` seconds, so quick fits print
    nothing; a run's closing line comes only if one of its iterations was
    shown. Records other than the engine's (the command's own) are dropped:
    they are for ``--verbose``.
    """

    def __init__(self, interval):
        super().__init__()
        self.interval = interval
        self._run = None
        self._shown = 0.0

    def filter(self, record):
        elapsed = getattr(record, "em_elapsed", None)
        if elapsed is None:
            return False
        if record.em_run != self._run:
            self._run, self._shown = record.em_run, 0.0
        if record.levelno >= logging.INFO:
            # A run's start (iteration 0) or end.
            return record.em_iteration > 0 and self._shown > 0.0
        if elapsed - self._shown < self.interval:
            return False
        self._shown = elapsed
        return True


class _Format(logging.Formatter):
    """``emimpute: <message> (<seconds> s)``, the time since the run started."""

    def format(self, record):
        line = f"emimpute: {record.getMessage()}"
        elapsed = getattr(record, "em_elapsed", None)
        return line if elapsed is None else f"{line} ({elapsed:.1f} s)"


@contextmanager
def progress(*, verbose=False, quiet=False, stream=None):
    """Show the engine's progress records on stderr while a command runs.

    With ``verbose``, every record (each EM iteration, and the reading,
    fitting and writing steps); otherwise, when ``stream`` is a terminal and
    not ``quiet``, an iteration line at most once a second of a long fit;
    else nothing.
    """
    stream = sys.stderr if stream is None else stream
    logger = logging.getLogger("emimpute")
    if quiet or not (verbose or stream.isatty()):
        yield
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Format())
    if not verbose:
        handler.addFilter(_Throttle(PROGRESS_INTERVAL))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextmanager
def step(what):
    """Log ``what ...`` and, when done, the time it took (``--verbose``)."""
    log.debug("%s ...", what)
    start = time.perf_counter()
    yield
    log.debug("%s: done in %.2f s", what, time.perf_counter() - start)


@contextmanager
def user_errors(what):
    """Turn the estimators' errors and warnings into one-line messages."""
    import numpy as np

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise CLIError(f"{what}: {one_line(exc)}") from None
        finally:
            seen = set()
            for warning in caught:
                message = one_line(warning.message)
                if message not in seen:
                    seen.add(message)
                    print(f"emimpute: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------
# Subcommands


def _read(args, columns):
    """The input table with its modelled columns chosen, checked to fit."""
    from emimpute._cli_table import choose_columns, read_table

    with step(f"reading {args.input}"):
        table = read_table(
            args.input,
            sep=args.sep,
            decimal=args.decimal,
            thousands=args.thousands,
            na_values=_split(args.na_values),
            keep_default_na=not args.no_default_na,
            index_col=args.index_col,
            encoding=args.encoding,
        )
        choose_columns(table, columns)
    if isinstance(args.n_components, int) and table.n_rows < args.n_components:
        raise CLIError(
            f"{args.input}: {table.n_rows} data row{plural(table.n_rows)}, fewer "
            f"than --n-components {args.n_components}"
        )
    return table


def _split(values):
    """The markers of ``--na-values``: each value split at its commas, the
    parts stripped and the empty ones dropped; a value without a comma is
    kept as it is (``' '`` marks a cell of one space). A marker cannot hold
    a comma."""
    markers = []
    for value in values or ():
        if "," not in value:
            markers.append(value)
            continue
        markers += [part.strip() for part in value.split(",") if part.strip()]
    return markers


def _em_parameters(args, table):
    """The estimator parameters that ``impute`` and ``cluster`` share."""
    parameters = dict(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        max_iter=args.max_iter,
        n_init=args.n_init,
        random_state=args.random_state,
        categorical_features=table.categorical_names or None,
        prior=args.prior,
    )
    # Unset, they keep the estimator's default (reg_covar means something
    # else for EMImputer, which fits standardised data, than for EMMixture).
    for name in ("tol", "reg_covar"):
        if getattr(args, name) is not None:
            parameters[name] = getattr(args, name)
    return parameters


def _support_parameters(args, table):
    """EMImputer's ``min_value``, ``max_value`` and ``feature_transforms``.

    ``--min-value``/``--max-value`` take a number for every numeric column
    or ``COL=NUMBER`` for one (repeatable; ``COL=NUMBER`` overrides the
    number for every column); ``--log`` and ``--sqrt`` name columns. Two
    different numbers for every column, or for one column, are an error
    naming the option: argparse keeps every occurrence, and the last one
    silently won.
    The dictionaries are keyed by pandas' names of the columns, which the
    estimator sees: the file's may repeat ("x" twice is "x", "x.1") or be
    empty ("Unnamed: 1").
    """
    names = table.typed.columns

    def numeric_names(values, option):
        return [names[j] for j in _numeric_positions(args, table, values, option)]

    parameters = {}
    for option, name in (("--min-value", "min_value"), ("--max-value", "max_value")):
        given = {}  # a column's name (None: every column): its number, as given
        for value in getattr(args, name) or ():
            column, equals, number = value.rpartition("=")
            try:
                number = float(number)
            except ValueError:
                raise CLIError(
                    f"{option} {value!r}: expected a number, or COL=NUMBER for "
                    "one column"
                ) from None
            key = numeric_names([column], option)[0] if equals else None
            if key in given and not _same_number(given[key][0], number):
                what = "every column" if key is None else f"column {key!r}"
                raise CLIError(
                    f"{option} {given[key][1]!r} and {option} {value!r} "
                    f"conflict: give one number for {what}"
                )
            given[key] = number, value
        every = given.pop(None, (None,))[0]
        per_column = {key: number for key, (number, _) in given.items()}
        if per_column:
            if every is not None:
                numbers = [names[j] for j in table.numeric]
                per_column = {c: per_column.get(c, every) for c in numbers}
            parameters[name] = per_column
        elif every is not None:
            parameters[name] = every
    transforms = _transforms(args, table)
    if transforms:
        parameters["feature_transforms"] = {
            names[j]: name for j, name in transforms.items()
        }
    return parameters


def _numeric_positions(args, table, values, option):
    """Positions of the modelled numeric columns that ``option`` names."""
    from emimpute._cli_table import resolve

    positions = resolve(values, table.header, option, args.input)
    for j in positions:
        if j not in table.numeric:
            raise CLIError(
                f"{args.input}: {option} names {table.header[j]!r}, which is "
                "not a modelled column of numbers"
            )
    return positions


def _transforms(args, table):
    """``--log`` and ``--sqrt``: {column position: 'log' or 'sqrt'}.

    The observed values are checked here, so that the error names the
    options and comes before the fit (the estimator names its parameters).
    """
    transforms = {}
    for name in ("log", "sqrt"):
        named = getattr(args, name) or ()
        for j in _numeric_positions(args, table, named, f"--{name}"):
            if transforms.get(j, name) != name:
                raise CLIError(
                    f"{args.input}: --log and --sqrt both name "
                    f"{table.header[j]!r}; give it one of them"
                )
            transforms[j] = name
    for j, name in transforms.items():
        _check_domain(args, table, j, name)
    return transforms


def _check_domain(args, table, j, name):
    """Refuse a --log column with a value <= 0, a --sqrt one with one < 0."""
    import numpy as np

    low = float(np.nanmin(table.numbers(j)))
    if low > 0 or (name == "sqrt" and low == 0):
        return
    needs = "positive" if name == "log" else "non-negative"
    if name == "log" and low == 0:
        fix = f"fit it with --sqrt {shlex.quote(table.header[j])} instead, or shift it"
    else:
        fix = "shift it first"
    raise CLIError(
        f"{args.input}: --{name} {table.header[j]!r} needs {needs} values, but "
        f"the column's minimum is {low:g}; {fix}"
    )


def _same_number(a, b):
    """Whether two repeats of a bound agree (NaN and NaN do: the estimator
    refuses NaN, with its own message)."""
    return a == b or (a != a and b != b)


def _shape(table):
    """``rows x columns`` of what the model sees, for the progress lines."""
    n_categorical = len(table.categorical)
    shape = f"{table.n_rows} rows x {len(table.modelled)} columns"
    return f"{shape} ({n_categorical} categorical)" if n_categorical else shape


def _write(path, frame, header, args, table=None):
    from emimpute._cli_table import write_table

    with step(f"writing {path}"):
        write_table(
            path,
            frame,
            header,
            sep=table.sep if table is not None else args.sep or ",",
            decimal=args.decimal,
            float_format=args.float_format,
            encoding=table.encoding if table is not None else args.encoding or "utf-8",
            lineterminator=table.lineterminator if table is not None else "\n",
        )


def _write_all(outputs, args, table):
    """Write every ``(path, frame, header)`` of ``outputs``, stdout's last.

    A reader of stdout that goes away (``| head``) ends the command with a
    BrokenPipeError, which :func:`main` takes for success: the files must be
    written by then.
    """
    for path, frame, header in sorted(outputs, key=lambda out: _is_stdout(out[0])):
        _write(path, frame, header, args, table)


def _impute_outputs(args):
    """The ``(option, path)`` of every file that ``impute`` writes."""
    if args.imputations is not None and args.separate:
        return [
            ("--separate", str(_numbered(args.output, number)))
            for number in range(1, args.imputations + 1)
        ]
    outputs = [("-o", args.output)]
    if args.std is not None:
        outputs.append(("--std", args.std))
    return outputs


def run_impute(args):
    """``emimpute impute``: fill the holes of a table."""
    import numpy as np

    from emimpute._cli_table import ColumnChoice, std_table
    from emimpute._imputer import EMImputer

    passthrough = list(args.passthrough or ())
    if args.input is None:
        # A bare --passthrough takes an optional value, so in
        # "impute --passthrough IN.csv" it swallowed the input file.
        named = [k for k, value in enumerate(passthrough) if value != ALL_NON_NUMERIC]
        if not named:
            args.parser.error("the following arguments are required: IN.csv")
        args.input = passthrough[named[-1]]
        passthrough[named[-1]] = ALL_NON_NUMERIC
    _check_imputation_options(args)
    _check_table_options(args)
    # Filling the input's holes in place is allowed; replacing it with the
    # stacked table of --imputations is not.
    in_place = () if args.imputations is not None else ("-o",)
    _check_outputs(args, _impute_outputs(args), input_allowed=in_place)
    _check_encoding(args, _impute_outputs(args))
    skip = [name for name in passthrough if name != ALL_NON_NUMERIC]
    columns = ColumnChoice(
        only=tuple(args.columns or ()),
        skip=tuple(skip + list(args.exclude or ())),
        skip_non_numeric=ALL_NON_NUMERIC in passthrough,
        categorical=tuple(args.categorical or ()),
        detect=not args.no_categorical,
        skip_option=_skip_option(args.exclude, skip, "--passthrough"),
        # Only --no-categorical leaves text columns unmodelled, so only then
        # does the message that ends with the hint appear.
        hint=(
            " or pass --passthrough to copy them to the output untouched or "
            "--categorical to impute them as categories"
        ),
    )
    table = _read(args, columns)
    if args.n_components is None:
        args.n_components = _default_components(args, table)
    imputer = EMImputer(
        **_em_parameters(args, table),
        **_support_parameters(args, table),
        sample_posterior=args.sample_posterior,
        verbose_interval=1,
    )
    X = table.model_input()
    if args.with_original:
        _check_original_markers(args, table)
    if args.imputations is not None:
        return _write_imputations(args, table, imputer, X)
    with (
        step(f"fitting EMImputer on {_shape(table)}"),
        user_errors("cannot impute"),
    ):
        imputer.fit(X)
        _log_components_chosen(args, imputer)
        if args.std is not None:
            imputed, std = imputer.transform(X, return_std=True)
        else:
            imputed = imputer.transform(X)
    outputs = [(args.output, _filled(args, table, imputed), table.header)]
    if args.std is not None:
        numeric = [table.modelled.index(j) for j in table.numeric]
        std = np.asarray(std, dtype=float)[:, numeric]
        outputs.append((args.std, std_table(table, std), table.header))
    _write_all(outputs, args, table)
    return 0


def _log_components_chosen(args, imputer):
    """Say what ``--n-components auto`` chose (given, or the default of
    ``--imputations`` with a categorical hole)."""
    if args.n_components == "auto":
        log.info("--n-components auto chose %d", imputer.n_components_)


def _default_components(args, table):
    """``impute``'s ``--n-components`` when not given: 'auto' for
    ``--imputations`` of a table with a hole in a categorical column beside
    another column, as :func:`~emimpute.multiple_impute` chooses (with one
    component those holes are drawn independently of the rest of the row,
    which biases an analysis of their associations towards none); else 1."""
    if args.imputations is None or len(table.modelled) < 2:
        return 1
    holes = table.missing[:, table.categorical]
    return "auto" if (holes.any(axis=0) & ~holes.all(axis=0)).any() else 1


def _skip_option(excluded, other, other_option):
    """The option(s) that left columns out, as the messages name them."""
    if excluded and other:
        return f"--exclude or {other_option}"
    return "--exclude" if excluded else other_option


def _filled(args, table, imputed):
    """The table with its holes filled from ``imputed``, the modelled columns."""
    import numpy as np

    from emimpute._cli_table import filled_table

    modelled = table.modelled
    imputed = np.asarray(imputed, dtype=object)
    numbers = imputed[:, [modelled.index(j) for j in table.numeric]].astype(float)
    categories = imputed[:, [modelled.index(j) for j in table.categorical]]
    return filled_table(
        table,
        numbers,
        categories,
        float_format=args.float_format,
        typed=_is_parquet_output(args.output),
    )


def _check_imputation_options(args):
    """The multiple-imputation options make sense together, or a usage error."""
    if args.imputations is None:
        for given, option in (
            (args.method, "--method"),
            (args.separate, "--separate"),
            (args.with_original, "--with-original"),
            (args.n_jobs, "--n-jobs"),
        ):
            if given:
                args.parser.error(f"{option} needs --imputations M")
        return
    if args.imputations < 2:
        args.parser.error(
            "--imputations: at least 2 (Rubin's rules need the variance between "
            "imputations); for one completed table leave it out"
        )
    if args.std is not None:
        args.parser.error(
            "--std describes one imputation's uncertainty: with --imputations, "
            "the spread between the imputed tables is it"
        )
    if args.separate and args.output == "-":
        args.parser.error("--separate needs -o OUT.csv (it writes OUT_1.csv, ...)")
    if args.separate and args.with_original:
        args.parser.error(
            "--with-original is for the stacked table; with --separate the "
            "input is the original"
        )


def _check_table_options(args):
    """The options that read numbers agree, or a usage error (pandas would
    take a thousands separator that is the decimal mark, and read nonsense).
    """
    if args.thousands is not None and args.thousands == args.decimal:
        args.parser.error(
            f"--thousands and --decimal are both {args.decimal!r}, and must "
            "differ (--decimal , --thousands . reads 1.234,5)"
        )


def _check_encoding(args, outputs):
    """Refuse ``--encoding`` when no CSV file is read or written.

    It is the text encoding of CSV files: a Parquet file stores its text as
    UTF-8 by its format, so with a Parquet input and only Parquet outputs
    it would be silently ignored. With a CSV output it says how that is
    written.
    """
    from emimpute._cli_table import is_parquet

    if args.encoding is None or not is_parquet(args.input):
        return
    if all(_is_parquet_output(path) for _, path in outputs):
        raise CLIError(
            f"{args.input}: --encoding is the text encoding of CSV files, and "
            "every file here is Parquet, whose text is UTF-8 by its format: "
            "leave out --encoding"
        )


def _check_original_markers(args, table):
    """Refuse ``--with-original`` when a modelled column holds the text NA.

    .imp 0 writes its holes NA (:data:`ORIGINAL_MISSING`), which R's
    read.csv reads as missing: a category NA, kept by --no-default-na, would
    be read as a hole of .imp 0 too, and R would see holes that the
    imputed tables fill with NA.
    """
    if _is_parquet_output(args.output):
        return  # holes are nulls there
    cells = table.text if table.text is not None else table.typed
    for j in table.modelled:
        observed = cells.iloc[:, j][~table.missing[:, j]].astype(str)
        rows = observed.index[observed == ORIGINAL_MISSING]
        if len(rows):
            raise CLIError(
                f"{args.input}: column {table.header[j]!r} holds the value "
                f"{ORIGINAL_MISSING!r} (data row {rows[0] + 1}), which "
                f"--with-original writes for the holes of .imp 0, so R would read "
                f"it as missing too; recode that category (e.g. to "
                f"'{ORIGINAL_MISSING}_'), or leave out --with-original"
            )


def _write_imputations(args, table, imputer, X):
    """``impute --imputations M``: proper multiple imputations, stacked or not."""
    import numpy as np
    import pandas as pd

    from emimpute._multiple import multiple_impute

    method = args.method or "bootstrap"
    count = args.imputations
    with (
        step(f"drawing {count} imputations ({method}) of {_shape(table)}"),
        user_errors("cannot impute"),
    ):
        completed, fitted = multiple_impute(
            X,
            count,
            imputer=imputer,
            method=method,
            random_state=args.random_state,
            n_jobs=args.n_jobs,
            return_imputer=True,
        )
        _log_components_chosen(args, fitted)
    frames = [_filled(args, table, imputed) for imputed in completed]
    if args.separate:
        for number, frame in enumerate(frames, start=1):
            path = _numbered(args.output, number)
            _write(path, frame, table.header, args, table)
        return 0
    if args.with_original:
        frames.insert(0, _original(args, table))
    first = 0 if args.with_original else 1
    columns = range(len(table.header))
    stacked = pd.concat(
        [frame.set_axis(columns, axis=1) for frame in frames], ignore_index=True
    )
    numbers = np.arange(first, first + len(frames))
    stacked.insert(0, "imp", np.repeat(numbers, table.n_rows))
    stacked.insert(1, "id", np.tile(np.arange(1, table.n_rows + 1), len(frames)))
    header = [".imp", ".id", *table.header]
    _write(args.output, stacked, header, args, table)
    return 0


def _original(args, table):
    """The input as ``--with-original`` stacks it, ``.imp`` 0.

    Its modelled holes are written :data:`ORIGINAL_MISSING` whatever marker
    the input used (``null``, ``N/A``...), as R's ``mice::as.mids`` needs
    them missing; the other cells as in the imputed blocks (observed ones
    with their text). A Parquet output keeps the typed table, holes as
    nulls, and its dtypes, as the imputed blocks do.
    """
    from emimpute._cli_table import format_numbers

    if _is_parquet_output(args.output):
        return table.typed
    if table.text is not None:
        frame = table.text.copy()
    else:
        # A typed input: numbers written as the imputed blocks write observed
        # ones (to_csv's float_format would round them).
        frame = table.typed.astype(object)
        for j in range(frame.shape[1]):
            values = table.typed.iloc[:, j]
            if values.dtype.kind == "f":
                text = format_numbers(values, None, table.decimal)
                text[values.isna().to_numpy()] = None
                frame.isetitem(j, text)
    for j in table.modelled:
        hole = table.missing[:, j]
        if hole.any():
            column = frame.iloc[:, j].to_numpy(dtype=object).copy()
            column[hole] = ORIGINAL_MISSING
            frame.isetitem(j, column)
    return frame


_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".zst")


def _numbered(path, number):
    """``OUT.csv`` to ``OUT_<number>.csv`` (``.csv.gz`` kept whole as a suffix)."""
    path = pathlib.Path(path)
    suffix = path.suffix
    if suffix.lower() in _COMPRESSION_SUFFIXES:
        suffix = pathlib.Path(path.stem).suffix + suffix
    stem = path.name[: len(path.name) - len(suffix)]
    return path.with_name(f"{stem}_{number}{suffix}")


def _is_parquet_output(path):
    from emimpute._cli_table import PARQUET_SUFFIXES

    return path != "-" and str(path).lower().endswith(PARQUET_SUFFIXES)


def run_cluster(args):
    """``emimpute cluster``: label the rows of a table."""
    import pandas as pd

    from emimpute._cli_table import ColumnChoice, index_frame
    from emimpute._mixture import EMMixture

    columns = ColumnChoice(
        only=tuple(args.columns or ()),
        skip=tuple(list(args.ignore or ()) + list(args.exclude or ())),
        skip_non_numeric=args.ignore_non_numeric,
        categorical=tuple(args.categorical or ()),
        detect=not args.no_categorical,
        skip_option=_skip_option(args.exclude, args.ignore, "--ignore"),
        hint=(
            " or pass --ignore-non-numeric or --categorical to model them as categories"
        ),
    )
    _check_table_options(args)
    outputs = [("-o", args.output)]
    if args.proba is not None:
        outputs.append(("--proba", args.proba))
    _check_outputs(args, outputs)
    _check_encoding(args, outputs)
    table = _read(args, columns)
    mixture = EMMixture(**_em_parameters(args, table), verbose_interval=1)
    X = table.model_input()
    with (
        step(f"fitting EMMixture on {_shape(table)}"),
        user_errors("cannot cluster"),
    ):
        labels = mixture.fit_predict(X)
        proba = mixture.predict_proba(X) if args.proba else None

    index, names = index_frame(table)
    frame = pd.concat([index, pd.DataFrame({len(names): labels})], axis=1)
    outputs = [(args.output, frame, [*names, "label"])]
    if proba is not None:
        columns = pd.DataFrame(
            proba, columns=range(len(names), len(names) + proba.shape[1])
        )
        header = [*names, *(f"proba_{k}" for k in range(proba.shape[1]))]
        outputs.append((args.proba, pd.concat([index, columns], axis=1), header))
    _write_all(outputs, args, table)
    return 0


def run_demo(args):
    """``emimpute demo``: the main job on the bundled Old Faithful data."""
    from emimpute._demo import demo

    _check_figure_output(args.output)
    with user_errors("demo failed"):
        try:
            figure = demo(
                missing_rate=args.missing_rate, random_state=args.random_state
            )
        except ImportError:
            # The report is out; only the figure needs the extra.
            raise CLIError(
                "the figure needs matplotlib: python -m pip install 'emimpute[plot]'"
            ) from None
    try:
        figure.savefig(args.output, dpi=110)
    except OSError as exc:
        # The path was checked before the fits, but the disk can still fill
        # up or the directory go away. Only the write is caught: an OSError
        # while drawing would be a bug, shown as one.
        raise CLIError(cannot_write(args.output, exc)) from None
    print(f"Figure written to {args.output}")
    return 0


def _check_figure_output(output):
    """Refuse a figure path that cannot be written, before the minute of work.

    Its directory must exist, its suffix be a format matplotlib writes (no
    suffix is matplotlib's default, png), and the file be open for writing.
    """
    _check_writable(output)
    suffix = pathlib.Path(output).suffix.lower()[1:]
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        formats = None  # the demo says that matplotlib is missing, at the end
    else:
        formats = FigureCanvasBase.get_supported_filetypes()
    if suffix and formats is not None and suffix not in formats:
        raise CLIError(
            f"{output}: cannot write a figure as .{suffix}; give --output one "
            f"of the suffixes {', '.join(f'.{f}' for f in sorted(formats))}"
        )


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
        0 on success (also when the reader of stdout goes away, as with
        ``| head``), 2 on a user error (bad input or arguments), 1 on an
        unexpected failure.

    Examples
    --------
    >>> from emimpute._cli import main
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: emimpute [-h] [--version] COMMAND ...
    ...
    0
    """
    # The parser names the commands defined here: imported when main runs,
    # not up front, so that the two modules do not import each other.
    from emimpute._cli_parser import build_parser
    from emimpute._cli_table import TableError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with progress(
            verbose=getattr(args, "verbose", False),
            quiet=getattr(args, "quiet", False),
        ):
            return args.run(args)
    except SystemExit as exc:
        # argparse exits on --help and on bad arguments; return its status so
        # that main() can be called from Python too.
        return exc.code if isinstance(exc.code, int) else USER_ERROR
    except BrokenPipeError:
        _close_stdout()
        return 0
    except (CLIError, TableError) as exc:
        print(f"emimpute: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("emimpute: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a command line never shows a traceback
        print(
            f"emimpute: error: unexpected {type(exc).__name__}: {one_line(exc)}",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


def _close_stdout():
    """Point stdout at /dev/null once its reader is gone.

    Python flushes stdout at exit, which would fail again on the closed
    pipe and print a traceback; the Python docs' recipe (signal module,
    "Note on SIGPIPE") is to redirect it to devnull.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (pytest's capture)
        pass
