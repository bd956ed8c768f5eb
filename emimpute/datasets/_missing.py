"""Punch holes in complete data, to test imputers against a known truth."""

from collections.abc import Hashable
from numbers import Integral, Real

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.utils import check_array, check_random_state

from emimpute._cells import is_missing_cell
from emimpute._table import as_table, container_of

MECHANISMS = ("mcar", "mar")

# Slope of the MAR logit per standard deviation of the driving column: strong
# enough that the observed rows are a visibly biased sample (so mean
# imputation suffers), mild enough that every region keeps observed values.
_MAR_SLOPE = 2.0


def make_missing(
    X,
    *,
    missing_rate,
    mechanism="mcar",
    driver=0,
    allow_empty_rows=False,
    random_state=None,
):
    """Return a copy of ``X`` with values replaced by NaN at random.

    Punching holes in complete data gives a known truth to score imputers
    against (compare the imputed values with ``X`` where the copy is NaN),
    under a missingness mechanism chosen on purpose.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        The data: an array of numbers, an object array whose cells may be
        text too (such as ``load_penguins(as_frame=False).data``), or a
        pandas or polars DataFrame whose columns may be of any type
        (categorical, text, numbers). Missing cells already in ``X`` (None,
        NaN, pandas' NA, polars' null) stay missing.
    missing_rate : float in [0, 1)
        Expected share of the entries to remove. Under ``"mcar"`` it is the
        share of all entries; under ``"mar"`` the share of the entries of
        every column other than ``driver``.
    mechanism : {"mcar", "mar"}, default="mcar"
        - ``"mcar"``: missing completely at random, every entry is removed
          independently with probability ``missing_rate``.
        - ``"mar"``: missing at random, column ``driver`` is kept whole and
          the entries of every other column are removed with a probability
          that rises with the value of ``driver`` in the same row
          (a logistic curve whose mean over the rows is ``missing_rate``).
          Whether a value is missing depends on observed values only, which
          is what EM (and any likelihood method) needs to stay unbiased.
    driver : int or column label, default=0
        Under ``"mar"``, the numeric column that stays fully observed and
        drives the missingness of the others. Ignored under ``"mcar"``.
        For a DataFrame, a value equal to one of its column labels names
        that column, whatever the label's type: with columns
        ``[2020, 2021, 2022]``, ``driver=2021`` is the second column, and
        with columns ``[1, 0]``, ``driver=0`` is the second too. Any other
        int is a position, negative ones counting from the end, as it is
        for an array.
    allow_empty_rows : bool, default=False
        If False, a row that would lose all its values keeps one of them,
        drawn at random, so the realised rate of ``"mcar"`` is below
        ``missing_rate``: about ``r - r**p / p`` for rate ``r`` on ``p``
        columns, at most ``1 - 1 / p`` (0.255 for 0.3 and 0.375 for 0.5 on two
        columns, where it never exceeds 0.5; close to ``r`` with many
        columns or small ``r``). Rows already empty in ``X`` stay empty.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the draws, as in scikit-learn.

    Returns
    -------
    X_missing : ndarray or DataFrame of shape (n_samples, n_features)
        A copy of ``X`` with holes; ``X`` is not modified. An array whose
        cells are all numbers (or None or NaN) comes back as float64 with NaN
        holes; one with text in it as an object array of the same cells,
        with NaN holes; a DataFrame as a DataFrame of the same library, index
        and columns, its holes the library's missing value (pandas: NaN,
        integer and boolean columns becoming float and object; polars: null,
        dtypes kept).

    See Also
    --------
    load_old_faithful : A small complete dataset to punch holes in.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute.datasets import make_missing
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> X_missing = make_missing(X, missing_rate=0.3, random_state=0)
    >>> X_missing.shape
    (6, 2)
    >>> bool(np.isnan(X_missing).all(axis=1).any())
    False
    >>> X_mar = make_missing(X, missing_rate=0.5, mechanism="mar", random_state=0)
    >>> bool(np.isnan(X_mar[:, 0]).any())
    False
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"size": X[:, 0], "kind": list("abcabc")})
    >>> holed = make_missing(frame, missing_rate=0.3, mechanism="mar",
    ...                      driver="size", random_state=0)
    >>> list(holed.columns), int(holed["size"].isna().sum())
    (['size', 'kind'], 0)
    """
    if not isinstance(missing_rate, Real) or not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate!r}.")
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}.")
    container = container_of(X)
    if container == "numpy":
        X = _array_copy(X)
        already_missing = is_missing_cell(X) if X.dtype == object else np.isnan(X)
    else:
        _check_frame_shape(X)
        already_missing = _frame_missing(X, container)
    rng = check_random_state(random_state)
    n_features = already_missing.shape[1]

    if mechanism == "mcar":
        if n_features == 1 and not allow_empty_rows and missing_rate > 0:
            raise ValueError(
                "With a single feature every removed value empties its row; "
                "pass allow_empty_rows=True."
            )
        prob = np.full(already_missing.shape, float(missing_rate))
    else:
        column, driver = _driver_column(X, container, driver)
        prob = _mar_probabilities(column, driver, n_features, missing_rate)

    holes = rng.random_sample(already_missing.shape) < prob
    holes &= ~already_missing
    if not allow_empty_rows:
        _keep_one_per_row(holes, already_missing, rng)
    if container == "numpy":
        X[holes] = np.nan
        return X
    return _punch_frame(X, container, holes)


def _array_copy(X):
    """A float64 copy of array-like ``X``, or an object copy if it holds text.

    An array whose cells all convert to float (numbers, None, NaN) becomes
    float64. One with a cell that does not, such as the object
    array of ``load_penguins(as_frame=False)``, keeps its cells as they are,
    as a DataFrame's text columns do; refusing it would send the user to
    pandas for nothing.
    """
    # as_table gives scikit-learn's errors for sparse, 1-D or empty input,
    # and makes a str array an object one.
    X = as_table(X)
    if X.dtype == object:
        try:
            X.astype(np.float64)
        except (TypeError, ValueError):
            return X.copy()
    return check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", copy=True)


def _check_frame_shape(X):
    """Refuse a DataFrame with no rows or no columns, as ``check_array`` does
    an array (it cannot be trusted to: a pandas frame with rows and no
    columns fails inside it with an unrelated message)."""
    for axis, what in enumerate(("sample(s)", "feature(s)")):
        if X.shape[axis] < 1:
            raise ValueError(
                f"Found array with 0 {what} (shape={tuple(X.shape)}) while a "
                "minimum of 1 is required."
            )


def _frame_missing(X, container):
    """The missing cells of a DataFrame (None, NaN, pandas' NA, polars' null)."""
    if container == "polars":
        return np.column_stack(
            [_polars_missing(X[name]) for name in X.columns]
        ).reshape(X.shape)
    return np.column_stack(
        [is_missing_cell(X.iloc[:, j].to_numpy()) for j in range(X.shape[1])]
    ).reshape(X.shape)


def _polars_missing(column):
    """The null or NaN cells of a polars Series, as a bool ndarray."""
    missing = column.is_null()
    if column.dtype.is_float():
        # is_nan() is null, not False, at a null cell: without the fill the
        # mask would hold None there, and a float column with a null
        # could not be combined with anything.
        missing = missing | column.is_nan().fill_null(False)
    return missing.to_numpy()


def _driver_column(X, container, driver):
    """Column ``driver`` (a DataFrame's column label, else an index) as floats."""
    n_features = X.shape[1]
    names = list(X.columns) if container != "numpy" else []
    # A label is looked up whatever its type, before an int is read as a
    # position: a column named 2021 could not be named otherwise, and this
    # is how pandas reads frame[2021]. An unhashable driver is no label.
    if names and isinstance(driver, Hashable) and driver in names:
        count = names.count(driver)
        if count > 1:
            raise ValueError(
                f"driver={driver!r} names {count} columns; give the driver "
                "column a name of its own."
            )
        driver = names.index(driver)
    if not isinstance(driver, Integral) or not -n_features <= driver < n_features:
        raise ValueError(
            f"driver must be a column index in [-{n_features}, {n_features})"
            + (" or a column name" if names else "")
            + f", got {driver!r}."
        )
    named = f"{names[driver]!r}" if names else f"{driver}"
    if container == "numpy":
        values = X[:, driver]
    elif container == "polars":
        values = X[:, driver].to_numpy()
    else:
        values = X.iloc[:, driver]
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"mechanism='mar' needs a numeric driver column; column {named} "
            "is not numeric."
        ) from None
    if np.isnan(column).any():
        raise ValueError(
            f"mechanism='mar' needs its driver column {named} to be fully "
            "observed; drop or fill its missing rows, or choose another driver."
        )
    if np.isinf(column).any():
        # Its spread would be NaN, every row's probability the same: MCAR
        # holes, silently.
        raise ValueError(
            f"mechanism='mar' needs a finite driver column; column {named} "
            "holds infinite values. Choose another driver, or clip it."
        )
    return column, driver


def _punch_frame(X, container, holes):
    """A copy of DataFrame ``X`` with its cells at ``holes`` missing."""
    if container == "polars":
        import polars as pl

        return pl.DataFrame(
            [
                X[name].scatter(np.flatnonzero(holes[:, j]), None)
                if holes[:, j].any()
                else X[name].clone()
                for j, name in enumerate(X.columns)
            ]
        )
    return X.mask(holes)


def _mar_probabilities(column, driver, n_features, missing_rate):
    """Per-entry removal probabilities driven by ``column``, number ``driver``."""
    if n_features < 2:
        raise ValueError("mechanism='mar' needs at least two features.")
    std = column.std()
    z = (column - column.mean()) / std if std > 0 else np.zeros_like(column)

    if missing_rate == 0:
        row_prob = np.zeros_like(z)
    else:
        row_prob = expit(_mar_intercept(z, missing_rate) + _MAR_SLOPE * z)

    prob = np.repeat(row_prob[:, np.newaxis], n_features, axis=1)
    prob[:, driver] = 0.0
    return prob


def _mar_intercept(z, missing_rate):
    """The intercept whose logistic curve over ``z`` has mean ``missing_rate``."""

    def excess(intercept):
        return expit(intercept + _MAR_SLOPE * z).mean() - missing_rate

    # The mean lies between the curve's values at z.min() and z.max(), so the
    # intercept lies between the two that put those values at missing_rate.
    # A fixed bracket missed it for a tiny rate, a rate near 1, or an outlier
    # in the driver (whose z reaches sqrt(n)). The margin of 1 on either side
    # keeps the signs apart when the driver is constant and through rounding.
    target = logit(missing_rate)
    low = target - _MAR_SLOPE * z.max() - 1.0
    high = target - _MAR_SLOPE * z.min() + 1.0
    if not excess(low) < 0 < excess(high):
        raise ValueError(
            f"mechanism='mar' cannot reach missing_rate={missing_rate!r} in "
            "floating point with this driver column; choose a missing_rate "
            "further from 0 and 1."
        )
    return brentq(excess, low, high)


def _keep_one_per_row(holes, already_missing, rng):
    """Undo one hole, drawn at random, in every row that ``holes`` would empty."""
    emptied = np.flatnonzero((holes | already_missing).all(axis=1) & holes.any(axis=1))
    # A random key per entry, with the non-holes ranked last, picks one hole
    # per row without a Python loop over rows.
    keys = rng.random_sample((len(emptied), holes.shape[1]))
    keys[~holes[emptied]] = -1.0
    holes[emptied, keys.argmax(axis=1)] = False
