"""Responsibilities to start EM from: one clustering of the filled rows.

One method per name of ``INIT_METHODS``, as scikit-learn's
``GaussianMixture`` starts (:func:`initial_responsibilities`), on the
features of ``_init_features`` (dense or CSR), with the hierarchical start
of ``_init_hierarchical`` beside them. The rows are complete (filled), so
missing patterns do not enter the cost. For ``n`` rows of ``d`` features
(stored values, when sparse) and ``K`` components: k-means ``O(n K d)`` per
Lloyd iteration (one run, ``n_init=1``), k-means++ ``O(n K d)`` for its
seeding, 'random' ``O(n K)``, 'random_from_data' ``O(n + K)`` draws and an
``n x K`` array; one component ``O(n)``, no clustering.
"""

import contextlib

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from emimpute._em._init_hierarchical import (
    HIERARCHICAL_VIEWS,
    hierarchical_responsibilities,
)
from emimpute._em._threads import one_thread

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hierarchical")
# The starts that read only the number of rows, not the features.
RANDOM_METHODS = ("random", "random_from_data")
# k-means on at most this many cells runs in one OpenMP thread: scikit-learn's
# threads cost more to start and synchronise than such a table's arithmetic
# (a 272 x 2 table: 2.4 ms on one thread, 90-250 ms on two of a loaded
# 2-core machine, where waiting threads spin against other work).
KMEANS_SINGLE_THREAD_MAX_CELLS = 100_000


def initial_responsibilities(
    X,
    n_components,
    init_params,
    random_state,
    *,
    private=False,
    init_index=0,
    sample_weight=None,
):
    """Responsibilities to start EM from, as scikit-learn's GaussianMixture.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy.sparse.csr_array
        Complete data (missing entries already filled). Sparse (a mixed
        table's many indicators, see
        :func:`~emimpute._em._init_features._kmeans_features`), every
        method takes it as it is: k-means and k-means++ on CSR, the random
        ones read only its number of rows, the hierarchical start through
        its rows' Gram matrix.
    n_components : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', \
            'hierarchical'}
    random_state : numpy.random.RandomState
    private : bool, default=False
        Whether ``X`` is a scratch copy that k-means may centre in place
        (and restore, to rounding) instead of copying it once more: the
        largest allocation of a fit on data with missing entries.
    init_index : int, default=0
        The run's number among ``n_init``: the hierarchical start uses a
        different view of the data in each of its first runs, then k-means.
    sample_weight : ndarray of shape (n_samples,), default=None
        Row weights (not used by the hierarchical start): weighted k-means
        (and k-means++ seeding), and rows drawn with probability proportional
        to their weight by ``'random_from_data'``.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    """
    n_samples = X.shape[0]
    if n_components == 1:
        # Every row belongs to the one component whatever the method: no
        # clustering (k-means of one cluster cost an eighth of a small fit,
        # and takes numbers from the random state to no end).
        return np.ones((n_samples, 1))
    if init_params == "hierarchical":
        if init_index < len(HIERARCHICAL_VIEWS):
            return hierarchical_responsibilities(
                X, n_components, HIERARCHICAL_VIEWS[init_index], random_state
            )
        init_params = "kmeans"
    if init_params == "kmeans":
        threads = (
            one_thread("openmp")
            if X.size <= KMEANS_SINGLE_THREAD_MAX_CELLS
            else contextlib.nullcontext()
        )
        with threads:
            kmeans = KMeans(
                n_clusters=n_components,
                n_init=1,
                random_state=random_state,
                copy_x=not private,
            ).fit(X, sample_weight=sample_weight)
        labels = kmeans.labels_
        resp = np.zeros((n_samples, n_components))
        resp[np.arange(n_samples), labels] = 1.0
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    elif init_params == "random_from_data":
        resp = np.zeros((n_samples, n_components))
        probabilities = (
            None if sample_weight is None else sample_weight / sample_weight.sum()
        )
        indices = random_state.choice(
            n_samples, size=n_components, replace=False, p=probabilities
        )
        resp[indices, np.arange(n_components)] = 1.0
    elif init_params == "k-means++":
        resp = np.zeros((n_samples, n_components))
        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        resp[indices, np.arange(n_components)] = 1.0
    else:
        raise ValueError(
            f"Unimplemented initialization method {init_params!r}; "
            f"expected one of {INIT_METHODS}."
        )
    return resp
