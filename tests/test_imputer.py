"""Behaviour of EMImputer: closed-form references, calibration, API habits."""

import re
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_global_set_output_transform_polars,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
)

from emimpute import EMImputer

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _correlated(rng, n=400, d=4, mean=None):
    a = rng.normal(size=(d, d)) + 2 * np.eye(d)
    covariance = a @ a.T / d
    mean = np.arange(d, dtype=float) if mean is None else mean
    return rng.multivariate_normal(mean, covariance, size=n), mean, covariance


def _holes(X, rng, rate=0.2):
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    return Xm


def _dense(covariances, covariance_type, k, d):
    if covariance_type == "full":
        return covariances[k]
    if covariance_type == "tied":
        return covariances
    return np.diag(covariances[k])


def _closed_form(imputer, X):
    """Per-row conditional mean and std from the fitted parameters.

    Written independently of the engine: explicit inverses of S_OO on each
    row, scipy for the responsibilities, the law of total variance.
    """
    d = X.shape[1]
    K = len(imputer.weights_)
    mean_out, std_out = X.copy(), np.zeros_like(X)
    for i, x in enumerate(X):
        m = np.isnan(x)
        if not m.any():
            continue
        o = ~m
        log_r, cond_means, cond_vars = [], [], []
        for k in range(K):
            mu = imputer.means_[k]
            S = _dense(imputer.covariances_, imputer.covariance_type, k, d)
            if o.any():
                A = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
                cond_means.append(mu[m] + A @ (x[o] - mu[o]))
                cond_vars.append(np.diag(S[np.ix_(m, m)] - A @ S[np.ix_(o, m)]))
                log_r.append(
                    np.log(imputer.weights_[k])
                    + multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(x[o])
                )
            else:
                cond_means.append(mu[m])
                cond_vars.append(np.diag(S)[m])
                log_r.append(np.log(imputer.weights_[k]))
        r = np.exp(np.array(log_r) - logsumexp(log_r))
        cond_means, cond_vars = np.array(cond_means), np.array(cond_vars)
        mean = r @ cond_means
        mean_out[i, m] = mean
        std_out[i, m] = np.sqrt(r @ (cond_vars + cond_means**2) - mean**2)
    return mean_out, std_out


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [1, 3])
def test_transform_matches_closed_form(covariance_type, n_components):
    # Two computations of the same formulas (precision route and chunked
    # batches vs explicit per-row inverses); 1e-10 is rounding with margin
    # on well-conditioned covariances.
    rng = np.random.default_rng(0)
    X, _, _ = _correlated(rng, d=5)
    X[: len(X) // 2] += 4.0
    Xm = _holes(X, rng, rate=0.3)
    Xm[0] = np.nan
    imputer = EMImputer(
        n_components=n_components, covariance_type=covariance_type, random_state=0
    ).fit(Xm)
    Xt, std = imputer.transform(Xm, return_std=True)
    expected_mean, expected_std = _closed_form(imputer, Xm)
    np.testing.assert_allclose(Xt, expected_mean, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(std, expected_std, rtol=1e-10, atol=1e-10)
    observed = ~np.isnan(Xm)
    assert np.array_equal(Xt[observed], Xm[observed])
    assert np.all(std[observed] == 0.0)


def test_one_component_is_the_gaussian_mle():
    # At the maximum-likelihood estimate the gradient of the observed-data
    # log-likelihood vanishes; the estimate in the data's units does not
    # depend on the internal standardisation (affine equivariance with
    # reg_covar=0). Compare with EMMixture fit on the raw data.
    from emimpute import EMMixture

    rng = np.random.default_rng(1)
    X, _, _ = _correlated(rng, n=300, d=3, mean=np.array([100.0, -5.0, 0.01]))
    X *= [1e3, 1.0, 1e-3]
    Xm = _holes(X, rng, rate=0.25)
    imputer = EMImputer(reg_covar=0.0, tol=1e-12, max_iter=2000).fit(Xm)
    # The reference runs 500 iterations, to rounding (EM gains a factor of
    # about 4 per iteration here): stopped by its log-likelihood at
    # tol=1e-12, as the mixture's rule is, its covariances were still 2e-5
    # from there. The imputer also stops on its moments (steps below
    # 1e-12, in standardised units): 8e-11 from the reference.
    with pytest.warns(ConvergenceWarning):
        mixture = EMMixture(reg_covar=0.0, tol=0.0, max_iter=500).fit(Xm)
    np.testing.assert_allclose(imputer.means_, mixture.means_, rtol=1e-10)
    np.testing.assert_allclose(imputer.covariances_, mixture.covariances_, rtol=1e-9)
    assert imputer.lower_bound_ == pytest.approx(mixture.lower_bound_, rel=1e-14)


def test_units_do_not_matter():
    rng = np.random.default_rng(2)
    X, _, _ = _correlated(rng, n=300, d=4)
    X[:150] += 3.0
    Xm = _holes(X, rng)
    scale = np.array([1e-6, 1.0, 1e4, 3.0])
    shift = np.array([1e3, -7.0, 0.0, 1e6])
    for n_components in (1, 2):
        imputer = EMImputer(n_components=n_components, random_state=0)
        Xt, std = imputer.fit(Xm).transform(Xm, return_std=True)
        Xt2, std2 = imputer.fit(Xm * scale + shift).transform(
            Xm * scale + shift, return_std=True
        )
        # Standardisation removes the units before EM, so the fit is the
        # same up to rounding in the standardisation itself (shift 1e6 on
        # unit data costs ~1e-10 relative).
        np.testing.assert_allclose((Xt2 - shift) / scale, Xt, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(std2 / scale, std, rtol=1e-7, atol=1e-7)


def test_calibration_of_std_and_posterior_draws():
    rng = np.random.default_rng(3)
    X, _, _ = _correlated(rng, n=4000, d=5)
    Xm = _holes(X, rng, rate=0.2)
    missing = np.isnan(Xm)
    imputer = EMImputer(random_state=0).fit(Xm)
    Xt, std = imputer.transform(Xm, return_std=True)
    z = (X[missing] - Xt[missing]) / std[missing]
    # ~4000 missing entries: the mean and std of z have standard errors of
    # ~0.016 and ~0.011, so +-0.05 is over 3 standard errors.
    assert abs(z.mean()) < 0.05
    assert abs(z.std() - 1.0) < 0.05

    rows = Xm[:50]
    conditional_mean, conditional_std = imputer.transform(rows, return_std=True)
    # 200 draws per entry: their mean is within 4 standard errors of the
    # conditional mean unless the draws are biased (a false alarm on any of
    # the ~50 entries has probability ~3e-3).
    sampler = EMImputer(sample_posterior=True, random_state=0).fit(Xm)
    draws = np.array(
        [sampler.set_params(random_state=seed).transform(rows) for seed in range(200)]
    )
    m = np.isnan(rows)
    standard_error = conditional_std[m] / np.sqrt(200)
    assert np.all(
        np.abs(draws.mean(axis=0)[m] - conditional_mean[m]) < 4 * standard_error
    )
    assert np.all(draws[:, ~m] == rows[~m])


def test_sample_posterior_reproducible_per_seed():
    rng = np.random.default_rng(4)
    Xm = _holes(_correlated(rng)[0], rng)
    a = EMImputer(sample_posterior=True, random_state=0).fit_transform(Xm)
    b = EMImputer(sample_posterior=True, random_state=0).fit_transform(Xm)
    c = EMImputer(sample_posterior=True, random_state=1).fit_transform(Xm)
    assert np.array_equal(a, b)
    missing = np.isnan(Xm)
    assert np.all(a[missing] != c[missing])
    assert np.array_equal(a[~missing], Xm[~missing])


@pytest.mark.parametrize("n_components", [1, 2])
def test_return_std_leaves_the_draws_bit_for_bit(n_components):
    # Under one Gaussian the draws take a compiled pass that computes no
    # std; asking for it had switched them to the block path, whose
    # arithmetic differs in the last bits (RELIABILITY #46: same seed, same
    # output). The std is the conditional one, as without draws.
    rng = np.random.default_rng(4)
    Xm = _holes(_correlated(rng)[0], rng)
    imputer = EMImputer(
        n_components=n_components, sample_posterior=True, random_state=0
    ).fit(Xm)
    drawn = imputer.transform(Xm)
    with_std, std = imputer.transform(Xm, return_std=True)
    np.testing.assert_array_equal(with_std, drawn, strict=True)
    means = clone(imputer).set_params(sample_posterior=False).fit(Xm)
    np.testing.assert_allclose(
        std, means.transform(Xm, return_std=True)[1], rtol=1e-12, atol=0
    )


def test_mixture_beats_single_gaussian_and_iterative_imputer():
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0, 0, 0], [8, -8, 8, 0], [-8, 8, 0, 8]], dtype=float)
    X = np.vstack([rng.normal(size=(300, 4)) + c for c in centres])
    Xm = _holes(X, rng, rate=0.2)
    missing = np.isnan(Xm)

    def rmse(Xt):
        return np.sqrt(np.mean((Xt[missing] - X[missing]) ** 2))

    mixture = rmse(
        EMImputer(n_components=3, n_init=3, random_state=0).fit_transform(Xm)
    )
    single = rmse(EMImputer(n_components=1).fit_transform(Xm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        iterative = rmse(IterativeImputer(random_state=0).fit_transform(Xm))
    assert mixture < single
    assert mixture < iterative


def test_empty_features_and_rows():
    rng = np.random.default_rng(6)
    X, _, _ = _correlated(rng, n=100, d=3)
    Xm = _holes(X, rng)
    Xm[:, 1] = np.nan
    Xm[5] = np.nan
    message = re.escape("Skipping features without any observed values: [1]")
    with pytest.warns(UserWarning, match=message):
        dropped = EMImputer(random_state=0).fit(Xm)
    Xt = dropped.transform(Xm)
    assert Xt.shape == (100, 2)
    assert list(dropped.get_feature_names_out()) == ["x0", "x2"]
    kept = EMImputer(keep_empty_features=True, random_state=0).fit(Xm)
    Xk, std = kept.transform(Xm, return_std=True)
    assert Xk.shape == (100, 3)
    assert np.all(Xk[:, 1] == 0.0)
    assert np.all(np.isnan(std[:, 1]))
    # Keeping an empty feature changes nothing in the other columns.
    assert np.array_equal(Xk[:, [0, 2]], Xt)
    assert list(kept.get_feature_names_out()) == ["x0", "x1", "x2"]
    # A row with nothing observed gets the model's mean.
    np.testing.assert_allclose(Xt[5], dropped.weights_ @ dropped.means_, rtol=1e-12)


def test_add_indicator_and_missing_values_marker():
    X = np.array([[1.0, -1, 3], [4, 5, -1], [-1, 8, 9], [10, 11, 12], [2, 3, 5]])
    imputer = EMImputer(missing_values=-1, add_indicator=True, random_state=0)
    Xt = imputer.fit_transform(X)
    assert Xt.shape == (5, 6)
    np.testing.assert_array_equal(Xt[:, 3:], (X == -1).astype(float))
    assert np.all(Xt[:, :3][X != -1] == X[X != -1])
    assert np.all(Xt[:, :3] != -1)
    assert list(imputer.get_feature_names_out()) == [
        "x0",
        "x1",
        "x2",
        "missingindicator_x0",
        "missingindicator_x1",
        "missingindicator_x2",
    ]
    with pytest.raises(ValueError, match="Input X contains NaN"):
        imputer.fit(np.where(X == -1, np.nan, X))


def test_input_never_mutated_and_no_missing_is_identity():
    rng = np.random.default_rng(7)
    X, _, _ = _correlated(rng, n=50, d=3)
    complete = EMImputer().fit(X)
    assert complete.n_iter_ >= 1
    assert np.array_equal(complete.transform(X), X)
    Xm = _holes(X, rng)
    copy = Xm.copy()
    imputer = EMImputer(random_state=0).fit(Xm)
    imputer.transform(Xm)
    imputer.score(Xm)
    np.testing.assert_array_equal(Xm, copy)


def test_pandas_nullable_and_set_output():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "a": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
            "b": pd.array([1.5, None, 2.5, 4.0, 5.5, 6.0], dtype="Float64"),
        },
        index=list("uvwxyz"),
    )
    imputer = EMImputer(random_state=0).set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    assert list(out.columns) == ["a", "b"]
    assert list(out.index) == list("uvwxyz")
    assert out.notna().all().all()
    assert out.loc["u", "a"] == 1.0 and out.loc["x", "b"] == 4.0


def test_set_output_polars():
    pl = pytest.importorskip("polars")
    X = np.array([[1.0, 2.0], [np.nan, 3.0], [3.0, np.nan], [4.0, 5.0]])
    out = EMImputer().set_output(transform="polars").fit_transform(X)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["x0", "x1"]


@pytest.mark.parametrize("container", ["pandas", "polars"])
def test_return_std_comes_in_the_set_output_container(container):
    # scikit-learn's wrapper converts only a tuple's first element; the
    # standard deviations come as a frame with the same names and index,
    # equal to the default output's array.
    pd = pytest.importorskip("pandas")
    pytest.importorskip(container)
    rng = np.random.default_rng(3)
    X, _, _ = _correlated(rng, n=60, d=3)
    frame = pd.DataFrame(_holes(X, rng), columns=list("abc"), index=range(10, 70))
    imputer = EMImputer(add_indicator=True).fit(frame)
    plain, plain_std = imputer.transform(frame, return_std=True)
    imputer.set_output(transform=container)
    out, std = imputer.transform(frame, return_std=True)
    assert type(std) is type(out)
    names = list(imputer.get_feature_names_out())
    assert list(std.columns) == list(out.columns) == names
    if container == "pandas":
        assert list(std.index) == list(frame.index)
    np.testing.assert_array_equal(np.asarray(std), plain_std)
    np.testing.assert_array_equal(np.asarray(out), plain)


def test_in_pipelines_column_transformers_and_cross_validation():
    rng = np.random.default_rng(8)
    X, _, _ = _correlated(rng, n=200, d=4)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    Xm = _holes(X, rng)
    pipeline = make_pipeline(EMImputer(random_state=0), LogisticRegression())
    scores = cross_val_score(pipeline, Xm, y, cv=3)
    assert np.all(scores > 0.7)
    transformer = ColumnTransformer(
        [("em", EMImputer(random_state=0), [0, 1, 2]), ("pass", "passthrough", [3])]
    )
    column_pipeline = make_pipeline(
        transformer, EMImputer(random_state=0), LogisticRegression()
    )
    assert np.all(cross_val_score(column_pipeline, Xm, y, cv=3) > 0.7)


def test_grid_search_by_score_on_incomplete_data():
    rng = np.random.default_rng(9)
    centres = np.array([[0, 0, 0], [6, -6, 6]], dtype=float)
    X = rng.permutation(np.vstack([rng.normal(size=(150, 3)) + c for c in centres]))
    Xm = _holes(X, rng)
    grid = GridSearchCV(
        EMImputer(max_iter=50),
        {
            "n_components": [1, 2],
            "covariance_type": ["full", "diag"],
            "random_state": [0, 1],
        },
        cv=3,
        error_score="raise",
    ).fit(Xm)
    assert grid.best_params_["n_components"] == 2


@pytest.mark.parametrize(
    "check",
    [
        check_param_validation,
        check_dataframe_column_names_consistency,
        check_transformer_get_feature_names_out,
        check_transformer_get_feature_names_out_pandas,
        check_get_feature_names_out_error,
        check_set_output_transform,
        check_set_output_transform_pandas,
        check_set_output_transform_polars,
        check_global_set_output_transform_polars,
        check_global_output_transform_pandas,
    ],
    ids=lambda check: check.__name__,
)
def test_extra_sklearn_checks(check):
    check("EMImputer", EMImputer(max_iter=10))


@pytest.mark.parametrize(
    "mechanism, n_features, rate",
    [("mcar", 2, 0.3), ("mar", 3, 0.35), ("mcar", 4, 0.25)],
)
def test_one_component_equals_direct_maximum_likelihood(mechanism, n_features, rate):
    # EMImputer standardises internally and reports the model in the data's
    # units; with reg_covar=0 that is still the maximum-likelihood Gaussian of
    # the observed entries. scipy maximises that likelihood directly (over
    # the mean and a log-Cholesky factor, from the mean-imputed estimate,
    # BFGS then Newton steps to a gradient at rounding level); EM's fixed
    # point is reached to ~1e-12 with tol=1e-14, so 1e-7 relative is a wide
    # margin on parameters whose optimum is known to ~1e-13.
    from _reference import (
        UnconstrainedMixture,
        mar_mask,
        mcar_mask,
        newton_polish,
        pattern_rows,
    )
    from scipy.optimize import minimize

    rng = np.random.default_rng(n_features)
    # Unequal units (scipy's reference density rejects covariances whose
    # condition number nears 1e10, so not too unequal).
    scale = np.array([10.0, 0.1, 1.0, 5.0])[:n_features]
    X, _, _ = _correlated(rng, n=150, d=n_features)
    X = X * scale + 10.0
    if mechanism == "mcar":
        mask = mcar_mask(rng, len(X), n_features, rate)
    else:
        mask = mar_mask(rng, X, rate)
    Xm = np.where(mask, np.nan, X)

    model = UnconstrainedMixture(1, n_features, "full")
    groups = pattern_rows(mask)

    def objective(theta):
        return model.objective(theta, Xm, mask, groups)

    column_means = np.nanmean(Xm, axis=0)
    filled = np.where(mask, column_means, Xm)
    start = model.pack(
        np.ones(1), column_means[np.newaxis], np.cov(filled.T, bias=True)[np.newaxis]
    )
    result = minimize(
        objective, start, jac=True, method="BFGS", options={"gtol": 1e-10}
    )
    _, means, covariances, _ = model.unpack(newton_polish(objective, result.x))

    imputer = EMImputer(reg_covar=0.0, tol=1e-14, max_iter=10_000).fit(Xm)
    np.testing.assert_allclose(imputer.means_, means, rtol=1e-7)
    np.testing.assert_allclose(
        imputer.covariances_,
        covariances,
        rtol=1e-7,
        atol=1e-7 * np.abs(covariances).max(),
    )


def test_inverse_transform_puts_the_holes_back_as_simple_imputer_does():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[:, 3] = np.nan  # empty at fit: skipped, and back as all missing
    X[:, 1] = rng.normal(size=30)  # no hole at fit: no indicator column
    with pytest.warns(UserWarning, match="Skipping features"):
        imputer = EMImputer(add_indicator=True).fit(X)
    reference = SimpleImputer(add_indicator=True).fit(X)
    test = X.copy()
    test[0, 1] = np.nan  # a hole of a feature that had none at fit
    inverted = imputer.inverse_transform(imputer.transform(test))
    expected = reference.inverse_transform(reference.transform(test))
    # The same holes as SimpleImputer's inverse (and X's own), the same
    # observed values; the later hole of feature 1 stays imputed in both.
    np.testing.assert_array_equal(np.isnan(inverted), np.isnan(expected))
    np.testing.assert_array_equal(np.isnan(inverted), np.isnan(X))
    observed = ~np.isnan(test)
    np.testing.assert_array_equal(inverted[observed], test[observed])
    kept = EMImputer(add_indicator=True, keep_empty_features=True).fit(X)
    np.testing.assert_array_equal(
        np.isnan(kept.inverse_transform(kept.transform(X))), np.isnan(X)
    )
    with pytest.raises(ValueError, match="only when 'EMImputer' is instantiated"):
        EMImputer().fit(X[:, :3]).inverse_transform(X[:, :3])
    with pytest.raises(
        ValueError, match="outputs 6 columns: 3 imputed features, then 3 of the missing"
    ):
        imputer.inverse_transform(X)


def test_inverse_transform_of_a_mixed_dataframe():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 4.0, 5.0, 2.0],
            "g": pd.Series(["a", "b", None, "b", "a", "a"], dtype="category"),
        }
    )
    imputer = EMImputer(add_indicator=True).set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    assert list(out.columns) == ["x", "g", "missingindicator_x", "missingindicator_g"]
    inverted = imputer.inverse_transform(out)
    assert inverted.dtype == object and inverted.shape == (6, 2)
    assert np.isnan(inverted[1, 0]) and np.isnan(inverted[2, 1])
    assert inverted[:, 1].tolist()[:2] == ["a", "b"]
    np.testing.assert_array_equal(
        inverted[[0, 2, 3, 4, 5], 0].astype(float), [1, 3, 4, 5, 2]
    )


@pytest.mark.parametrize("container", ["pandas", "polars"])
@pytest.mark.parametrize("mixed", [False, True])
def test_indicator_under_the_global_output_config(container, mixed):
    # scikit-learn's global transform_output had reached the internal
    # MissingIndicator: a pandas frame indexed 0..n-1 aligned to X's index
    # as NaN (silently, in every cross-validation fold), a polars one had
    # no astype. The global route gives what set_output gives.
    import sklearn

    pd = pytest.importorskip("pandas")
    pytest.importorskip(container)
    rng = np.random.default_rng(2)
    X, _, _ = _correlated(rng, n=40, d=2)
    frame = pd.DataFrame(_holes(X, rng), columns=["a", "b"], index=range(100, 140))
    if mixed:
        frame["c"] = pd.Categorical(rng.choice(["x", "y"], 40))
        frame.loc[[101, 107], "c"] = np.nan
    expected = (
        EMImputer(add_indicator=True, random_state=0)
        .set_output(transform=container)
        .fit_transform(frame)
    )
    with sklearn.config_context(transform_output=container):
        imputer = EMImputer(add_indicator=True, random_state=0)
        out = imputer.fit_transform(frame)
        _, std = imputer.transform(frame, return_std=True)
    assert list(out.columns) == list(expected.columns)
    indicators = [name for name in out.columns if name.startswith("missing")]
    holes = frame.isna().to_numpy()
    np.testing.assert_array_equal(
        np.asarray(out[indicators], dtype=float), holes[:, holes.any(axis=0)]
    )
    if container == "pandas":
        pd.testing.assert_frame_equal(out, expected)
    else:
        assert out.equals(expected)
    assert (np.asarray(std[indicators]) == 0).all()


def test_reg_covar_swamping_the_standardised_variances_is_warned_about():
    # EMImputer fits standardised features, so reg_covar is in units of
    # their variances: reg_covar=1 doubled them and halved a correlation of
    # 0.95, silently (EMMixture warns in the like case in data units).
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.95], [0.95, 1.0]], size=300)
    X[::5, 1] = np.nan
    with pytest.warns(UserWarning, match=r"reg_covar=1 is \d+% .* standardised"):
        EMImputer(reg_covar=1.0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        EMImputer(reg_covar=1e-3).fit(X)


def test_indicator_of_an_older_pickle_under_the_global_output_config():
    # An imputer pickled before its indicator's output was fixed to arrays
    # (here: that setting removed) follows the global transform_output;
    # its indicator columns are still the holes, not NaN from an index
    # alignment.
    import sklearn

    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    X, _, _ = _correlated(rng, n=40, d=2)
    frame = pd.DataFrame(_holes(X, rng), columns=["a", "b"], index=range(100, 140))
    frame["c"] = pd.Categorical(rng.choice(["x", "y"], 40))
    imputer = EMImputer(add_indicator=True, random_state=0).fit(frame)
    del imputer.indicator_._sklearn_output_config
    with sklearn.config_context(transform_output="pandas"):
        out = imputer.transform(frame)
    indicators = [name for name in out.columns if name.startswith("missing")]
    holes = frame.isna().to_numpy()
    np.testing.assert_array_equal(
        np.asarray(out[indicators], dtype=float), holes[:, holes.any(axis=0)]
    )


def test_reg_covar_warning_of_a_diagonal_model_speaks_of_variances():
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.95], [0.95, 1.0]], size=300)
    X[::5, 1] = np.nan
    with pytest.warns(UserWarning, match="inflates the variances") as record:
        EMImputer(covariance_type="diag", reg_covar=0.5).fit(X)
    assert not any("correlations" in str(w.message) for w in record)


def test_overflow_of_standard_deviations_suggests_dividing_only():
    # Centring cannot help standard deviations of 1e160 (EMImputer
    # standardises anyway): the message says to divide, only.
    rng = np.random.default_rng(0)
    X = 1e160 * rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match="standard deviations") as error:
        EMImputer().fit(X)
    assert "centre" not in str(error.value)
    # Values of 1e160 spread by 1e150 (EMMixture fits the data's units):
    # dividing alone leaves a spread of 1e-10, which reg_covar swamps.
    from emimpute import EMMixture

    with pytest.raises(ValueError, match="subtract their centre"):
        EMMixture().fit(1e160 + 1e150 * rng.normal(size=(50, 2)))
