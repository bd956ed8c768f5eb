"""EM's fixed point against a direct maximisation of the likelihood.

The observed-data log-likelihood is computed here with scipy only
(``_reference.observed_log_likelihood``: ``multivariate_normal.logpdf`` of
each row's observed part, ``logsumexp`` over the components) and maximised
with ``scipy.optimize.minimize`` over an unconstrained parametrisation
(softmax logits of the weights, means, log-Cholesky factors or
log-variances). If EM stopped short, computed a wrong conditional moment,
dropped the conditional-covariance term or mis-pooled a covariance type,
its fixed point would not be a stationary point of that function and the
direct maximisation would improve on it.
"""

import functools
import warnings

import numpy as np
import pytest
from _reference import (
    COVARIANCE_TYPES,
    UnconstrainedMixture,
    assert_close,
    dense_covariances,
    finite_difference_hessian,
    mar_mask,
    mcar_mask,
    newton_polish,
    norm_scale,
    observed_log_likelihood,
    pattern_rows,
    random_params,
    random_spd,
    reference_log_likelihood,
    sample_mixture,
)
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from emimpute._em._config import EMConfig, Prior
from emimpute._em._data import EMData
from emimpute._em._forms import covariance_form
from emimpute._em._loop import run_em

# name: (n_samples, n_features, n_components, missing rate, mechanism)
DATASETS = {
    "k1-mcar-d2": (120, 2, 1, 0.3, "mcar"),
    "k1-mar-d3": (150, 3, 1, 0.35, "mar"),
    "k1-mcar-d4": (150, 4, 1, 0.25, "mcar"),
    "k2-mcar-d2": (200, 2, 2, 0.3, "mcar"),
    "k2-mar-d3": (200, 3, 2, 0.3, "mar"),
}


@functools.cache
def _dataset(name, seed):
    """Incomplete data; for two components, clusters about 8 apart."""
    n_samples, n_features, n_components, rate, mechanism = DATASETS[name]
    rng = np.random.default_rng([seed, list(DATASETS).index(name)])
    truth = random_params(rng, n_components, n_features, "full", spread=0.0)
    means = truth.means.copy()
    if n_components == 2:
        # Covariance eigenvalues are at most 2: a Mahalanobis separation of
        # at least 8 / sqrt(2), so the clusters barely overlap.
        direction = rng.standard_normal(n_features)
        means[1] += 8.0 * direction / np.linalg.norm(direction)
    X, _ = sample_mixture(
        rng, n_samples, truth.weights, means, dense_covariances(truth)
    )
    if mechanism == "mcar":
        mask = mcar_mask(rng, n_samples, n_features, rate)
    else:
        mask = mar_mask(rng, X, rate)
    X[mask] = np.nan
    return X, mask


def _run_em(data, n_components, covariance_type, max_iter, start=None):
    with warnings.catch_warnings():
        # tol=0 never reports convergence.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return run_em(
            data,
            EMConfig(
                n_components=n_components,
                form=covariance_form(covariance_type),
                prior=Prior(reg_covar=0.0),
                tol=0.0,
                max_iter=max_iter,
                n_init=1,
                init_params="kmeans",
                random_state=np.random.RandomState(0),
            ),
            start=start,
        )


def _relative_change(a, b):
    return max(
        np.max(np.abs(x - y)) / norm_scale(y)
        for x, y in zip(
            (a.weights, a.means, a.covariances),
            (b.weights, b.means, b.covariances),
            strict=True,
        )
    )


@functools.cache
def _em_fit(name, covariance_type, seed):
    """EM without regularisation, run until an EM step changes nothing.

    EM converges linearly; on these data sets it reaches rounding level in
    about 50 iterations. It runs in rounds of 100 iterations (at most 2000)
    until one more EM step moves no parameter by more than 1e-13 relative,
    so the fit is within about 1e-13 / (1 - rate) of the fixed point.
    """
    X, mask = _dataset(name, seed)
    n_components = DATASETS[name][2]
    data = EMData.build(X, mask)
    result = _run_em(data, n_components, covariance_type, 100)
    for _ in range(20):
        step = _run_em(data, n_components, covariance_type, 1, result.params)
        if _relative_change(step.params, result.params) < 1e-13:
            return result.params
        result = _run_em(data, n_components, covariance_type, 100, result.params)
    raise AssertionError(f"EM did not converge in 2000 iterations on {name}")


def _problem(name, covariance_type, seed):
    X, mask = _dataset(name, seed)
    n_components, n_features = DATASETS[name][2], DATASETS[name][1]
    model = UnconstrainedMixture(n_components, n_features, covariance_type)
    groups = pattern_rows(mask)

    def objective(theta):
        return model.objective(theta, X, mask, groups)

    return X, mask, model, objective


# ------------------------------------------------ the references themselves


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reference_objective_and_gradient(covariance_type, global_random_seed):
    # The optimiser's objective is the per-row reference likelihood, and its
    # analytic gradient matches central differences. Central differences
    # with step 1e-6 on O(1) values: truncation ~1e-12, rounding
    # ~eps / 1e-6 = 2e-10, so 1e-7 norm-wise is a claim on the formula.
    X, mask, model, objective = _problem(
        "k2-mar-d3", covariance_type, global_random_seed
    )
    rng = np.random.default_rng(global_random_seed)
    params = random_params(rng, 2, 3, covariance_type)
    theta = model.pack(params.weights, params.means, params.covariances)
    weights, means, covariances, _ = model.unpack(theta)
    np.testing.assert_allclose(weights, params.weights, rtol=1e-14)
    np.testing.assert_allclose(means, params.means, rtol=1e-14)
    np.testing.assert_allclose(covariances, params.covariances, rtol=1e-13)
    value, gradient = objective(theta)
    # Pattern-grouped scipy densities against the row-by-row reference: the
    # same sums in another order.
    assert_close(
        -value * len(X),
        reference_log_likelihood(X, mask, params),
        1e-12,
        "reference: grouped vs per-row log-likelihood",
    )
    step = 1e-6
    numerical = np.array(
        [
            (objective(theta + step * e)[0] - objective(theta - step * e)[0])
            / (2.0 * step)
            for e in np.eye(len(theta))
        ]
    )
    assert_close(
        gradient,
        numerical,
        1e-7,
        "reference: analytic vs numerical gradient",
        scale=norm_scale(numerical),
    )


def test_reference_gradient_is_zero_at_complete_data_mle(global_random_seed):
    # On complete data the maximum is known in closed form (sample mean,
    # biased sample covariance): the analytic gradient vanishes there.
    # Data with a covariance of condition number <= 4: the gradient is a sum
    # of 50 terms of order one, zero up to ~1e-13.
    rng = np.random.default_rng(global_random_seed)
    X = rng.standard_normal((50, 3)) @ np.linalg.cholesky(random_spd(rng, 3)).T
    mask = np.zeros(X.shape, dtype=bool)
    covariance = np.cov(X.T, bias=True)
    _, _, grad_means, grad_covariances = observed_log_likelihood(
        X, mask, np.ones(1), X.mean(axis=0)[None], covariance[None]
    )
    np.testing.assert_allclose(grad_means, 0.0, atol=1e-12)
    np.testing.assert_allclose(grad_covariances, 0.0, atol=1e-11)


# ------------------------------------------------------------- stationarity


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("name", ["k1-mcar-d2", "k1-mar-d3", "k2-mcar-d2", "k2-mar-d3"])
def test_em_solution_is_a_local_maximum(name, covariance_type, global_random_seed):
    X, mask, model, objective = _problem(name, covariance_type, global_random_seed)
    params = _em_fit(name, covariance_type, global_random_seed)
    theta = model.pack(params.weights, params.means, params.covariances)
    value, gradient = objective(theta)

    # Stationary: the score at an EM fixed point is zero (Fisher's
    # identity). Per-sample gradient of O(1) terms, parameters within ~1e-13
    # of the fixed point: rounding level is ~1e-14; 1e-10 is a tight claim.
    assert np.max(np.abs(gradient)) < 1e-10, np.max(np.abs(gradient))

    # A maximum, not a saddle: the Hessian of the mean negative
    # log-likelihood (the observed information per sample) is positive
    # definite, well above its finite-difference error (~1e-9).
    eigenvalues = np.linalg.eigvalsh(
        finite_difference_hessian(lambda t: objective(t)[1], theta)
    )
    assert eigenvalues[0] > 1e-6 * eigenvalues[-1], eigenvalues

    # Direct maximisation, from the EM solution and from a perturbed one,
    # cannot do better. 1e-8 relative on the per-sample log-likelihood.
    rng = np.random.default_rng(global_random_seed)
    for start in (theta, theta + 0.05 * rng.standard_normal(len(theta))):
        result = minimize(
            objective,
            start,
            jac=True,
            method="BFGS",
            options={"gtol": 1e-10, "maxiter": 5000},
        )
        improvement = (value - result.fun) / abs(value)
        assert_close(improvement, 0.0, 1e-8, "stationarity: relative improvement")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("name", ["k1-mcar-d2", "k1-mar-d3", "k1-mcar-d4"])
def test_em_equals_direct_maximum_likelihood(name, covariance_type, global_random_seed):
    # One Gaussian: the optimiser starts from the mean-imputed estimate
    # (column means, covariance of the mean-filled data), far from EM's
    # start and path, runs BFGS and then Newton steps to the rounding level
    # of the gradient (~1e-15). Its optimum then has parameter error
    # ~1e-15 / (smallest observed information ~0.1), EM's ~1e-13: 1e-7
    # relative leaves a wide margin.
    X, mask, model, objective = _problem(name, covariance_type, global_random_seed)
    n_features = X.shape[1]
    column_means = np.nanmean(X, axis=0)
    filled = np.where(mask, column_means, X)
    covariance = np.cov(filled.T, bias=True).reshape(n_features, n_features)
    start_covariances = {
        "full": covariance[np.newaxis],
        "tied": covariance,
        "diag": np.diag(covariance)[np.newaxis],
        "spherical": np.array([np.diag(covariance).mean()]),
    }[covariance_type]
    start = model.pack(np.ones(1), column_means[np.newaxis], start_covariances)
    result = minimize(
        objective, start, jac=True, method="BFGS", options={"gtol": 1e-10}
    )
    theta = newton_polish(objective, result.x)
    value, gradient = objective(theta)
    assert np.max(np.abs(gradient)) < 1e-13, np.max(np.abs(gradient))
    weights, means, covariances, _ = model.unpack(theta)

    params = _em_fit(name, covariance_type, global_random_seed)
    assert_close(
        params.means, means, 1e-7, "K=1 EM vs optimum: means", scale=norm_scale(means)
    )
    assert_close(
        params.covariances,
        covariances,
        1e-7,
        "K=1 EM vs optimum: covariances",
        scale=norm_scale(covariances),
    )
    em_theta = model.pack(params.weights, params.means, params.covariances)
    em_value = objective(em_theta)[0]
    assert_close(em_value, value, 1e-12, "K=1 EM vs optimum: log-likelihood")
