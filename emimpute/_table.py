"""Tables of every kind: tell which kind a table is, and read its columns.

A table is a 2-D numpy array (of any dtype, object included), anything numpy
makes into one (a list of lists), a pandas DataFrame or a polars DataFrame.
pandas and polars are optional: this module never imports them at import
time, and recognises a DataFrame by looking the library up in
:data:`sys.modules`, since an object cannot be a pandas DataFrame unless
pandas has been imported. Their column types (``category``, ``string``,
``Enum``...) carry information a numpy array loses, so a DataFrame is read
column by column without converting it to numpy first (:func:`_column`);
numpy input works with neither library installed. A column is read with the
kind of each of its cells (:func:`_column_kinds`, :func:`missing_cells`,
:func:`first_text_cell`); a table with columns of dates or times is refused
(:func:`refuse_time_columns`).

The way to and from the EM engine builds on this: which columns are
categorical, with which categories (:mod:`emimpute._layout`), the table as
the engine's arrays (:mod:`emimpute._encode`) and back
(:mod:`emimpute._decode`).

scikit-learn's :func:`~sklearn.utils.check_array` (and scipy's sparse test)
earn their place in :func:`as_table`, so that a bad input gets
scikit-learn's usual errors; :mod:`emimpute._cells` gives the kind of each
cell of a column read.
"""

import sys

import numpy as np
from scipy import sparse
from sklearn.utils import check_array

from emimpute._cells import _MISSING, _STR, _cell_kinds

__all__ = ["as_table", "container_of"]


def container_of(X):
    """Name the kind of table ``X`` is: 'numpy', 'pandas' or 'polars'.

    Parameters
    ----------
    X : object
        Any input.

    Returns
    -------
    container : {'numpy', 'pandas', 'polars'}
        'pandas' or 'polars' for a DataFrame of that library, 'numpy' for
        anything else (an array, a list of lists...).
    """
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(X, pd.DataFrame):
        return "pandas"
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(X, pl.DataFrame):
        return "polars"
    return "numpy"


def refuse_time_columns(X, estimator_name):
    """Refuse columns of dates, times or durations, naming them and the fix.

    They are neither numbers nor categories: numpy cannot promote them
    with floats (scikit-learn's validation then raises numpy's
    ``DTypePromotionError``, which names no column), and as categories
    every date would be a level of its own.
    """
    container = container_of(X)
    if container == "pandas":
        timed = [
            j
            for j, dtype in enumerate(X.dtypes)
            if getattr(dtype, "kind", None) in ("m", "M")
            or type(dtype).__name__ in ("DatetimeTZDtype", "PeriodDtype")
        ]
        kinds = [str(X.dtypes.iloc[j]) for j in timed]
    elif container == "polars":
        pl = sys.modules["polars"]
        temporal = (pl.Date, pl.Datetime, pl.Duration, pl.Time)
        timed = [j for j, dtype in enumerate(X.dtypes) if isinstance(dtype, temporal)]
        kinds = [str(X.dtypes[j]) for j in timed]
    else:
        dtype = getattr(X, "dtype", None)
        if dtype is None or dtype.kind not in "mM":
            return
        timed, kinds = list(range(X.shape[1] if X.ndim == 2 else 0)), [str(dtype)]
    if not timed:
        return
    names = _feature_names(X, container)
    raise ValueError(
        f"{estimator_name} models numbers and categories, and "
        f"{_describe(timed[0], names)} holds dates or times ({kinds[0]})"
        + (f", as {len(timed) - 1} more column(s) do" if len(timed) > 1 else "")
        + ": convert them to numbers (days since a date, a day of the week "
        "as a category...), or leave them out of the estimator (a "
        "ColumnTransformer passes them through)."
    )


def as_table(X):
    """Return ``X`` as a DataFrame unchanged, or else as a 2-D ndarray.

    A list of lists that mixes strings with numbers or NaN becomes an object
    array, not the string array numpy would make (which would turn NaN into
    the string ``'nan'`` and 1 into ``'1'``); a string array becomes an
    object array too. Anything else goes through
    :func:`sklearn.utils.check_array` with ``dtype=None``, so that sparse,
    complex, 1-D, 3-D and empty inputs raise scikit-learn's usual errors.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or DataFrame
        The raw input.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features) or DataFrame
        A pandas or polars DataFrame as given, else an ndarray (``X`` itself
        when it already is a 2-D ndarray of numbers or objects).
    """
    if container_of(X) != "numpy":
        return X
    if not hasattr(X, "__array__") and not sparse.issparse(X):
        converted = np.asarray(X)
        X = np.asarray(X, dtype=object) if converted.dtype.kind in "US" else converted
    X = check_array(X, dtype=None, ensure_all_finite=False, input_name="X")
    if X.dtype.kind in "US":
        X = X.astype(object)
    return X


def _feature_names(X, container):
    """Column names of a DataFrame whose names are all str, else None."""
    if container == "numpy":
        return None
    names = np.asarray(list(X.columns), dtype=object)
    if all(isinstance(name, str) for name in names):
        return names
    return None


def first_text_cell(X, columns, *, missing_values=np.nan):
    """The first of ``columns`` holding text, described, and that text.

    For a message when a column read as numeric holds a string that is not
    a number: ``(description, value)``, or None when none does. Reads the
    columns one by one, so only on that error.
    """
    container = container_of(X)
    X = as_table(X)
    names = _feature_names(X, container)
    for j in columns:
        values, kinds = _column_kinds(X, container, j, missing_values)
        text = np.flatnonzero(kinds == _STR)
        for i in text:
            try:
                float(values[i])
            except (TypeError, ValueError):
                return _describe(j, names), values[i]
    return None


def _describe(j, names):
    if names is None:
        return f"column {j}"
    return f"feature {names[j]!r} (column {j})"


def _pandas_categorical_dtype(dtype):
    pd = sys.modules["pandas"]
    return isinstance(dtype, pd.CategoricalDtype)


def _column(X, container, j):
    """Values of column ``j`` as a 1-D ndarray, and its null mask or None.

    The null mask marks the cells the library itself calls null, whose
    entries in the ndarray are placeholders.
    """
    if container == "numpy":
        return X[:, j], None
    if container == "pandas":
        s = X.iloc[:, j]
        null = s.isna().to_numpy()
        dtype = s.dtype
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if isinstance(dtype, np.dtype) or _pandas_categorical_dtype(dtype):
            values = s.to_numpy()
        elif numpy_dtype is not None and numpy_dtype.kind in "biuf":
            # Nullable Int64, Float64 and boolean columns: a native array
            # keeps ints as ints and bools as bools; the null cells are
            # placeholders that the null mask overrides.
            values = s.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
        else:
            values = s.to_numpy(dtype=object)
        return values, null
    pl = sys.modules["polars"]
    s = X.to_series(j)
    null = s.is_null().to_numpy()
    dtype = s.dtype
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        values = s.cast(pl.String).to_numpy()
    elif dtype == pl.Boolean:
        values = s.fill_null(False).to_numpy()
    elif dtype.is_numeric():
        values = s.fill_null(0).to_numpy()
    else:
        values = s.to_numpy()
    return values, null


def _column_kinds(X, container, j, missing_values):
    values, null = _column(X, container, j)
    kinds = _cell_kinds(values, missing_values)
    if null is not None:
        kinds[null] = _MISSING
    return values, kinds


def missing_cells(X, columns, *, missing_values=np.nan):
    """Whether each cell of ``X``'s ``columns`` is missing, as read.

    Parameters
    ----------
    X : ndarray or DataFrame
        A table of any kind :func:`container_of` knows.
    columns : sequence of int
    missing_values : int, float, str or np.nan, default=np.nan

    Returns
    -------
    mask : ndarray of bool of shape (n_samples, len(columns))
    """
    container = container_of(X)
    mask = np.empty((len(X), len(columns)), dtype=bool)
    for c, j in enumerate(columns):
        mask[:, c] = _column_kinds(X, container, j, missing_values)[1] == _MISSING
    return mask
