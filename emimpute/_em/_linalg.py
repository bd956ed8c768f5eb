"""Inverse and log-determinant of stacks of many small SPD matrices.

``numpy.linalg`` calls LAPACK once per matrix of a stack; for the tens of
thousands of 2x2 to 10x10 blocks of a data set with cell-wise missing values
that per-call overhead dominates. :func:`inverse_and_log_det` instead runs a
Cholesky factorisation and inversion entry by entry, each step one numpy
operation on the vector of that entry over the whole stack: ``O(r^3)`` numpy
calls, none per matrix. Small stacks of large matrices go to LAPACK.
"""

import numpy as np

# The entry-wise route makes about r^3 / 2 numpy calls whatever the stack
# size, LAPACK one call per matrix: entry-wise wins (by 2x to 4x measured)
# once the stack holds this many times r^2 matrices, for r up to 24 at least.
_ENTRYWISE_MIN_STACK_PER_ENTRY = 8


def inverse_and_log_det(blocks, inverse_factor=False):
    """Inverses and log-determinants of a stack of SPD matrices.

    Parameters
    ----------
    blocks : ndarray of shape (r, r, *batch)
        Symmetric positive-definite ``r x r`` matrices, stacked along the
        trailing axes, so that each entry ``blocks[i, j]`` is a contiguous
        vector over the stack. Only the lower triangle is read.
    inverse_factor : bool, default=False
        Also return ``W = inv(L)``, ``L`` the lower Cholesky factor: a
        quadratic form ``y^T inv(A) y`` is ``|W y|^2``, a sum of squares,
        which keeps the digits that ``y^T (inv(A) y)`` loses when ``A`` is
        ill-conditioned (rounding ``eps cond(A)`` against ``eps cond(A)^2``
        relative to ``|y|^2 / lambda_min``).

    Returns
    -------
    inverse : ndarray of shape (r, r, *batch)
        Exactly symmetric.
    log_det : ndarray of shape batch
    factor : ndarray of shape (r, r, *batch)
        ``W``, lower triangular; only with ``inverse_factor``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite (to working precision).

    Notes
    -----
    ``A = L L^T`` (Cholesky, lower ``L``), ``W = inv(L)`` by forward
    substitution, ``inv(A) = W^T W`` and ``log det A = 2 sum log L_jj``.
    Each stage touches only a triangle: about ``r^3 / 2`` multiply-adds per
    matrix, three times fewer than the sweep operator, which updates the
    whole square at every step. Cholesky is backward stable for
    positive-definite matrices and needs no pivoting.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._linalg import inverse_and_log_det
    >>> block = np.array([[4.0, 2.0], [2.0, 5.0]])[:, :, np.newaxis]
    >>> inverse, log_det = inverse_and_log_det(block)
    >>> inverse[:, :, 0] * 16
    array([[ 5., -2.],
           [-2.,  4.]])
    >>> np.exp(log_det)
    array([16.])
    """
    r = blocks.shape[0]
    batch = blocks.shape[2:]
    if np.prod(batch) < _ENTRYWISE_MIN_STACK_PER_ENTRY * r * r:
        return _lapack_inverse_and_log_det(blocks, inverse_factor)
    log_det = np.zeros(batch)
    scratch = np.empty(batch)
    # lower[i][j] = L_ij for j < i; inverse_diagonal[j] = 1 / L_jj.
    lower = [[None] * r for _ in range(r)]
    inverse_diagonal = [None] * r
    for j in range(r):
        pivot = np.array(blocks[j, j], dtype=float, copy=True)
        for k in range(j):
            pivot -= np.multiply(lower[j][k], lower[j][k], out=scratch)
        if not np.all(pivot > 0.0):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        log_det += np.log(pivot)
        inverse_diagonal[j] = 1.0 / np.sqrt(pivot)
        for i in range(j + 1, r):
            entry = np.array(blocks[i, j], dtype=float, copy=True)
            for k in range(j):
                entry -= np.multiply(lower[i][k], lower[j][k], out=scratch)
            entry *= inverse_diagonal[j]
            lower[i][j] = entry
    # W = inv(L), lower triangular, by columns.
    factor = [[None] * r for _ in range(r)]
    for j in range(r):
        factor[j][j] = inverse_diagonal[j]
        for i in range(j + 1, r):
            entry = lower[i][j] * inverse_diagonal[j]
            for k in range(j + 1, i):
                entry += np.multiply(lower[i][k], factor[k][j], out=scratch)
            entry *= -inverse_diagonal[i]
            factor[i][j] = entry
    # inv(A)_ij = sum_{k >= i} W_ki W_kj for j <= i.
    inverse = np.empty((r, r, *batch))
    for i in range(r):
        for j in range(i + 1):
            entry = np.multiply(factor[i][i], factor[i][j], out=inverse[i, j])
            for k in range(i + 1, r):
                entry += np.multiply(factor[k][i], factor[k][j], out=scratch)
            inverse[j, i] = entry
    if not inverse_factor:
        return inverse, log_det
    lower_inverse = np.zeros((r, r, *batch))
    for i in range(r):
        for j in range(i + 1):
            lower_inverse[i, j] = factor[i][j]
    return inverse, log_det, lower_inverse


def _lapack_inverse_and_log_det(blocks, inverse_factor=False):
    """:func:`inverse_and_log_det` through LAPACK, one call per matrix."""
    r = blocks.shape[0]
    stack = np.moveaxis(blocks, (0, 1), (-2, -1))
    lower = np.linalg.cholesky(stack)
    log_det = 2.0 * np.log(np.diagonal(lower, axis1=-2, axis2=-1)).sum(axis=-1)
    if not np.all(np.isfinite(log_det)):
        # LAPACK passes NaN through instead of failing.
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    inverse = np.linalg.solve(stack, np.broadcast_to(np.eye(r), stack.shape))
    inverse = 0.5 * (inverse + np.swapaxes(inverse, -1, -2))
    inverse = np.moveaxis(inverse, (-2, -1), (0, 1))
    if not inverse_factor:
        return inverse, log_det
    identity = np.broadcast_to(np.eye(r), stack.shape)
    lower_inverse = np.tril(np.linalg.solve(lower, identity))
    return inverse, log_det, np.moveaxis(lower_inverse, (-2, -1), (0, 1))
