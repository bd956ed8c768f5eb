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

The kernels themselves are compiled in their own modules: ``_fused_runs``
(rows by runs of a pattern, and every block's statistics),
``_fused_batched`` (``_LANES`` rows at once, on ``_lanes``' vectorised
linear algebra) and ``_fused_weighing`` (which pairs enter the
statistics). This module holds the kernel that runs them, and the complete
rows' log-density.
"""

import numpy as np

from emimpute._em._dense import DenseKernel
from emimpute._em._forms import ILL_DEFINED_COVARIANCE
from emimpute._em._fused import ParallelKernel, n_tasks, prange
from emimpute._em._fused_batched import (
    _add_batched_covariances,
    _add_observed_moments,
    _evaluate_batched,
    _evaluate_batched_observed,
)
from emimpute._em._fused_runs import _evaluate, _observed_coordinates, _statistics
from emimpute._em._fused_weighing import _rank_weighing_rows
from emimpute._em._gaussian_block import LOG_2PI, FusedConditionals
from emimpute._em._lanes import _LANES
from emimpute._em._stats import SufficientStats, negligible_floors

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


def _new_array(name, shape):
    """A new uninitialised float64 array (``RowBlock.scratch``'s signature)."""
    return np.empty(shape)
