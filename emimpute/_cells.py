"""Cells: the kind of every cell of an array, and which cells are missing.

A cell is a number, a bool, a str, something else, or missing: None, a float
NaN, ``pd.NA``, ``pd.NaT``, a ``NaT`` datetime, or the user's missing marker
(:func:`is_missing_cell`). The kinds are found once per cell of an ndarray
(:func:`_cell_kinds`); reading a table's columns into ndarrays is
:mod:`emimpute._table`'s job, which builds on this one.

Only numpy is needed. pandas is never imported: its ``pd.NA`` and ``pd.NaT``
are recognised by looking the library up in :data:`sys.modules`, since a cell
cannot hold them unless pandas has been imported.
"""

import math
import numbers
import sys
from functools import partial

import numpy as np

__all__ = ["is_missing_cell"]


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
    >>> from emimpute._cells import is_missing_cell
    >>> is_missing_cell(np.array(["a", None, np.nan, "?", 1.5], dtype=object))
    array([False,  True,  True, False, False])
    >>> is_missing_cell(np.array(["a", "?", -1], dtype=object), missing_values="?")
    array([False,  True, False])
    """
    if not isinstance(values, np.ndarray):
        values = np.asarray(values, dtype=object)
    return _cell_kinds(values, missing_values) == _MISSING
