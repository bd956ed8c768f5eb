"""Behaviour of EMMixture: agreement with GaussianMixture, NaN handling, API."""

import re
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV

from emimpute import EMMixture, EMMixtureSelector

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_METHODS = ["kmeans", "k-means++", "random", "random_from_data"]


def _blobs(rng, n=300, d=3, offset=0.0):
    """Three well-separated Gaussian clusters with different shapes."""
    centres = np.array(
        [[0.0] * d, [6.0] + [0.0] * (d - 1), [0.0, 6.0] + [1.0] * (d - 2)]
    )
    parts = []
    for k, centre in enumerate(centres):
        a = rng.normal(size=(d, d)) * 0.4 + np.eye(d) * (1 + 0.3 * k)
        parts.append(rng.normal(size=(n // 3, d)) @ a + centre)
    # Shuffled, so that cross-validation folds see every cluster.
    return rng.permutation(np.vstack(parts)) + offset


def _with_holes(X, rng, rate=0.2):
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    return Xm


def _relative_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_complete_data_matches_gaussian_mixture(covariance_type, global_random_seed):
    # Same initial parameters and max_iter on complete data: EMMixture runs
    # the same EM as GaussianMixture. The two accumulate the statistics
    # differently (one pass around a shift vs two passes around the mean),
    # so agreement is to rounding, amplified by the iterations: 1e-10 holds
    # with margin (observed ~1e-14).
    rng = np.random.default_rng(global_random_seed)
    X = _blobs(rng, offset=5.0)
    reference = GaussianMixture(
        3, covariance_type=covariance_type, max_iter=0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X)
    inits = dict(
        weights_init=reference.weights_,
        means_init=reference.means_,
        precisions_init=reference.precisions_,
    )
    kwargs = dict(covariance_type=covariance_type, max_iter=50, tol=1e-6)
    gm = GaussianMixture(3, **kwargs, **inits).fit(X)
    em = EMMixture(3, **kwargs, **inits).fit(X)
    assert em.n_iter_ == gm.n_iter_
    assert em.converged_ == gm.converged_
    assert _relative_error(em.lower_bound_, gm.lower_bound_) < 1e-10
    assert _relative_error(em.lower_bounds_, gm.lower_bounds_) < 1e-10
    for name in ("weights_", "means_", "covariances_", "precisions_"):
        assert _relative_error(getattr(em, name), getattr(gm, name)) < 1e-10, name
    assert np.array_equal(em.predict(X), gm.predict(X))
    np.testing.assert_allclose(em.score_samples(X), gm.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(
        em.predict_proba(X), gm.predict_proba(X), rtol=1e-8, atol=1e-12
    )


@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_same_random_state_same_fit_as_gaussian_mixture(init_params):
    # On complete data the initialisation consumes the random state as
    # GaussianMixture's does, so even the initial parameters agree.
    X = _blobs(np.random.default_rng(0))
    # n_init=1: with several runs converging to the same optimum under
    # permuted labels, rounding alone would pick which one is kept.
    kwargs = dict(init_params=init_params, random_state=3, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(3, **kwargs).fit(X)
        em = EMMixture(3, **kwargs).fit(X)
    assert em.n_iter_ == gm.n_iter_
    assert _relative_error(em.means_, gm.means_) < 1e-10
    assert _relative_error(em.lower_bound_, gm.lower_bound_) < 1e-10


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_every_init_works_on_nan_data(covariance_type, init_params):
    rng = np.random.default_rng(1)
    X = _with_holes(_blobs(rng), rng, rate=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = EMMixture(
            3, covariance_type=covariance_type, init_params=init_params, random_state=0
        ).fit(X)
    assert np.isfinite(em.lower_bound_)
    assert np.all(np.isfinite(em.means_))
    proba = em.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def _reference_score_samples(em, X):
    """Per-row marginal log-density from scipy, on the observed coordinates."""
    covariances = {
        "full": lambda k: em.covariances_[k],
        "tied": lambda k: em.covariances_,
        "diag": lambda k: np.diag(em.covariances_[k]),
        "spherical": lambda k: np.eye(X.shape[1]) * em.covariances_[k],
    }[em.covariance_type]
    out = np.zeros(len(X))
    for i, x in enumerate(X):
        obs = ~np.isnan(x)
        if not obs.any():
            continue
        terms = [
            np.log(em.weights_[k])
            + multivariate_normal(
                em.means_[k][obs], covariances(k)[np.ix_(obs, obs)]
            ).logpdf(x[obs])
            for k in range(em.n_components)
        ]
        out[i] = logsumexp(terms)
    return out


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scores_are_observed_marginals(covariance_type):
    # score_samples is the marginal density of the observed coordinates,
    # computed here independently with scipy; 1e-10 relative is rounding in
    # two different factorisations of well-conditioned matrices.
    rng = np.random.default_rng(2)
    X = _with_holes(_blobs(rng), rng, rate=0.35)
    X[:3] = np.nan
    em = EMMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    scores = em.score_samples(X)
    np.testing.assert_allclose(scores, _reference_score_samples(em, X), rtol=1e-10)
    assert np.all(scores[:3] == 0.0)
    np.testing.assert_allclose(em.predict_proba(X[:3]), np.tile(em.weights_, (3, 1)))
    assert np.all(em.predict(X[:3]) == np.argmax(em.weights_))
    assert em.score(X) == pytest.approx(scores.mean(), rel=1e-15)


@pytest.mark.parametrize("n_init", [1, 5])
def test_fit_predict_equals_fit_then_predict(n_init):
    rng = np.random.default_rng(3)
    X = _with_holes(_blobs(rng), rng)
    kwargs = dict(n_init=n_init, random_state=0, max_iter=5, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = EMMixture(3, **kwargs).fit_predict(X)
        assert np.array_equal(labels, EMMixture(3, **kwargs).fit(X).predict(X))


def test_n_init_keeps_the_best_run():
    rng = np.random.default_rng(4)
    X = _with_holes(_blobs(rng), rng)
    single = [
        EMMixture(3, init_params="random", random_state=seed).fit(X).lower_bound_
        for seed in range(5)
    ]
    best = EMMixture(3, init_params="random", n_init=5, random_state=0).fit(X)
    # The five runs of n_init=5 draw from one stream, so they differ from the
    # five single runs; the kept run is the best of its own five.
    assert best.lower_bound_ >= min(single)
    one = EMMixture(3, init_params="random", n_init=1, random_state=0).fit(X)
    assert best.lower_bound_ >= one.lower_bound_


def test_convergence_warning_and_attributes():
    rng = np.random.default_rng(5)
    X = _with_holes(_blobs(rng), rng)
    em = EMMixture(3, max_iter=1, tol=1e-12, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        em.fit(X)
    assert em.converged_ is False
    assert em.n_iter_ == 1
    assert len(em.lower_bounds_) == 1


def test_warm_start_continues_and_is_monotone():
    rng = np.random.default_rng(6)
    X = _with_holes(_blobs(rng), rng)
    em = EMMixture(3, warm_start=True, max_iter=1, reg_covar=0, random_state=0)
    bounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(20):
            em.fit(X)
            bounds.append(em.lower_bound_)
    # With reg_covar=0 each EM step never lowers the likelihood; 1e-12
    # relative allows for rounding in the log-likelihood sum.
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    # A new data set is not declared converged at its first iteration.
    em.set_params(max_iter=100)
    em.fit(X[::-1] + 1.0)
    assert em.n_iter_ >= 2


def test_grid_search_on_nan_data():
    rng = np.random.default_rng(7)
    X = _with_holes(_blobs(rng, n=150), rng)
    grid = GridSearchCV(
        EMMixture(max_iter=20),
        {
            "n_components": [1, 3],
            "covariance_type": COVARIANCE_TYPES,
            "init_params": ["kmeans", "random_from_data"],
            "random_state": [0, 1],
        },
        cv=3,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_params_["n_components"] == 3


def test_sample_and_information_criteria():
    rng = np.random.default_rng(8)
    X = _with_holes(_blobs(rng), rng)
    em = EMMixture(3, covariance_type="diag", random_state=0).fit(X)
    for n in (1, 7, 100):
        sample, labels = em.sample(n)
        assert sample.shape == (n, 3) and labels.shape == (n,)
        assert labels.min() >= 0 and labels.max() < 3
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        em.sample(0)
    n_parameters = 3 * 3 + 3 * 3 + 2
    n = len(X)
    # BIC's log n counts the rows with an observed entry only.
    n_informative = (~np.isnan(X)).any(axis=1).sum()
    assert n_informative < n
    assert em.bic(X) == pytest.approx(
        -2 * n * em.score(X) + n_parameters * np.log(n_informative)
    )
    assert em.aic(X) == pytest.approx(-2 * n * em.score(X) + 2 * n_parameters)


def test_sample_takes_whole_floats_as_gaussian_mixture_does():
    # 2.0 was refused with "The sampling requires at least one sample".
    X = _blobs(np.random.default_rng(8), d=2)
    em = EMMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    for n in (2.0, np.float64(3.0), np.float32(1.0)):
        assert em.sample(n)[0].shape == gm.sample(n)[0].shape == (int(n), 2)
    # The same draw as the integer.
    np.testing.assert_array_equal(em.sample(5.0)[0], em.sample(5)[0])
    selector = EMMixtureSelector(n_components=[1, 2], random_state=0).fit(X)
    assert selector.sample(4.0)[0].shape == (4, 2)
    # GaussianMixture truncates 2.5 to 2; here a fraction is refused.
    for n in (2.5, float("nan"), float("inf"), "2"):
        with pytest.raises(ValueError, match="It must be a whole number"):
            em.sample(n)
    with pytest.raises(ValueError, match="requires at least one sample"):
        em.sample(0.0)


def test_sample_recovers_parameters():
    em = EMMixture(2, random_state=0).fit(_blobs(np.random.default_rng(9), d=2))
    sample, _ = em.sample(50_000)
    refit = EMMixture(2, random_state=0).fit(sample)
    order = np.argsort(refit.means_[:, 0])
    # 50 000 draws: the means' standard errors are ~0.01.
    np.testing.assert_allclose(
        refit.means_[order], em.means_[np.argsort(em.means_[:, 0])], atol=0.05
    )


def test_clear_errors():
    X = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan]])
    with pytest.raises(
        ValueError, match=re.escape("features without any observed value: [1]")
    ):
        EMMixture().fit(X)
    with pytest.raises(
        ValueError,
        match="Expected n_samples >= n_components but got n_components = 5, "
        "n_samples = 3",
    ):
        EMMixture(5).fit(np.arange(6.0).reshape(3, 2))
    collapsed = np.repeat([[0.0, 1.0], [2.0, 3.0]], 5, axis=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        EMMixture(2, reg_covar=0).fit(collapsed)
    with pytest.raises(ValueError, match="should be normalized"):
        EMMixture(2, weights_init=[0.2, 0.2]).fit(_blobs(np.random.default_rng(0)))


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_subnormal_precisions_init_is_refused(covariance_type):
    # 1 / 1e-310 overflows: the first E-step's log-likelihood was -inf, and
    # the message blamed a degenerate model and asked for more reg_covar.
    # GaussianMixture fits from such a start (its first E-step flat).
    X = _blobs(np.random.default_rng(0))
    shape = (1, X.shape[1]) if covariance_type == "diag" else (1,)
    subnormal = EMMixture(
        1, covariance_type=covariance_type, precisions_init=np.full(shape, 1e-310)
    )
    with pytest.raises(ValueError, match="below 1 / 1.8e.308.*overflow float64"):
        subnormal.fit(X)
    tiny = EMMixture(
        1, covariance_type=covariance_type, precisions_init=np.full(shape, 1e-300)
    ).fit(X)
    reference = GaussianMixture(1, covariance_type=covariance_type).fit(X)
    np.testing.assert_allclose(tiny.means_, reference.means_, rtol=0, atol=1e-12)


def test_verbose_prints_progress(capsys):
    X = _blobs(np.random.default_rng(10))
    EMMixture(3, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert "Iteration 1" in out
    assert "converged" in out


def test_rows_with_nothing_observed_change_neither_fit_nor_bic():
    # They have log-density 0 under any parameters: they diluted the
    # per-row changes compared with tol (300 of them beside 120 rows stopped
    # the fit after 3 iterations instead of 25) and counted in BIC's log n.
    rng = np.random.default_rng(19)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(1.6, 1, (60, 2))])
    X[rng.random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    padded = np.vstack([X, np.full((300, 2), np.nan)])
    alone = EMMixture(2, random_state=0).fit(X)
    beside = EMMixture(2, random_state=0).fit(padded)
    assert alone.n_iter_ == beside.n_iter_ == 25
    np.testing.assert_allclose(beside.means_, alone.means_, rtol=0, atol=1e-12)
    assert beside.bic(padded) == pytest.approx(alone.bic(X), rel=1e-12)
    selected = [
        EMMixtureSelector(n_components=[1, 2, 3], random_state=0).fit(data)
        for data in (X, padded)
    ]
    for criterion in ("bic", "icl"):
        np.testing.assert_allclose(
            selected[1].cv_results_[criterion],
            selected[0].cv_results_[criterion],
            rtol=1e-10,
        )


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_a_row_of_density_zero_scores_minus_infinity(covariance_type):
    # A row far from every component (an outlier's score_samples) raised
    # "No component can have produced"; GaussianMixture gives -inf, and so
    # do the classifier's score_samples and the imputer's score. Its
    # component probabilities do not exist: predict_proba still says so.
    from emimpute import EMClassifier, EMImputer

    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(3, 0.7, (150, 3))])
    test = np.array([[4.0, 0.0, 1.0], [1e160, 0.0, 0.0], [0.0, -1e160, 0.0]])
    ours = EMMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    # With a hole too: 'full' and 'tied' subtracted two overflowed squares.
    hole = np.array([[1e160, 0.0, np.nan], [np.nan, 1e160, 0.0]])
    assert np.all(ours.score_samples(hole) == -np.inf)
    theirs = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    theirs.fit(X)
    scores = ours.score_samples(test)
    assert np.all(scores[1:] == -np.inf)
    with np.errstate(over="ignore"):  # scikit-learn's squares overflow to inf
        expected = theirs.score_samples(test)
    # The fits agree to about 1e-11 (test_mixture's parity tests); the
    # finite row's log-density with them.
    assert scores[0] == pytest.approx(expected[0], rel=1e-9)
    assert np.all(expected[1:] == -np.inf) and ours.score(test) == -np.inf
    with pytest.raises(ValueError, match="No component can have produced 2 row"):
        ours.predict_proba(test)
    classifier = EMClassifier(covariance_type=covariance_type)
    classifier.fit(X, np.repeat([0, 1], [200, 150]))
    assert np.all(classifier.score_samples(test)[1:] == -np.inf)
    imputer = EMImputer(n_components=2, covariance_type=covariance_type)
    assert imputer.set_params(random_state=0).fit(X).score(test) == -np.inf


@pytest.mark.parametrize("init_params", ["random", "k-means++", "kmeans"])
def test_max_iter_zero_keeps_the_last_start_as_gaussian_mixture(init_params):
    # No run is fit, so GaussianMixture keeps its last start; the first
    # was kept here (means 1.37 apart with 'k-means++').
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(3, 0.7, (150, 2))])
    options = dict(n_init=3, max_iter=0, init_params=init_params, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = EMMixture(2, **options).fit(X)
        theirs = GaussianMixture(2, **options).fit(X)
    # The same start, computed in another order: 1e-13 absolute on data of
    # unit scale.
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=0, atol=1e-13)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_sample_draws_gaussian_mixtures_rows_for_its_seed(covariance_type):
    # 'full' and 'tied' coloured the noise by a Cholesky factor, numpy's
    # multivariate_normal (which GaussianMixture.sample calls) by an SVD
    # one: the same labels, rows up to 9.2 apart.
    rng = np.random.RandomState(0)
    X = np.vstack(
        [
            rng.normal(0, 1, (200, 3)),
            rng.normal(3, 0.7, (150, 3)) @ rng.normal(size=(3, 3)),
            rng.normal(-4, 1.5, (150, 3)),
        ]
    )
    options = dict(covariance_type=covariance_type, random_state=0)
    ours = EMMixture(3, **options).fit(X).sample(50)
    theirs = GaussianMixture(3, **options).fit(X).sample(50)
    np.testing.assert_array_equal(ours[1], theirs[1])
    # Fits equal to about 1e-12, the same noise and factors: 1e-12 of the
    # data's scale (about 10).
    np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-11)
