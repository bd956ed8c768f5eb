"""Compiled E-step kernels on ``_LANES`` rows at once, each its own pattern.

With many patterns (cell-wise missingness: almost every row its own), a
block takes these kernels instead of ``_fused_runs``'s: the ``r x r``
blocks ``P_MM`` (or the ``q x q`` blocks ``S_OO``) of ``_LANES``
consecutive rows are factorised, solved and inverted together by
``_lanes``'s vectorised linear algebra. :func:`_evaluate_batched` makes the
log-densities and conditional means on the precision route,
:func:`_evaluate_batched_observed` the log-densities on the covariance route
(``q < r``); in the statistics, :func:`_add_batched_covariances` and
:func:`_add_observed_moments` make the conditional covariances (and means),
only for the (row, component) pairs that weigh (``_fused_weighing``).

Cost on ``n_r`` rows with ``r`` of ``d`` entries missing (``q = d - r``),
``K`` components, ``m = min(r, q)``: the density ``n_r K m^3 / 6``
multiply-adds for the factors plus ``O(n_r K (d + m^2))`` for the
quadratic forms and solves; the statistics ``n_w m^3 / 2`` to factorise
again and invert, and ``n_w (q^2 + r q)`` for the covariance route's
conditional means, ``n_w`` the pairs that weigh (between ``n_r`` and
``n_r K``; one matrix, tied or ``K = 1``: ``n_r r^3 / 2``, the inverse made
with the factor). The number of missing patterns does not enter (one
factorisation per row). Memory: per task ``O(K m^2 _LANES)`` scratch; the
statistics' parts ``O(tasks K d^2)``.
"""

import numpy as np

from emimpute._em._fused import ParallelKernel, prange
from emimpute._em._fused_weighing import _next_weighing_rows
from emimpute._em._gaussian_block import LOG_2PI
from emimpute._em._lanes import (
    _lane_backward,
    _lane_cholesky,
    _lane_cross_products,
    _lane_forward,
    _lane_gather,
    _lane_inverse,
    _lane_log_det,
    _lane_scatter,
    _lane_solve,
)


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
    """:func:`~emimpute._em._fused_runs._evaluate` on the precision route,
    ``lanes`` rows at a time.

    Each row is its own pattern; ``products[j, :, i] = P_j x_i`` (the
    transpose of :func:`~emimpute._em._fused_runs._evaluate`'s layout, so
    that a group's rows lie side by side). The ``r x r`` blocks ``P_MM`` of ``lanes``
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
    0``, see :func:`~emimpute._em._fused_weighing._rank_weighing_rows`),
    taken ``lanes`` at a time: their
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
    ``NEGLIGIBLE_WEIGHT^2`` times the row's weight
    (:func:`~emimpute._em._fused_weighing._weighs`; with one matrix per
    component, the rows that
    :func:`~emimpute._em._fused_weighing._rank_weighing_rows` ranked in
    ``ranks``, the same rule),
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
