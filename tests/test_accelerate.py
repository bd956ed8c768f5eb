"""Anderson-accelerated EM (``_em._accelerate``) against plain EM."""

from dataclasses import replace

import numpy as np
import pytest
from _reference import dense_covariances, mcar_mask, random_params, sample_mixture

from emimpute._em import _accelerate
from emimpute._em._accelerate import anderson_em, flatten, unflatten
from emimpute._em._categorical import CategoricalFamily
from emimpute._em._config import EMConfig
from emimpute._em._data import EMData
from emimpute._em._forms import covariance_form
from emimpute._em._loop import run_em
from emimpute._em._mstep import log_prior
from emimpute._em._params import MixtureParams


def _mixture_data(covariance_type, *, categorical=False, seed=0, n=300):
    rng = np.random.default_rng(seed)
    truth = random_params(rng, 2, 3, covariance_type, spread=1.5)
    covariances = dense_covariances(truth)
    X, labels = sample_mixture(rng, n, truth.weights, truth.means, covariances)
    X[mcar_mask(rng, n, 3, 0.25)] = np.nan
    codes, n_categories = None, ()
    if categorical:
        # One categorical column that follows the component 80% of the time.
        codes = np.where(rng.uniform(size=(n, 1)) < 0.8, labels[:, None], 2)
        n_categories = (3,)
    data = EMData.build(X, codes=codes, n_categories=n_categories)
    config = EMConfig(
        n_components=2,
        form=covariance_form(covariance_type),
        random_state=np.random.RandomState(seed),
    )
    # A start in EM's linear regime, as a bootstrap refit's: a loose fit.
    start = run_em(data, replace(config, tol=1e-2)).params
    return data, config, start


def _objective(data, config, params):
    """What EM climbs: the log-likelihood plus the smoothing's log-prior."""
    return data.expectation(params)[0] + log_prior(params, config.prior) / (
        data.total_weight
    )


def _vector(params):
    return flatten(params)


CASES = [
    ("full", False),
    ("tied", False),
    ("diag", False),
    ("spherical", False),
    ("full", True),
]


@pytest.mark.parametrize("covariance_type, categorical", CASES)
def test_reaches_the_fixed_point_of_plain_em(covariance_type, categorical):
    # Both run to a gain of 1e-14 per row from the same start: the
    # parameters then agree to about sqrt(1e-14 / curvature); 1e-6 on
    # parameters of order 1 leaves a factor 4 (measured: at most 2.2e-7).
    data, config, start = _mixture_data(covariance_type, categorical=categorical)
    tight = replace(config, tol=1e-14, max_iter=20_000)
    plain = run_em(data, tight, start=start)
    fast = anderson_em(data, tight, start)
    assert plain.converged and fast.converged
    np.testing.assert_allclose(_vector(fast.params), _vector(plain.params), atol=1e-6)
    # And it gets there in fewer E-steps.
    assert fast.n_iter < plain.n_iter


@pytest.mark.parametrize("covariance_type, categorical", CASES)
def test_a_refit_stops_no_farther_from_the_maximum_than_plain_em(
    covariance_type, categorical
):
    # At a refit's tolerance the accelerated run ends within half the
    # tolerance of the maximum of the objective (the Aitken stop,
    # AITKEN_SHARE, asks for half), above the start, in no more E-steps
    # than plain EM. Measured: gaps 4e-10 to 1.1e-7 (0.11 tol) against
    # plain EM's 5e-8 to 3.4e-7, in 4-5 E-steps against 6-8; plain EM ends
    # closer on the mixed case (7.6e-8), where the smoothing's Dirichlet
    # prior is part of the objective.
    data, config, start = _mixture_data(covariance_type, categorical=categorical)
    refit = replace(config, tol=1e-6)
    plain = run_em(data, refit, start=start)
    fast = anderson_em(data, refit, start)
    best = run_em(data, replace(config, tol=1e-14, max_iter=20_000), start=start)
    top = _objective(data, config, best.params)
    gap_plain = top - _objective(data, config, plain.params)
    gap_fast = top - _objective(data, config, fast.params)
    assert 0.0 <= gap_fast <= refit.tol / 2
    assert gap_plain >= 0.0
    assert fast.n_iter <= plain.n_iter
    assert _objective(data, config, fast.params) > _objective(data, config, start)


def test_rejected_extrapolations_fall_back_to_em_steps(monkeypatch):
    # Every extrapolation is sabotaged: half of them point backwards (valid
    # parameters of a lower likelihood: rejected by the objective), half
    # have a negative weight (invalid: never evaluated). The run must still
    # reach plain EM's fixed point, with a likelihood that never ends below
    # the start's, as plain EM does (1e-6 as in the first test).
    calls = []

    def sabotaged(xs, gs):
        calls.append(len(xs))
        x, g = xs[-1], gs[-1]
        if len(calls) % 2:
            return x - 3.0 * (g - x)
        bad = g.copy()
        bad[0] = -0.1
        return bad

    monkeypatch.setattr(_accelerate, "_extrapolate", sabotaged)
    data, config, start = _mixture_data("full")
    tight = replace(config, tol=1e-14, max_iter=20_000)
    fast = anderson_em(data, tight, start)
    plain = run_em(data, tight, start=start)
    assert len(calls) > 2
    assert fast.converged
    np.testing.assert_allclose(_vector(fast.params), _vector(plain.params), atol=1e-6)


def test_flatten_round_trip_and_validity():
    rng = np.random.default_rng(1)
    params = random_params(rng, 2, 3, "full")
    params = MixtureParams(
        params.weights,
        params.families + (CategoricalFamily((np.array([[0.2, 0.8], [0.6, 0.4]]),)),),
    )
    vector = flatten(params)
    back = unflatten(vector, params)
    assert np.array_equal(flatten(back), vector)
    np.testing.assert_array_equal(
        back.gaussian.precisions_cholesky, params.gaussian.precisions_cholesky
    )
    # Weights 2, means 6, covariances 18, probabilities 4.
    assert len(vector) == 2 + 6 + 18 + 4
    negative_weight = vector.copy()
    negative_weight[:2] = [1.2, -0.2]
    not_definite = vector.copy()
    not_definite[8:17] = -np.eye(3).ravel()
    negative_probability = vector.copy()
    negative_probability[-4:] = [1.1, -0.1, 0.6, 0.4]
    for invalid in (negative_weight, not_definite, negative_probability):
        assert unflatten(invalid, params) is None
