"""Fits on dask arrays equal the in-memory fits; predictions stay lazy.

The dask fit runs the same E-step on each chunk and sums the statistics in
another order, so the two fits agree to rounding (seen: ~1e-15); 1e-10 (the
issue's bound) leaves room for the iterations' accumulated rounding. With at
most INITIALISATION_ROWS rows the start is computed on all of them, the same
start as in memory.
"""

import contextlib
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

da = pytest.importorskip("dask.array")

from emimpute import EMImputer, EMMixture  # noqa: E402

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
ATTRIBUTES = ["weights_", "means_", "covariances_", "precisions_cholesky_"]
# Even chunks; one chunk; uneven chunks with a chunk of one row, one of only
# complete rows and one of only empty rows (with holes, the data's first 40
# rows are complete and the next 10 empty).
CHUNKINGS = [97, 400, (1, 39, 10, 150, 200)]


def _count_summary_rows(monkeypatch):
    """The rows each summary task reads, appended as the tasks run (a pass
    over the data is one task per chunk)."""
    from emimpute._em import _dask

    rows = []
    summary = _dask._chunk_summary

    def counted(chunk):
        rows.append(len(chunk))
        return summary(chunk)

    monkeypatch.setattr(_dask, "_chunk_summary", counted)
    return rows


def _data(missing_rate):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 3)), rng.normal(4.0, 1.0, size=(200, 3))])
    rng.shuffle(X)
    X[50:][rng.random(X[50:].shape) < missing_rate] = np.nan
    if missing_rate:
        X[40:50] = np.nan
    return X


def _counting(lazy):
    """The dask array ``lazy``, and the list of the row counts its tasks read
    (with the ``synchronous`` fixture: in this process)."""
    reads = []

    def read(block):
        if len(block):  # not dask's 0-row call to find the output's type
            reads.append(len(block))
        return block

    return lazy.map_blocks(read, dtype=lazy.dtype), reads


@pytest.fixture
def synchronous():
    # Tasks that count reads in a list run in this process (the module's
    # distributed client, once started, would run them on its workers).
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield


def _separated_clusters():
    # Three well-separated clusters of 200 rows in 3-D, holes in 15% of the
    # entries and 5 rows with nothing observed.
    rng = np.random.default_rng(1)
    centres = [[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0]]
    X = np.vstack([rng.normal(c, 1.0, size=(200, 3)) for c in centres])
    rng.shuffle(X)
    X[rng.random(X.shape) < 0.15] = np.nan
    X[100:105] = np.nan
    return X


@pytest.fixture
def client_arrays(monkeypatch):
    """The shapes of the arrays dask hands to the client (a dask array's
    compute, np.asarray of it, dask.compute of it: each goes through the
    array's finalize, which joins its chunks' results into one array)."""
    import dask.array.core

    shapes = []
    finalize = dask.array.core.finalize

    def recorded(results):
        joined = finalize(results)
        shapes.append(np.shape(joined))
        return joined

    monkeypatch.setattr(dask.array.core, "finalize", recorded)
    return shapes


def _most_rows(shapes):
    return max((shape[0] for shape in shapes if len(shape)), default=0)


def _assert_same_fit(a, b):
    for name in ATTRIBUTES:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-10)
    assert_allclose(a.lower_bound_, b.lower_bound_, rtol=0, atol=1e-10)
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("missing_rate", [0.0, 0.2])
def test_dask_fit_equals_in_memory_fit(covariance_type, missing_rate):
    X = _data(missing_rate)
    settings = dict(covariance_type=covariance_type, random_state=0, tol=1e-10)
    in_memory = EMMixture(2, **settings).fit(X)
    for rows in CHUNKINGS:
        lazy = da.from_array(X, chunks=(rows, 3))
        _assert_same_fit(EMMixture(2, **settings).fit(lazy), in_memory)


def test_dask_predictions_are_lazy_and_equal():
    X = _data(0.2)
    mixture = EMMixture(2, random_state=0).fit(X)
    lazy = da.from_array(X, chunks=(97, 3))
    proba = mixture.predict_proba(lazy)
    assert isinstance(proba, da.Array) and proba.chunks[0] == lazy.chunks[0]
    assert_allclose(proba.compute(), mixture.predict_proba(X), rtol=0, atol=1e-12)
    scores = mixture.score_samples(lazy)
    assert isinstance(scores, da.Array)
    assert_allclose(scores.compute(), mixture.score_samples(X), rtol=0, atol=1e-12)
    labels = mixture.predict(lazy)
    assert np.array_equal(labels.compute(), mixture.predict(X))
    assert_allclose(mixture.score(lazy), mixture.score(X), rtol=1e-14)
    fit_labels = EMMixture(2, random_state=0).fit_predict(lazy)
    assert isinstance(fit_labels, da.Array)
    assert np.array_equal(fit_labels.compute(), mixture.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_imputer_equals_in_memory_imputer(covariance_type):
    # Features in different units (the fit is standardised: the scaling is
    # computed by three passes over the chunks) and a feature never observed.
    X = _data(0.2) * [1.0, 100.0, 0.01]
    X = np.hstack([X, np.full((len(X), 1), np.nan)])
    settings = dict(
        n_components=2, covariance_type=covariance_type, random_state=0, tol=1e-10
    )
    with pytest.warns(UserWarning, match="Skipping features"):
        in_memory = EMImputer(**settings).fit(X)
    lazy = da.from_array(X, chunks=(97, 4))
    with pytest.warns(UserWarning, match="Skipping features"):
        on_dask = EMImputer(**settings).fit(lazy)
    # Relative: the means are up to 500 and the variances 1e4 in these units.
    for name in ["weights_", "means_", "covariances_"]:
        assert_allclose(getattr(on_dask, name), getattr(in_memory, name), rtol=1e-10)
    assert_allclose(on_dask.lower_bound_, in_memory.lower_bound_, rtol=1e-12)
    assert on_dask.n_iter_ == in_memory.n_iter_
    completed, std = on_dask.transform(lazy, return_std=True)
    assert isinstance(completed, da.Array) and completed.chunks[0] == lazy.chunks[0]
    expected, expected_std = in_memory.transform(X, return_std=True)
    # atol for imputations near 0 (rounding of the fit's ~1e-15 relative
    # differences, in units up to 100).
    assert_allclose(completed.compute(), expected, rtol=1e-10, atol=1e-12)
    assert_allclose(std.compute(), expected_std, rtol=1e-10)
    # Observed entries pass through exactly.
    observed = ~np.isnan(X[:, :3])
    assert np.array_equal(completed.compute()[observed], X[:, :3][observed])


def test_dask_transform_equals_in_memory_transform_of_the_same_model():
    # One fitted imputer: each chunk is imputed by the same arithmetic as in
    # memory (rows are imputed independently), so to the last bits.
    X = _data(0.2)
    imputer = EMImputer(n_components=2, random_state=0).fit(X)
    lazy = da.from_array(X, chunks=(97, 3))
    completed, std = imputer.transform(lazy, return_std=True)
    expected, expected_std = imputer.transform(X, return_std=True)
    assert_allclose(completed.compute(), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(std.compute(), expected_std, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "settings, fit_options, message",
    [
        ({"add_indicator": True}, {}, "add_indicator=True is not supported"),
        ({"missing_values": -1}, {}, "missing_values other than NaN"),
        ({}, {"sample_weight": np.ones(400)}, "sample_weight is not supported"),
        ({"prior": "default"}, {}, "prior .* is not supported"),
        ({"n_components": "auto"}, {}, "n_components='auto' is not supported"),
        # Bounds invalid for any X, or for this one (a name: a dask array has
        # none): the in-memory errors (valid bounds wait for the pass that
        # finds the empty features: test_dask_bounds_*).
        ({"min_value": {"a": 0.0}}, {}, "min_value: unknown feature 'a'"),
        ({"min_value": 1.0, "max_value": 0.0}, {}, "min_value .* is greater than"),
        ({"feature_transforms": {2: "exp"}}, {}, "unknown transformation 'exp'"),
        (
            {"sample_posterior": True, "parameter_uncertainty": True},
            {},
            "parameter_uncertainty is not supported",
        ),
    ],
)
def test_dask_imputer_options_not_supported_say_so(
    settings, fit_options, message, synchronous
):
    # Refused before any pass over the rows: parameter draws were refused
    # after the summary's pass (a whole read of out-of-core data).
    lazy, reads = _counting(da.from_array(_data(0.2), chunks=(97, 3)))
    with pytest.raises(ValueError, match=message):
        EMImputer(**settings).fit(lazy, **fit_options)
    assert reads == []


def test_multiple_impute_of_a_dask_array_says_it_needs_memory(synchronous):
    # It blamed parameter_uncertainty, which multiple_impute sets itself,
    # after a pass over the rows.
    from emimpute import multiple_impute

    lazy, reads = _counting(da.from_array(_data(0.2), chunks=(97, 3)))
    with pytest.raises(ValueError, match="multiple_impute needs X in memory") as error:
        multiple_impute(lazy, 2, random_state=0)
    assert "parameter_uncertainty" not in str(error.value)
    assert reads == []


def test_column_chunks_are_rejected_with_the_fix():
    lazy = da.from_array(_data(0.2), chunks=(100, 2))
    with pytest.raises(ValueError, match=r"rechunk\(\{1: -1\}\)"):
        EMMixture(2).fit(lazy)


def test_dask_initialisation_sample_is_bounded(monkeypatch):
    from emimpute._em import _dask

    monkeypatch.setattr(_dask, "INITIALISATION_ROWS", 100)
    X = _data(0.2)
    data = _dask.DaskData.build(da.from_array(X, chunks=(97, 3)))
    sample = data.initialisation_data(np.random.RandomState(0))
    assert 50 < sample.n_samples <= 100
    # Rows of X, in order, each once.
    rows = [
        np.flatnonzero((np.isclose(X, row) | np.isnan(X) & np.isnan(row)).all(1))
        for row in sample.numeric
    ]
    assert all(len(r) >= 1 for r in rows)
    fitted = EMMixture(2, random_state=0).fit(da.from_array(X, chunks=(97, 3)))
    assert fitted.converged_


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_distributed_fit_equals_in_memory_fit(client):
    X = _data(0.2)
    in_memory = EMMixture(2, random_state=0, tol=1e-10).fit(X)
    lazy = da.from_array(X, chunks=(200, 3))
    on_cluster = EMMixture(2, random_state=0, tol=1e-10).fit(lazy)
    _assert_same_fit(on_cluster, in_memory)
    assert_allclose(
        on_cluster.predict_proba(lazy).compute(),
        in_memory.predict_proba(X),
        rtol=0,
        atol=1e-12,
    )


def test_distributed_selector_equals_in_memory_selector(client):
    # The criteria's tasks (a function of emimpute's, the parameters as one
    # key) run on the workers; with fewer rows than INITIALISATION_ROWS the
    # starts are the in-memory ones, so the fits and their criteria agree
    # to the rounding of the chunked sums (seen: 3.3e-16 relative).
    from emimpute import EMMixtureSelector

    X = _separated_clusters()
    settings = dict(
        n_components=[1, 2, 3], covariance_type="full", n_init=1, random_state=0
    )
    in_memory = EMMixtureSelector(**settings).fit(X)
    on_cluster = EMMixtureSelector(**settings).fit(da.from_array(X, chunks=(200, 3)))
    assert on_cluster.best_params_ == in_memory.best_params_
    for name in ["bic", "icl", "aic"]:
        assert_allclose(
            on_cluster.cv_results_[name], in_memory.cv_results_[name], rtol=1e-12
        )


def test_dask_posterior_draws_are_independent_between_chunks():
    # Two identical row chunks of one Gaussian, holes in the second feature
    # only: each hole's draw is its conditional mean plus std times a
    # standard normal, so the standardised noise of the two chunks' k-th
    # holes would be equal if the chunks drew from one stream.
    rng = np.random.default_rng(0)
    half = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=200)
    half[rng.random(200) < 0.5, 1] = np.nan
    X = np.vstack([half, half])
    lazy = da.from_array(X, chunks=(200, 2))
    imputer = EMImputer(n_components=1, sample_posterior=True, random_state=0)
    imputer.fit(half)
    drawn, std = imputer.transform(lazy, return_std=True)
    drawn, std = drawn.compute(), std.compute()
    holes = np.isnan(X[:, 1])
    mean = clone(imputer).set_params(sample_posterior=False).fit(half).transform(X)
    noise = ((drawn - mean)[holes, 1] / std[holes, 1]).reshape(2, -1)
    assert np.all(std[holes, 1] > 0)
    # Independent standard normals: ~100 pairs have a correlation of sd
    # 0.1; 0.5 is 5 sd, and a shared stream gives exactly 1.
    assert abs(np.corrcoef(noise)[0, 1]) < 0.5
    # The draws are still of the chunk's own conditional distribution.
    assert abs(noise.mean()) < 5 / np.sqrt(noise.size)
    # An int seed reproduces the draws; a RandomState instance advances.
    assert np.array_equal(imputer.transform(lazy).compute(), drawn)
    imputer.set_params(random_state=np.random.RandomState(0))
    first, second = imputer.transform(lazy), imputer.transform(lazy)
    assert not np.array_equal(first.compute()[holes], second.compute()[holes])


def test_dask_empty_chunks_give_the_fit_and_outputs_without_them():
    # Boolean indexing then compute_chunk_sizes() leaves 0-row chunks.
    X = _data(0.2)
    with_empty = da.from_array(X, chunks=((0, 97, 0, 303, 0), 3))
    without = da.from_array(X, chunks=((97, 303), 3))
    settings = dict(random_state=0, tol=1e-10)
    mixture = EMMixture(2, **settings).fit(with_empty)
    _assert_same_fit(mixture, EMMixture(2, **settings).fit(without))
    assert_allclose(
        mixture.predict_proba(with_empty).compute(),
        mixture.predict_proba(X),
        rtol=0,
        atol=1e-12,
    )
    assert_allclose(
        mixture.score_samples(with_empty).compute(),
        mixture.score_samples(X),
        rtol=0,
        atol=1e-12,
    )
    assert np.array_equal(mixture.predict(with_empty).compute(), mixture.predict(X))
    imputer = EMImputer(n_components=2, **settings).fit(with_empty)
    reference = EMImputer(n_components=2, **settings).fit(without)
    # The same chunks' statistics summed in the same order: to rounding.
    for name in ["weights_", "means_", "covariances_"]:
        assert_allclose(getattr(imputer, name), getattr(reference, name), rtol=1e-12)
    completed, std = imputer.transform(with_empty, return_std=True)
    expected, expected_std = imputer.transform(X, return_std=True)
    assert_allclose(completed.compute(), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(std.compute(), expected_std, rtol=1e-12, atol=1e-12)


def test_dask_unknown_chunk_sizes_are_refused_with_the_fix():
    X = _data(0.2)
    lazy = da.from_array(X, chunks=(97, 3))
    unknown = lazy[lazy[:, 0] > -1.0]
    assert np.isnan(unknown.shape[0])
    for estimator in [EMMixture(2, random_state=0), EMImputer(random_state=0)]:
        with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
            estimator.fit(unknown)
    mixture = EMMixture(2, random_state=0).fit(X)
    for criterion in [mixture.bic, mixture.aic]:
        with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
            criterion(unknown)
    # Predictions need no row count and stay lazy.
    rows = X[:, 0] > -1.0
    labels = mixture.predict(unknown).compute()
    assert np.array_equal(labels, mixture.predict(X[rows]))
    known = unknown.compute_chunk_sizes()
    assert_allclose(mixture.bic(known), mixture.bic(X[rows]), rtol=1e-12)


@pytest.mark.parametrize(
    "dtype", [np.int16, np.bool_, np.float16, np.float32, np.float64]
)
def test_dask_outputs_declare_the_dtype_they_compute(dtype):
    # float32 stays float32; any other dtype is computed in float64, as in
    # memory. The declared dtype must be it, or astype() is skipped.
    X = np.abs(np.round(_data(0.0)))
    mixture = EMMixture(2, random_state=0).fit(X)
    imputer = EMImputer(random_state=0).fit(X)
    X = X.astype(dtype)
    lazy = da.from_array(X, chunks=(97, 3))
    outputs = {
        "predict_proba": (mixture.predict_proba(lazy), mixture.predict_proba(X)),
        "score_samples": (mixture.score_samples(lazy), mixture.score_samples(X)),
        "transform": (imputer.transform(lazy), imputer.transform(X)),
        "std": (
            imputer.transform(lazy, return_std=True)[1],
            imputer.transform(X, return_std=True)[1],
        ),
    }
    for name, (on_dask, in_memory) in outputs.items():
        assert on_dask.dtype == on_dask.compute().dtype == in_memory.dtype, name


@pytest.mark.parametrize(
    "estimator", [EMMixture(1), EMImputer()], ids=lambda e: type(e).__name__
)
@pytest.mark.parametrize("values", ["infinity", "huge"])
def test_dask_fit_refuses_bad_values_as_in_memory(estimator, values):
    X = _data(0.2)
    if values == "infinity":
        X[5, 0] = np.inf
    else:
        X = X * 1e200
    with pytest.raises(ValueError, match="infinity|Rescale X") as in_memory:
        clone(estimator).fit(X)
    lazy = da.from_array(X, chunks=(97, 3))
    with pytest.raises(ValueError, match=re.escape(str(in_memory.value))):
        clone(estimator).fit(lazy)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_warm_start_continues_as_in_memory(covariance_type):
    # A refit with warm_start=True read the categorical layout the dask data
    # has none of (AttributeError). Two warm fits of one iteration each are
    # one fit of two iterations, on dask as in memory.
    X = _data(0.2)
    lazy = da.from_array(X, chunks=(97, 3))
    settings = dict(covariance_type=covariance_type, random_state=0, max_iter=1)
    on_dask = EMMixture(2, warm_start=True, **settings)
    in_memory = clone(on_dask)
    with pytest.warns(UserWarning, match="did not converge"):
        on_dask.fit(lazy)
        on_dask.fit(lazy)
        in_memory.fit(X)
        in_memory.fit(X)
    _assert_same_fit(on_dask, in_memory)
    with pytest.warns(UserWarning, match="did not converge"):
        two_iterations = EMMixture(2, **{**settings, "max_iter": 2}).fit(X)
    for name in ATTRIBUTES:
        assert_allclose(
            getattr(on_dask, name), getattr(two_iterations, name), rtol=0, atol=1e-10
        )
    # Changing the columns is refused as in memory.
    with pytest.raises(ValueError, match="numeric features 3 \\(now 2\\)"):
        on_dask.fit(lazy[:, :2])


def test_dask_predictions_check_the_columns_at_the_call():
    # The number of columns of a dask array is known at the call: the
    # in-memory error is raised then, not when the lazy result is computed
    # (the lazy result even declared the fitted width).
    X = _data(0.2)
    mixture = EMMixture(2, random_state=0).fit(X)
    narrow = da.from_array(X[:, :2], chunks=(97, 2))
    with pytest.raises(ValueError) as in_memory:
        mixture.predict(X[:, :2])
    assert str(in_memory.value) == (
        "X has 2 features, but EMMixture is expecting 3 features as input."
    )
    for method in ["predict", "predict_proba", "score_samples", "score"]:
        with pytest.raises(ValueError, match=re.escape(str(in_memory.value))):
            getattr(mixture, method)(narrow)
    with pytest.raises(ValueError, match="Complex data not supported"):
        mixture.predict(da.from_array(X.astype(complex), chunks=(97, 3)))
    with pytest.raises(NotFittedError):
        EMMixture(2).predict(da.from_array(X, chunks=(97, 3)))


@pytest.mark.parametrize(
    "estimator, shape, message",
    [
        # One row: refused in memory, as GaussianMixture does (was fit).
        (EMMixture(), (1, 3), r"1 sample\(s\) \(shape=\(1, 3\)\).*minimum of 2"),
        (EMImputer(), (0, 3), r"0 sample\(s\) \(shape=\(0, 3\)\)"),
        # The shape reported is X's (was a 2-row stand-in's, (2, 0)).
        (EMMixture(), (300, 0), r"0 feature\(s\) \(shape=\(300, 0\)\)"),
        (EMImputer(), (300, 0), r"0 feature\(s\) \(shape=\(300, 0\)\)"),
    ],
    ids=["mixture-1-row", "imputer-0-rows", "mixture-0-columns", "imputer-0-columns"],
)
def test_dask_fit_refuses_too_few_rows_or_columns_as_in_memory(
    estimator, shape, message
):
    X = np.ones(shape)
    with pytest.raises(ValueError, match=message):
        clone(estimator).fit(X)
    with pytest.raises(ValueError, match=message):
        clone(estimator).fit(da.from_array(X, chunks=(100, shape[1])))


def test_dask_transform_checks_the_columns_at_the_call():
    # The error came at compute(), from a lazy array of the wrong shape.
    X = _data(0.2)
    imputer = EMImputer(random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but EMImputer is"):
        imputer.transform(da.from_array(X[:, :2], chunks=(97, 2)))


def _mixed_data():
    # Column 1 holds the categories 1.0 and 2.0 (never 0), with holes.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 120)
    X = np.column_stack([rng.normal(size=120) + 3 * labels, labels + 1.0])
    X[::5, 0] = np.nan
    X[1::7, 1] = np.nan
    return X


@pytest.mark.parametrize("add_indicator", [False, True])
@pytest.mark.parametrize("kind", ["float", "int", "object"])
def test_dask_transform_of_a_mixed_model_equals_in_memory(kind, add_indicator):
    # The up-front check read a stand-in of zeros, and 0 is no category:
    # every model with a categorical feature failed with 'Found unknown
    # categories [0.0]'. With add_indicator (fit in memory), the lazy
    # arrays declared 2 columns and computed 4.
    X = _mixed_data()
    if kind == "int":
        X = np.nan_to_num(X, nan=1.0).astype(np.int64)
    elif kind == "object":
        X = X.astype(object)
        X[:, 1] = np.where(X[:, 1] == 1.0, "a", np.where(X[:, 1] == 2.0, "b", None))
    imputer = EMImputer(
        n_components=2,
        categorical_features=[1],
        add_indicator=add_indicator,
        random_state=0,
    )
    imputer.fit(X)
    lazy = da.from_array(X, chunks=(50, 2))
    completed, std = imputer.transform(lazy, return_std=True)
    expected, expected_std = imputer.transform(X, return_std=True)
    # An object array's categories stay objects: the lazy array says so.
    assert completed.dtype == completed.compute().dtype == expected.dtype
    for on_dask, in_memory in [(completed, expected), (std, expected_std)]:
        assert on_dask.shape == on_dask.compute().shape == in_memory.shape
        assert on_dask.chunks[1] == (in_memory.shape[1],)
    assert np.array_equal(completed.compute(), expected)
    assert_allclose(std.compute(), expected_std, rtol=0, atol=0)
    # Dask slices by the declared columns: the last is the last computed.
    assert np.array_equal(completed[:, -1].compute(), expected[:, -1])
    with pytest.raises(ValueError, match="X has 3 features, but EMImputer is"):
        imputer.transform(da.from_array(np.hstack([X, X[:, :1]]), chunks=(50, 3)))


@pytest.mark.parametrize("kind", ["float", "object"])
def test_dask_category_probabilities_are_lazy_and_equal_in_one_pass(kind):
    # predict_category_proba computed a dask array into memory; it now
    # returns one lazy array per categorical feature, whose chunk tasks
    # compute every feature's probabilities at once: computed together,
    # each row chunk is read once. Two categorical features, of 2 and 3
    # categories.
    import dask

    rng = np.random.default_rng(1)
    X = np.column_stack([_mixed_data(), rng.integers(0, 3, 120) + 5.0])
    X[2::9, 2] = np.nan
    if kind == "object":
        X = X.astype(object)
        X[:, 1] = np.where(X[:, 1] == 1.0, "a", np.where(X[:, 1] == 2.0, "b", None))
    imputer = EMImputer(
        n_components=2, categorical_features=[1, 2], random_state=0
    ).fit(X)
    expected = imputer.predict_category_proba(X)
    calls = []
    complete = imputer._complete

    def counted(chunk, **options):
        calls.append(len(chunk))
        return complete(chunk, **options)

    lazy = da.from_array(X, chunks=(50, 3))
    probabilities = imputer.predict_category_proba(lazy)
    assert len(probabilities) == 2
    assert all(isinstance(p, da.Array) for p in probabilities)
    assert [p.shape for p in probabilities] == [(120, 2), (120, 3)]
    imputer._complete = counted
    computed = dask.compute(*probabilities, scheduler="synchronous")
    assert sorted(calls) == [20, 50, 50]
    for on_dask, in_memory in zip(computed, expected, strict=True):
        assert_allclose(on_dask, in_memory, rtol=0, atol=0)
    numeric_only = EMImputer(random_state=0).fit(_data(0.2))
    assert numeric_only.predict_category_proba(da.from_array(_data(0.2))) == []
    with pytest.raises(ValueError, match="X has 2 features, but EMImputer is"):
        imputer.predict_category_proba(da.from_array(X[:, :2], chunks=(50, 2)))


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_dask_transform_draws_the_parameters_once(method, monkeypatch):
    # One transform call is one parameter draw, whatever the chunks: a draw
    # per chunk made the between-imputation variance of a 60%-missing
    # column's mean shrink with their number (2.8e-4 in memory, 1.1e-4 on
    # 10 chunks), and pooled intervals too narrow.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[rng.random(200) < 0.4, 0] = np.nan
    imputer = EMImputer(
        sample_posterior=True, parameter_uncertainty=method, random_state=0
    ).fit(X)
    draws = []
    draw = imputer._draw_parameters

    def counted(random_state):
        draws.append(1)
        return draw(random_state)

    monkeypatch.setattr(imputer, "_draw_parameters", counted)
    lazy = imputer.transform(da.from_array(X, chunks=(50, 3)))
    completed = lazy.compute()
    assert len(draws) == 1
    np.testing.assert_array_equal(completed[~np.isnan(X)], X[~np.isnan(X)])
    assert not np.isnan(completed).any()


@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_dask_transform_with_indicator_declares_its_columns(keep_empty_features):
    # An imputer fit in memory with add_indicator: the lazy arrays declared
    # the imputed columns only and computed the indicator's too, so that
    # dask's slices, which trust the declared chunks, gave wrong columns
    # without an error (t[:, -1] was an imputed column, t[:, 3:] empty).
    X = np.hstack([_data(0.2), np.full((400, 1), np.nan)])
    imputer = EMImputer(
        add_indicator=True, keep_empty_features=keep_empty_features, random_state=0
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping features", UserWarning)
        imputer.fit(X)
    n_indicator = len(imputer.indicator_.features_)
    assert n_indicator == 4  # every column has holes, the empty one too
    lazy = da.from_array(X, chunks=(97, 4))
    completed, std = imputer.transform(lazy, return_std=True)
    expected, expected_std = imputer.transform(X, return_std=True)
    assert isinstance(imputer.transform(lazy), da.Array)
    for on_dask, in_memory in [(completed, expected), (std, expected_std)]:
        assert on_dask.shape == on_dask.compute().shape == in_memory.shape
        assert on_dask.chunks == (lazy.chunks[0], (in_memory.shape[1],))
        # Each chunk is imputed by the in-memory arithmetic, rows
        # independently; 1e-12 for the row blocks' grouping by chunk.
        assert_allclose(on_dask.compute(), in_memory, rtol=1e-12, atol=1e-12)
        # The indicator's columns (std: zeros), sliced lazily, exactly.
        assert np.array_equal(
            on_dask[:, -n_indicator:].compute(), in_memory[:, -n_indicator:]
        )
    assert completed.shape[1] == len(imputer.get_feature_names_out())


@pytest.mark.parametrize(
    "estimator", [EMMixture(2), EMImputer()], ids=lambda e: type(e).__name__
)
@pytest.mark.parametrize(
    "categorical_features",
    [[1], np.array([False, True, False]), [1, 2]],
    ids=["index", "mask", "indices"],
)
def test_dask_fit_refuses_categorical_features(
    estimator, categorical_features, synchronous
):
    # The columns were fit as Gaussian features without a word
    # (categorical_features_ [] and means_ of 3 columns), and the imputer
    # filled them with numbers that are no category.
    lazy, reads = _counting(da.from_array(_data(0.2), chunks=(97, 3)))
    estimator = clone(estimator).set_params(categorical_features=categorical_features)
    with pytest.raises(
        ValueError,
        match=r"categorical_features=.* makes columns \[1(, 2)?\] of X "
        r"categorical, but a dask array X holds numeric columns only.*"
        r"X\.compute\(\).*drop those columns",
    ):
        estimator.fit(lazy)
    assert reads == []


@pytest.mark.parametrize(
    "estimator", [EMMixture(2), EMImputer()], ids=lambda e: type(e).__name__
)
def test_dask_fit_refuses_a_bad_categorical_index_as_in_memory(estimator, synchronous):
    X = _data(0.2)
    estimator = clone(estimator).set_params(categorical_features=[5])
    with pytest.raises(ValueError, match="index 5 is out of range") as in_memory:
        clone(estimator).fit(X)
    lazy, reads = _counting(da.from_array(X, chunks=(97, 3)))
    with pytest.raises(ValueError, match=re.escape(str(in_memory.value))):
        clone(estimator).fit(lazy)
    assert reads == []


@pytest.mark.parametrize(
    "categorical_features", [None, [], np.zeros(3, dtype=bool)], ids=repr
)
def test_dask_fit_without_categorical_columns_equals_in_memory(categorical_features):
    X = _data(0.2)
    settings = dict(categorical_features=categorical_features, random_state=0)
    in_memory = EMMixture(2, **settings).fit(X)
    on_dask = EMMixture(2, **settings).fit(da.from_array(X, chunks=(97, 3)))
    _assert_same_fit(on_dask, in_memory)
    assert len(on_dask.categorical_features_) == 0


def test_dask_selector_never_computes_x_and_selects_as_in_memory(
    monkeypatch, client_arrays, synchronous
):
    # The selector computed a dask X into memory (600 rows on the client):
    # now every fit is EMMixture's dask fit, whose start reads a sample of
    # at most INITIALISATION_ROWS rows (150 here, below the 600 of X, so
    # the starts are not the in-memory ones), and the criteria are summed
    # chunk by chunk.
    from emimpute import EMMixtureSelector, _criteria
    from emimpute._em import _dask

    monkeypatch.setattr(_dask, "INITIALISATION_ROWS", 150)
    criteria_rows = []
    chunk_criteria = _criteria._chunk_criteria_sums

    def counted(chunk, params, read):
        criteria_rows.append(len(chunk))
        return chunk_criteria(chunk, params, read)

    monkeypatch.setattr(_criteria, "_chunk_criteria_sums", counted)
    X = _separated_clusters()
    lazy = da.from_array(X, chunks=(100, 3))
    settings = dict(
        n_components=[1, 2, 3, 4],
        covariance_type=["full", "diag"],
        n_init=2,
        random_state=0,
    )
    on_dask = EMMixtureSelector(**settings).fit(lazy)
    assert 0 < _most_rows(client_arrays) <= 150
    # One pass of the criteria per fit that was scored.
    scored = np.isfinite(on_dask.cv_results_["bic"]).sum()
    assert sum(criteria_rows) == scored * len(X)
    in_memory = EMMixtureSelector(**settings).fit(X)
    assert on_dask.best_params_ == in_memory.best_params_
    assert on_dask.best_params_["n_components"] == 3
    assert on_dask.n_features_in_ == 3
    assert not hasattr(on_dask, "feature_names_in_")


def test_dask_selector_criteria_equal_the_in_memory_criteria_of_its_fits(
    monkeypatch, client_arrays
):
    # Each fit of the grid is deterministic (an int random_state): refit
    # on the dask array, it is the selector's fit, whose criteria in memory
    # (information_criteria of its score_samples and predict_proba on the
    # computed array) are those of cv_results_. The per-row values come
    # from the same in-memory arithmetic on each chunk's rows; only the
    # summation order differs (chunk sums added as a tree instead of one
    # sum over the rows), ~1e-16 relative per addition: 1e-12 relative
    # (seen: 1.7e-16 at most).
    from emimpute import EMMixtureSelector
    from emimpute._criteria import information_criteria
    from emimpute._em import _dask
    from emimpute._selection import _keep_a_run_that_did_not_collapse

    monkeypatch.setattr(_dask, "INITIALISATION_ROWS", 150)
    X = _separated_clusters()
    lazy = da.from_array(X, chunks=((1, 99, 150, 150, 200), 3))
    selector = EMMixtureSelector(
        n_components=[1, 2, 3, 4],
        covariance_type=["full", "tied", "diag", "spherical"],
        n_init=2,
        random_state=0,
    ).fit(lazy)
    assert _most_rows(client_arrays) <= 150
    results = selector.cv_results_
    informative = ~np.isnan(X).all(axis=1)
    base = selector._base_mixture()
    compared = 0
    observed = (~np.isnan(X)).sum(axis=0)
    for i, params in enumerate(results["params"]):
        if results["error"][i]:
            continue
        mixture = clone(base).set_params(**params)
        _, result = mixture._fit(lazy, None)
        # The selector's run: the best of n_init whose components did not
        # collapse (full, 4 components: the second run here).
        _keep_a_run_that_did_not_collapse(
            mixture, result, int(informative.sum()), lazy, observed
        )
        expected = information_criteria(
            mixture.score_samples(X),
            mixture.predict_proba(X),
            mixture._n_parameters(),
            informative,
        )
        for name in ["bic", "icl", "aic", "log_likelihood"]:
            assert_allclose(results[name][i], expected[name], rtol=1e-12)
        assert results["n_parameters"][i] == expected["n_parameters"]
        compared += 1
    assert compared >= 12
    best = selector.best_estimator_
    refit = clone(base).set_params(**selector.best_params_).fit(lazy)
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(best, name), getattr(refit, name))


@pytest.mark.parametrize("rows", CHUNKINGS)
def test_dask_information_criteria_equal_in_memory_in_one_pass(rows, synchronous):
    # A model fit in memory, its criteria on the dask array: one pass (the
    # chunks' reads), and the in-memory values to the summation's rounding,
    # with rows of nothing observed (40 to 49, and two more) left out of n,
    # L and the entropy, and a chunk of such rows only.
    from emimpute._criteria import dask_information_criteria, information_criteria
    from emimpute._em._dask import DaskData

    X = _data(0.2)
    for covariance_type in COVARIANCE_TYPES:
        mixture = EMMixture(3, covariance_type=covariance_type, random_state=0)
        mixture.fit(X)
        lazy, reads = _counting(da.from_array(X, chunks=(rows, 3)))
        criteria = dask_information_criteria(mixture, DaskData.build(lazy).array)
        assert sum(reads) == len(X)
        informative = ~np.isnan(X).all(axis=1)
        assert informative.sum() == 388  # rows 40 to 49, and 2 by chance
        expected = information_criteria(
            mixture.score_samples(X),
            mixture.predict_proba(X),
            mixture._n_parameters(),
            informative,
        )
        assert criteria.keys() == expected.keys()
        for name, value in expected.items():
            assert_allclose(criteria[name], value, rtol=1e-12)
        # BIC as EMMixture.bic computes it (n: the rows with an observed
        # entry).
        assert_allclose(criteria["bic"], mixture.bic(X), rtol=1e-12)


def test_dask_selector_predictions_stay_lazy(client_arrays, synchronous):
    from emimpute import EMMixtureSelector

    X = _separated_clusters()
    lazy = da.from_array(X, chunks=(97, 3))
    selector = EMMixtureSelector(
        n_components=[2, 3], covariance_type="full", n_init=1, random_state=0
    ).fit(lazy)
    best = selector.best_estimator_
    client_arrays.clear()
    labels = selector.predict(lazy)
    proba = selector.predict_proba(lazy)
    scores = selector.score_samples(lazy)
    score = selector.score(lazy)
    # Nothing of X's rows reached the client: the score's mean is reduced
    # by tasks.
    assert _most_rows(client_arrays) == 0
    for lazy_result in [labels, proba, scores]:
        assert isinstance(lazy_result, da.Array)
        assert lazy_result.chunks[0] == lazy.chunks[0]
    assert np.array_equal(labels.compute(), best.predict(X))
    assert_allclose(proba.compute(), best.predict_proba(X), rtol=0, atol=1e-12)
    assert_allclose(scores.compute(), best.score_samples(X), rtol=0, atol=1e-12)
    assert_allclose(score, best.score(X), rtol=1e-12)
    fit_labels = clone(selector).fit_predict(lazy)
    assert isinstance(fit_labels, da.Array)
    assert np.array_equal(fit_labels.compute(), best.predict(X))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"prior": (None, "default")}, r"prior .* is not supported with a dask"),
        (
            {"categorical_features": [1]},
            r"makes columns \[1\] of X categorical, but a dask array",
        ),
    ],
    ids=["prior", "categorical"],
)
def test_dask_selector_refuses_what_a_dask_fit_lacks_before_reading(
    settings, message, synchronous
):
    # A grid's prior made every fit with it fail (recorded in cv_results_),
    # after the fits without it had read the data.
    from emimpute import EMMixtureSelector

    lazy, reads = _counting(da.from_array(_data(0.2), chunks=(97, 3)))
    selector = EMMixtureSelector(n_components=2, n_init=1, **settings)
    with pytest.raises(ValueError, match=message):
        selector.fit(lazy)
    assert reads == []
    assert not hasattr(selector, "best_estimator_")


def test_dask_selector_validates_x_as_in_memory_without_reading_it(synchronous):
    from emimpute import EMMixtureSelector

    one_row, reads = _counting(da.from_array(_data(0.2)[:1], chunks=(1, 3)))
    with pytest.raises(ValueError, match=r"1 sample\(s\) \(shape=\(1, 3\)\)"):
        EMMixtureSelector(n_components=2).fit(one_row)
    with pytest.raises(ValueError, match="Complex data not supported"):
        EMMixtureSelector(n_components=2).fit(
            da.from_array(_data(0.2).astype(complex), chunks=(97, 3))
        )
    with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
        lazy = da.from_array(_data(0.2), chunks=(97, 3))
        EMMixtureSelector(n_components=2).fit(lazy[lazy[:, 0] > 0])
    assert reads == []
    # A refit on a dask array forgets the feature names of a DataFrame fit.
    pd = pytest.importorskip("pandas")
    X = _data(0.2)
    selector = EMMixtureSelector(n_components=2, n_init=1, random_state=0)
    selector.fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    assert list(selector.feature_names_in_) == ["a", "b", "c"]
    selector.fit(da.from_array(X, chunks=(97, 3)))
    assert selector.n_features_in_ == 3
    assert not hasattr(selector, "feature_names_in_")


def test_dask_selector_reuses_the_hierarchical_trees(monkeypatch, synchronous):
    # The hierarchical start agglomerates each run's in-memory sample: with
    # an int random_state every fit of the grid draws the same samples, so
    # its three trees (one per view) are computed once for the grid, as in
    # memory, although the samples (at most 150 rows of 400) are not X.
    from emimpute import EMMixtureSelector
    from emimpute._em import _dask, _init_hierarchical

    monkeypatch.setattr(_dask, "INITIALISATION_ROWS", 150)
    monkeypatch.setattr(_init_hierarchical, "_TREES", {})
    trees = []
    linkage = _init_hierarchical.linkage

    def counted(Z, **kwargs):
        trees.append(len(Z))
        return linkage(Z, **kwargs)

    monkeypatch.setattr(_init_hierarchical, "linkage", counted)
    EMMixtureSelector(
        n_components=[2, 3, 4],
        covariance_type=["full", "spherical"],
        n_init=3,
        random_state=0,
    ).fit(da.from_array(_data(0.2), chunks=(97, 3)))
    assert len(trees) == 3
    assert all(rows <= 150 for rows in trees)


def test_dask_spike_probe_refits_out_of_core_as_in_memory(client_arrays, synchronous):
    # A component whose variance may be reg_covar's is probed by a few EM
    # iterations with reg_covar shrunk: on a dask X, by EMMixture's dask
    # warm start (X never computed), with the in-memory verdicts: three
    # rows, one with a hole, are a spike; 100 tight rows are a component.
    from emimpute._collapse import refuse_collapsed_components

    rng = np.random.RandomState(0)
    tight = np.vstack([rng.normal(0, 7e-4, (100, 2)), rng.normal(1, 0.1, (100, 2))])
    holes = np.vstack(
        [rng.normal(size=(40, 2)), [[10.0, 10.0], [11.0, 12.5], [10.5, np.nan]]]
    )
    for X, spike in [(tight, False), (holes, True)]:
        lazy = da.from_array(X, chunks=(50, 2))
        for data in [X, lazy]:
            mixture = EMMixture(2, random_state=0).fit(data)
            client_arrays.clear()
            if spike:
                with pytest.raises(ValueError, match="singular but for reg_covar"):
                    refuse_collapsed_components(mixture, len(X), data)
            else:
                refuse_collapsed_components(mixture, len(X), data)
            if data is lazy:
                assert _most_rows(client_arrays) == 0


def _frame_with(column):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    if column == "category":
        frame["b"] = pd.Categorical(rng.choice(["x", "y"], 200))
    else:
        frame = frame.astype("Float64")
        frame.loc[::5, "a"] = pd.NA
    return frame


@pytest.mark.parametrize(
    "estimator", [EMMixture(), EMImputer()], ids=lambda e: type(e).__name__
)
@pytest.mark.parametrize("column", ["category", "Float64"])
def test_dask_fit_refuses_an_object_dtype_with_the_fix(estimator, column, synchronous):
    # A dask DataFrame's to_dask_array() of such columns is of dtype object:
    # the fit failed inside a task with numpy's "could not convert string
    # to float" or "float() argument must be ... not 'NAType'".
    dd = pytest.importorskip("dask.dataframe")
    frame = _frame_with(column)
    ddf = dd.from_pandas(frame, npartitions=2)
    lazy, reads = _counting(ddf.to_dask_array(lengths=True))
    assert lazy.dtype == object
    with pytest.raises(
        ValueError,
        match=r"dtype object, but a fit reads a dask array as numeric columns "
        r"only.*ddf\.astype\(float\).*Categorical columns are not supported",
    ):
        clone(estimator).fit(lazy)
    assert reads == []
    if column == "category":
        return
    # The fix the message gives: the fit of the in-memory floats.
    converted = ddf.astype(float).to_dask_array(lengths=True)
    floats = frame.astype(float).to_numpy()
    in_memory = clone(estimator).set_params(random_state=0).fit(floats)
    on_dask = clone(estimator).set_params(random_state=0).fit(converted)
    for name in ["weights_", "means_", "covariances_"]:
        assert_allclose(getattr(on_dask, name), getattr(in_memory, name), atol=1e-10)
    if isinstance(estimator, EMMixture):
        # bic counts the rows by a pass that reads numbers only: refused
        # before the score's pass (which read all rows first).
        with pytest.raises(ValueError, match="dtype object, but bic reads"):
            in_memory.bic(lazy)
        assert reads == []
        # So are predictions of the model of numbers, as its fit is
        # (test_dask_lazy_methods_of_a_numeric_model_refuse_*).
        with pytest.raises(ValueError, match="dtype object, but predict_proba"):
            in_memory.predict_proba(lazy)
        assert reads == []


@pytest.mark.parametrize("container", ["pandas", "polars"])
def test_dask_transform_refuses_a_dataframe_output(container, synchronous):
    # pandas: scikit-learn's wrapper computed the whole array at the call
    # (and a mixed model's columns came back as objects); polars: TypeError
    # "DataFrame constructor called with unsupported type 'Array'".
    from sklearn import config_context

    pytest.importorskip(container)
    X = _data(0.2)
    lazy, reads = _counting(da.from_array(X, chunks=(97, 3)))
    imputer = EMImputer(random_state=0).set_output(transform=container).fit(X)
    message = rf"output is set to '{container}'.*lazy dask array.*X\.compute\(\)"
    with pytest.raises(ValueError, match=message):
        imputer.transform(lazy)
    with pytest.raises(ValueError, match=message):
        imputer.transform(lazy, return_std=True)
    unfitted = EMImputer(random_state=0).set_output(transform=container)
    with pytest.raises(ValueError, match=message):
        unfitted.fit_transform(lazy)
    assert not hasattr(unfitted, "n_features_in_")  # refused before the fit
    with config_context(transform_output=container):
        with pytest.raises(ValueError, match=message):
            EMImputer(random_state=0).fit(X).transform(lazy)
    assert reads == []
    # The default output stays a lazy dask array.
    imputer.set_output(transform="default")
    assert isinstance(imputer.transform(lazy), da.Array)
    assert isinstance(imputer.fit_transform(X), np.ndarray)


def test_dask_imputer_counts_observed_entries_in_one_pass(monkeypatch, synchronous):
    # The imputer's fit summarised X, then its kept columns, then the
    # standardised data: one pass now, the others' counts carried over (the
    # dropped columns have no observed entry; standardising keeps holes).

    X = np.hstack([_data(0.2), np.full((400, 1), np.nan)])
    lazy = da.from_array(X, chunks=(97, 4))
    rows = _count_summary_rows(monkeypatch)
    with pytest.warns(UserWarning, match="Skipping features"):
        EMImputer(n_components=2, random_state=0).fit(lazy)
    # The summary's rows: all of X, once.
    assert sum(rows) == len(X)
    # The same fit as in memory (the counts only decide the scaling's
    # denominators and the log-Jacobian: equal integers, equal results).
    with pytest.warns(UserWarning, match="Skipping features"):
        in_memory = EMImputer(n_components=2, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="Skipping features"):
        fitted = EMImputer(n_components=2, random_state=0).fit(lazy)
    # Chunked sums add in another order: 1e-13 relative, and absolute near 0.
    np.testing.assert_allclose(fitted.means_, in_memory.means_, rtol=1e-12, atol=1e-12)


def test_dask_standardised_counts_equal_a_pass_over_the_standardised_data():
    # The counts carried over equal, to the integer, those a pass over the
    # standardised chunks finds: a constant column (scale 1), one in large
    # units, holes, a row of holes only.
    from emimpute._em import _dask

    X = _data(0.2) * [1.0, 1e6, 1.0]
    X[:, 2] = np.where(np.isnan(X[:, 2]), np.nan, 5.0)
    data = _dask.DaskData.build(da.from_array(X, chunks=(97, 3)))
    standardised = data.standardised(data.fit_scaling())
    carried = standardised.summary()
    passed = _dask.DaskData(standardised.array).summary()
    assert carried[:2] == passed[:2]
    assert np.array_equal(carried[2], passed[2])


def _holes_as_none(X):
    """``X`` as an object array, its holes None (as pandas' ``to_numpy``
    of a nullable column holds pd.NA)."""
    objects = X.astype(object)
    objects[np.isnan(X)] = None
    return objects


LAZY_METHODS = [
    "predict",
    "predict_proba",
    "score_samples",
    "score",
    "bic",
    "aic",
    "transform",
]


@pytest.mark.parametrize("method", LAZY_METHODS)
def test_dask_lazy_methods_of_a_numeric_model_refuse_an_object_dtype_as_fit(
    method, synchronous
):
    # A fit refuses a dask array of dtype object at the call; the lazy
    # methods built their result, then converted each chunk in memory when
    # it was computed (failing there, after the chunks before it, on text
    # or on what float() refuses); bic refused it, score did not. Refused
    # at the call now, with the fit's message, no chunk read.
    X = _data(0.2)
    cls = EMImputer if method == "transform" else EMMixture
    model = cls(n_components=2, random_state=0).fit(X)
    lazy, reads = _counting(da.from_array(_holes_as_none(X), chunks=(97, 3)))
    with pytest.raises(
        ValueError,
        match=rf"dtype object, but {method} reads a dask array as numeric "
        r"columns only.*ddf\.astype\(float\)",
    ):
        getattr(model, method)(lazy)
    assert reads == []
    # The fix the message gives: floats (None becomes NaN), as in memory.
    result = getattr(model, method)(lazy.astype(float))
    if isinstance(result, da.Array):
        result = result.compute()
    # The same rows' results, computed in blocks of other sizes, and the
    # scores summed by chunks: seen at most 9e-16 (the transform's).
    assert_allclose(result, getattr(model, method)(X), rtol=1e-13, atol=1e-13)


def test_dask_lazy_methods_of_a_mixed_model_read_an_object_dtype_as_in_memory(
    synchronous,
):
    # A model with categorical features (fitted in memory: a dask fit has
    # none) reads each chunk as a table, as in memory; an object array holds
    # its text categories. bic refused it (its count of rows read numbers
    # only), where score took it.
    X = _mixed_data().astype(object)
    codes = X[:, 1].astype(float)
    X[:, 1] = np.where(codes == 1.0, "a", np.where(codes == 2.0, "b", None))
    mixture = EMMixture(2, categorical_features=[1], random_state=0).fit(X)
    lazy = da.from_array(X, chunks=(50, 2))
    for method in ["predict", "predict_proba", "score_samples"]:
        assert_allclose(
            getattr(mixture, method)(lazy).compute(),
            getattr(mixture, method)(X),
            rtol=0,
            atol=1e-12,
        )
    # Summed by chunks, in another order than in memory: rounding (seen 0).
    for method in ["score", "bic", "aic"]:
        assert_allclose(
            getattr(mixture, method)(lazy), getattr(mixture, method)(X), rtol=1e-13
        )


def test_dask_bic_reads_the_rows_once(synchronous):
    # bic read a dask X twice: the score's pass, then a pass counting the
    # rows with an observed entry. One pass gives both now; aic needs no
    # count (n_parameters reads no data).
    X = _data(0.2)  # 12 rows with nothing observed: bic's n counts 388
    mixture = EMMixture(2, random_state=0).fit(X)
    for method in ["bic", "aic"]:
        lazy, reads = _counting(da.from_array(X, chunks=(97, 3)))
        value = getattr(mixture, method)(lazy)
        assert sum(reads) == len(X)
        # The log-likelihood summed by chunks, in another order: rounding
        # (seen 0). A count of rows off by one would move bic by 0.05.
        assert_allclose(value, getattr(mixture, method)(X), rtol=1e-13)


def _with_an_empty_feature():
    return np.hstack([_data(0.2), np.full((400, 1), np.nan)])


@pytest.mark.parametrize(
    "bounds",
    [
        {"min_value": {3: 1.0}},
        {"max_value": [np.inf, np.inf, np.inf, -1.0]},
        {"feature_transforms": {3: "log"}},
        {
            "min_value": {3: 0.0},
            "max_value": {3: 1.0},
            "feature_transforms": [None, None, None, "logit"],
        },
    ],
    ids=["min_value", "max_value", "log", "logit"],
)
@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_dask_bounds_on_an_empty_feature_are_ignored_as_in_memory(
    bounds, keep_empty_features, monkeypatch, synchronous
):
    # The in-memory fit skips a feature with no observed value (or fills it
    # with 0) and ignores its bounds and transformation; the dask fit
    # refused them before its pass, which alone finds the empty features.
    # Now it applies the in-memory rule after that pass, with no other.

    X = _with_an_empty_feature()
    settings = dict(
        n_components=2,
        random_state=0,
        tol=1e-10,
        keep_empty_features=keep_empty_features,
        **bounds,
    )
    expected_warning = (
        contextlib.nullcontext()
        if keep_empty_features
        else pytest.warns(UserWarning, match=r"Skipping features .*\[3\]")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no other warning
        with expected_warning:
            in_memory = EMImputer(**settings).fit(X)
    rows = _count_summary_rows(monkeypatch)
    lazy = da.from_array(X, chunks=(97, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with expected_warning:
            on_dask = EMImputer(**settings).fit(lazy)
    assert sum(rows) == len(X)  # the summary's one pass
    # The chunks' statistics summed in another order, over 14 iterations:
    # seen 8e-16 absolute (9e-15 relative on a mean of 0.05); the means
    # are up to 4.1, the covariances 1.1, so 1e-12 is rounding, not a
    # difference of rule (a bound applied would move them by far more).
    for name in ["weights_", "means_", "covariances_"]:
        assert_allclose(
            getattr(on_dask, name), getattr(in_memory, name), rtol=1e-12, atol=1e-13
        )
    assert_allclose(on_dask.lower_bound_, in_memory.lower_bound_, rtol=1e-12)
    assert on_dask.n_iter_ == in_memory.n_iter_
    assert np.array_equal(on_dask.numeric_features_, in_memory.numeric_features_)
    assert np.array_equal(
        on_dask.get_feature_names_out(), in_memory.get_feature_names_out()
    )
    completed, std = on_dask.transform(lazy, return_std=True)
    expected, expected_std = in_memory.transform(X, return_std=True)
    assert completed.shape == expected.shape
    # Imputations near 0 in units of 1: the fits' rounding (seen 9e-16).
    assert_allclose(completed.compute(), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(std.compute(), expected_std, rtol=1e-12, atol=1e-12)


def test_dask_bounds_on_an_observed_feature_are_refused_after_the_pass(
    synchronous,
):
    # Bounds and transformations of a feature with an observed value need
    # the data in memory (the domain's check, the transformed data): still
    # refused, naming the features, once the summary's pass has found which
    # features are empty: one read of the rows, no EM.
    lazy, reads = _counting(da.from_array(_with_an_empty_feature(), chunks=(97, 4)))
    # A scalar bounds every feature, the empty one too.
    for settings, features in [
        ({"min_value": 0.0}, "0, 1, 2"),
        ({"feature_transforms": {1: "log", 3: "log"}}, "1"),
    ]:
        reads.clear()
        with pytest.raises(
            ValueError,
            match=rf"min_value, max_value or feature_transforms on a feature with "
            rf"an observed value \(features {features}\) is not supported with a "
            r"dask array X yet; compute X",
        ):
            EMImputer(**settings).fit(lazy)
        assert sum(reads) == 400


def test_dask_imputer_fit_builds_the_feature_support_once(monkeypatch):
    # The dask fit built it to refuse bounds, then again for the kept
    # features; the in-memory fit builds it once.
    from emimpute._bounds import FeatureSupport

    built = []
    fit = FeatureSupport.fit.__func__

    def counted(cls, *args, **kwargs):
        built.append(1)
        return fit(cls, *args, **kwargs)

    monkeypatch.setattr(FeatureSupport, "fit", classmethod(counted))
    X = _with_an_empty_feature()
    for data in [X, da.from_array(X, chunks=(97, 4))]:
        built.clear()
        with pytest.warns(UserWarning, match="Skipping features"):
            EMImputer(n_components=2, random_state=0, min_value={3: 0.0}).fit(data)
        assert len(built) == 1


@pytest.mark.parametrize("all_missing_at_fit", [False, True])
def test_imputer_score_of_a_dask_array_reads_its_chunks_once(
    all_missing_at_fit, synchronous, monkeypatch
):
    # score computed the whole array into memory (np.asarray in its
    # validation); now one pass of tasks over the chunks, each read as in
    # memory. The sums over chunks differ from the in-memory mean only in
    # their order: 1e-13 relative.
    from emimpute import EMImputer

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    fit_on = np.full_like(X, np.nan) if all_missing_at_fit else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imputer = EMImputer(feature_transforms={0: None}).fit(fit_on)
    lazy = da.from_array(X, chunks=(90, 3))
    monkeypatch.setattr(
        type(lazy), "__array__", lambda *a, **k: pytest.fail("X computed whole")
    )
    assert imputer.score(lazy) == pytest.approx(imputer.score(X), rel=1e-13)
    with pytest.raises(ValueError, match="score"):
        imputer.score(lazy.astype(object))


def test_imputer_score_of_a_dask_array_left_no_rows_says_so(synchronous):
    # A boolean filter can leave a dask array (of unknown chunk sizes) no
    # rows: the in-memory error, not a ZeroDivisionError.
    from emimpute import EMImputer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    X[rng.random(X.shape) < 0.2] = np.nan
    imputer = EMImputer().fit(X)
    lazy = da.from_array(X, chunks=70)
    with pytest.raises(ValueError, match="0 sample"):
        imputer.score(lazy[lazy[:, 0] > 100])


def test_dask_restarts_share_one_start_sample(synchronous):
    # Reading the start's sample is a pass over the data: n_init runs read
    # it once, and each further run costs only its iterations' passes.
    X = _data(0.2)
    reads = {}
    for n_init in (1, 3):
        lazy, read = _counting(da.from_array(X, chunks=(97, 3)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            EMMixture(3, n_init=n_init, max_iter=2, tol=0.0, random_state=0).fit(lazy)
        reads[n_init] = sum(read)
    assert reads[3] - reads[1] == 2 * 2 * len(X)


@pytest.mark.parametrize(
    "estimator",
    [EMMixture(), EMImputer(), "selector", "classifier"],
    ids=lambda e: e if isinstance(e, str) else type(e).__name__,
)
def test_dask_collections_read_in_memory_are_refused_with_the_fix(estimator):
    # A dask DataFrame (every estimator), or a dask array for EMClassifier,
    # which has no out-of-core path, were computed whole on the client,
    # twice, silently: out of memory where out of core was meant.
    from emimpute import EMClassifier, EMMixtureSelector

    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = _data(0.1)
    y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
    ddf = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=2)
    if estimator == "classifier":
        lazy, reads = _counting(da.from_array(X, chunks=(100, 3)))
        with pytest.raises(TypeError, match=r"dask array.*X\.compute\(\)"):
            EMClassifier().fit(lazy, y)
        assert reads == []
        estimator, args = EMClassifier(), (y,)
    else:
        if estimator == "selector":
            estimator = EMMixtureSelector(n_components=[1, 2])
        args = ()
    with pytest.raises(TypeError, match=r"to_dask_array\(lengths=True\).*compute"):
        clone(estimator).fit(ddf, *args)
    fitted = clone(estimator).fit(X, *args)
    method = "transform" if isinstance(fitted, EMImputer) else "predict"
    with pytest.raises(TypeError, match="dask DataFrame"):
        getattr(fitted, method)(ddf)


def test_dask_transform_tasks_carry_no_training_data():
    # With parameter_uncertainty the imputer keeps its training data for
    # the draws; the draw is made at the call, and the tasks need only it:
    # each had pickled the whole training set with the imputer (21 MB a
    # task for a fit on 2e5 x 10). Here 20000 x 10 floats, 1.6 MB.
    cloudpickle = pytest.importorskip("cloudpickle")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 10))
    X[rng.random(X.shape) < 0.1] = np.nan
    imputer = EMImputer(
        sample_posterior=True, parameter_uncertainty="bootstrap", random_state=0
    ).fit(X)
    assert imputer._fit_data is not None
    lazy = da.from_array(X[:200], chunks=(50, 10))
    out = imputer.transform(lazy)
    size = len(cloudpickle.dumps(dict(out.__dask_graph__())))
    assert size < X.nbytes / 10, size
    assert imputer._fit_data is not None  # the imputer itself keeps it
    np.testing.assert_array_equal(
        out.compute()[~np.isnan(X[:200])], X[:200][~np.isnan(X[:200])]
    )


def test_dask_selector_refuses_a_constant_feature_as_in_memory(synchronous):
    # A feature observed in 5 rows, all 3.0, beside holes: every fit of the
    # grid is singular in it but for reg_covar. In memory the grid refuses
    # every cell; out of core it had no pass for the features' range and
    # scored them. The summary's pass now keeps each feature's least and
    # largest value (no pass of its own).
    from sklearn.datasets import load_iris

    from emimpute import EMMixtureSelector

    X = load_iris().data.copy()
    X[:, 1] = np.where(np.arange(150) < 5, 3.0, np.nan)
    settings = dict(n_components=[1, 2], covariance_type="full", random_state=0)
    with pytest.raises(ValueError, match="Every fit of the grid failed"):
        EMMixtureSelector(**settings).fit(X)
    lazy, reads = _counting(da.from_array(X, chunks=(50, 4)))
    with pytest.raises(ValueError, match="Every fit of the grid failed"):
        EMMixtureSelector(**settings).fit(lazy)
    from emimpute._em._dask import DaskData

    np.testing.assert_array_equal(
        DaskData.build(da.from_array(X, chunks=(50, 4))).constant_features(),
        [False, True, False, False],
    )
