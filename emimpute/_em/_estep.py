"""E-step of a Gaussian mixture on data with missing entries.

Notation: a row ``x`` with observed coordinates ``O`` and missing ``M``;
component ``k`` with weight ``pi_k``, mean ``mu_k``, covariance ``S_k`` and
precision ``P_k = inv(S_k)``. Under the missing-at-random assumption the
likelihood of the observed data is the marginal density of ``x_O``, and the
E-step needs, for every row and component:

- the log-density of the observed part, ``log N(x_O; mu_O, S_OO)``;
- the responsibilities ``r_k = softmax_k(log pi_k + log N(x_O; ...))``;
- the conditional distribution of the missing part given the observed one,
  ``N(m, C)`` with ``m = mu_M + S_MO inv(S_OO) (x_O - mu_O)`` and
  ``C = S_MM - S_MO inv(S_OO) S_OM``.

**The precision route** (full and tied covariances). With ``z0 = x - mu``
zero-filled at the missing coordinates, ``y = P z0`` and ``L`` the Cholesky
factor of ``P_MM``:

- ``C = inv(P_MM)`` and ``m = mu_M - inv(P_MM) y_M``;
- ``(x_O - mu_O)^T inv(S_OO) (x_O - mu_O) = z0^T y - |inv(L) y_M|^2``;
- ``log det S_OO = log det S + log det P_MM``.

So a row costs one product with the full precision, as for complete data,
plus solves of size ``r = |M|`` rather than a factorisation of size ``|O|``.
``P_MM`` depends only on the pattern and the component, so it is factorised
once per (pattern, component); rows with the same number of missing entries
are processed together, their patterns' factors stacked into one batched
``numpy.linalg`` call and gathered per row, so no Python loop runs per row or
per pattern. Complete rows take the plain path ``|(x - mu) U|^2`` with the
stored precision Cholesky factor ``U``.

**Diagonal and spherical covariances** need no solves: the missing
coordinates drop out of the density, ``m = mu_M`` and ``C = diag(S_MM)``.

**Cost** per E-step, for ``n`` rows, ``d`` features, ``K`` components, ``u_r``
distinct patterns with ``r`` missing entries and ``n_r`` rows with ``r``
missing entries:

- full: ``O(n K d^2)`` for the products (the cost of complete data), plus
  ``O(sum_r u_r K r^3)`` for the factorisations and ``O(sum_r n_r K r^2)``
  for the per-row solves; tied factorises once per pattern, not per
  component; diag and spherical: ``O(n K d)``.
- memory: rows are processed in chunks, so the E-step holds
  ``O(chunk (K r + d + r^2))`` floats beyond the data, never
  ``O(n K d^2)``.

Python loops run over the distinct values of ``r`` (at most ``d + 1``), the
chunks and the components only.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from emimpute._em._covariance import (
    DENSE_TYPES,
    diagonal_variances,
    log_det_precision_cholesky,
    precisions_from_cholesky,
)
from emimpute._em._stats import SufficientStats

_LOG_2PI = np.log(2.0 * np.pi)

# Floats of scratch space per chunk; sets the number of rows per chunk.
_CHUNK_FLOATS = 2**21


@dataclass(frozen=True)
class Block:
    """A chunk of rows that all have ``r`` missing entries.

    Attributes
    ----------
    rows : ndarray of shape (n_rows,)
        Indices of the rows in the data.
    centred : ndarray of shape (n_rows, n_features)
        ``x - shift``, zero at the missing entries.
    observed : ndarray of shape (n_rows, n_features)
        1.0 where observed, 0.0 where missing.
    missing : ndarray of shape (n_rows, r)
        Missing coordinates of each row.
    row_pattern : ndarray of shape (n_rows,)
        Index of each row's pattern in ``pattern_missing``.
    pattern_missing : ndarray of shape (n_patterns, r)
        Missing coordinates of each pattern present in the chunk.
    """

    rows: np.ndarray
    centred: np.ndarray
    observed: np.ndarray
    missing: np.ndarray
    row_pattern: np.ndarray
    pattern_missing: np.ndarray

    @property
    def n_missing(self):
        return self.missing.shape[1]


@dataclass(frozen=True)
class Conditionals:
    """What one component set tells about one block.

    Attributes
    ----------
    log_density : ndarray of shape (n_rows, n_components)
        ``log N(x_O; mu_O, S_OO)`` per row and component (0 when nothing is
        observed).
    means : ndarray of shape (n_components, n_rows, r)
        Conditional means of the missing part, relative to the shift.
    covariances : ndarray of shape (n_components, n_patterns, r, r)
        Conditional covariances of the missing part, per pattern.
    """

    log_density: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def default_chunk_size(n_features, n_components):
    """Rows per chunk so that the scratch space stays near 16 MiB."""
    per_row = 6 * n_features + n_components * (n_features + 2) + n_features**2 // 4
    return max(64, _CHUNK_FLOATS // max(per_row, 1))


def mixture_mean(params):
    """The mean of the mixture, ``sum_k pi_k mu_k``."""
    return params.weights @ params.means


def iter_blocks(X, patterns, shift, chunk_size, groups=None):
    """Yield the :class:`Block` s of ``X``, group by group, chunk by chunk."""
    mask = patterns.mask
    for group in patterns.groups if groups is None else groups:
        for rows, row_pattern, pattern_missing in group.chunks(chunk_size):
            if (
                len(rows) > 1
                and rows[-1] - rows[0] == len(rows) - 1
                and np.all(np.diff(rows) == 1)
            ):
                # Contiguous rows (always so for complete data): slice, not
                # gather.
                rows_index = slice(rows[0], rows[-1] + 1)
            else:
                rows_index = rows
            centred = X[rows_index] - shift
            if group.n_missing:
                row_mask = mask[rows_index]
                centred[row_mask] = 0.0
                observed = (~row_mask).astype(float)
            else:
                observed = np.ones_like(centred)
            yield Block(
                rows=rows,
                centred=centred,
                observed=observed,
                missing=pattern_missing[row_pattern],
                row_pattern=row_pattern,
                pattern_missing=pattern_missing,
            )


class _DenseKernel:
    """Conditionals under full or tied covariances (the precision route)."""

    def __init__(self, params, shift):
        factors = params.precisions_cholesky
        if params.covariance_type == "tied":
            factors = factors[np.newaxis]
        self.shared = params.covariance_type == "tied"
        self.means = params.means - shift
        self.factors = factors
        self.precisions = precisions_from_cholesky(factors, "full")
        self.log_det = log_det_precision_cholesky(factors, "full", None)

    def _parameters(self, k):
        j = 0 if self.shared else k
        return self.means[k], self.factors[j], self.precisions[j], self.log_det[j]

    def __call__(self, block, moments=True):
        n_rows, n_features = block.centred.shape
        n_components = len(self.means)
        r = block.n_missing
        n_patterns = len(block.pattern_missing)
        log_density = np.empty((n_rows, n_components))
        means = np.empty((n_components, n_rows, r))
        covariances = np.empty((n_components, n_patterns, r, r))
        cached = None
        for k in range(n_components):
            mean, factor, precision, log_det = self._parameters(k)
            if r == 0:
                whitened = block.centred @ factor - mean @ factor
                log_density[:, k] = (
                    -0.5
                    * (
                        n_features * _LOG_2PI
                        + np.einsum("ij,ij->i", whitened, whitened)
                    )
                    + log_det
                )
                continue
            z0 = block.centred - block.observed * mean
            y = z0 @ precision
            if cached is None or not self.shared:
                cached = _missing_block_inverse(precision, block.pattern_missing)
            inverse_factor, log_det_missing, conditional_covariance = cached
            row_inverse = inverse_factor[block.row_pattern]
            y_missing = np.take_along_axis(y, block.missing, axis=1)
            v = np.matmul(row_inverse, y_missing[:, :, np.newaxis])
            if r == n_features:
                # Nothing observed: the marginal of no coordinates is 1.
                log_density[:, k] = 0.0
            else:
                maha = np.einsum("ij,ij->i", z0, y) - np.einsum("ijk,ijk->i", v, v)
                np.maximum(maha, 0.0, out=maha)
                log_density[:, k] = (
                    -0.5
                    * (
                        (n_features - r) * _LOG_2PI
                        + maha
                        + log_det_missing[block.row_pattern]
                    )
                    + log_det
                )
            if moments:
                w = np.matmul(np.swapaxes(row_inverse, 1, 2), v)[:, :, 0]
                means[k] = mean[block.missing] - w
                covariances[k] = conditional_covariance
        return Conditionals(log_density, means, covariances)


def _missing_block_inverse(precision, pattern_missing):
    """Factor ``P_MM`` for each pattern.

    Returns ``inv(L)``, ``log det P_MM`` and ``inv(P_MM) = inv(L)^T inv(L)``
    for each pattern, with ``L`` the lower Cholesky factor of ``P_MM``.
    """
    blocks = precision[
        pattern_missing[:, :, np.newaxis], pattern_missing[:, np.newaxis, :]
    ]
    lower = np.linalg.cholesky(blocks)
    log_det = 2.0 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=1)
    inverse_factor = np.linalg.inv(lower)
    return (
        inverse_factor,
        log_det,
        np.swapaxes(inverse_factor, 1, 2) @ inverse_factor,
    )


class _DiagonalKernel:
    """Conditionals under diagonal or spherical covariances."""

    def __init__(self, params, shift):
        n_features = params.means.shape[1]
        self.means = params.means - shift
        self.variances = diagonal_variances(
            params.covariances, params.covariance_type, n_features
        )
        self.precisions = 1.0 / self.variances
        self.log_variances = np.log(self.variances)

    def __call__(self, block, moments=True):
        means, precisions = self.means, self.precisions
        x, observed = block.centred, block.observed
        # sum over observed j of (x_j - mu_j)^2 / var_j, expanded so that all
        # components take one product each; x is centred, so this does not
        # cancel.
        maha = (
            (x * x) @ precisions.T
            - 2.0 * x @ (means * precisions).T
            + observed @ (means**2 * precisions).T
        )
        np.maximum(maha, 0.0, out=maha)
        n_observed = observed.sum(axis=1, keepdims=True)
        log_density = -0.5 * (
            n_observed * _LOG_2PI + observed @ self.log_variances.T + maha
        )
        r = block.n_missing
        if not moments or r == 0:
            n_components = len(means)
            empty = np.empty((n_components, len(x), r))
            return Conditionals(log_density, empty, np.empty((n_components, 0, r, r)))
        conditional_means = means[:, block.missing]
        pattern_variances = self.variances[:, block.pattern_missing]
        covariances = pattern_variances[..., np.newaxis] * np.eye(r)
        return Conditionals(log_density, conditional_means, covariances)


def make_kernel(params, shift):
    """The conditionals calculator for ``params``, centred on ``shift``."""
    if params.covariance_type in DENSE_TYPES:
        return _DenseKernel(params, shift)
    return _DiagonalKernel(params, shift)


def responsibilities(log_density, log_weights):
    """Return ``log p(x_O)`` per row and the responsibilities."""
    weighted = log_density + log_weights
    log_prob_norm = logsumexp(weighted, axis=1)
    with np.errstate(under="ignore"):
        resp = np.exp(weighted - log_prob_norm[:, np.newaxis])
    return log_prob_norm, resp


def _accumulate(block, resp, conditionals, stats):
    """Add a block's expected statistics to ``stats`` (arrays, in place)."""
    nk, s1, s2 = stats
    nk += resp.sum(axis=0)
    x = block.centred
    dense = s2.ndim == 3
    n_features = x.shape[1]
    if block.n_missing == 0:
        s1 += resp.T @ x
        if dense:
            for k in range(len(nk)):
                s2[k] += (resp[:, k, np.newaxis] * x).T @ x
        else:
            s2 += resp.T @ (x * x)
        return
    missing, pattern_missing = block.missing, block.pattern_missing
    n_patterns = len(pattern_missing)
    if dense:
        flat = (
            pattern_missing[:, :, np.newaxis] * n_features
            + pattern_missing[:, np.newaxis, :]
        ).ravel()
    for k in range(len(nk)):
        xhat = x.copy()
        np.put_along_axis(xhat, missing, conditionals.means[k], axis=1)
        weighted = resp[:, k, np.newaxis] * xhat
        s1[k] += weighted.sum(axis=0)
        # The conditional covariance of each pattern, weighted by its rows'
        # total responsibility: the term whose omission makes covariances
        # collapse (scikit-learn PR #9581).
        pattern_weight = np.bincount(
            block.row_pattern, weights=resp[:, k], minlength=n_patterns
        )
        weighted_cov = (
            pattern_weight[:, np.newaxis, np.newaxis] * (conditionals.covariances[k])
        )
        if dense:
            s2[k] += weighted.T @ xhat
            s2[k] += np.bincount(
                flat, weights=weighted_cov.ravel(), minlength=n_features**2
            ).reshape(n_features, n_features)
        else:
            s2[k] += (weighted * xhat).sum(axis=0)
            s2[k] += np.bincount(
                pattern_missing.ravel(),
                weights=np.diagonal(weighted_cov, axis1=1, axis2=2).ravel(),
                minlength=n_features,
            )


def e_step(X, patterns, params, *, chunk_size=None):
    """Expected sufficient statistics and observed-data log-likelihood.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, NaN where missing (the entries flagged in ``patterns.mask`` are
        never read).
    patterns : MissingPatterns
        Missingness structure of ``X``.
    params : MixtureParams
        Current parameters.
    chunk_size : int, default=None
        Rows per chunk; ``None`` bounds the scratch space to about 16 MiB.

    Returns
    -------
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_O)`` per row; 0 for rows with nothing observed.
    stats : SufficientStats
        Summed over the rows with at least one observed entry.
    """
    n_samples, n_features = X.shape
    n_components = params.n_components
    shift = mixture_mean(params)
    if chunk_size is None:
        chunk_size = default_chunk_size(n_features, n_components)
    dense = params.covariance_type in DENSE_TYPES
    stats = SufficientStats.zeros(n_components, n_features, dense=dense, shift=shift)
    arrays = (stats.nk, stats.s1, stats.s2)
    kernel = make_kernel(params, shift)
    log_weights = np.log(params.weights)
    log_prob_norm = np.zeros(n_samples)
    for block in iter_blocks(
        X, patterns, shift, chunk_size, groups=patterns.informative_groups
    ):
        conditionals = kernel(block, moments=True)
        block_norm, resp = responsibilities(conditionals.log_density, log_weights)
        log_prob_norm[block.rows] = block_norm
        _accumulate(block, resp, conditionals, arrays)
    return log_prob_norm, stats


def complete_data_stats(X, resp, *, dense, shift):
    """Statistics of complete data ``X`` under responsibilities ``resp``."""
    n_samples, n_features = X.shape
    stats = SufficientStats.zeros(resp.shape[1], n_features, dense=dense, shift=shift)
    block = Block(
        rows=np.arange(n_samples),
        centred=X - shift,
        observed=np.ones_like(X),
        missing=np.empty((n_samples, 0), dtype=np.intp),
        row_pattern=np.zeros(n_samples, dtype=np.intp),
        pattern_missing=np.empty((1, 0), dtype=np.intp),
    )
    _accumulate(block, resp, None, (stats.nk, stats.s1, stats.s2))
    return stats


def weighted_log_prob(X, patterns, params, *, chunk_size=None):
    """``log pi_k + log N(x_O; mu_k,O, S_k,OO)`` for every row and component.

    Rows with nothing observed get ``log pi_k``.

    Returns
    -------
    weighted_log_prob : ndarray of shape (n_samples, n_components)
    """
    n_samples, n_features = X.shape
    shift = mixture_mean(params)
    if chunk_size is None:
        chunk_size = default_chunk_size(n_features, params.n_components)
    kernel = make_kernel(params, shift)
    out = np.empty((n_samples, params.n_components))
    for block in iter_blocks(
        X, patterns, shift, chunk_size, groups=patterns.informative_groups
    ):
        out[block.rows] = kernel(block, moments=False).log_density
    out[patterns.empty_rows] = 0.0
    return out + np.log(params.weights)


def observed_log_likelihood(X, patterns, params, *, chunk_size=None):
    """``log p(x_O)`` of every row: the mixture's marginal on its observed part.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
        Exactly 0 for a row with nothing observed (the marginal of no
        coordinates is 1; ``logsumexp(log weights)`` would only round to 0).
    """
    log_prob = logsumexp(
        weighted_log_prob(X, patterns, params, chunk_size=chunk_size), axis=1
    )
    log_prob[patterns.empty_rows] = 0.0
    return log_prob
