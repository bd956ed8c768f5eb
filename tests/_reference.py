"""Simple, independent references for the tests of the private EM engine.

Everything here is written for clarity, not speed: Python loops over rows,
explicit inverses, ``scipy.stats.multivariate_normal``. Nothing is imported
from the engine except the :class:`MixtureParams` container (a plain
dataclass of arrays), so an error in the engine's precision route, pattern
grouping, chunking or accumulation cannot cancel out here.

The module also holds the data and parameter generators shared by the engine
tests, an unconstrained parametrisation of a Gaussian mixture with the
analytic gradient of the observed-data log-likelihood (for the direct
maximisation in ``test_stationarity.py``), and :func:`assert_close`, which
records the largest discrepancy seen per quantity so that the test session
can print it (see ``conftest.py``).
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import logsumexp, softmax

from emimpute._em._params import MixtureParams

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Largest discrepancy seen by assert_close, per quantity name.
DISCREPANCIES = {}


def assert_close(actual, desired, tol, what, *, scale=None):
    """Assert ``|actual - desired| <= tol * scale`` elementwise.

    Parameters
    ----------
    actual, desired : array-like
        Arrays of the same shape.
    tol : float
        Tolerance, relative to ``scale``.
    what : str
        Name of the quantity, for the message and the record of
        discrepancies.
    scale : float or array-like, default=None
        ``None`` means ``max(1, |desired|)`` elementwise: relative on large
        values, absolute on values of order one or less.

    Returns
    -------
    discrepancy : float
        The largest ``|actual - desired| / scale``.
    """
    actual = np.asarray(actual, dtype=float)
    desired = np.asarray(desired, dtype=float)
    assert actual.shape == desired.shape, (what, actual.shape, desired.shape)
    if scale is None:
        scale = np.maximum(1.0, np.abs(desired))
    if actual.size == 0:
        return 0.0
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values {actual}"
    error = np.abs(actual - desired) / scale
    discrepancy = float(np.max(error))
    DISCREPANCIES[what] = max(DISCREPANCIES.get(what, 0.0), discrepancy)
    assert discrepancy <= tol, (
        f"{what}: largest discrepancy {discrepancy:.3e} > {tol:.1e} at "
        f"{np.unravel_index(np.argmax(error), error.shape)}"
    )
    return discrepancy


def norm_scale(desired):
    """The scale ``max(1, max|desired|)`` for a norm-wise comparison.

    Parameters
    ----------
    desired : array-like

    Returns
    -------
    scale : float
    """
    desired = np.asarray(desired, dtype=float)
    return max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0


# ---------------------------------------------------------------- parameters


def dense_covariances(params):
    """The ``(K, d, d)`` covariance matrices of any covariance type.

    Parameters
    ----------
    params : MixtureParams, or a fitted EMMixture or EMImputer
        Anything with ``covariances`` / ``covariances_``, ``means`` /
        ``means_`` and ``covariance_type``. EMImputer reports 'spherical'
        covariances per feature, shape ``(K, d)``, like 'diag'.

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
    """
    covariances = getattr(params, "covariances", None)
    if covariances is None:
        covariances = params.covariances_
    means = getattr(params, "means", None)
    n_components, n_features = (params.means_ if means is None else means).shape
    covariances = np.asarray(covariances, dtype=float)
    if params.covariance_type == "tied":
        return np.repeat(covariances[np.newaxis], n_components, axis=0)
    if covariances.ndim == 3:
        return covariances.copy()
    if covariances.ndim == 1:
        return covariances[:, np.newaxis, np.newaxis] * np.eye(n_features)
    return np.stack([np.diag(variances) for variances in covariances])


def random_spd(rng, n_features, low=0.5, high=2.0):
    """A random symmetric positive definite matrix with spectrum in [low, high].

    Parameters
    ----------
    rng : numpy.random.Generator
    n_features : int
    low, high : float
        Bounds of the eigenvalues, so the condition number is at most
        ``high / low``.

    Returns
    -------
    matrix : ndarray of shape (n_features, n_features)
    """
    q, r = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    q = q * np.sign(np.diag(r))
    eigenvalues = rng.uniform(low, high, size=n_features)
    matrix = (q * eigenvalues) @ q.T
    return 0.5 * (matrix + matrix.T)


def random_params(rng, n_components, n_features, covariance_type, *, spread=2.0):
    """Random well-conditioned mixture parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_components, n_features : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    spread : float, default=2.0
        Standard deviation of the component means.

    Returns
    -------
    params : MixtureParams
        Dirichlet(2) weights (floored at 0.05 and renormalised), normal
        means, covariances with eigenvalues in [0.5, 2].
    """
    weights = rng.dirichlet(np.full(n_components, 2.0)) + 0.05
    weights /= weights.sum()
    means = spread * rng.standard_normal((n_components, n_features))
    if covariance_type == "full":
        covariances = np.stack(
            [random_spd(rng, n_features) for _ in range(n_components)]
        )
    elif covariance_type == "tied":
        covariances = random_spd(rng, n_features)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(n_components, n_features))
    else:
        covariances = rng.uniform(0.5, 2.0, size=n_components)
    return MixtureParams.from_covariances(weights, means, covariances, covariance_type)


def sample_mixture(rng, n_samples, weights, means, covariances):
    """Draw rows from a Gaussian mixture given dense covariances.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_samples : int
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    """
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    X = np.empty((n_samples, means.shape[1]))
    for k in range(len(weights)):
        rows = labels == k
        X[rows] = rng.multivariate_normal(means[k], covariances[k], size=rows.sum())
    return X, labels


# ------------------------------------------------------------------ missingness


def mcar_mask(rng, n_samples, n_features, rate):
    """Cell-wise missing completely at random.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_samples, n_features : int
    rate : float
        Probability that an entry is missing.

    Returns
    -------
    mask : ndarray of bool, shape (n_samples, n_features)
    """
    return rng.uniform(size=(n_samples, n_features)) < rate


def mar_mask(rng, X, rate, *, driver=0, columns=None):
    """Missing at random: columns go missing more often when ``X[:, driver]``
    is large; the driver column is always observed.

    Parameters
    ----------
    rng : numpy.random.Generator
    X : ndarray of shape (n_samples, n_features)
        Complete data, ``n_features >= 2``.
    rate : float
        Average probability that an entry of ``columns`` is missing.
    driver : int, default=0
        The always-observed column the missingness depends on.
    columns : sequence of int, default=None
        Columns that can go missing; ``None`` means all but ``driver``.

    Returns
    -------
    mask : ndarray of bool, shape (n_samples, n_features)
    """
    n_samples, n_features = X.shape
    if columns is None:
        columns = [j for j in range(n_features) if j != driver]
    z = X[:, driver]
    z = (z - z.mean()) / z.std()
    # P(missing) = 2 rate sigmoid(2 z): mean close to ``rate``, strongly
    # dependent on the driver, always in [0, 2 rate].
    prob = 2.0 * rate / (1.0 + np.exp(-2.0 * z))
    mask = np.zeros((n_samples, n_features), dtype=bool)
    for j in columns:
        mask[:, j] = rng.uniform(size=n_samples) < prob
    return mask


def distinct_patterns_mask(rng, n_samples, n_features, rate):
    """Cell-wise MCAR mask in which every row has its own pattern.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_samples, n_features : int
        ``2 ** n_features`` must be much larger than ``n_samples``.
    rate : float

    Returns
    -------
    mask : ndarray of bool, shape (n_samples, n_features)
    """
    mask = mcar_mask(rng, n_samples, n_features, rate)
    while True:
        seen, duplicates = set(), []
        for i, row in enumerate(mask):
            key = row.tobytes()
            if key in seen:
                duplicates.append(i)
            seen.add(key)
        if not duplicates:
            return mask
        mask[duplicates] = mcar_mask(rng, len(duplicates), n_features, rate)


# ---------------------------------------------------------------- the E-step


@dataclass
class ReferenceEStep:
    """The E-step computed row by row.

    Attributes
    ----------
    log_density : ndarray of shape (n_samples, n_components)
        ``log N(x_O; mu_O, S_OO)``, 0 where nothing is observed.
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_O)``, 0 where nothing is observed.
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities (the weights where nothing is observed).
    cond_means : list of ndarray of shape (n_components, r_i)
        Conditional means of each row's missing part (absolute, not shifted).
    cond_covs : list of ndarray of shape (n_components, r_i, r_i)
        Conditional covariances of each row's missing part.
    """

    log_density: np.ndarray
    log_prob_norm: np.ndarray
    resp: np.ndarray
    cond_means: list
    cond_covs: list


def reference_e_step(X, mask, params):
    """Per-row E-step with scipy densities and explicit inverses.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mask : ndarray of bool, shape (n_samples, n_features)
        True where missing; those entries of ``X`` are never read.
    params : MixtureParams

    Returns
    -------
    reference : ReferenceEStep
    """
    n_samples, _ = X.shape
    n_components = params.n_components
    covariances = dense_covariances(params)
    log_weights = np.log(params.weights)
    log_density = np.zeros((n_samples, n_components))
    marginals = {}
    cond_means, cond_covs = [], []
    for i in range(n_samples):
        o = np.flatnonzero(~mask[i])
        m = np.flatnonzero(mask[i])
        x_o = X[i, o]
        row_means = np.empty((n_components, len(m)))
        row_covs = np.empty((n_components, len(m), len(m)))
        for k in range(n_components):
            mu, S = params.means[k], covariances[k]
            if len(o) == 0:
                row_means[k] = mu[m]
                row_covs[k] = S[np.ix_(m, m)]
                continue
            S_oo = S[np.ix_(o, o)]
            # scipy's frozen distribution of the observed part, built once
            # per (component, observed set) and evaluated on this row only.
            key = (k, o.tobytes())
            if key not in marginals:
                marginals[key] = stats.multivariate_normal(mu[o], S_oo)
            log_density[i, k] = marginals[key].logpdf(x_o)
            inv_oo = np.linalg.inv(S_oo)
            S_mo = S[np.ix_(m, o)]
            row_means[k] = mu[m] + S_mo @ inv_oo @ (x_o - mu[o])
            row_covs[k] = S[np.ix_(m, m)] - S_mo @ inv_oo @ S_mo.T
        cond_means.append(row_means)
        cond_covs.append(row_covs)
    # Responsibilities: log-sum-exp over the components of each row (one
    # call for all rows; the rows are independent).
    weighted = log_weights + log_density
    norm = logsumexp(weighted, axis=1)
    resp = np.exp(weighted - norm[:, np.newaxis])
    log_prob_norm = np.where(mask.all(axis=1), 0.0, norm)
    return ReferenceEStep(log_density, log_prob_norm, resp, cond_means, cond_covs)


def reference_stats(X, mask, params, shift, reference=None):
    """Expected sufficient statistics, row by row, around ``shift``.

    Rows with nothing observed are left out (they carry no information and
    the engine documents that it skips them).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mask : ndarray of bool, shape (n_samples, n_features)
    params : MixtureParams
    shift : ndarray of shape (n_features,) or (n_components, n_features)
        One centre for all components, or one per component.
    reference : ReferenceEStep, default=None
        Reuse an E-step already computed by :func:`reference_e_step`.

    Returns
    -------
    nk : ndarray of shape (n_components,)
        ``sum_i r_ik``.
    s1 : ndarray of shape (n_components, n_features)
        ``sum_i r_ik (xhat_ik - shift_k)``.
    s2 : ndarray of shape (n_components, n_features, n_features)
        ``sum_i r_ik ((xhat_ik - shift_k)(xhat_ik - shift_k)^T + C_ik)`` with
        ``C_ik`` the conditional covariance embedded in the missing block.
    """
    if reference is None:
        reference = reference_e_step(X, mask, params)
    n_samples, n_features = X.shape
    n_components = params.n_components
    shift = np.broadcast_to(shift, (n_components, n_features))
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = np.zeros((n_components, n_features, n_features))
    for i in range(n_samples):
        m = np.flatnonzero(mask[i])
        if len(m) == n_features:
            continue
        for k in range(n_components):
            r = reference.resp[i, k]
            xhat = X[i].copy()
            xhat[m] = reference.cond_means[i][k]
            centred = xhat - shift[k]
            C = np.zeros((n_features, n_features))
            C[np.ix_(m, m)] = reference.cond_covs[i][k]
            nk[k] += r
            s1[k] += r * centred
            s2[k] += r * (np.outer(centred, centred) + C)
    return nk, s1, s2


def reference_log_likelihood(X, mask, params):
    """Observed-data log-likelihood, row by row.

    ``sum_i logsumexp_k(log pi_k + log N(x_iO; mu_kO, S_kOO))`` over the
    rows with at least one observed entry.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mask : ndarray of bool, shape (n_samples, n_features)
    params : MixtureParams

    Returns
    -------
    log_likelihood : float
    """
    return float(reference_e_step(X, mask, params).log_prob_norm.sum())


# ------------------------------------------- likelihood by pattern, gradient


def pattern_rows(mask):
    """Rows grouped by missingness pattern, with a plain dictionary.

    Parameters
    ----------
    mask : ndarray of bool, shape (n_samples, n_features)

    Returns
    -------
    groups : list of (observed, rows)
        ``observed`` the observed columns, ``rows`` the row indices of each
        pattern with at least one observed entry.
    """
    groups = {}
    for i, row in enumerate(mask):
        groups.setdefault(tuple(row.tolist()), []).append(i)
    return [
        (np.flatnonzero(~np.array(key)), np.array(rows))
        for key, rows in groups.items()
        if not all(key)
    ]


def observed_log_likelihood(X, mask, weights, means, covariances, groups=None):
    """Observed-data log-likelihood and its gradient, pattern by pattern.

    The value is scipy's ``multivariate_normal.logpdf`` of each row's observed
    part, combined with ``logsumexp``; the gradient is the textbook one
    (Fisher's identity), written without reference to the engine:

    - ``d/dmu_k = sum_i r_ik inv(S_OO) (x_O - mu_O)`` (zero at missing),
    - ``d/dS_k = sum_i r_ik G_ik`` with ``G_ik`` the symmetric matrix
      ``-0.5 (inv(S_OO) - a a^T)``, ``a = inv(S_OO) (x_O - mu_O)``, embedded
      in the observed block, meaning ``dL = sum_k trace(G_k dS_k)``,
    - ``d/dlog pi_k = sum_i r_ik`` (treating the log-weights as free).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mask : ndarray of bool, shape (n_samples, n_features)
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
    groups : list, default=None
        Output of :func:`pattern_rows` (computed when not given).

    Returns
    -------
    value : float
    grad_log_weights : ndarray of shape (n_components,)
    grad_means : ndarray of shape (n_components, n_features)
    grad_covariances : ndarray of shape (n_components, n_features, n_features)
    """
    if groups is None:
        groups = pattern_rows(mask)
    n_components, n_features = means.shape
    log_weights = np.log(weights)
    value = 0.0
    grad_log_weights = np.zeros(n_components)
    grad_means = np.zeros((n_components, n_features))
    grad_covariances = np.zeros((n_components, n_features, n_features))
    for o, rows in groups:
        x_o = X[np.ix_(rows, o)]
        log_density = np.empty((len(rows), n_components))
        inverses = []
        for k in range(n_components):
            S_oo = covariances[k][np.ix_(o, o)]
            log_density[:, k] = np.reshape(
                stats.multivariate_normal.logpdf(x_o, means[k][o], S_oo), -1
            )
            inverses.append(np.linalg.inv(S_oo))
        weighted = log_density + log_weights
        norm = logsumexp(weighted, axis=1)
        value += norm.sum()
        resp = np.exp(weighted - norm[:, np.newaxis])
        grad_log_weights += resp.sum(axis=0)
        for k in range(n_components):
            a = (x_o - means[k][o]) @ inverses[k]
            r = resp[:, k]
            grad_means[k, o] += r @ a
            grad_covariances[k][np.ix_(o, o)] += -0.5 * (
                r.sum() * inverses[k] - (a * r[:, np.newaxis]).T @ a
            )
    return value, grad_log_weights, grad_means, grad_covariances


class UnconstrainedMixture:
    """An unconstrained parametrisation of a Gaussian mixture.

    ``theta`` holds, in order: ``K - 1`` logits of the weights (the last
    component's logit is 0; ``weights = softmax``), the ``K * d`` means, then
    the covariances: for ``full`` the lower triangle of each Cholesky factor
    with its diagonal stored as a log, for ``tied`` one such factor, for
    ``diag`` the log-variances ``(K, d)``, for ``spherical`` the
    log-variances ``(K,)``.

    Parameters
    ----------
    n_components, n_features : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    """

    def __init__(self, n_components, n_features, covariance_type):
        self.n_components = n_components
        self.n_features = n_features
        self.covariance_type = covariance_type
        self._tril = np.tril_indices(n_features)
        self._diag_in_tril = np.flatnonzero(self._tril[0] == self._tril[1])

    def _n_factors(self):
        return 1 if self.covariance_type == "tied" else self.n_components

    def pack(self, weights, means, covariances):
        """``theta`` from weights, means and covariances.

        Parameters
        ----------
        weights : ndarray of shape (n_components,)
        means : ndarray of shape (n_components, n_features)
        covariances : ndarray
            In the shape of ``covariance_type`` (as ``MixtureParams``).

        Returns
        -------
        theta : ndarray of shape (n_parameters,)
        """
        log_weights = np.log(weights)
        parts = [log_weights[:-1] - log_weights[-1], np.ravel(means)]
        kind = self.covariance_type
        if kind in ("full", "tied"):
            stack = covariances[np.newaxis] if kind == "tied" else covariances
            for matrix in stack:
                lower = np.linalg.cholesky(matrix)
                entries = lower[self._tril].copy()
                entries[self._diag_in_tril] = np.log(entries[self._diag_in_tril])
                parts.append(entries)
        else:
            parts.append(np.log(np.ravel(covariances)))
        return np.concatenate(parts)

    def unpack(self, theta):
        """Weights, means, covariances (shaped as ``covariance_type``) and
        the Cholesky factors (for ``full`` and ``tied``).

        Parameters
        ----------
        theta : ndarray of shape (n_parameters,)

        Returns
        -------
        weights, means, covariances, factors : ndarray
        """
        K, d = self.n_components, self.n_features
        logits = np.append(theta[: K - 1], 0.0)
        weights = softmax(logits)
        means = theta[K - 1 : K - 1 + K * d].reshape(K, d)
        rest = theta[K - 1 + K * d :]
        kind = self.covariance_type
        factors = None
        if kind in ("full", "tied"):
            n_tril = len(self._tril[0])
            factors = np.zeros((self._n_factors(), d, d))
            for j in range(self._n_factors()):
                entries = rest[j * n_tril : (j + 1) * n_tril].copy()
                entries[self._diag_in_tril] = np.exp(entries[self._diag_in_tril])
                factors[j][self._tril] = entries
            covariances = factors @ np.swapaxes(factors, 1, 2)
            if kind == "tied":
                covariances = covariances[0]
        elif kind == "diag":
            covariances = np.exp(rest).reshape(K, d)
        else:
            covariances = np.exp(rest)
        return weights, means, covariances, factors

    def params(self, theta):
        """The parameters as a :class:`MixtureParams`."""
        weights, means, covariances, _ = self.unpack(theta)
        return MixtureParams.from_covariances(
            weights, means, covariances, self.covariance_type
        )

    def dense(self, covariances):
        """``(K, d, d)`` matrices from covariances shaped as the type."""
        kind, K, d = self.covariance_type, self.n_components, self.n_features
        if kind == "full":
            return covariances
        if kind == "tied":
            return np.repeat(covariances[np.newaxis], K, axis=0)
        if kind == "diag":
            return np.stack([np.diag(v) for v in covariances])
        return np.stack([v * np.eye(d) for v in covariances])

    def objective(self, theta, X, mask, groups=None):
        """Mean negative observed-data log-likelihood and its gradient.

        Parameters
        ----------
        theta : ndarray of shape (n_parameters,)
        X : ndarray of shape (n_samples, n_features)
        mask : ndarray of bool, shape (n_samples, n_features)
        groups : list, default=None
            Output of :func:`pattern_rows`.

        Returns
        -------
        value : float
            ``-log_likelihood / n_samples``.
        gradient : ndarray of shape (n_parameters,)
        """
        K = self.n_components
        weights, means, covariances, factors = self.unpack(theta)
        value, g_logw, g_means, g_cov = observed_log_likelihood(
            X, mask, weights, means, self.dense(covariances), groups
        )
        # weights = softmax(logits): d log pi_k / d logit_j = delta_kj - pi_j.
        g_logits = g_logw - weights * g_logw.sum()
        parts = [g_logits[: K - 1], np.ravel(g_means)]
        kind = self.covariance_type
        if kind in ("full", "tied"):
            G = g_cov.sum(axis=0, keepdims=True) if kind == "tied" else g_cov
            for g, factor in zip(G, factors, strict=True):
                # S = L L^T, G symmetric: trace(G dS) = trace(2 G L dL^T).
                grad_factor = (2.0 * g @ factor)[self._tril]
                grad_factor[self._diag_in_tril] *= np.diag(factor)
                parts.append(grad_factor)
        elif kind == "diag":
            variances = covariances
            diagonals = np.diagonal(g_cov, axis1=1, axis2=2)
            parts.append(np.ravel(diagonals * variances))
        else:
            traces = np.trace(g_cov, axis1=1, axis2=2)
            parts.append(traces * covariances)
        n_samples = X.shape[0]
        return -value / n_samples, -np.concatenate(parts) / n_samples


def finite_difference_hessian(gradient, theta, step=1e-5):
    """Hessian by central differences of an analytic gradient.

    Parameters
    ----------
    gradient : callable
        ``gradient(theta) -> ndarray of shape (n_parameters,)``.
    theta : ndarray of shape (n_parameters,)
    step : float, default=1e-5
        Truncation error ``O(step**2)``, rounding error ``O(eps / step)``:
        about 1e-10 relative for gradients of order one.

    Returns
    -------
    hessian : ndarray of shape (n_parameters, n_parameters)
        Symmetrised.
    """
    n_parameters = len(theta)
    hessian = np.empty((n_parameters, n_parameters))
    for j in range(n_parameters):
        delta = np.zeros(n_parameters)
        delta[j] = step
        hessian[:, j] = (gradient(theta + delta) - gradient(theta - delta)) / (
            2.0 * step
        )
    return 0.5 * (hessian + hessian.T)


def newton_polish(objective, theta, n_steps=2, step=1e-5):
    """Newton steps with a finite-difference Hessian, from near a minimum.

    Quasi-Newton line searches stop when the objective no longer changes in
    floating point (a relative change near ``1e-16`` means a parameter
    error near ``1e-8``); Newton steps use only the gradient, so they reach
    the gradient's own rounding level, about ``1e-15`` here.

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (value, gradient)``.
    theta : ndarray of shape (n_parameters,)
        A point close enough to a minimum for undamped Newton steps (for
        instance a quasi-Newton solution).
    n_steps : int, default=2
    step : float, default=1e-5
        Finite-difference step, see :func:`finite_difference_hessian`.

    Returns
    -------
    theta : ndarray of shape (n_parameters,)
    """

    def gradient(t):
        return objective(t)[1]

    for _ in range(n_steps):
        hessian = finite_difference_hessian(gradient, theta, step)
        theta = theta - np.linalg.solve(hessian, gradient(theta))
    return theta
