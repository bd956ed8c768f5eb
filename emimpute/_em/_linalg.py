"""Cholesky factor and its inverse for stacks of many small matrices.

``numpy.linalg`` calls LAPACK once per matrix of a stack; for the tens of
thousands of 2x2 to 10x10 blocks of a cell-wise missing data set that
per-call overhead dominates. These routines instead loop over the ``r``
rows of the blocks and vectorise over the stack, so a stack costs ``O(r)``
numpy operations, whatever its length.
"""

import numpy as np

# Above this block size LAPACK's per-matrix cost is no longer dominated by
# call overhead, and an O(r) Python loop would be the slower one.
_VECTORISED_MAX_SIZE = 12


def cholesky_and_inverse(blocks):
    """Lower Cholesky factors of a stack of SPD matrices and their inverses.

    Parameters
    ----------
    blocks : ndarray of shape (n, r, r)
        Symmetric positive-definite matrices.

    Returns
    -------
    lower : ndarray of shape (n, r, r)
        ``lower @ lower.T == blocks``, lower triangular.
    inverse : ndarray of shape (n, r, r)
        ``inv(lower)``, lower triangular.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._linalg import cholesky_and_inverse
    >>> lower, inverse = cholesky_and_inverse(np.array([[[4.0, 2.0], [2.0, 5.0]]]))
    >>> lower
    array([[[2., 0.],
            [1., 2.]]])
    >>> inverse @ lower
    array([[[1., 0.],
            [0., 1.]]])
    """
    n, r, _ = blocks.shape
    if r > _VECTORISED_MAX_SIZE:
        lower = np.linalg.cholesky(blocks)
        return lower, np.linalg.inv(lower)
    lower = np.zeros_like(blocks)
    for j in range(r):
        left = lower[:, j, :j]
        pivot = blocks[:, j, j] - np.einsum("nk,nk->n", left, left)
        if not np.all(pivot > 0.0):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        diagonal = np.sqrt(pivot)
        lower[:, j, j] = diagonal
        below = blocks[:, j + 1 :, j] - np.einsum(
            "nik,nk->ni", lower[:, j + 1 :, :j], left
        )
        lower[:, j + 1 :, j] = below / diagonal[:, np.newaxis]
    inverse = np.zeros_like(blocks)
    for i in range(r):
        # Row i of inv(L): (e_i - L[i, :i] inv(L)[:i]) / L[i, i].
        row = -np.einsum("nk,nkj->nj", lower[:, i, :i], inverse[:, :i, :])
        row[:, i] += 1.0
        inverse[:, i, :] = row / lower[:, i, i, np.newaxis]
    return lower, inverse
