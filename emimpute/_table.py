"""Mixed tables: numeric and categorical columns with holes, to and from EM.

The EM engine works on two arrays: a float64 block of the numeric columns,
NaN where missing, and an integer block of category codes, -1 where missing.
This module turns a user's table into those two arrays (:func:`encode`),
with the per-column choices fitted once on the training table
(:func:`categorical_mask`, :func:`fit_layout`), and turns the engine's
completed arrays back into a table of the input's kind and column types
(:func:`decode`).

A table is a 2-D numpy array (of any dtype, object included), anything numpy
makes into one (a list of lists), a pandas DataFrame or a polars DataFrame.
pandas and polars are optional: this module never imports them at import
time, and recognises a DataFrame by looking the library up in
:data:`sys.modules`, since an object cannot be a pandas DataFrame unless
pandas has been imported. Their column types (``category``, ``string``,
``Enum``...) carry information a numpy array loses, so a DataFrame is read
column by column without converting it to numpy first; numpy input works
with neither library installed.

Categories are ordered as :class:`sklearn.preprocessing.OneHotEncoder`
orders them (:func:`numpy.unique`), except for the columns whose type
declares its categories (pandas ``category``, polars ``Enum``), which keep
the declared ones, in their order, so that the output has the same type.
"""

import math
import numbers
import sys
from dataclasses import dataclass
from functools import partial
from itertools import repeat

import numpy as np
from scipy import sparse
from sklearn.utils import check_array

__all__ = [
    "TableLayout",
    "as_table",
    "categorical_mask",
    "container_of",
    "decode",
    "encode",
    "fit_layout",
    "is_missing_cell",
]

# Kind of a cell, found once per cell. Categories of one column must share a
# kind: numbers and strings do not sort together, and True == 1 would merge a
# boolean category with a numeric one.
_MISSING, _NUMBER, _BOOL, _STR, _OTHER = range(5)
_KIND_NAMES = {_NUMBER: "number", _BOOL: "bool", _STR: "str", _OTHER: "other"}

_DTYPE_KINDS = {
    "f": _NUMBER,
    "c": _NUMBER,
    "i": _NUMBER,
    "u": _NUMBER,
    "b": _BOOL,
    "U": _STR,
    "S": _STR,
}

_CONTAINERS = ("numpy", "pandas", "polars")
_ACCEPTED_FORMS = (
    "'from_dtype', None, an array-like of int indices, an array-like of str "
    "feature names, or a boolean mask of length n_features"
)
_MAX_SHOWN = 10


def _is_nan(value):
    return isinstance(value, numbers.Real) and math.isnan(value)


def _marker(missing_values):
    """``missing_values`` as an extra marker, or None when NaN already is one."""
    if missing_values is None or _is_nan(missing_values):
        return None
    return missing_values


def _scalar_kind(value):
    if isinstance(value, (bool, np.bool_)):
        return _BOOL
    if isinstance(value, numbers.Number):
        return _NUMBER
    if isinstance(value, str):
        return _STR
    return _OTHER


# The common cell types, looked up by exact type before the isinstance
# checks of _scalar_kind.
_TYPE_KINDS = {
    str: _STR,
    np.str_: _STR,
    float: _NUMBER,
    int: _NUMBER,
    np.float64: _NUMBER,
    np.int64: _NUMBER,
    bool: _BOOL,
    np.bool_: _BOOL,
    type(None): _MISSING,
}


def _object_cell_kind(value, *, na_types, marker, marker_kind):
    kind = _TYPE_KINDS.get(type(value))
    if kind is None:
        if type(value) in na_types:
            return _MISSING
        if isinstance(value, (np.datetime64, np.timedelta64)) and np.isnat(value):
            return _MISSING
        kind = _scalar_kind(value)
    if kind == _NUMBER and value != value:
        return _MISSING
    # Only values of the marker's own kind are compared with it, so that a
    # marker 0 does not catch False and a marker "1" does not catch 1.
    if kind == marker_kind and value == marker:
        return _MISSING
    return kind


def _cell_kinds(values, missing_values=np.nan):
    """Kind of every cell of an ndarray, as an int8 array of the same shape."""
    marker = _marker(missing_values)
    marker_kind = None if marker is None else _scalar_kind(marker)
    dtype_kind = values.dtype.kind
    if dtype_kind == "O":
        pd = sys.modules.get("pandas")
        na_types = set() if pd is None else {type(pd.NA), type(pd.NaT)}
        # An object array can hold anything, so each cell's type is looked
        # at; frompyfunc runs the loop in C and calls Python once per cell.
        kind_of = np.frompyfunc(
            partial(
                _object_cell_kind,
                na_types=na_types,
                marker=marker,
                marker_kind=marker_kind,
            ),
            1,
            1,
        )
        # NaN != NaN sets the invalid-operation flag, which the ufunc would
        # report as a RuntimeWarning; detecting NaN is the point here.
        with np.errstate(invalid="ignore"):
            kinds = kind_of(values)
        return np.asarray(kinds, dtype=np.int8).reshape(values.shape)
    if dtype_kind in "fc":
        kinds = np.where(np.isnan(values), _MISSING, _NUMBER)
    elif dtype_kind in "iu":
        kinds = np.full(values.shape, _NUMBER)
    elif dtype_kind == "b":
        kinds = np.full(values.shape, _BOOL)
    elif dtype_kind in "US":
        kinds = np.full(values.shape, _STR)
    elif dtype_kind in "mM":
        kinds = np.where(np.isnat(values), _MISSING, _OTHER)
    else:
        kinds = np.full(values.shape, _OTHER)
    kinds = kinds.astype(np.int8)
    if marker is not None and marker_kind == _DTYPE_KINDS.get(dtype_kind):
        kinds[values == marker] = _MISSING
    return kinds


def is_missing_cell(values, missing_values=np.nan):
    """Tell which cells of an array are missing.

    A cell is missing when it is None, a float NaN, ``pd.NA``, ``pd.NaT``, a
    ``NaT`` datetime, or equal to ``missing_values`` when that is not NaN.
    Only values of the marker's own kind are compared with it: strings with
    a string marker, numbers with a numeric marker, booleans with a boolean
    one, so ``missing_values=0`` does not make ``False`` missing.

    Parameters
    ----------
    values : array-like
        Cells of any dtype, object included. A sequence that is not an
        ndarray is read as an object array.

    missing_values : int, float, str, bool or np.nan, default=np.nan
        An extra missing marker, on top of the null values above.

    Returns
    -------
    mask : ndarray of bool
        True where the cell is missing, with the shape of ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._table import is_missing_cell
    >>> is_missing_cell(np.array(["a", None, np.nan, "?", 1.5], dtype=object))
    array([False,  True,  True, False, False])
    >>> is_missing_cell(np.array(["a", "?", -1], dtype=object), missing_values="?")
    array([False,  True, False])
    """
    if not isinstance(values, np.ndarray):
        values = np.asarray(values, dtype=object)
    return _cell_kinds(values, missing_values) == _MISSING


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


def _shown(values):
    """Up to ``_MAX_SHOWN`` distinct values of a 1-D array, as a list."""
    values = values.tolist()
    try:
        values = list(dict.fromkeys(values))
    except TypeError:
        pass
    if len(values) > _MAX_SHOWN:
        return f"{values[:_MAX_SHOWN]} and {len(values) - _MAX_SHOWN} more"
    return str(values)


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


def _has_text_or_bool(kinds):
    """Whether an object column's values are categories: all text or all bool.

    A column that mixes text with numbers is a numeric column with a stray
    string (a typo, a marker), and is left numeric so that its conversion
    raises scikit-learn's usual ``could not convert string to float``.
    """
    present = kinds[kinds != _MISSING]
    if len(present) == 0:
        return False
    return bool(np.all(present == _STR) or np.all(present == _BOOL))


def _arrow_dictionary_dtype(dtype):
    """Whether ``dtype`` is a pandas ``ArrowDtype`` of a pyarrow dictionary.

    pyarrow's ``category``: ``pd.read_parquet(..., dtype_backend='pyarrow')``
    reads a ``category`` column so. An ArrowDtype exists only once pyarrow
    is imported.
    """
    pa = sys.modules.get("pyarrow")
    return (
        pa is not None
        and isinstance(dtype, sys.modules["pandas"].ArrowDtype)
        and pa.types.is_dictionary(dtype.pyarrow_dtype)
    )


def _pandas_from_dtype(X, missing_values):
    pd = sys.modules["pandas"]
    types = pd.api.types
    mask = np.zeros(X.shape[1], dtype=bool)
    for j, dtype in enumerate(X.dtypes):
        if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)):
            mask[j] = True
        elif isinstance(dtype, np.dtype) and dtype.kind == "O":
            # Object columns are judged by their values, as numpy object
            # arrays are: an object column of numbers stays numeric.
            _, kinds = _column_kinds(X, "pandas", j, missing_values)
            mask[j] = _has_text_or_bool(kinds)
        else:
            # is_string_dtype and is_bool_dtype cover the pyarrow-backed
            # string and bool types as well as bool and boolean, but not a
            # pyarrow dictionary (of strings or of numbers, as ``category``).
            mask[j] = (
                types.is_bool_dtype(dtype)
                or types.is_string_dtype(dtype)
                or _arrow_dictionary_dtype(dtype)
            )
    return mask


def _polars_from_dtype(X):
    pl = sys.modules["polars"]
    return np.array(
        [
            isinstance(dtype, (pl.Categorical, pl.Enum))
            or dtype == pl.String
            or dtype == pl.Boolean
            for dtype in X.schema.values()
        ],
        dtype=bool,
    )


def categorical_mask(
    X,
    categorical_features,
    *,
    n_features,
    feature_names_in=None,
    missing_values=np.nan,
):
    """Tell which features are categorical, from the estimator's parameter.

    Follows the conventions of the ``categorical_features`` parameter of
    :class:`sklearn.ensemble.HistGradientBoostingClassifier`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or DataFrame
        The raw input, as the user passed it: an ndarray of any dtype, a list
        of lists, a pandas or a polars DataFrame. Only read for
        ``'from_dtype'``.

    categorical_features : 'from_dtype', None or array-like
        - ``'from_dtype'``: the column types decide. A pandas column is
          categorical when its dtype is ``category``, a string dtype
          (:class:`pandas.StringDtype`, either storage, or a pyarrow string),
          ``bool`` or ``boolean`` (or a pyarrow bool), a pyarrow dictionary
          (``pd.read_parquet(..., dtype_backend='pyarrow')`` reads a
          ``category`` column so), or when it is an ``object`` column holding
          a str or a bool among its non-missing values; a polars column when
          it is ``Categorical``, ``Enum``, ``String`` or ``Boolean``. An
          object ndarray (or a list of lists numpy makes into one) follows
          the rule of pandas ``object`` columns, so an object array of
          numbers stays numeric, and so does one holding another kind of
          object (a dict...), whose float conversion then raises
          scikit-learn's usual ``TypeError``. A string ndarray is all
          categorical. A numeric ndarray (bool included) has no categorical
          feature.
        - None: no categorical feature.
        - array-like of int: the indices of the categorical features, in
          ``[0, n_features)``.
        - array-like of str: the names of the categorical features, among
          ``feature_names_in``.
        - array-like of bool of shape (n_features,): a mask.

    n_features : int
        Number of features of ``X``.

    feature_names_in : ndarray of str or None, default=None
        The names of the features of ``X``; required to give
        ``categorical_features`` as names.

    missing_values : int, float, str or np.nan, default=np.nan
        The missing marker, so that a string marker in a numeric object
        column does not make it categorical.

    Returns
    -------
    is_categorical : ndarray of bool of shape (n_features,)
        True for the categorical features.

    Raises
    ------
    ValueError
        If an index is out of range, a name is unknown or names are given
        for an ``X`` without feature names, the mask has the wrong length, or
        ``categorical_features`` has none of the accepted forms.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._table import categorical_mask
    >>> X = np.array([[1.0, "a", True], [np.nan, None, False]], dtype=object)
    >>> categorical_mask(X, "from_dtype", n_features=3)
    array([False,  True,  True])
    >>> categorical_mask(X, [2], n_features=3)
    array([False, False,  True])
    >>> categorical_mask(
    ...     X, ["b"], n_features=3, feature_names_in=np.array(["a", "b", "c"])
    ... )
    array([False,  True, False])
    """
    if isinstance(categorical_features, str):
        if categorical_features != "from_dtype":
            raise ValueError(
                f"categorical_features should be {_ACCEPTED_FORMS}; got "
                f"{categorical_features!r}."
            )
        mask = _from_dtype(X, missing_values)
        if mask.shape[0] != n_features:
            raise ValueError(
                f"X has {mask.shape[0]} features, but n_features is {n_features}."
            )
        return mask
    mask = np.zeros(n_features, dtype=bool)
    if categorical_features is None:
        return mask
    try:
        given = np.asarray(categorical_features)
    except (TypeError, ValueError):
        given = None
    if given is None or given.ndim != 1:
        raise ValueError(
            f"categorical_features should be {_ACCEPTED_FORMS}; got "
            f"{categorical_features!r}."
        )
    if given.size == 0:
        return mask
    if given.dtype.kind == "b":
        if given.shape[0] != n_features:
            raise ValueError(
                f"categorical_features is a boolean mask of length "
                f"{given.shape[0]}, but X has {n_features} features; the mask "
                f"must have length {n_features}."
            )
        return given.copy()
    if given.dtype.kind in "iu":
        bad = given[(given < 0) | (given >= n_features)]
        if bad.size:
            raise ValueError(
                f"categorical_features index {bad[0]} is out of range: X has "
                f"{n_features} features, so indices must be in "
                f"[0, {n_features - 1}]."
            )
        mask[given] = True
        return mask
    if given.dtype.kind in "UO" and all(isinstance(name, str) for name in given):
        if feature_names_in is None:
            raise ValueError(
                "categorical_features given as names, but X has no feature names."
            )
        names = np.asarray(feature_names_in, dtype=object)
        position = {name: j for j, name in enumerate(names.tolist())}
        unknown = [name for name in given.tolist() if name not in position]
        if unknown:
            raise ValueError(
                f"categorical_features names {unknown} are not feature names of "
                f"X; the feature names are {names.tolist()}."
            )
        mask[[position[name] for name in given.tolist()]] = True
        return mask
    raise ValueError(
        f"categorical_features should be {_ACCEPTED_FORMS}; got "
        f"{categorical_features!r}."
    )


def _from_dtype(X, missing_values):
    container = container_of(X)
    if container == "pandas":
        return _pandas_from_dtype(X, missing_values)
    if container == "polars":
        return _polars_from_dtype(X)
    X = as_table(X)
    if X.dtype.kind != "O":
        return np.zeros(X.shape[1], dtype=bool)
    kinds = _cell_kinds(X, missing_values)
    return np.array([_has_text_or_bool(column) for column in kinds.T], dtype=bool)


@dataclass(frozen=True, eq=False)
class TableLayout:
    """How a table's columns map to the EM engine's arrays, fitted once.

    Built by :func:`fit_layout` on the training table; :func:`encode` and
    :func:`decode` read it. It holds types and categories, never data, and
    pickles.

    Parameters
    ----------
    numeric : ndarray of int of shape (n_numeric,)
        Increasing indices of the numeric columns.

    categorical : ndarray of int of shape (n_categorical,)
        Increasing indices of the categorical columns.

    categories : list of ndarray
        For each categorical column, in the order of ``categorical``, the 1-D
        array of its categories: the distinct non-missing values seen in
        fit, sorted by :func:`numpy.unique` (as
        :class:`~sklearn.preprocessing.OneHotEncoder` sorts them), or the
        declared categories in their order for a pandas ``category`` or a
        polars ``Enum`` column. Empty for a column without observed value.

    container : {'numpy', 'pandas', 'polars'}
        The kind of table fitted on.

    dtypes : tuple
        The type of each input column: the array's numpy dtype for every
        column of an ndarray, the pandas dtype (``CategoricalDtype``,
        ``StringDtype``...) or the polars data type of each column of a
        DataFrame.

    feature_names : ndarray of str objects or None
        The column names of a DataFrame whose names are all str, else None.
    """

    numeric: np.ndarray
    categorical: np.ndarray
    categories: list
    container: str
    dtypes: tuple
    feature_names: np.ndarray | None

    @property
    def n_features(self):
        """Number of input columns."""
        return len(self.dtypes)

    @property
    def uncoded(self):
        """Indices of the categorical columns without a category (empty at
        fit): :func:`encode` reads all their cells as missing, observed or
        not (see :func:`keep_observed_cells`, :func:`missing_cells`)."""
        return np.array(
            [
                j
                for j, categories in zip(self.categorical, self.categories, strict=True)
                if len(categories) == 0
            ],
            dtype=np.intp,
        )


def _check_n_features(X, layout):
    if X.shape[1] != layout.n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the table layout was fitted "
            f"on {layout.n_features} features."
        )


def _categories(values, kinds, description, *, declared):
    """Distinct non-missing values, sorted as OneHotEncoder sorts them.

    Declared categories are distinct already, and keep their order.
    """
    observed = kinds != _MISSING
    present = np.unique(kinds[observed])
    if present.size > 1:
        raise TypeError(
            f"The categorical {description} mixes values of types "
            f"{[_KIND_NAMES[k] for k in present.tolist()]}; a categorical feature "
            "must hold values of one type (all str, all numbers or all bool), as "
            "OneHotEncoder requires."
        )
    observed = values[observed]
    try:
        if declared:
            # Sorting is only tried, for the look-ups of encode.
            np.argsort(observed)
            return observed
        if observed.dtype.kind == "O":
            # Sorting the distinct values gives np.unique's order with one
            # hash per cell instead of a sort of all the cells.
            distinct = sorted(set(observed.tolist()))
            return np.fromiter(distinct, dtype=object, count=len(distinct))
        return np.unique(observed)
    except TypeError as exc:
        raise TypeError(
            f"The categories of the categorical {description} cannot be sorted: {exc}."
        ) from exc


# A text column read as categorical with at least this many categories, on
# at most twice as many observed cells, is more likely an identifier (or
# free text) than categories (see unlikely_categories).
IDENTIFIER_MIN_CATEGORIES = 100


def unlikely_categories(layout, codes):
    """Warnings for text columns whose values are unlikely categories.

    For the categorical columns read from their text (not a pandas
    ``category``, polars ``Categorical`` or ``Enum``, whose categories are
    declared): numbers written as text (a CSV column with a marker such as
    '?' stays text once the marker is replaced), which become one category
    per distinct value, and identifiers (at least
    ``IDENTIFIER_MIN_CATEGORIES`` categories, one per two observed cells or
    fewer cells), which carry nothing a mixture can learn and cost a
    parameter per category and component. ``codes`` are the training
    table's (``encode``). Returns the messages, one per such column.
    """
    messages = []
    names = layout.feature_names
    observed = (codes >= 0).sum(axis=0)
    for c, (j, categories) in enumerate(
        zip(layout.categorical, layout.categories, strict=True)
    ):
        dtype = layout.dtypes[j]
        if not len(categories) or isinstance(dtype, np.dtype) and dtype.kind == "b":
            continue
        declared = getattr(dtype, "categories", None) is not None
        if declared or "Categorical" in str(dtype) or _arrow_dictionary_dtype(dtype):
            continue  # declared categories (pyarrow's too): the user's choice
        where = f"column {j}" if names is None else f"feature {names[j]!r}"
        if all(isinstance(value, str) for value in categories.tolist()):
            try:
                np.asarray(categories, dtype=float)
            except ValueError:
                pass
            else:
                messages.append(
                    f"{where} holds numbers written as text (such as "
                    f"{categories[0]!r}): it is modelled as {len(categories)} "
                    "categories. Convert it to numbers (pandas.to_numeric) for a "
                    "numeric feature, or make it a pandas 'category' column to "
                    "keep it categorical (a list in categorical_features must name "
                    "every categorical column)."
                )
                continue
        message = identifier_message(where, len(categories), observed[c])
        if message:
            messages.append(
                message + " Drop it, or make it a pandas 'category' column to keep it."
            )
    return messages


def identifier_message(where, n_categories, n_observed):
    """What to say of a categorical column that looks like an identifier, or
    "" when it does not: at least ``IDENTIFIER_MIN_CATEGORIES`` categories,
    one per two of its ``n_observed`` cells or fewer."""
    if n_categories < max(IDENTIFIER_MIN_CATEGORIES, n_observed / 2):
        return ""
    return (
        f"{where} has {n_categories} categories among its {n_observed} observed "
        "cells: an identifier, or free text, which a mixture cannot learn from "
        "and which costs a parameter per category and component (memory and "
        "time grow with their number)."
    )


def _declared_categories(dtype, container, missing_values):
    """Declared categories of a pandas category or polars Enum, else None."""
    if container == "pandas" and _pandas_categorical_dtype(dtype):
        categories = dtype.categories.to_numpy()
    elif container == "polars" and isinstance(dtype, sys.modules["polars"].Enum):
        categories = dtype.categories.to_numpy()
    else:
        return None
    # A marker declared as a category is not a category of the model.
    return categories[_cell_kinds(categories, missing_values) != _MISSING]


def fit_layout(X, is_categorical, *, missing_values=np.nan):
    """Fit the layout of a training table: column roles, types, categories.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or DataFrame
        The raw training table (see :func:`categorical_mask`).

    is_categorical : array-like of bool of shape (n_features,)
        The categorical features, as :func:`categorical_mask` returns them.

    missing_values : int, float, str or np.nan, default=np.nan
        The missing marker; None, NaN, ``pd.NA`` and ``pd.NaT`` are missing
        too.

    Returns
    -------
    layout : TableLayout
        The fitted layout.

    Raises
    ------
    TypeError
        If a categorical column mixes value types (str with numbers, bool
        with numbers...) or holds values that cannot be sorted.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._table import fit_layout
    >>> X = np.array([[1.5, "b"], [np.nan, "a"], [2.0, None]], dtype=object)
    >>> layout = fit_layout(X, [False, True])
    >>> layout.numeric, layout.categorical
    (array([0]), array([1]))
    >>> layout.categories
    [array(['a', 'b'], dtype=object)]
    """
    container = container_of(X)
    X = as_table(X)
    n_features = X.shape[1]
    is_categorical = np.asarray(is_categorical, dtype=bool)
    if is_categorical.shape != (n_features,):
        raise ValueError(
            f"is_categorical has shape {is_categorical.shape}, but X has "
            f"{n_features} features."
        )
    if container == "numpy":
        dtypes = (X.dtype,) * n_features
    elif container == "pandas":
        dtypes = tuple(X.dtypes)
    else:
        dtypes = tuple(X.schema.values())
    names = _feature_names(X, container)
    categories = []
    for j in np.flatnonzero(is_categorical):
        declared = _declared_categories(dtypes[j], container, missing_values)
        if declared is not None:
            values, kinds = declared, _cell_kinds(declared)
        else:
            values, kinds = _column_kinds(X, container, j, missing_values)
        categories.append(
            _categories(
                values, kinds, _describe(j, names), declared=declared is not None
            )
        )
    return TableLayout(
        numeric=np.flatnonzero(~is_categorical),
        categorical=np.flatnonzero(is_categorical),
        categories=categories,
        container=container,
        dtypes=dtypes,
        feature_names=names,
    )


def _lookup(values, kinds, categories):
    """Index of each value among ``categories``, -1 if absent or missing."""
    codes = np.full(values.shape[0], -1, dtype=np.intp)
    if categories.size == 0:
        return codes
    category_kind = _cell_kinds(categories[:1])[0]
    # Values of another kind are unknown without comparing them: numpy cannot
    # order a str against a number, and True == 1 in a dict.
    comparable = kinds == category_kind
    if not comparable.any():
        return codes
    candidates = values[comparable]
    if candidates.dtype.kind == "O":
        # A hash look-up per object cell, rather than the log2(n_categories)
        # Python comparisons of a binary search.
        try:
            position = {value: i for i, value in enumerate(categories.tolist())}
            codes[comparable] = np.fromiter(
                map(position.get, candidates, repeat(-1)),
                dtype=np.intp,
                count=candidates.size,
            )
            return codes
        except TypeError:
            pass
    order = np.argsort(categories, kind="stable")
    ordered = categories[order]
    position = np.minimum(np.searchsorted(ordered, candidates), ordered.size - 1)
    found = np.asarray(ordered[position] == candidates, dtype=bool)
    codes[comparable] = np.where(found, order[position], -1)
    return codes


def _raise_unknown(unknown_values, description):
    raise ValueError(
        f"Found unknown categories {_shown(unknown_values)} in {description}; "
        "the estimator knows only the categories seen in fit (refit on data "
        "that holds them, mark those cells missing, or pass "
        "handle_unknown='ignore' to leave them out of the model's reading of "
        "their rows)."
    )


def _encode_column(X, container, j, categories, missing_values, names, *, unknown_ok):
    """Codes of categorical column ``j`` (index in ``categories``, -1 if
    missing or unknown) and the mask of its unknown cells: observed, but not
    a category seen in fit. Those raise unless ``unknown_ok``."""
    if container == "pandas":
        s = X.iloc[:, j]
        if _pandas_categorical_dtype(s.dtype):
            # Look up the column's own categories, not its cells: one search
            # per category, then a take by the column's codes.
            own = s.cat.categories.to_numpy()
            own_kinds = _cell_kinds(own, missing_values)
            table = _lookup(own, own_kinds, categories)
            raw = s.cat.codes.to_numpy()
            # Only the cells with a category index the tables (a column of
            # missing cells may declare no category at all).
            present = np.flatnonzero(raw >= 0)
            codes = np.full(raw.shape, -1, dtype=np.intp)
            codes[present] = table[raw[present]]
            unknown = np.zeros(raw.shape, dtype=bool)
            unknown[present] = (codes[present] < 0) & (
                own_kinds[raw[present]] != _MISSING
            )
            if unknown.any() and not unknown_ok:
                _raise_unknown(own[raw[unknown]], _describe(j, names))
            return codes, unknown
    values, kinds = _column_kinds(X, container, j, missing_values)
    codes = _lookup(values, kinds, categories)
    unknown = (kinds != _MISSING) & (codes < 0)
    if unknown.any() and not unknown_ok:
        _raise_unknown(values[unknown], _describe(j, names))
    return codes, unknown


def _float_block(values, kinds, dtype=np.float64):
    """Float version of a 2-D block, NaN where missing, checked for infinity.

    The block is already a copy (a fancy-indexed or stacked one), so it is
    not copied again. ``dtype`` is float64, or float32 for a block of
    float32 columns (kept, as scikit-learn's estimators keep float32).
    """
    missing = kinds == _MISSING
    if missing.any():
        values = np.where(missing, np.nan, values)
    return check_array(
        values,
        dtype=dtype,
        ensure_all_finite="allow-nan",
        ensure_min_samples=0,
        ensure_min_features=0,
        input_name="X",
    )


def _stray_in_column(X, container, j, missing_values):
    """The cells of column ``j`` of a DataFrame that are missing but not
    ``missing_values``: NaN and ``pd.NA``, and None, unless the marker is
    None: then a None object, a polars null and the ``pd.NA`` of a nullable
    pandas column are the marker, and only NaN is stray."""
    values, kinds = _column_kinds(X, container, j, np.nan)
    stray = kinds == _MISSING
    if missing_values is None:
        if container == "polars":
            stray &= ~X.to_series(j).is_null().to_numpy()
        elif not isinstance(X.dtypes.iloc[j], np.dtype):
            # A nullable column's nulls are pd.NA, pandas' None for it (as
            # a polars null is polars').
            stray &= ~X.iloc[:, j].isna().to_numpy()
        elif values.dtype == object:
            stray &= ~np.equal(values, None)
    return stray


def _refuse_stray_nan(X, container, block, kinds, missing_values, columns):
    """Raise scikit-learn's error for NaN in numeric columns beside a marker.

    With ``missing_values`` other than NaN, a NaN (or None, ``pd.NA``; a
    NaN or ``pd.NA`` when the marker is None) in a numeric column is
    neither a value nor the marker: scikit-learn's
    imputers refuse it (``Input X contains NaN``), and so does the numeric
    path of the estimators; a table with categorical columns must not
    quietly treat it as missing instead. Text columns keep None and NaN as
    missing, pandas' only spelling of a missing category. The cells are
    looked at a second time (with NaN as the only marker, and the nulls of
    nullable columns) only when a marker is given and some are missing.
    """
    if _is_nan(missing_values) or not (kinds == _MISSING).any():
        return
    if container == "numpy":
        stray = _cell_kinds(block, np.nan) == _MISSING
        if missing_values is None and block.dtype == object:
            stray &= ~np.equal(block, None)
    else:
        stray = np.column_stack(
            [_stray_in_column(X, container, j, missing_values) for j in columns]
        )
    if stray.any():
        column = columns[np.flatnonzero(stray.any(axis=0))[0]]
        raise ValueError(
            f"Input X contains NaN (first in "
            f"{_describe(column, _feature_names(X, container))}), and "
            f"missing_values={missing_values!r} marks the missing cells: a NaN "
            f"({'pd.NA' if missing_values is None else 'None, pd.NA'}) in a "
            "numeric column is neither"
            + (
                " (pandas stores a None of a float column as NaN)"
                if missing_values is None
                else ""
            )
            + ". Replace it with the marker, or mark missing cells with "
            "missing_values=np.nan (a None or NaN of a text column is "
            "missing then too)."
        )


def _numeric_dtype(X, container, columns):
    """float32 when every numeric column of ``X`` is float32, else float64."""
    if len(columns) == 0:
        return np.float64
    float32 = np.float32
    if container == "numpy":
        dtypes = [X.dtype]
    elif container == "pandas":
        dtypes = [X.dtypes.iloc[j] for j in columns]
    else:
        import polars as pl

        float32 = pl.Float32
        schema = list(X.schema.values())
        dtypes = [schema[j] for j in columns]
    return np.float32 if all(d == float32 for d in dtypes) else np.float64


def encode(X, layout, *, missing_values=np.nan, unknown_ok=False):
    """Split a table into the float block and the category codes EM needs.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or DataFrame
        A raw table with the columns the layout was fitted on.

    layout : TableLayout
        The layout fitted on the training table.

    missing_values : int, float, str or np.nan, default=np.nan
        The missing marker; None, NaN, ``pd.NA`` and ``pd.NaT`` are missing
        too in categorical columns, and in numeric ones an error beside
        another marker (scikit-learn's ``Input X contains NaN``).

    unknown_ok : bool, default=False
        Whether a categorical cell whose value was not seen in fit gets the
        code -1 (and a True in ``unknown``) instead of an error.

    Returns
    -------
    numeric : ndarray of shape (n_samples, n_numeric)
        The numeric columns as float64, NaN where missing; a new array.

    codes : ndarray of shape (n_samples, n_categorical)
        The categorical columns as np.intp codes: the index of each cell's
        value in ``layout.categories[j]``, -1 where missing or unknown.

    unknown : ndarray of bool of shape (n_samples, n_categorical)
        The observed cells of an unknown category (all False unless
        ``unknown_ok``).

    Raises
    ------
    ValueError
        If a numeric column holds an infinity (``Input X contains
        infinity``), a NaN beside another marker (``Input X contains
        NaN``) or a string that is not a number (``could not convert
        string to float``), or a categorical column a value not seen in fit
        and not ``unknown_ok`` (the message names the feature and the
        values).

    TypeError
        If a numeric column holds an object that is neither a number nor a
        string (a dict...).

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._table import encode, fit_layout
    >>> X = np.array([[1.5, "b"], [np.nan, "a"], [2.0, None]], dtype=object)
    >>> numeric, codes, unknown = encode(X, fit_layout(X, [False, True]))
    >>> numeric
    array([[1.5],
           [nan],
           [2. ]])
    >>> codes
    array([[ 1],
           [ 0],
           [-1]])
    """
    container = container_of(X)
    X = as_table(X)
    _check_n_features(X, layout)
    dtype = _numeric_dtype(X, container, layout.numeric)
    if container == "numpy":
        block = X[:, layout.numeric]
        kinds = _cell_kinds(block, missing_values)
        numeric = _float_block(block, kinds, dtype)
    else:
        columns = [
            _column_kinds(X, container, j, missing_values) for j in layout.numeric
        ]
        if columns:
            block = np.column_stack([values for values, _ in columns])
            kinds = np.column_stack([kinds for _, kinds in columns])
        else:
            block = np.empty((X.shape[0], 0))
            kinds = np.empty((X.shape[0], 0), dtype=np.int8)
        numeric = _float_block(block, kinds, dtype)
    names = _feature_names(X, container)
    _refuse_stray_nan(X, container, block, kinds, missing_values, layout.numeric)
    codes = np.empty((X.shape[0], layout.categorical.size), dtype=np.intp)
    unknown = np.zeros(codes.shape, dtype=bool)
    for c, (j, categories) in enumerate(
        zip(layout.categorical, layout.categories, strict=True)
    ):
        if len(categories) == 0:
            # Entirely missing at fit: no category to encode with, nothing
            # the model knows; its cells read as missing (scikit-learn's
            # imputers drop such a feature or fill it), not as unknown.
            codes[:, c] = -1
            continue
        codes[:, c], unknown[:, c] = _encode_column(
            X, container, j, categories, missing_values, names, unknown_ok=unknown_ok
        )
    return numeric, codes, unknown


def _take(categories, codes, fill):
    """Object array of the categories at ``codes``, ``fill`` where -1."""
    out = np.full(codes.shape, fill, dtype=object)
    known = codes >= 0
    out[known] = categories[codes[known]]
    return out


def _numeric_ndarray(layout):
    """Whether the layout was fitted on an ndarray of numbers."""
    return layout.container == "numpy" and layout.dtypes[0].kind in "biuf"


def decoded_dtype(layout, numeric_dtype):
    """The dtype of :func:`decode`'s ndarray, for a float block of ``numeric_dtype``.

    ``numeric_dtype`` when the categories are numbers (no categorical
    column, or a layout fitted on an ndarray of numbers), else object.
    """
    if layout.categorical.size == 0 or _numeric_ndarray(layout):
        return np.dtype(numeric_dtype)
    return np.dtype(object)


def valid_row(layout, dtype):
    """A row of ``dtype`` that :func:`encode` reads with ``layout`` without error.

    For checking a table that is not read yet (a dask array's) on a
    stand-in of its columns and dtype: 0 would be an unknown category of
    most categorical columns. A numeric column holds 0; a categorical one a
    missing cell (NaN) when ``dtype`` holds NaN, else its first category
    when ``dtype`` holds it exactly, else 0 (no cell of ``dtype`` is then
    that category, and the error encode raises is the data's).

    Parameters
    ----------
    layout : TableLayout
        The layout fitted on the training table.

    dtype : dtype
        The dtype of the table's ndarray.

    Returns
    -------
    row : ndarray of shape (layout.n_features,)
        In ``dtype``.
    """
    dtype = np.dtype(dtype)
    # Cast, not zeros of dtype: a str array's zeros are '', not a number.
    row = np.zeros(layout.n_features).astype(dtype)
    if dtype.kind in "fcO":
        row[layout.categorical] = np.nan
        return row
    for j, categories in zip(layout.categorical, layout.categories, strict=True):
        if categories.size == 0:
            continue
        try:
            value = categories[:1].astype(dtype)
        except (TypeError, ValueError):
            continue
        # astype truncates 1.5 to 1 and writes 1.0 as '1.0': only a value
        # encode finds among the categories will do.
        if _lookup(value, _cell_kinds(value), categories)[0] >= 0:
            row[j] = value[0]
    return row


def _decode_numpy(numeric, codes, layout):
    n = numeric.shape[0]
    if decoded_dtype(layout, numeric.dtype).kind != "O":
        out = np.empty((n, layout.n_features), dtype=numeric.dtype)
        for c, categories in enumerate(layout.categories):
            as_float = np.append(categories.astype(np.float64), np.nan)
            # Code -1 picks the NaN appended last.
            out[:, layout.categorical[c]] = as_float[codes[:, c]]
    else:
        out = np.empty((n, layout.n_features), dtype=object)
        for c, categories in enumerate(layout.categories):
            out[:, layout.categorical[c]] = _take(categories, codes[:, c], np.nan)
    out[:, layout.numeric] = numeric
    return out


def _nullable_pandas_dtype(dtype):
    """The pandas dtype that can also hold missing cells of numpy ``dtype``."""
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind in "iu":
        return f"{'U' if dtype.kind == 'u' else ''}Int{8 * dtype.itemsize}"
    return dtype


def _pandas_categorical(categories, codes, dtype):
    pd = sys.modules["pandas"]
    if dtype is None:
        return pd.Categorical.from_codes(codes, categories=categories)
    if _pandas_categorical_dtype(dtype):
        # The declared categories may include a missing marker that the
        # layout's categories leave out, so codes are mapped, not reused.
        # Code -1 picks the -1 appended last: it must not index the
        # categories, which a column empty at fit has none of.
        position = np.append(dtype.categories.get_indexer(categories), -1)
        return pd.Categorical.from_codes(position[codes], dtype=dtype)
    missing = codes < 0
    if isinstance(dtype, np.dtype):
        if dtype.kind in "biu" and missing.any():
            return pd.array(
                _take(categories, codes, None), dtype=_nullable_pandas_dtype(dtype)
            )
        if dtype.kind in "biuf":
            return _take(categories, codes, np.nan).astype(dtype)
        if dtype.kind == "O":
            return _take(categories, codes, np.nan)
    # Extension dtypes (string, boolean, Int64...) turn None into their own
    # missing value.
    return pd.array(_take(categories, codes, None), dtype=dtype)


def _decode_pandas(numeric, codes, layout, columns, index, typed):
    import pandas as pd

    arrays = {}
    for i, j in enumerate(layout.numeric):
        arrays[j] = numeric[:, i]
    for c, j in enumerate(layout.categorical):
        dtype = layout.dtypes[j] if typed else None
        arrays[j] = _pandas_categorical(layout.categories[c], codes[:, c], dtype)
    # Each column's dtype is passed explicitly: given a bare object array,
    # pandas 3 would infer its string dtype for what was an object column.
    frame = pd.DataFrame(
        {
            j: pd.Series(arrays[j], dtype=arrays[j].dtype, copy=False)
            for j in range(layout.n_features)
        },
        copy=False,
    )
    if index is not None:
        frame.index = index
    if columns is not None:
        frame.columns = columns
    return frame


def _decode_polars(numeric, codes, layout, columns, typed):
    import polars as pl

    series = [None] * layout.n_features
    for i, j in enumerate(layout.numeric):
        series[j] = pl.Series(
            columns[j],
            numeric[:, i],
            dtype=pl.Float32 if numeric.dtype == np.float32 else pl.Float64,
            nan_to_null=True,
        )
    for c, j in enumerate(layout.categorical):
        categories = layout.categories[c]
        values = _take(categories, codes[:, c], None).tolist()
        if typed:
            dtype = layout.dtypes[j]
        elif categories.size and _cell_kinds(categories[:1])[0] == _STR:
            dtype = pl.Categorical
        else:
            dtype = None
        series[j] = pl.Series(columns[j], values, dtype=dtype)
    return pl.DataFrame(series)


def decode(numeric, codes, layout, *, like=None, container=None, columns=None):
    """Rebuild a table from the float block and the category codes.

    The inverse of :func:`encode`. Give either ``like``, the table the
    arrays were encoded from, to get a table of its kind, index and column
    names, or ``container`` (with ``columns``), to build a DataFrame for an
    ndarray input, as ``set_output(transform='pandas')`` asks.

    Parameters
    ----------
    numeric : ndarray of shape (n_samples, n_numeric)
        The numeric columns, in the order of ``layout.numeric``.

    codes : ndarray of int of shape (n_samples, n_categorical)
        The category codes, in the order of ``layout.categorical``; -1 gives
        a missing cell.

    layout : TableLayout
        The layout fitted on the training table.

    like : array-like or DataFrame, default=None
        The table the arrays were encoded from. The output is a table of
        the same kind, with its index (pandas) and column names, and, when
        the layout was fitted on the same kind of table, with the column
        types recorded in ``layout``. Exclusive with ``container``.

    container : {'numpy', 'pandas', 'polars'}, default=None
        The kind of table to build when there is no ``like``: numeric
        columns float64 (float32 if ``numeric`` is), categorical columns
        pandas ``category`` with the fitted categories, or polars
        ``Categorical`` (string categories) or the categories' own type.

    columns : array-like of str, default=None
        Column names of the DataFrame built for ``container``; by default
        ``layout.feature_names``, else 0, 1... (pandas) or x0, x1...
        (polars). Ignored when ``like`` is given.

    Returns
    -------
    table : ndarray of shape (n_samples, n_features) or DataFrame
        The columns in the input's order.

        - ndarray: float64 (float32 if ``numeric`` is) when there is no
          categorical column or the layout was fitted on an ndarray of
          numbers (the categories are then numbers); else an object array
          of Python floats and of the category values, with np.nan for a
          missing cell.
        - pandas: numeric columns float64 (or float32). A ``category``
          column keeps its ``CategoricalDtype`` (categories and
          ``ordered``), an ``object`` column stays ``object`` (np.nan where
          missing), a string or ``boolean`` column keeps its extension
          dtype (its own missing value), a ``bool`` or integer column keeps
          its dtype, or becomes ``boolean`` or ``Int64`` if a cell is
          missing.
        - polars: numeric columns Float64 or Float32 (NaN where missing),
          categorical columns with their type (``Categorical``, ``Enum``,
          ``String``, ``Boolean``...), null where missing.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._table import decode, encode, fit_layout
    >>> X = np.array([[1.5, "b"], [np.nan, "a"]], dtype=object)
    >>> layout = fit_layout(X, [False, True])
    >>> numeric, codes, _ = encode(X, layout)
    >>> numeric[1, 0] = 2.0  # the engine's imputation
    >>> decode(numeric, codes, layout, like=X)
    array([[1.5, 'b'],
           [2.0, 'a']], dtype=object)

    An ndarray input with ``set_output(transform="pandas")``:

    >>> decode(numeric, codes, layout, container="pandas", columns=["x", "y"]).dtypes
    x     float64
    y    category
    dtype: object
    """
    # float32 stays float32 (encode keeps a block of float32 columns so).
    numeric = np.asarray(numeric)
    kept = np.float32 if numeric.dtype == np.float32 else np.float64
    numeric = numeric.astype(kept, copy=False)
    codes = np.asarray(codes)
    if (like is None) == (container is None):
        raise ValueError("Give exactly one of like and container.")
    n_samples = numeric.shape[0]
    if numeric.shape != (n_samples, layout.numeric.size) or codes.shape != (
        n_samples,
        layout.categorical.size,
    ):
        raise ValueError(
            f"numeric has shape {numeric.shape} and codes {codes.shape}, but the "
            f"layout has {layout.numeric.size} numeric and "
            f"{layout.categorical.size} categorical columns."
        )
    index = None
    if like is not None:
        container = container_of(like)
        columns = None if container == "numpy" else list(like.columns)
        if container == "pandas":
            index = like.index
    elif container not in _CONTAINERS:
        raise ValueError(
            f"container should be one of {list(_CONTAINERS)}; got {container!r}."
        )
    typed = like is not None and layout.container == container
    if container == "numpy":
        return _decode_numpy(numeric, codes, layout)
    if columns is None and layout.feature_names is not None:
        columns = list(layout.feature_names)
    if columns is not None and len(columns) != layout.n_features:
        raise ValueError(
            f"columns has {len(columns)} names, but the layout has "
            f"{layout.n_features} features."
        )
    if container == "pandas":
        return _decode_pandas(numeric, codes, layout, columns, index, typed)
    if columns is None:
        columns = [f"x{j}" for j in range(layout.n_features)]
    return _decode_polars(numeric, codes, layout, list(columns), typed)


def select_columns(table, columns):
    """The columns at positions ``columns`` of an ndarray or a DataFrame."""
    kind = container_of(table)
    if kind == "pandas":
        return table.iloc[:, columns]
    if kind == "polars":
        return table.select([table.columns[j] for j in columns])
    return table[:, columns]


def _typed_pandas_column(column, observed, dtype):
    """``column`` in ``dtype`` if that keeps its cells, else ``column``.

    ``column`` is an object array, NaN where missing. A ``category`` column
    takes the values as its categories (an empty feature has none of its
    own), and keeps ``dtype`` when it has none.
    """
    pd = sys.modules["pandas"]
    try:
        if _pandas_categorical_dtype(dtype) and not observed.any():
            typed = pd.Categorical.from_codes(np.full(len(column), -1), dtype=dtype)
        elif _pandas_categorical_dtype(dtype):
            typed = pd.Categorical(column, ordered=dtype.ordered)
        elif isinstance(dtype, np.dtype):
            typed = column.astype(dtype)
        else:
            # Extension dtypes take None as their own missing value.
            typed = pd.array(np.where(observed, column, None), dtype=dtype)
    except (TypeError, ValueError):
        return column
    # Casts that change a cell fail the test: 1.5 made '1.5' by a string
    # dtype, NaN made True by bool.
    back = np.asarray(typed, dtype=object)
    if np.array_equal(pd.isna(back), ~observed) and np.all(
        back[observed] == column[observed]
    ):
        return typed
    return column


def _typed_polars_column(name, column, dtype):
    """``column`` (None where missing) in ``dtype`` if that keeps its cells.

    Else a Series of polars objects.
    """
    pl = sys.modules["polars"]
    values = column.tolist()
    try:
        # A Null column (nothing seen in fit) takes the values' own type.
        typed = pl.Series(name, values, dtype=None if dtype == pl.Null else dtype)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, values, dtype=pl.Object)
    # By type too: True is not 1 in a column of codes.
    if [(type(v), v) for v in typed.to_list()] == [(type(v), v) for v in values]:
        return typed
    return pl.Series(name, values, dtype=pl.Object)


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


def keep_observed_cells(output, X, columns, *, missing_values=np.nan):
    """``output`` with the observed cells of ``X``'s ``columns`` as read.

    For the columns the layout cannot encode (a categorical feature entirely
    missing at fit has no category): their observed cells are copied
    verbatim, their missing ones are NaN (None in polars), as
    ``SimpleImputer`` keeps an empty feature's later values. ``output`` has
    ``X``'s columns at the same positions; a DataFrame is changed in place
    (it is the caller's own new table), an ndarray too. A DataFrame's column
    keeps the type :func:`decode` gave it (the fitted one, for a table of
    the fitted kind) when that type holds the cells unchanged (a
    ``category`` column takes the values as its categories); else it is a
    column of objects.
    """
    container = container_of(X)
    kind = container_of(output)
    for j in columns:
        values, kinds = _column_kinds(X, container, j, missing_values)
        column = np.full(len(values), np.nan, dtype=object)
        observed = kinds != _MISSING
        column[observed] = values[observed]
        if kind == "pandas":
            pd = sys.modules["pandas"]
            cells = _typed_pandas_column(column, observed, output.dtypes.iloc[j])
            # The dtype given: pandas 3 would make an object array of text str.
            cells = pd.Series(cells, index=output.index, dtype=cells.dtype, copy=False)
            output.isetitem(j, cells)
        elif kind == "polars":
            column[~observed] = None  # polars' null; NaN is a float to it
            name = output.columns[j]
            typed = _typed_polars_column(name, column, output.schema[name])
            output = output.with_columns(typed)
        else:
            output[:, j] = column
    return output


def restore_cells(output, X, columns, cells):
    """``output`` with the chosen cells of ``X``'s ``columns`` as read.

    For the observed cells of a category the layout cannot encode (one not
    seen in fit, under ``handle_unknown='ignore'``): the other cells keep
    ``output``'s values (the imputations among them). ``cells`` is a bool
    array of shape ``(n_samples, len(columns))``. ``output`` has ``X``'s
    columns at the same positions and is changed in place where it can be
    (a DataFrame of the caller's own, an ndarray). A pandas ``category``
    column (a polars ``Enum``) keeps its categories, with the new values
    appended after them (after the fitted order, also in an ordered one);
    another column keeps its type when that holds the cells, else becomes
    objects (an ndarray of numbers too).
    """
    container = container_of(X)
    kind = container_of(output)
    for c, j in enumerate(columns):
        rows = cells[:, c]
        values, _ = _column(X, container, j)
        if kind == "pandas":
            pd = sys.modules["pandas"]
            current = output.iloc[:, j]
            # A copy: an object column's own array is read-only under
            # pandas' copy-on-write.
            column = current.to_numpy(dtype=object, copy=True)
            column[rows] = values[rows]
            dtype = current.dtype
            if _pandas_categorical_dtype(dtype):
                known = list(dtype.categories)
                try:
                    typed = pd.Categorical(
                        column,
                        dtype=pd.CategoricalDtype(
                            known + _new_values(values[rows], known),
                            ordered=dtype.ordered,
                        ),
                    )
                except ValueError:
                    # Categories pandas takes for duplicates (True and 1).
                    typed = column
            else:
                typed = _typed_pandas_column(column, ~pd.isna(column), dtype)
            output.isetitem(
                j, pd.Series(typed, index=output.index, dtype=typed.dtype, copy=False)
            )
        elif kind == "polars":
            pl = sys.modules["polars"]
            name = output.columns[j]
            column = np.asarray(output.to_series(j).to_list(), dtype=object)
            column[rows] = values[rows]
            dtype = output.schema[name]
            if isinstance(dtype, pl.Enum):
                known = dtype.categories.to_list()
                dtype = pl.Enum(known + _new_values(values[rows], known))
            typed = _typed_polars_column(name, column, dtype)
            output = output.with_columns(typed)
        else:
            if output.dtype != object:
                try:
                    fits = np.array_equal(
                        values[rows].astype(output.dtype), values[rows]
                    )
                except (TypeError, ValueError):
                    fits = False
                if not fits:
                    # Numeric codes given text: the table becomes objects.
                    output = output.astype(object)
            output[rows, j] = values[rows]
    return output


def _new_values(values, known):
    """The distinct ``values`` not among ``known``, in order of appearance.

    Compared by value and type, so that True is not the category 1.
    """
    seen = {(type(v), v) for v in known}
    new = []
    for value in dict.fromkeys(values.tolist()):
        if (type(value), value) not in seen:
            new.append(value)
    return new


def append_columns(table, values, names):
    """``table`` with the float columns ``values`` (named ``names``) after it.

    Parameters
    ----------
    table : ndarray or DataFrame
    values : ndarray of shape (n_samples, n_new)
    names : array-like of str of shape (n_new,)
        Column names, for a DataFrame.

    Returns
    -------
    table : ndarray or DataFrame
        Of the kind of ``table``; an ndarray keeps its dtype (object stays
        object).
    """
    kind = container_of(table)
    if kind == "pandas":
        pd = sys.modules["pandas"]
        extra = pd.DataFrame(values, index=table.index, columns=list(names))
        return pd.concat([table, extra], axis=1)
    if kind == "polars":
        pl = sys.modules["polars"]
        extra = pl.DataFrame({str(name): values[:, j] for j, name in enumerate(names)})
        return pl.concat([table, extra], how="horizontal")
    return np.hstack([table, values.astype(table.dtype)])
