"""Array operations on the blocks of a chunk of rows with missing entries.

Gathers, scatters, tiny batched products and per-pattern block inverses used
by the dense Gaussian kernel (``_dense``). Each works on whole stacks: the
loops below run over the entries of an ``r x r`` block (``r`` the number of
missing entries, at most ``_LOOP_MAX_ENTRIES``), never over rows or patterns.
"""

import numpy as np

from emimpute._em._forms import ILL_DEFINED_COVARIANCE
from emimpute._em._linalg import inverse_and_log_det

# Up to this many missing entries per row, products of tiny matrices run as
# a Python loop over their entries (one numpy call on a (K, rows) array per
# entry, fastest in place); above it the r^2 calls cost more than einsum.
_LOOP_MAX_ENTRIES = 8


def gather_entries(values, missing):
    """``values[k, i, missing[i, a]]`` laid out as ``(r, K, n_rows)``.

    Entries first, so that each entry is a contiguous ``(K, n_rows)`` array
    for the entry-wise products of :func:`batched_matvec`.
    """
    n_components, n_rows, n_features = values.shape
    flat = (np.arange(n_rows) * n_features)[np.newaxis, :] + missing.T
    flat_values = values.reshape(n_components, n_rows * n_features)
    return np.moveaxis(np.take(flat_values, flat, axis=1), 0, 1)


def batched_matvec(matrices, vectors):
    """``out[a, k, i] = sum_b matrices[a, b, k, i] vectors[b, k, i]``.

    ``matrices`` of shape ``(r, r, K or 1, n_rows)``, ``vectors`` of shape
    ``(r, K, n_rows)``: ``r^2`` multiply-adds over whole ``(K, n_rows)``
    arrays, several times faster than ``einsum`` on these tiny matrices
    (``einsum`` above ``_LOOP_MAX_ENTRIES``).
    """
    r = len(vectors)
    if r > _LOOP_MAX_ENTRIES:
        return np.einsum("abkn,bkn->akn", matrices, vectors)
    out = np.empty(vectors.shape)
    scratch = np.empty(vectors.shape[1:])
    for a in range(r):
        row = np.multiply(matrices[a, 0], vectors[0], out=out[a])
        for b in range(1, r):
            row += np.multiply(matrices[a, b], vectors[b], out=scratch)
    return out


def scatter(values, missing, n_features):
    """Sum ``values[k, i, a]`` into ``out[k, missing[i, a]]``."""
    n_components = values.shape[0]
    positions = np.arange(n_components)[:, np.newaxis, np.newaxis] * n_features
    return np.bincount(
        (positions + missing).ravel(),
        weights=values.ravel(),
        minlength=n_components * n_features,
    ).reshape(n_components, n_features)


def weighted_outer_sums(weighted, values):
    """Lower triangles of ``out[a, b, i] = sum_k weighted[a, k, i] values[b, k, i]``.

    For ``(r, K, n_rows)`` inputs; returns ``(r (r + 1) / 2, n_rows)``, the
    entries in ``numpy.tril_indices(r)`` order (the result is symmetric when
    ``weighted`` is ``values`` scaled per ``(k, i)``). Entry by entry over
    ``(K, n_rows)`` arrays up to ``_LOOP_MAX_ENTRIES``, ``einsum`` above.
    """
    r = len(values)
    rows, columns = np.tril_indices(r)
    if r > _LOOP_MAX_ENTRIES:
        values = np.ascontiguousarray(values)
        return np.einsum("akn,bkn->abn", weighted, values)[rows, columns]
    out = np.empty((len(rows), values.shape[2]))
    product = np.empty(values.shape[1:])
    for entry, (a, b) in enumerate(zip(rows, columns, strict=True)):
        np.multiply(weighted[a], values[b], out=product)
        product.sum(axis=0, out=out[entry])
    return out


def lower_triangles(blocks):
    """``blocks[..., a, b]`` for ``(a, b)`` in ``numpy.tril_indices(r)``."""
    rows, columns = np.tril_indices(blocks.shape[-1])
    return blocks[..., rows, columns]


def scatter_symmetric(lower, missing, n_features):
    """Sum symmetric blocks into ``(d, d)`` matrices at their coordinates.

    Parameters
    ----------
    lower : ndarray of shape (n_matrices, n_blocks, r (r + 1) / 2)
        Each block's lower triangle, in ``numpy.tril_indices(r)`` order.
    missing : ndarray of shape (n_blocks, r)
        The coordinates of each block.

    Returns
    -------
    out : ndarray of shape (n_matrices, d, d)
        ``sum_i B_i`` embedded at ``missing[i]``, per matrix. Only the lower
        triangles are scattered (half the work), then mirrored.
    """
    n_matrices = lower.shape[0]
    rows, columns = np.tril_indices(missing.shape[1])
    index = missing[:, rows] * n_features + missing[:, columns]
    positions = np.arange(n_matrices)[:, np.newaxis, np.newaxis] * n_features**2 + index
    half = np.bincount(
        positions.ravel(),
        weights=lower.ravel(),
        minlength=n_matrices * n_features**2,
    ).reshape(n_matrices, n_features, n_features)
    out = half + np.swapaxes(half, 1, 2)
    diagonal = np.arange(n_features)
    out[:, diagonal, diagonal] = half[:, diagonal, diagonal]
    return out


def block_inverses(matrices, pattern_index, inverse_factor=False):
    """Inverse and log-determinant of each matrix's block on each pattern.

    Parameters
    ----------
    matrices : ndarray of shape (n_matrices, d, d)
        Precisions (blocks on the missing coordinates) or covariances
        (blocks on the observed ones).
    pattern_index : ndarray of shape (n_patterns, s)
        Coordinates of each pattern's block.
    inverse_factor : bool, default=False
        Also return the inverse Cholesky factors (see ``inverse_and_log_det``).

    Returns
    -------
    inverse : ndarray of shape (s, s, n_matrices, n_patterns)
        Batch axes last (see ``_linalg``).
    log_det : ndarray of shape (n_matrices, n_patterns)
    factor : ndarray of shape (s, s, n_matrices, n_patterns)
        Only with ``inverse_factor``.
    """
    try:
        return inverse_and_log_det(
            pattern_blocks(matrices, pattern_index, pattern_index), inverse_factor
        )
    except np.linalg.LinAlgError as exc:
        raise ValueError(ILL_DEFINED_COVARIANCE) from exc


def pattern_blocks(matrices, row_index, column_index):
    """``matrices[k, row_index[p, a], column_index[p, b]]`` as ``(a, b, k, p)``.

    One ``take`` of flat indices: several times faster than indexing with
    three broadcast index arrays.
    """
    n_matrices, n_features, _ = matrices.shape
    flat = row_index.T[:, np.newaxis, :] * n_features + column_index.T[np.newaxis]
    blocks = np.take(matrices.reshape(n_matrices, n_features**2), flat, axis=1)
    return np.moveaxis(blocks, 0, 2)


def complement(pattern_missing, n_features):
    """The observed coordinates of each pattern, in increasing order."""
    n_patterns, n_missing = pattern_missing.shape
    is_missing = np.zeros((n_patterns, n_features), dtype=bool)
    is_missing[np.arange(n_patterns)[:, np.newaxis], pattern_missing] = True
    return np.nonzero(~is_missing)[1].reshape(n_patterns, n_features - n_missing)


def condition_numbers(covariances, precisions):
    """1-norm condition numbers of the correlation matrices.

    ``||R||_1 ||inv(R)||_1`` with ``R = D^-1 S D^-1``, ``D = sqrt(diag S)``:
    the condition number that governs rounding in the precision route, which
    is invariant to the scales of the features (rescaling a feature changes
    neither the rounding nor the result).

    Parameters
    ----------
    covariances, precisions : ndarray of shape (n_matrices, d, d)

    Returns
    -------
    condition : ndarray of shape (n_matrices,)
    """
    scale = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    outer = scale[:, :, np.newaxis] * scale[:, np.newaxis, :]
    correlation_norm = np.abs(covariances / outer).sum(axis=-2).max(axis=-1)
    inverse_norm = np.abs(precisions * outer).sum(axis=-2).max(axis=-1)
    return correlation_norm * inverse_norm
