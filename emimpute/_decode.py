"""The EM engine's arrays back into a table of the input's kind and types.

:func:`decode` is the inverse of :func:`emimpute._encode.encode`: from the
completed float block and category codes, an ndarray, a pandas or a polars
DataFrame with the column types recorded in the layout
(:mod:`emimpute._layout`). The column edits an imputer's output needs are
here too, for they rebuild columns of those types: picking columns
(:func:`select_columns`), appending some (:func:`append_columns`), and
putting back the cells the layout cannot encode
(:func:`keep_observed_cells`, :func:`restore_cells`).

The input's columns are read by :mod:`emimpute._table`, their cells' kinds
given by :mod:`emimpute._cells`. pandas and polars are imported only to
build a DataFrame of theirs, else looked up in :data:`sys.modules`.
"""

import sys

import numpy as np

from emimpute._cells import _MISSING, _STR, _cell_kinds
from emimpute._table import (
    _column,
    _column_kinds,
    _pandas_categorical_dtype,
    container_of,
)

__all__ = ["decode"]


_CONTAINERS = ("numpy", "pandas", "polars")


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
    >>> from emimpute._decode import decode
    >>> from emimpute._encode import encode
    >>> from emimpute._layout import fit_layout
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
