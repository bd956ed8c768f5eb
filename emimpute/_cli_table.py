"""Tables of the command line: CSV or Parquet in, CSV or Parquet out, via pandas.

pandas earns its place here: its C parser reads CSV some twenty times faster
than a Python loop over :mod:`csv` rows, it knows the usual spellings of a
missing value (``NA``, ``NaN``, ``N/A``, ``null``, ``#N/A``, ...), reads a
decimal comma, and reads and writes Parquet through pyarrow. pandas is
imported here only, and this module only when a command runs, so
``emimpute --help`` stays quick.

A CSV file is read twice by pandas: once typed (numbers as float64, the
missing cells found by pandas' rules), which is what the model sees, and once
verbatim (every cell as its text, ``1.50`` as ``1.50``), which is what the
observed cells are written back from, so each keeps its text. Only the
imputed cells are formatted from floats. The quotes are the CSV format's,
not the cell's: pandas' reader takes them off and its writer quotes
minimally, so ``" Lee "`` and ``"1.50"`` come out unquoted and ``a "q"``
quoted, each reading back as the same text. (Text columns that hold numbers
are read once more, for their missing cells: see
:func:`_find_missing_text`.)

A Parquet file has dtypes, which the outputs keep (:func:`_as_read`): a
``category`` column keeps its categories, those that no cell holds too, and
their order, in the table, the stacked imputations and the ``--std`` file;
float32 stays float32. Only a column of integers (or of numbers stored as
text) whose holes are imputed changes, to float64: the imputed numbers are
not integers. A CSV file has no dtypes: written as Parquet, its text columns
are strings, and its numbers and booleans are as pandas reads them (a
column of integers with a hole is float64).

What is missing, and how numbers are written, are pandas' options too:
``na_values``/``keep_default_na`` (``--na-values``, ``--no-default-na``),
``decimal`` and ``thousands``. A column of text that would be numbers under
another decimal mark or thousands separator is refused with the options
that read it (:func:`_interpretations`), never modelled as categories.

A CSV file is read in ``--encoding`` (UTF-8 by default), and the CSV outputs
are written as it was (:func:`_output_style`): in its encoding, beginning
with a UTF-8 byte-order mark if it does, and with its line ends.
"""

import bz2
import codecs
import csv
import gzip
import io
import lzma
import re
import shlex
import sys
import tarfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from emimpute._messages import cannot_write, listing, names_of, one_line, plural

PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 1 << 16
DELIMITERS = ",;\t|"
# pandas' read_csv(compression="infer") decompresses by these suffixes
# (case-insensitive; the tar ones first, as ".tar.gz" also ends in ".gz").
TAR_SUFFIXES = (".tar", ".tar.gz", ".tar.bz2", ".tar.xz")
COMPRESSED_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# What a damaged archive raises besides OSError (gzip's, bz2's) and EOFError
# (a truncated stream).
ARCHIVE_ERRORS = (EOFError, zipfile.BadZipFile, tarfile.TarError, lzma.LZMAError)
# The characters a file may group the digits of thousands with: 1,234.5,
# 1.234,5, 1 234,5 and 1'234.5, and the no-break spaces that spreadsheets
# and French typography put there (U+00A0, U+202F). A column of text that
# reads as numbers with one of them is refused with the option that reads it.
THOUSANDS_SEPARATORS = (",", ".", " ", "'", "\u00a0", "\u202f")
# Every (decimal mark, thousands separator) a CSV file may be read with.
READINGS = tuple(
    (decimal, thousands)
    for decimal in ".,"
    for thousands in (None, *THOUSANDS_SEPARATORS)
    if thousands != decimal
)
# Cells a reading parses first, to drop it cheaply when it fails on them.
SAMPLE = 64
# What a number may hold under some reading (digits, signs, marks and
# separators, an exponent, and pandas' inf): one quick regular expression
# before the readings' parses, slow on a column of a million identifiers.
MAYBE_NUMBER = (
    r"\s*[+-]?(?=[.,]?\d)[\d.,' \u00a0\u202f]*(?:e[+-]?\d+)?\s*"
    r"|\s*[+-]?inf(?:inity)?\s*"
)
# Python's names of UTF-8, which may begin with a byte-order mark.
UTF8_CODECS = ("utf-8", "utf-8-sig")


class TableError(Exception):
    """A problem with an input or output table, reported as one line."""


@dataclass
class Table:
    """A table as read, and which of its columns the model sees.

    Attributes
    ----------
    source : str
        Its path, or ``-`` for stdin, for the messages.
    header : list of str
        Column names, verbatim (duplicates allowed).
    typed : DataFrame
        The cells as pandas parses them, columns named uniquely by pandas.
    text : DataFrame or None
        The cells verbatim as str (CSV input); None for Parquet input.
    missing : ndarray of shape (n_rows, n_columns)
        True where a cell is missing, by pandas' rules.
    numeric, categorical, index : list of int
        Positions of the columns modelled as numbers, as categories, and of
        the index columns (never modelled, written back verbatim).
    sep, decimal : str
        The CSV field separator and decimal mark, kept for the output.
    thousands : str or None
        The thousands separator the numbers were read with (imputed numbers
        are written without one).
    encoding : str
        The encoding of the CSV outputs: the input's, ``utf-8-sig`` when it
        began with a UTF-8 byte-order mark, which the outputs then keep.
    lineterminator : str
        The line end of the CSV outputs: the input's, ``\\r\\n`` or ``\\n``.
    """

    source: str
    header: list
    typed: object
    text: object
    missing: np.ndarray
    numeric: list
    categorical: list
    index: list
    sep: str = ","
    decimal: str = "."
    thousands: object = None
    encoding: str = "utf-8"
    lineterminator: str = "\n"

    @property
    def n_rows(self):
        return len(self.typed)

    @property
    def reading(self):
        """(decimal mark, thousands separator) the table was read with."""
        return self.decimal, self.thousands

    @property
    def modelled(self):
        """Positions of the modelled columns, in the file's order."""
        return sorted(self.numeric + self.categorical)

    def model_input(self):
        """The modelled columns as a DataFrame for the estimators.

        Numeric columns as float64; categorical ones as the text of the cells
        (None where missing) when the input is CSV, so that a category is
        written back exactly as it was read.
        """
        import pandas as pd

        columns = {}
        for j in self.modelled:
            name = self.typed.columns[j]
            if j in self.numeric:
                columns[name] = self.numbers(j)
            else:
                cells = self.text.iloc[:, j] if self.text is not None else None
                if cells is None:
                    cells = self.typed.iloc[:, j]
                values = cells.to_numpy(dtype=object).copy()
                values[self.missing[:, j]] = None
                columns[name] = values
        return pd.DataFrame(columns, index=self.typed.index)

    def numbers(self, j):
        """Column ``j`` as float64, NaN where missing.

        A column of numbers stored as text (Parquet) is read with the
        table's decimal mark and thousands separator.
        """
        import pandas as pd

        column = self.typed.iloc[:, j]
        if not pd.api.types.is_numeric_dtype(column.dtype):
            column = _read_numbers(column.astype(str), *self.reading)
            column[self.missing[:, j]] = np.nan
        return column.to_numpy(dtype=float, na_value=np.nan)

    @property
    def categorical_names(self):
        """pandas' names of the categorical columns, for the estimators."""
        return [self.typed.columns[j] for j in self.categorical]


def is_parquet(path):
    """Whether ``path`` names a Parquet file, by suffix or by magic number."""
    if path == "-":
        return False
    if str(path).lower().endswith(PARQUET_SUFFIXES):
        return True
    try:
        with open(path, "rb") as file:
            return file.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def read_table(
    path,
    *,
    sep=None,
    decimal=".",
    thousands=None,
    na_values=(),
    keep_default_na=True,
    index_col=(),
    encoding=None,
):
    """Read a CSV (``-`` for stdin) or Parquet file into a :class:`Table`.

    ``sep=None`` sniffs the delimiter among ``, ; tab |`` from the start of
    the file. ``decimal``, ``thousands``, ``na_values``,
    ``keep_default_na`` and ``encoding`` (None: UTF-8) are pandas'
    ``read_csv`` options (empty cells are missing either way). An unnamed
    first column (pandas writes its index so) and the columns of
    ``index_col`` (names, or positions) are index columns. The kinds of the
    columns are left to :func:`choose_columns`.
    """
    pd = _pandas()
    given_encoding, encoding = encoding, encoding or "utf-8"
    style = _output_encoding(encoding, bom=False), "\n"
    try:
        if is_parquet(path):
            _check_parquet_markers(path, na_values, keep_default_na)
            typed = pd.read_parquet(path)
            # pandas restores the index it saved: a named one is a column of
            # the file (pyarrow lists it) and comes back as one; an unnamed
            # one (rows filtered before saving) is dropped. Rows are then
            # numbered 0..n-1, as every output aligns them.
            named = [name for name in typed.index.names if name is not None]
            typed = typed.reset_index(drop=not named)
            header = [str(name) for name in typed.columns]
            typed.columns = header
            text = None
        else:
            data = sys.stdin.buffer.read() if path == "-" else None
            sep = sep or _sniff(path, data, encoding)
            markers = _missing_options(na_values, keep_default_na)
            numbers = dict(decimal=decimal, thousands=thousands)
            typed, text, header = _read_csv(
                pd, path, data, sep, numbers, markers, encoding
            )
            _check_one_field_header(pd, path, data, header, sep, encoding)
            style = _output_style(path, data, encoding)
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TableError(f"{path}: is a directory, not a table") from None
    except UnicodeDecodeError as exc:
        raise TableError(_undecodable(path, given_encoding, exc)) from None
    except pd.errors.EmptyDataError:
        raise TableError(
            f"{path}: empty file, expected a header row and data rows"
        ) from None
    except ImportError as exc:
        if not is_parquet(path):
            # pandas needs the zstandard package for a .zst file.
            raise TableError(f"{path}: cannot read: {one_line(exc)}") from None
        raise TableError(
            f"{path}: reading Parquet needs pyarrow: python -m pip install "
            f"'emimpute[parquet]' ({one_line(exc)})"
        ) from None
    except pd.errors.ParserError as exc:
        hint = ""
        if thousands is not None and thousands == sep:
            # What splits a grouped number is the delimiter, not --thousands;
            # but this is the option that says the file groups numbers so.
            hint = (
                f"; --thousands {_shell(thousands)} is the field delimiter too, "
                f'so a number grouped by it must be quoted ("1{thousands}234")'
            )
        raise TableError(f"{path}: cannot read: {one_line(exc)}{hint}") from None
    except (OSError, ValueError, *ARCHIVE_ERRORS) as exc:
        raise TableError(f"{path}: cannot read: {one_line(exc)}") from None
    if len(typed) == 0:
        raise TableError(f"{path}: no data rows after the header")
    index = _index_columns(path, header, index_col)
    return Table(
        source=path,
        header=header,
        typed=typed,
        text=text,
        missing=typed.isna().to_numpy(),
        numeric=[],
        categorical=[],
        index=index,
        sep=sep or ",",
        decimal=decimal,
        thousands=thousands,
        encoding=style[0],
        lineterminator=style[1],
    )


def _undecodable(path, encoding, exc):
    """The error for a file that ``encoding`` (None: UTF-8) cannot read.

    Parameters
    ----------
    path : str
        The file, ``-`` for stdin.
    encoding : str or None
        The ``--encoding`` given, None if it was not.
    exc : UnicodeDecodeError
        What decoding the file raised.

    Returns
    -------
    message : str
        The bytes that did not decode, and the option that reads the file:
        for UTF-8, the encodings of most files that are not.
    """
    bad = exc.object[exc.start : exc.end]
    shown = " ".join(f"0x{byte:02x}" for byte in bad)
    what = f"byte {shown} is" if len(bad) == 1 else f"bytes {shown} are"
    if encoding is None or codecs.lookup(encoding).name in UTF8_CODECS:
        return (
            f"{path}: not a UTF-8 text file ({what} not UTF-8); pass its "
            "encoding, e.g. --encoding cp1252 or --encoding latin-1"
        )
    return (
        f"{path}: not a {encoding} text file ({what} not {encoding}); pass its "
        "encoding with --encoding"
    )


def _output_encoding(encoding, *, bom):
    """The encoding that CSV outputs are written in, for an input in
    ``encoding`` that begins (``bom``) or not with a UTF-8 byte-order mark.

    Whatever name of UTF-8 was given, the mark is kept, or not added: pandas
    reads an input with or without one alike, and ``utf-8-sig`` would write
    one always.
    """
    if codecs.lookup(encoding).name in UTF8_CODECS:
        return "utf-8-sig" if bom else "utf-8"
    return encoding


def _output_style(path, data, encoding):
    """The encoding and the line terminator of the CSV outputs: the input's.

    A UTF-8 byte-order mark that begins the input begins the outputs: Excel
    reads a CSV file as UTF-8 by it, and in the locale's code page without
    it. The lines end with ``\\r\\n`` if the first line of the input does,
    as files made on Windows do, and with ``\\n`` otherwise.
    """
    head = _prefix(path, data)
    bom = head.startswith(codecs.BOM_UTF8)
    first = re.search(r"\r\n|\r|\n", _decoded(head, encoding))
    ends = "\r\n" if first is not None and first.group() == "\r\n" else "\n"
    return _output_encoding(encoding, bom=bom), ends


def _check_parquet_markers(path, na_values, keep_default_na):
    """Refuse the options of missing-value markers with a Parquet input.

    A Parquet file holds its missing cells as nulls, and pandas reads it
    with no markers: ``NA`` there is the text NA, and ``--na-values`` and
    ``--no-default-na`` would be silently ignored.
    """
    given = [
        option
        for option, on in (
            ("--na-values", bool(na_values)),
            ("--no-default-na", not keep_default_na),
        )
        if on
    ]
    if given:
        raise TableError(
            f"{path}: {' and '.join(given)} read{'s' if len(given) == 1 else ''} "
            "the text cells of a CSV file; a Parquet file's missing cells are "
            "nulls, and its text is never read as missing: leave out "
            f"{' and '.join(given)}, and write the markers as nulls instead"
        )


def _missing_options(na_values, keep_default_na):
    """pandas' ``na_values`` and ``keep_default_na`` for the given markers.

    Without pandas' defaults, pandas would keep an empty cell as the text ''
    (its default markers are what hold ''): it is named, as empty cells are
    missing whatever else is.
    """
    markers = list(na_values)
    if not keep_default_na:
        markers.append("")
    return dict(na_values=markers, keep_default_na=keep_default_na)


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        raise TableError(
            "the command line needs pandas: python -m pip install pandas"
        ) from None
    return pd


def _source(path, data):
    """What pandas reads a CSV file from: ``path``, or the bytes of stdin
    (``data``) in a new buffer at each read."""
    return path if data is None else io.BytesIO(data)


def _first_row(pd, path, data, sep, encoding, **options):
    """The first line of a CSV file (its header, or a blank line) as text
    cells, read by pandas with ``options`` on top."""
    return pd.read_csv(
        _source(path, data),
        sep=sep,
        header=None,
        nrows=1,
        dtype=str,
        encoding=encoding,
        **options,
    )


def _read_csv(pd, path, data, sep, numbers, markers, encoding):
    """The typed and the verbatim frames of a CSV file, and its header.

    ``numbers`` (``decimal``, ``thousands``) and ``markers`` (``na_values``,
    ``keep_default_na``) are options of the typed read only.
    """

    def source():
        return _source(path, data)

    blank_rows, skiprows = _blank_lines_are_rows(pd, path, data, sep, encoding)
    options = dict(
        sep=sep,
        encoding=encoding,
        skip_blank_lines=not blank_rows,
        skiprows=skiprows,
    )
    # Every cell as the text in the file: na_filter=False keeps "NA" as "NA".
    # (A row with fewer fields than the header has its last cells empty, as
    # pandas and R's read.csv read it; one with more is an error.)
    text = pd.read_csv(
        source(),
        header=None,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        low_memory=False,
        **options,
    )
    header = text.iloc[0].tolist()
    text = text.iloc[1:].reset_index(drop=True)
    if blank_rows:
        # A line of spaces is as blank as an empty one: a missing cell.
        blank = text.iloc[:, 0].str.strip() == ""
        spaces = sorted(set(text.iloc[:, 0][blank]) - {""})
        markers = {**markers, "na_values": [*markers["na_values"], *spaces]}
    # pandas' C parser takes a one-byte thousands separator only, and
    # ignores a longer one (a no-break space is two bytes of UTF-8): its
    # Python parser reads that.
    engine = dict(low_memory=False)
    if numbers["thousands"] is not None and not numbers["thousands"].isascii():
        engine = dict(engine="python")
    typed = pd.read_csv(source(), **numbers, **markers, **options, **engine)
    _find_missing_text(pd, typed, source, {**markers, **options, "low_memory": False})
    if blank_rows:
        # Blank lines after the last row end the file, as R's read.csv
        # reads them (it skips every blank line): only those between rows
        # are missing cells.
        filled = np.flatnonzero(~blank.to_numpy())
        rows = filled[-1] + 1 if len(filled) else 0
        typed, text = typed.iloc[:rows], text.iloc[:rows]
    return typed, text, header


def _blank_lines_are_rows(pd, path, data, sep, encoding):
    """Whether the blank lines of a CSV file are data rows, and how many
    blank lines come before the header.

    They are in a file of one column, where an empty line (or one of
    spaces) is the plainest way to write a missing cell: skipping them, as
    pandas does by default, would drop rows from the output. Every blank
    line between the header and the last row is then a row. In a file of
    more columns a blank line has too few fields to be a row, and is
    skipped, as pandas and R's ``read.csv`` do. So are the blank lines
    before the header: pandas, keeping blank lines, would read the first one
    as a header of no column, so they are counted, for ``skiprows``.
    """
    first = _first_row(pd, path, data, sep, encoding, na_filter=False)
    if first.shape[1] != 1:
        return False, None
    sample = _sample(path, data, encoding)
    lines = sample.splitlines()
    leading = next((k for k, line in enumerate(lines) if line.strip()), 0)
    return True, leading or None


def _find_missing_text(pd, typed, source, options):
    """Mark the missing cells that pandas left as text in ``typed``.

    pandas reads a column of integers between 2**63 and 2**64 that has a
    hole as text, and keeps the hole as the text ('' or 'NA'), not missing.
    Text columns that hold numbers are read again as str, where pandas
    applies its missing values, and take that read where it finds more.
    (Their distinct values are what is tested: few, in a column of
    categories.)
    """
    suspects = []
    for j, dtype in enumerate(typed.dtypes):
        if pd.api.types.is_numeric_dtype(dtype):
            continue
        values = pd.Series(typed.iloc[:, j].unique())
        if pd.to_numeric(values, errors="coerce").notna().any():
            suspects.append(j)
    if not suspects:
        return
    cells = pd.read_csv(source(), usecols=suspects, dtype=str, **options)
    for k, j in enumerate(suspects):
        column = cells.iloc[:, k]
        if (column.isna() & typed.iloc[:, j].notna()).any():
            typed.isetitem(j, column)


def _prefix(path, data):
    """The first bytes of a CSV file, decompressed as pandas reads it (its
    compressed bytes tell nothing); ``data`` is stdin's, None for a file."""
    return _head(path) if data is None else data[:SNIFF_BYTES]


def _decoded(head, encoding):
    """The first bytes of a file as text, without a byte-order mark (pandas
    reads the header's first name without it).

    A character cut at the end of ``head``, or one the file's encoding does
    not have (an error when pandas reads it), is replaced.
    """
    return head.decode(encoding, errors="replace").removeprefix("\ufeff")


def _sample(path, data, encoding):
    """The first lines of a CSV file as text, cut at a line's end."""
    sample = _prefix(path, data)
    text = _decoded(sample, encoding)
    if len(sample) == SNIFF_BYTES:
        text = text[: text.rfind("\n") + 1] or text
    return text


def _sniff(path, data, encoding):
    """The delimiter of a CSV file, guessed from its first lines by csv.Sniffer."""
    text = _sample(path, data, encoding)
    # The header: the first line that is not blank.
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    try:
        sep = csv.Sniffer().sniff(text, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sep = ","
    # The sniffer can settle on a character of the data in a one-column
    # file; a delimiter must at least separate the header's fields.
    return sep if sep in first_line else ","


def _head(path):
    """The first bytes of ``path`` as pandas' ``read_csv`` reads them.

    Decompressed by the suffixes that its ``compression="infer"`` knows. An
    archive of other than one file, or a ``.zst`` file without the zstandard
    package, gives no bytes: pandas then refuses it with its own message.
    """
    name = str(path).lower()
    with ExitStack() as stack:
        if name.endswith(TAR_SUFFIXES):
            archive = stack.enter_context(tarfile.open(path))
            names = archive.getnames()
            if len(names) != 1:
                return b""
            file = archive.extractfile(names[0])
            if file is None:  # a directory or a link, not a file
                return b""
        elif name.endswith(".zip"):
            archive = stack.enter_context(zipfile.ZipFile(path))
            names = archive.namelist()
            if len(names) != 1:
                return b""
            file = archive.open(names[0])
        elif name.endswith(".zst"):
            try:
                import zstandard
            except ImportError:
                return b""
            file = zstandard.open(path, "rb")
        else:
            suffix = next((s for s in COMPRESSED_OPENERS if name.endswith(s)), None)
            file = COMPRESSED_OPENERS.get(suffix, open)(path, "rb")
        with file:
            return file.read(SNIFF_BYTES)


def _check_one_field_header(pd, path, data, header, sep, encoding):
    """Refuse a header read as one field that holds a likely delimiter.

    That is a file split on the wrong delimiter (a wrong ``--sep``, or one
    the sniffer missed): its lines would come back as one text column with
    no holes, and the output as a copy of the input. A name that holds such
    a character on purpose is quoted in the file, and is let through.
    """
    if len(header) != 1:
        return
    name = str(header[0])
    others = [c for c in DELIMITERS if c != sep and c in name]
    if not others:
        return
    # The header once more with its quotes kept, to see whether it has any.
    first = _first_row(
        pd, path, data, sep, encoding, keep_default_na=False, quoting=csv.QUOTE_NONE
    )
    if str(first.iloc[0, 0]).lstrip("\ufeff \t").startswith('"'):
        return
    likely = max(others, key=name.count)
    shown = "tab" if likely == "\t" else likely
    raise TableError(
        f"{path}: the header is one field, {name!r}, read with the delimiter "
        f"{sep!r}; if {likely!r} delimits the fields, pass --sep '{shown}'; if "
        "the file has one column, quote its name"
    )


def _index_columns(path, header, index_col):
    """Positions of the index columns: named ones, and an unnamed first one."""
    positions = set(resolve(index_col, header, "--index-col", path, positional=True))
    if header and not header[0].strip():
        positions.add(0)
    return sorted(positions)


def resolve(names, header, option, path, *, positional=False):
    """Positions of the columns named by an option's values.

    Each value is a column name or a comma-separated list of them (with
    ``positional``, a number that is not a name is a 0-based position).
    """
    where = {}
    for j, name in enumerate(header):
        where.setdefault(str(name).strip(), []).append(j)
    positions = []
    for value in names:
        # A whole value that is a name (even an empty one: the column of a
        # trailing separator) names that column; else its comma-separated
        # parts, empty ones ignored, but a value must name something.
        if value.strip() in where:
            parts = [value]
        else:
            parts = [part for part in value.split(",") if part.strip()]
        if not parts:
            raise TableError(
                f"{path}: {option} {value!r} names no column; the columns are "
                f"{names_of(header)}"
            )
        for name in (part.strip() for part in parts):
            if name not in where:
                if positional and name.isdigit() and int(name) < len(header):
                    positions.append(int(name))
                    continue
                raise TableError(
                    f"{path}: {option} names no column {name!r}; the columns are "
                    f"{names_of(header)}"
                )
            if len(where[name]) > 1:
                raise TableError(
                    f"{path}: {option} names {name!r}, which is the name of "
                    f"{len(where[name])} columns"
                )
            positions.append(where[name][0])
    return positions


# --------------------------------------------------------------------------
# Which columns the model sees


@dataclass(frozen=True)
class ColumnChoice:
    """What the command line says about the columns of the input.

    Attributes
    ----------
    only : tuple of str
        ``--columns``: model these columns only (all but the index if empty).
    skip : tuple of str
        ``--exclude`` (and ``--passthrough COL``, ``--ignore COL``): leave
        these columns out of the model.
    skip_non_numeric : bool
        Leave out every column that is not all numbers, except those named
        in ``categorical`` (a bare ``--passthrough``, ``--ignore-non-numeric``).
    categorical : tuple of str
        Columns modelled as categories whatever they hold.
    detect : bool
        Model text columns as categories (False with ``--no-categorical``).
    skip_option : str
        The option that leaves a column out, for the messages.
    hint : str
        End of the message that lists the columns nothing models.
    """

    only: tuple = ()
    skip: tuple = ()
    skip_non_numeric: bool = False
    categorical: tuple = ()
    detect: bool = True
    skip_option: str = "--exclude"
    hint: str = ""


def choose_columns(table, columns):
    """Set ``table.numeric`` and ``table.categorical`` from ``columns``.

    A column pandas reads as numbers is numeric; one of text (or booleans, or
    a ``category`` column of a Parquet file) is categorical when
    ``columns.detect``; one named in ``columns.categorical``
    is categorical whatever it holds. A column nothing models, one that mixes
    numbers and text, or one of numbers that another decimal mark or
    thousands separator reads, raises a :class:`TableError` naming it.
    """
    header, path = table.header, table.source
    skip = set(resolve(columns.skip, header, columns.skip_option, path))
    forced = set(resolve(columns.categorical, header, "--categorical", path))
    both = sorted(skip & forced)
    if both:
        raise TableError(
            f"{path}: column{plural(both)} {names_of([header[j] for j in both])} "
            f"named in both {columns.skip_option} and --categorical"
        )
    candidates = range(len(header))
    if columns.only:
        # Once each: --columns may be repeated, and the lists may overlap.
        candidates = dict.fromkeys(resolve(columns.only, header, "--columns", path))
    candidates = [j for j in candidates if j not in skip and j not in table.index]
    _check_forced(table, forced, candidates)

    numeric, categorical, text, mixed, other = [], [], [], [], []
    for j in candidates:
        if j in forced:
            categorical.append(j)
            continue
        kind = _kind(table, j)
        if columns.skip_non_numeric and kind != "numeric":
            continue
        elif kind == "numeric":
            numeric.append(j)
        elif kind == "mixed":
            mixed.append(j)
        elif kind == "other reading":
            other.append(j)
        elif not columns.detect:
            text.append(j)
        else:
            categorical.append(j)

    if text:
        text = _listing_cells(table, text)
        raise TableError(
            f"{path}: non-numeric column{plural(text)} {listing(text)}; remove "
            f"{_them(text)}{columns.hint}"
        )
    if mixed:
        raise TableError(_mixed_message(table, mixed, columns.skip_option))
    if other:
        raise TableError(_reading_message(table, other))
    if not numeric and not categorical:
        raise TableError(
            f"{path}: no numeric column and no categorical column to work on"
        )
    _check_grouping(table, numeric)
    table.numeric, table.categorical = numeric, categorical
    _check_values(table, columns.skip_option)
    # The estimators' package, imported only when a command runs.
    from emimpute._layout import identifier_message

    for j in categorical:
        if j in forced:
            continue  # named by the user: their choice
        cells = table.typed.iloc[:, j]
        message = identifier_message(
            f"column {header[j]!r}", cells.nunique(), int(cells.notna().sum())
        )
        if message:
            print(
                f"emimpute: warning: {path}: {message} Leave it out of the model "
                f"with {columns.skip_option}, or keep it with --categorical.",
                file=sys.stderr,
            )


def _check_forced(table, forced, candidates):
    """Refuse a column named in --categorical that the model will not see.

    It was ignored, silently: one left out of --columns, or an index column.
    """
    header, path = table.header, table.source
    for j in sorted(forced - set(candidates)):
        if j in table.index:
            why = (
                "an index column (named in --index-col, or the unnamed first "
                "column), which is never modelled"
            )
        else:
            why = "not among the columns named in --columns; add it there"
        raise TableError(f"{path}: --categorical names {header[j]!r}, {why}")


def _kind(table, j):
    """A column as pandas read it: 'numeric', 'text', 'mixed' (numbers under
    the table's reading beside text), or 'other reading' (every cell a number
    under another decimal mark or thousands separator, see
    :func:`_interpretations`)."""
    pd = _pandas()
    column = table.typed.iloc[:, j]
    # A category column (a Parquet file's) is one even when its categories
    # are numbers ("0", "2001"): modelled as numbers, its holes would take
    # values that are none of them.
    if isinstance(column.dtype, pd.CategoricalDtype):
        return "text"
    if pd.api.types.is_bool_dtype(column.dtype):
        return "text"
    if pd.api.types.is_numeric_dtype(column.dtype):
        return "numeric"
    # Distinct values: few in a column of categories.
    values = pd.Series(column[~table.missing[:, j]].astype(str).unique())
    if not len(values):
        return "text"
    numbers = _read_numbers(values, *table.reading).notna()
    if _maybe_number(values).all():
        if numbers.all():
            return "numeric"  # a Parquet column of numbers stored as text
        if _interpretations(values, table.reading):
            return "other reading"
    # Mixed under the file's own reading only: a column of categories may
    # hold one that another reading takes for a number ("1,5" beside "A" and
    # "B", bins such as "1,2" beside "<1,000", identifiers "732 829 320").
    return "mixed" if numbers.any() else "text"


def _read_numbers(cells, decimal, thousands=None):
    """The numbers of text ``cells`` (NaN where not one) under a decimal mark
    and a thousands separator.

    Stricter than pandas, so that readings can be told apart: the separator
    counts only between groups of three digits (pandas with ``thousands=","``
    reads ``1,5`` as 15). Spaces around a cell are left out, as pandas does
    (padded cells, ``"  1,234"``, are common in exported files).
    """
    cells = cells.str.strip()
    if thousands is not None:
        grouped = cells.str.fullmatch(_grouped(decimal, thousands))
        cells = cells.where(~grouped, cells.str.replace(thousands, "", regex=False))
    return _numbers(cells, decimal)


def _grouped(decimal, thousands):
    """The pattern of a number whose thousands are grouped by ``thousands``:
    groups of three digits after the first one to three, spaces around."""
    mark, separator = re.escape(decimal), re.escape(thousands)
    return rf"\s*[+-]?\d{{1,3}}(?:{separator}\d{{3}})+(?:{mark}\d+)?\s*"


def _check_grouping(table, positions):
    """Refuse a number that ``--thousands`` reads but that is not grouped in
    threes.

    pandas drops the separator wherever it is, so that ``2,5`` with
    ``--thousands ,`` is 25, and ``1.5`` with ``--decimal , --thousands .``
    is 15: a typo, or a column written with another decimal mark, read as a
    number ten or a thousand times off, silently. The verbatim cells of the
    columns pandas read as numbers are held to :func:`_grouped`, as the
    detection of a separator is.
    """
    decimal, thousands = table.reading
    if table.text is None or thousands is None:
        return
    pattern = _grouped(decimal, thousands)
    for j in positions:
        cells = table.text.iloc[:, j][~table.missing[:, j]]
        holds = cells.str.strip().str.contains(thousands, regex=False)
        stray = np.flatnonzero(holds & ~cells.str.fullmatch(pattern))
        if not len(stray):
            continue
        row = int(cells.index[stray[0]])
        option = f"--thousands {_shell(thousands)}"
        raise TableError(
            f"{table.source}: column {table.header[j]!r} ({cells.iloc[stray[0]]!r} "
            f"in data row {row + 1}) is not a number grouped in threes by "
            f"{thousands!r}, which {option} would read as "
            f"{_shown(table.typed.iloc[row, j])}; fix the cell, or leave out "
            f"{option} if the file does not group thousands so"
        )


def _numbers(cells, decimal):
    """The numbers of text ``cells`` (NaN where not one), read with the
    file's decimal mark: with ``,`` a cell holding a ``.`` is not a number
    (it is text to pandas too), and ``1,5`` is 1.5."""
    if decimal == ",":
        cells = cells.where(~cells.str.contains(".", regex=False), "not a number")
        cells = cells.str.replace(",", ".", regex=False)
    return _pandas().to_numeric(cells, errors="coerce")


def _maybe_number(cells):
    """Where text ``cells`` may be numbers under some reading (a filter)."""
    return cells.str.fullmatch(MAYBE_NUMBER, case=False).to_numpy(dtype=bool)


def _any_number(cells):
    """Where text ``cells`` are numbers under some reading of :data:`READINGS`."""
    found = np.zeros(len(cells), dtype=bool)
    left = np.flatnonzero(_maybe_number(cells))
    for reading in READINGS:
        # Each reading parses only the cells that no reading before did.
        hits = _read_numbers(cells.iloc[left], *reading).notna().to_numpy()
        found[left[hits]] = True
        left = left[~hits]
        if not len(left):
            break
    return found


def _interpretations(cells, current):
    """The other readings under which every one of ``cells`` is a number.

    One ``(reading, numbers)`` per distinct result, ``reading`` being the
    one of fewest changes from ``current`` that gives it: ``1,5`` only reads
    as 1.5 (with a decimal comma), ``1,234`` as 1.234 or as 1234 (with ','
    between thousands), ``1.234,5`` as 1234.5 (a decimal comma and '.'
    between thousands).
    """
    found = []
    if not _maybe_number(cells).all():
        return found
    for reading in sorted(READINGS, key=lambda reading: _changes(reading, current)):
        if reading == current:
            continue
        # Without its separator in the cells, a reading is the one without
        # a separator; most others fail on the first cells.
        separator = reading[1]
        if separator and not cells.str.contains(separator, regex=False).any():
            continue
        if _read_numbers(cells.iloc[:SAMPLE], *reading).isna().any():
            continue
        numbers = _read_numbers(cells, *reading).to_numpy()
        if np.isnan(numbers).any():
            continue
        if not any(np.array_equal(numbers, seen) for _, seen in found):
            found.append((reading, numbers))
    return found


def _changes(reading, current):
    """How many options differ between two readings."""
    return sum(given != now for given, now in zip(reading, current, strict=True))


def _reading_message(table, positions):
    """The error for columns of numbers under other readings.

    Columns that one reading makes numbers are named together with its
    options; a column that reads several ways is named with each reading of
    its first cell where they disagree.
    """
    path = table.source
    groups = {}
    for j in positions:
        cells = table.typed.iloc[:, j][~table.missing[:, j]].astype(str)
        found = _interpretations(cells, table.reading)
        if len(found) > 1:
            return _ambiguous_message(table, j, cells, found)
        groups.setdefault(found[0][0], []).append(j)
    reading, positions = next(iter(groups.items()))
    items, them = _listing_cells(table, positions), _them(positions)
    return (
        f"{path}: column{plural(items)} {listing(items)} "
        f"{'holds' if len(items) == 1 else 'hold'} numbers written with "
        f"{_described(reading, table.reading)}; "
        f"{_remedy(reading, table.reading)} to read {them} as numbers, or "
        f"name {them} in --categorical to model {them} as categories"
    )


def _ambiguous_message(table, j, cells, found):
    """The error for a column whose numbers read several ways (``1,234``)."""
    columns = np.column_stack([numbers for _, numbers in found])
    row = int(np.flatnonzero((columns != columns[:, :1]).any(axis=1))[0])
    readings = [
        f"{_shown(numbers[row])} with {_described(reading, table.reading)} "
        f"({_remedy(reading, table.reading)})"
        for reading, numbers in found
    ]
    count = {2: "two", 3: "three"}.get(len(found), str(len(found)))
    return (
        f"{table.source}: column {table.header[j]!r} holds numbers that read "
        f"{count} ways: {cells.iloc[row]!r} in data row {cells.index[row] + 1} is "
        f"{' or '.join(readings)}; give the option that fits the file, or name "
        "it in --categorical to model it as categories"
    )


def _described(reading, current):
    """How ``reading`` writes numbers, where it differs from ``current``."""
    (decimal, thousands), parts = reading, []
    if decimal != current[0]:
        parts.append("a decimal comma" if decimal == "," else "a decimal point")
    if thousands is not None and thousands != current[1]:
        parts.append(f"{thousands!r} between thousands")
    return " and ".join(parts) or "no thousands separator"


def _remedy(reading, current):
    """The options that go from the ``current`` reading to ``reading``."""
    give, drop = [], []
    if reading[0] != current[0]:
        (give if reading[0] == "," else drop).append("--decimal ,")
    if reading[1] != current[1]:
        if reading[1] is None:
            drop.append(f"--thousands {_shell(current[1])}")
        else:
            give.append(f"--thousands {_shell(reading[1])}")
    steps = [f"leave out {' '.join(drop)}"] if drop else []
    steps += [f"pass {' '.join(give)}"] if give else []
    return " and ".join(steps)


def _shell(text):
    """``text`` quoted for a shell where it needs it (a space, a quote); a
    character that cannot be seen (a no-break space) as bash's ``$'\\u00a0'``."""
    if len(text) == 1 and not text.isascii():
        return f"$'\\u{ord(text):04x}'"
    return f'"{text}"' if text == "'" else shlex.quote(text)


def _shown(number):
    """A number as a message shows it: 1234, 1.234."""
    return np.format_float_positional(number, trim="-")


def _mixed_message(table, positions, skip_option):
    """The error for columns that mix numbers and text.

    When the text is one token that recurs (``?``, ``-``, ``n.a.``), it is
    likely a missing-value marker, and --na-values is offered.
    """
    items, them = _listing_cells(table, positions, any_reading=True), _them(positions)
    marker = _recurring_token(table, positions)
    if marker is None:
        fix = f"fix {them}"
    else:
        option = f"--na-values {_shell(marker)}"
        if marker.startswith("-") and marker != "-":
            option = f"--na-values={_shell(marker)}"  # else argparse takes an option
        fix = f"if {marker!r} marks a missing value, pass {option}; else fix {them}"
    return (
        f"{table.source}: column{plural(items)} {listing(items)} "
        f"mix{'es' if len(items) == 1 else ''} numbers and text; {fix}, or name "
        f"{them} in --categorical to model {them} as categories or in "
        f"{skip_option} to leave {them} out of the model"
    )


def _recurring_token(table, positions):
    """The one text, seen twice or more, beside the numbers of ``positions``."""
    tokens, count = set(), 0
    for j in positions:
        cells = table.typed.iloc[:, j][~table.missing[:, j]].astype(str)
        text = cells[~_any_number(cells)]
        tokens.update(text)
        count += len(text)
    if len(tokens) != 1 or count < 2 or table.text is None:
        return None  # a Parquet file's markers are nulls, not --na-values
    token = tokens.pop()
    # --na-values splits a value with commas at them, and strips the parts.
    return token if "," not in token else None


def _listing_cells(table, positions, *, any_reading=False):
    """``'name' ('cell' in data row n)`` for each column, its first text
    cell; ``'name' (category)`` for a category column, whose cells may all
    be numbers."""
    pd, items = _pandas(), []
    for j in positions:
        if isinstance(table.typed.dtypes.iloc[j], pd.CategoricalDtype):
            items.append(f"{table.header[j]!r} (category)")
            continue
        row, cell = _first_text(table, j, any_reading=any_reading)
        items.append(f"{table.header[j]!r} ({cell!r} in data row {row + 1})")
    return items


def _first_text(table, j, *, any_reading=False):
    """(row, cell) of the first cell of column ``j`` that is not a number
    under the table's reading; with ``any_reading``, under any reading if
    there is one (a column may mix 1,5 and 1.5, each a number alone)."""
    cells = table.typed.iloc[:, j].astype(str)
    text = []
    if any_reading:
        text = np.flatnonzero(~_any_number(cells) & ~table.missing[:, j])
    if not len(text):
        number = _read_numbers(cells, *table.reading).notna().to_numpy()
        text = np.flatnonzero(~number & ~table.missing[:, j])
    row = int(text[0]) if len(text) else 0
    cells = table.text if table.text is not None else table.typed
    return row, str(cells.iloc[row, j])


def _check_values(table, skip_option):
    """Refuse infinite numbers and columns with no value at all.

    ``skip_option`` is the option that leaves a column out, for the message.
    """
    header, path = table.header, table.source
    values = np.column_stack(
        [table.numbers(j) for j in table.numeric] or [np.empty(table.n_rows)]
    )[:, : len(table.numeric)]
    infinite = [
        header[table.numeric[k]] for k in np.flatnonzero(np.isinf(values).any(0))
    ]
    if infinite:
        raise TableError(
            f"{path}: infinite values in column{plural(infinite)} "
            f"{names_of(infinite)}; EM needs finite numbers"
        )
    empty = [header[j] for j in table.modelled if table.missing[:, j].all()]
    if empty:
        them = _them(empty)
        # A delimiter at the end of every line makes a column with no name,
        # which only an explicit empty name leaves out.
        unnamed = ""
        if any(not str(name).strip() for name in empty):
            unnamed = (
                f": {skip_option.split()[0]} '' names the column with no name "
                "(a delimiter at the end of every line makes one)"
            )
        raise TableError(
            f"{path}: column{plural(empty)} {names_of(empty)} "
            f"{'has' if len(empty) == 1 else 'have'} no values; name {them} in "
            f"{skip_option} to leave {them} out of the model{unnamed}"
        )


# --------------------------------------------------------------------------
# Writing


def format_numbers(values, float_format=None, decimal="."):
    """Floats as text: the shortest that reads back the same, or printf-style.

    An array of float32 (a Parquet column's) is written as float32, the
    shortest text that reads back as that float32, as pandas writes it;
    anything else as float64.

    Examples
    --------
    >>> format_numbers([43.54685717794772, 0.1, 5.0]).tolist()
    ['43.54685717794772', '0.1', '5.0']
    >>> format_numbers([0.125], "%.2f", ",").tolist()
    ['0,12']
    >>> format_numbers(np.array([0.1], dtype=np.float32)).tolist()
    ['0.1']
    """
    values = np.asarray(values)
    if values.dtype.kind != "f":
        values = values.astype(float)
    if float_format is None:
        # numpy's str of a float is its shortest round-trip repr (Ryu/Dragon4),
        # in the float's own precision.
        text = values.astype(str)
    else:
        text = np.char.mod(float_format, values)
    if decimal != ".":
        text = np.char.replace(text, ".", decimal)
    return text.astype(object)


def _format_imputed_only(out, table, numbers, float_format):
    """Float columns of ``out`` as text: ``float_format`` for the imputed
    cells, the shortest exact text for the others (a typed input, Parquet,
    has no verbatim text, and ``to_csv(float_format=...)`` would round the
    observed cells too)."""
    imputed = dict(zip(table.numeric, range(len(table.numeric)), strict=True))
    for j in range(out.shape[1]):
        values = out.iloc[:, j]
        if values.dtype.kind != "f":
            continue
        # In the column's precision: float32 observed cells as float32.
        values = np.asarray(values)
        text = format_numbers(values, None, table.decimal)
        if j in imputed:
            hole = table.missing[:, j]
            text[hole] = format_numbers(
                numbers[hole, imputed[j]], float_format, table.decimal
            )
        text[np.isnan(values)] = None  # written empty (na_rep)
        out.isetitem(j, text)


def filled_table(table, numbers, categories, *, float_format=None, typed=False):
    """The table with its missing modelled cells filled.

    Parameters
    ----------
    numbers : ndarray of shape (n_rows, len(table.numeric))
        The numeric columns, imputed.
    categories : ndarray of shape (n_rows, len(table.categorical))
        The categorical columns, imputed.
    typed : bool
        Fill the typed frame (for Parquet output); otherwise the verbatim
        text, with only the imputed cells formatted.

    Notes
    -----
    A typed frame (Parquet output, or any output of a Parquet input) keeps
    the dtype each column was read with, where the filled values fit it
    (:func:`_as_read`).
    """
    if typed or table.text is None:
        out = table.typed.copy()
        for k, j in enumerate(table.numeric):
            hole = table.missing[:, j]
            if hole.any():
                column = np.array(table.numbers(j), copy=True)
                column[hole] = numbers[hole, k]
                out.isetitem(j, _as_read(column, table.typed.iloc[:, j].dtype))
        for k, j in enumerate(table.categorical):
            column = out.iloc[:, j].to_numpy(dtype=object).copy()
            hole = table.missing[:, j]
            filled = categories[hole, k]
            if table.text is not None and hole.any():
                # The categories are the file's text; a typed column (bool,
                # numbers) takes the value that text was read as, so that
                # the column keeps one type (Parquet refuses mixed ones).
                seen = ~hole
                typed_value = dict(
                    zip(table.text.iloc[:, j][seen], column[seen], strict=True)
                )
                filled = np.array([typed_value.get(c, c) for c in filled], dtype=object)
            column[hole] = filled
            out.isetitem(j, _as_read(column, table.typed.iloc[:, j].dtype))
        if not typed and float_format is not None:
            _format_imputed_only(out, table, numbers, float_format)
        return out
    out = table.text.copy()
    for k, j in enumerate(table.numeric):
        hole = table.missing[:, j]
        if hole.any():
            column = out.iloc[:, j].to_numpy(dtype=object).copy()
            column[hole] = format_numbers(numbers[hole, k], float_format, table.decimal)
            out.isetitem(j, column)
    for k, j in enumerate(table.categorical):
        hole = table.missing[:, j]
        if hole.any():
            column = out.iloc[:, j].to_numpy(dtype=object).copy()
            column[hole] = [str(c) for c in categories[hole, k]]
            out.isetitem(j, column)
    return out


def _as_read(column, dtype):
    """A filled column in the ``dtype`` it was read with, where it fits.

    A ``category`` column keeps its categories, the declared but unused ones
    too, and whether they are ordered: an imputed category is an observed
    one, so one of them. A column of floats keeps its precision (float32,
    nullable Float64), unless an imputed value overflows it. Imputed numbers
    are not integers: a column of integers whose holes are imputed comes
    back as float64, and so does one of numbers stored as text.

    Parameters
    ----------
    column : ndarray of shape (n_rows,)
        The column filled: float64 for a numeric column, object for a
        categorical one.
    dtype : dtype
        pandas' dtype of the column as read.

    Returns
    -------
    column : Series or ndarray of shape (n_rows,)
        ``column`` in ``dtype``, or as it was.
    """
    pd = _pandas()
    if column.dtype == object:
        return pd.Series(column, dtype=object).astype(dtype)
    if dtype.kind != "f":
        return column
    with np.errstate(over="ignore"):
        cast = pd.Series(column).astype(dtype)
    overflow = np.isinf(np.asarray(cast, dtype=float)) & np.isfinite(column)
    return column if overflow.any() else cast


def std_table(table, std):
    """A frame of the conditional std of the numeric columns.

    The index columns are copied verbatim, so that a row of stds can be
    matched by its label; the other columns are empty. The index columns
    and the empty columns of a Parquet input keep their dtypes (a
    ``category`` one its categories), where that dtype holds nulls, so that
    the std file has the columns of the imputed one; the others are
    float64, as the stds are.
    """
    pd = _pandas()
    out = pd.DataFrame(np.full((table.n_rows, len(table.header)), np.nan))
    if table.text is None:
        for j, dtype in enumerate(table.typed.dtypes):
            if isinstance(dtype, pd.api.extensions.ExtensionDtype) or dtype.kind == "f":
                out[j] = out[j].astype(dtype)
        for j in table.index:
            out[j] = table.typed.iloc[:, j]
    else:
        for j in table.index:
            out[j] = table.text.iloc[:, j].to_numpy()
    for k, j in enumerate(table.numeric):
        out[j] = std[:, k]
    return out


def index_frame(table):
    """The index columns, verbatim, to head a labels or probabilities file."""
    cells = table.text if table.text is not None else table.typed
    frame = cells.iloc[:, table.index].copy()
    frame.columns = range(len(table.index))
    return frame, [table.header[j] for j in table.index]


def write_table(
    path,
    frame,
    header,
    *,
    sep=",",
    decimal=".",
    float_format=None,
    encoding="utf-8",
    lineterminator="\n",
):
    """Write ``frame`` to CSV (``-`` for stdout) or Parquet (by suffix).

    A CSV file is written in ``encoding`` (``utf-8-sig`` begins it with a
    byte-order mark), its lines ended by ``lineterminator``.
    """
    try:
        if path != "-" and str(path).lower().endswith(PARQUET_SUFFIXES):
            frame = frame.copy()
            frame.columns = _unique(header)
            frame.to_parquet(path, index=False)
            return
        options = dict(
            sep=sep,
            header=list(header),
            index=False,
            na_rep="",
            float_format=float_format,
            decimal=decimal,
            lineterminator=lineterminator,
        )
        if path == "-":
            _to_stdout(frame, encoding, options)
        else:
            frame.to_csv(path, encoding=encoding, **options)
    except BrokenPipeError:
        raise
    except ImportError as exc:
        raise TableError(
            f"{path}: writing Parquet needs pyarrow: python -m pip install "
            f"'emimpute[parquet]' ({one_line(exc)})"
        ) from None
    except UnicodeEncodeError as exc:
        # Only text that was not read in it can miss from the encoding: a
        # Parquet input's, written with --encoding.
        raise TableError(
            f"{path}: cannot write {exc.object[exc.start : exc.end]!r} in "
            f"{encoding}, which has no such character; give an --encoding that "
            "has it, such as utf-8"
        ) from None
    except OSError as exc:
        raise TableError(cannot_write(path, exc)) from None


def _to_stdout(frame, encoding, options):
    """Write ``frame`` to stdout as CSV in ``encoding``.

    pandas ignores ``encoding`` for a text stream, which stdout is, and it
    would write in the stream's (the locale's): stdout is switched to
    ``encoding`` for the table, and back. A ``utf-8-sig`` stream begins
    with the byte-order mark, unless a file it appends to is not empty.
    """
    stdout = sys.stdout
    reconfigure = getattr(stdout, "reconfigure", None)
    if reconfigure is None:
        # Not a file (an io.StringIO put there in-process): it takes text.
        frame.to_csv(stdout, **options)
        return
    stdout.flush()
    before = dict(encoding=stdout.encoding, errors=stdout.errors)
    reconfigure(encoding=encoding, errors="strict")
    try:
        frame.to_csv(stdout, **options)
    finally:
        reconfigure(**before)


def _unique(header):
    """Column names made unique (Parquet needs it): repeats get .1, .2, ..."""
    seen, names = {}, []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if not count else f"{name}.{count}")
    return names


# --------------------------------------------------------------------------
# Message helpers


def _them(items):
    return "it" if len(items) == 1 else "them"
