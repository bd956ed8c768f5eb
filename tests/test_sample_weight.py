"""sample_weight: a row of integer weight w is w copies of it; weight 0 drops it.

The references are the unweighted fits of the data with the rows repeated
(or dropped). The two fits do the same arithmetic up to the order of
summation, and k-means with weights picks the same start as on the repeated
rows here (well-separated clusters), so they agree to rounding: 1e-10 leaves
room for the ~50 iterations' accumulated rounding (seen: ~1e-15).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from emimpute import EMClassifier, EMImputer, EMMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
SETTINGS = dict(random_state=0, tol=1e-12, max_iter=500)


def _clusters(missing_rate=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [rng.normal(size=(50, 3)), rng.normal(5.0, 1.0, size=(50, 3)) * [1, 2, 0.5]]
    )
    X[rng.random(X.shape) < missing_rate] = np.nan
    X[7] = np.nan  # a row with nothing observed
    weights = rng.integers(0, 4, len(X))
    return X, weights


def _by_first_mean(estimator):
    return np.argsort(estimator.means_[:, 0])


def _assert_same_mixture(a, b):
    order_a, order_b = _by_first_mean(a), _by_first_mean(b)
    assert_allclose(a.weights_[order_a], b.weights_[order_b], rtol=0, atol=1e-10)
    assert_allclose(a.means_[order_a], b.means_[order_b], rtol=0, atol=1e-10)
    covariances_a, covariances_b = a.covariances_, b.covariances_
    if a.covariance_type != "tied":
        covariances_a, covariances_b = covariances_a[order_a], covariances_b[order_b]
    assert_allclose(covariances_a, covariances_b, rtol=0, atol=1e-10)
    assert_allclose(a.lower_bound_, b.lower_bound_, rtol=0, atol=1e-10)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("missing_rate", [0.0, 0.2])
def test_mixture_integer_weights_equal_repeated_rows(covariance_type, missing_rate):
    X, weights = _clusters(missing_rate)
    if missing_rate == 0.0:
        X = X[np.isfinite(X).all(axis=1)]
        weights = weights[: len(X)]
    weighted = EMMixture(2, covariance_type=covariance_type, **SETTINGS)
    weighted.fit(X, sample_weight=weights)
    repeated = EMMixture(2, covariance_type=covariance_type, **SETTINGS)
    repeated.fit(np.repeat(X, weights, axis=0))
    _assert_same_mixture(weighted, repeated)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_dependent_prior_counts_weights_as_repeated_rows(covariance_type):
    # prior='default' takes its mean and scale from the observed moments of
    # the data: with weights, those of the repeated rows.
    X, weights = _clusters()
    settings = dict(covariance_type=covariance_type, prior="default", **SETTINGS)
    weighted = EMMixture(2, **settings).fit(X, sample_weight=weights)
    repeated = EMMixture(2, **settings).fit(np.repeat(X, weights, axis=0))
    _assert_same_mixture(weighted, repeated)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_both_kernels_weight_rows(covariance_type, engine, monkeypatch):
    # The compiled and the numpy kernels each handle responsibilities that
    # sum to the row's weight (tied pools the completions by that sum).
    from emimpute._em import _fused

    if engine == "numba" and _fused.numba is None:
        pytest.skip("numba is not installed")
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, engine)
    X, weights = _clusters()
    weighted = EMMixture(2, covariance_type=covariance_type, **SETTINGS)
    weighted.fit(X, sample_weight=weights)
    repeated = EMMixture(2, covariance_type=covariance_type, **SETTINGS)
    repeated.fit(np.repeat(X, weights, axis=0))
    _assert_same_mixture(weighted, repeated)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_imputer_integer_weights_equal_repeated_rows(covariance_type):
    X, weights = _clusters()
    weighted = EMImputer(n_components=2, covariance_type=covariance_type, **SETTINGS)
    weighted.fit(X, sample_weight=weights)
    repeated = EMImputer(n_components=2, covariance_type=covariance_type, **SETTINGS)
    repeated.fit(np.repeat(X, weights, axis=0))
    _assert_same_mixture(weighted, repeated)
    # The same model imputes every row, whatever its weight.
    assert_allclose(weighted.transform(X), repeated.transform(X), rtol=0, atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_component_starts_at_the_weighted_moments(covariance_type):
    # One component starts from the weighted mean and covariance of the
    # data, which are the repeated rows' exactly: after a single iteration
    # (where a wrong start would still show, by 0.03 in the means) and at
    # the default tol the two fits agree to rounding. Full with one
    # component once took its start's centre from the unweighted mean.
    X, weights = _clusters()
    repeated_X = np.repeat(X, weights, axis=0)
    for settings in (dict(max_iter=1), dict()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            weighted = EMMixture(1, covariance_type=covariance_type, **settings)
            weighted.fit(X, sample_weight=weights)
            repeated = EMMixture(1, covariance_type=covariance_type, **settings)
            repeated.fit(repeated_X)
        _assert_same_mixture(weighted, repeated)
    weighted = EMImputer(covariance_type=covariance_type).fit(X, sample_weight=weights)
    repeated = EMImputer(covariance_type=covariance_type).fit(repeated_X)
    assert_allclose(weighted.transform(X), repeated.transform(X), rtol=0, atol=1e-9)


def test_zero_weight_drops_the_row():
    X, _ = _clusters()
    weights = np.ones(len(X))
    weights[::3] = 0.0
    weighted = EMMixture(2, **SETTINGS).fit(X, sample_weight=weights)
    dropped = EMMixture(2, **SETTINGS).fit(X[weights > 0])
    _assert_same_mixture(weighted, dropped)


def test_category_seen_only_on_a_row_of_weight_zero():
    # With category_smoothing=0 the category has probability 0 in every
    # component: fit drops the row as any row of weight 0 (it used to label
    # every row after the fit, and fail on it); fit_predict and predict,
    # which must label it, say why they cannot.
    rng = np.random.default_rng(4)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "c": pd.Categorical(rng.choice(["x", "y"], 40), categories=["x", "y", "z"]),
        }
    )
    X.loc[0, "c"] = "z"
    weights = np.ones(40)
    weights[0] = 0.0
    weighted = EMMixture(2, category_smoothing=0, **SETTINGS)
    weighted.fit(X, sample_weight=weights)
    dropped = EMMixture(2, category_smoothing=0, **SETTINGS).fit(X.iloc[1:])
    _assert_same_mixture(weighted, dropped)
    message = r"1 row\(s\) of X \(the first at index 0\).*category_smoothing > 0"
    with pytest.raises(ValueError, match=message):
        weighted.predict(X)
    with pytest.raises(ValueError, match=message):
        EMMixture(2, category_smoothing=0, **SETTINGS).fit_predict(
            X, sample_weight=weights
        )


def test_imputer_feature_observed_only_on_rows_of_weight_zero_is_skipped():
    # As if those rows were dropped: the "Skipping features" warning and the
    # same imputations of the other features (it was the empty-feature
    # error of the engine, naming a kept-feature index).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    X[5:, 2] = np.nan
    weights = np.ones(60)
    weights[:5] = 0.0
    with pytest.warns(UserWarning, match=r"observed values: \[2\]"):
        weighted = EMImputer().fit(X, sample_weight=weights)
    with pytest.warns(UserWarning, match=r"observed values: \[2\]"):
        dropped = EMImputer().fit(X[5:])
    assert_allclose(weighted.transform(X[5:]), dropped.transform(X[5:]), atol=1e-12)


def test_mixed_table_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(1)
    X, weights = _clusters()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    group = np.where(np.arange(len(X)) < 50, "low", "high")
    frame["group"] = pd.Series(group, dtype="category").where(rng.random(len(X)) > 0.2)
    repeated = frame.loc[frame.index.repeat(weights)].reset_index(drop=True)
    a = EMImputer(n_components=2, **SETTINGS).fit(frame, sample_weight=weights)
    b = EMImputer(n_components=2, **SETTINGS).fit(repeated)
    _assert_same_mixture(a, b)
    order_a, order_b = _by_first_mean(a), _by_first_mean(b)
    assert_allclose(
        a.category_probabilities_[0][order_a],
        b.category_probabilities_[0][order_b],
        rtol=0,
        atol=1e-10,
    )


def test_fit_predict_and_fit_transform_take_weights():
    X, weights = _clusters()
    mixture = EMMixture(2, **SETTINGS)
    labels = mixture.fit_predict(X, sample_weight=weights)
    assert_allclose(labels, mixture.predict(X))
    reference = EMMixture(2, **SETTINGS).fit(X, sample_weight=weights)
    _assert_same_mixture(mixture, reference)
    imputer = EMImputer(**SETTINGS)
    completed = imputer.fit_transform(X, sample_weight=weights)
    assert_allclose(
        completed,
        EMImputer(**SETTINGS).fit(X, sample_weight=weights).transform(X),
    )


def test_weights_change_the_fit():
    # Weighting one cluster up moves the mixture weights to it.
    X, _ = _clusters(0.0)
    weights = np.where(np.arange(len(X)) < 50, 3.0, 1.0)
    mixture = EMMixture(2, **SETTINGS).fit(X, sample_weight=weights)
    # At EM's fixed point the mixture weights are the weighted mean of the
    # responsibilities (to the tolerance of the converged fit) ...
    assert_allclose(
        mixture.weights_,
        np.average(mixture.predict_proba(X), axis=0, weights=weights),
        rtol=0,
        atol=1e-8,
    )
    # ... near 3/4 for the up-weighted cluster (the clusters barely overlap).
    assert_allclose(np.sort(mixture.weights_), [0.25, 0.75], atol=0.01)


@pytest.mark.parametrize(
    "sample_weight, message",
    [
        (-np.ones(100), "Negative values in data passed to .sample_weight"),
        (np.ones(3), "sample_weight.shape == "),
        (np.zeros(100), "at least one non-zero"),
    ],
)
@pytest.mark.parametrize("estimator", [EMMixture(), EMImputer()])
def test_bad_weights_are_rejected(estimator, sample_weight, message):
    X, _ = _clusters()
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, sample_weight=sample_weight)


def test_classifier_integer_weights_equal_repeated_rows():
    X, weights = _clusters()
    y = np.where(np.arange(len(X)) < 50, 0, 1)
    y[::3] = -1  # a third of the rows unlabelled
    weighted = EMClassifier(**SETTINGS).fit(X, y, sample_weight=weights)
    repeated = EMClassifier(**SETTINGS).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    # Components are in class order in both: no reordering needed.
    for name in ("weights_", "means_", "covariances_", "class_prior_", "lower_bound_"):
        assert_allclose(
            getattr(weighted, name), getattr(repeated, name), rtol=0, atol=1e-10
        )
    assert weighted.n_iter_ == repeated.n_iter_
    assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=0, atol=1e-10
    )
    # A zero weight drops the row: the same fit as without it.
    kept = weights > 0
    dropped = EMClassifier(**SETTINGS).fit(
        X[kept], y[kept], sample_weight=weights[kept]
    )
    assert_allclose(dropped.means_, weighted.means_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_leaves_zero_weight_rows_out(covariance_type, engine, monkeypatch):
    # The estimators drop weight-0 rows before the engine sees them; the
    # E-step itself must count them as nothing too (the compiled tied kernel
    # divided by a row's weight, which made 0 / 0 there). Same arithmetic up
    # to the order of summation: 1e-12.
    from _reference import random_params

    from emimpute._em import _fused
    from emimpute._em._data import EMData
    from emimpute._em._estep import e_step

    if engine == "numba" and _fused.numba is None:
        pytest.skip("numba is not installed")
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, engine)
    X, weights = _clusters()
    params = random_params(np.random.default_rng(1), 2, 3, covariance_type)
    kept = weights > 0
    norm_all, with_zeros = e_step(EMData.build(X, sample_weight=weights), params)
    norm_kept, without = e_step(
        EMData.build(X[kept], sample_weight=weights[kept]), params
    )
    assert_allclose(norm_all[kept], norm_kept, rtol=1e-12)
    assert_allclose(with_zeros.nk, without.nk, rtol=1e-12)
    for got, expected in zip(
        with_zeros.families[0].arrays, without.families[0].arrays, strict=True
    ):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_errors_from_zero_weights_name_sample_weight():
    # A class whose labelled rows all weigh 0, or a feature observed only in
    # rows of weight 0, is short because of the weights: the message says so
    # instead of describing data that plainly has the rows.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 2)) + 3.0 * y[:, np.newaxis]
    weights = np.where(y == 2, 0.0, 1.0)
    with pytest.raises(
        ValueError, match="Class 2 has 0 labelled rows of positive sample_weight"
    ):
        EMClassifier(random_state=0).fit(X, y, sample_weight=weights)
    X = rng.normal(size=(20, 3))
    X[:10, 2] = np.nan
    weights = np.r_[np.ones(10), np.zeros(10)]
    with pytest.raises(ValueError, match=r"in a row of positive sample_weight: \[2\]"):
        EMMixture().fit(X, sample_weight=weights)


def test_errors_name_sample_weight_only_when_a_weight_is_zero():
    # Weights of 1 leave no row out: the messages say nothing of them.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [30, 30, 2])
    X = rng.normal(size=(62, 2)) + 3.0 * y[:, np.newaxis]
    with pytest.raises(ValueError, match="Class 2 has 2 labelled rows with") as info:
        EMClassifier(random_state=0).fit(X, y, sample_weight=np.ones(62))
    assert "sample_weight" not in str(info.value)
    X = rng.normal(size=(20, 3))
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"without any observed value: \[2\]"):
        EMMixture().fit(X, sample_weight=np.ones(20))
