"""The label family and the class weights of the engine (``_em/_labels``).

A known label is a categorical cell with fixed probabilities: these tests
check, against direct computations, that it clamps the responsibilities of
labelled rows, leaves unlabelled rows' alone, adds ``log p(y)`` to the
likelihood of a labelled row, and that fixed class priors hold through the
M-step.
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from emimpute._em._config import Prior
from emimpute._em._data import EMData
from emimpute._em._estep import e_step, posterior
from emimpute._em._labels import Classes, LabelFamily, LabelStats
from emimpute._em._mstep import m_step
from emimpute._em._params import MixtureParams
from emimpute._em._stats import MixtureStats


def _params(rng, n_components=4, n_features=2, component_classes=(0, 0, 1, 1)):
    means = rng.normal(size=(n_components, n_features)) * 2
    a = rng.normal(size=(n_components, n_features, n_features)) * 0.3
    covariances = a @ np.swapaxes(a, 1, 2) + np.eye(n_features)
    weights = rng.dirichlet(np.ones(n_components))
    params = MixtureParams.from_covariances(weights, means, covariances, "full")
    family = LabelFamily(np.array(component_classes))
    return MixtureParams(weights, params.families + (family,))


def _log_joint(X, params):
    """``log pi_k + log N(x_O; mu_k, S_k)`` per row, by scipy, no labels."""
    out = np.zeros((len(X), params.n_components))
    for i, x in enumerate(X):
        observed = ~np.isnan(x)
        for k in range(params.n_components):
            out[i, k] = np.log(params.weights[k])
            if observed.any():
                out[i, k] += multivariate_normal.logpdf(
                    x[observed],
                    params.means[k][observed],
                    params.covariances[k][np.ix_(observed, observed)],
                )
    return out


def test_labels_clamp_responsibilities(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    params = _params(rng)
    X = rng.normal(size=(30, 2)) * 2
    X[rng.random(X.shape) < 0.3] = np.nan
    labels = rng.integers(-1, 2, size=30)
    log_prob, resp = posterior(EMData.build(X, labels=labels), params)

    joint = _log_joint(X, params)
    classes = params.labels.component_classes
    for i, label in enumerate(labels):
        allowed = np.ones(4, bool) if label < 0 else classes == label
        expected = np.where(allowed, np.exp(joint[i] - logsumexp(joint[i, allowed])), 0)
        np.testing.assert_allclose(resp[i], expected, rtol=1e-12, atol=1e-15)
        # log p(x_O, y) for a labelled row, log p(x_O) for an unlabelled one
        # (0 when nothing is observed, the log of the weights' sum).
        np.testing.assert_allclose(
            log_prob[i], logsumexp(joint[i, allowed]), rtol=1e-12, atol=1e-14
        )


def test_without_labels_the_family_is_inert(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    params = _params(rng)
    gaussian_only = MixtureParams(params.weights, params.families[:1])
    X = rng.normal(size=(20, 2))
    X[rng.random(X.shape) < 0.3] = np.nan
    for labels in (None, np.full(20, -1)):
        data = EMData.build(X, labels=labels)
        for a, b in zip(
            posterior(data, params), posterior(data, gaussian_only), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_label_family_has_no_statistics_nor_parameters():
    family = LabelFamily(np.array([0, 1, 1]))
    assert family.n_parameters() == 0
    assert family.m_step(LabelStats(), Prior()) is family
    assert LabelStats() + LabelStats() == LabelStats()
    sample = family.sample(np.array([2, 0, 1]), np.random.RandomState(0))
    np.testing.assert_array_equal(sample, [1, 0, 1])


def test_a_labelled_row_with_nothing_observed_is_informative():
    X = np.array([[1.0, 2.0], [np.nan, np.nan], [np.nan, np.nan]])
    data = EMData.build(X, labels=np.array([-1, 0, -1]))
    np.testing.assert_array_equal(data.patterns.observed_rows, [0, 1])
    np.testing.assert_array_equal(data.patterns.empty_rows, [2])
    np.testing.assert_array_equal(data.take([1, 2]).labels, [0, -1])

    rng = np.random.default_rng(0)
    params = _params(rng)
    log_prob, stats = e_step(data, params)
    # log p(y = 0) = log of the weights of class 0's components.
    np.testing.assert_allclose(log_prob[1], np.log(params.weights[:2].sum()))
    assert log_prob[2] == 0.0


@pytest.mark.parametrize("priors", [None, np.array([0.3, 0.7])])
def test_m_step_weights_keep_fixed_priors(priors):
    classes = Classes.per_class(2, 2, priors)
    nk = np.array([1.0, 3.0, 2.0, 6.0])
    rng = np.random.default_rng(0)
    params = _params(rng)
    stats = e_step(EMData.build(rng.normal(size=(12, 2))), params)[1]
    stats = MixtureStats(nk=nk, families=stats.families)
    new = m_step(stats, params, Prior(), classes)
    if priors is None:
        np.testing.assert_allclose(new.weights, nk / nk.sum())
    else:
        # Each class keeps its prior, split in proportion to nk.
        np.testing.assert_allclose(
            new.weights, [0.3 * 1 / 4, 0.3 * 3 / 4, 0.7 * 2 / 8, 0.7 * 6 / 8]
        )
    assert new.families[-1] is params.families[-1]


def test_class_sums():
    classes = Classes(np.array([0, 1, 1, 0]))
    resp = np.array([[0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(classes.class_sums(resp), [[0.5, 0.5]])
    assert (classes.n_classes, classes.n_components) == (2, 4)
