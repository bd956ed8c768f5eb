"""A table as the EM engine's arrays: a float block and category codes.

The EM engine works on two arrays: a float64 block of the numeric columns,
NaN where missing, and an integer block of category codes, -1 where missing.
:func:`encode` splits a table into them with the layout fitted on the
training table (:mod:`emimpute._layout`); :func:`valid_row` gives a row it
reads without error, for checking a table not read yet.

scikit-learn's :func:`~sklearn.utils.check_array` earns its place by giving
a numeric column scikit-learn's usual errors (``Input X contains
infinity``, ``could not convert string to float``). The columns are read by
:mod:`emimpute._table`, their cells' kinds given by :mod:`emimpute._cells`.
"""

from itertools import repeat

import numpy as np
from sklearn.utils import check_array

from emimpute._cells import _MISSING, _cell_kinds, _is_nan
from emimpute._table import (
    _column_kinds,
    _describe,
    _feature_names,
    _pandas_categorical_dtype,
    as_table,
    container_of,
)

__all__ = ["encode"]


_MAX_SHOWN = 10


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


def _check_n_features(X, layout):
    if X.shape[1] != layout.n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the table layout was fitted "
            f"on {layout.n_features} features."
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
    >>> from emimpute._encode import encode
    >>> from emimpute._layout import fit_layout
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
