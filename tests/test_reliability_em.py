"""Reliability catalogue, EM behaviour (RELIABILITY.md (b), cases 35-41).

Monotone objective (reg_covar=0, non-degenerate data), forced
non-convergence, n_init keeping the best run, warm starts, a non-finite
objective, sampling, and agreement with GaussianMixture on complete data;
each tied to the scikit-learn issue it guards against.
"""

import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from emimpute import EMImputer, EMMixture

# BLAS and OpenMP limited to one thread (see conftest.single_threaded).
pytestmark = pytest.mark.usefixtures("single_threaded")


COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
NOT_CONVERGED = "Best performing initialization did not converge"


def _clusters(seed, n=90, d=3, k=2, rate=0.2, distance=6.0):
    """k well-separated, elongated clusters; ``rate`` of the cells missing."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(k):
        shape = np.eye(d) + 0.4 * rng.normal(size=(d, d))
        parts.append(rng.normal(size=(n // k, d)) @ shape + distance * j)
    X = rng.permutation(np.vstack(parts))
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    Xm = Xm[~np.all(np.isnan(Xm), axis=1)]
    return X, Xm


def _relative_drops(bounds):
    """Decreases of a sequence, relative to max(1, |value|)."""
    bounds = np.asarray(bounds)
    return -np.diff(bounds) / np.maximum(1.0, np.abs(bounds[1:]))


# Monotonicity tolerance: DLR 1977 guarantees no decrease in exact
# arithmetic; the per-row mean of n log-densities is summed in a different
# order at each iteration, so rounding can show a drop of a few ulps
# (scikit-learn #10870 saw -4.4e-16). 1e-9 relative is far above rounding
# and far below any real decrease (those seen with reg_covar are > 1e-6).
MONOTONE_TOL = 1e-9


# --------------------------------------------------------------------------
# 35. monotone objective with reg_covar=0
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_components", [1, 2])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_objective_never_decreases(
    covariance_type, n_components, global_random_seed
):
    _, Xm = _clusters(global_random_seed)
    gm = EMMixture(
        n_components,
        covariance_type=covariance_type,
        reg_covar=0.0,
        tol=1e-10,
        max_iter=150,
        random_state=global_random_seed,
    ).fit(Xm)
    # Non-degenerate: no component collapsed onto a handful of rows.
    assert gm.weights_.min() * len(Xm) > 10
    if n_components == 1 and covariance_type == "diag":
        # Independent features: their observed moments, the start, are the
        # maximum, and EM stays there (a flat trajectory, to rounding).
        assert len(gm.lower_bounds_) == 2
    else:
        assert len(gm.lower_bounds_) >= 3
    assert np.all(_relative_drops(gm.lower_bounds_) <= MONOTONE_TOL)
    assert gm.lower_bound_ == gm.lower_bounds_[-1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_imputer_objective_never_decreases(covariance_type, global_random_seed):
    # EMImputer keeps no per-iteration history; with tol=0 and a fixed seed,
    # the fit with max_iter=k stops after exactly k steps of the same run,
    # so lower_bound_ over k = 1..12 is that run's trajectory.
    _, Xm = _clusters(global_random_seed)
    bounds = [
        EMImputer(
            n_components=2,
            covariance_type=covariance_type,
            reg_covar=0.0,
            tol=0.0,
            max_iter=k,
            random_state=global_random_seed,
        )
        .fit(Xm)
        .lower_bound_
        for k in range(1, 13)
    ]
    assert np.all(_relative_drops(bounds) <= MONOTONE_TOL)
    assert bounds[-1] > bounds[0]


def test_positive_log_likelihood_is_legal():
    # scikit-learn #8453: a density above 1 has a positive log; never assert
    # score <= 0.
    _, Xm = _clusters(0)
    gm = EMMixture(2, random_state=0).fit(Xm * 1e-3)
    assert gm.score(Xm * 1e-3) > 0
    assert np.isfinite(gm.lower_bound_) and gm.lower_bound_ > 0


# --------------------------------------------------------------------------
# 36. forced non-convergence
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize("estimator", [EMImputer, EMMixture])
def test_max_iter_one_warns_and_reports(estimator, n_init):
    _, Xm = _clusters(1)
    model = estimator(
        n_components=2, max_iter=1, tol=1e-12, n_init=n_init, random_state=0
    )
    # The message names the kept run, not an init number (scikit-learn
    # #26621).
    with pytest.warns(ConvergenceWarning, match=NOT_CONVERGED):
        model.fit(Xm)
    assert model.converged_ is False
    assert model.n_iter_ == 1
    if estimator is EMMixture:
        assert len(model.lower_bounds_) == 1


@pytest.mark.parametrize("estimator", [EMImputer, EMMixture])
def test_converged_fit_does_not_warn(estimator):
    _, Xm = _clusters(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = estimator(n_components=2, random_state=0).fit(Xm)
    assert model.converged_ is True


# --------------------------------------------------------------------------
# 37. n_init keeps the best run
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("estimator", [EMImputer, EMMixture])
def test_n_init_keeps_the_maximum(estimator, init_params):
    _, Xm = _clusters(2, k=3, n=60)
    params = dict(n_components=3, init_params=init_params, tol=1e-4, max_iter=30)
    best = estimator(n_init=5, random_state=0, **params).fit(Xm)
    # The n_init runs draw from one RandomState in turn; a shared instance
    # passed to five single-init fits replays them one by one.
    stream = np.random.RandomState(0)
    runs = [
        estimator(n_init=1, random_state=stream, **params).fit(Xm).lower_bound_
        for _ in range(5)
    ]
    assert len(set(np.round(runs, 6))) > 1  # the runs really differ
    assert best.lower_bound_ == max(runs)  # scikit-learn #10869
    first = estimator(n_init=1, random_state=0, **params).fit(Xm)
    assert first.lower_bound_ == runs[0]
    assert best.lower_bound_ >= first.lower_bound_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("tol", [1e-12, 1e-3])
@pytest.mark.parametrize("max_iter", [1, 5, 30])
@pytest.mark.parametrize("n_init", [1, 5])
def test_fit_predict_equals_fit_then_predict(n_init, max_iter, tol):
    # scikit-learn #13070: labels from the last E-step of the best run, not
    # of the last run.
    _, Xm = _clusters(3, k=3, n=60)
    params = dict(
        n_init=n_init, max_iter=max_iter, tol=tol, init_params="random", random_state=0
    )
    labels = EMMixture(3, **params).fit_predict(Xm)
    np.testing.assert_array_equal(labels, EMMixture(3, **params).fit(Xm).predict(Xm))


# --------------------------------------------------------------------------
# 38. warm start
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_the_same_run(covariance_type):
    _, Xm = _clusters(4)
    params = dict(covariance_type=covariance_type, tol=0.0, random_state=0)
    warm = EMMixture(2, warm_start=True, max_iter=1, **params)
    bounds = []
    for _ in range(6):
        warm.fit(Xm)
        bounds.append(warm.lower_bound_)
    cold = EMMixture(2, max_iter=6, **params).fit(Xm)
    # Six one-step warm fits are the six steps of one run, bit for bit.
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(warm, name), getattr(cold, name))
    np.testing.assert_array_equal(bounds, cold.lower_bounds_)
    # n_init (and the seed) are ignored by a warm fit: nothing is drawn.
    other = copy.deepcopy(warm).set_params(n_init=7, random_state=123)
    other.fit(Xm)
    warm.fit(Xm)
    np.testing.assert_array_equal(other.means_, warm.means_)
    np.testing.assert_array_equal(other.covariances_, warm.covariances_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_monotone_with_reg_covar_zero():
    _, Xm = _clusters(5)
    gm = EMMixture(2, warm_start=True, max_iter=1, reg_covar=0.0, random_state=0)
    bounds = []
    for _ in range(25):
        gm.fit(Xm)
        bounds.append(gm.lower_bound_)
    assert np.all(_relative_drops(bounds) <= MONOTONE_TOL)


def test_warm_start_new_data_not_converged_at_first_iteration():
    # scikit-learn #10870: the first iteration on new data must not be
    # compared with the last one on the old data.
    _, Xm = _clusters(6)
    gm = EMMixture(2, warm_start=True, random_state=0).fit(Xm)
    assert gm.converged_
    gm.fit(Xm[::-1] + 3.0)
    assert gm.n_iter_ >= 2
    assert gm.converged_


def test_warm_start_on_shifting_data_stays_healthy():
    # scikit-learn #12099 (open): warm starts on drifting data collapsed
    # components to mean 0 / variance ~0.
    X, _ = _clusters(7, rate=0.0)
    rng = np.random.default_rng(7)
    gm = EMMixture(2, warm_start=True, random_state=0)
    true_variances = np.linalg.eigvalsh(np.cov(X[: len(X) // 2].T)).min()
    for step in range(8):
        Xs = X + 0.5 * step
        Xs[rng.random(X.shape) < 0.2] = np.nan
        gm.fit(Xs)
        assert np.all(np.isfinite(gm.means_))
        assert gm.weights_.min() > 0.3
        for covariance in gm.covariances_:
            assert np.linalg.eigvalsh(covariance).min() > 0.1 * true_variances
        centre = np.nanmean(Xs, axis=0)
        np.testing.assert_allclose(gm.weights_ @ gm.means_, centre, atol=0.5)


# --------------------------------------------------------------------------
# 39. non-finite objective
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_init", [1, 3])
def test_non_finite_objective_is_clear_error(n_init):
    # scikit-learn #18216: a NaN lower bound ended in UnboundLocalError.
    # A mean at 1e200 makes every squared distance overflow. (EMImputer
    # takes no initial means and standardises its input, so the objective
    # cannot be driven non-finite through its API.)
    _, Xm = _clusters(8)
    gm = EMMixture(2, means_init=[[1e200] * 3, [0.0] * 3], n_init=n_init)
    with pytest.raises(ValueError, match=r"log-likelihood became (nan|-inf)") as info:
        gm.fit(Xm)
    message = str(info.value)
    assert "reg_covar" in message and "scale the input data" in message
    assert not hasattr(gm, "means_")


def test_non_finite_objective_leaks_no_numpy_warning():
    _, Xm = _clusters(8)
    gm = EMMixture(2, means_init=[[1e200] * 3, [0.0] * 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="log-likelihood became"):
            gm.fit(Xm)


def test_zero_initial_weight_leaks_no_numpy_warning():
    _, Xm = _clusters(12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        gm = EMMixture(2, weights_init=[0.0, 1.0], random_state=0).fit(Xm)
    assert np.all(np.isfinite(gm.score_samples(Xm)))


# --------------------------------------------------------------------------
# 40. sample(n)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [1, 3])
def test_sample_returns_exactly_n(n_components, covariance_type):
    _, Xm = _clusters(9, k=3)
    gm = EMMixture(n_components, covariance_type=covariance_type, random_state=0).fit(
        Xm
    )
    for n in (1, 2, 3, 7, 10, 101):
        X, labels = gm.sample(n)  # scikit-learn #7701/#7822
        assert X.shape == (n, 3) and labels.shape == (n,)
        assert np.all(np.isfinite(X))
        assert labels.min() >= 0 and labels.max() < n_components
        assert np.all(np.diff(labels) >= 0)  # grouped by component
    X1, _ = gm.sample(50)
    X2, _ = gm.sample(50)
    np.testing.assert_array_equal(X1, X2)  # int seed: a fresh stream per call


@pytest.mark.parametrize("n", [0, -3])
def test_sample_invalid_count_names_it(n):
    _, Xm = _clusters(9)
    gm = EMMixture(2, random_state=0).fit(Xm)
    with pytest.raises(ValueError, match=f"Invalid value for 'n_samples': {n}"):
        gm.sample(n)


@pytest.mark.parametrize("n_samples", [6, 17, 31])
def test_weights_sum_to_one_with_few_samples(n_samples):
    # scikit-learn #23032: one component, fewer than 32 rows; the weights
    # summed to 1 - eps and sample() crashed in the multinomial.
    rng = np.random.default_rng(n_samples)
    X = rng.normal(size=(n_samples, 2))
    X[0, 1] = np.nan
    gm = EMMixture(1, random_state=0).fit(X)
    assert abs(gm.weights_.sum() - 1.0) <= 2 * np.finfo(float).eps
    assert gm.sample(n_samples)[0].shape == (n_samples, 2)
    gm3 = EMMixture(2, random_state=0).fit(X)
    assert abs(gm3.weights_.sum() - 1.0) <= 2 * np.finfo(float).eps
    assert gm3.sample(3)[0].shape == (3, 2)


# --------------------------------------------------------------------------
# 41. agreement with GaussianMixture on complete data
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_complete_data_agrees_with_gaussian_mixture(covariance_type):
    X, _ = _clusters(10, k=3, n=150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = GaussianMixture(
            3, covariance_type=covariance_type, max_iter=0, random_state=0
        ).fit(X)
    inits = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        covariance_type=covariance_type,
        tol=1e-8,
        max_iter=200,
    )
    gm = GaussianMixture(3, **inits).fit(X)
    em = EMMixture(3, **inits).fit(X)
    # The same EM, statistics accumulated differently (one pass around a
    # shift vs two passes): rounding amplified by the iterations, 1e-10.
    assert em.n_iter_ == gm.n_iter_
    np.testing.assert_allclose(em.lower_bound_, gm.lower_bound_, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(em, name), getattr(gm, name), rtol=1e-10, atol=1e-12
        )
    np.testing.assert_array_equal(em.predict(X), gm.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_seed_same_fit_as_gaussian_mixture(covariance_type):
    X, _ = _clusters(11, k=2)
    params = dict(covariance_type=covariance_type, random_state=3, tol=1e-8)
    gm = GaussianMixture(2, **params).fit(X)
    em = EMMixture(2, **params).fit(X)
    assert em.n_iter_ == gm.n_iter_
    np.testing.assert_allclose(em.means_, gm.means_, rtol=1e-10)
    np.testing.assert_allclose(em.lower_bound_, gm.lower_bound_, rtol=1e-10)
