"""The start of a mixed fit with many categories: sparse features.

Above ``KMEANS_DENSE_MAX_CELLS`` cells, the features k-means clusters to
start a mixed fit (standardised numeric columns beside one-hot indicators)
are a CSR matrix instead of an ``n_rows x (n_numeric + n_categories)``
dense one: an identifier column made the dense one quadratic in the rows.
Tests: the memory of the start on an identifier column; the same start,
and so the same fit to the bit, as the dense features wherever these are
stored whole; every start method, and the classifier's labelled start, on
sparse features; the bounded treatment of a missing cell of a column with
many categories and holes.
"""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from scipy.cluster.hierarchy import cut_tree, linkage

from emimpute import EMClassifier, EMImputer, EMMixture
from emimpute._em import _init_clusters, _init_features, _init_hierarchical, _loop
from emimpute._em._data import EMData


def _identifier_table(n_samples, seed=0):
    """Two numeric columns (two clusters, holes) and a unique-ID column."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_samples)
    numeric = rng.standard_normal((n_samples, 2)) + 4.0 * labels[:, np.newaxis]
    frame = pd.DataFrame(
        {
            "x": numeric[:, 0],
            "y": numeric[:, 1],
            # A category column, so not the identifier warning of an object one.
            "id": pd.Categorical([f"r{i}" for i in range(n_samples)]),
        }
    )
    frame.loc[::4, "x"] = np.nan
    frame.loc[1::7, "id"] = np.nan
    return frame, labels


def _clustered_table(n_samples=400, seed=1):
    """Three clusters in the numeric and the categorical columns, holes.

    Every categorical column's holes x categories stay within
    ``MISSING_CATEGORIES_KEPT`` per row, so the sparse features hold
    exactly the dense ones' values (the 40-category column has few holes).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n_samples)
    numeric = rng.standard_normal((n_samples, 3)) + 3.0 * labels[:, np.newaxis]
    numeric[rng.random(numeric.shape) < 0.15] = np.nan
    noisy = rng.random(n_samples) < 0.2
    colour = np.where(noisy, rng.integers(0, 4, n_samples), labels)
    colour = np.where(rng.random(n_samples) < 0.2, -1, colour)
    shop = 10 * labels + rng.integers(0, 10, n_samples)
    shop[rng.choice(n_samples, 5, replace=False)] = -1
    frame = pd.DataFrame(numeric, columns=["a", "b", "c"])
    frame["colour"] = pd.Categorical.from_codes(colour, categories=list("pqrs"))
    frame["shop"] = pd.Categorical.from_codes(
        shop, categories=[f"s{i}" for i in range(40)]
    )
    return frame, labels


def _sparse_starts(monkeypatch):
    """A list that records, for each start's features made, whether sparse."""
    calls = []
    features = _init_features._kmeans_features

    def spy(*args, **kw):
        result = features(*args, **kw)
        calls.append(scipy.sparse.issparse(result[0]))
        return result

    monkeypatch.setattr(_init_features, "_kmeans_features", spy)
    return calls


@pytest.fixture
def always_sparse(monkeypatch):
    """Every mixed start's features sparse (when that stores fewer values)."""
    monkeypatch.setattr(_init_features, "KMEANS_DENSE_MAX_CELLS", 0)


def _start_peaks(monkeypatch):
    """Record the tracemalloc peak of each start (``initial_params``) made."""
    peaks = []
    start = _loop.initial_params

    def measured(*args, **kwargs):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        params = start(*args, **kwargs)
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
        return params

    monkeypatch.setattr(_loop, "initial_params", measured)
    return peaks


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", ["mixture", "imputer", "classifier"])
def test_identifier_column_start_memory_is_linear(estimator, monkeypatch):
    # 6000 rows with a unique-ID column, K = 2: the dense start features
    # were 6000 x 6002 floats (275 MiB), and scikit-learn's KMeans copied
    # them once more (np.var for its tolerance): a start peaking at 550 MiB
    # of tracemalloc (the fit's peak RSS rose by 547 MiB); the classifier's,
    # whose labelled rows (half) are split between two components per
    # class, at 141 MiB. Sparse, each start peaks at 1.2 to 1.3 MiB: its
    # arrays are O(rows x columns). 16 MiB leaves room for other versions
    # of numpy and scikit-learn and is still a 34th of the dense start; a
    # quadratic start would pass it only up to about 1000 rows.
    frame, labels = _identifier_table(6000)
    peaks = _start_peaks(monkeypatch)
    if estimator == "classifier":
        model = EMClassifier(n_components_per_class=2, max_iter=3, random_state=0)
        args = (frame, np.where(np.arange(len(labels)) % 2 == 0, labels, -1))
    else:
        Estimator = EMMixture if estimator == "mixture" else EMImputer
        model, args = Estimator(n_components=2, max_iter=3, random_state=0), (frame,)
    tracemalloc.start()
    try:
        model.fit(*args)
    finally:
        tracemalloc.stop()
    assert len(peaks) == 1
    assert peaks[0] < 16 * 2**20, f"start peak {peaks[0] / 2**20:.1f} MiB"


def test_identifier_column_features_are_sparse_and_bounded():
    frame, _ = _identifier_table(6000)
    codes = frame["id"].cat.codes.to_numpy().astype(np.intp)[:, np.newaxis]
    numeric = frame[["x", "y"]].to_numpy()
    data = EMData.build(numeric, None, codes, (6000,))
    features, filled, private = _init_features._kmeans_features(data, None)
    assert scipy.sparse.issparse(features) and private
    assert features.shape == (6000, 2 + 6000)
    assert features.has_canonical_format
    # Two numeric values, and a 1 per observed ID or the frequencies of
    # MISSING_CATEGORIES_KEPT IDs per missing one (6000 x 6000 holes x IDs
    # are far past MISSING_CATEGORIES_KEPT per row).
    holes = np.count_nonzero(codes < 0)
    kept = _init_features.MISSING_CATEGORIES_KEPT
    assert features.nnz == 6000 * 2 + (6000 - holes) + holes * kept


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("method", ["kmeans", "k-means++"])
def test_sparse_features_give_the_dense_kmeans_labels(weighted, method):
    # With every column's frequencies kept, the sparse features hold the
    # dense ones' values to the bit, and k-means (or k-means++) with the
    # same random state gives the same labels: scikit-learn's sparse
    # distances round otherwise, which moves no label of clusters this far
    # apart.
    frame, _ = _clustered_table()
    rng = np.random.default_rng(5)
    weights = rng.random(len(frame)) + 0.5 if weighted else None
    codes = np.column_stack(
        [frame[c].cat.codes.to_numpy() for c in ("colour", "shop")]
    ).astype(np.intp)
    data = EMData.build(
        frame[["a", "b", "c"]].to_numpy(), None, codes, (4, 40), sample_weight=weights
    )
    dense = _init_features._kmeans_features(data, None)[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_init_features, "KMEANS_DENSE_MAX_CELLS", 0)
        sparse = _init_features._kmeans_features(data, None)[0]
    assert isinstance(dense, np.ndarray) and scipy.sparse.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    resp = [
        _init_clusters.initial_responsibilities(
            features,
            3,
            method,
            np.random.RandomState(0),
            private=True,
            sample_weight=weights,
        )
        for features in (dense, sparse)
    ]
    np.testing.assert_array_equal(resp[0], resp[1])


def _fitted(model):
    attributes = ("weights_", "means_", "covariances_", "lower_bound_")
    values = [getattr(model, name) for name in attributes]
    return values + list(model.category_probabilities_)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random"])
def test_sparse_start_gives_the_dense_fit(init_params, monkeypatch):
    # The start's parameters come from its labels, the mean-filled numeric
    # columns and the codes, never from the features themselves: the same
    # labels (previous test) give the same start, and EM from it the same
    # fit to the bit. Hence no tolerance.
    frame, _ = _clustered_table()
    kwargs = dict(n_components=3, init_params=init_params, random_state=0)
    dense = EMMixture(**kwargs).fit(frame)
    calls = _sparse_starts(monkeypatch)
    monkeypatch.setattr(_init_features, "KMEANS_DENSE_MAX_CELLS", 0)
    sparse = EMMixture(**kwargs).fit(frame)
    # The random start reads only the number of rows: no indicators built.
    assert calls == [init_params != "random"]
    for a, b in zip(_fitted(dense), _fitted(sparse), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("max_rows", [None, 150])
@pytest.mark.parametrize("view", _init_hierarchical.HIERARCHICAL_VIEWS)
def test_sparse_hierarchical_start_matches_its_definition(view, max_rows):
    # Against the view computed densely: 'data' and 'standardised' are the
    # dense path's views (no centring: distances do not move), 'svd' the
    # principal components of the agglomerated rows scaled to unit variance
    # over them; the other rows join the nearest mean. Clusters this far
    # apart have no near-tie for rounding to break.
    rng = np.random.default_rng(2)
    n_samples = 400
    labels = rng.integers(0, 3, n_samples)
    dense = np.hstack(
        [
            rng.standard_normal((n_samples, 4)) + 6.0 * labels[:, np.newaxis],
            (rng.random((n_samples, 30)) < 0.1).astype(float),
        ]
    )
    X = scipy.sparse.csr_array(dense)
    subset = (
        np.arange(n_samples)
        if max_rows is None
        else np.sort(rng.choice(n_samples, max_rows, replace=False))
    )
    got = _init_hierarchical._sparse_hierarchical_labels(X, subset, 3, view)
    Z = dense
    if view == "standardised":
        Z = dense / dense.std(axis=0)
    if view == "svd":
        rows = Z[subset]
        centre = rows.mean(axis=0)
        _, singular, vt = np.linalg.svd(rows - centre, full_matrices=False)
        kept = singular > singular[0] * 1e-5
        Z = (Z - centre) @ vt[kept].T / singular[kept] * np.sqrt(len(subset))
    subset_labels = cut_tree(linkage(Z[subset], method="ward"), n_clusters=3)[:, 0]
    centres = np.array([Z[subset][subset_labels == k].mean(axis=0) for k in range(3)])
    expected = ((Z[:, np.newaxis, :] - centres) ** 2).sum(axis=2).argmin(axis=1)
    expected[subset] = subset_labels
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("init_params", _init_clusters.INIT_METHODS)
def test_every_start_method_fits_above_the_threshold(init_params, monkeypatch):
    # An identifier column, the threshold patched to 0 and the hierarchical
    # start's subset to 500 of the 1200 rows (so that it assigns the rows
    # it did not agglomerate: 2000 of 6000 rows take seconds a view). Three
    # runs: the hierarchical start's three views.
    monkeypatch.setattr(_init_features, "KMEANS_DENSE_MAX_CELLS", 0)
    monkeypatch.setattr(_init_hierarchical, "HIERARCHICAL_MAX_ROWS", 500)
    frame, labels = _identifier_table(1200, seed=3)
    calls = _sparse_starts(monkeypatch)
    model = EMMixture(n_components=2, init_params=init_params, n_init=3, max_iter=20)
    predicted = model.set_params(random_state=0).fit_predict(frame)
    assert calls == [init_params not in _init_clusters.RANDOM_METHODS] * 3
    assert np.isfinite(model.lower_bound_)
    # The numeric clusters are 4 standard deviations apart: from every start
    # but the random one EM finds them (99% of the rows). From the random
    # responsibilities, EM ends in 20 iterations at a lower maximum (62%),
    # on the dense features too: that start reads no features.
    agreement = np.mean(predicted == labels)
    if init_params != "random":
        assert max(agreement, 1.0 - agreement) > 0.95


def test_hierarchical_start_on_sparse_features_finds_the_clusters(always_sparse):
    frame, labels = _clustered_table()
    model = EMMixture(n_components=3, init_params="hierarchical", random_state=0)
    predicted = model.fit_predict(frame)
    table = pd.crosstab(predicted, labels).to_numpy()
    assert (table.max(axis=0).sum() / len(labels)) > 0.9


@pytest.mark.parametrize("init_params", _init_clusters.INIT_METHODS)
def test_classifier_labelled_start_on_sparse_features(init_params, monkeypatch):
    # Half the rows labelled, two components per class: each class's
    # labelled rows are split by init_params on their sparse features. With
    # k-means or k-means++ the split, hence the fit, is the dense features'
    # to the bit (the random starts read no features); not the hierarchical
    # one, whose default 'svd' view whitens near-ties that rounding breaks.
    frame, labels = _clustered_table()
    y = np.where(np.arange(len(labels)) % 2 == 0, labels, -1)
    kwargs = dict(n_components_per_class=2, init_params=init_params, random_state=0)
    dense = EMClassifier(**kwargs).fit(frame, y)
    calls = _sparse_starts(monkeypatch)
    monkeypatch.setattr(_init_features, "KMEANS_DENSE_MAX_CELLS", 0)
    sparse = EMClassifier(**kwargs).fit(frame, y)
    assert calls == [init_params not in _init_clusters.RANDOM_METHODS] * 3
    assert np.isfinite(sparse.lower_bound_)
    assert np.mean(sparse.transduction_ == labels) > 0.9
    if init_params != "hierarchical":
        for a, b in zip(_fitted(dense), _fitted(sparse), strict=True):
            np.testing.assert_array_equal(a, b)


def test_missing_cells_keep_the_most_frequent_categories(always_sparse):
    # A 100-category column half missing: 300 holes x 100 categories are
    # past MISSING_CATEGORIES_KEPT per row of 600, so each hole keeps the
    # frequencies of the 16 most frequent categories (the dense features'
    # values there) and 0 elsewhere; a 5-category column keeps all its own.
    rng = np.random.default_rng(7)
    n_samples = 600
    popular = rng.zipf(1.5, size=n_samples) % 100
    codes = np.column_stack([popular, rng.integers(0, 5, n_samples)])
    codes[::2, 0] = -1
    codes[::3, 1] = -1
    data = EMData.build(rng.standard_normal((n_samples, 2)), None, codes, (100, 5))
    sparse = _init_features._kmeans_features(data, None)[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_init_features, "KMEANS_DENSE_MAX_CELLS", np.inf)
        dense = _init_features._kmeans_features(data, None)[0]
    assert scipy.sparse.issparse(sparse) and isinstance(dense, np.ndarray)
    as_dense = sparse.toarray()
    kept = _init_features.MISSING_CATEGORIES_KEPT
    block = slice(2, 102)
    missing = codes[:, 0] < 0
    frequencies = dense[missing][0, block]
    top = np.argsort(-frequencies, kind="stable")[:kept]
    assert np.count_nonzero(as_dense[missing][:, block], axis=1).max() == kept
    np.testing.assert_array_equal(
        as_dense[missing][:, block][:, top], dense[missing][:, block][:, top]
    )
    others = np.setdiff1d(np.arange(100), top)
    assert not as_dense[missing][:, block][:, others].any()
    # The distances it moves are within 3 f_(t+1), f_(t+1) the largest
    # frequency dropped.
    dropped = frequencies[others].max()
    moved = np.abs(
        ((as_dense[:, block][:, np.newaxis] - as_dense[missing][:1, block]) ** 2).sum(2)
        - ((dense[:, block][:, np.newaxis] - dense[missing][:1, block]) ** 2).sum(2)
    )
    assert moved.max() <= 3 * dropped
    # Everything else is the dense features' to the bit.
    np.testing.assert_array_equal(as_dense[~missing], dense[~missing])
    np.testing.assert_array_equal(as_dense[:, 102:], dense[:, 102:])
