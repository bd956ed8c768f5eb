"""The fused E-step for full and tied covariances, on rows with missing entries.

The arithmetic is that of ``_dense`` (read its docstring for the notation and
the two routes), reorganised so that nothing of size ``(K, rows, r, r)`` is
ever made:

- **in BLAS**, per matrix ``j`` (a component's precision, or the tied one),
  the product ``X0 P_j`` of the zero-filled rows with the full precision
  (``O(n d^2)``, the cost of complete data) and, in the statistics, the
  products ``D_k^T D_k`` of the completed, responsibility-scaled deviations;
- **compiled** (numba, ``_fused``), row by row and component by component,
  parallel over row tasks: the ``O(d + r^2)`` corrections that turn the
  product into ``y = P (x0 - mu + mu_M)`` on the missing coordinates and the
  Mahalanobis term, the Cholesky factor of ``P_MM`` (precision route) or of
  ``S_OO`` (covariance route), the solves, the log-density and the
  conditional mean; then, in the statistics, the completed deviations and the
  conditional covariance ``C = inv(P_MM)`` (or ``S_MM - S_MO inv(S_OO)
  S_OM``), added with its rows' responsibilities straight into ``s2``.

Rows of a chunk are sorted by pattern, so each factorisation is made once per
run of rows that share a pattern and component, and each conditional
covariance added once per run with the run's summed responsibilities: with
few patterns the per-row work is the two triangular solves.

**Cost** per E-step on ``n_r`` rows with ``r`` missing entries (``q = d -
r`` observed), ``u_r`` runs of a pattern, ``K`` components: ``O(n_r K d^2)``
in BLAS; compiled, ``O(n_r K (d + r^2))`` plus ``O(u_r K r^3)`` on the
precision route, ``O(n_r K q^2 + u_r K (q^3 + q^2 r + q r^2))`` on the
covariance route (tied: one factorisation per run, not per component).
Memory beyond ``_dense``'s chunk: ``O(rows K (d + r))`` floats, and per
thread ``O(K d^2)`` accumulators and ``O(K max(r, q)^2)`` scratch.
"""

import numpy as np

from emimpute._em._dense import DenseKernel
from emimpute._em._forms import ILL_DEFINED_COVARIANCE
from emimpute._em._fused import (
    backward_solve,
    cholesky,
    forward_solve,
    inverse_from_cholesky,
    jit,
    log_det_from_cholesky,
    n_tasks,
    prange,
)
from emimpute._em._gaussian_block import LOG_2PI, FusedConditionals
from emimpute._em._stats import SufficientStats


class FusedDenseKernel(DenseKernel):
    """:class:`~emimpute._em._dense.DenseKernel` with compiled rows with holes.

    Complete rows and the conditional moments asked by imputation take the
    numpy kernel's paths; the E-step's log-densities and statistics on rows
    with missing entries take the fused one.
    """

    def __init__(self, family, shift, route="auto"):
        super().__init__(family, shift, route)
        n_components = len(self.means)
        matrices = np.broadcast_to(
            self.precisions, (n_components,) + self.precisions.shape[1:]
        )
        # P_j mu_k: subtracted from the product X0 P_j to give P_j (x0 - mu_k).
        self.precision_means = np.einsum("kd,kde->ke", self.means, matrices)
        self.log_det_cholesky = np.ascontiguousarray(
            np.broadcast_to(self.log_det, (len(self.precisions),))
        )

    def evaluate(self, block, moments=True):
        if moments or block.n_missing == 0:
            return super().evaluate(block, moments)
        x = block.centred
        n_rows, n_features = x.shape
        n_components = len(self.means)
        by_covariance = self.covariance_route(block.n_missing, n_features)
        if by_covariance.all():
            products = np.empty((len(self.precisions), 0, n_features))
        else:
            products = np.matmul(x, self.precisions)
        log_density = np.empty((n_rows, n_components))
        delta = np.empty((n_components, n_rows, block.n_missing))
        failures = _evaluate(
            x,
            block.missing,
            block.row_pattern,
            self.means,
            self.precisions,
            self.covariances,
            self.log_det_cholesky,
            by_covariance,
            products,
            self.precision_means,
            log_density,
            delta,
            n_tasks(n_rows),
        )
        if failures:
            raise ValueError(ILL_DEFINED_COVARIANCE)
        return FusedConditionals(log_density, delta)

    def statistics(self, block, resp, conditionals):
        if not isinstance(conditionals, FusedConditionals):
            return super().statistics(block, resp, conditionals)
        n_components, n_features = self.means.shape
        stats = SufficientStats.zeros(
            n_components, n_features, self.form, shift=self.statistics_shift
        )
        nk, s1, s2 = stats.arrays
        nk += np.ones(len(resp)) @ resp
        x = block.centred
        n_rows = len(x)
        tasks = n_tasks(n_rows)
        s1_parts = np.zeros((tasks, n_components, n_features))
        # Lower triangles of the summed conditional covariances, per task.
        lower_parts = np.zeros((tasks,) + s2.shape)
        by_covariance = self.covariance_route(block.n_missing, n_features)
        resp = np.ascontiguousarray(resp)
        # Completed rows (tied: the responsibility-weighted completion, whose
        # outer products plus the between-component spread of the
        # conditional means give sum_k r_k xhat_k xhat_k^T); full: each
        # component's deviations scaled by sqrt(r_k).
        filled = np.empty((len(s2), n_rows, n_features))
        failures = _statistics(
            x,
            block.missing,
            block.row_pattern,
            resp,
            self.means,
            self.precisions,
            self.covariances,
            by_covariance,
            conditionals.delta,
            filled,
            s1_parts,
            lower_parts,
            tasks,
        )
        if failures:
            raise ValueError(ILL_DEFINED_COVARIANCE)
        s1 += s1_parts.sum(axis=0)
        lower = lower_parts.sum(axis=0)
        s2 += lower + np.swapaxes(lower, 1, 2)
        diagonal = np.arange(n_features)
        s2[:, diagonal, diagonal] -= lower[:, diagonal, diagonal]
        for j, rows in enumerate(filled):
            # A product of an array with its own transpose: numpy calls syrk.
            s2[j] += rows.T @ rows
        return stats


@jit()
def _mark_pattern(row_missing, is_missing, observed):
    """Flag a pattern's missing coordinates and list its observed ones."""
    is_missing[:] = False
    for coordinate in row_missing:
        is_missing[coordinate] = True
    position = 0
    for coordinate in range(len(is_missing)):
        if not is_missing[coordinate]:
            observed[position] = coordinate
            position += 1


@jit()
def _gather(matrix, index, out):
    """``out[a, b] = matrix[index[a], index[b]]`` on the lower triangle."""
    for a in range(len(index)):
        for b in range(a + 1):
            out[a, b] = matrix[index[a], index[b]]


@jit(parallel=True)
def _evaluate(
    x,
    missing,
    row_pattern,
    means,
    precisions,
    covariances,
    log_det_cholesky,
    by_covariance,
    products,
    precision_means,
    log_density,
    delta,
    tasks,
):
    """Log-densities and conditional-mean offsets of a block; returns failures.

    ``x`` is centred and zero at the missing entries; ``products[j] = x
    P_j`` (not read when every component takes the covariance route);
    ``log_det_cholesky[j] = log det P_j / 2``.
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = n_features - n_missing
    n_components = means.shape[0]
    shared = precisions.shape[0] == 1
    size = max(n_missing, n_observed, 1)
    failures = 0
    for task in prange(tasks):
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        is_missing = np.zeros(n_features, np.bool_)
        observed = np.empty(n_observed, np.intp)
        factors = np.empty((n_components, size, size))
        log_dets = np.zeros(n_components)
        factored = np.zeros(n_components, np.bool_)
        vector = np.empty(size)
        previous = -1
        for i in range(start, stop):
            new_pattern = row_pattern[i] != previous
            previous = row_pattern[i]
            row_missing = missing[i]
            if new_pattern:
                _mark_pattern(row_missing, is_missing, observed)
            for k in range(n_components):
                j = 0 if shared else k
                factor = factors[k]
                if by_covariance[k]:
                    # Through S_OO: maha = |inv(L) z_O|^2, and the offset of
                    # the conditional mean S_MO inv(S_OO) z_O.
                    if new_pattern:
                        _gather(covariances[j], observed, factor)
                        factored[k] = cholesky(factor, n_observed)
                        if factored[k]:
                            log_dets[k] = log_det_from_cholesky(factor, n_observed)
                    if not factored[k]:
                        failures += 1
                        continue
                    for o in range(n_observed):
                        coordinate = observed[o]
                        vector[o] = x[i, coordinate] - means[k, coordinate]
                    forward_solve(factor, vector, n_observed)
                    maha = 0.0
                    for o in range(n_observed):
                        maha += vector[o] * vector[o]
                    backward_solve(factor, vector, n_observed)
                    for a in range(n_missing):
                        total = 0.0
                        for o in range(n_observed):
                            total += (
                                covariances[j, row_missing[a], observed[o]] * vector[o]
                            )
                        delta[k, i, a] = total
                    log_density[i, k] = -0.5 * (
                        n_observed * LOG_2PI + maha + log_dets[k]
                    )
                    continue
                # Through P_MM: with y0 = P_j (x0 - mu_k) from the product,
                # y = P z0 = y0 + P_{., M} mu_M and z0^T y = z0^T y0 +
                # y_M^T mu_M (P symmetric, z0 zero on M).
                if new_pattern:
                    _gather(precisions[j], row_missing, factor)
                    factored[k] = cholesky(factor, n_missing)
                    if factored[k]:
                        log_dets[k] = log_det_from_cholesky(factor, n_missing)
                if not factored[k]:
                    failures += 1
                    continue
                quadratic = 0.0
                for c in range(n_features):
                    if not is_missing[c]:
                        quadratic += (x[i, c] - means[k, c]) * (
                            products[j, i, c] - precision_means[k, c]
                        )
                for a in range(n_missing):
                    ma = row_missing[a]
                    y = products[j, i, ma] - precision_means[k, ma]
                    for b in range(n_missing):
                        y += (
                            precisions[j, ma, row_missing[b]] * means[k, row_missing[b]]
                        )
                    vector[a] = y
                    quadratic += y * means[k, ma]
                # |inv(L) y_M|^2, then w = inv(P_MM) y_M; the conditional
                # mean is mu_M - w.
                forward_solve(factor, vector, n_missing)
                correction = 0.0
                for a in range(n_missing):
                    correction += vector[a] * vector[a]
                backward_solve(factor, vector, n_missing)
                for a in range(n_missing):
                    delta[k, i, a] = -vector[a]
                if n_observed == 0:
                    # Nothing observed: the marginal of no coordinates is 1.
                    log_density[i, k] = 0.0
                else:
                    maha = max(quadratic - correction, 0.0)
                    log_density[i, k] = (
                        -0.5 * (n_observed * LOG_2PI + maha)
                        + log_det_cholesky[j]
                        - 0.5 * log_dets[k]
                    )
    return failures


@jit()
def _add_conditional_covariances(
    row_missing,
    observed,
    weights,
    precisions,
    covariances,
    by_covariance,
    factor,
    block,
    cross,
    lower,
):
    """Add ``weight_j C_j`` on the missing block of ``lower[j]``, per matrix.

    ``C_j`` is the conditional covariance of the missing part under matrix
    ``j`` (one per component, or the tied one weighted by the summed
    responsibilities); only lower triangles are written (``row_missing`` is
    increasing). Returns False if a block is not positive definite.
    """
    n_missing = len(row_missing)
    n_observed = len(observed)
    n_matrices = precisions.shape[0]
    for j in range(n_matrices):
        if n_matrices == 1:
            weight = weights.sum()
        else:
            weight = weights[j]
        # An exactly zero weight adds exactly nothing.
        if weight == 0.0:
            continue
        if not by_covariance[j]:
            _gather(precisions[j], row_missing, factor)
            if not cholesky(factor, n_missing):
                return False
            inverse_from_cholesky(factor, block, n_missing)
        else:
            # C = S_MM - B^T B with B = inv(L) S_OM, L L^T = S_OO.
            _gather(covariances[j], observed, factor)
            if not cholesky(factor, n_observed):
                return False
            for a in range(n_missing):
                for o in range(n_observed):
                    cross[o] = covariances[j, observed[o], row_missing[a]]
                forward_solve(factor, cross, n_observed)
                for o in range(n_observed):
                    factor[o, n_observed + a] = cross[o]
            for a in range(n_missing):
                for b in range(a + 1):
                    total = covariances[j, row_missing[a], row_missing[b]]
                    for o in range(n_observed):
                        total -= factor[o, n_observed + a] * factor[o, n_observed + b]
                    block[a, b] = total
        for a in range(n_missing):
            for b in range(a + 1):
                lower[j, row_missing[a], row_missing[b]] += weight * block[a, b]
    return True


@jit(parallel=True)
def _statistics(
    x,
    missing,
    row_pattern,
    resp,
    means,
    precisions,
    covariances,
    by_covariance,
    delta,
    filled,
    s1_parts,
    lower_parts,
    tasks,
):
    """A block's statistics but the BLAS products; returns failures.

    Full (one matrix per component): ``filled[k, i] = sqrt(r_ik) (xhat_ik -
    mu_k)``, and ``s1[k] += r_ik (xhat_ik - mu_k)``. Tied (centres 0):
    ``filled[0, i] = sum_k r_ik xhat_ik`` and ``s1[k] += r_ik xhat_ik``,
    plus the between-component spread ``sum_k r_ik (m_k - mbar)(m_k -
    mbar)^T`` on the missing block. Both add the conditional covariances,
    weighted, into ``lower_parts`` (lower triangles, per task).
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = n_features - n_missing
    n_components = means.shape[0]
    shared = precisions.shape[0] == 1
    failures = 0
    for task in prange(tasks):
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        s1 = s1_parts[task]
        lower = lower_parts[task]
        is_missing = np.zeros(n_features, np.bool_)
        observed = np.empty(n_observed, np.intp)
        factor = np.empty((max(n_missing, n_observed, 1), n_features))
        block = np.empty((n_missing, n_missing))
        cross = np.empty(max(n_observed, 1))
        weights = np.zeros(n_components)
        completion = np.empty(n_missing)
        previous = -1
        for i in range(start, stop):
            row_missing = missing[i]
            if row_pattern[i] != previous:
                if previous >= 0 and not _add_conditional_covariances(
                    missing[i - 1],
                    observed,
                    weights,
                    precisions,
                    covariances,
                    by_covariance,
                    factor,
                    block,
                    cross,
                    lower,
                ):
                    failures += 1
                weights[:] = 0.0
                previous = row_pattern[i]
                _mark_pattern(row_missing, is_missing, observed)
            if shared:
                for c in range(n_features):
                    filled[0, i, c] = x[i, c]
                completion[:] = 0.0
            for k in range(n_components):
                rk = resp[i, k]
                weights[k] += rk
                if shared:
                    for c in range(n_features):
                        if not is_missing[c]:
                            s1[k, c] += rk * x[i, c]
                    for a in range(n_missing):
                        value = means[k, row_missing[a]] + delta[k, i, a]
                        s1[k, row_missing[a]] += rk * value
                        completion[a] += rk * value
                    continue
                root = np.sqrt(rk)
                for c in range(n_features):
                    if not is_missing[c]:
                        deviation = x[i, c] - means[k, c]
                        s1[k, c] += rk * deviation
                        filled[k, i, c] = root * deviation
                for a in range(n_missing):
                    deviation = delta[k, i, a]
                    s1[k, row_missing[a]] += rk * deviation
                    filled[k, i, row_missing[a]] = root * deviation
            if shared:
                for a in range(n_missing):
                    filled[0, i, row_missing[a]] = completion[a]
                for k in range(n_components):
                    rk = resp[i, k]
                    for a in range(n_missing):
                        spread_a = means[k, row_missing[a]] + delta[k, i, a]
                        spread_a -= completion[a]
                        for b in range(a + 1):
                            spread_b = means[k, row_missing[b]] + delta[k, i, b]
                            spread_b -= completion[b]
                            lower[0, row_missing[a], row_missing[b]] += (
                                rk * spread_a * spread_b
                            )
        if previous >= 0 and not _add_conditional_covariances(
            missing[stop - 1],
            observed,
            weights,
            precisions,
            covariances,
            by_covariance,
            factor,
            block,
            cross,
            lower,
        ):
            failures += 1
    return failures
