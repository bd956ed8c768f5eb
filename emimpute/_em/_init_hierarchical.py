"""The hierarchical start: a model-based agglomerative clustering of the rows.

The start is in mclust's manner: a model-based agglomerative clustering
(``hc``) cut at the number of components. It uses scipy's compiled
``linkage`` (Ward's criterion, which is the classification likelihood of the
EII model, Fraley 1998; mclust's default ``hcModelName`` is 'VVV', whose
merges scipy does not compute), so it costs ``O(m^2)`` time and memory on the
``m <= HIERARCHICAL_MAX_ROWS`` rows it agglomerates.

It clusters complete rows (holes already filled: see ``_init``), so missing
patterns do not enter its cost. For ``n`` rows of ``d`` features and ``K``
components: dense rows, the view ``O(n d)`` ('data', 'standardised') or a
thin SVD ``O(n d min(n, d))`` ('svd'), the tree ``O(m^2)`` time and memory
(cached: a grid over ``K`` cuts one tree, ``O(m)`` a cut), and the rows
left out of it joined to the nearest mean, ``O(n K d)``. Sparse rows (a
mixed table's indicators), never made dense: the subset's Gram matrix,
``O(m s)`` for ``s`` stored values of the subset, the 'svd' view's
eigendecomposition of it ``O(m^3)``, and ``O(stored values x K)`` to join
the other rows; memory ``O(m^2 + K d)``.
"""

import hashlib
import threading

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import squareform
from sklearn.utils.sparsefuncs import mean_variance_axis

# Rows the hierarchical start agglomerates at most (mclust's default subset
# size): the tree costs O(m^2) memory, 2000 rows about 16 MB.
HIERARCHICAL_MAX_ROWS = 2000

# The hierarchical start's views of the data, one per run (see
# hierarchical_responsibilities); later runs start from k-means.
HIERARCHICAL_VIEWS = ("svd", "data", "standardised")


def hierarchical_responsibilities(X, n_components, view, random_state):
    """Hard responsibilities from a model-based agglomerative clustering.

    mclust's ``hc`` start: every row starts as its own cluster and the two
    clusters whose merge lowers the classification likelihood least are
    merged, until ``n_components`` are left. The criterion is the EII
    model's (equal spherical covariances: Ward's), computed by scipy's
    ``linkage``, on a ``view`` of the data:

    - 'svd': the principal components scaled to unit variance (after
      mclust's default ``hcUse = "SVD"``, which does not scale them all
      so: no feature's units decide the merges);
    - 'data': the data as given (mclust's ``hcUse = "VARS"``);
    - 'standardised': each feature divided by its standard deviation.

    With more than ``HIERARCHICAL_MAX_ROWS`` rows, a random subset of that
    size is agglomerated and every other row joins the cluster of the
    nearest mean (in the same view). The tree of a given view of given rows
    is computed once and cut at every number of components asked for
    (a selector's grid reuses it).

    Sparse ``X`` (a mixed table's many indicators: see
    :func:`~emimpute._em._init_features._kmeans_features`) is never made
    dense, nor centred: see
    :func:`_sparse_hierarchical_labels`, whose 'svd' view is that of the
    agglomerated rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy.sparse.csr_array
        Complete data (missing entries already filled: see
        :func:`~emimpute._em._init.initial_params`).
    n_components : int
    view : {'svd', 'data', 'standardised'}
    random_state : numpy.random.RandomState
        Draws the subset, when one is needed.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    """
    n_samples = X.shape[0]
    subset = np.arange(n_samples)
    if n_samples > HIERARCHICAL_MAX_ROWS:
        subset = np.sort(
            random_state.choice(n_samples, HIERARCHICAL_MAX_ROWS, replace=False)
        )
    if scipy.sparse.issparse(X):
        labels = _sparse_hierarchical_labels(X, subset, n_components, view)
    else:
        labels = _dense_hierarchical_labels(X, subset, n_components, view)
    resp = np.zeros((n_samples, n_components))
    resp[np.arange(n_samples), labels] = 1.0
    return resp


def _dense_hierarchical_labels(X, subset, n_components, view):
    """The hierarchical start's labels of dense rows: Ward's tree of the
    ``subset``'s rows in the ``view``, and every other row in the cluster of
    the nearest mean."""
    Z = _hierarchical_view(X, view)
    tree = _ward_tree(Z[subset])
    subset_labels = cut_tree(tree, n_clusters=n_components)[:, 0]
    if len(subset) == len(X):
        return subset_labels
    counts = np.bincount(subset_labels, minlength=n_components)
    centres = np.zeros((n_components, Z.shape[1]))
    np.add.at(centres, subset_labels, Z[subset])
    centres /= counts[:, np.newaxis]
    distances = (
        (Z**2).sum(axis=1)[:, np.newaxis]
        - 2.0 * Z @ centres.T
        + (centres**2).sum(axis=1)
    )
    labels = distances.argmin(axis=1)
    labels[subset] = subset_labels
    return labels


def _hierarchical_view(X, view):
    if view == "data":
        return X
    centred = X - X.mean(axis=0)
    if view == "standardised":
        spread = centred.std(axis=0)
        return centred / np.where(spread > 0, spread, 1.0)
    left, singular, _ = np.linalg.svd(centred, full_matrices=False)
    kept = singular > singular[0] * 1e-10 if len(singular) else singular > 0
    return left[:, kept] * np.sqrt(len(X))


# Eigenvalues of a Gram matrix below this fraction of the largest are its
# rounding (about m eps = 4e-13 of it for m = 2000 rows), not directions of
# the data: whitened, they would weigh as much as the real ones. The dense
# SVD's cutoff, singular values under 1e-10 of the largest, is 1e-20 here.
GRAM_EIGENVALUE_CUTOFF = 1e-10

# Rows of the agglomerated subset whose Gram rows are formed at once.
GRAM_BLOCK_ROWS = 256


def _sparse_hierarchical_labels(X, subset, n_components, view):
    """The hierarchical start's labels of sparse rows, in bounded memory.

    The same tree as the dense path's on the same view, up to rounding,
    but through the ``m x m`` Gram matrix of the ``m`` agglomerated rows
    ``X[subset]`` instead of their dense ``m x n_features`` values (a
    mixed table's indicators can number as many as its rows):

    - 'data' and 'standardised' (columns divided by their spread over all
      rows; not centred, which moves no distance): Ward's tree of the
      rows' Euclidean distances, from the Gram matrix;
    - 'svd': the principal components of the agglomerated rows (their
      centred Gram matrix's eigenvectors, eigenvalues above
      ``GRAM_EIGENVALUE_CUTOFF`` of the largest), scaled to unit variance
      over those rows. The dense path takes the components of all the
      rows, which would need all of them dense.

    Every other row joins the cluster of the nearest mean in the same view,
    found from its products with the means (``O(stored values x
    n_components)``), never its own coordinates. Memory: ``O(m^2)``, as
    the tree itself, plus ``n_components x n_features`` means.
    """
    if view == "standardised":
        spread = np.sqrt(mean_variance_axis(X, axis=0)[1])
        X = X.copy()
        X.data /= np.where(spread > 0, spread, 1.0)[X.indices]
    S = X[subset]
    m = S.shape[0]
    gram = np.empty((m, m))
    for start in range(0, m, GRAM_BLOCK_ROWS):
        block = slice(start, start + GRAM_BLOCK_ROWS)
        gram[block] = (S[block] @ S.T).toarray()
    if view == "svd":
        column_means = np.asarray(S.mean(axis=0)).ravel()
        # The centred rows' Gram matrix: J G J, J the centring projection.
        row_means = gram.mean(axis=1)
        gram -= row_means[:, np.newaxis]
        gram -= row_means[np.newaxis, :]
        gram += row_means.mean()
        # MRRR (driver 'evr'): O(m) workspace, where the default
        # divide-and-conquer takes 2 m^2 floats (64 MB at m = 2000).
        eigenvalues, eigenvectors = scipy.linalg.eigh(
            gram, overwrite_a=True, check_finite=False, driver="evr"
        )
        del gram
        # The kept components, the largest first (eigh sorts them up).
        largest = eigenvalues[-1]
        order = np.flatnonzero(eigenvalues > largest * GRAM_EIGENVALUE_CUTOFF)[::-1]
        if not largest > 0:
            order = order[:0]
        eigenvalues = eigenvalues[order]
        Z = eigenvectors[:, order]
        del eigenvectors
        Z *= np.sqrt(m)
        tree = _ward_tree(Z)
    else:
        # The distances in place of the Gram matrix: |a|^2 + |b|^2 - 2 a.b.
        squared = np.diag(gram).copy()
        distances = gram
        distances *= -2.0
        distances += squared[:, np.newaxis]
        distances += squared
        np.maximum(distances, 0.0, out=distances)
        np.sqrt(distances, out=distances)
        np.fill_diagonal(distances, 0.0)
        tree = _ward_tree(squareform(distances, checks=False))
        del gram, distances
    subset_labels = cut_tree(tree, n_clusters=n_components)[:, 0]
    if m == X.shape[0]:
        return subset_labels
    counts = np.bincount(subset_labels, minlength=n_components)
    membership = np.zeros((n_components, m))
    membership[subset_labels, np.arange(m)] = 1.0 / counts[subset_labels]
    if view == "svd":
        # A row x's coordinates are (x - mu) V D^-1 sqrt(m), with U D V' the
        # centred rows' SVD, so V = (S - mu)' U D^-1: its products with the
        # means need only the rows S, never V (n_features x m).
        centres = membership @ Z
        # U D^-2 sqrt(m) = Z D^-2, U the kept eigenvectors, D^2 their values.
        weights = (Z / eigenvalues) @ centres.T
        products = np.asarray(S.T @ weights) - np.outer(
            column_means, weights.sum(axis=0)
        )
        scores = np.asarray(X @ products) - column_means @ products
    else:
        centres = np.asarray(membership @ S)
        scores = np.asarray(X @ centres.T)
    # |x - c|^2 less |x|^2, the same for every centre.
    labels = ((centres**2).sum(axis=1) - 2.0 * scores).argmin(axis=1)
    labels[subset] = subset_labels
    return labels


# The last few trees, keyed by a digest of the rows agglomerated: a grid over
# n_components cuts one tree instead of rebuilding it for every fit.
_TREES = {}
_TREES_LOCK = threading.Lock()
_TREES_KEPT = 8


def _ward_tree(Z):
    Z = np.ascontiguousarray(Z, dtype=float)
    key = (Z.shape, hashlib.sha1(Z.tobytes()).hexdigest())
    tree = _TREES.get(key)
    if tree is None:
        tree = linkage(Z, method="ward")
        # Fits on several threads share the cache: two could evict the same
        # oldest tree (a KeyError in the second).
        with _TREES_LOCK:
            if len(_TREES) >= _TREES_KEPT:
                _TREES.pop(next(iter(_TREES)), None)
            _TREES[key] = tree
    return tree
