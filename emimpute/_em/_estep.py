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

**The covariance route** (full and tied). Factor ``S_OO`` per pattern
instead: ``inv(S_OO)`` and ``log det S_OO`` by the same batched inverse, the
gain ``G = S_MO inv(S_OO)``, ``C = S_MM - G S_OM``, ``m = mu_M + G (x_O -
mu_O)``. It is taken

- when fewer coordinates are observed than missing (``|O| < r``): then the
  factorisation of size ``|O|`` is the smaller one and the product with the
  full precision is not needed;
- for a component whose correlation matrix has a condition number above
  ``1e7``: the precision route subtracts quantities of the size of ``z0^T P
  z0``, which for a nearly singular ``S`` are far larger than the result
  (``log p`` off by 1.2 nats at condition number 1e10), while the blocks
  ``S_OO`` of such an ``S`` are usually well conditioned. The condition
  number is that of the correlation matrix, because rescaling a feature
  changes the rounding of neither route.

**Diagonal and spherical covariances** need no solves: the missing
coordinates drop out of the density, ``m = mu_M`` and ``C = diag(S_MM)``.

**Cost** per E-step, for ``n`` rows, ``d`` features, ``K`` components, ``u_r``
distinct patterns with ``r`` missing entries and ``n_r`` rows with ``r``
missing entries:

- full, precision route: ``O(n K d^2)`` for the products (the cost of
  complete data), plus ``O(sum_r u_r K r^3)`` for the factorisations and
  ``O(sum_r n_r K r^2)`` for the per-row solves; covariance route: ``O(sum_r
  u_r K (d - r)^2 d)`` for the factorisations and gains and ``O(sum_r n_r K
  (d - r) d)`` per row; tied factorises once per pattern, not per
  component; diag and spherical: ``O(n K d)``.
- memory: rows are processed in chunks, so the E-step holds about 16 MiB
  of scratch space (``O(chunk K (d + r^2))`` floats, plus ``O(chunk K
  (d - r) d)`` on the covariance route) beyond the data, never
  ``O(n K d^2)``.

Python loops run over the distinct values of ``r`` (at most ``d + 1``), the
chunks, the two routes, the components and, inside the batched linear
algebra on small blocks, the entries of an ``r x r`` block (each step one
numpy operation over all the chunk's rows and components; see ``_linalg``),
never over rows or patterns.
"""

from dataclasses import dataclass

import numpy as np

from emimpute._em._covariance import (
    DENSE_TYPES,
    ILL_DEFINED_COVARIANCE,
    diagonal_variances,
    log_det_precision_cholesky,
    precisions_from_cholesky,
)
from emimpute._em._linalg import inverse_and_log_det
from emimpute._em._stats import SufficientStats

_LOG_2PI = np.log(2.0 * np.pi)
_EPS = np.finfo(float).eps
_NK_FLOOR = 10 * _EPS

# Floats of scratch space per chunk; sets the number of rows per chunk.
_CHUNK_FLOATS = 2**21

# Up to this many missing entries per row, products of tiny matrices run as
# a Python loop over their entries (one numpy call on a (K, rows) array per
# entry, fastest in place); above it the r^2 calls cost more than einsum.
_LOOP_MAX_ENTRIES = 8

# Above this condition number of a component's correlation matrix, the
# precision route's rounding error (about eps times the condition number,
# relative) could reach 1e-8 in a log-density, and the covariance route is
# taken instead.
_MAX_PRECISION_CONDITION = 1e7


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
    means : ndarray of shape (n_components, n_rows, r) or None
        Conditional means of the missing part, relative to the shift; None
        when the kernel was asked for densities only.
    covariances : ndarray of shape (n_components, n_patterns, r, r) or None
        Conditional covariances of the missing part, per pattern.
    deviations : ndarray of shape (n_components, n_rows, n_features) or None
        ``x - mu_k`` on the observed entries and 0 on the missing ones, when
        the kernel computed it anyway; scratch space, which ``accumulate``
        may overwrite.
    """

    log_density: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    deviations: np.ndarray = None


def _rows_per_chunk(floats_per_row):
    """Rows per chunk so that the scratch space stays near 16 MiB."""
    return max(64, _CHUNK_FLOATS // floats_per_row)


def mixture_mean(params):
    """The mean of the mixture, ``sum_k pi_k mu_k``."""
    return params.weights @ params.means


def iter_blocks(X, patterns, kernel, *, chunk_size=None, groups=None):
    """Yield the :class:`Block` s of ``X``, group by group, chunk by chunk.

    Rows are centred on ``kernel.shift``. ``chunk_size=None`` picks, per
    group, the rows whose scratch space in ``kernel`` fits a budget of about
    16 MiB.
    """
    mask = patterns.mask
    shift = kernel.shift
    for group in patterns.groups if groups is None else groups:
        size = chunk_size or _rows_per_chunk(
            kernel.floats_per_row(X.shape[1], group.n_missing)
        )
        for rows, row_pattern, pattern_missing in group.chunks(size):
            # take, not fancy indexing: several times faster for row gathers.
            centred = np.take(X, rows, axis=0)
            centred -= shift
            if group.n_missing:
                row_mask = np.take(mask, rows, axis=0)
                np.putmask(centred, row_mask, 0.0)
                observed = np.logical_not(row_mask).astype(float)
            else:
                # Complete rows: a read-only view, not a chunk-sized array of
                # ones on every E-step (the complete-row paths never read it).
                observed = np.broadcast_to(1.0, centred.shape)
            yield Block(
                rows=rows,
                centred=centred,
                observed=observed,
                missing=pattern_missing[row_pattern],
                row_pattern=row_pattern,
                pattern_missing=pattern_missing,
            )


class _DenseKernel:
    """Conditionals and statistics under full or tied covariances.

    Uses the precision route for rows with missing entries (see the module
    docstring) and ``|(x - mu) U|^2`` for complete rows. Work on rows with
    missing entries is vectorised over the components too: arrays carry a
    leading component axis.
    """

    moments_for_stats = True

    def __init__(self, params, shift, route="auto"):
        factors = params.precisions_cholesky
        covariances = params.covariances
        self.shared = params.covariance_type == "tied"
        if self.shared:
            factors = factors[np.newaxis]
            covariances = covariances[np.newaxis]
        self.route = route
        self.shift = shift
        self.covariances = covariances
        self.means = params.means - shift
        # Statistics are accumulated around each component's current mean
        # (its offset from the block's shift), so that the one-pass
        # covariance does not cancel for a tight component far from the
        # others; tied pools all components around the common shift.
        self.centres = np.zeros_like(self.means) if self.shared else self.means
        self.factors = factors
        self.precisions = precisions_from_cholesky(factors, "full")
        self.log_det = log_det_precision_cholesky(factors, "full", None)
        self.ill_conditioned = (
            condition_numbers(covariances, self.precisions) > _MAX_PRECISION_CONDITION
        )
        n_components = len(self.means)
        self.whitened_means = np.einsum(
            "kd,kde->ke",
            self.means,
            np.broadcast_to(factors, (n_components,) + factors.shape[1:]),
        )

    def __call__(self, block, moments=True):
        if block.n_missing == 0:
            return self._complete(block)
        n_rows, n_features = block.centred.shape
        n_components = len(self.means)
        r = block.n_missing
        # z0 = x - mu_k with the missing coordinates set to 0 (one
        # allocation: fresh chunk-sized temporaries cost page faults).
        z0 = np.multiply(block.observed, self.means[:, np.newaxis, :])
        np.subtract(block.centred, z0, out=z0)
        by_covariance = self.covariance_route(r, n_features)
        if by_covariance.all() or not by_covariance.any():
            route = (
                self._covariance_route if by_covariance[0] else self._precision_route
            )
            log_density, means, covariances = route(block, z0, slice(None))
        else:
            # Full covariances only (tied components share one route).
            log_density = np.empty((n_components, n_rows))
            means = np.empty((n_components, n_rows, r))
            covariances = np.empty((n_components, len(block.pattern_missing), r, r))
            for route, chosen in (
                (self._precision_route, ~by_covariance),
                (self._covariance_route, by_covariance),
            ):
                (log_density[chosen], means[chosen], covariances[chosen]) = route(
                    block, z0[chosen], chosen
                )
        # As (K, n_patterns, r, r), the layout consumers index by pattern.
        covariances = np.broadcast_to(
            covariances, (n_components, len(block.pattern_missing), r, r)
        )
        return Conditionals(np.ascontiguousarray(log_density.T), means, covariances, z0)

    def covariance_route(self, n_missing, n_features):
        """Which components take the covariance route for ``r`` missing entries.

        Returns
        -------
        by_covariance : ndarray of shape (n_components,) of bool
        """
        n_components = len(self.means)
        if self.route != "auto":
            return np.full(n_components, self.route == "covariance")
        # Fewer observed than missing coordinates: factoring S_OO is the
        # smaller job, and no product with the full precision is needed.
        if n_features - n_missing < n_missing:
            return np.ones(n_components, dtype=bool)
        return np.broadcast_to(self.ill_conditioned, n_components).copy()

    def floats_per_row(self, n_features, n_missing):
        """Scratch floats per row of a block with ``n_missing`` missing entries.

        A few ``d``-vectors per component, the ``r x r`` blocks of the
        precision route and, when the covariance route may be taken, the
        per-row inverses of ``S_OO`` and gains ``S_MO inv(S_OO)``.
        """
        n_observed = n_features - n_missing
        per_component = 3 * n_features + 2 + 2 * n_missing**2
        if n_missing and self.covariance_route(n_missing, n_features).any():
            per_component += n_observed * (n_observed + 2 * n_missing + 1)
        return 6 * n_features + len(self.means) * per_component

    def _precision_route(self, block, z0, components):
        """``(log_density, means, covariances)`` through ``P_MM``.

        ``z0`` and the results carry a leading axis over ``components``; the
        covariances a leading axis over the matrices used (1 when tied) and
        one over the block's patterns.
        """
        n_rows, n_features = block.centred.shape
        r = block.n_missing
        matrices = slice(None) if self.shared else components
        precisions = self.precisions[matrices]
        y = z0 @ precisions
        covariances, log_det_missing = _block_inverses(
            precisions, block.pattern_missing
        )
        if len(block.pattern_missing) != n_rows:
            row_covariances = covariances[..., block.row_pattern]
            log_det_missing = log_det_missing[:, block.row_pattern]
        else:
            # One row per pattern (cell-wise missingness): no gather.
            row_covariances = covariances
        y_missing = _gather_entries(y, block.missing)
        # w = inv(P_MM) y_M; the conditional mean is mu_M - w.
        w = _batched_matvec(row_covariances, y_missing)
        if r == n_features:
            # Nothing observed: the marginal of no coordinates is 1.
            log_density = np.zeros(w.shape[1:])
        else:
            maha = np.einsum("knd,knd->kn", z0, y) - np.einsum(
                "ikn,ikn->kn", y_missing, w
            )
            np.maximum(maha, 0.0, out=maha)
            log_det = self.log_det[matrices][:, np.newaxis] - 0.5 * log_det_missing
            log_density = -0.5 * ((n_features - r) * _LOG_2PI + maha) + log_det
        means = np.take(self.means[components], block.missing, axis=1) - np.moveaxis(
            w, 0, 2
        )
        return log_density, means, np.moveaxis(covariances, (0, 1), (2, 3))

    def _covariance_route(self, block, z0, components):
        """``(log_density, means, covariances)`` through ``S_OO``.

        Same layout as :meth:`_precision_route`.
        """
        n_rows, n_features = block.centred.shape
        matrices = slice(None) if self.shared else components
        covariances = self.covariances[matrices]
        pattern_missing = block.pattern_missing
        pattern_observed = _complement(pattern_missing, n_features)
        n_observed = pattern_observed.shape[1]
        # inv(S_OO) and log det S_OO per matrix and pattern, batch axes last.
        inverse, log_det = _block_inverses(covariances, pattern_observed)
        # S_MO, gain G = S_MO inv(S_OO) and C = S_MM - G S_OM per matrix and
        # pattern, batch axes last; C symmetrised against rounding.
        cross = _pattern_blocks(covariances, pattern_missing, pattern_observed)
        gain = np.einsum("mokp,oqkp->mqkp", cross, inverse)
        conditional = _pattern_blocks(
            covariances, pattern_missing, pattern_missing
        ) - np.einsum("mokp,nokp->mnkp", gain, cross)
        conditional = np.moveaxis(conditional, (0, 1), (2, 3))
        conditional = 0.5 * (conditional + np.swapaxes(conditional, -1, -2))
        row_index = np.arange(n_rows)[:, np.newaxis]
        z_observed = z0[:, row_index, pattern_observed[block.row_pattern]]
        if len(pattern_missing) != n_rows:
            gain = gain[..., block.row_pattern]
            inverse = inverse[..., block.row_pattern]
            log_det = log_det[:, block.row_pattern]
        maha = np.einsum(
            "kni,ijkn,knj->kn", z_observed, inverse, z_observed, optimize=True
        )
        np.maximum(maha, 0.0, out=maha)
        log_density = -0.5 * (n_observed * _LOG_2PI + maha + log_det)
        means = np.take(self.means[components], block.missing, axis=1) + np.einsum(
            "mokn,kno->knm", gain, z_observed
        )
        return log_density, means, conditional

    def _complete(self, block):
        x = block.centred
        n_rows, n_features = x.shape
        n_components = len(self.means)
        log_density = np.empty((n_rows, n_components))
        shared_whitened = x @ self.factors[0] if self.shared else None
        for k in range(n_components):
            j = 0 if self.shared else k
            whitened = (
                shared_whitened if self.shared else x @ self.factors[j]
            ) - self.whitened_means[k]
            log_density[:, k] = (
                -0.5
                * (n_features * _LOG_2PI + np.einsum("ij,ij->i", whitened, whitened))
                + self.log_det[j]
            )
        return Conditionals(
            log_density,
            np.empty((n_components, n_rows, 0)),
            np.empty((n_components, len(block.pattern_missing), 0, 0)),
        )

    def accumulate(self, block, resp, conditionals, stats):
        """Add a block's expected statistics to ``stats`` (arrays, in place)."""
        nk, s1, s2 = stats
        if block.n_missing == 0:
            _accumulate_complete(block.centred, resp, stats, self.centres)
            return
        nk += resp.sum(axis=0)
        x = block.centred
        n_rows, n_features = x.shape
        n_components = len(nk)
        missing, pattern_missing = block.missing, block.pattern_missing
        row_index = np.arange(n_rows)[:, np.newaxis]
        # Expected conditional covariance of the missing part, summed per
        # pattern with its rows' responsibilities: the term whose omission
        # makes covariances collapse (scikit-learn PR #9581).
        pattern_weights = np.stack(
            [
                np.bincount(block.row_pattern, resp[:, k], len(pattern_missing))
                for k in range(n_components)
            ]
        )
        covariances = conditionals.covariances
        if self.shared:
            # One conditional covariance per pattern for all components.
            pattern_weights = pattern_weights.sum(axis=0, keepdims=True)
            covariances = covariances[:1]
        weighted_covariances = pattern_weights[:, :, np.newaxis] * _lower_triangles(
            covariances
        )
        if self.shared:
            # All the tied M-step needs is the sum over components. With
            # xbar the responsibility-weighted completion, sum_k r_k xhat_k
            # xhat_k^T = xbar xbar^T + sum_k r_k (m_k - mbar)(m_k - mbar)^T
            # on the missing block: one product instead of one per component.
            mean_fill = np.einsum("nk,kni->ni", resp, conditionals.means)
            xbar = x.copy()
            xbar[row_index, missing] = mean_fill
            s1 += resp.T @ x
            s1 += _scatter(
                resp.T[:, :, np.newaxis] * conditionals.means, missing, n_features
            )
            spread = np.moveaxis(conditionals.means - mean_fill, 2, 0)
            s2[0] += xbar.T @ xbar
            between = _weighted_outer_sums(resp.T * spread, spread)
            s2[0] += _scatter_symmetric(between.T[np.newaxis], missing, n_features)[0]
            s2[0] += _scatter_symmetric(
                weighted_covariances, pattern_missing, n_features
            )[0]
            return
        s2 += _scatter_symmetric(weighted_covariances, pattern_missing, n_features)
        # xhat_k - mu_k: the observed deviations (the kernel's z0, as the
        # centres are the means), and m_k - mu_k where missing.
        deviations = conditionals.deviations
        deviations[:, row_index, missing] = conditionals.means - np.take(
            self.centres, missing, axis=1
        )
        # Scaled in place by sqrt(r): s2 is then one product of an array
        # with itself, and no second array of this size is made.
        root = np.sqrt(resp.T)
        deviations *= root[:, :, np.newaxis]
        s1 += np.matmul(root[:, np.newaxis, :], deviations)[:, 0]
        s2 += np.swapaxes(deviations, 1, 2) @ deviations


def _gather_entries(values, missing):
    """``values[k, i, missing[i, a]]`` laid out as ``(r, K, n_rows)``.

    Entries first, so that each entry is a contiguous ``(K, n_rows)`` array
    for the entry-wise products of :func:`_batched_matvec`.
    """
    n_components, n_rows, n_features = values.shape
    flat = (np.arange(n_rows) * n_features)[np.newaxis, :] + missing.T
    flat_values = values.reshape(n_components, n_rows * n_features)
    return np.moveaxis(np.take(flat_values, flat, axis=1), 0, 1)


def _batched_matvec(matrices, vectors):
    """``out[a, k, i] = sum_b matrices[a, b, k, i] vectors[b, k, i]``.

    ``matrices`` of shape ``(r, r, K or 1, n_rows)``, ``vectors`` of shape
    ``(r, K, n_rows)``: ``r^2`` multiply-adds over whole ``(K, n_rows)``
    arrays, several times faster than ``einsum`` on these tiny matrices
    (``einsum`` above ``_LOOP_MAX_ENTRIES``).
    """
    r = len(vectors)
    if r > _LOOP_MAX_ENTRIES:
        return np.einsum("abkn,bkn->akn", matrices, vectors)
    out = np.empty(vectors.shape)
    scratch = np.empty(vectors.shape[1:])
    for a in range(r):
        row = np.multiply(matrices[a, 0], vectors[0], out=out[a])
        for b in range(1, r):
            row += np.multiply(matrices[a, b], vectors[b], out=scratch)
    return out


def _scatter(values, missing, n_features):
    """Sum ``values[k, i, a]`` into ``out[k, missing[i, a]]``."""
    n_components = values.shape[0]
    positions = np.arange(n_components)[:, np.newaxis, np.newaxis] * n_features
    return np.bincount(
        (positions + missing).ravel(),
        weights=values.ravel(),
        minlength=n_components * n_features,
    ).reshape(n_components, n_features)


def _weighted_outer_sums(weighted, values):
    """Lower triangles of ``out[a, b, i] = sum_k weighted[a, k, i] values[b, k, i]``.

    For ``(r, K, n_rows)`` inputs; returns ``(r (r + 1) / 2, n_rows)``, the
    entries in ``numpy.tril_indices(r)`` order (the result is symmetric when
    ``weighted`` is ``values`` scaled per ``(k, i)``). Entry by entry over
    ``(K, n_rows)`` arrays up to ``_LOOP_MAX_ENTRIES``, ``einsum`` above.
    """
    r = len(values)
    rows, columns = np.tril_indices(r)
    if r > _LOOP_MAX_ENTRIES:
        values = np.ascontiguousarray(values)
        return np.einsum("akn,bkn->abn", weighted, values)[rows, columns]
    out = np.empty((len(rows), values.shape[2]))
    product = np.empty(values.shape[1:])
    for entry, (a, b) in enumerate(zip(rows, columns, strict=True)):
        np.multiply(weighted[a], values[b], out=product)
        product.sum(axis=0, out=out[entry])
    return out


def _lower_triangles(blocks):
    """``blocks[..., a, b]`` for ``(a, b)`` in ``numpy.tril_indices(r)``."""
    rows, columns = np.tril_indices(blocks.shape[-1])
    return blocks[..., rows, columns]


def _scatter_symmetric(lower, missing, n_features):
    """Sum symmetric blocks into ``(d, d)`` matrices at their coordinates.

    Parameters
    ----------
    lower : ndarray of shape (n_matrices, n_blocks, r (r + 1) / 2)
        Each block's lower triangle, in ``numpy.tril_indices(r)`` order.
    missing : ndarray of shape (n_blocks, r)
        The coordinates of each block.

    Returns
    -------
    out : ndarray of shape (n_matrices, d, d)
        ``sum_i B_i`` embedded at ``missing[i]``, per matrix. Only the lower
        triangles are scattered (half the work), then mirrored.
    """
    n_matrices = lower.shape[0]
    rows, columns = np.tril_indices(missing.shape[1])
    index = missing[:, rows] * n_features + missing[:, columns]
    positions = np.arange(n_matrices)[:, np.newaxis, np.newaxis] * n_features**2 + index
    half = np.bincount(
        positions.ravel(),
        weights=lower.ravel(),
        minlength=n_matrices * n_features**2,
    ).reshape(n_matrices, n_features, n_features)
    out = half + np.swapaxes(half, 1, 2)
    diagonal = np.arange(n_features)
    out[:, diagonal, diagonal] = half[:, diagonal, diagonal]
    return out


def _accumulate_complete(x, resp, stats, centres):
    """Statistics of complete rows around per-component ``centres``.

    ``s2``'s shape tells the layout: ``(K, d)`` diagonal, ``(1, d, d)``
    tied (whose centres are all zero), ``(K, d, d)`` full.
    """
    nk, s1, s2 = stats
    nk += resp.sum(axis=0)
    if s2.ndim == 3 and len(s2) == 1:
        # Tied: responsibilities sum to one over components.
        s1 += resp.T @ x
        s2[0] += x.T @ x
        return
    for k in range(len(nk)):
        deviations = x - centres[k]
        weighted = resp[:, k, np.newaxis] * deviations
        s1[k] += weighted.sum(axis=0)
        if s2.ndim == 2:
            s2[k] += (weighted * deviations).sum(axis=0)
        else:
            s2[k] += weighted.T @ deviations


def _block_inverses(matrices, pattern_index):
    """Inverse and log-determinant of each matrix's block on each pattern.

    Parameters
    ----------
    matrices : ndarray of shape (n_matrices, d, d)
        Precisions (blocks on the missing coordinates) or covariances
        (blocks on the observed ones).
    pattern_index : ndarray of shape (n_patterns, s)
        Coordinates of each pattern's block.

    Returns
    -------
    inverse : ndarray of shape (s, s, n_matrices, n_patterns)
        Batch axes last (see ``_linalg``).
    log_det : ndarray of shape (n_matrices, n_patterns)
    """
    try:
        return inverse_and_log_det(
            _pattern_blocks(matrices, pattern_index, pattern_index)
        )
    except np.linalg.LinAlgError as exc:
        raise ValueError(ILL_DEFINED_COVARIANCE) from exc


def _pattern_blocks(matrices, row_index, column_index):
    """``matrices[k, row_index[p, a], column_index[p, b]]`` as ``(a, b, k, p)``.

    One ``take`` of flat indices: several times faster than indexing with
    three broadcast index arrays.
    """
    n_matrices, n_features, _ = matrices.shape
    flat = row_index.T[:, np.newaxis, :] * n_features + column_index.T[np.newaxis]
    blocks = np.take(matrices.reshape(n_matrices, n_features**2), flat, axis=1)
    return np.moveaxis(blocks, 0, 2)


def _complement(pattern_missing, n_features):
    """The observed coordinates of each pattern, in increasing order."""
    n_patterns, n_missing = pattern_missing.shape
    is_missing = np.zeros((n_patterns, n_features), dtype=bool)
    is_missing[np.arange(n_patterns)[:, np.newaxis], pattern_missing] = True
    return np.nonzero(~is_missing)[1].reshape(n_patterns, n_features - n_missing)


def condition_numbers(covariances, precisions):
    """1-norm condition numbers of the correlation matrices.

    ``||R||_1 ||inv(R)||_1`` with ``R = D^-1 S D^-1``, ``D = sqrt(diag S)``:
    the condition number that governs rounding in the precision route, which
    is invariant to the scales of the features (rescaling a feature changes
    neither the rounding nor the result).

    Parameters
    ----------
    covariances, precisions : ndarray of shape (n_matrices, d, d)

    Returns
    -------
    condition : ndarray of shape (n_matrices,)
    """
    scale = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    outer = scale[:, :, np.newaxis] * scale[:, np.newaxis, :]
    correlation_norm = np.abs(covariances / outer).sum(axis=-2).max(axis=-1)
    inverse_norm = np.abs(precisions * outer).sum(axis=-2).max(axis=-1)
    return correlation_norm * inverse_norm


class _DiagonalKernel:
    """Conditionals and statistics under diagonal or spherical covariances.

    No solves: the missing coordinates drop out of the density, the
    conditional mean of a missing coordinate is the component's mean and its
    conditional variance the component's variance.
    """

    # accumulate reads the parameters, not the conditional moments.
    moments_for_stats = False

    def __init__(self, params, shift):
        n_features = params.means.shape[1]
        self.shift = shift
        self.means = params.means - shift
        self.centres = self.means
        self.variances = diagonal_variances(
            params.covariances, params.covariance_type, n_features
        )
        self.precisions = 1.0 / self.variances
        self.log_variances = np.log(self.variances)
        # Contiguous (d, K) operands of the expanded square: products with
        # transposed views of small matrices hit a slow path in some BLAS
        # builds.
        self._quadratic = np.ascontiguousarray(self.precisions.T)
        self._linear = np.ascontiguousarray((-2.0 * self.means * self.precisions).T)
        self._constant = np.ascontiguousarray((self.means**2 * self.precisions).T)
        self._log_variances = np.ascontiguousarray(self.log_variances.T)
        self._mean_scale = (self.means**2 * self.precisions).sum(axis=1)

    def floats_per_row(self, n_features, n_missing):
        """Scratch floats per row: a few ``d``-vectors per component."""
        return 6 * n_features + len(self.means) * (3 * n_features + 2)

    def _expansion_is_accurate(self, x):
        """Whether expanding ``(x - mu)^2 / var`` into products is accurate.

        Expanded, each term of the square carries a rounding error of about
        ``eps (x^2 + mu^2) / var`` (x and mu measured from the shift): tiny
        for ordinary data, but not for a tight component far from the shift.
        The expansion (scikit-learn's way, three matrix products for all
        components) is used when that bound is below 1e-11 in every
        component, and the direct difference (K times the memory traffic)
        otherwise.
        """
        spread = (x * x).max(axis=0)
        bound = _EPS * (self.precisions @ spread + self._mean_scale)
        return bool(np.all(bound < 1e-11))

    def _deviations(self, block):
        """``x - mu_k`` on observed entries, 0 on missing ones."""
        deviations = block.centred - self.means[:, np.newaxis, :]
        if block.n_missing:
            deviations *= block.observed
        return deviations

    def __call__(self, block, moments=True):
        x, observed = block.centred, block.observed
        r = block.n_missing
        n_features = x.shape[1]
        if r == 0:
            log_det = self.log_variances.sum(axis=1)
        else:
            log_det = observed @ self._log_variances
        deviations = None
        if self._expansion_is_accurate(x):
            maha = (x * x) @ self._quadratic + x @ self._linear
            maha += self._constant.sum(axis=0) if r == 0 else observed @ self._constant
            np.maximum(maha, 0.0, out=maha)
        else:
            deviations = self._deviations(block)
            whitened = deviations * np.sqrt(self.precisions)[:, np.newaxis, :]
            maha = np.einsum("knd,knd->nk", whitened, whitened)
        log_density = -0.5 * ((n_features - r) * _LOG_2PI + log_det + maha)
        if not moments:
            return Conditionals(log_density, None, None, deviations)
        conditional_means = np.take(self.means, block.missing, axis=1)
        pattern_variances = np.take(self.variances, block.pattern_missing, axis=1)
        covariances = pattern_variances[..., np.newaxis] * np.eye(r)
        return Conditionals(log_density, conditional_means, covariances, deviations)

    def accumulate(self, block, resp, conditionals, stats):
        """Add a block's expected statistics to ``stats`` (arrays, in place).

        Around each component's mean, a missing coordinate's completion
        ``mu_kj`` deviates by 0 and adds its variance ``var_kj`` to ``s2``.
        """
        nk, s1, s2 = stats
        block_nk = resp.sum(axis=0)
        nk += block_nk
        x = block.centred
        missing_mass = resp.T @ (1.0 - block.observed) if block.n_missing else 0.0
        deviations = conditionals.deviations
        if deviations is None and self._expansion_is_accurate(x):
            # Sums around the shift by products, then moved to each
            # component's mean; exact algebra, and accurate under the same
            # bound as the expanded density.
            observed_mass = block_nk[:, np.newaxis] - missing_mass
            linear = resp.T @ x
            s1 += linear - self.means * observed_mass
            s2 += (
                resp.T @ (x * x)
                - 2.0 * self.means * linear
                + self.means**2 * observed_mass
            )
        else:
            if deviations is None:
                deviations = self._deviations(block)
            weighted = resp.T[:, :, np.newaxis] * deviations
            s1 += weighted.sum(axis=1)
            s2 += np.einsum("knd,knd->kd", weighted, deviations)
        s2 += missing_mass * self.variances


def make_kernel(params, shift, route="auto"):
    """The conditionals calculator for ``params``, centred on ``shift``.

    ``route`` ('auto', 'precision' or 'covariance') forces the route of the
    full and tied kernels, for tests; 'auto' picks per block and component
    (see the module docstring).
    """
    if params.covariance_type in DENSE_TYPES:
        return _DenseKernel(params, shift, route)
    return _DiagonalKernel(params, shift)


def responsibilities(log_density, log_weights):
    """Return ``log p(x_O)`` per row and the responsibilities.

    A log-sum-exp over the components (max first, so nothing overflows or
    underflows to a wrong result), in plain numpy: scipy's version costs more
    than the rest of a small block's E-step.
    """
    weighted = log_density + log_weights
    top = weighted.max(axis=1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        shifted = np.exp(weighted - top)
        total = shifted.sum(axis=1, keepdims=True)
        log_prob_norm = (np.log(total) + top)[:, 0]
        resp = shifted / total
    return log_prob_norm, resp


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
    kernel = make_kernel(params, shift)
    stats = SufficientStats.zeros(
        n_components,
        n_features,
        params.covariance_type,
        shift=shift + kernel.centres,
    )
    arrays = (stats.nk, stats.s1, stats.s2)
    log_weights = log_mixture_weights(params)
    log_prob_norm = np.zeros(n_samples)
    # Underflow of tiny responsibilities is benign; the caller checks that
    # the log-likelihood is finite, and says what to change if it is not.
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        for block in iter_blocks(
            X,
            patterns,
            kernel,
            chunk_size=chunk_size,
            groups=patterns.informative_groups,
        ):
            conditionals = kernel(block, moments=kernel.moments_for_stats)
            block_norm, resp = responsibilities(conditionals.log_density, log_weights)
            log_prob_norm[block.rows] = block_norm
            kernel.accumulate(block, resp, conditionals, arrays)
    return log_prob_norm, stats


def log_mixture_weights(params):
    """``log pi_k``; a zero weight gives ``-inf`` silently (an empty component)."""
    with np.errstate(divide="ignore"):
        return np.log(params.weights)


def check_finite_scores(values):
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "The model's log-density overflowed on some rows of X (values "
            "far outside the range of the training data, for instance "
            "1e200); scale the data, or remove those rows."
        )


def complete_data_stats(X, resp, *, covariance_type, chunk_size=8192):
    """Statistics of complete data ``X`` under responsibilities ``resp``.

    Accumulated around each component's weighted mean (two passes, as
    scikit-learn does), or around the overall mean for 'tied', in row chunks
    so that no temporary of the size of ``X`` is made.
    """
    n_samples, n_features = X.shape
    n_components = resp.shape[1]
    shift = X.mean(axis=0)
    chunks = [slice(i, i + chunk_size) for i in range(0, n_samples, chunk_size)]
    centres = np.zeros((n_components, n_features))
    if covariance_type != "tied":
        for rows in chunks:
            centres += resp[rows].T @ (X[rows] - shift)
        centres /= resp.sum(axis=0)[:, np.newaxis] + _NK_FLOOR
    stats = SufficientStats.zeros(
        n_components, n_features, covariance_type, shift=shift + centres
    )
    arrays = (stats.nk, stats.s1, stats.s2)
    for rows in chunks:
        _accumulate_complete(X[rows] - shift, resp[rows], arrays, centres)
    return stats


def weighted_log_prob(X, patterns, params, *, chunk_size=None):
    """``log pi_k + log N(x_O; mu_k,O, S_k,OO)`` for every row and component.

    Rows with nothing observed get ``log pi_k``.

    Returns
    -------
    weighted_log_prob : ndarray of shape (n_samples, n_components)

    Raises
    ------
    ValueError
        If a row's log-density overflows (a row far outside the data).
    """
    n_samples, n_features = X.shape
    shift = mixture_mean(params)
    kernel = make_kernel(params, shift)
    out = np.empty((n_samples, params.n_components))
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        for block in iter_blocks(
            X,
            patterns,
            kernel,
            chunk_size=chunk_size,
            groups=patterns.informative_groups,
        ):
            out[block.rows] = kernel(block, moments=False).log_density
    out[patterns.empty_rows] = 0.0
    check_finite_scores(out)
    return out + log_mixture_weights(params)


def posterior(X, patterns, params, *, chunk_size=None):
    """``log p(x_O)`` of every row and the component responsibilities.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
        The mixture's marginal density on each row's observed part; exactly
        0 for a row with nothing observed (the marginal of no coordinates is
        1; the log-sum-exp of the log weights would only round to 0).
    resp : ndarray of shape (n_samples, n_components)
        Rows sum to 1; ``weights`` for a row with nothing observed.
    """
    weighted = weighted_log_prob(X, patterns, params, chunk_size=chunk_size)
    log_prob, resp = responsibilities(weighted, 0.0)
    log_prob[patterns.empty_rows] = 0.0
    return log_prob, resp
