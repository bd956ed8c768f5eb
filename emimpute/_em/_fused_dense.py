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

With many patterns (cell-wise missingness: almost every row its own), a
block takes ``_evaluate_batched`` instead: the precision route on ``_LANES``
consecutive rows at once, their ``r x r`` blocks laid out with the row
innermost, so that each step of the factorisation, inversion and products
is one loop over the rows, which the compiler vectorises, instead of a chain
of dependent scalar operations per row.

**Cost** per E-step on ``n_r`` rows with ``r`` missing entries (``q = d -
r`` observed), ``u_r`` runs of a pattern, ``K`` components: ``O(n_r K d^2)``
in BLAS; compiled, ``O(n_r K (d + r^2))`` plus ``O(u_r K r^3)`` on the
precision route, ``O(n_r K q^2 + u_r K (q^3 + q^2 r + q r^2))`` on the
covariance route (tied: one factorisation per run, not per component);
batched, ``O(n_r K r^3)`` (``O(n_r r^3)`` tied), in vector operations over
``_LANES`` rows.
Memory beyond ``_dense``'s chunk: ``O(rows K (d + r))`` floats, and per
thread ``O(K d^2)`` accumulators and ``O(K max(r, q)^2)`` scratch.
"""

import numpy as np

from emimpute._em._dense import DenseKernel
from emimpute._em._forms import ILL_DEFINED_COVARIANCE
from emimpute._em._fused import (
    ParallelKernel,
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

# Rows factorised together by the batched kernel, the innermost loop of its
# arithmetic: one vector register of doubles on AVX-512, two on AVX2.
_LANES = 32

# Patterns per row of a block above which the batched kernel runs: there,
# sharing a factorisation between rows of one pattern saves little.
BATCHED_MIN_PATTERNS_PER_ROW = 0.5


class FusedDenseKernel(DenseKernel):
    """:class:`~emimpute._em._dense.DenseKernel` with compiled rows with holes.

    Complete rows take the numpy kernel's path; rows with missing entries
    the fused one, for the E-step (log-densities, statistics) and for
    imputation (conditional means and covariances, drawn from by
    ``_conditional_draws``).
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
        # The precisions side by side, (d, M d): the products of a block's
        # rows with all of them are one wide matrix product (several times
        # faster than M products with a (d, d) matrix, or a batched matmul),
        # laid out (rows, M, d) so that each row's products are contiguous.
        n_features = self.means.shape[1]
        self.wide_precisions = np.ascontiguousarray(
            self.precisions.transpose(1, 0, 2).reshape(n_features, -1)
        )

    def evaluate(self, block, moments=True):
        if block.n_missing == 0:
            return super().evaluate(block, moments)
        # C order, as the compiled loops are specialised for (one layout,
        # one compilation; the same bits whatever the caller's layout).
        x = np.ascontiguousarray(block.centred)
        n_rows, n_features = x.shape
        n_components = len(self.means)
        r = block.n_missing
        n_patterns = len(block.pattern_missing)
        batched = self._batched(n_patterns, n_rows)
        by_covariance = (
            np.zeros(n_components, dtype=bool)
            if batched
            else self.covariance_route(r, n_features)
        )
        # The E-step's evaluation serves its block only: into the block's
        # scratch arrays (see _blocks.BlockMemo.scratch; new ones for a block
        # made for one pass). Imputation's (moments) gets arrays of its own.
        scratch = _new_array if moments else block.scratch
        if by_covariance.all():
            products = np.empty((0, len(self.precisions), n_features))
        else:
            products = np.matmul(
                x,
                self.wide_precisions,
                out=scratch("products", (n_rows, self.wide_precisions.shape[1])),
            ).reshape(n_rows, -1, n_features)
        log_density = scratch("log_density", (n_rows, n_components))
        delta = scratch("delta", (n_components, n_rows, r))
        # Conditional covariances per pattern, or per row when batched.
        covariances = scratch(
            "covariances",
            (len(self.precisions), n_rows if batched else n_patterns, r * (r + 1) // 2),
        )
        if batched:
            row_pattern = np.arange(n_rows, dtype=np.intp)
            failures = _evaluate_batched(
                x,
                block.missing,
                self.means,
                self.precisions,
                self.log_det_cholesky,
                products,
                self.precision_means,
                log_density,
                delta,
                covariances,
                _LANES,
                n_tasks(n_rows, n_components * (n_features + r * r) + r**3 // _LANES),
            )
        else:
            row_pattern = None
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
                covariances,
                n_tasks(n_rows, n_components * (n_features + 2 * r * r) + r**3),
            )
        if failures:
            raise ValueError(ILL_DEFINED_COVARIANCE)
        means = None
        if moments:
            # For imputation: the conditional means, relative to the shift.
            means = delta + np.take(self.means, block.missing, axis=1)
        return FusedConditionals(log_density, delta, covariances, row_pattern, means)

    def _batched(self, n_patterns, n_rows):
        """Whether a block takes :func:`_evaluate_batched`.

        When most rows have a pattern of their own (cell-wise missingness),
        factorising per pattern is factorising per row, and the batched
        kernel does it for ``_LANES`` rows at once. It takes the precision
        route, so not where the route is forced to the covariance or a
        component is ill-conditioned for it (see ``_dense``).
        """
        return (
            self.route != "covariance"
            and not self.any_ill_conditioned
            and n_patterns >= BATCHED_MIN_PATTERNS_PER_ROW * n_rows
        )

    def statistics(self, block, resp, conditionals):
        if not isinstance(conditionals, FusedConditionals):
            return super().statistics(block, resp, conditionals)
        n_components, n_features = self.means.shape
        stats = SufficientStats.zeros(
            n_components, n_features, self.form, shift=self.statistics_shift
        )
        nk, s1, s2 = stats.arrays
        nk += np.ones(len(resp)) @ resp
        x = np.ascontiguousarray(block.centred)
        n_rows = len(x)
        r = block.n_missing
        tasks = n_tasks(n_rows, n_components * (n_features + r * r))
        if tasks == 1:
            # One task's parts are the block's sums: the kernel adds them
            # into the fresh arrays themselves (the same bits as adding its
            # parts to zeros; no reductions, no arrays per block).
            s1_parts, lower_parts = s1[np.newaxis], s2[np.newaxis]
        else:
            s1_parts = np.zeros((tasks, n_components, n_features))
            # Lower triangles of the summed conditional covariances, per task.
            lower_parts = np.zeros((tasks,) + s2.shape)
        # Completed rows (tied: the responsibility-weighted completion, whose
        # outer products plus the between-component spread of the
        # conditional means give sum_k r_k xhat_k xhat_k^T); full: each
        # component's deviations scaled by sqrt(r_k).
        filled = block.scratch("filled", (len(s2), n_rows, n_features))
        row_pattern = conditionals.row_pattern
        _statistics(
            x,
            block.missing,
            block.row_pattern if row_pattern is None else row_pattern,
            np.ascontiguousarray(resp),
            self.means,
            conditionals.delta,
            conditionals.covariances,
            filled,
            s1_parts,
            lower_parts,
            tasks,
        )
        if tasks > 1:
            s1 += s1_parts.sum(axis=0)
            s2 += lower_parts.sum(axis=0)
        # s2 holds the lower triangles: mirror them (the diagonal, doubled,
        # halved back exactly; a strided view of it, not a fancy index). The
        # transpose copied first: numpy's own copy of an overlapping operand
        # costs more.
        s2 += np.swapaxes(s2, 1, 2).copy()
        s2.reshape(len(s2), -1)[:, :: n_features + 1] *= 0.5
        for j, rows in enumerate(filled):
            # A product of an array with its own transpose: numpy calls syrk.
            s2[j] += rows.T @ rows
        return stats


def _new_array(name, shape):
    """A new uninitialised float64 array (``RowBlock.scratch``'s signature)."""
    return np.empty(shape)


@jit
def _mark_pattern(missing, i, row_missing, is_missing, observed, observed_ones):
    """Row ``i``'s missing coordinates, flags, observed ones and 0/1 weights."""
    n_features = len(is_missing)
    for c in range(n_features):
        is_missing[c] = False
    for a in range(len(row_missing)):
        row_missing[a] = missing[i, a]
        is_missing[missing[i, a]] = True
    position = 0
    for c in range(n_features):
        if is_missing[c]:
            observed_ones[c] = 0.0
        else:
            observed_ones[c] = 1.0
            observed[position] = c
            position += 1


@jit
def _gather(matrices, j, index, out):
    """``out[j, a, b] = matrices[j, index[a], index[b]]``, lower triangle."""
    for a in range(len(index)):
        for b in range(a + 1):
            out[j, a, b] = matrices[j, index[a], index[b]]


@jit
def _task_rows(row_pattern, task, tasks):
    """The rows of a task: an equal share, moved to start on a new pattern.

    Every pattern's rows then belong to one task, which alone writes the
    pattern's conditional covariances.
    """
    n_rows = len(row_pattern)
    start = task * n_rows // tasks
    while 0 < start < n_rows and row_pattern[start] == row_pattern[start - 1]:
        start += 1
    stop = (task + 1) * n_rows // tasks
    while 0 < stop < n_rows and row_pattern[stop] == row_pattern[stop - 1]:
        stop += 1
    return start, stop


@jit
def _store_inverse(inverses, j, n, packed, pattern):
    """Mirror ``inverses[j, :n, :n]`` and pack its lower triangle, row by row."""
    position = 0
    for a in range(n):
        for b in range(a + 1):
            value = inverses[j, a, b]
            inverses[j, b, a] = value
            packed[j, pattern, position] = value
            position += 1


@ParallelKernel
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
    conditional_covariances,
    tasks,
):
    """Log-densities, conditional means and covariances of a block.

    ``x`` is centred and zero at the missing entries; ``products[:, j] = x
    P_j`` (not read when every matrix takes the covariance route);
    ``log_det_cholesky[j] = log det P_j / 2``. Writes ``delta[k, i]``, the
    conditional mean minus ``mu_k`` on the missing coordinates, and
    ``conditional_covariances[j, p]``, the packed lower triangle of matrix
    ``j``'s conditional covariance on pattern ``p`` (made once per pattern,
    with the factorisation). Returns the number of blocks that were not
    positive definite.
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = n_features - n_missing
    n_components = means.shape[0]
    n_matrices = precisions.shape[0]
    size = max(n_missing, n_observed, 1)
    failures = 0
    for task in prange(tasks):
        start, stop = _task_rows(row_pattern, task, tasks)
        row_missing = np.empty(n_missing, np.intp)
        is_missing = np.zeros(n_features, np.bool_)
        observed = np.empty(n_observed, np.intp)
        observed_ones = np.empty(n_features)
        # Per matrix, for the current pattern: the Cholesky factor (of S_OO,
        # kept for the rows on the covariance route), 1 / its diagonal, its
        # log-determinant, and the conditional covariance of the missing part.
        factors = np.empty((n_matrices, size, size))
        reciprocals = np.empty((n_matrices, size))
        log_dets = np.zeros(n_matrices)
        inverses = np.empty((n_matrices, n_missing, n_missing))
        missing_products = np.empty((n_components, n_missing))
        cross = np.empty((max(n_observed, 1), n_missing))
        vector = np.empty(size)
        previous = -1
        for i in range(start, stop):
            pattern = row_pattern[i]
            if pattern != previous:
                previous = pattern
                _mark_pattern(
                    missing, i, row_missing, is_missing, observed, observed_ones
                )
                for j in range(n_matrices):
                    if by_covariance[j]:
                        # C = S_MM - B^T B with B = inv(L) S_OM, L L^T = S_OO.
                        _gather(covariances, j, observed, factors)
                        if not cholesky(factors, reciprocals, j, n_observed):
                            failures += 1
                            continue
                        log_dets[j] = log_det_from_cholesky(factors, j, n_observed)
                        for a in range(n_missing):
                            for o in range(n_observed):
                                vector[o] = covariances[j, observed[o], row_missing[a]]
                            forward_solve(factors, reciprocals, j, vector, n_observed)
                            for o in range(n_observed):
                                cross[o, a] = vector[o]
                        for a in range(n_missing):
                            for b in range(a + 1):
                                total = covariances[j, row_missing[a], row_missing[b]]
                                for o in range(n_observed):
                                    total -= cross[o, a] * cross[o, b]
                                inverses[j, a, b] = total
                    else:
                        # C = inv(P_MM).
                        _gather(precisions, j, row_missing, factors)
                        if not cholesky(factors, reciprocals, j, n_missing):
                            failures += 1
                            continue
                        log_dets[j] = log_det_from_cholesky(factors, j, n_missing)
                        inverse_from_cholesky(
                            factors, reciprocals, j, inverses, n_missing
                        )
                    _store_inverse(
                        inverses, j, n_missing, conditional_covariances, pattern
                    )
                for k in range(n_components):
                    # P_MM mu_M, for the rows' y_M on the precision route.
                    j = 0 if n_matrices == 1 else k
                    for a in range(n_missing):
                        total = 0.0
                        for b in range(n_missing):
                            total += (
                                precisions[j, row_missing[a], row_missing[b]]
                                * means[k, row_missing[b]]
                            )
                        missing_products[k, a] = total
            for k in range(n_components):
                j = 0 if n_matrices == 1 else k
                if by_covariance[j]:
                    # maha = |inv(L) z_O|^2; the conditional mean's offset is
                    # S_MO inv(S_OO) z_O.
                    for o in range(n_observed):
                        vector[o] = x[i, observed[o]] - means[k, observed[o]]
                    forward_solve(factors, reciprocals, j, vector, n_observed)
                    maha = 0.0
                    for o in range(n_observed):
                        maha += vector[o] * vector[o]
                    backward_solve(factors, reciprocals, j, vector, n_observed)
                    for a in range(n_missing):
                        total = 0.0
                        for o in range(n_observed):
                            total += (
                                covariances[j, row_missing[a], observed[o]]
                                * (vector[o])
                            )
                        delta[k, i, a] = total
                    log_density[i, k] = -0.5 * (
                        n_observed * LOG_2PI + maha + log_dets[j]
                    )
                    continue
                # Through P_MM: with y0 = P_j (x0 - mu_k) from the product,
                # y = P z0 = y0 + P_{., M} mu_M and z0^T y = z0^T y0 +
                # y_M^T mu_M (P symmetric, z0 zero on M); w = C y_M, and the
                # conditional mean is mu_M - w. Branch-free over the
                # coordinates (z0 = x0 - mu * o), which the compiler
                # vectorises.
                quadratic = 0.0
                for c in range(n_features):
                    quadratic += (x[i, c] - means[k, c] * observed_ones[c]) * (
                        products[i, j, c] - precision_means[k, c]
                    )
                for a in range(n_missing):
                    ma = row_missing[a]
                    y = products[i, j, ma] - precision_means[k, ma]
                    y += missing_products[k, a]
                    vector[a] = y
                    quadratic += y * means[k, ma]
                correction = 0.0
                for a in range(n_missing):
                    total = 0.0
                    for b in range(n_missing):
                        total += inverses[j, a, b] * vector[b]
                    delta[k, i, a] = -total
                    correction += total * vector[a]
                if n_observed == 0:
                    # Nothing observed: the marginal of no coordinates is 1.
                    log_density[i, k] = 0.0
                else:
                    maha = max(quadratic - correction, 0.0)
                    log_density[i, k] = (
                        -0.5 * (n_observed * LOG_2PI + maha)
                        + log_det_cholesky[j]
                        - 0.5 * log_dets[j]
                    )
    return failures


@ParallelKernel
def _statistics(
    x,
    missing,
    row_pattern,
    resp,
    means,
    delta,
    conditional_covariances,
    filled,
    s1_parts,
    lower_parts,
    tasks,
):
    """A block's statistics but the BLAS products.

    Full (one matrix per component): ``filled[k, i] = sqrt(r_ik) (xhat_ik -
    mu_k)``, and ``s1[k] += r_ik (xhat_ik - mu_k)``. Tied (centres 0), with
    ``w_i = sum_k r_ik`` (the row's sample weight, 1 without weights) and
    ``mbar_i = sum_k r_ik xhat_ik / w_i``: ``filled[0, i] = sqrt(w_i)
    mbar_i`` and ``s1[k] += r_ik xhat_ik``, plus the between-component
    spread ``sum_k r_ik (m_k - mbar)(m_k - mbar)^T`` on the missing block.
    Both add each pattern's conditional covariances, weighted by its rows'
    summed responsibilities, into ``lower_parts`` (lower triangles, per
    task).
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_components = means.shape[0]
    n_matrices = conditional_covariances.shape[0]
    shared = n_matrices == 1
    for task in prange(tasks):
        start, stop = _task_rows(row_pattern, task, tasks)
        row_missing = np.empty(n_missing, np.intp)
        is_missing = np.zeros(n_features, np.bool_)
        observed = np.empty(n_features - n_missing, np.intp)
        observed_ones = np.empty(n_features)
        weights = np.zeros(n_matrices)
        completion = np.empty(n_missing)
        previous = -1
        for i in range(start, stop):
            pattern = row_pattern[i]
            if pattern != previous:
                previous = pattern
                _mark_pattern(
                    missing, i, row_missing, is_missing, observed, observed_ones
                )
            if shared:
                for c in range(n_features):
                    filled[0, i, c] = x[i, c]
                for a in range(n_missing):
                    completion[a] = 0.0
            for k in range(n_components):
                rk = resp[i, k]
                weights[0 if shared else k] += rk
                if shared:
                    for c in range(n_features):
                        s1_parts[task, k, c] += rk * x[i, c]
                    for a in range(n_missing):
                        value = means[k, row_missing[a]] + delta[k, i, a]
                        s1_parts[task, k, row_missing[a]] += rk * value
                        completion[a] += rk * value
                    continue
                root = np.sqrt(rk)
                # Branch-free: the missing coordinates, where x is 0, are
                # overwritten below (and their s1 terms are then exact 0s
                # corrected by the conditional-mean offsets).
                for c in range(n_features):
                    deviation = x[i, c] - means[k, c] * observed_ones[c]
                    s1_parts[task, k, c] += rk * deviation
                    filled[k, i, c] = root * deviation
                for a in range(n_missing):
                    deviation = delta[k, i, a]
                    s1_parts[task, k, row_missing[a]] += rk * deviation
                    filled[k, i, row_missing[a]] = root * deviation
            if shared:
                # The row's responsibilities sum to its weight w (1 without
                # sample weights; w > 0): the completion is sum_k r_k xhat_k
                # / w, and the row enters the scatter as sqrt(w) times it.
                mass = 0.0
                for k in range(n_components):
                    mass += resp[i, k]
                for a in range(n_missing):
                    completion[a] /= mass
                    filled[0, i, row_missing[a]] = completion[a]
                if mass != 1.0:
                    root = np.sqrt(mass)
                    for c in range(n_features):
                        filled[0, i, c] *= root
                for k in range(n_components):
                    rk = resp[i, k]
                    for a in range(n_missing):
                        spread_a = means[k, row_missing[a]] + delta[k, i, a]
                        spread_a -= completion[a]
                        for b in range(a + 1):
                            spread_b = means[k, row_missing[b]] + delta[k, i, b]
                            spread_b -= completion[b]
                            lower_parts[task, 0, row_missing[a], row_missing[b]] += (
                                rk * spread_a * spread_b
                            )
            if i + 1 == stop or row_pattern[i + 1] != pattern:
                # The end of a pattern's rows: its conditional covariances,
                # once, with the rows' summed responsibilities.
                for j in range(n_matrices):
                    position = 0
                    for a in range(n_missing):
                        for b in range(a + 1):
                            lower_parts[task, j, row_missing[a], row_missing[b]] += (
                                weights[j]
                                * conditional_covariances[j, pattern, position]
                            )
                            position += 1
                    weights[j] = 0.0


@jit
def _add_lane_products(matrices, vectors, out, n, lanes):
    """``out[a, l] += sum_b matrices[a, b, l] vectors[b, l]`` for each lane ``l``."""
    for a in range(n):
        for b in range(n):
            for lane in range(lanes):
                out[a, lane] += matrices[a, b, lane] * vectors[b, lane]


@ParallelKernel
def _evaluate_batched(
    x,
    missing,
    means,
    precisions,
    log_det_cholesky,
    products,
    precision_means,
    log_density,
    delta,
    conditional_covariances,
    lanes,
    tasks,
):
    """:func:`_evaluate` on the precision route, ``lanes`` rows at a time.

    Each row is its own pattern (``conditional_covariances[j, i]`` is row
    ``i``'s). The ``r x r`` blocks ``P_MM`` of ``lanes`` consecutive rows
    are laid out ``(a, b, lane)`` and factorised, inverted and applied with
    the lane loop innermost: the same operations as the row-by-row kernel,
    each done on ``lanes`` rows by one vector instruction, where a single
    small factorisation is a chain of dependent scalar operations. Lanes past
    the block's end factorise the identity and are not stored. Returns the
    number of blocks that were not positive definite.
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = n_features - n_missing
    n_components = means.shape[0]
    n_matrices = precisions.shape[0]
    failures = 0
    for task in prange(tasks):
        # P_MM (both triangles), its factor, then its inverse C.
        blocks = np.empty((n_missing, n_missing, lanes))
        factor = np.empty((n_missing, n_missing, lanes))
        inverse = np.empty((n_missing, n_missing, lanes))
        reciprocal = np.empty((n_missing, lanes))
        column = np.empty((n_missing, lanes))
        y = np.empty((n_missing, lanes))
        total = np.empty(lanes)
        log_det = np.empty(lanes)
        product = np.empty(lanes)
        observed_ones = np.empty((lanes, n_features))
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        for first in range(start, stop, lanes):
            size = min(lanes, stop - first)
            for lane in range(size):
                for c in range(n_features):
                    observed_ones[lane, c] = 1.0
                for a in range(n_missing):
                    observed_ones[lane, missing[first + lane, a]] = 0.0
            for j in range(n_matrices):
                # Row by row (each row's indices read once), lower triangle,
                # then mirrored.
                for lane in range(lanes):
                    i = first + lane
                    for a in range(n_missing):
                        if lane >= size:
                            for b in range(a + 1):
                                blocks[a, b, lane] = 1.0 if a == b else 0.0
                            continue
                        ma = missing[i, a]
                        for b in range(a + 1):
                            blocks[a, b, lane] = precisions[j, ma, missing[i, b]]
                for a in range(n_missing):
                    for b in range(a):
                        for lane in range(lanes):
                            blocks[b, a, lane] = blocks[a, b, lane]
                # Cholesky, lower, column by column.
                for col in range(n_missing):
                    for i in range(col, n_missing):
                        for lane in range(lanes):
                            total[lane] = blocks[i, col, lane]
                        for p in range(col):
                            for lane in range(lanes):
                                total[lane] -= factor[i, p, lane] * factor[col, p, lane]
                        if i == col:
                            for lane in range(lanes):
                                if not total[lane] > 0.0:
                                    failures += 1
                                    total[lane] = 1.0
                                factor[col, col, lane] = np.sqrt(total[lane])
                                reciprocal[col, lane] = 1.0 / factor[col, col, lane]
                        else:
                            for lane in range(lanes):
                                factor[i, col, lane] = (
                                    total[lane] * reciprocal[col, lane]
                                )
                # log det P_MM = 2 sum log L_aa: products of a few factors
                # per logarithm (see _fused.log_det_from_cholesky), each
                # checked to be in range.
                for lane in range(lanes):
                    log_det[lane] = 0.0
                    product[lane] = 1.0
                for a in range(n_missing):
                    for lane in range(lanes):
                        product[lane] *= factor[a, a, lane]
                    if a % 8 == 7 or a == n_missing - 1:
                        for lane in range(lanes):
                            if 1e-150 < product[lane] < 1e150:
                                log_det[lane] += np.log(product[lane])
                            else:
                                for b in range(a - a % 8, a + 1):
                                    log_det[lane] += np.log(factor[b, b, lane])
                            product[lane] = 1.0
                # W = inv(L), lower, into factor's strict upper triangle
                # transposed (W[i, col] at factor[col, i]); W's diagonal is
                # the reciprocals.
                for col in range(n_missing):
                    for i in range(col + 1, n_missing):
                        for lane in range(lanes):
                            total[lane] = factor[i, col, lane] * reciprocal[col, lane]
                        for p in range(col + 1, i):
                            for lane in range(lanes):
                                total[lane] += factor[i, p, lane] * factor[col, p, lane]
                        for lane in range(lanes):
                            factor[col, i, lane] = -total[lane] * reciprocal[i, lane]
                # C = W^T W (a, b: sum over p >= max(a, b) of W[p, a] W[p, b]).
                for a in range(n_missing):
                    for b in range(a + 1):
                        for lane in range(lanes):
                            if a == b:
                                total[lane] = reciprocal[a, lane] * reciprocal[a, lane]
                            else:
                                total[lane] = reciprocal[a, lane] * factor[b, a, lane]
                        for p in range(a + 1, n_missing):
                            for lane in range(lanes):
                                total[lane] += factor[a, p, lane] * factor[b, p, lane]
                        for lane in range(lanes):
                            inverse[a, b, lane] = total[lane]
                            inverse[b, a, lane] = total[lane]
                position = 0
                for a in range(n_missing):
                    for b in range(a + 1):
                        for lane in range(size):
                            conditional_covariances[j, first + lane, position] = (
                                inverse[a, b, lane]
                            )
                        position += 1
                for k in range(n_components):
                    if n_matrices > 1 and k != j:
                        continue
                    # y_M = P_{M,.} (x0 - mu) + P_MM mu_M (see _evaluate).
                    for a in range(n_missing):
                        for lane in range(size):
                            ma = missing[first + lane, a]
                            y[a, lane] = (
                                products[first + lane, j, ma] - precision_means[k, ma]
                            )
                        for lane in range(size, lanes):
                            y[a, lane] = 0.0
                    for b in range(n_missing):
                        for lane in range(size):
                            column[b, lane] = means[k, missing[first + lane, b]]
                        for lane in range(size, lanes):
                            column[b, lane] = 0.0
                    _add_lane_products(blocks, column, y, n_missing, lanes)
                    for lane in range(size):
                        i = first + lane
                        quadratic = 0.0
                        for c in range(n_features):
                            quadratic += (
                                x[i, c] - means[k, c] * observed_ones[lane, c]
                            ) * (products[i, j, c] - precision_means[k, c])
                        for a in range(n_missing):
                            quadratic += y[a, lane] * column[a, lane]
                        total[lane] = quadratic
                    # w = C y_M; the conditional mean is mu_M - w.
                    column[:] = 0.0
                    _add_lane_products(inverse, y, column, n_missing, lanes)
                    for lane in range(size):
                        i = first + lane
                        correction = 0.0
                        for a in range(n_missing):
                            delta[k, i, a] = -column[a, lane]
                            correction += column[a, lane] * y[a, lane]
                        if n_observed == 0:
                            log_density[i, k] = 0.0
                        else:
                            maha = max(total[lane] - correction, 0.0)
                            log_density[i, k] = (
                                -0.5 * (n_observed * LOG_2PI + maha)
                                + log_det_cholesky[j]
                                - log_det[lane]
                            )
    return failures
