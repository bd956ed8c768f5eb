"""The compiled data augmentation steps of one Gaussian (``_em._augmentation``).

Reference: ``complete`` (the I-step of any model) and ``component_moments``
of the completed rows, with the same stream; and the chain run by
``complete`` and ``draw_params`` instead.
"""

import numpy as np
import pytest

from emimpute import EMImputer
from emimpute._em import _impute, _uncertainty
from emimpute._em._augmentation import OneGaussianAugmentation
from emimpute._em._config import Prior
from emimpute._em._impute import complete
from emimpute._em._uncertainty import component_moments, posterior_chain

pytest.importorskip("numba")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _data(n=400, d=5, seed=0, rate=0.25):
    rng = np.random.RandomState(seed)
    factors = rng.normal(size=(d, 2))
    X = rng.normal(size=(n, 2)) @ factors.T + rng.normal(size=(n, d)) * 0.5 + 3.0
    X[rng.uniform(size=X.shape) < rate] = np.nan
    X[3] = np.nan  # a row with nothing observed: its marginal is drawn
    X[7, 1:] = np.nan  # and rows of every number of holes up to d - 1
    return X


def _fitted(X, covariance_type="full", sample_weight=None):
    imputer = EMImputer(
        covariance_type=covariance_type,
        sample_posterior=True,
        parameter_uncertainty="posterior",
        random_state=0,
    ).fit(X, sample_weight=sample_weight)
    return imputer._fit_data, imputer._params


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_step_draws_what_complete_draws(covariance_type, weighted, monkeypatch):
    # The same numbers from the same stream: the completed table of
    # complete()'s block-by-block draws (the compiled pass turned off there),
    # and the moments component_moments reads from it. Rounding
    # only: the conditional means are summed in another order (values of
    # order 1: 1e-13), and the scatter matrix is made from running sums
    # instead of deviations (entries of order n = 400: 1e-10).
    X = _data()
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(X)) if weighted else None
    data, params = _fitted(X, covariance_type, weights)
    augmentation = OneGaussianAugmentation(data, params.gaussian.means[0])
    table = np.array(data.numeric, dtype=float, order="C")
    counts, means, scatter = augmentation.step(params, np.random.RandomState(3), table)
    monkeypatch.setattr(_impute.OneGaussianAugmentation, "applies", _never)
    expected = complete(data, params, random_state=np.random.RandomState(3))
    np.testing.assert_allclose(table, expected.numeric, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(table[~data.mask], data.numeric[~data.mask])
    labels = np.zeros(len(table), dtype=np.intp)
    reference = component_moments(expected.numeric, labels, 1, data.sample_weight)
    np.testing.assert_allclose(counts, reference[0], rtol=1e-15)
    np.testing.assert_allclose(means, reference[1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(scatter, reference[2], rtol=0, atol=1e-10)


def test_step_without_a_table_gives_the_same_moments():
    X = _data()
    data, params = _fitted(X)
    augmentation = OneGaussianAugmentation(data, params.gaussian.means[0])
    table = np.array(data.numeric, dtype=float, order="C")
    written = augmentation.step(params, np.random.RandomState(5), table)
    summed = augmentation.step(params, np.random.RandomState(5))
    for a, b in zip(written, summed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_ill_conditioned_covariance_takes_no_number_from_the_stream():
    # Beyond the precision route's conditioning bound the step declines,
    # before drawing, so that complete() draws from an untouched stream.
    X = _data()
    data, params = _fitted(X)
    family = params.gaussian
    covariance = family.covariances.copy()
    covariance[0] += 1e12 * np.outer(np.ones(5), np.ones(5))
    bad = params.replace_gaussian(covariances=covariance)
    bad = bad.replace_gaussian(
        precisions_cholesky=family.form.precision_cholesky(covariance)
    )
    augmentation = OneGaussianAugmentation(data, family.means[0])
    stream = np.random.RandomState(0)
    assert augmentation.step(bad, stream) is None
    assert stream.uniform() == np.random.RandomState(0).uniform()


def test_applies_to_one_gaussian_on_numeric_data_only():
    X = _data()
    data, params = _fitted(X)
    assert OneGaussianAugmentation.applies(data, params)
    mixture = EMImputer(
        n_components=2,
        sample_posterior=True,
        parameter_uncertainty="posterior",
        random_state=0,
    ).fit(X)
    assert not OneGaussianAugmentation.applies(mixture._fit_data, mixture._params)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chain_is_the_chain_of_complete(covariance_type, monkeypatch):
    # The whole chain with the compiled steps and with complete()'s blocks
    # and draw_params: the same parameter draws and imputations, to rounding
    # carried through 3 + 2 + 2 steps (each P-step a smooth function of the
    # moments: 1e-10 relative, against 1e-14 per step).
    X = _data(n=300, d=4)
    data, params = _fitted(X, covariance_type)

    def draws():
        chain = posterior_chain(
            data, params, Prior(), np.random.RandomState(0), burn_in=3, thin=2
        )
        out = [next(chain) for _ in range(3)]
        chain.close()
        return out

    fast = draws()
    # complete()'s block-by-block draws and draw_params' moments instead.
    monkeypatch.setattr(_uncertainty, "_augmentation", lambda data, params: None)
    monkeypatch.setattr(_impute.OneGaussianAugmentation, "applies", _never)
    slow = draws()
    for (fast_params, fast_holes), (slow_params, slow_holes) in zip(
        fast, slow, strict=True
    ):
        np.testing.assert_allclose(
            fast_params.gaussian.means, slow_params.gaussian.means, rtol=1e-10
        )
        np.testing.assert_allclose(
            fast_params.gaussian.covariances,
            slow_params.gaussian.covariances,
            rtol=1e-10,
        )
        np.testing.assert_allclose(
            fast_holes.numeric, slow_holes.numeric, rtol=1e-10, atol=1e-12
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_complete_draws_one_gaussian_in_one_pass(covariance_type, monkeypatch):
    # complete() with draws takes the compiled pass for one Gaussian; the
    # block-by-block draws it replaces, from the same stream, are the
    # reference (in the data's units: standardisation undone).
    X = _data()
    imputer = EMImputer(
        covariance_type=covariance_type, sample_posterior=True, random_state=0
    ).fit(X)
    filled = []
    fill = OneGaussianAugmentation.fill
    monkeypatch.setattr(
        OneGaussianAugmentation,
        "fill",
        lambda self, *args: filled.append(fill(self, *args)) or filled[-1],
    )
    fast = imputer.transform(X)
    assert filled == [True]  # the compiled pass made the draws
    monkeypatch.setattr(_impute.OneGaussianAugmentation, "applies", _never)
    slow = imputer.transform(X)
    # Values of order 3 to 10 after the standardisation is undone.
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(fast[observed], X[observed])


def _never(data, params):
    return False
