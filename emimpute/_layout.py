"""The layout of a table: which columns are categorical, and their categories.

Fitted once on the training table (:func:`categorical_mask`,
:func:`fit_layout`) into a :class:`TableLayout`, which :mod:`emimpute._encode`
and :mod:`emimpute._decode` read; :func:`unlikely_categories` tells of text
columns whose values are unlikely categories.

Categories are ordered as :class:`sklearn.preprocessing.OneHotEncoder`
orders them (:func:`numpy.unique`), except for the columns whose type
declares its categories (pandas ``category``, polars ``Enum``), which keep
the declared ones, in their order, so that the output has the same type.

The columns are read by :mod:`emimpute._table`, their cells' kinds given by
:mod:`emimpute._cells` (a categorical column's values must share one kind).
pandas and polars are never imported here, only looked up in
:data:`sys.modules` for a DataFrame's column types.
"""

import sys
from dataclasses import dataclass

import numpy as np

from emimpute._cells import _BOOL, _KIND_NAMES, _MISSING, _STR, _cell_kinds
from emimpute._table import (
    _column_kinds,
    _describe,
    _feature_names,
    _pandas_categorical_dtype,
    as_table,
    container_of,
)

__all__ = ["TableLayout", "categorical_mask", "fit_layout"]


_ACCEPTED_FORMS = (
    "'from_dtype', None, an array-like of int indices, an array-like of str "
    "feature names, or a boolean mask of length n_features"
)


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
    >>> from emimpute._layout import categorical_mask
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
    >>> from emimpute._layout import fit_layout
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
