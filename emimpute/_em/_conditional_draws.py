"""Draws of the missing part of rows from their conditional Gaussians.

Given each row's drawn component ``k`` and its conditional covariance ``C``
(``r x r``, the pattern's under ``k``), a draw is ``m + L z`` with ``L`` the
lower Cholesky factor of ``C`` and ``z`` standard normal. Both engines use
this transform, so that the numpy and the compiled kernels give the same
draws from the same stream (to rounding):

- :func:`cholesky_noise` for the numpy kernels' ``(K, n_patterns, r, r)``
  stacks, one factorisation per component and pattern;
- :func:`packed_cholesky_noise` for the fused kernels' packed lower
  triangles, in a compiled loop over the rows that factorises each (matrix,
  pattern) once per run of rows that share it (rows come sorted by pattern);
- :func:`diagonal_noise` for diagonal and spherical components, whose
  conditional covariance is the diagonal matrix of the component's
  variances on the missing coordinates: ``L = diag(sqrt(var))``, so ``L z``
  is ``sqrt(var) * z`` elementwise, with no ``r x r`` matrix.

A conditional covariance can be singular to rounding (collinear features):
its Cholesky factorisation then fails, and those rows (only those) take a clipped
symmetric square root instead (``V sqrt(max(w, 0))`` from ``eigh``), still a
valid draw.

Cost, per block of ``n`` rows with ``r`` missing entries: ``O(n r^2)`` for
the products, plus ``O(u K r^3)`` for the factorisations (``u`` patterns; on
the fused path at most one per row, ``O(n r^3)``, when every row has its own
pattern); ``O(n r)`` time and memory for :func:`diagonal_noise`.
"""

import numpy as np

from emimpute._em._fused import cholesky, jit


def cholesky_noise(covariances, component, row_pattern, noise):
    """``L z`` per row, ``L L^T = covariances[component[i], row_pattern[i]]``.

    Parameters
    ----------
    covariances : ndarray of shape (n_components, n_patterns, r, r)
    component, row_pattern : ndarray of shape (n_rows,)
    noise : ndarray of shape (n_rows, r)
        Standard normal draws.

    Returns
    -------
    ndarray of shape (n_rows, r)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._conditional_draws import cholesky_noise
    >>> C = np.array([[[[4.0, 2.0], [2.0, 2.0]]]])
    >>> cholesky_noise(C, np.array([0]), np.array([0]), np.array([[1.0, 1.0]]))
    array([[2., 2.]])
    """
    return np.einsum("nij,nj->ni", _roots(covariances)[component, row_pattern], noise)


def _roots(covariances):
    """Lower Cholesky factors of a stack, the symmetric root of each matrix
    that has none (:func:`_symmetric_roots`), the others' factors unchanged.

    LAPACK's batched factorisation fails whole when one matrix fails; the
    failing ones are then told by their least eigenvalue, off which
    factorisation is safe (beyond ``10 r eps`` times the largest), so that,
    as on the fused path, one singular matrix leaves every other (component,
    pattern)'s draws as they were. ``O(K u r^3)`` either way.
    """
    try:
        return np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        pass
    r = covariances.shape[-1]
    flat = covariances.reshape(-1, r, r)
    eigenvalues = np.linalg.eigvalsh(flat)
    margin = 10 * r * np.finfo(float).eps * np.abs(eigenvalues).max(axis=1)
    factored = eigenvalues[:, 0] > margin
    roots = np.empty_like(flat)
    try:
        roots[factored] = np.linalg.cholesky(flat[factored])
    except np.linalg.LinAlgError:  # a factorisation failing beyond the margin
        factored[:] = False
    roots[~factored] = _symmetric_roots(flat[~factored])
    return roots.reshape(covariances.shape)


def diagonal_noise(variances, component, row_pattern, noise):
    """``sqrt(var) * z`` per row, ``var = variances[component[i], row_pattern[i]]``.

    The Cholesky factor of a diagonal matrix with a positive diagonal ``v``
    is ``diag(sqrt(v))``, to the bit (LAPACK's ``potrf`` takes the square
    root of ``v_j`` minus a sum of zeros, and divides zeros by it), and
    ``L z`` adds only exact zeros to ``sqrt(v_i) z_i``: this is
    :func:`cholesky_noise` of the matrices ``diag(v)`` on the same normals,
    with the same bits (zeros' signs aside), in ``O(n r)`` instead of
    ``O(n r^2)`` products and ``O(u K r^3)`` factorisations. Only the drawn
    component's variances are read. Diagonal and spherical variances are
    positive (the family's covariances are checked positive definite when
    made), so there is no singular factor to fall back from.

    Parameters
    ----------
    variances : ndarray of shape (n_components, n_patterns, r)
    component, row_pattern : ndarray of shape (n_rows,)
    noise : ndarray of shape (n_rows, r)
        Standard normal draws.

    Returns
    -------
    ndarray of shape (n_rows, r)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._conditional_draws import diagonal_noise
    >>> v = np.array([[[4.0, 9.0]]])
    >>> diagonal_noise(v, np.array([0]), np.array([0]), np.array([[1.0, -1.0]]))
    array([[ 2., -3.]])
    """
    roots = np.sqrt(variances[component, row_pattern])
    roots *= noise
    return roots


def packed_cholesky_noise(packed, entry, matrix, noise):
    """``L z`` per row from packed lower triangles (the fused kernels' layout).

    Parameters
    ----------
    packed : ndarray of shape (n_matrices, n_entries, r (r + 1) / 2)
        Lower triangles, row by row.
    entry, matrix : ndarray of shape (n_rows,)
        Each row's covariance is ``packed[matrix[i], entry[i]]``; rows that
        share one come in runs, so each is factorised once per run.
    noise : ndarray of shape (n_rows, r)

    Returns
    -------
    ndarray of shape (n_rows, r)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._conditional_draws import packed_cholesky_noise
    >>> packed = np.array([[[4.0, 2.0, 2.0]]])
    >>> zero = np.zeros(1, dtype=np.intp)
    >>> packed_cholesky_noise(packed, zero, zero, np.array([[1.0, 1.0]]))
    array([[2., 2.]])
    """
    noise = np.ascontiguousarray(noise, dtype=float)
    n_rows, r = noise.shape
    out = np.empty_like(noise)
    failed = np.zeros(n_rows, dtype=bool)
    _packed_cholesky_noise(
        np.ascontiguousarray(packed, dtype=float),
        np.ascontiguousarray(entry, dtype=np.intp),
        np.ascontiguousarray(matrix, dtype=np.intp),
        noise,
        out,
        failed,
    )
    if failed.any():
        rows = np.flatnonzero(failed)
        covariances = unpack(packed[matrix[rows], entry[rows]], r)
        roots = _symmetric_roots(covariances)
        out[rows] = np.einsum("nij,nj->ni", roots, noise[rows])
    return out


def _symmetric_roots(covariances):
    """``V sqrt(max(w, 0))``: a square root of PSD matrices singular to rounding."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariances)
    return eigenvectors * np.sqrt(np.maximum(eigenvalues, 0.0))[..., np.newaxis, :]


def unpack(packed, r):
    """Symmetric ``(..., r, r)`` matrices from lower triangles packed row by row."""
    rows, columns = np.tril_indices(r)
    full = np.empty(packed.shape[:-1] + (r, r))
    full[..., rows, columns] = packed
    full[..., columns, rows] = packed
    return full


@jit
def _packed_cholesky_noise(packed, entry, matrix, noise, out, failed):
    n_rows, r = noise.shape
    n_matrices = packed.shape[0]
    factors = np.empty((n_matrices, r, r))
    reciprocals = np.empty((n_matrices, r))
    # The entry whose factor each matrix's slot holds, and whether it exists.
    current = np.full(n_matrices, -1, dtype=np.intp)
    factored = np.zeros(n_matrices, dtype=np.bool_)
    for i in range(n_rows):
        j = matrix[i]
        if current[j] != entry[i]:
            current[j] = entry[i]
            position = 0
            for a in range(r):
                for b in range(a + 1):
                    factors[j, a, b] = packed[j, entry[i], position]
                    position += 1
            factored[j] = cholesky(factors, reciprocals, j, r)
        if not factored[j]:
            failed[i] = True
            continue
        for a in range(r):
            total = 0.0
            for b in range(a + 1):
                total += factors[j, a, b] * noise[i, b]
            out[i, a] = total
