"""MAP-EM under the conjugate prior (issue 13), against independent references.

The references here are written from Fraley and Raftery (2007), section 3
(the M-step of each model under the normal-inverse-Wishart / inverse-gamma
prior), with explicit per-row sums and scipy's densities; they share no code
with the engine's pseudo-row formulation (``_em/_conjugate.py``).
"""

import warnings

import numpy as np
import pytest
from scipy.special import gammaln, logsumexp
from scipy.stats import invgamma, invwishart, multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from emimpute import ConjugatePrior, EMClassifier, EMImputer, EMMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _dense(covariances, covariance_type, n_components, n_features):
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


def _responsibilities(X, weights, dense):
    log_prob = np.column_stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(weights, *dense, strict=True)
        ]
    )
    return np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))


def reference_map_update(X, resp, covariance_type, kappa, mu_p, nu, psi, alpha):
    """One MAP M-step, Fraley and Raftery (2007), section 3, written out.

    ``psi`` is the inverse-Wishart scale matrix; 'diag' uses its diagonal and
    'spherical' the mean of its diagonal as the inverse-gamma scales.
    """
    n_samples, n_features = X.shape
    n_components = resp.shape[1]
    nk = resp.sum(axis=0)
    xbar = (resp.T @ X) / nk[:, None]
    scatter = np.zeros((n_components, n_features, n_features))
    between = np.zeros_like(scatter)
    for k in range(n_components):
        for i in range(n_samples):
            deviation = X[i] - xbar[k]
            scatter[k] += resp[i, k] * np.outer(deviation, deviation)
        offset = xbar[k] - mu_p
        between[k] = kappa * nk[k] / (nk[k] + kappa) * np.outer(offset, offset)
    means = (nk[:, None] * xbar + kappa * mu_p) / (nk[:, None] + kappa)
    weights = (nk + alpha - 1.0) / (n_samples + n_components * (alpha - 1.0))
    if covariance_type == "full":
        covariances = np.stack(
            [
                (psi + scatter[k] + between[k]) / (nu + nk[k] + n_features + 2)
                for k in range(n_components)
            ]
        )
    elif covariance_type == "tied":
        covariances = (psi + (scatter + between).sum(axis=0)) / (
            nu + n_samples + n_features + n_components + 1
        )
    elif covariance_type == "diag":
        covariances = np.stack(
            [
                (np.diag(psi) + np.diag(scatter[k]) + np.diag(between[k]))
                / (nu + nk[k] + 3)
                for k in range(n_components)
            ]
        )
    else:
        covariances = np.array(
            [
                (np.diag(psi).mean() + np.trace(scatter[k]) + np.trace(between[k]))
                / (nu + (nk[k] + 1) * n_features + 2)
                for k in range(n_components)
            ]
        )
    return weights, means, covariances


def _relative(actual, desired):
    return np.max(np.abs(actual - desired)) / np.max(np.abs(desired))


def _two_clusters(seed, n_samples=120, n_features=3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    X[: n_samples // 3] += 6.0
    X[:, 1] += 0.5 * X[:, 0]
    return X


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_map_fixed_point_matches_fraley_raftery(covariance_type):
    X = _two_clusters(0)
    n_features = X.shape[1]
    rng = np.random.RandomState(1)
    root = rng.normal(size=(n_features, n_features))
    psi = root @ root.T + np.eye(n_features)
    kappa, mu_p, nu, alpha = 0.7, rng.normal(size=n_features), n_features + 1.5, 3.0
    prior = ConjugatePrior(
        shrinkage=kappa, mean=mu_p, dof=nu, scale=psi, weight_concentration=alpha
    )
    mixture = EMMixture(
        2,
        covariance_type=covariance_type,
        prior=prior,
        reg_covar=0.0,
        tol=0.0,
        max_iter=600,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit(X)
    dense = _dense(mixture.covariances_, covariance_type, 2, n_features)
    resp = _responsibilities(X, mixture.weights_, (mixture.means_, dense))
    weights, means, covariances = reference_map_update(
        X, resp, covariance_type, kappa, mu_p, nu, psi, alpha
    )
    # EM has run to its fixed point (600 iterations of a contraction that
    # converges in ~30), so one more update changes nothing beyond the
    # rounding of sums over 120 rows: 1e-10 relative.
    assert _relative(mixture.weights_, weights) < 1e-10
    assert _relative(mixture.means_, means) < 1e-10
    assert _relative(mixture.covariances_, covariances) < 1e-10
    # And the prior moved the fit: it is not the maximum-likelihood one.
    ml = EMMixture(2, covariance_type=covariance_type, reg_covar=0.0, tol=1e-10)
    ml.fit(X)
    assert _relative(np.sort(ml.weights_), np.sort(mixture.weights_)) > 1e-4


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_prior_one_component_is_the_closed_form(covariance_type):
    # One component: every responsibility is 1 and the MAP estimate is the
    # formula itself, with mclust's defaultPrior hyperparameters: the column
    # means, dof d + 2, shrinkage 0.01 and var(data) (the mean variance for
    # diag and spherical), times G^(-2/d) = 1.
    X = _two_clusters(2, n_features=4)
    n_features = X.shape[1]
    mixture = EMMixture(
        covariance_type=covariance_type, prior="default", reg_covar=0.0, tol=1e-12
    ).fit(X)
    covariance = np.cov(X, rowvar=False)
    psi = covariance
    if covariance_type in ("diag", "spherical"):
        psi = np.eye(n_features) * np.trace(covariance) / n_features
    weights, means, covariances = reference_map_update(
        X,
        np.ones((len(X), 1)),
        covariance_type,
        0.01,
        X.mean(axis=0),
        n_features + 2.0,
        psi,
        1.0,
    )
    # A closed form reached in one M-step: only rounding differs.
    assert _relative(mixture.means_, means) < 1e-12
    assert _relative(mixture.covariances_, covariances) < 1e-12
    assert mixture.weights_[0] == pytest.approx(1.0)


def _reference_log_prior(mixture, covariance_type, kappa, mu_p, nu, psi, alpha):
    """log p(theta) from scipy's densities."""
    n_components, n_features = mixture.means_.shape
    dense = _dense(mixture.covariances_, covariance_type, n_components, n_features)
    total = gammaln(n_components * alpha) - n_components * gammaln(alpha)
    total += (alpha - 1.0) * np.log(mixture.weights_).sum()
    for k in range(n_components):
        total += multivariate_normal(mu_p, dense[k] / kappa).logpdf(mixture.means_[k])
    if covariance_type == "full":
        total += sum(invwishart(nu, psi).logpdf(c) for c in dense)
    elif covariance_type == "tied":
        total += invwishart(nu, psi).logpdf(dense[0])
    elif covariance_type == "diag":
        total += (
            invgamma(nu / 2, scale=np.diag(psi) / 2).logpdf(mixture.covariances_).sum()
        )
    else:
        scale = np.diag(psi).mean() / 2
        total += invgamma(nu / 2, scale=scale).logpdf(mixture.covariances_).sum()
    return total


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_objective_is_log_likelihood_plus_log_prior(covariance_type):
    X = _two_clusters(3)
    n_features = X.shape[1]
    psi = np.diag([1.0, 2.0, 0.5]) + 0.1
    kappa, mu_p, nu, alpha = 0.2, np.zeros(n_features), n_features + 4.0, 2.0
    prior = ConjugatePrior(kappa, mu_p, nu, psi, alpha)
    mixture = EMMixture(
        2,
        covariance_type=covariance_type,
        prior=prior,
        tol=1e-13,
        max_iter=1000,
        random_state=0,
        reg_covar=0.0,
    ).fit(X)
    # lower_bound_ is the objective at the last E-step; the M-step after it
    # changed the objective by less than tol = 1e-13 per row, so scoring the
    # stored parameters agrees to that, plus rounding.
    log_likelihood = mixture.score(X) * len(X)
    log_prior = _reference_log_prior(
        mixture, covariance_type, kappa, mu_p, nu, psi, alpha
    )
    expected = (log_likelihood + log_prior) / len(X)
    assert mixture.lower_bound_ == pytest.approx(expected, rel=1e-10, abs=1e-11)


def test_shrinkage_zero_gives_unshrunk_means():
    X = _two_clusters(4)
    mixture = EMMixture(prior=ConjugatePrior(shrinkage=0.0), reg_covar=0.0).fit(X)
    np.testing.assert_allclose(mixture.means_[0], X.mean(axis=0), rtol=1e-12)


def _with_holes(X, rng, rate=0.2):
    X = X.copy()
    holes = rng.rand(*X.shape) < rate
    holes[holes.all(axis=1), 0] = False
    X[holes] = np.nan
    return X


def test_map_objective_never_decreases_with_holes():
    # 100 seeded fits, the four covariance types and one to three
    # components: the penalised objective of every iteration is at least the
    # previous one. 1e-12 relative allows for the rounding of its sum.
    for seed in range(100):
        rng = np.random.RandomState(seed)
        X = _with_holes(rng.normal(size=(40, 3)) + 3.0 * (rng.rand(40, 1) > 0.5), rng)
        mixture = EMMixture(
            n_components=1 + seed % 3,
            covariance_type=COVARIANCE_TYPES[seed % 4],
            prior="default",
            reg_covar=0.0,
            tol=1e-6,
            max_iter=200,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            mixture.fit(X)
        bounds = np.asarray(mixture.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), seed


def test_imputer_prior_is_stated_in_the_data_units():
    # The same prior stated in two unit systems gives the same imputations:
    # the imputer converts mean and scale to its standardised units.
    rng = np.random.RandomState(5)
    X = _with_holes(_two_clusters(5), rng)
    scale = np.array([10.0, 0.1, 3.0])
    centre = np.array([5.0, -2.0, 100.0])
    psi = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    mu_p = np.array([1.0, 0.0, -1.0])
    for covariance_type in ("full", "diag"):
        fits = []
        for a, b in ((np.ones(3), np.zeros(3)), (scale, centre)):
            prior = ConjugatePrior(
                shrinkage=5.0, mean=mu_p * a + b, dof=6.0, scale=psi * np.outer(a, a)
            )
            imputer = EMImputer(
                n_components=2,
                covariance_type=covariance_type,
                prior=prior,
                random_state=0,
                tol=1e-10,
            )
            fits.append((imputer.fit_transform(X * a + b) - b) / a)
        # Affine equivariance, up to the convergence tolerance.
        np.testing.assert_allclose(fits[0], fits[1], rtol=1e-6, atol=1e-6)


def test_p_greater_than_n_converges_and_beats_iterative_imputer():
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    rng = np.random.RandomState(0)
    n_samples, n_features, rank = 35, 70, 5
    X = rng.normal(size=(n_samples, rank)) @ rng.normal(size=(rank, n_features))
    X += 0.1 * rng.normal(size=X.shape)
    holes = rng.rand(*X.shape) < 0.1
    X_missing = np.where(holes, np.nan, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        imputer = EMImputer(prior="default").fit(X_missing)
    assert imputer.converged_
    error = np.abs(imputer.transform(X_missing) - X)[holes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        iterative = IterativeImputer(random_state=0).fit(X_missing)
    error_iterative = np.abs(iterative.transform(X_missing) - X)[holes]
    assert np.sqrt(np.mean(error**2)) <= np.sqrt(np.mean(error_iterative**2))


def test_classifier_with_prior():
    X = _two_clusters(6)
    y = (np.arange(len(X)) < len(X) // 3).astype(int)
    y_partly = np.where(np.random.RandomState(0).rand(len(X)) < 0.5, -1, y)
    classifier = EMClassifier(prior="default", reg_covar=0.0).fit(X, y_partly)
    assert classifier.score(X, y) > 0.95
    bounds = np.asarray(classifier.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    # Every label known and one component per class: the MAP fit of each
    # class's rows alone (QDA with the prior), weights from the class counts.
    full = EMClassifier(prior=ConjugatePrior(), reg_covar=0.0).fit(X, y)
    for c in (0, 1):
        rows = X[y == c]
        assert (
            _relative(
                full.means_[c], (rows.sum(0) + 0.01 * X.mean(0)) / (len(rows) + 0.01)
            )
            < 1e-12
        )


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        (ConjugatePrior(dof=2.0), r"prior\.dof must be > 2"),
        (ConjugatePrior(shrinkage=-0.1), r"prior\.shrinkage must be >= 0"),
        (ConjugatePrior(scale=np.diag([1.0, -1.0, 1.0])), r"prior\.scale.*definite"),
        (ConjugatePrior(scale=np.ones((2, 2))), r"prior\.scale must be a number"),
        (ConjugatePrior(mean=[0.0, 1.0]), r"prior\.mean must be a finite array"),
        (ConjugatePrior(weight_concentration=0.5), r"weight_concentration must be"),
        (ConjugatePrior(dof="many"), r"prior\.dof must be a real number"),
        (ConjugatePrior(scale="x"), r"prior\.scale must be a number or an array"),
        (ConjugatePrior(mean=[[1.0, 2.0], [3.0]]), r"prior\.mean must be a number"),
    ],
)
def test_invalid_hyperparameters_name_the_parameter(prior, message):
    X = _two_clusters(7)
    with pytest.raises((ValueError, TypeError), match=message):
        EMMixture(prior=prior).fit(X)


def test_selector_refuses_an_invalid_hyperparameter_instead_of_skipping_it():
    # A hyperparameter that is not a number is the user's to fix: raised,
    # not recorded as a cell the data could not support (the selector chose
    # the other prior and said nothing).
    from emimpute import EMMixtureSelector

    selector = EMMixtureSelector(
        n_components=2, covariance_type="full", prior=[None, ConjugatePrior(scale="x")]
    )
    with pytest.raises(ValueError, match=r"prior\.scale must be a number"):
        selector.fit(_two_clusters(7))


def test_imputer_takes_per_feature_hyperparameters_of_every_numeric_feature():
    # A prior stated for every numeric feature, one of them empty at fit
    # (skipped, as min_value's entries are): its entries go with it. The fit
    # is the one of the prior stated for the kept features alone.
    rng = np.random.RandomState(3)
    X = _with_holes(_two_clusters(3), rng)
    with_empty = np.insert(X, 1, np.nan, axis=1)
    psi = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    kept = [0, 2, 3]
    full_psi = np.eye(4)
    full_psi[np.ix_(kept, kept)] = psi
    stated = {
        "kept": ConjugatePrior(shrinkage=5.0, mean=[1.0, 0.0, -1.0], scale=psi),
        "all": ConjugatePrior(
            shrinkage=5.0, mean=[1.0, 99.0, 0.0, -1.0], scale=full_psi
        ),
        "all, vector": ConjugatePrior(
            shrinkage=5.0, mean=[1.0, 99.0, 0.0, -1.0], scale=[2.0, 7.0, 1.0, 0.5]
        ),
    }
    fits = {}
    for name, prior in stated.items():
        for keep in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                imputer = EMImputer(
                    prior=prior, keep_empty_features=keep, random_state=0
                ).fit(with_empty)
            fits[name, keep] = imputer.means_
    # The same arithmetic on the same numbers: equal to the bit.
    for keep in (False, True):
        np.testing.assert_array_equal(fits["kept", keep], fits["all", keep])
    kept_vector = ConjugatePrior(
        shrinkage=5.0, mean=[1.0, 0.0, -1.0], scale=[2.0, 1.0, 0.5]
    )
    vector = EMImputer(prior=kept_vector, random_state=0).fit(X)
    np.testing.assert_array_equal(fits["all, vector", False], vector.means_)
    # A shape neither of every numeric feature nor of the kept ones.
    with pytest.raises(ValueError, match=r"prior\.mean must be a finite array"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            EMImputer(prior=ConjugatePrior(mean=[0.0, 0.0])).fit(with_empty)


def test_spherical_imputer_divides_a_number_scale_by_the_mean_variance():
    # The documented conversion of a number: psi / mean(s_j^2) in the
    # standardised units, one variance for every feature (it was taken as
    # the vector [psi, psi, psi], psi / s_j^2 each, then averaged: 800x
    # larger on these spreads).
    from emimpute._em._data import EMData
    from emimpute._em._forms import covariance_form
    from emimpute._em._scaling import Scaling

    rng = np.random.RandomState(0)
    spreads = np.array([0.1, 1.0, 10.0])
    X = rng.normal(size=(200, 3)) * spreads
    data = EMData.build(X)
    scaling = Scaling.fit(data)
    gaussian, _ = ConjugatePrior(scale=2.0).resolve(
        scaling.apply(data), 1, covariance_form("spherical"), scaling
    )
    expected = 2.0 / np.mean(scaling.scale**2)
    np.testing.assert_allclose(gaussian.scale, np.full(3, expected), rtol=1e-15)


def test_invalid_prior_value_is_rejected():
    with pytest.raises(ValueError, match="'prior' parameter"):
        EMMixture(prior="mclust").fit(_two_clusters(8))


def test_diag_prior_degrees_of_freedom_only_positive():
    # An inverse-gamma prior needs only nu > 0.
    X = _two_clusters(9)
    EMMixture(covariance_type="diag", prior=ConjugatePrior(dof=0.5)).fit(X)
    with pytest.raises(ValueError, match=r"prior\.dof must be > 0"):
        EMMixture(covariance_type="diag", prior=ConjugatePrior(dof=0.0)).fit(X)


def test_observed_moments_are_pairwise_complete_moments():
    # The data-dependent prior's moments: each feature's observed mean, and
    # each pair's covariance over the rows where both are observed (n - 1),
    # which is what pandas' DataFrame.cov computes, independently; with more
    # rows than one block, so that the blocked passes are exercised.
    pd = pytest.importorskip("pandas")
    from emimpute._em._conjugate import MOMENT_BLOCK_ROWS, observed_moments
    from emimpute._em._data import EMData

    rng = np.random.default_rng(0)
    n = 2 * MOMENT_BLOCK_ROWS + 123
    X = rng.multivariate_normal(
        [1, -2, 3], [[2, 0.5, 0], [0.5, 1, 0.3], [0, 0.3, 3]], n
    )
    X[rng.random(X.shape) < 0.3] = np.nan
    mean, covariance = observed_moments(EMData.build(X))
    frame = pd.DataFrame(X)
    # Sums of ~2e4 terms in different orders: agreement to ~1e-13 relative.
    np.testing.assert_allclose(mean, frame.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(covariance, frame.cov().to_numpy(), rtol=1e-11)
    # Integer weights are repeated rows.
    weights = rng.integers(0, 3, n)
    weighted = observed_moments(EMData.build(X, sample_weight=weights))
    repeated = pd.DataFrame(np.repeat(X, weights, axis=0))
    np.testing.assert_allclose(weighted[0], repeated.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(weighted[1], repeated.cov().to_numpy(), rtol=1e-11)


def test_priors_with_array_hyperparameters_compare_and_hash_by_value():
    # The dataclass's generated equality raised on array fields ("truth
    # value of an array is ambiguous") and its hash refused them.
    first = ConjugatePrior(mean=np.zeros(2), scale=np.eye(2))
    same = ConjugatePrior(mean=[0.0, 0.0], scale=[[1.0, 0.0], [0.0, 1.0]])
    other = ConjugatePrior(mean=[0.0, 1.0], scale=np.eye(2))
    assert first == same and hash(first) == hash(same)
    assert first != other and first != ConjugatePrior()
    assert len({first, same, other}) == 2


def test_observed_moments_of_weights_summing_to_one_or_less():
    # Weights of a fraction of a row each: the mean divided the weighted sum
    # by 1 (52 for data around 104), and the n - 1 covariance, undefined,
    # fell back to the identity whatever the data's units.
    from emimpute._em._conjugate import observed_moments
    from emimpute._em._data import EMData

    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 5.0, size=(10, 2))
    X[[1, 4, 7], 0] = np.nan
    weights = rng.uniform(0.5, 1.5, size=10)
    weights /= weights.sum()  # total 1
    mean, covariance = observed_moments(EMData.build(X, sample_weight=weights))
    observed = ~np.isnan(X)
    for j in range(2):
        w, x = weights[observed[:, j]], X[observed[:, j], j]
        np.testing.assert_allclose(mean[j], w @ x / w.sum(), rtol=1e-14)
        # The weighted mean square about that mean (the n denominator).
        expected = w @ (x - w @ x / w.sum()) ** 2 / w.sum()
        np.testing.assert_allclose(covariance[j, j], expected, rtol=1e-12)
    # Above a total of one row, R's n - 1 denominator, as before.
    mean_10, covariance_10 = observed_moments(
        EMData.build(X, sample_weight=10.0 * weights)
    )
    np.testing.assert_allclose(mean_10, mean, rtol=1e-14)
    w, x = 10.0 * weights[observed[:, 1]], X[observed[:, 1], 1]
    centred = x - w @ x / w.sum()
    np.testing.assert_allclose(
        covariance_10[1, 1], w @ centred**2 / (w.sum() - 1.0), rtol=1e-12
    )


def test_prior_settings_are_checked_without_numeric_features():
    # On an all-categorical table the Gaussian part's settings were
    # dropped unchecked: shrinkage=-5, dof=-3, mean='abc' fitted silently.
    import pandas as pd

    from emimpute import ConjugatePrior, EMMixture

    frame = pd.DataFrame(
        {"g": list("abab" * 5), "h": list("xxyy" * 5)}, dtype="category"
    )
    for prior, message in [
        (ConjugatePrior(shrinkage=-5.0), "shrinkage must be >= 0"),
        (ConjugatePrior(dof=-3.0), "dof must be > 0"),
        (ConjugatePrior(mean=[0.0]), "mean is given, but the data have no numeric"),
        (ConjugatePrior(shrinkage=True), "shrinkage must be a real number"),
    ]:
        with pytest.raises(ValueError, match=message):
            EMMixture(2, prior=prior, random_state=0).fit(frame)
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(
        ValueError, match=r"prior.mean must be finite, got \[0.0, nan\]"
    ):
        EMMixture(prior=ConjugatePrior(mean=[0.0, np.nan])).fit(X)
