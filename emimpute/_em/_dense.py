"""The Gaussian family's kernel for full and tied covariances.

Notation: a row ``x`` with observed coordinates ``O`` and missing ``M``;
component ``k`` with mean ``mu_k``, covariance ``S_k`` and precision
``P_k = inv(S_k)``. For every row and component the kernel computes the
log-density of the observed part ``log N(x_O; mu_O, S_OO)`` and the
conditional distribution of the missing part, ``N(m, C)`` with
``m = mu_M + S_MO inv(S_OO) (x_O - mu_O)`` and ``C = S_MM - S_MO inv(S_OO)
S_OM``, by one of two routes.

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

import numpy as np

from emimpute._em._blockops import (
    batched_matvec,
    block_inverses,
    complement,
    condition_numbers,
    gather_entries,
    lower_triangles,
    pattern_blocks,
    scatter,
    scatter_symmetric,
    weighted_outer_sums,
)
from emimpute._em._forms import FULL
from emimpute._em._gaussian_block import LOG_2PI as _LOG_2PI
from emimpute._em._gaussian_block import Conditionals
from emimpute._em._stats import SufficientStats, add_complete_rows

# Above this condition number of a component's correlation matrix, the
# precision route's rounding error (about eps times the condition number,
# relative) could reach 1e-8 in a log-density, and the covariance route is
# taken instead.
_MAX_PRECISION_CONDITION = 1e7

# Above this condition number the precision route's correction
# y_M' inv(P_MM) y_M, whose rounding through the explicit inverse grows as
# eps cond^2 times the row's Mahalanobis distance (5e-7 nats at 1.6e5, 7e-4
# at 5e6, measured at 3 sd), is taken as |W y_M|^2 with W = inv(L), L L^T =
# P_MM: rounding eps cond, for two triangular products instead of one
# matrix product (16% of a compiled per-pattern E-step at d = 12, r = 4;
# the numpy kernel always takes them). Below it the inverse's rounding
# stays under 1e-10.
_MAX_INVERSE_CONDITION = 1e3


class DenseKernel:
    """Conditionals and statistics under full or tied covariances.

    Uses the precision route for rows with missing entries (see the module
    docstring) and ``|(x - mu) U|^2`` for complete rows. Work on rows with
    missing entries is vectorised over the components too: arrays carry a
    leading component axis.
    """

    moments_for_stats = True

    def __init__(self, family, shift, route="auto"):
        self.form = family.form
        self.shared = family.form.shared
        factors = self.form.stack(family.precisions_cholesky)
        covariances = self.form.stack(family.covariances)
        self.route = route
        self.shift = shift
        self.covariances = covariances
        self.means = family.means - shift
        # Statistics are accumulated around each component's current mean
        # (its offset from the block's shift), so that the one-pass
        # covariance does not cancel for a tight component far from the
        # others; tied pools all components around the common shift.
        self.centres = np.zeros_like(self.means) if self.shared else self.means
        # Where the statistics are accumulated, one array for all blocks.
        self.statistics_shift = (shift + self.centres).astype(float)
        self.factors = factors
        self.precisions = FULL.precisions(factors)
        self.log_det = FULL.log_det_cholesky(factors, None)
        conditions = condition_numbers(covariances, self.precisions)
        self.ill_conditioned = conditions > _MAX_PRECISION_CONDITION
        self.whiten_correction = _read_only(conditions > _MAX_INVERSE_CONDITION)
        n_components = len(self.means)
        # The answers of covariance_route but the conditioning one (see the
        # ill_conditioned setter), asked for every block and for its chunk
        # size: made once per kernel, read-only.
        self._forced_route = _read_only(np.full(n_components, route == "covariance"))
        self._by_size_route = _read_only(np.ones(n_components, dtype=bool))
        self.whitened_means = np.einsum(
            "kd,kde->ke",
            self.means,
            np.broadcast_to(factors, (n_components,) + factors.shape[1:]),
        )

    def evaluate(self, block, moments=True):
        """The :class:`Conditionals` of a block; moments are always computed."""
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
        if self.route != "auto":
            return self._forced_route
        # Fewer observed than missing coordinates: factoring S_OO is the
        # smaller job, and no product with the full precision is needed.
        if n_features - n_missing < n_missing:
            return self._by_size_route
        return self._conditioning_route

    @property
    def ill_conditioned(self):
        """Per matrix, whether its condition number exceeds the precision
        route's limit (ndarray of bool, one entry per covariance matrix)."""
        return self._ill_conditioned

    @ill_conditioned.setter
    def ill_conditioned(self, value):
        # What the blocks read of it, derived once (tests set it to force
        # the routes).
        self._ill_conditioned = value
        self.any_ill_conditioned = bool(np.any(value))
        self._conditioning_route = _read_only(
            np.broadcast_to(value, len(self.means)).copy()
        )

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
        covariances, log_det_missing, factors = block_inverses(
            precisions, block.pattern_missing, inverse_factor=True
        )
        if len(block.pattern_missing) != n_rows:
            row_factors = factors[..., block.row_pattern]
            log_det_missing = log_det_missing[:, block.row_pattern]
        else:
            # One row per pattern (cell-wise missingness): no gather.
            row_factors = factors
        y_missing = gather_entries(y, block.missing)
        # v = W y_M with W = inv(L), L L^T = P_MM: y_M^T inv(P_MM) y_M is
        # |v|^2 (a sum of squares: through inv(P_MM) y_M its rounding grew
        # as eps cond^2), and w = inv(P_MM) y_M = W^T v; the conditional
        # mean is mu_M - w.
        v = batched_matvec(row_factors, y_missing)
        w = batched_matvec(np.swapaxes(row_factors, 0, 1), v)
        if r == n_features:
            # Nothing observed: the marginal of no coordinates is 1.
            log_density = np.zeros(w.shape[1:])
        else:
            maha = np.einsum("knd,knd->kn", z0, y) - np.einsum("ikn,ikn->kn", v, v)
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
        pattern_observed = complement(pattern_missing, n_features)
        n_observed = pattern_observed.shape[1]
        # inv(S_OO) and log det S_OO per matrix and pattern, batch axes last.
        inverse, log_det = block_inverses(covariances, pattern_observed)
        # S_MO, gain G = S_MO inv(S_OO) and C = S_MM - G S_OM per matrix and
        # pattern, batch axes last; C symmetrised against rounding.
        cross = pattern_blocks(covariances, pattern_missing, pattern_observed)
        gain = np.einsum("mokp,oqkp->mqkp", cross, inverse)
        conditional = pattern_blocks(
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
        """The :class:`Conditionals` of complete rows: nothing conditional."""
        n_components = len(self.means)
        return Conditionals(
            self._complete_log_density(block),
            np.empty((n_components, len(block.rows), 0)),
            np.empty((n_components, len(block.pattern_missing), 0, 0)),
        )

    def _complete_log_density(self, block):
        """``log N(x_i; mu_k, S_k)`` of a block of complete rows, ``(n, K)``."""
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
        return log_density

    def statistics(self, block, resp, conditionals):
        """A block's expected statistics, as a new :class:`SufficientStats`."""
        n_components, n_features = self.means.shape
        stats = SufficientStats.zeros(
            n_components, n_features, self.form, shift=self.statistics_shift
        )
        nk, s1, s2 = stats.arrays
        if block.n_missing == 0:
            add_complete_rows(
                stats.arrays, block.centred, resp, self.centres, shared=self.shared
            )
            return stats
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
        weighted_covariances = pattern_weights[:, :, np.newaxis] * lower_triangles(
            covariances
        )
        if self.shared:
            # All the tied M-step needs is the sum over components. With
            # xbar the responsibility-weighted completion, sum_k r_k xhat_k
            # xhat_k^T = xbar xbar^T + sum_k r_k (m_k - mbar)(m_k - mbar)^T
            # on the missing block: one product instead of one per component.
            # Responsibilities sum to each row's weight w (1 without sample
            # weights); a row of weight 0 enters nothing (its completion is
            # taken as 0, not 0 / 0).
            mass = resp.sum(axis=1)[:, np.newaxis]
            mean_fill = np.einsum("nk,kni->ni", resp, conditionals.means)
            np.divide(mean_fill, mass, out=mean_fill, where=mass > 0)
            xbar = x.copy()
            xbar[row_index, missing] = mean_fill
            s1 += resp.T @ x
            s1 += scatter(
                resp.T[:, :, np.newaxis] * conditionals.means, missing, n_features
            )
            spread = np.moveaxis(conditionals.means - mean_fill, 2, 0)
            s2[0] += (xbar * mass).T @ xbar
            between = weighted_outer_sums(resp.T * spread, spread)
            s2[0] += scatter_symmetric(between.T[np.newaxis], missing, n_features)[0]
            s2[0] += scatter_symmetric(
                weighted_covariances, pattern_missing, n_features
            )[0]
            return stats
        s2 += scatter_symmetric(weighted_covariances, pattern_missing, n_features)
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
        return stats


def _read_only(array):
    """``array``, flagged read-only (it is shared between callers)."""
    array.flags.writeable = False
    return array
