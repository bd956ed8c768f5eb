"""Tests of the bundled data loader and of make_missing."""

import numpy as np
import pytest

from emimpute.datasets import load_old_faithful, make_missing


def test_load_old_faithful():
    faithful = load_old_faithful()
    assert faithful.data.shape == (272, 2)
    assert faithful.data.dtype == np.float64
    assert faithful.feature_names == ["eruptions", "waiting"]
    assert faithful.frame is None
    assert "Old Faithful" in faithful.DESCR
    assert not np.isnan(faithful.data).any()
    # Known summaries of R's datasets::faithful.
    np.testing.assert_allclose(faithful.data.mean(axis=0), [3.487783, 70.897059])
    np.testing.assert_array_equal(faithful.data[-1], [4.467, 74.0])


def test_load_old_faithful_as_frame():
    pd = pytest.importorskip("pandas")
    faithful = load_old_faithful(as_frame=True)
    assert isinstance(faithful.frame, pd.DataFrame)
    assert faithful.data is faithful.frame
    assert list(faithful.frame.columns) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(faithful.frame.to_numpy(), load_old_faithful().data)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(2000, 4))


@pytest.mark.parametrize("mechanism", ["mcar", "mar"])
def test_make_missing_copies_and_keeps_values(X, mechanism):
    X_orig = X.copy()
    X_missing = make_missing(X, missing_rate=0.3, mechanism=mechanism, random_state=0)
    np.testing.assert_array_equal(X, X_orig)
    assert X_missing.shape == X.shape
    observed = ~np.isnan(X_missing)
    np.testing.assert_array_equal(X_missing[observed], X[observed])


def test_make_missing_mcar_rate(X):
    mask = np.isnan(make_missing(X, missing_rate=0.3, random_state=0))
    assert mask.mean() == pytest.approx(0.3, abs=0.02)
    # MCAR: every column loses about the same share.
    np.testing.assert_allclose(mask.mean(axis=0), 0.3, atol=0.04)


def test_make_missing_mar_depends_on_driver(X):
    X_missing = make_missing(
        X, missing_rate=0.4, mechanism="mar", driver=2, random_state=0
    )
    mask = np.isnan(X_missing)
    assert not mask[:, 2].any()
    np.testing.assert_allclose(np.delete(mask, 2, axis=1).mean(axis=0), 0.4, atol=0.04)
    # Rows with a large driver lose more values than rows with a small one.
    high = X[:, 2] > np.median(X[:, 2])
    assert mask[high].mean() > 2 * mask[~high].mean()


def test_make_missing_reproducible(X):
    a = make_missing(X, missing_rate=0.2, random_state=42)
    b = make_missing(X, missing_rate=0.2, random_state=42)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))


def test_make_missing_empty_rows():
    X = np.ones((500, 2))
    X_missing = make_missing(X, missing_rate=0.8, random_state=0)
    assert not np.isnan(X_missing).all(axis=1).any()
    X_empty = make_missing(X, missing_rate=0.8, allow_empty_rows=True, random_state=0)
    assert np.isnan(X_empty).all(axis=1).any()


def test_make_missing_keeps_existing_nan():
    X = np.ones((50, 3))
    X[0, 0] = np.nan
    X_missing = make_missing(X, missing_rate=0.0, random_state=0)
    np.testing.assert_array_equal(np.isnan(X_missing), np.isnan(X))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"missing_rate": 1.0}, "missing_rate"),
        ({"missing_rate": -0.1}, "missing_rate"),
        ({"missing_rate": 0.1, "mechanism": "mnar"}, "mechanism"),
        ({"missing_rate": 0.1, "mechanism": "mar", "driver": 5}, "driver"),
    ],
)
def test_make_missing_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_missing(np.ones((10, 3)), **kwargs)


def test_make_missing_mar_needs_observed_driver():
    X = np.ones((10, 3))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="fully observed"):
        make_missing(X, missing_rate=0.1, mechanism="mar", driver=0)


def test_make_missing_single_feature():
    with pytest.raises(ValueError, match="allow_empty_rows"):
        make_missing(np.ones((10, 1)), missing_rate=0.1)
    X_missing = make_missing(
        np.ones((1000, 1)), missing_rate=0.5, allow_empty_rows=True, random_state=0
    )
    assert np.isnan(X_missing).mean() == pytest.approx(0.5, abs=0.05)
