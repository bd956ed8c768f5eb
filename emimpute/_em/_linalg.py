"""Inverse and log-determinant of stacks of many small SPD matrices.

``numpy.linalg`` calls LAPACK once per matrix of a stack; for the tens of
thousands of 2x2 to 10x10 blocks of a data set with cell-wise missing values
that per-call overhead dominates. :func:`inverse_and_log_det` instead applies
the sweep operator (Goodnight 1979; the classic tool of missing-data EM,
Little and Rubin section 7.4) to the whole stack at once: ``r`` rank-one
updates, each one numpy operation over the stack.
"""

import numpy as np

# Above this block size LAPACK's per-matrix cost is no longer dominated by
# call overhead, and the r-step Python loop would be the slower one.
_SWEEP_MAX_SIZE = 16


def inverse_and_log_det(blocks):
    """Inverses and log-determinants of a stack of SPD matrices.

    Parameters
    ----------
    blocks : ndarray of shape (r, r, *batch)
        Symmetric positive-definite ``r x r`` matrices, stacked along the
        trailing axes: every step then works on contiguous batch vectors,
        two to three times faster than with the batch axes first.

    Returns
    -------
    inverse : ndarray of shape (r, r, *batch)
    log_det : ndarray of shape batch

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite (to working precision).

    Notes
    -----
    Sweeping a symmetric matrix on every index in turn leaves minus its
    inverse; the pivots are the successive Schur complements, whose product
    is the determinant (they are the squared diagonal of the Cholesky
    factor). Without pivoting this is Gaussian elimination, which is stable
    for positive-definite matrices.

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
    if r > _SWEEP_MAX_SIZE:
        stack = np.moveaxis(blocks, (0, 1), (-2, -1))
        lower = np.linalg.cholesky(stack)
        log_det = 2.0 * np.log(np.diagonal(lower, axis1=-2, axis2=-1)).sum(axis=-1)
        inverse = np.linalg.solve(stack, np.broadcast_to(np.eye(r), stack.shape))
        return np.moveaxis(inverse, (-2, -1), (0, 1)), log_det
    swept = np.array(blocks, dtype=float, copy=True)
    log_det = np.zeros(blocks.shape[2:])
    update = np.empty_like(swept)
    for k in range(r):
        pivot = swept[k, k].copy()
        if not np.all(pivot > 0.0):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        log_det += np.log(pivot)
        column = swept[:, k] / pivot
        np.multiply(swept[:, k, np.newaxis], column[np.newaxis], out=update)
        swept -= update
        swept[:, k] = column
        swept[k, :] = column
        swept[k, k] = -1.0 / pivot
    return np.negative(swept, out=swept), log_det
