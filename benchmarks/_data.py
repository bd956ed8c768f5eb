"""Simulators shared by the benchmarks: data with known parameters and masks.

Everything takes a ``numpy.random.Generator`` so that each benchmark is
reproducible from its seed.

- :func:`random_covariance`, :func:`gaussian_data`, :func:`mixture_data`:
  complete data drawn from a Gaussian or a Gaussian mixture whose parameters
  are returned with it;
- :func:`mcar_mask`, :func:`mar_mask`, :func:`pattern_mask`: where the holes
  go (missing completely at random cell by cell, missing at random through a
  logistic model of always-observed columns, or MCAR with only a few distinct
  patterns);
- :func:`real_dataset`: scikit-learn's bundled data sets, standardised;
- :func:`rmse`, :func:`count_patterns`, :func:`conditional_mean`: scoring and
  the oracle imputation under known Gaussian parameters.
"""

import numpy as np

REAL_DATASETS = ("diabetes", "wine", "breast_cancer", "iris")


# ----------------------------------------------------------------------------
# complete data with known parameters
# ----------------------------------------------------------------------------
def random_covariance(n_features, rng, *, n_factors=None, scale=1.0):
    """A well-conditioned covariance with strong correlations (factor model).

    ``S = scale * (W W^T / n_factors + diag(psi))`` with ``W`` standard normal
    of shape ``(n_features, n_factors)`` and ``psi`` uniform on [0.2, 1]: a
    few latent factors make the columns predictable from each other, as in
    real tables, while ``psi`` keeps ``S`` far from singular.
    """
    if n_factors is None:
        n_factors = max(1, n_features // 4)
    loadings = rng.standard_normal((n_features, n_factors))
    psi = rng.uniform(0.2, 1.0, size=n_features)
    cov = loadings @ loadings.T / n_factors + np.diag(psi)
    return scale * (cov + cov.T) / 2.0


def gaussian_data(n_samples, n_features, rng, *, n_factors=None):
    """Rows from ``N(mean, cov)`` with a random mean and factor covariance.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    mean : ndarray of shape (n_features,)
    cov : ndarray of shape (n_features, n_features)
    """
    mean = rng.normal(0.0, 2.0, size=n_features)
    cov = random_covariance(n_features, rng, n_factors=n_factors)
    X = rng.multivariate_normal(mean, cov, size=n_samples, method="cholesky")
    return X, mean, cov


def mixture_data(n_samples, n_features, n_components, rng, *, separation=3.0):
    """Rows from a Gaussian mixture with random full covariances.

    Component means are drawn from ``N(0, separation^2 I)``; covariances are
    factor-model matrices (:func:`random_covariance`); weights are a
    Dirichlet(5) draw, so no component is tiny.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
    """
    weights = rng.dirichlet(np.full(n_components, 5.0))
    means = rng.normal(0.0, separation, size=(n_components, n_features))
    covariances = np.stack(
        [random_covariance(n_features, rng) for _ in range(n_components)]
    )
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        rows = labels == k
        chol = np.linalg.cholesky(covariances[k])
        X[rows] = means[k] + rng.standard_normal((rows.sum(), n_features)) @ chol.T
    return X, labels, weights, means, covariances


# ----------------------------------------------------------------------------
# missingness masks (True = missing)
# ----------------------------------------------------------------------------
def mcar_mask(shape, rate, rng, *, keep_one_observed=True):
    """Cell-wise MCAR: every entry is missing independently with ``rate``.

    With ``keep_one_observed``, rows that lost every entry are drawn again,
    so that every peer imputer (KNNImputer in particular) gets at least one
    observed value per row. At ``d >= 10`` and 20% this changes nothing.
    """
    mask = rng.random(shape) < rate
    if keep_one_observed:
        empty = mask.all(axis=1)
        while empty.any():
            mask[empty] = rng.random((empty.sum(), shape[1])) < rate
            empty = mask.all(axis=1)
    return mask


def mar_mask(X, rate, rng, *, frac_always_observed=0.3):
    """MAR through a logistic model of always-observed columns.

    A random ``frac_always_observed`` of the columns (at least one) is never
    missing. In each other column ``j``, entry ``(i, j)`` is missing with
    probability ``sigmoid(a_j^T z_i + b_j)``, where ``z_i`` are the row's
    standardised always-observed values, ``a_j`` is a random direction
    scaled so that the logit has standard deviation 2, and ``b_j`` is set by
    bisection so that the expected share of missing cells over the whole
    table is ``rate``. Missingness then depends on observed values only
    (missing at random, not completely at random): rows with large or small
    values of the driving columns lose more entries. This is the "MAR"
    setting of Muzellec et al. (2020, ICML) and of the hyperimpute benchmarks.
    """
    n_samples, n_features = X.shape
    n_obs = max(1, int(round(frac_always_observed * n_features)))
    order = rng.permutation(n_features)
    observed_cols, holed_cols = order[:n_obs], order[n_obs:]
    target = min(rate * n_features / len(holed_cols), 0.95)
    Z = X[:, observed_cols]
    Z = (Z - Z.mean(axis=0)) / np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
    mask = np.zeros((n_samples, n_features), dtype=bool)
    for j in holed_cols:
        direction = rng.standard_normal(n_obs)
        logit = Z @ direction
        logit *= 2.0 / max(logit.std(), 1e-12)
        lo, hi = -50.0, 50.0
        for _ in range(60):
            mid = (lo + hi) / 2.0
            if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) > target:
                hi = mid
            else:
                lo = mid
        prob = 1.0 / (1.0 + np.exp(-(logit + (lo + hi) / 2.0)))
        mask[:, j] = rng.random(n_samples) < prob
    return mask


def pattern_mask(shape, rate, n_patterns, rng):
    """MCAR with only ``n_patterns`` distinct patterns (few-pattern data).

    ``n_patterns`` distinct patterns are drawn cell-wise with ``rate`` (the
    all-missing pattern excluded; the complete pattern allowed) and each row
    gets one uniformly at random. Use it to see how cost grows with the
    number of distinct patterns at a fixed share of missing cells.
    """
    n_samples, n_features = shape
    patterns = set()
    while len(patterns) < n_patterns:
        p = rng.random(n_features) < rate
        if not p.all():
            patterns.add(p.tobytes())
    table = np.array([np.frombuffer(p, dtype=bool) for p in sorted(patterns)])
    return table[rng.integers(0, n_patterns, size=n_samples)]


def with_nan(X, mask):
    """A copy of ``X`` with NaN where ``mask`` is True."""
    X_missing = np.array(X, dtype=float, copy=True)
    X_missing[mask] = np.nan
    return X_missing


def count_patterns(mask):
    """Number of distinct rows of a boolean mask."""
    packed = np.packbits(mask, axis=1)
    return len(np.unique(packed, axis=0))


# ----------------------------------------------------------------------------
# real data
# ----------------------------------------------------------------------------
def real_dataset(name):
    """One of scikit-learn's bundled data sets, columns standardised.

    Columns are centred and scaled to unit variance on the complete data
    *before* holes are punched, so that RMSEs on the removed cells are in
    standard-deviation units and comparable across columns and data sets
    (an RMSE of 1 is what filling with the true column mean would give).
    """
    from sklearn import datasets

    loader = {
        "diabetes": datasets.load_diabetes,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
    }[name]
    X = np.asarray(loader().data, dtype=float)
    return (X - X.mean(axis=0)) / X.std(axis=0)


# ----------------------------------------------------------------------------
# scoring
# ----------------------------------------------------------------------------
def rmse(X_true, X_imputed, mask):
    """Root mean squared error over the removed cells only."""
    diff = np.asarray(X_imputed)[mask] - X_true[mask]
    return float(np.sqrt(np.mean(diff**2)))


def conditional_mean(X_missing, mean, cov):
    """Oracle imputation: ``E[x_M | x_O]`` under the *true* Gaussian.

    A plain per-pattern loop (rows grouped by pattern, one solve each): the
    lowest RMSE any imputer can reach in expectation on Gaussian data.
    """
    X = np.array(X_missing, copy=True)
    mask = np.isnan(X)
    keys = np.packbits(mask, axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    for rows in np.split(order, bounds):
        m = mask[rows[0]]
        if not m.any():
            continue
        o = ~m
        if not o.any():
            X[np.ix_(rows, m)] = mean[m]
            continue
        coef = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)])
        X[np.ix_(rows, m)] = mean[m] + (X[np.ix_(rows, o)] - mean[o]) @ coef
    return X
