"""The features the start clusters: the informative rows, their holes filled.

Numeric data alone: the numeric columns, each missing entry replaced by its
column's observed mean (:func:`mean_filled`), as scikit-learn's
``GaussianMixture`` would see complete data: ``O(n p)`` time and memory for
``n`` rows of ``p`` numeric columns, whatever the missing patterns.

On a mixed table the start clusters the standardised numeric columns beside
each categorical column's one-hot indicators (:func:`_kmeans_features`).
Dense, they are ``n x (p + L)`` floats, ``L`` the categories in all: an
identifier column makes that quadratic in the rows. Up to
``KMEANS_DENSE_MAX_CELLS`` cells they are dense, as ever; above it they are
a CSR matrix of ``O(n x (p + c))`` stored values (``c`` categorical columns;
a missing cell at most ``MISSING_CATEGORIES_KEPT`` of them), which k-means,
k-means++ and the hierarchical start take as they are.
"""

import numpy as np
import scipy.sparse

# The start's features on a mixed table are dense up to this many cells
# (64 MiB of float64), and above it sparse (CSR) when that stores at most
# half as many values. Every mixed table of the tests and benchmarks stays
# dense, to the bit as before: the largest, bench_mixed's timing table, is
# 1e5 rows x (10 + 10 x 5) = 6e6 cells (46 MiB). An identifier column
# crosses it at about 2900 rows (its n x n indicators), where the dense
# features and the copy scikit-learn's KMeans makes of them to compute its
# tolerance (np.var) peak at 128 MiB; at 6000 rows they took 550 MiB.
KMEANS_DENSE_MAX_CELLS = 2**23

# In the sparse features, a missing categorical cell keeps the frequencies of
# at most this many of its column's categories (the most frequent) when the
# column's holes x categories exceed this many values per row of the table;
# below that, all of them, as the dense features do. k-means reads a missing
# cell's indicators f only through squared distances: to a row of category
# c, 1 - 2 f_c + |f|^2; to another missing cell, 0; dropping the categories
# past the t most frequent moves such a distance (or one to a centre, whose
# block sums to at most 1) by at most 3 f_(t+1) <= 3 / (t + 1): 0.18 for
# t = 16, where two different categories are 2 apart, and 3 / n_observed for
# an identifier column (all f equal). 16 values are 192 bytes of CSR per
# missing cell, bounded whatever the number of categories; the column's full
# frequencies would be 8 bytes per category per hole (4.8 GB for 1e5 holes
# of a 6000-category column).
MISSING_CATEGORIES_KEPT = 16


def mean_filled(X, mask, sample_weight=None):
    """``X`` with each missing entry replaced by its column's observed mean.

    The mean is weighted by ``sample_weight`` when given. A copy when
    anything is missing; ``X`` itself otherwise.
    """
    if not mask.any():
        return X
    filled = np.array(X, dtype=float, copy=True)
    # Zeros first, so that the sums need no second array of X's size.
    filled[mask] = 0.0
    if sample_weight is None:
        counts = len(mask) - mask.sum(axis=0)
        sums = filled.sum(axis=0)
    else:
        counts = sample_weight @ ~mask
        sums = sample_weight @ filled
    column_means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    filled[mask] = np.broadcast_to(column_means, filled.shape)[mask]
    return filled


def _kmeans_features(data, rows, *, one_hot=True):
    """What k-means clusters to start EM: the informative rows, filled.

    Numeric data alone: the numeric columns with each missing entry replaced
    by its column's observed mean, exactly as scikit-learn's
    ``GaussianMixture`` would see complete data. With categorical columns:
    the numeric columns standardised (mean-filled to 0) beside each
    categorical column's one-hot indicators (a missing cell gets the
    column's observed frequencies), so that no feature's units decide the
    clusters. ``one_hot=False`` (one component: nothing to cluster; or a
    random start, which reads only the number of rows) leaves the indicators
    out, the features then the mean-filled numeric columns.

    Cost, for ``n`` rows, ``p`` numeric and ``c`` categorical columns, ``L``
    categories in all and ``h`` missing categorical cells: dense, the
    features are ``n x (p + L)`` floats, quadratic in the rows for an
    identifier column (``L`` near ``n``: 275 MiB at 6000 rows). So they are
    dense only up to ``KMEANS_DENSE_MAX_CELLS`` cells (64 MiB), or when a
    sparse matrix would store more than half as many values. Above it they
    are a CSR matrix of ``n x p`` numeric values, one 1 per observed
    categorical cell and, per missing cell, its column's frequencies: all of
    them when the column's holes x categories are at most
    ``MISSING_CATEGORIES_KEPT`` per row of the table, else those of its
    ``MISSING_CATEGORIES_KEPT`` most frequent categories (see that constant
    for the bound on the distances this moves). Memory and time are then
    ``O(n (p + c) + h MISSING_CATEGORIES_KEPT + L)`` (12 bytes per stored
    value): linear in the rows and columns, and independent of the number of
    categories beyond the ``L`` frequencies. k-means on them costs
    ``O(stored values x n_components)`` per iteration.

    Returns
    -------
    features : ndarray of shape (n_rows, n_features) or scipy.sparse.csr_array
    numeric : ndarray of shape (n_rows, n_numeric)
        The mean-filled numeric columns, for the Gaussian family's start.
    private : bool
        Whether ``features`` is a scratch copy k-means may centre in place.
    """
    numeric, mask, weights = data.numeric, data.mask, data.sample_weight
    if rows is not None:
        numeric, mask = numeric[rows], mask[rows]
        weights = None if weights is None else weights[rows]
    filled = mean_filled(numeric, mask, weights)
    if data.n_categorical == 0:
        return filled, filled, filled is not data.numeric
    if not one_hot:
        return filled, filled, False
    codes = data.codes if rows is None else data.codes[rows]
    if weights is None:
        centre, spread = filled.mean(axis=0), filled.std(axis=0)
    else:
        centre = weights @ filled / weights.sum()
        spread = np.sqrt(weights @ (filled - centre) ** 2 / weights.sum())
    n_numeric = filled.shape[1]
    n_categories = np.asarray(data.n_categories, dtype=np.intp)
    width = n_numeric + int(n_categories.sum())
    if len(filled) * width > KMEANS_DENSE_MAX_CELLS:
        features = _sparse_features(
            filled, centre, spread, codes, n_categories, weights
        )
        if features is not None:
            return features, filled, True
    # One array, the indicators' 1s put by flat index and each column's
    # missing rows given its frequencies: np.hstack of per-column np.where
    # blocks took 0.13 s at 1e5 rows x (10 + 10 x 5), in strided copies.
    features = np.zeros((len(filled), width))
    np.divide(
        filled - centre, np.where(spread > 0, spread, 1.0), out=features[:, :n_numeric]
    )
    offsets = n_numeric + np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    observed = codes >= 0
    rows_observed, columns_observed = np.nonzero(observed)
    features.ravel()[
        rows_observed * width
        + offsets[columns_observed]
        + codes[rows_observed, columns_observed]
    ] = 1.0
    for j in np.flatnonzero(~observed.all(axis=0)):
        present = observed[:, j]
        frequencies = 0.0
        if present.any():
            counts = np.bincount(
                codes[present, j],
                weights=None if weights is None else weights[present],
                minlength=n_categories[j],
            )
            frequencies = counts / counts.sum()
        features[~present, offsets[j] : offsets[j] + n_categories[j]] = frequencies
    return features, filled, True


def _sparse_features(filled, centre, spread, codes, n_categories, weights):
    """The start's features of :func:`_kmeans_features` as a CSR matrix.

    The same values as the dense features, less the zeros, except past the
    ``MISSING_CATEGORIES_KEPT`` most frequent categories of a column with
    many categories and holes (see that constant). None when this would
    store more than half as many values as the dense matrix has cells (a
    table with few categories: its dense features are then no larger than
    twice its stored values).
    """
    n_rows, n_numeric = filled.shape
    n_categorical = codes.shape[1]
    width = n_numeric + int(n_categories.sum())
    offsets = n_numeric + np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    observed = codes >= 0
    n_holes = n_rows - observed.sum(axis=0)
    # Each column's categories given to its missing cells, and their
    # frequencies (categories never observed have frequency 0: not stored).
    kept = []
    for j in range(n_categorical):
        present = observed[:, j]
        categories, frequencies = np.empty(0, dtype=np.intp), np.empty(0)
        if n_holes[j] and present.any():
            counts = np.bincount(
                codes[present, j],
                weights=None if weights is None else weights[present],
                minlength=n_categories[j],
            )
            categories = np.flatnonzero(counts)
            if n_holes[j] * len(categories) > MISSING_CATEGORIES_KEPT * n_rows:
                # The most frequent, the lowest codes first among equal counts.
                top = np.argsort(-counts, kind="stable")[:MISSING_CATEGORIES_KEPT]
                categories = np.sort(top[counts[top] > 0])
            frequencies = counts[categories] / counts.sum()
        kept.append((categories, frequencies))
    # Stored values per row and block (the numeric columns, then each
    # categorical column's), laid out row after row in column order, so
    # that the matrix is canonical (sorted indices) as built.
    lengths = np.empty((n_rows, 1 + n_categorical), dtype=np.intp)
    lengths[:, 0] = n_numeric
    for j, (categories, _) in enumerate(kept):
        lengths[:, 1 + j] = np.where(observed[:, j], 1, len(categories))
    nnz = int(lengths.sum())
    if 2 * nnz > n_rows * width:
        return None
    index_dtype = np.int32 if max(nnz, width) < np.iinfo(np.int32).max else np.int64
    ends = np.cumsum(lengths, axis=1)
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    indptr[1:] = np.cumsum(ends[:, -1])
    starts = ends - lengths + indptr[:-1, np.newaxis]
    del ends, lengths
    values = np.empty(nnz)
    indices = np.empty(nnz, dtype=index_dtype)
    positions = starts[:, :1] + np.arange(n_numeric)
    values[positions] = (filled - centre) / np.where(spread > 0, spread, 1.0)
    indices[positions] = np.arange(n_numeric)
    for j, (categories, frequencies) in enumerate(kept):
        present = observed[:, j]
        positions = starts[present, 1 + j]
        values[positions] = 1.0
        indices[positions] = offsets[j] + codes[present, j]
        positions = starts[~present, 1 + j, np.newaxis] + np.arange(len(categories))
        values[positions] = frequencies
        indices[positions] = offsets[j] + categories
    return scipy.sparse.csr_array((values, indices, indptr), shape=(n_rows, width))
