"""EM's stopping rules: the log-likelihood's, and EMImputer's watch on the
fitted distribution's moments (``moment_tol``)."""

import logging
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from emimpute import EMImputer, EMMixture
from emimpute._em._categorical import CategoricalFamily
from emimpute._em._config import EMConfig, Prior
from emimpute._em._data import EMData
from emimpute._em._forms import covariance_form
from emimpute._em._gaussian import GaussianFamily, complete_data_statistics
from emimpute._em._loop import run_em
from emimpute._em._mstep import m_step
from emimpute._em._params import MixtureParams, largest_change
from emimpute._em._stats import MixtureStats
from emimpute._selection import select_by_held_out_cells

FORMS = ("full", "tied", "diag", "spherical")


def _random_params(covariance_type, rng, n_components=3, n_features=4):
    weights = rng.dirichlet(np.ones(n_components))
    means = rng.normal(size=(n_components, n_features))
    factors = rng.normal(size=(n_components, n_features, n_features))
    dense = factors @ np.swapaxes(factors, 1, 2) + np.eye(n_features)
    covariances = {
        "full": dense,
        "tied": dense[0],
        "diag": np.diagonal(dense, axis1=1, axis2=2).copy(),
        "spherical": np.diagonal(dense, axis1=1, axis2=2).mean(axis=1),
    }[covariance_type]
    return MixtureParams.from_covariances(weights, means, covariances, covariance_type)


def _dense_components(params):
    """Each component's covariance as a full matrix, form by form."""
    covariances = params.covariances
    n_components, n_features = params.means.shape
    if covariances.ndim == 3:
        return covariances
    if covariances.ndim == 2 and params.covariance_type == "tied":
        return np.repeat(covariances[np.newaxis], n_components, axis=0)
    if covariances.ndim == 2:
        return np.stack([np.diag(v) for v in covariances])
    return np.stack([v * np.eye(n_features) for v in covariances])


def _forms_part(covariance, covariance_type):
    """The part of a mixture's covariance a form's moments report."""
    if covariance_type in ("full", "tied"):
        return covariance
    if covariance_type == "diag":
        return np.diag(covariance)
    return np.diag(covariance).mean(keepdims=True)


@pytest.mark.parametrize("covariance_type", FORMS)
def test_marginal_moments_are_the_mixtures_mean_and_covariance(covariance_type):
    # Against the textbook moments of a mixture, component by component:
    # E[x] = sum_k w_k mu_k, Cov[x] = sum_k w_k (S_k + mu_k mu_k^T) - E[x] E[x]^T.
    rng = np.random.default_rng(0)
    params = _random_params(covariance_type, rng)
    mean = sum(w * mu for w, mu in zip(params.weights, params.means, strict=True))
    second = sum(
        w * (S + np.outer(mu, mu))
        for w, mu, S in zip(
            params.weights, params.means, _dense_components(params), strict=True
        )
    )
    covariance = second - np.outer(mean, mean)
    got_mean, got_covariance = params.marginal_moments()
    np.testing.assert_allclose(got_mean, mean, rtol=1e-13, atol=1e-13)
    expected = _forms_part(covariance, covariance_type)
    np.testing.assert_allclose(got_covariance, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("covariance_type", FORMS)
def test_an_m_step_on_complete_rows_keeps_the_marginal_moments(covariance_type):
    # Whatever the responsibilities, the M-step's mixture has the data's
    # mean and covariance (the form's part of it), plus reg_covar on the
    # diagonal: the moments move only as the fills of holes do, never as
    # components separate.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    resp = rng.dirichlet(np.ones(3), size=len(X))
    form = covariance_form(covariance_type)
    reg_covar = 1e-3
    params = m_step(
        MixtureStats(
            nk=resp.sum(axis=0),
            families=(complete_data_statistics(X, resp, form),),
        ),
        MixtureParams(weights=None, families=(GaussianFamily(form, None, None, None),)),
        Prior(reg_covar=reg_covar),
    )
    covariance = np.cov(X, rowvar=False, bias=True) + reg_covar * np.eye(4)
    expected = _forms_part(covariance, covariance_type)
    mean, got = params.marginal_moments()
    # Rounding of sums over 500 rows of unit-scale data.
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_largest_change_reads_every_family():
    rng = np.random.default_rng(2)
    gaussian = _random_params("full", rng, n_components=2).gaussian
    probabilities = (np.array([[0.2, 0.8], [0.6, 0.4]]),)
    params = MixtureParams(
        weights=np.array([0.5, 0.5]),
        families=(gaussian, CategoricalFamily(probabilities)),
    )
    assert largest_change(params.marginal_moments(), params.marginal_moments()) == 0.0
    moved = (np.array([[0.2, 0.8], [0.7, 0.3]]),)
    other = MixtureParams(
        weights=params.weights, families=(gaussian, CategoricalFamily(moved))
    )
    # The mixture's probability of the first category: 0.4 -> 0.45.
    step = largest_change(other.marginal_moments(), params.marginal_moments())
    assert step == pytest.approx(0.05, abs=1e-15)
    shifted = params.replace_gaussian(means=gaussian.means + 0.25)
    step = largest_change(shifted.marginal_moments(), params.marginal_moments())
    assert step == pytest.approx(0.25, abs=1e-15)


def _mostly_missing(seed, rate=0.85, n=200):
    # Feature 0 missing at random given feature 1: a logit of baseline
    # ``rate``, about 78% missing on average at 0.85.
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=n)
    logit = np.log(rate / (1 - rate)) + 1.5 * X[:, 1]
    X[rng.random(n) < 1 / (1 + np.exp(-logit)), 0] = np.nan
    return X


@pytest.mark.parametrize("seed", range(4))
def test_the_imputer_reaches_the_mle_of_a_mostly_missing_feature(seed):
    X = _mostly_missing(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The maximum: EM run to rounding.
        mle = EMImputer(tol=1e-13, max_iter=20000).fit(X)
    imputer = EMImputer().fit(X)
    likelihood_only = EMMixture(random_state=0).fit(X)
    sd = np.sqrt(mle.covariances_[0][0, 0])

    def errors(fitted):
        variance = fitted.covariances_[0][0, 0] / mle.covariances_[0][0, 0]
        return variance, abs(fitted.means_[0, 0] - mle.means_[0, 0]) / sd

    variance, mean = errors(imputer)
    # Steps below tol=1e-3 (standardised) at EM's rate here (about 0.93)
    # leave about 1e-3 * 0.93 / 0.07 = 0.013: measured 0.985-0.995 and
    # 0.009-0.017 sd on seeds 0-7.
    assert variance > 0.98
    assert mean < 0.02
    # The log-likelihood's rule alone (EMMixture's, GaussianMixture's) on
    # the same data and start: 0.84-0.97 and 0.16-0.33 sd.
    variance, mean = errors(likelihood_only)
    assert variance < 0.95
    assert mean > 0.15


@pytest.mark.parametrize("missing", [0.1, 0.5])
@pytest.mark.parametrize("covariance_type", FORMS)
def test_overlapping_components_do_not_hold_the_moment_rule_back(
    covariance_type, missing
):
    # Two overlapping clusters: EM separates them at a rate of 0.996, which
    # the mixture's mean and covariance do not follow. The same start (the
    # same stream), with and without the moment rule: 6-7 iterations both
    # at 10% missing; 8 against 8-11 at 50%, where the fills move the
    # moments (up to 5 times more on other tables).
    rng = np.random.RandomState(3)
    X = np.vstack([rng.randn(200, 2), rng.randn(200, 2) + [1.0, 0.5]])
    X[np.random.RandomState(4).rand(*X.shape) < missing] = np.nan
    data = EMData.build(X)

    def fit(moment_tol):
        config = EMConfig(
            n_components=2,
            form=covariance_form(covariance_type),
            standardise=True,
            random_state=np.random.RandomState(3),
            moment_tol=moment_tol,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return run_em(data, config)

    likelihood_only, both = fit(None), fit(1e-3)
    assert both.converged
    if missing < 0.5:
        assert both.n_iter == likelihood_only.n_iter
    else:
        assert likelihood_only.n_iter <= both.n_iter <= 2 * likelihood_only.n_iter


def _moment_steps(records):
    return [
        getattr(r, "em_moment_change", None)
        for r in records
        if r.levelno == logging.DEBUG and r.em_iteration
    ]


def test_only_the_imputer_and_its_chosen_candidate_watch_the_moments(caplog):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    with caplog.at_level(logging.DEBUG, logger="emimpute"):
        EMMixture(random_state=0).fit(X)
    assert all(step is None for step in _moment_steps(caplog.records))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="emimpute"):
        imputer = EMImputer().fit(X)
    steps = _moment_steps(caplog.records)
    assert len(steps) == imputer.n_iter_
    assert all(step is not None for step in steps)
    assert steps[-1] < imputer.tol <= steps[-2]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="emimpute"):
        imputer = EMImputer(n_components="auto", random_state=0).fit(X)
    runs = [[]]
    for record in caplog.records:
        if record.em_iteration == 0 and runs[-1]:
            runs.append([])
        if record.em_iteration and record.levelno == logging.DEBUG:
            runs[-1].append(getattr(record, "em_moment_change", None))
    # Every candidate on the held-out folds on the log-likelihood alone,
    # the chosen one refit on all rows watching its moments.
    assert len(runs) > 2
    assert all(step is None for run in runs[:-1] for step in run)
    assert len(runs[-1]) == imputer.n_iter_
    assert all(step is not None for step in runs[-1])


def test_select_by_held_out_cells_refits_the_choice_with_refit():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    data = EMData.build(X)
    calls = []

    def fit(fold, k):
        calls.append(("fit", k, len(fold.mask)))
        config = EMConfig(n_components=k, random_state=np.random.RandomState(0))
        return run_em(fold, config)

    def refit(whole, k):
        calls.append(("refit", k, len(whole.mask)))
        return fit(whole, k)

    select_by_held_out_cells(
        data, [1, 2], fit, random_state=np.random.RandomState(0), refit=refit
    )
    assert [c[0] for c in calls].count("refit") == 1
    assert calls[-2][0] == "refit" and calls[-2][2] == 200


def test_the_warning_blames_the_moments_only_when_they_held_em_back():
    hint = "The log-likelihood had settled, but not the fitted means"
    X = _mostly_missing(0)
    # After 8 iterations the log-likelihood changes by less than 1e-3; the
    # moments still move by more.
    with pytest.warns(ConvergenceWarning, match=hint):
        EMImputer(max_iter=8).fit(X)
    # The log-likelihood itself still rising: no hint.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EMImputer(n_components=3, max_iter=2, random_state=0).fit(X)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert messages
    assert not any(hint in message for message in messages)


def test_a_monitor_watching_moments_needs_the_step():
    from emimpute._em._monitor import ConvergenceMonitor

    monitor = ConvergenceMonitor(tol=1e-3, moment_tol=1e-3)
    with pytest.raises(ValueError, match="moment step"):
        monitor.report(-1.0)


def test_convergence_warning_on_a_wide_table_suggests_a_prior():
    # More features than rows: the 'full' covariance is singular but for
    # reg_covar and EM crawls; scikit-learn's generic advice did not say so.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 60))
    X[rng.random(X.shape) < 0.1] = np.nan
    with pytest.warns(
        ConvergenceWarning, match=r"30 rows .* fewer than the 61 .*prior='default'"
    ):
        EMImputer(max_iter=5).fit(X)
    # Enough rows, or a prior: the generic message alone.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EMImputer(max_iter=1).fit(X[:, :10])
        EMImputer(max_iter=1, prior="default").fit(X)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert messages and not any("fewer than" in m for m in messages)
