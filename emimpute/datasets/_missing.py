"""Punch holes in complete data, to test imputers against a known truth."""

from numbers import Integral, Real

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.utils import check_array, check_random_state

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
    X : array-like of shape (n_samples, n_features)
        The data. NaN already in ``X`` stay NaN.
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
    driver : int, default=0
        Under ``"mar"``, the index of the column that stays fully observed
        and drives the missingness of the others. Ignored under ``"mcar"``.
    allow_empty_rows : bool, default=False
        If False, a row that would lose all its values keeps one of them,
        drawn at random, so the realised rate of ``"mcar"`` can be slightly
        below ``missing_rate``. Rows already empty in ``X`` stay empty.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the draws, as in scikit-learn.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features)
        A float64 copy of ``X`` with NaN holes; ``X`` is not modified.

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
    """
    if not isinstance(missing_rate, Real) or not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate!r}.")
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}.")
    X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", copy=True)
    n_samples, n_features = X.shape
    rng = check_random_state(random_state)

    if mechanism == "mcar":
        if n_features == 1 and not allow_empty_rows and missing_rate > 0:
            raise ValueError(
                "With a single feature every removed value empties its row; "
                "pass allow_empty_rows=True."
            )
        prob = np.full(X.shape, float(missing_rate))
    else:
        prob = _mar_probabilities(X, missing_rate, driver)

    holes = rng.random_sample(X.shape) < prob
    holes &= ~np.isnan(X)
    if not allow_empty_rows:
        _keep_one_per_row(holes, np.isnan(X), rng)
    X[holes] = np.nan
    return X


def _mar_probabilities(X, missing_rate, driver):
    """Per-entry removal probabilities driven by column ``driver``."""
    n_features = X.shape[1]
    if n_features < 2:
        raise ValueError("mechanism='mar' needs at least two features.")
    if not isinstance(driver, Integral) or not -n_features <= driver < n_features:
        raise ValueError(
            f"driver must be a column index in [0, {n_features}), got {driver!r}."
        )
    column = X[:, driver]
    if np.isnan(column).any():
        raise ValueError(
            f"mechanism='mar' needs column driver={driver} to be fully observed."
        )
    std = column.std()
    z = (column - column.mean()) / std if std > 0 else np.zeros_like(column)

    if missing_rate == 0:
        row_prob = np.zeros_like(z)
    else:
        # Choose the intercept so the average probability is missing_rate.
        def excess(intercept):
            return expit(intercept + _MAR_SLOPE * z).mean() - missing_rate

        intercept = brentq(excess, -50.0, 50.0)
        row_prob = expit(intercept + _MAR_SLOPE * z)

    prob = np.repeat(row_prob[:, np.newaxis], n_features, axis=1)
    prob[:, driver] = 0.0
    return prob


def _keep_one_per_row(holes, already_missing, rng):
    """Undo one hole, drawn at random, in every row that ``holes`` would empty."""
    emptied = np.flatnonzero((holes | already_missing).all(axis=1) & holes.any(axis=1))
    # A random key per entry, with the non-holes ranked last, picks one hole
    # per row without a Python loop over rows.
    keys = rng.random_sample((len(emptied), holes.shape[1]))
    keys[~holes[emptied]] = -1.0
    holes[emptied, keys.argmax(axis=1)] = False
