"""Linear algebra on ``_LANES`` small matrices at once, lane innermost.

The batched kernels (``_fused_batched``) lay out the ``m x m`` blocks of
``_LANES`` consecutive rows as ``(a, b, lane)``, so that each step of a
factorisation, solve or inversion is one loop over the rows, which the
compiler vectorises, instead of a chain of dependent scalar operations per
row. These are those steps: gathering the blocks (:func:`_lane_gather`),
the Cholesky factor (:func:`_lane_cholesky`, ``m^3 / 6`` multiply-adds per
lane), its log-determinant (:func:`_lane_log_det`, ``O(m)`` and one
logarithm per ``_LOG_GROUP`` entries), the triangular solves
(:func:`_lane_forward`, :func:`_lane_backward`, ``m^2 / 2`` each), the
inverse from the factor (:func:`_lane_inverse`, ``m^3 / 3``), a gathered
matrix-vector product (:func:`_lane_cross_products`, ``r q``) and the
scatter of a lower triangle into a ``d x d`` sum
(:func:`_lane_scatter`, ``m (m + 1) / 2`` per lane). ``m`` is the block's
size (``r`` missing or ``q`` observed entries of a row); the cost does not
depend on ``n``, ``K`` or the number of missing patterns beyond the calls
the kernels make (one per group of ``_LANES`` rows and matrix). Memory:
``O(m^2 _LANES)`` scratch per call, the caller's.
"""

import numpy as np

from emimpute._em._fused import _OPTIONS, jit, numba

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


def _inline(function):
    """:func:`~emimpute._em._fused.jit`, inlined into its callers by numba."""
    if numba is None:  # pragma: no cover
        return function
    return numba.njit(inline="always", **_OPTIONS)(function)


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
