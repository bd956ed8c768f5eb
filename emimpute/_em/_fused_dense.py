"""The fused E-step for full and tied covariances, on rows with missing entries.

The arithmetic is that of ``_dense`` (read its docstring for the notation and
the two routes), reorganised so that nothing of size ``(K, rows, r, r)`` is
ever made:

- **in BLAS**, per matrix ``j`` (a component's precision, or the tied one),
  the product ``X0 P_j`` of the zero-filled rows with the full precision
  (``O(n d^2)``, the cost of complete data) and, in the statistics, the
  products ``D_k^T D_k`` of the completed, responsibility-scaled deviations
  of the rows that weigh in component ``k`` (see ``_stats.NEGLIGIBLE_WEIGHT``;
  often one component per row, so ``n_w d^2`` in all, not ``n K d^2``);
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
innermost, so that each step of the factorisation, solves and inversion is
one loop over the rows, which the compiler vectorises, instead of a chain
of dependent scalar operations per row. There the density and conditional
mean take only the factor and two triangular solves; the inverse (twice
the factor's cost) is made in the statistics, from the factor made again
(cheaper than storing it), and only for the (row, component) pairs whose
responsibility is not negligible (often one per row). In the E-step of full
covariances (and of tied ones, whose one factor per row serves every
component), a batched block with fewer observed entries than missing ones
(``q < r``) factorises ``S_OO`` instead (``_evaluate_batched_observed``:
``q^3 / 6`` multiply-adds per row and component, no product with the
precisions; measured at 1e5 x 20, 50% MCAR, K = 5, 1 thread: the
iteration from 168-182 to 155 ms), and its statistics make the conditional
means and ``inv(S_OO)`` only where a row weighs (``_add_observed_moments``),
the conditional covariances then summed per component as ``W S - S G S``
(see ``FusedDenseKernel._add_observed_moments``): ``q^3 / 2`` multiply-adds
where the precision route's inverse took ``r^3 / 2`` (the iteration from
153 to 129-133 ms).

**Cost** per E-step on ``n_r`` rows with ``r`` missing entries (``q = d -
r`` observed), ``u_r`` runs of a pattern, ``K`` components: ``O(n_r K d^2)``
in BLAS for the products with the precisions, ``O(n_w d^2)`` for the
scatters (``n_w`` as below); compiled, ``O(n_r K (d + r^2))`` plus ``O(u_r K
r^3)`` on the precision route, ``O(n_r K q^2 + u_r K (q^3 + q^2 r + q r^2))`` on the
covariance route (tied: one factorisation per run, not per component);
batched, ``n_r K m^3 / 6`` multiply-adds for the factors in the density
plus ``n_w m^3 / 2`` to factorise again and invert in the statistics (``m
= min(r, q)``, the observed block where it is the smaller; then ``n_w (q^2
+ r q)`` more for the conditional means, and ``O(K d^3)`` per block for
the covariances' sums), ``n_w`` the
(row, component) pairs whose responsibility is above ``NEGLIGIBLE_WEIGHT``
times the component's mean over the block (and ``NEGLIGIBLE_WEIGHT^2``
times the row's weight), between ``n_r`` and ``n_r K``
(measured per row at K = 5: 1.3 at d = 20, 50% MCAR; 1.0 at d = 50, 20%,
and d = 100, 50%; one matrix, tied or ``K = 1``: ``n_r r^3 / 2``, the
inverse made with the factor), in vector operations over ``_LANES`` rows.
Memory beyond ``_dense``'s chunk: ``O(rows K (d + r))`` floats, and per
thread ``O(K d^2)`` accumulators and ``O(K max(r, q)^2)`` scratch.

**Where the batched kernel's time goes** (1 thread, 2e4 rows, K = 5,
compiled with fused multiply-adds, see ``_fused``; measured by sampling
the running kernel and by timing its pieces). At r ~ 10 (d = 20 at 50%),
per row and component about 180-190 ns in the density (``_evaluate_batched``;
200-215 ns before the gathers' unsigned indices, the four-sum quadratic and
fused multiply-adds) and 85-90 ns in the statistics' inverses
(``_add_batched_covariances``, from 100), and 30 ns in the completions
(``_statistics``, from 40; 60 from 80 at d = 50): in the density, the Cholesky
factor a quarter (more than half of it its ``r`` square roots and
divisions, vectorised over the lanes), gathering ``P_MM`` a seventh,
``y_M`` and ``P_MM mu_M`` a sixth, the solves an eighth, the O(d)
quadratic a tenth, the rest the log-determinant and the stores. These
three are two thirds of the E-step there (46-48 ms per 2e4 rows, from
53-57); BLAS's products and numpy the rest. At d = 50,
20% (r ~ 10 again), 225-235 ns (from 250-270), the O(d) quadratic a larger
share. Later (measured on blocks captured from a fit, by removing one
piece at a time): with the products transposed (the quadratic vectorised
over rows) and one logarithm per row, 145 ns at d = 20, 50%: the factor
39, gathering ``P_MM`` 23, ``P_MM mu_M`` 20, the quadratic and the
log-determinant 8 each, the solves, the gathers of ``y_M`` and the stores
the rest; 181-195 ns at d = 50, 20%. The factor there runs within 1.5x of
what its loads (two per multiply-add), square roots and divisions allow
on 256-bit vectors. Nothing there is bound by multiply-adds: fused ones took the density
within noise at r ~ 10. At r ~ 50 (d = 100 at 50%) the factorisation and
inverse are nearly all of it, at 4.5-5 multiply-adds per ns with fused
ones (4.2 without): the lane loops read two entries of the factor from
memory per multiply-add, and loads, not arithmetic, bound them (a
blocked factorisation, several rows of the factor per pass, would be the
next step). BLAS runs its products with FMA on 512-bit registers at about
80 GFLOP/s, 8x that rate, so the ratio to complete data at large ``r``
stays above the flop bound of ``bench_grid`` (which assumes equal rates).
"""

import numpy as np

from emimpute._em._dense import DenseKernel
from emimpute._em._forms import ILL_DEFINED_COVARIANCE
from emimpute._em._fused import (
    _OPTIONS,
    ParallelKernel,
    backward_solve,
    cholesky,
    forward_solve,
    inverse_from_cholesky,
    jit,
    log_det_from_cholesky,
    n_tasks,
    numba,
    prange,
)
from emimpute._em._gaussian_block import LOG_2PI, FusedConditionals
from emimpute._em._stats import (
    NEGLIGIBLE_WEIGHT,
    SufficientStats,
    negligible_floors,
)

# Rows factorised together by the batched kernel, the innermost loop of its
# arithmetic: 8 256-bit vectors of doubles, which the compiler runs 4 at a
# time (the factorisation's time per row measured within 10% from 32 to 128
# lanes at r = 10 to 50, up to 15% slower at 16; more lanes leave a longer
# partial last group on small blocks).
_LANES = 32

# Diagonal entries of a factor multiplied together per logarithm in the
# batched kernel's log-determinant: one logarithm per row and component up
# to r = 16 (a scalar call per lane, about 6 ns: two of them were 7% of the
# kernel at r ~ 10, measured). 16 entries within [1e-9, 1e9] (precisions'
# pivots within 1e+-18) cannot leave the checked range [1e-150, 1e150];
# others take a logarithm each.
_LOG_GROUP = 16

# Patterns per row of a block above which the batched kernel runs: there,
# sharing a factorisation between rows of one pattern saves little.
BATCHED_MIN_PATTERNS_PER_ROW = 0.5


class FusedDenseKernel(DenseKernel):
    """:class:`~emimpute._em._dense.DenseKernel` with compiled rows with holes.

    Rows with missing entries take the fused path, for the E-step
    (log-densities, statistics) and for imputation (conditional means and
    covariances, drawn from by ``_conditional_draws``). Complete rows take
    one wide product with the Cholesky factors and a compiled pass for
    their log-densities (:meth:`_complete_log_density`), and the fused
    statistics with nothing conditional (``r = 0``): the numpy kernel's
    arithmetic, in fewer passes.
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
        # laid out (rows, M, d) for the kernel that shares factors between
        # rows of a pattern (each row's products contiguous), (M, d, rows)
        # for the batched one (a group's rows side by side).
        n_features = self.means.shape[1]
        self.wide_precisions = np.ascontiguousarray(
            self.precisions.transpose(1, 0, 2).reshape(n_features, -1)
        )
        # C order, as the batched covariance route's gathers need.
        self.contiguous_covariances = np.ascontiguousarray(self.covariances)
        # The Cholesky factors side by side, the same way, for complete rows.
        self.wide_factors = np.ascontiguousarray(
            self.factors.transpose(1, 0, 2).reshape(n_features, -1)
        )

    def floats_per_row(self, n_features, n_missing):
        """Scratch floats per row of a block with ``n_missing`` missing entries.

        Complete rows: the numpy kernel's estimate (which covers the wide
        products, ``K d``, and the packed rows, at most ``K d``). Else what
        the fused path makes
        per row: the centred row; its products with the precisions and its
        completions (``K d`` each); the log-densities, conditional means and
        their offsets (``K (1 + 2 r)``); the packed conditional covariances
        of imputation (``r (r + 1) / 2`` per matrix); the rows' ranks. No
        ``r x r`` block per row and component, which the numpy kernel's
        estimate counts: with it, blocks were 2.3x smaller at 1e5 x 50, 20%
        MCAR, K = 5, and their fixed costs (about 0.2 ms each: the products'
        and statistics' calls, the parallel kernels' dispatch) took 8% of
        the E-step.
        """
        if n_missing == 0:
            return super().floats_per_row(n_features, n_missing)
        n_components = len(self.means)
        packed = n_missing * (n_missing + 1) // 2
        return (
            n_features
            + n_components * (2 * n_features + 2 + 2 * n_missing)
            + len(self.precisions) * packed
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
        if batched and self._observed_route(r, n_features, moments):
            return self._evaluate_observed(block, x, scratch)
        wide = self.wide_precisions
        if by_covariance.all():
            products = np.empty((0, len(self.precisions), n_features))
        elif batched:
            # Transposed, (M, d, rows): the batched kernel reads a group's
            # rows side by side (its vector lanes). BLAS is also faster in
            # this orientation (measured 1 thread: 14% at 2e3 x 50 x 250,
            # 15% at 3e3 x 20 x 100).
            products = np.matmul(
                wide.T, x.T, out=scratch("products", (wide.shape[1], n_rows))
            ).reshape(-1, n_features, n_rows)
        else:
            products = np.matmul(
                x, wide, out=scratch("products", (n_rows, wide.shape[1]))
            ).reshape(n_rows, -1, n_features)
        log_density = scratch("log_density", (n_rows, n_components))
        delta = scratch("delta", (n_components, n_rows, r))
        # Conditional covariances per pattern, or per row when batched: the
        # batched kernel makes them for imputation, and with one matrix (tied,
        # or one component), which every row weighs; else the statistics make
        # their own, where they weigh (often one component per row).
        entries = n_patterns
        if batched:
            entries = n_rows if moments or len(self.precisions) == 1 else 0
        covariances = scratch(
            "covariances", (len(self.precisions), entries, r * (r + 1) // 2)
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
                self.whiten_correction,
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

    def _complete_log_density(self, block):
        """The numpy kernel's, in one product and one compiled pass.

        ``|U_j^T (x - mu_k)|^2`` from the products of the rows with all the
        factors ``U_j`` at once (one wide product, transposed as the batched
        kernel's; numpy's path makes one per component), summed over the
        coordinates in order with the rows side by side (vectorised over
        rows: no reassociation). Measured at 1e5 x 20, K = 5, 1 thread: the
        complete rows' log-densities from 42 to 20 ms per E-step.
        """
        x = np.ascontiguousarray(block.centred)
        n_rows, n_features = x.shape
        n_components = len(self.means)
        wide = self.wide_factors
        products = np.matmul(
            wide.T, x.T, out=block.scratch("products", (wide.shape[1], n_rows))
        ).reshape(-1, n_features, n_rows)
        log_density = np.empty((n_rows, n_components))
        _whitened_log_density(
            products,
            self.whitened_means,
            self.log_det_cholesky,
            log_density,
            n_tasks(n_rows, n_components * n_features),
        )
        return log_density

    def _observed_route(self, n_missing, n_features, moments):
        """Whether a batched block factorises ``S_OO`` instead of ``P_MM``.

        Where fewer entries are observed than missing (``0 < q < r``), as
        the per-pattern kernel's covariance route: the factor costs ``q^3 /
        6`` multiply-adds per row and component instead of ``r^3 / 6``, and
        the block needs no product with the precisions. For the E-step
        (its statistics sum the conditional covariances from ``inv(S_OO)``,
        see :meth:`_add_observed_moments`); imputation, which needs each
        row's conditional covariance, keeps the precision route.
        """
        n_observed = n_features - n_missing
        return not moments and 0 < n_observed < n_missing and self.route == "auto"

    def _evaluate_observed(self, block, x, scratch):
        """A batched block's log-densities and conditional means via ``S_OO``."""
        n_rows = len(x)
        n_components = len(self.means)
        r = block.n_missing
        log_density = scratch("log_density", (n_rows, n_components))
        # The conditional means' offsets: written here with one matrix
        # (tied: the statistics read every row's), else by the statistics,
        # where the rows weigh (_add_observed_moments).
        delta = scratch("delta", (n_components, n_rows, r))
        shared = len(self.precisions) == 1
        # Each row's observed coordinates, for this kernel and the
        # statistics' (once per block).
        missing = block.missing
        observed = np.empty((n_rows, x.shape[1] - r), dtype=missing.dtype)
        _observed_coordinates(missing, observed)
        failures = _evaluate_batched_observed(
            x,
            missing,
            observed,
            self.means,
            self.contiguous_covariances,
            log_density,
            delta if shared else delta[:, :0],
            _LANES,
            n_tasks(n_rows, n_components * (x.shape[1] - r) * x.shape[1]),
        )
        if failures:
            raise ValueError(ILL_DEFINED_COVARIANCE)
        covariances = np.empty((len(self.precisions), 0, r * (r + 1) // 2))
        return FusedConditionals(
            log_density,
            delta,
            covariances,
            np.arange(n_rows, dtype=np.intp),
            observed=observed,
        )

    def _add_observed_moments(
        self, block, x, resp, floors, ranks, conditionals, lower, tasks
    ):
        """A covariance-route block's conditional moments, where rows weigh.

        With one matrix per component, writes the conditional means'
        offsets ``delta[k, i]`` of the rows that weigh in component ``k``
        (:func:`_add_observed_moments`; tied, the density kernel made every
        row's); adds the lower triangle of the summed conditional
        covariances into ``lower``. With ``F`` the selection of a row's
        observed coordinates, its conditional covariance embedded in ``d x
        d`` is ``S - S F inv(S_OO) F^T S``; summed over the rows that weigh
        in matrix ``j``, ``W_j S_j - S_j G_j S_j``, with ``W_j`` their
        summed weights (tied: each row's total) and ``G_j`` their weighted
        ``inv(S_OO)`` embedded (tied: :func:`_add_batched_covariances` on
        the covariance and the observed coordinates).
        Each row inverts its ``q x q`` block (``q^3 / 2`` multiply-adds and
        ``q (q + 1) / 2`` entries to add per row and component that weighs)
        instead of its ``r x r`` ``P_MM``, then two ``d x d`` products per
        component and block: at 1e5 x 20, 50% MCAR, K = 5, 1 thread, the
        iteration from 153 to 139 ms. The difference cancels as the
        per-pattern covariance route's ``S_MM - S_MO inv(S_OO) S_OM`` does
        (errors of order ``eps`` times the condition number of ``S_OO``;
        the batched kernels take only components below
        ``_MAX_PRECISION_CONDITION``).
        """
        n_features = self.means.shape[1]
        n_matrices = len(self.precisions)
        observed = conditionals.observed
        parts = np.zeros((tasks, n_matrices, n_features, n_features))
        if n_matrices == 1:
            # Tied: every row's conditional means were made with its
            # density; the inverses only, with the rows' summed weights.
            _add_batched_covariances(
                resp,
                observed,
                self.contiguous_covariances,
                floors,
                ranks,
                np.empty((0, 0, 0)),
                parts,
                _LANES,
                tasks,
            )
            totals = resp.sum(axis=1)
            # The rows that weigh (_weighs with one matrix).
            weights = totals[totals > floors[0]].sum(keepdims=True)
        else:
            _add_observed_moments(
                x,
                block.missing,
                observed,
                self.means,
                self.contiguous_covariances,
                resp,
                ranks,
                conditionals.delta,
                parts,
                _LANES,
                tasks,
            )
            weights = np.where(ranks >= 0, resp, 0.0).sum(axis=0)
        inverses = parts.sum(axis=0)
        inverses += np.swapaxes(inverses, 1, 2).copy()
        inverses.reshape(n_matrices, -1)[:, :: n_features + 1] *= 0.5
        covariances = self.covariances
        correction = weights[:, np.newaxis, np.newaxis] * covariances - (
            covariances @ inverses @ covariances
        )
        lower += np.tril(correction)

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
        complete = block.n_missing == 0
        if not (complete or isinstance(conditionals, FusedConditionals)):
            return super().statistics(block, resp, conditionals)
        n_components, n_features = self.means.shape
        stats = SufficientStats.zeros(
            n_components, n_features, self.form, shift=self.statistics_shift
        )
        nk, s1, s2 = stats.arrays
        nk += np.ones(len(resp)) @ resp
        resp = np.ascontiguousarray(resp)
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
        if complete:
            # Complete rows (see _complete_log_density): nothing
            # conditional, the same packing of the rows that weigh (no
            # negligible responsibility enters a product; measured at 1e5 x
            # 20, K = 5, 1 thread: 17 to 13.5 ms per E-step against numpy's
            # add_complete_rows). Each row its own entry, so that the tasks
            # split the block evenly.
            row_pattern = np.arange(n_rows)
            delta = np.empty((n_components, n_rows, 0))
            covariances = np.empty((len(self.precisions), 0, 0))
        else:
            row_pattern = conditionals.row_pattern
            delta = conditionals.delta
            covariances = conditionals.covariances
        floors = negligible_floors(nk, len(self.precisions), n_rows)
        # The completed rows that the scatter's product takes, scaled by the
        # square roots of their weights.
        if len(s2) > 1:
            # Full: each component's deviations, of the rows that weigh in
            # it (see NEGLIGIBLE_WEIGHT), packed in row order.
            ranks = np.empty((n_rows, n_components), np.intp)
            counts = _rank_weighing_rows(resp, floors, ranks)
            filled = block.scratch("filled", (len(s2), n_rows, n_features))
        elif complete:
            # One matrix, complete rows: each row once, with its weight.
            ranks = np.empty((0, 0), np.intp)
            counts = np.array([n_rows])
            filled = block.scratch("filled", (1, n_rows, n_features))
        else:
            # One matrix (tied, or one component) with missing entries: each
            # (row, component) pair that weighs, completed by that
            # component's conditional mean (sum_k r_k xhat_k xhat_k^T), in
            # one product; often 1 to 2 pairs per row. It replaced the
            # rows' average completions plus the spread of the conditional
            # means between components, K r^2 / 2 compiled multiply-adds
            # and r^2 / 2 scattered additions per row (a fifth of the
            # iteration at 1e5 x 20, 50% MCAR, K = 5).
            ranks = np.empty((n_rows, n_components), np.intp)
            counts = _rank_weighing_rows(
                resp, negligible_floors(nk, n_components, n_rows), ranks, True
            )
            filled = block.scratch("filled", (1, counts[0], n_features))
        if not complete and row_pattern is not None and covariances.shape[1] == 0:
            # The batched kernel's are made here, where they weigh (then
            # none per pattern).
            if conditionals.observed is not None:
                # The covariance route's (see _evaluate_observed).
                self._add_observed_moments(
                    block, x, resp, floors, ranks, conditionals, s2, tasks
                )
            else:
                _add_batched_covariances(
                    resp,
                    block.missing,
                    self.precisions,
                    floors,
                    ranks,
                    delta,
                    lower_parts,
                    _LANES,
                    tasks,
                )
            covariances = covariances[:, :0]
        _statistics(
            x,
            block.missing,
            block.row_pattern if row_pattern is None else row_pattern,
            resp,
            self.means,
            delta,
            covariances,
            ranks,
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
        for j, (rows, count) in enumerate(zip(filled, counts, strict=True)):
            # A product of an array with its own transpose: numpy calls syrk.
            rows = rows[:count]
            s2[j] += rows.T @ rows
        return stats


@ParallelKernel
def _whitened_log_density(products, whitened_means, log_det, log_density, tasks):
    """Log-densities of complete rows from their products with the factors.

    ``products[j, :, i] = U_j^T x_i`` (``U_j`` matrix ``j``'s Cholesky factor
    of the precision, ``x_i`` centred), ``whitened_means[k] = U_j^T mu_k``,
    ``log_det[j] = log det U_j``. Writes ``log_density[i, k] = log N(x_i;
    mu_k, S_j)``, each row's squared norm summed over the coordinates in
    order with the rows side by side (they are the compiler's vector
    lanes; no reassociation): ``O(n K d)``.
    """
    n_matrices, n_features, n_rows = products.shape
    n_components = whitened_means.shape[0]
    for task in prange(tasks):
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        total = np.empty(stop - start)
        for k in range(n_components):
            j = 0 if n_matrices == 1 else k
            for i in range(stop - start):
                total[i] = 0.0
            for c in range(n_features):
                centre = whitened_means[k, c]
                row = products[j, c, start:stop]
                for i in range(stop - start):
                    deviation = row[i] - centre
                    total[i] += deviation * deviation
            for i in range(stop - start):
                log_density[start + i, k] = (
                    -0.5 * (n_features * LOG_2PI + total[i]) + log_det[j]
                )


def _inline(function):
    """:func:`~emimpute._em._fused.jit`, inlined into its callers by numba."""
    if numba is None:  # pragma: no cover
        return function
    return numba.njit(inline="always", **_OPTIONS)(function)


def _new_array(name, shape):
    """A new uninitialised float64 array (``RowBlock.scratch``'s signature)."""
    return np.empty(shape)


@jit
def _mark_pattern(missing, i, row_missing, is_missing, observed, observed_ones):
    """Row ``i``'s missing coordinates, flags, observed ones and 0/1 weights.

    ``observed`` has room for all d coordinates; the observed ones come
    first, in order.
    """
    n_features = len(is_missing)
    for c in range(n_features):
        is_missing[c] = False
    for a in range(len(row_missing)):
        row_missing[a] = missing[i, a]
        is_missing[missing[i, a]] = True
    # Branch-free (a pattern per row, missing at random, mispredicts a
    # branch per missing entry): every coordinate is written at the next
    # place, which only an observed one then takes (``observed`` has room
    # for d entries, one more than the observed ones when one is missing).
    position = 0
    for c in range(n_features):
        flag = not is_missing[c]
        observed_ones[c] = 1.0 if flag else 0.0
        observed[position] = c
        position += flag


@jit
def _observed_coordinates(missing, observed):
    """``observed[i]``: the coordinates not in ``missing[i]``, ascending.

    Row by row with :func:`_mark_pattern` (branch-free): ``O(n_rows d)``.
    """
    n_missing, n_observed = missing.shape[1], observed.shape[1]
    n_features = n_missing + n_observed
    row_missing = np.empty(n_missing, np.intp)
    is_missing = np.zeros(n_features, np.bool_)
    row = np.empty(n_features, np.intp)
    observed_ones = np.empty(n_features)
    for i in range(missing.shape[0]):
        _mark_pattern(missing, i, row_missing, is_missing, row, observed_ones)
        for o in range(n_observed):
            observed[i, o] = row[o]


@jit
def _gather(matrices, j, index, n, out):
    """``out[j, a, b] = matrices[j, index[a], index[b]]``, lower triangle, a < n."""
    for a in range(n):
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
    whiten_correction,
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
        observed = np.empty(n_features, np.intp)
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
        whitened = np.empty(max(n_missing, 1))
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
                        _gather(covariances, j, observed, n_observed, factors)
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
                        _gather(precisions, j, row_missing, n_missing, factors)
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
                if not whiten_correction[j]:
                    # w = inv(P_MM) y_M, correction y_M^T w: exact enough at
                    # this conditioning (see _dense._MAX_INVERSE_CONDITION).
                    correction = 0.0
                    for a in range(n_missing):
                        total = 0.0
                        for b in range(n_missing):
                            total += inverses[j, a, b] * vector[b]
                        delta[k, i, a] = -total
                        correction += total * vector[a]
                else:
                    # y_M^T inv(P_MM) y_M = |W y_M|^2 and w = W^T (W y_M),
                    # W = inv(L), L L^T = P_MM, as inverse_from_cholesky left
                    # it (W^T in the factor's strict upper triangle, its
                    # diagonal in reciprocals): a sum of squares, rounding
                    # eps cond where the inverse's is eps cond^2. Both loops
                    # run along rows of W^T. (Written out: as a call, even
                    # inlined, this path ran 45% slower, not 16%.)
                    for a in range(n_missing):
                        whitened[a] = reciprocals[j, a] * vector[a]
                    for b in range(n_missing):
                        y = vector[b]
                        for a in range(b + 1, n_missing):
                            whitened[a] += factors[j, b, a] * y
                    correction = 0.0
                    for a in range(n_missing):
                        correction += whitened[a] * whitened[a]
                    for b in range(n_missing):
                        total = reciprocals[j, b] * whitened[b]
                        for a in range(b + 1, n_missing):
                            total += factors[j, b, a] * whitened[a]
                        delta[k, i, b] = -total
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
    ranks,
    filled,
    s1_parts,
    lower_parts,
    tasks,
):
    """A block's statistics but the BLAS products.

    Rows with ``r`` missing entries, ``r = 0`` included (complete rows:
    ``delta`` and the conditional covariances empty).

    Full (one matrix per component): for the rows that weigh in component
    ``k`` (``ranks[i, k] >= 0``, from :func:`_rank_weighing_rows`),
    ``filled[k, ranks[i, k]] = sqrt(r_ik) (xhat_ik - mu_k)`` and ``s1[k] +=
    r_ik (xhat_ik - mu_k)``; the others are left out of both (their terms
    are below the rounding of the sums, see ``NEGLIGIBLE_WEIGHT``), so that
    the scatter's product takes ``n_w`` rows, not ``n K``. One matrix (tied,
    centres 0): ``s1[k] += r_ik xhat_ik`` for every pair, and
    ``filled[0, ranks[i, k]] = sqrt(r_ik) xhat_ik`` for the (row, component)
    pairs that weigh (numbered together, ``_rank_weighing_rows`` with
    ``pairs``); complete rows, the same for every component, once each:
    ``filled[0, i] = sqrt(w_i) x_i``, ``w_i = sum_k r_ik`` (the row's
    sample weight, 1 without weights).
    Both add each pattern's conditional covariances, weighted by its rows'
    summed responsibilities, into ``lower_parts`` (lower triangles, per
    task), unless ``conditional_covariances`` has no pattern (0 entries on
    its second axis: the batched kernel's, added by
    :func:`_add_batched_covariances`).
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_components = means.shape[0]
    n_matrices = conditional_covariances.shape[0]
    shared = n_matrices == 1
    by_pattern = conditional_covariances.shape[1] > 0
    for task in prange(tasks):
        start, stop = _task_rows(row_pattern, task, tasks)
        row_missing = np.empty(n_missing, np.intp)
        is_missing = np.zeros(n_features, np.bool_)
        observed = np.empty(n_features, np.intp)
        observed_ones = np.empty(n_features)
        weights = np.zeros(n_matrices)
        previous = -1
        for i in range(start, stop):
            pattern = row_pattern[i]
            if pattern != previous:
                previous = pattern
                _mark_pattern(
                    missing, i, row_missing, is_missing, observed, observed_ones
                )
            mass = 0.0
            for k in range(n_components):
                rk = resp[i, k]
                mass += rk
                weights[0 if shared else k] += rk
                if shared:
                    for c in range(n_features):
                        s1_parts[task, k, c] += rk * x[i, c]
                    for a in range(n_missing):
                        value = means[k, row_missing[a]] + delta[k, i, a]
                        s1_parts[task, k, row_missing[a]] += rk * value
                    if n_missing == 0:
                        continue
                    # Each (row, component) that weighs, completed by the
                    # component's conditional mean, at its rank among the
                    # block's pairs.
                    position = ranks[i, k]
                    if position < 0:
                        continue
                    root = np.sqrt(rk)
                    for c in range(n_features):
                        filled[0, position, c] = root * x[i, c]
                    for a in range(n_missing):
                        filled[0, position, row_missing[a]] = root * (
                            means[k, row_missing[a]] + delta[k, i, a]
                        )
                    continue
                position = ranks[i, k]
                if position < 0:
                    continue
                root = np.sqrt(rk)
                # Branch-free: the missing coordinates, where x is 0, are
                # overwritten below (and their s1 terms are then exact 0s
                # corrected by the conditional-mean offsets).
                for c in range(n_features):
                    deviation = x[i, c] - means[k, c] * observed_ones[c]
                    s1_parts[task, k, c] += rk * deviation
                    filled[k, position, c] = root * deviation
                for a in range(n_missing):
                    deviation = delta[k, i, a]
                    s1_parts[task, k, row_missing[a]] += rk * deviation
                    filled[k, position, row_missing[a]] = root * deviation
            if shared and n_missing == 0:
                # A complete row is the same for every component: it enters
                # the scatter once, as sqrt(w) x (w its weight, 1 without
                # sample weights; 0: nothing).
                root = np.sqrt(mass)
                for c in range(n_features):
                    filled[0, i, c] = root * x[i, c]
            if by_pattern and (i + 1 == stop or row_pattern[i + 1] != pattern):
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
def _lane_gather(matrices, j, index, size, out, lanes):
    """``out[a, b, lane] = matrices[j, index[a, lane], index[b, lane]]``, ``b <= a``.

    For the first ``size`` lanes; the others get the identity. Lane
    innermost, so that the stores are contiguous (row by row, each went to
    another cache line of the scratch: 13% of the batched kernel's time at
    d=100). ``index`` unsigned and ``matrices`` C-contiguous (the kernels'
    precisions are; numba refuses to compile the flat view otherwise): the
    address of an entry is then one multiply-add, with no check for
    negative indices (measured: the gather 13% faster at r = 10, 26% at r
    = 50).
    """
    n = index.shape[0]
    # Matrix j as a flat row, indexed with unsigned arithmetic only (no
    # wraparound check; ``index`` is unsigned).
    n_features = matrices.shape[2]
    flat = matrices[j].reshape(n_features * n_features)
    width = np.uintp(n_features)
    for a in range(n):
        for b in range(a + 1):
            for lane in range(size):
                out[a, b, lane] = flat[index[a, lane] * width + index[b, lane]]
            for lane in range(size, lanes):
                out[a, b, lane] = 1.0 if a == b else 0.0


@_inline
def _lane_add_products(total, factor, first, second, start, stop, lanes):
    """``total[lane] += factor[first, p, lane] * factor[second, p, lane]``, p in order.

    For ``p`` from ``start`` to ``stop - 1``, one term at a time (the
    rounding of the plain loop), but four terms per pass over the lanes:
    ``total`` is then loaded and stored once per four products, where the
    compiler, unable to prove that it does not overlap ``factor``, would do
    it for every product (measured: the factorisation and inverse 10% to
    15% faster at r = 25 to 50, the same at r = 10). Inlined into its
    callers by numba: called as a function, its calls cost more than the
    unrolling saves (measured 1.1x to 2x slower).
    """
    p = start
    while p + 4 <= stop:
        for lane in range(lanes):
            total[lane] = (
                (
                    (total[lane] + factor[first, p, lane] * factor[second, p, lane])
                    + factor[first, p + 1, lane] * factor[second, p + 1, lane]
                )
                + factor[first, p + 2, lane] * factor[second, p + 2, lane]
            ) + factor[first, p + 3, lane] * factor[second, p + 3, lane]
        p += 4
    while p < stop:
        for lane in range(lanes):
            total[lane] += factor[first, p, lane] * factor[second, p, lane]
        p += 1


@_inline
def _lane_log_det(factor, n, log_det, product, lanes):
    """``log_det[lane] = sum_a log L_aa`` of :func:`_lane_cholesky`'s factors.

    Products of up to ``_LOG_GROUP`` diagonal entries per logarithm (see
    ``_fused.log_det_from_cholesky``), each checked to be in range (else a
    logarithm per entry); ``product`` is scratch of ``lanes``. Inlined.
    """
    for lane in range(lanes):
        log_det[lane] = 0.0
        product[lane] = 1.0
    for a in range(n):
        for lane in range(lanes):
            product[lane] *= factor[a, a, lane]
        if a % _LOG_GROUP == _LOG_GROUP - 1 or a == n - 1:
            for lane in range(lanes):
                if 1e-150 < product[lane] < 1e150:
                    log_det[lane] += np.log(product[lane])
                else:
                    for b in range(a - a % _LOG_GROUP, a + 1):
                        log_det[lane] += np.log(factor[b, b, lane])
                product[lane] = 1.0


@_inline
def _lane_forward(factor, reciprocal, vector, total, n, lanes):
    """``vector = inv(L) vector`` in place, ``total = |inv(L) vector|^2``.

    :func:`_lane_cholesky`'s factors ``L``, ``vector`` of shape ``(n,
    lanes)``: ``n^2 / 2`` multiply-adds per lane. Inlined.
    """
    for lane in range(lanes):
        total[lane] = 0.0
    for a in range(n):
        for p in range(a):
            for lane in range(lanes):
                vector[a, lane] -= factor[a, p, lane] * vector[p, lane]
        for lane in range(lanes):
            vector[a, lane] *= reciprocal[a, lane]
            total[lane] += vector[a, lane] * vector[a, lane]


@_inline
def _lane_solve(factor, reciprocal, vector, total, n, lanes):
    """``vector = inv(L L^T) vector`` in place, ``total = |inv(L) vector|^2``.

    :func:`_lane_forward`, then :func:`_lane_backward`: ``n^2``
    multiply-adds per lane. Inlined.
    """
    _lane_forward(factor, reciprocal, vector, total, n, lanes)
    _lane_backward(factor, reciprocal, vector, n, lanes)


@_inline
def _lane_backward(factor, reciprocal, vector, n, lanes):
    """``vector = inv(L^T) vector`` in place, ``n^2 / 2`` multiply-adds per lane.

    :func:`_lane_cholesky`'s factors ``L``, read down their columns.
    Inlined.
    """
    for a in range(n - 1, -1, -1):
        for p in range(a + 1, n):
            for lane in range(lanes):
                vector[a, lane] -= factor[p, a, lane] * vector[p, lane]
        for lane in range(lanes):
            vector[a, lane] *= reciprocal[a, lane]


@jit
def _lane_cholesky(factor, reciprocal, total, n, lanes):
    """Lower Cholesky factors of ``lanes`` matrices, in place, lane innermost.

    ``factor[a, b, lane]`` (``b <= a``) holds the lower triangles, which
    become the factors ``L``; ``reciprocal[a, lane] = 1 / L_aa``; ``total``
    is scratch of ``lanes``. Returns the number of lanes whose matrix was not
    positive definite (their pivot is taken as 1, to keep going). ``n^3 / 6``
    multiply-adds per lane.
    """
    failures = 0
    for col in range(n):
        for i in range(col, n):
            # A_ic - sum_p L_ip L_cp, as -(-A_ic + sum_p L_ip L_cp): negation
            # is exact and rounding symmetric, so the same bits as
            # subtracting each term in turn.
            for lane in range(lanes):
                total[lane] = -factor[i, col, lane]
            _lane_add_products(total, factor, i, col, 0, col, lanes)
            if i == col:
                for lane in range(lanes):
                    pivot = -total[lane]
                    if not pivot > 0.0:
                        failures += 1
                        pivot = 1.0
                    factor[col, col, lane] = np.sqrt(pivot)
                    reciprocal[col, lane] = 1.0 / factor[col, col, lane]
            else:
                for lane in range(lanes):
                    factor[i, col, lane] = -total[lane] * reciprocal[col, lane]
    return failures


@jit
def _lane_inverse(factor, reciprocal, total, n, lanes):
    """``inv(L L^T)`` from :func:`_lane_cholesky`'s factors, lane innermost.

    ``W = inv(L)`` by forward substitution, stored transposed in the strict
    upper triangle (``W[i, col]`` at ``factor[col, i]``; its diagonal is
    ``reciprocal``), then ``C = W^T W`` (``C[a, b]``, ``b <= a``, is the sum
    over ``p >= a`` of ``W[p, a] W[p, b]``) into the lower triangle, which
    ``L`` no longer needs. ``n^3 / 3`` multiply-adds per lane.
    """
    for col in range(n):
        for i in range(col + 1, n):
            for lane in range(lanes):
                total[lane] = factor[i, col, lane] * reciprocal[col, lane]
            _lane_add_products(total, factor, i, col, col + 1, i, lanes)
            for lane in range(lanes):
                factor[col, i, lane] = -total[lane] * reciprocal[i, lane]
    for a in range(n):
        for b in range(a + 1):
            for lane in range(lanes):
                if a == b:
                    total[lane] = reciprocal[a, lane] * reciprocal[a, lane]
                else:
                    total[lane] = reciprocal[a, lane] * factor[b, a, lane]
            _lane_add_products(total, factor, a, b, a + 1, n, lanes)
            for lane in range(lanes):
                factor[a, b, lane] = total[lane]


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

    Each row is its own pattern; ``products[j, :, i] = P_j x_i`` (the
    transpose of :func:`_evaluate`'s layout, so that a group's rows lie side
    by side). The ``r x r`` blocks ``P_MM`` of ``lanes``
    consecutive rows are laid out ``(a, b, lane)`` and factorised and solved
    with the lane loop innermost: the same operations as the row-by-row
    kernel, each done on ``lanes`` rows by one vector instruction, where a
    single small factorisation is a chain of dependent scalar operations.
    Lanes past the block's end factorise the identity and are not stored.

    The log-density and the conditional mean need only the factor ``L`` of
    ``P_MM`` (``n^3 / 6`` multiply-adds per row and matrix) and two
    triangular solves (``r^2``): ``w = C y_M = inv(L^T) inv(L) y_M`` and
    ``y_M^T C y_M = |inv(L) y_M|^2``. The conditional covariance ``C =
    inv(P_MM)`` costs twice the factorisation and only the statistics need
    it, weighted by the row's responsibility, which is often negligible for
    all but one component: :func:`_add_batched_covariances` makes it there
    (storing the factors for it cost more, in memory traffic, than
    factorising again), and with it the second solve, whose ``w`` only the
    statistics read: ``delta[k, i]`` then holds ``v = inv(L) y_M`` (the
    backward solve was 13% of this kernel's time at r = 10, d = 20 and 50).
    ``conditional_covariances[j, i]`` receives row ``i``'s ``C`` (packed),
    and ``delta[k, i]`` the offset ``-w``, only when it has a row per row
    (imputation; and the E-step with one matrix, tied or one component,
    where every row weighs it: ``n^3 / 3`` more per row); with 0, nothing.
    Returns the number of blocks that were not positive definite.
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = n_features - n_missing
    n_components = means.shape[0]
    n_matrices = precisions.shape[0]
    # The components whose conditional means one factor serves: its own
    # (full), or all (tied).
    served = n_components if n_matrices == 1 else 1
    store = conditional_covariances.shape[1] > 0
    failures = 0
    for task in prange(tasks):
        # P_MM's lower triangle, then its factor L in place.
        factor = np.empty((n_missing, n_missing, lanes))
        reciprocal = np.empty((n_missing, lanes))
        # Per component served: y_M, then inv(L) y_M, then w; mu_M; and the
        # quadratic z0^T y0 + y_M^T mu_M.
        y = np.empty((served, n_missing, lanes))
        centre = np.empty((served, n_missing, lanes))
        quadratic = np.empty((served, lanes))
        total = np.empty(lanes)
        log_det = np.empty(lanes)
        product = np.empty(lanes)
        # The group's rows and their 0/1 weights (0 where missing),
        # transposed: coordinate by coordinate, lane innermost.
        rows = np.empty((n_features, lanes))
        observed_ones = np.empty((n_features, lanes))
        # The group's missing coordinates, lane innermost. Unsigned: numba
        # checks every signed index for a negative value (Python's
        # wraparound), a third of the gathers' instructions.
        index = np.zeros((n_missing, lanes), np.uintp)
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        for first in range(start, stop, lanes):
            size = min(lanes, stop - first)
            for c in range(n_features):
                for lane in range(size):
                    rows[c, lane] = x[first + lane, c]
                    observed_ones[c, lane] = 1.0
            for lane in range(size):
                for a in range(n_missing):
                    observed_ones[missing[first + lane, a], lane] = 0.0
                    index[a, lane] = missing[first + lane, a]
            for j in range(n_matrices):
                _lane_gather(precisions, j, index, size, factor, lanes)
                # y_M = P_{M,.} (x0 - mu) + P_MM mu_M (see _evaluate), with
                # P_MM read from its lower triangle before it is factorised.
                for s in range(served):
                    k = s if n_matrices == 1 else j
                    # z0^T y0 + y_M^T mu_M, each lane's terms added in
                    # coordinate order (the sum of _evaluate's loops). The
                    # sweep over the products first: it brings the group's
                    # products into L1 in order (their block is larger than
                    # L2 at d = 50), where the gathers of y_M below then
                    # find them.
                    for lane in range(lanes):
                        quadratic[s, lane] = 0.0
                    sums = quadratic[s]
                    for c in range(n_features):
                        mean = means[k, c]
                        precision_mean = precision_means[k, c]
                        row_products = products[j, c, first : first + size]
                        values = rows[c]
                        ones = observed_ones[c]
                        for lane in range(size):
                            sums[lane] += (values[lane] - mean * ones[lane]) * (
                                row_products[lane] - precision_mean
                            )
                    for a in range(n_missing):
                        for lane in range(size):
                            ma = index[a, lane]
                            y[s, a, lane] = (
                                products[j, ma, first + lane] - precision_means[k, ma]
                            )
                            centre[s, a, lane] = means[k, ma]
                        for lane in range(size, lanes):
                            y[s, a, lane] = 0.0
                            centre[s, a, lane] = 0.0
                    for a in range(n_missing):
                        for b in range(a + 1):
                            for lane in range(lanes):
                                y[s, a, lane] += factor[a, b, lane] * centre[s, b, lane]
                        for b in range(a + 1, n_missing):
                            for lane in range(lanes):
                                y[s, a, lane] += factor[b, a, lane] * centre[s, b, lane]
                    for a in range(n_missing):
                        for lane in range(lanes):
                            quadratic[s, lane] += y[s, a, lane] * centre[s, a, lane]
                failures += _lane_cholesky(factor, reciprocal, total, n_missing, lanes)
                # log det P_MM / 2.
                _lane_log_det(factor, n_missing, log_det, product, lanes)
                for s in range(served):
                    k = s if n_matrices == 1 else j
                    # v = inv(L) y_M in place, y_M^T C y_M = |v|^2; then,
                    # where this kernel makes C, w = inv(L^T) v (the
                    # conditional mean is mu_M - w), else v is stored and
                    # the statistics make w where the row weighs.
                    _lane_forward(factor, reciprocal, y[s], total, n_missing, lanes)
                    if store:
                        _lane_backward(factor, reciprocal, y[s], n_missing, lanes)
                        for lane in range(size):
                            for a in range(n_missing):
                                delta[k, first + lane, a] = -y[s, a, lane]
                    else:
                        for lane in range(size):
                            for a in range(n_missing):
                                delta[k, first + lane, a] = y[s, a, lane]
                    for lane in range(size):
                        i = first + lane
                        if n_observed == 0:
                            log_density[i, k] = 0.0
                        else:
                            maha = max(quadratic[s, lane] - total[lane], 0.0)
                            log_density[i, k] = (
                                -0.5 * (n_observed * LOG_2PI + maha)
                                + log_det_cholesky[j]
                                - log_det[lane]
                            )
                if store:
                    # C = inv(P_MM) from the factor, which the solves above
                    # no longer need.
                    _lane_inverse(factor, reciprocal, total, n_missing, lanes)
                    position = 0
                    for a in range(n_missing):
                        for b in range(a + 1):
                            for lane in range(size):
                                conditional_covariances[j, first + lane, position] = (
                                    factor[a, b, lane]
                                )
                            position += 1
    return failures


@ParallelKernel
def _evaluate_batched_observed(
    x, missing, observed_rows, means, covariances, log_density, delta, lanes, tasks
):
    """:func:`_evaluate_batched`'s log-densities on the covariance route.

    For the E-step, on blocks with fewer observed entries ``q`` than
    missing ones ``r``: per row and matrix (a component's covariance, or
    the tied one), with the ``q x q`` blocks ``S_OO`` of ``lanes``
    consecutive rows laid out ``(a, b, lane)``, the Cholesky factor ``L``
    (``q^3 / 6`` multiply-adds, the same lane kernel as the precision
    route's); per row and component, ``v = inv(L) z_O`` (``z = x - mu_k``;
    ``q^2 / 2``), whose squared norm is the Mahalanobis term; the
    log-density is ``-(q log 2 pi + |v|^2) / 2 - sum log L_aa``. No
    product with the precisions. With one matrix per component, no
    conditional mean: the statistics make it (:func:`_add_observed_moments`)
    only where the row weighs, often one component in ``K`` (its ``r q``
    gathered multiply-adds were a third of this kernel's time at d = 20,
    50% MCAR); ``delta`` is then empty and not written. With one matrix
    (tied), whose statistics read every row's conditional means, ``delta[k,
    i]`` receives ``S_MO inv(S_OO) z_O`` (``q^2 / 2 + r q`` more per row and
    component). Lanes past the block's end factorise the identity and are
    not stored. Returns the number of blocks ``S_OO`` that were not
    positive definite.
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = n_features - n_missing
    n_components = means.shape[0]
    n_matrices = covariances.shape[0]
    # The components one factor serves: its own, or all (tied).
    served = n_components if n_matrices == 1 else 1
    means_too = delta.shape[1] > 0
    width = np.uintp(n_features)
    failures = 0
    for task in prange(tasks):
        factor = np.empty((n_observed, n_observed, lanes))
        reciprocal = np.empty((n_observed, lanes))
        total = np.empty(lanes)
        log_det = np.empty(lanes)
        product = np.empty(lanes)
        solved = np.empty((n_observed, lanes))
        offsets = np.empty((n_missing, lanes))
        # Each lane's observed and missing coordinates, unsigned (see
        # _evaluate_batched).
        observed = np.zeros((n_observed, lanes), np.uintp)
        missing_index = np.zeros((n_missing, lanes), np.uintp)
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        for first in range(start, stop, lanes):
            size = min(lanes, stop - first)
            for lane in range(size):
                for o in range(n_observed):
                    observed[o, lane] = observed_rows[first + lane, o]
                for a in range(n_missing):
                    missing_index[a, lane] = missing[first + lane, a]
            for j in range(n_matrices):
                flat = covariances[j].reshape(n_features * n_features)
                _lane_gather(covariances, j, observed, size, factor, lanes)
                failures += _lane_cholesky(factor, reciprocal, total, n_observed, lanes)
                # log det S_OO / 2.
                _lane_log_det(factor, n_observed, log_det, product, lanes)
                for s in range(served):
                    k = s if n_matrices == 1 else j
                    for o in range(n_observed):
                        for lane in range(size):
                            c = observed[o, lane]
                            solved[o, lane] = x[first + lane, c] - means[k, c]
                        for lane in range(size, lanes):
                            solved[o, lane] = 0.0
                    _lane_forward(factor, reciprocal, solved, total, n_observed, lanes)
                    for lane in range(size):
                        log_density[first + lane, k] = (
                            -0.5 * (n_observed * LOG_2PI + total[lane]) - log_det[lane]
                        )
                    if not means_too:
                        continue
                    # w = inv(L^T) v = inv(S_OO) z_O, then S_MO w.
                    _lane_backward(factor, reciprocal, solved, n_observed, lanes)
                    _lane_cross_products(
                        flat, width, missing_index, observed, solved, size, offsets
                    )
                    for lane in range(size):
                        for a in range(n_missing):
                            delta[k, first + lane, a] = offsets[a, lane]
    return failures


@ParallelKernel
def _add_observed_moments(
    x,
    missing,
    observed,
    means,
    covariances,
    resp,
    ranks,
    delta,
    inverse_parts,
    lanes,
    tasks,
):
    """The covariance route's conditional moments, where the rows weigh.

    For each component ``k`` and the rows that weigh in it (``ranks[i, k] >=
    0``, see :func:`_rank_weighing_rows`), taken ``lanes`` at a time: their
    ``S_OO`` gathered and factorised (the same operations as
    :func:`_evaluate_batched_observed`'s, hence the same factor), ``w =
    inv(S_OO) z_O`` (``z = x - mu_k``), the conditional mean's offset
    ``delta[k, i] = S_MO w``, and ``inv(S_OO)`` times ``resp[i, k]`` added
    into ``inverse_parts[task, k]``'s lower triangle at the observed
    coordinates (see ``FusedDenseKernel._add_observed_moments`` for how
    these give the conditional covariances). ``delta`` of the rows that do
    not weigh is not written (the statistics do not read it). Per row and
    component that weighs: ``q^3 / 2 + q^2 + r q`` multiply-adds, in vector
    operations over ``lanes`` rows, and ``q (q + 1) / 2`` entries to add;
    ``O(n_rows K)`` to choose the rows.
    """
    n_rows, n_features = x.shape
    n_missing = missing.shape[1]
    n_observed = observed.shape[1]
    n_components = means.shape[0]
    width = np.uintp(n_features)
    for task in prange(tasks):
        factor = np.empty((n_observed, n_observed, lanes))
        reciprocal = np.empty((n_observed, lanes))
        total = np.empty(lanes)
        solved = np.empty((n_observed, lanes))
        offsets = np.empty((n_missing, lanes))
        # Unsigned, as in _evaluate_batched.
        index = np.zeros((n_observed, lanes), np.uintp)
        missing_index = np.zeros((n_missing, lanes), np.uintp)
        kept = np.empty(lanes, np.intp)
        weights = np.empty(lanes)
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        for k in range(n_components):
            flat = covariances[k].reshape(n_features * n_features)
            i = start
            while i < stop:
                size, i = _next_weighing_rows(
                    resp, ranks, 0.0, k, False, i, stop, kept, weights
                )
                if size == 0:
                    break
                for lane in range(size):
                    row = kept[lane]
                    for o in range(n_observed):
                        c = observed[row, o]
                        index[o, lane] = c
                        solved[o, lane] = x[row, c] - means[k, c]
                    for a in range(n_missing):
                        missing_index[a, lane] = missing[row, a]
                for o in range(n_observed):
                    for lane in range(size, lanes):
                        solved[o, lane] = 0.0
                _lane_gather(covariances, k, index, size, factor, lanes)
                # Not positive definite: reported by _evaluate_batched_observed.
                _lane_cholesky(factor, reciprocal, total, n_observed, lanes)
                _lane_solve(factor, reciprocal, solved, total, n_observed, lanes)
                _lane_cross_products(
                    flat, width, missing_index, index, solved, size, offsets
                )
                for lane in range(size):
                    row = kept[lane]
                    for a in range(n_missing):
                        delta[k, row, a] = offsets[a, lane]
                _lane_inverse(factor, reciprocal, total, n_observed, lanes)
                _lane_scatter(factor, index, weights, size, inverse_parts[task, k])


@_inline
def _weighs(weight, mass, floor):
    """Whether a row's weight for a matrix enters that matrix's statistics.

    Above ``floor`` (see :func:`~emimpute._em._stats.negligible_floors`) and
    above ``NEGLIGIBLE_WEIGHT^2`` times the row's own weight ``mass``: where a
    component is nearly absent from the block, its floor is tiny, and its
    few rows of weight 1e-40 would each cost a batch of lanes.
    """
    return weight > floor and weight > NEGLIGIBLE_WEIGHT**2 * mass


@jit
def _rank_weighing_rows(resp, floors, ranks, pairs=False):
    """Number, in row order, the rows that weigh in each component.

    ``ranks[i, k]`` receives the position of row ``i`` among the rows whose
    responsibility for component ``k`` enters its statistics
    (:func:`_weighs`), or -1; returns each component's count. With
    ``pairs``, one numbering of all the (row, component) pairs that weigh,
    row by row (the tied scatter's), and their count. Serial and ``O(n_rows
    K)``: the positions make the packed rows of the scatter's product the
    same, in the same order, whatever the tasks.
    """
    n_rows, n_components = resp.shape
    counts = np.zeros(1 if pairs else n_components, np.intp)
    for i in range(n_rows):
        mass = 0.0
        for k in range(n_components):
            mass += resp[i, k]
        for k in range(n_components):
            if _weighs(resp[i, k], mass, floors[k]):
                counter = 0 if pairs else k
                ranks[i, k] = counts[counter]
                counts[counter] += 1
            else:
                ranks[i, k] = -1
    return counts


@_inline
def _next_weighing_rows(resp, ranks, floor, j, shared, i, stop, kept, weights):
    """The next rows from ``i`` (before ``stop``) that weigh in matrix ``j``.

    Up to ``len(kept)`` of them, in row order, into ``kept`` with their
    weights (``resp[i, j]``; one matrix, ``shared``: the row's ``sum_k
    resp[i, k]``, which weighs above ``floor``, see :func:`_weighs`; else
    the rows :func:`_rank_weighing_rows` ranked). Returns their number and
    the row to go on from. Inlined.
    """
    size = 0
    while i < stop and size < len(kept):
        if shared:
            weight = 0.0
            for k in range(resp.shape[1]):
                weight += resp[i, k]
            weighs = _weighs(weight, weight, floor)
        else:
            weight = resp[i, j]
            weighs = ranks[i, j] >= 0
        if weighs:
            kept[size] = i
            weights[size] = weight
            size += 1
        i += 1
    return size, i


@_inline
def _lane_cross_products(flat, width, rows, columns, vector, size, out):
    """``out[a] = sum_o S[rows[a], columns[o]] vector[o]``, lane by lane.

    ``S`` a ``width x width`` matrix as its ``flat`` row, its entries
    gathered by flat index (unsigned ``rows`` and ``columns`` of shape
    ``(n, lanes)``); for the first ``size`` lanes, ``o`` in order. ``S_MO
    w``: ``r q`` multiply-adds per lane. Inlined.
    """
    for a in range(rows.shape[0]):
        for lane in range(size):
            out[a, lane] = 0.0
        for o in range(columns.shape[0]):
            for lane in range(size):
                out[a, lane] += (
                    flat[rows[a, lane] * width + columns[o, lane]] * (vector[o, lane])
                )


@_inline
def _lane_scatter(factor, index, weights, size, lower):
    """``lower[index[a], index[b]] += weights * factor[a, b]``, ``b <= a``.

    For the first ``size`` lanes, one after the other (``index`` ascending
    in each lane: the lower triangle). Inlined.
    """
    for lane in range(size):
        for a in range(index.shape[0]):
            ia = index[a, lane]
            for b in range(a + 1):
                lower[ia, index[b, lane]] += weights[lane] * factor[a, b, lane]


@ParallelKernel
def _add_batched_covariances(
    resp, missing, precisions, floors, ranks, delta, lower_parts, lanes, tasks
):
    """Add the conditional covariances of a batched block into its statistics.

    Written for ``P_MM`` (``precisions`` and each row's ``missing``
    coordinates); with the covariances and the observed coordinates
    instead, it sums ``inv(S_OO)`` the same way (the tied covariance
    route, see ``FusedDenseKernel._add_observed_moments``).

    For each matrix ``j`` and row ``i`` whose weight (``resp[i, j]``; tied,
    ``sum_k resp[i, k]``) exceeds ``floors[j]`` (``NEGLIGIBLE_WEIGHT`` times
    the mean weight of ``j`` over the block's rows, see
    :func:`~emimpute._em._stats.negligible_floors`) and
    ``NEGLIGIBLE_WEIGHT^2`` times the row's weight (:func:`_weighs`; with
    one matrix per component, the rows that :func:`_rank_weighing_rows`
    ranked in ``ranks``, the same rule),
    ``C = inv(P_MM)`` times that weight is added into
    ``lower_parts[task, j]``'s lower triangle. The rows kept are taken
    ``lanes`` at a time, and their ``P_MM`` gathered, factorised (the same
    operations as :func:`_evaluate_batched`'s, hence the same factor) and
    inverted with the lane loop innermost; each row's ``C`` has the same
    bits whatever lane it lands in. With one matrix per component,
    ``delta[j, i]`` holds ``v = inv(L) y_M`` as :func:`_evaluate_batched`
    left it, and is replaced, where row ``i`` weighs in ``j``, by the
    conditional mean's offset ``-inv(L^T) v`` (the same operations as that
    kernel's solve; the rows that do not weigh need none: the statistics do
    not read their offsets); with one matrix (``shared``), ``delta`` is not
    read. A component that weighs a fifth of the rows costs a fifth of the
    factorisations, solves and inverses: ``n_kept (r^3 / 2 + r^2 / 2)``
    multiply-adds per matrix, in vector operations over ``lanes`` rows,
    plus ``O(n_rows K)`` to choose the rows and ``O(n_kept r^2)`` to gather
    and add.
    """
    n_rows, n_missing = missing.shape
    n_matrices = precisions.shape[0]
    shared = n_matrices == 1
    solve = not shared and delta.shape[0] > 0
    for task in prange(tasks):
        factor = np.empty((n_missing, n_missing, lanes))
        reciprocal = np.empty((n_missing, lanes))
        total = np.empty(lanes)
        solved = np.zeros((n_missing, lanes))
        # Unsigned, as in _evaluate_batched.
        index = np.zeros((n_missing, lanes), np.uintp)
        kept = np.empty(lanes, np.intp)
        weights = np.empty(lanes)
        start = task * n_rows // tasks
        stop = (task + 1) * n_rows // tasks
        for j in range(n_matrices):
            i = start
            while i < stop:
                size, i = _next_weighing_rows(
                    resp, ranks, floors[j], j, shared, i, stop, kept, weights
                )
                if size == 0:
                    break
                for lane in range(size):
                    for a in range(n_missing):
                        index[a, lane] = missing[kept[lane], a]
                _lane_gather(precisions, j, index, size, factor, lanes)
                # Not positive definite: reported by _evaluate_batched.
                _lane_cholesky(factor, reciprocal, total, n_missing, lanes)
                if solve:
                    # w = inv(L^T) v, v = inv(L) y_M as _evaluate_batched
                    # left it; the conditional mean's offset is -w.
                    for a in range(n_missing):
                        for lane in range(size):
                            solved[a, lane] = delta[j, kept[lane], a]
                        for lane in range(size, lanes):
                            solved[a, lane] = 0.0
                    _lane_backward(factor, reciprocal, solved, n_missing, lanes)
                    for lane in range(size):
                        for a in range(n_missing):
                            delta[j, kept[lane], a] = -solved[a, lane]
                _lane_inverse(factor, reciprocal, total, n_missing, lanes)
                _lane_scatter(factor, index, weights, size, lower_parts[task, j])
