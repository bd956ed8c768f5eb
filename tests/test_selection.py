"""EMMixtureSelector, EMImputer(n_components='auto') and the hierarchical start."""

import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from emimpute import ConjugatePrior, EMImputer, EMMixture, EMMixtureSelector
from emimpute._collapse import refuse_collapsed_components
from emimpute._criteria import information_criteria
from emimpute._em._data import EMData
from emimpute._em._forms import covariance_form
from emimpute._em._init_hierarchical import (
    HIERARCHICAL_MAX_ROWS,
    hierarchical_responsibilities,
)
from emimpute._selection import components_the_rows_support
from emimpute.datasets import load_old_faithful


def _blobs(seed, n_per=60, centres=((0, 0), (6, 0), (0, 6))):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.normal(c, 1.0, (n_per, len(c))) for c in centres])
    return X, rng


def _holes(X, rng, rate=0.15):
    X = X.copy()
    holes = rng.rand(*X.shape) < rate
    holes[holes.all(axis=1), 0] = False
    X[holes] = np.nan
    return X


def test_selector_picks_the_true_number_of_components_with_holes():
    X, rng = _blobs(0)
    X = _holes(X, rng)
    selector = EMMixtureSelector(n_components=5, n_init=3, random_state=0).fit(X)
    assert selector.best_params_["n_components"] == 3
    results = selector.cv_results_
    assert len(results["bic"]) == 5 * 4
    assert results["rank_criterion"][selector.best_index_] == 1
    assert selector.best_score_ == results["bic"].min()
    assert selector.n_features_in_ == 2
    np.testing.assert_array_equal(
        selector.predict(X), selector.best_estimator_.predict(X)
    )
    assert selector.score(X) == pytest.approx(selector.best_estimator_.score(X))


def test_cv_results_criteria_agree_with_the_mixture_and_gaussian_mixture():
    # On complete data the fits are GaussianMixture's, and the criteria are
    # its bic/aic; ICL adds twice the classification entropy.
    X, _ = _blobs(1)
    selector = EMMixtureSelector(
        n_components=[1, 2, 3],
        covariance_type="diag",
        init_params="kmeans",
        n_init=1,
        random_state=0,
    ).fit(X)
    results = selector.cv_results_
    for i, params in enumerate(results["params"]):
        reference = GaussianMixture(
            params["n_components"], covariance_type="diag", random_state=0
        ).fit(X)
        # Same start and same arithmetic up to rounding: 1e-8 relative.
        assert results["bic"][i] == pytest.approx(reference.bic(X), rel=1e-8)
        assert results["aic"][i] == pytest.approx(reference.aic(X), rel=1e-8)
        resp = reference.predict_proba(X)
        entropy = -np.log(resp.max(axis=1)).sum()
        assert results["icl"][i] == pytest.approx(
            reference.bic(X) + 2 * entropy, rel=1e-8
        )


def test_information_criteria_formulas():
    log_prob = np.array([-1.0, -2.0, -3.0, -4.0])
    resp = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    criteria = information_criteria(log_prob, resp, 5)
    assert criteria["bic"] == pytest.approx(20.0 + 5 * np.log(4))
    assert criteria["aic"] == pytest.approx(30.0)
    entropy = -np.log([1.0, 0.5, 0.9, 0.8]).sum()
    assert criteria["icl"] == pytest.approx(criteria["bic"] + 2 * entropy)


def test_selector_grid_with_prior_and_failures_recorded():
    # 12 rows cannot support 6 full components of 3 features: maximum
    # likelihood fails there (recorded as inf with the message), the prior
    # keeps every fit defined.
    rng = np.random.RandomState(2)
    X = rng.normal(size=(12, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        selector = EMMixtureSelector(
            n_components=[1, 6, 13],
            covariance_type="full",
            prior=(None, "default"),
            n_init=1,
            random_state=0,
        ).fit(X)
    results = selector.cv_results_
    failed = results["error"] != ""
    assert failed.any()
    assert np.all(np.isinf(results["bic"][failed]))
    assert "n_components" in results["error"][-1]
    assert list(results["param_prior"]) == [None] * 3 + ["default"] * 3


def test_selector_bad_grids_name_the_parameter():
    X, _ = _blobs(3)
    with pytest.raises(ValueError, match="n_components is empty"):
        EMMixtureSelector(n_components=[]).fit(X)
    with pytest.raises(ValueError, match="covariance_type is empty"):
        EMMixtureSelector(covariance_type=[]).fit(X)
    with pytest.raises(ValueError, match="covariance_type should hold"):
        EMMixtureSelector(covariance_type=["full", "VVV"]).fit(X)
    with pytest.raises(ValueError, match="'criterion' parameter"):
        EMMixtureSelector(criterion="loglik").fit(X)
    with pytest.raises(ValueError, match="n_components should hold integers >= 1"):
        EMMixtureSelector(n_components=[0, 1]).fit(X)
    for values in ([1.5, 2.7], [[1, 2]], [True, 2]):
        with pytest.raises(ValueError, match="n_components should hold integers"):
            EMMixtureSelector(n_components=values).fit(X)
    # A prior's invalid hyperparameter is the user's to fix, not a model
    # the data cannot support: raised, not recorded as a failed fit.
    with pytest.raises(ValueError, match="prior.dof must be > 1"):
        EMMixtureSelector(
            n_components=2,
            prior=[None, ConjugatePrior(dof=0.5)],
            covariance_type="full",
        ).fit(X)


def test_selector_plot_draws_one_line_per_type():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, _ = _blobs(4)
    selector = EMMixtureSelector(n_components=3, n_init=1, random_state=0).fit(X)
    fig, ax = plt.subplots()
    assert selector.plot(ax=ax) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["full", "tied", "diag", "spherical", "selected"]
    assert ax.get_ylabel().startswith("BIC")
    plt.close(fig)
    # A grid given out of order is drawn along the axis (it zig-zagged).
    shuffled = EMMixtureSelector(
        n_components=[3, 1, 2], covariance_type="full", n_init=1, random_state=0
    ).fit(X)
    fig, ax = plt.subplots()
    shuffled.plot(ax=ax)
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    plt.close(fig)
    # The fitted grid and criterion, whatever set_params said since (it
    # drew ICL with BIC's selected point, and only the types now set).
    selector.set_params(criterion="icl", covariance_type="full")
    fig, ax = plt.subplots()
    selector.plot(ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["full", "tied", "diag", "spherical", "selected"]
    assert ax.get_ylabel().startswith("BIC")
    plt.close(fig)
    # Priors given as a numpy array of names (a new np.str_ at every read:
    # matched by identity, no line was drawn).
    named = EMMixtureSelector(
        n_components=2,
        covariance_type=["full", "diag"],
        prior=np.array(["default"]),
        n_init=1,
        random_state=0,
    ).fit(X)
    fig, ax = plt.subplots()
    named.plot(ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["full", "diag", "selected"]
    plt.close(fig)


def test_hierarchical_start_is_ward_on_the_whitened_data():
    X, _ = _blobs(5)
    resp = hierarchical_responsibilities(X, 3, "data", np.random.RandomState(0))
    reference = cut_tree(linkage(X, method="ward"), n_clusters=3)[:, 0]
    np.testing.assert_array_equal(resp.argmax(axis=1), reference)
    # The SVD view is affine invariant: the same clusters whatever the units.
    a = hierarchical_responsibilities(X, 3, "svd", np.random.RandomState(0))
    b = hierarchical_responsibilities(
        X * [1000.0, 0.001] + 7, 3, "svd", np.random.RandomState(0)
    )
    np.testing.assert_array_equal(a, b)


def test_hierarchical_start_on_a_bounded_subset():
    rng = np.random.RandomState(6)
    n_samples = HIERARCHICAL_MAX_ROWS + 500
    X = np.vstack(
        [
            rng.normal(0, 1, (n_samples // 2, 2)),
            rng.normal(8, 1, (n_samples - n_samples // 2, 2)),
        ]
    )
    resp = hierarchical_responsibilities(X, 2, "svd", rng)
    labels = resp.argmax(axis=1)
    truth = np.arange(n_samples) >= n_samples // 2
    assert max(np.mean(labels == truth), np.mean(labels != truth)) == 1.0


def test_hierarchical_start_finds_mclust_optimum_on_old_faithful():
    # mclust's hc start reaches -1111.248 for 4 full components on Old
    # Faithful (the figure of issue 13; R is not reachable here), where ten
    # k-means starts stop at -1114.687. The hierarchical start's first three
    # runs reach it or better.
    X = load_old_faithful().data
    hierarchical = EMMixture(
        4, init_params="hierarchical", n_init=3, tol=1e-10, max_iter=1000
    ).fit(X)
    kmeans = EMMixture(4, n_init=3, tol=1e-10, max_iter=1000, random_state=0).fit(X)
    log_likelihood = hierarchical.score(X) * len(X)
    assert log_likelihood >= -1111.248 - 1e-6 * 1111.248
    assert log_likelihood > kmeans.score(X) * len(X)


def test_hierarchical_start_with_holes():
    X, rng = _blobs(7)
    X = _holes(X, rng, rate=0.3)
    mixture = EMMixture(3, init_params="hierarchical", random_state=0).fit(X)
    centres = np.sort(mixture.means_[:, 0])
    np.testing.assert_allclose(centres, [0, 0, 6], atol=0.5)


def test_imputer_auto_chooses_the_number_of_components():
    # Three clusters that any one observed coordinate tells apart.
    X, rng = _blobs(8, centres=((0, 0, 0), (6, 6, 0), (12, 0, 6)))
    X_missing = _holes(X, rng)
    auto = EMImputer(n_components="auto", random_state=0).fit(X_missing)
    assert auto.n_components_ == 3
    # The held-out errors of the numbers tried: from 1 up, the search
    # stopping after two candidates without improvement; three clusters
    # predict the hidden cells better than one (a third lower here).
    errors = auto.held_out_errors_
    tried = list(errors)
    assert tried == list(range(1, len(tried) + 1)) and len(tried) >= 3
    assert errors[3] < 0.8 * errors[1]
    assert min(errors, key=errors.get) >= 3
    one = EMImputer(random_state=0).fit(X_missing)
    assert one.n_components_ == 1
    assert not hasattr(one, "held_out_errors_")
    # A refit with a fixed number keeps no earlier choice.
    assert not hasattr(
        auto.set_params(n_components=2).fit(X_missing), "held_out_errors_"
    )
    holes = np.isnan(X_missing)
    error_auto = np.abs(auto.transform(X_missing) - X)[holes].mean()
    error_one = np.abs(one.transform(X_missing) - X)[holes].mean()
    assert error_auto < 0.8 * error_one
    # A single Gaussian is kept where one fits best.
    rng = np.random.RandomState(9)
    X = rng.multivariate_normal([0, 0, 0], [[1, 0.8, 0], [0.8, 1, 0], [0, 0, 1]], 200)
    auto = EMImputer(n_components="auto", random_state=0).fit(_holes(X, rng))
    assert auto.n_components_ == 1


def _noise_with_holes(n_samples, n_features, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    return X


def test_imputer_auto_warns_when_column_means_impute_better():
    # 40 rows of 15 features of correlation 0.5: under mclust's default
    # prior the covariance is mostly noise, and one Gaussian's conditional
    # means err more than the column means on the held-out cells (1.59
    # against 1.15 at this seed, a gap of several standard errors).
    rng = np.random.RandomState(0)
    cov = np.full((15, 15), 0.5) + 0.5 * np.eye(15)
    X = rng.multivariate_normal(np.zeros(15), cov, size=40)
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    with pytest.warns(UserWarning, match="each column's own mean") as caught:
        auto = EMImputer(n_components="auto", random_state=0).fit(X)
    (message,) = [str(w.message) for w in caught if "own mean" in str(w.message)]
    chosen = auto.n_components_
    assert f"against {auto.held_out_errors_[chosen]:.3g}" in message
    assert "estimated from 40 rows of 15 features" in message
    assert "prior=ConjugatePrior(dof=17, scale=17 * variances)" in message
    # The ridge prior it suggests keeps the correlations and imputes the
    # held-out cells better than the column means (0.86 here): no warning.
    ridge = ConjugatePrior(dof=17, scale=17 * np.nanvar(X, axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        shrunk = EMImputer(n_components="auto", prior=ridge, random_state=0).fit(X)
    assert shrunk.held_out_errors_[1] < 0.6 * auto.held_out_errors_[1]


def test_imputer_auto_tries_the_components_the_rows_support():
    # A full covariance needs d + 1 rows per component: 40 rows of 15
    # features support two components (32 rows), not three (48); 60 rows
    # of 30 features only one. 'diag' needs 2 rows per component: all 9.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tried = EMImputer(n_components="auto", random_state=0).fit(
            _noise_with_holes(40, 15)
        )
        assert set(tried.held_out_errors_) <= {1, 2}
        tried = EMImputer(n_components="auto", random_state=0).fit(
            _noise_with_holes(60, 30)
        )
        assert list(tried.held_out_errors_) == [1]
    # Rows of weight 0 do not count: 36 rows of positive weight support
    # two components of 15 features (32 rows) only.
    data = EMData.build(
        _noise_with_holes(48, 15), sample_weight=np.r_[np.ones(36), np.zeros(12)]
    )
    assert components_the_rows_support(range(1, 10), data, covariance_form("full")) == [
        1,
        2,
    ]
    assert components_the_rows_support(
        range(1, 10), data, covariance_form("tied")
    ) == list(range(1, 10))


def test_imputer_auto_does_not_warn_where_the_model_imputes_better():
    # Three correlated features: the model predicts a hidden cell from the
    # rest of its row better than the column means do.
    rng = np.random.RandomState(9)
    cov = [[1, 0.8, 0], [0.8, 1, 0], [0, 0, 1]]
    X = _holes(rng.multivariate_normal([0, 0, 0], cov, 200), rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        EMImputer(n_components="auto", random_state=0).fit(X)


def test_selector_records_components_collapsed_onto_rows_as_failed():
    # On small data a component on one row (variance reg_covar) gains more
    # likelihood than BIC's penalty costs: 30 rows of one Gaussian chose 9
    # spherical components, iris setosa 8 full (then 5 diag on two rows
    # sharing a value). mclust's BIC is NA for such fits: recorded failed.
    X = np.random.default_rng(30).normal(size=(30, 2))
    selector = EMMixtureSelector(random_state=0).fit(X)
    assert selector.best_params_["n_components"] == 1
    errors = selector.cv_results_["error"]
    assert any("singular but for reg_covar" in e for e in errors)
    best = selector.best_estimator_
    assert (best.weights_ * len(X)).min() >= 2
    # A prior keeps such covariances defined: nothing is refused.
    with_prior = EMMixtureSelector(n_components=4, prior="default", random_state=0)
    assert not any(with_prior.fit(X).cv_results_["error"])


def test_a_grid_of_one_spiked_model_is_refused_too():
    # The spike check ran only for grids of several models: one spiked fit
    # alone was scored (a BIC 112 units better than the real optimum on Old
    # Faithful), where the same fit in a grid was recorded as failed.
    X = np.random.default_rng(30).normal(size=(30, 2))
    grid = EMMixtureSelector(n_components=[1, 9], covariance_type="spherical")
    errors = grid.set_params(random_state=0).fit(X).cv_results_["error"]
    assert errors[0] == "" and "singular but for reg_covar" in errors[1]
    alone = EMMixtureSelector(
        n_components=[9], covariance_type="spherical", random_state=0
    )
    message = (
        r"grid's only model \(n_components=9, covariance_type='spherical', "
        r"prior=None\) cannot be scored: .*reg_covar.* a prior"
    )
    with pytest.raises(ValueError, match=message):
        alone.fit(X)


def test_a_covariance_singular_off_the_axes_is_a_spike():
    # Six rows on the line x2 = 2 x1: positive variances of both features,
    # but none across the line except reg_covar's (the 'diag' test of the
    # variances missed it; so did a 'tied' covariance pooled over
    # components of one row each). The same rows with noise are kept.
    rng = np.random.default_rng(0)
    t = rng.normal(size=6)
    line = np.column_stack([t, 2.0 * t]) + 8.0
    blob = rng.normal(size=(40, 2))
    X = np.vstack([line, blob])
    spiked = EMMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="component 1's covariance is singular"):
        refuse_collapsed_components(spiked, 46, X)
    noisy = np.vstack([line + rng.normal(scale=0.3, size=line.shape), blob])
    refuse_collapsed_components(EMMixture(2, random_state=0).fit(noisy), 46, noisy)


def test_a_tight_component_is_not_a_spike_but_too_few_rows_with_holes_are():
    # A component whose variance in some direction is below reg_covar is a
    # spike when holes keep reg_covar in it (three rows, one with a hole:
    # its variance across the two complete rows' line stays at about half
    # of reg_covar, and shrinks with it), and a real component when its
    # rows are that tight (100 distinct rows of variance 4.9e-7, which
    # mclust and GaussianMixture score; it was refused, and the selector
    # chose one component, BIC -46.65 against -2288.17). The tight one
    # matches GaussianMixture's BIC to 1e-6 relative (both stop at tol).
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 7e-4, (100, 2)), rng.normal(1, 0.1, (100, 2))])
    tight = EMMixture(2, random_state=0).fit(X)
    refuse_collapsed_components(tight, len(X), X)
    selector = EMMixtureSelector(n_components=3, covariance_type="full", random_state=0)
    selector.fit(X)
    assert selector.best_params_["n_components"] == 2
    reference = GaussianMixture(2, random_state=0).fit(X).bic(X)
    assert selector.best_score_ == pytest.approx(reference, rel=1e-6)
    holes = np.vstack(
        [rng.normal(size=(40, 2)), [[10.0, 10.0], [11.0, 12.5], [10.5, np.nan]]]
    )
    spiked = EMMixture(2, random_state=0).fit(holes)
    with pytest.raises(ValueError, match="covariance is singular but for reg_covar"):
        refuse_collapsed_components(spiked, len(holes), holes)


def test_refused_row_counts_are_not_rounded_up():
    # 1.9993 rows printed with 3 digits read "2 rows, fewer than the 2".
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (100, 3)), rng.normal(4, 1, (100, 3))])
    X[rng.rand(*X.shape) < 0.1] = np.nan
    mixture = EMMixture(
        8, covariance_type="diag", init_params="hierarchical", n_init=10, random_state=0
    ).fit(X)
    with pytest.raises(ValueError, match="holds 1.999 rows, fewer than the 2 its"):
        refuse_collapsed_components(mixture, len(X), X)


def test_missing_feature_names_are_warned_about_once():
    # As GridSearchCV: the best fit validates X; the selector validated it
    # too, and the warning came twice.
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(40, 2)), columns=["a", "b"])
    selector = EMMixtureSelector(n_components=[1, 2], random_state=0).fit(X)
    for method in (selector.predict, selector.predict_proba, selector.score_samples):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            method(X.to_numpy())
        assert sum("feature names" in str(w.message) for w in caught) == 1


def test_selector_plot_names_two_conjugate_priors_apart():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, _ = _blobs(4)
    selector = EMMixtureSelector(
        n_components=2,
        covariance_type="full",
        prior=[ConjugatePrior(), ConjugatePrior(shrinkage=10.0, mean=[0.0, 1.0])],
        n_init=1,
        random_state=0,
    ).fit(X)
    fig, ax = plt.subplots()
    selector.plot(ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    # Both were "ConjugatePrior(...)": the hyperparameters each sets.
    assert labels[:2] == [
        "full, prior=ConjugatePrior()",
        "full, prior=ConjugatePrior(shrinkage=10, mean=[0. 1.])",
    ]
    plt.close(fig)


def test_selector_passes_handle_unknown_to_its_fits():
    # Its error message named the option, which it did not take.
    rng = np.random.default_rng(0)
    X = np.empty((60, 2), dtype=object)
    X[:, 0] = rng.normal(size=60)
    X[:, 1] = rng.choice(["a", "b"], 60)
    test = X[:3].copy()
    test[1, 1] = "green"
    hidden = test.copy()
    hidden[1, 1] = None
    selector = EMMixtureSelector(n_components=[1, 2], random_state=0)
    with pytest.raises(ValueError, match="handle_unknown='ignore'"):
        selector.fit(X).predict(test)
    selector.set_params(handle_unknown="ignore").fit(X)
    assert selector.best_estimator_.handle_unknown == "ignore"
    np.testing.assert_array_equal(
        selector.score_samples(test), selector.score_samples(hidden)
    )


def test_a_grids_warnings_name_their_model_and_the_callers_line():
    # Every cell's ConvergenceWarning was the same line, naming no model.
    X = np.random.default_rng(0).normal(size=(200, 2))
    selector = EMMixtureSelector(
        n_components=[2, 3], covariance_type="full", max_iter=2, random_state=0
    )
    with pytest.warns(ConvergenceWarning) as caught:
        selector.fit(X)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert messages[0].startswith("n_components=2, covariance_type='full', prior=None:")
    assert messages[1].startswith("n_components=3, ")
    assert all(w.filename == __file__ for w in caught)


def _iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)[0]


def test_selector_keeps_the_best_run_that_did_not_collapse():
    # Iris, 5 full components: the best of the default n_init runs puts a
    # component on rows sharing a value (variance reg_covar), and the cell
    # was NA although other starts gave proper fits, which mclust scores.
    X = _iris()
    selector = EMMixtureSelector(
        n_components=[5], covariance_type="full", random_state=0
    ).fit(X)
    assert selector.cv_results_["error"] == [""]
    best = selector.best_estimator_
    # Its kept run is a proper fit (every component on at least d + 1 rows,
    # no variance at reg_covar), of lower likelihood than the spiked best.
    refuse_collapsed_components(best, len(X), X)
    spiked = EMMixture(
        5, init_params="hierarchical", n_init=best.n_init, random_state=0
    ).fit(X)
    with pytest.raises(ValueError, match="singular but for reg_covar"):
        refuse_collapsed_components(spiked, len(X), X)
    assert best.lower_bound_ < spiked.lower_bound_
    # Its criteria are those of the kept fit.
    np.testing.assert_allclose(selector.cv_results_["bic"][0], best.bic(X), rtol=1e-12)


def test_bic_warns_when_a_component_collapsed():
    X = _iris()
    spiked = EMMixture(5, init_params="hierarchical", n_init=10, random_state=0).fit(X)
    for criterion in ("bic", "aic"):
        with pytest.warns(UserWarning, match=rf"{criterion} of a degenerate fit: "):
            getattr(spiked, criterion)(X)
    proper = EMMixture(2, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        proper.bic(X), proper.aic(X)
        # The collapse is the fit's: scoring a few other rows (fewer than a
        # component's covariance needs) says nothing of it.
        proper.bic(X[:7]), proper.aic(X[:7])


def test_a_feature_seen_in_few_rows_sharing_a_value_is_a_spike():
    # Column 1 observed in 5 of 150 rows, all 3.0: each M-step's reg_covar
    # comes back through the holes' conditional variances, and the variance
    # settles at 30 reg_covar, beyond the check's reg_covar before: the fit
    # was scored. The same column complete and constant fails every cell.
    X = _iris()
    X[:, 1] = np.where(np.arange(150) < 5, 3.0, np.nan)
    selector = EMMixtureSelector(
        n_components=[1, 2], covariance_type="full", n_init=1, random_state=0
    )
    with pytest.raises(ValueError, match="Every fit of the grid failed"):
        selector.fit(X)


def test_spike_test_widens_with_the_holes_inflation():
    # A component's variance of 20 reg_covar in one direction, where the
    # mixture's variance is ordinary: with complete data (inflation 1) it
    # is the component's own, not a candidate spike; with a feature
    # observed in 1 row of 30 (inflation 30) reg_covar, carried back
    # through the holes, can make it up, and the probe is to decide.
    from emimpute._collapse import _spike_directions
    from emimpute._em._gaussian import GaussianFamily

    reg_covar = 1e-6
    covariances = np.array([np.diag([1.0, 20 * reg_covar]), np.eye(2)])
    gaussian = GaussianFamily.from_covariances(
        covariance_form("full"), np.array([[0.0, 0.0], [3.0, 3.0]]), covariances
    )
    weights = np.array([0.5, 0.5])
    assert not _spike_directions(gaussian, weights, reg_covar)[3][0]
    assert _spike_directions(gaussian, weights, reg_covar, 30.0)[3][0]
    assert not _spike_directions(gaussian, weights, reg_covar, 30.0)[3][1]


def test_imputer_auto_does_not_warn_on_independent_features_with_rows_to_spare():
    # 1000 rows of 3 independent features: the model's conditional means
    # err about 2/1000 more than the column means (least squares' excess
    # risk), within the noise or the 5% margin: 5 of 8 seeds had warned
    # ("1.02 against 1.02").
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for seed in range(8):
            X = _noise_with_holes(1000, 3, seed=seed)
            EMImputer(n_components="auto", random_state=seed).fit(X)


def test_selector_weights_count_copies():
    # Whole weights are copies of the rows, in every fit of the grid and in
    # its criteria (log-likelihood, n and entropy): the same as the repeated
    # rows, to the fits' convergence (tol=1e-10 on the per-row
    # log-likelihood: criteria of order 1e3 agree to about 1e-7 relative),
    # up to the order of the components.
    rng = np.random.RandomState(3)
    X = np.vstack([rng.normal(c, 1.0, (20, 2)) for c in (0.0, 6.0)])
    X[rng.uniform(size=X.shape) < 0.15] = np.nan
    X[rng.uniform(size=X.shape[0]) < 0.05] = np.nan  # rows with nothing
    weights = rng.randint(0, 4, len(X)).astype(float)
    repeated = np.repeat(X, weights.astype(int), axis=0)
    grid = dict(n_components=[1, 2, 3], covariance_type=["full", "diag"], tol=1e-10)
    weighted = EMMixtureSelector(**grid, random_state=0).fit(X, sample_weight=weights)
    copies = EMMixtureSelector(**grid, random_state=0).fit(repeated)
    for name in ("bic", "icl", "aic", "log_likelihood"):
        np.testing.assert_allclose(
            weighted.cv_results_[name], copies.cv_results_[name], rtol=1e-7
        )
    assert weighted.best_params_ == copies.best_params_
    np.testing.assert_allclose(
        np.sort(weighted.best_estimator_.means_, axis=0),
        np.sort(copies.best_estimator_.means_, axis=0),
        rtol=1e-6,
    )
    # fit_predict takes the weights as fit does, as EMMixture's does.
    selector = EMMixtureSelector(**grid, random_state=0)
    labels = selector.fit_predict(X, sample_weight=weights)
    np.testing.assert_array_equal(labels, weighted.predict(X))
    assert selector.best_params_ == weighted.best_params_
    # EMMixture's criteria weigh the rows alike.
    best = weighted.best_estimator_
    np.testing.assert_allclose(
        [best.bic(X, sample_weight=weights), best.aic(X, sample_weight=weights)],
        [best.bic(repeated), best.aic(repeated)],
        rtol=1e-12,
    )


def test_selector_weights_rows_of_weight_zero_out_of_every_check():
    # Feature 1 is 1.0 in every row that counts; 20 rows of weight 0 vary
    # it. They had kept the grid from refusing the constant feature, as it
    # refuses those rows alone.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(170, 2))
    X[:150, 1] = np.where(rng.uniform(size=150) < 0.1, 1.0, np.nan)
    weights = np.r_[np.ones(150), np.zeros(20)]
    grid = dict(n_components=[1, 2], covariance_type="full", random_state=0)
    with pytest.raises(ValueError, match="Every fit of the grid failed"):
        EMMixtureSelector(**grid).fit(X[:150])
    with pytest.raises(ValueError, match="Every fit of the grid failed"):
        EMMixtureSelector(**grid).fit(X, sample_weight=weights)


def test_selector_takes_weights_that_count_no_copies_whatever_their_scale():
    # Weights normalised to sum to 1 count no copies: they are read as
    # shares of the rows of positive weight, so the criteria (their n, the
    # rows of a component) do not depend on their scale. Read as copies,
    # n was 1 and every fit "held fewer than 3 rows".
    X, rng = _blobs(11, n_per=60)
    weights = rng.uniform(0.5, 1.5, len(X))
    grid = dict(n_components=[1, 2, 3, 4], covariance_type="full", random_state=0)
    shares = EMMixtureSelector(**grid).fit(X, sample_weight=weights / weights.sum())
    scaled = EMMixtureSelector(**grid).fit(X, sample_weight=weights * 3.7)
    assert shares.best_params_ == scaled.best_params_
    assert shares.best_params_["n_components"] == 3
    np.testing.assert_allclose(
        shares.cv_results_["bic"], scaled.cv_results_["bic"], rtol=1e-9
    )


def test_criteria_skip_rows_of_weight_zero():
    # A category seen only in rows of weight 0 has probability 0 under
    # category_smoothing=0: those rows add nothing to the criteria, and
    # scoring them had failed every fit of the grid (and bic).
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(1)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "g": pd.Categorical(
                ["a", "b"] * 18 + ["c"] * 3 + ["a"], categories=["a", "b", "c"]
            ),
        }
    )
    weights = np.ones(40)
    weights[36:39] = 0.0
    grid = dict(n_components=[1, 2], category_smoothing=0.0, random_state=0)
    selector = EMMixtureSelector(**grid).fit(frame, sample_weight=weights)
    kept = weights > 0
    best = selector.best_estimator_
    np.testing.assert_allclose(
        best.bic(frame, sample_weight=weights), best.bic(frame[kept]), rtol=1e-12
    )
