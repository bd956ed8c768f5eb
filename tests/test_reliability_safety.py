"""Reliability catalogue, data safety (RELIABILITY.md (b), cases 42-46).

Observed entries come back bit for bit, inputs are never written to, outputs
have the documented shape, order and names, fitted models survive pickle and
joblib unchanged, fits are deterministic for an int seed (in one process and
across processes), and the predict-side methods write no state, so one
fitted model can serve many threads.
"""

import copy
import json
import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from emimpute import EMImputer, EMMixture

# BLAS and OpenMP limited to one thread (see conftest.single_threaded).
pytestmark = pytest.mark.usefixtures("single_threaded")


COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _clusters(seed=0, n=60, d=3, rate=0.2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d)))
    X[: n // 2] += 5.0
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    Xm[3] = np.nan  # one row with nothing observed
    return Xm


def _fitted_outputs(model, X):
    """Every output of the predict side of a fitted model, as arrays."""
    if isinstance(model, EMImputer):
        Xt, std = model.transform(X, return_std=True)
        return {"transform": Xt, "std": std, "score": np.array([model.score(X)])}
    return {
        "score_samples": model.score_samples(X),
        "predict_proba": model.predict_proba(X),
        "predict": model.predict(X),
        "score": np.array([model.score(X)]),
        "bic": np.array([model.bic(X)]),
    }


def _assert_outputs_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], strict=True, err_msg=key)


FITTED_PARAMS = ("weights_", "means_", "covariances_", "lower_bound_", "n_iter_")


def _assert_params_identical(a, b):
    for name in FITTED_PARAMS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), strict=True)


# --------------------------------------------------------------------------
# 42. observed entries never changed
# --------------------------------------------------------------------------
IMPUTER_SETTINGS = [
    dict(),
    dict(n_components=2),
    dict(n_components=2, covariance_type="tied"),
    dict(n_components=2, covariance_type="diag"),
    dict(covariance_type="spherical"),
    dict(add_indicator=True),
    dict(keep_empty_features=True),
    dict(sample_posterior=True),
    dict(n_components=2, sample_posterior=True, add_indicator=True),
]


@pytest.mark.parametrize("settings", IMPUTER_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_observed_entries_bit_identical(settings, dtype):
    X = _clusters().astype(dtype)
    X[:, 1][np.isnan(X[:, 1])] = dtype(1.5)  # a complete column too
    observed = ~np.isnan(X)
    imputer = EMImputer(random_state=0, **settings)
    for Xt in (imputer.fit_transform(X), imputer.transform(X)):
        values = Xt[:, :3]
        # Compared as bits: observed cells must not even be round-tripped
        # through the standardisation.
        assert values.dtype == X.dtype
        assert np.array_equal(
            values[observed].view(np.uint8), X[observed].view(np.uint8)
        )
        assert np.all(np.isfinite(Xt))
        if settings.get("add_indicator"):
            np.testing.assert_array_equal(
                Xt[:, 3:], (~observed[:, [0, 2]]).astype(float)
            )


def test_observed_entries_bit_identical_with_marker_and_pandas():
    X = _clusters()
    X[:, 1][np.isnan(X[:, 1])] = 1.5
    observed = ~np.isnan(X)
    marked = np.where(observed, X, -1.0)
    Xt = EMImputer(missing_values=-1, random_state=0).fit_transform(marked)
    assert np.array_equal(Xt[observed], X[observed])
    frame = pd.DataFrame(X, columns=["a", "b", "c"], index=np.arange(60) * 10)
    imputer = EMImputer(random_state=0, add_indicator=True).set_output(
        transform="pandas"
    )
    out = imputer.fit_transform(frame)
    assert np.array_equal(out[["a", "b", "c"]].to_numpy()[observed], X[observed])


# --------------------------------------------------------------------------
# 43. inputs never mutated
# --------------------------------------------------------------------------
def _calls(name):
    """(method, args) pairs that take X, for each estimator."""
    if name == "EMImputer":
        return [
            ("fit", ()),
            ("fit_transform", ()),
            ("transform", ()),
            ("transform", ("std",)),
            ("score", ()),
        ]
    return [
        ("fit", ()),
        ("fit_predict", ()),
        ("predict", ()),
        ("predict_proba", ()),
        ("score_samples", ()),
        ("score", ()),
        ("bic", ()),
        ("aic", ()),
    ]


def _call(model, method, args, X):
    if args == ("std",):
        return model.transform(X, return_std=True)
    return getattr(model, method)(X)


MUTATION_MODELS = {
    "EMImputer": [
        EMImputer(n_components=2, random_state=0),
        EMImputer(missing_values=-1, random_state=0),
        EMImputer(sample_posterior=True, add_indicator=True, random_state=0),
        EMImputer(keep_empty_features=True, covariance_type="diag", random_state=0),
    ],
    "EMMixture": [
        EMMixture(2, random_state=0),
        EMMixture(2, covariance_type="spherical", warm_start=True, random_state=0),
    ],
}
MUTATION_CASES = [
    (name, i) for name, models in MUTATION_MODELS.items() for i in range(len(models))
]


@pytest.mark.parametrize("container", ["ndarray", "float32", "fortran", "dataframe"])
@pytest.mark.parametrize("name, index", MUTATION_CASES)
def test_inputs_never_mutated(name, index, container):
    prototype = MUTATION_MODELS[name][index]
    X = _clusters()
    if getattr(prototype, "missing_values", np.nan) == -1:
        X = np.nan_to_num(X, nan=-1.0)
    if getattr(prototype, "keep_empty_features", False):
        X[:, 2] = np.nan
    X = {
        "ndarray": X,
        "float32": X.astype(np.float32),
        "fortran": np.asfortranarray(X),
        "dataframe": pd.DataFrame(X, columns=["a", "b", "c"]),
    }[container]
    snapshot = copy.deepcopy(X)
    model = clone(prototype).fit(X)
    for method, args in _calls(name):
        target = clone(prototype) if method.startswith("fit") else model
        _call(target, method, args, X)
        # Values, NaN positions, dtype and memory layout all unchanged.
        if container == "dataframe":
            pd.testing.assert_frame_equal(X, snapshot)
        else:
            np.testing.assert_array_equal(X, snapshot, strict=True)
            assert X.flags.f_contiguous == snapshot.flags.f_contiguous
            assert X.flags.writeable


# --------------------------------------------------------------------------
# 44. output shape, order, names
# --------------------------------------------------------------------------
@pytest.mark.parametrize("keep_empty_features", [False, True])
@pytest.mark.parametrize("add_indicator", [False, True])
def test_output_shape_order_and_names(add_indicator, keep_empty_features):
    X = np.column_stack([_clusters(d=4), np.full(60, np.nan)])  # feature 4 empty
    X[:, 0][np.isnan(X[:, 0])] = 0.25  # feature 0 complete
    columns = ["a", "b", "c", "d", "e"]
    index = pd.Index([f"row{i}" for i in range(60)][::-1])
    frame = pd.DataFrame(X, columns=columns, index=index)
    imputer = EMImputer(
        add_indicator=add_indicator,
        keep_empty_features=keep_empty_features,
        random_state=0,
    ).set_output(transform="pandas")
    if keep_empty_features:
        imputer.fit(frame)
    else:
        # Named by name, as scikit-learn's imputers name them.
        with pytest.warns(UserWarning, match=r"observed values: \['e'\]"):
            imputer.fit(frame)
    out = imputer.transform(frame)
    kept = columns if keep_empty_features else columns[:4]
    indicated = [f"missingindicator_{c}" for c in ["b", "c", "d", "e"]]
    expected = kept + (indicated if add_indicator else [])
    assert list(out.columns) == expected
    assert list(imputer.get_feature_names_out()) == expected
    assert out.shape == (60, len(expected))
    assert out.index.equals(index)
    # Columns in input order: each kept column holds its own observed values.
    for j, column in enumerate(kept):
        observed = ~np.isnan(X[:, j])
        assert np.array_equal(out[column].to_numpy()[observed], X[observed, j])
    # The same through a plain ndarray.
    array_out = clone(imputer).set_output(transform="default")
    if keep_empty_features:
        array_out.fit(X)
    else:
        with pytest.warns(UserWarning, match=r"observed values: \[4\]"):
            array_out.fit(X)
    np.testing.assert_array_equal(array_out.transform(X), out.to_numpy(), strict=True)


def test_mixture_output_shapes():
    X = _clusters()
    gm = EMMixture(3, random_state=0).fit(X)
    assert gm.predict(X).shape == (60,)
    assert gm.predict_proba(X).shape == (60, 3)
    assert gm.score_samples(X).shape == (60,)
    assert isinstance(gm.score(X), float)
    rows = X[[5, 0, 59]]
    # Equal to rounding, not bitwise: the engine inverts a chunk's stack of
    # pattern blocks entry-wise or through LAPACK depending on the stack's
    # size (``_linalg``), so a row scored alone may round differently (seen
    # on 6 of 20 seeds of this very data before the family refactor).
    np.testing.assert_allclose(
        gm.score_samples(rows), gm.score_samples(X)[[5, 0, 59]], rtol=1e-14
    )


# --------------------------------------------------------------------------
# 45. pickle and joblib round trips
# --------------------------------------------------------------------------


def _models():
    models = []
    for covariance_type in COVARIANCE_TYPES:
        models.append(
            EMImputer(n_components=2, covariance_type=covariance_type, random_state=0)
        )
        models.append(EMMixture(2, covariance_type=covariance_type, random_state=0))
    models.append(EMImputer(add_indicator=True, sample_posterior=True, random_state=3))
    return models


@pytest.mark.parametrize("model", _models(), ids=repr)
def test_pickle_and_joblib_round_trip_bitwise(model, tmp_path):
    X = _clusters()
    model = clone(model).fit(X)
    expected = _fitted_outputs(model, X)
    restored = pickle.loads(pickle.dumps(model))
    _assert_outputs_identical(_fitted_outputs(restored, X), expected)
    _assert_params_identical(restored, model)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    for mmap_mode in (None, "r"):
        loaded = joblib.load(path, mmap_mode=mmap_mode)
        _assert_outputs_identical(_fitted_outputs(loaded, X), expected)
    # The original still gives the same after being pickled.
    _assert_outputs_identical(_fitted_outputs(model, X), expected)


# --------------------------------------------------------------------------
# 46. determinism
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random"])
@pytest.mark.parametrize("estimator", [EMImputer, EMMixture])
def test_same_seed_bitwise_identical_and_clone_refit(estimator, init_params):
    X = _clusters()
    params = dict(n_components=3, n_init=2, init_params=init_params, random_state=7)
    first = estimator(**params).fit(X)
    second = estimator(**params).fit(X)
    _assert_params_identical(first, second)
    _assert_outputs_identical(_fitted_outputs(first, X), _fitted_outputs(second, X))
    refit = clone(first).fit(X)
    _assert_params_identical(first, refit)
    # Refitting the same object gives the same again (fit_idempotent).
    first.fit(X)
    _assert_params_identical(first, second)


# The digests of one set of fits, as source code: run here and, verbatim, in
# fresh interpreters.
_DIGESTS = textwrap.dedent(
    """
    def digests(X):
        imputer = EMImputer(n_components=2, random_state=11).fit(X)
        draws = EMImputer(sample_posterior=True, random_state=11).fit(X)
        gm = EMMixture(3, n_init=2, init_params="k-means++", random_state=11).fit(X)
        return {
            "transform": imputer.transform(X).tobytes().hex(),
            "draws": draws.transform(X).tobytes().hex(),
            "means": gm.means_.tobytes().hex(),
            "covariances": gm.covariances_.tobytes().hex(),
            "score_samples": gm.score_samples(X).tobytes().hex(),
            "sample": gm.sample(5)[0].tobytes().hex(),
        }
    """
)

_SUBPROCESS = (
    textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from threadpoolctl import threadpool_limits
        from emimpute import EMImputer, EMMixture
        """
    )
    + _DIGESTS
    + textwrap.dedent(
        """
        X = np.array(json.loads(sys.stdin.read()))
        with threadpool_limits(limits=1):
            print(json.dumps(digests(X)))
        """
    )
)


def _run_elsewhere(X, n_processes=2):
    """The digests computed by ``n_processes`` fresh interpreters, run side
    by side."""
    payload = json.dumps(np.where(np.isnan(X), None, X).tolist())
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _SUBPROCESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n_processes)
    ]
    results = []
    for child in children:
        out, err = child.communicate(payload)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_determinism_across_processes():
    X = _clusters()
    first, second = _run_elsewhere(X)
    assert first == second
    namespace = {"EMImputer": EMImputer, "EMMixture": EMMixture}
    exec(_DIGESTS, namespace)
    here = namespace["digests"](X)
    assert here == first


def test_sample_posterior_reproducible_and_observed_untouched():
    X = _clusters()
    observed = ~np.isnan(X)
    a = EMImputer(n_components=2, sample_posterior=True, random_state=5).fit(X)
    b = clone(a).fit(X)
    first, again = a.transform(X), a.transform(X)
    # Each transform restarts the stream from the int seed.
    np.testing.assert_array_equal(first, again, strict=True)
    np.testing.assert_array_equal(first, b.transform(X), strict=True)
    other = clone(a).set_params(random_state=6).fit(X)
    drawn = other.transform(X)
    assert np.all(drawn[~observed] != first[~observed])
    for Xt in (first, drawn):
        assert np.array_equal(Xt[observed], X[observed])
        assert np.all(np.isfinite(Xt))


# --------------------------------------------------------------------------
# thread safety: predict-side methods write no state
# --------------------------------------------------------------------------
def test_concurrent_calls_match_serial():
    X = _clusters(n=80)
    gm = EMMixture(2, random_state=0).fit(X)
    imputer = EMImputer(n_components=2, random_state=0).fit(X)
    calls = {
        "transform": lambda: imputer.transform(X),
        "transform_std": lambda: np.hstack(imputer.transform(X, return_std=True)),
        "imputer_score": lambda: np.array([imputer.score(X)]),
        "predict": lambda: gm.predict(X),
        "predict_proba": lambda: gm.predict_proba(X),
        "score_samples": lambda: gm.score_samples(X),
    }
    names = list(calls)
    serial = {name: call() for name, call in calls.items()}
    state = (copy.deepcopy(gm.__dict__), copy.deepcopy(imputer.__dict__))

    def worker(thread):
        # 50 calls per thread, cycling through the methods so that different
        # methods run concurrently.
        return [
            (name, calls[name]())
            for name in (names[(thread + i) % len(names)] for i in range(50))
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for batch in pool.map(worker, range(8)) for r in batch]
    assert len(results) == 400
    mismatches = [
        name for name, value in results if not np.array_equal(value, serial[name])
    ]
    assert mismatches == []
    # No method wrote to the models.
    for before, model in zip(state, (gm, imputer), strict=True):
        assert before.keys() == model.__dict__.keys()
        for key, value in before.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, model.__dict__[key])
