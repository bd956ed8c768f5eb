"""Compiled E-step kernels on runs of rows that share a missing pattern.

Rows of a block are sorted by pattern; :func:`_evaluate` takes them row
by row (tasks split at a pattern's start, :func:`_task_rows`) and makes
each matrix's factorisation once per run of a pattern: ``P_MM``'s on the
precision route, ``S_OO``'s on the covariance route (see ``_fused_dense``
for the arithmetic), with the run's conditional covariances, then per row
and component the corrections, solves, log-density and conditional mean.
:func:`_statistics` adds a block's ``s1`` and the lower triangles of its
summed conditional covariances (once per run, with the run's summed
responsibilities), and packs the completed rows that weigh for the
scatter's BLAS product; it serves every block (the batched ones and
complete rows too).

Cost on ``n_r`` rows with ``r`` of ``d`` entries missing (``q = d - r``
observed), ``u_r`` runs of a pattern, ``K`` components: :func:`_evaluate`
``O(n_r K (d + r^2))`` plus ``O(u_r K r^3)`` on the precision route, ``O(n_r
K q^2 + u_r K (q^3 + q^2 r + q r^2))`` on the covariance route (tied: one
factorisation per run, not per component); :func:`_statistics` ``O(n_r K
(d + r))`` plus ``O(u_r K r^2)`` for the conditional covariances. Memory:
per task ``O(K (d + max(r, q)^2))`` scratch.
"""

import numpy as np

from emimpute._em._fused import (
    ParallelKernel,
    backward_solve,
    cholesky,
    forward_solve,
    inverse_from_cholesky,
    jit,
    log_det_from_cholesky,
    prange,
)
from emimpute._em._gaussian_block import LOG_2PI


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
    ``k`` (``ranks[i, k] >= 0``, from
    :func:`~emimpute._em._fused_weighing._rank_weighing_rows`),
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
    :func:`~emimpute._em._fused_batched._add_batched_covariances`).
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
