"""Rubin's rules (pool) and fit_and_pool, against hand-checked formulas."""

import dataclasses
import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
)
from sklearn.tree import DecisionTreeRegressor

from emimpute import fit_and_pool, multiple_impute, pool

# Five imputations of a scalar: Qbar = 1.1; B = (0.01 + 0.01 + 0.04 + 0 + 0.04)
# / 4 = 0.025; Ubar = 0.22 / 5 = 0.044; T = 0.044 + 1.2 * 0.025 = 0.074.
SCALAR_Q = [1.0, 1.2, 0.9, 1.1, 1.3]
SCALAR_U = [0.04, 0.05, 0.04, 0.05, 0.04]


def test_pool_scalar_equals_rubins_formulas():
    result = pool(SCALAR_Q, SCALAR_U, n_samples=100)
    m = 5
    qbar, ubar, b = 1.1, 0.044, 0.025
    t = ubar + (1 + 1 / m) * b
    riv = (1 + 1 / m) * b / ubar  # 0.681818...
    lam = (1 + 1 / m) * b / t  # 0.405405...
    df_old = (m - 1) / lam**2
    df_obs = (100 + 1) / (100 + 3) * 100 * (1 - lam)
    df = df_old * df_obs / (df_old + df_obs)  # Barnard and Rubin (1999), eq. 3
    fmi = (riv + 2 / (df + 3)) / (1 + riv)
    # 1e-12 relative: the same arithmetic in a different order differs by a
    # few ulps only.
    for got, want in [
        (result.estimate, qbar),
        (result.within, ubar),
        (result.between, b),
        (result.total, t),
        (result.riv, riv),
        (result.lambda_, lam),
        (result.df, df),
        (result.fmi, fmi),
        (result.std_error, np.sqrt(t)),
    ]:
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    # Values checked by hand (and against mice's printed output layout).
    assert result.df == pytest.approx(17.170447, rel=1e-7)
    assert result.fmi == pytest.approx(0.4643624, rel=1e-7)
    quantile = stats.t.ppf(0.975, df)
    assert result.conf_int == pytest.approx(
        [qbar - quantile * np.sqrt(t), qbar + quantile * np.sqrt(t)], rel=1e-12
    )
    assert result.p_value == pytest.approx(
        2 * stats.t.sf(qbar / np.sqrt(t), df), rel=1e-12
    )


def test_pool_large_sample_df_is_rubins():
    result = pool(SCALAR_Q, SCALAR_U)
    lam = 1.2 * 0.025 / 0.074
    assert result.df == pytest.approx(4 / lam**2, rel=1e-12)
    assert np.isinf(result.n_samples)


def test_pool_vector_with_covariance_equals_formulas():
    # Three imputations of a 2-vector with full covariances; B computed by
    # hand: deviations from Qbar = (2, 1) are (-1, 0), (0, 1), (1, -1), so
    # B = [[2, -1], [-1, 2]] / 2.
    estimates = [[1.0, 1.0], [2.0, 2.0], [3.0, 0.0]]
    covariances = [
        [[1.0, 0.2], [0.2, 2.0]],
        [[2.0, 0.4], [0.4, 1.0]],
        [[3.0, 0.0], [0.0, 3.0]],
    ]
    result = pool(estimates, covariances, n_samples=50, names=["a", "b"])
    ubar = np.array([[2.0, 0.2], [0.2, 2.0]])
    between = np.array([[1.0, -0.5], [-0.5, 1.0]])
    total = ubar + (4 / 3) * between
    np.testing.assert_allclose(result.estimate, [2.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(result.within, ubar, rtol=1e-12)
    np.testing.assert_allclose(result.between, between, rtol=1e-12)
    np.testing.assert_allclose(result.total, total, rtol=1e-12)
    t = np.diag(total)  # 2 + 4/3 = 10/3 for both terms
    lam = (4 / 3) * 1.0 / t  # 0.4
    df_old = 2 / lam**2
    df_obs = 51 / 53 * 50 * (1 - lam)
    df = df_old * df_obs / (df_old + df_obs)
    riv = (4 / 3) / 2.0
    np.testing.assert_allclose(result.lambda_, [0.4, 0.4], rtol=1e-12)
    np.testing.assert_allclose(result.riv, [riv, riv], rtol=1e-12)
    np.testing.assert_allclose(result.df, df, rtol=1e-12)
    np.testing.assert_allclose(result.fmi, (riv + 2 / (df + 3)) / (1 + riv), rtol=1e-12)
    assert result.names == ["a", "b"]
    assert result.conf_int.shape == (2, 2)


def test_pool_diagonal_variances_equal_diagonal_covariances():
    estimates = np.array([[1.0, 2.0], [1.5, 2.5], [0.5, 1.0]])
    variances = np.array([[0.1, 0.2], [0.2, 0.1], [0.3, 0.3]])
    a = pool(estimates, variances)
    b = pool(estimates, variances[:, :, None] * np.eye(2))
    np.testing.assert_array_equal(a.df, b.df)
    np.testing.assert_array_equal(a.within, b.within)


def test_pool_identical_estimates_give_no_between_variance():
    result = pool([1.0, 1.0, 1.0], [0.5, 0.5, 0.5], n_samples=20)
    assert result.between == 0.0 and result.lambda_ == 0.0
    # lambda = 0 is floored at 1e-4 in the df, as mice's barnard.rubin
    # does: df_old = 2 / 1e-8, df_obs = 21 / 23 * 20 * (1 - 1e-4).
    df_old, df_obs = 2 / 1e-8, 21 / 23 * 20 * (1 - 1e-4)
    assert result.df == pytest.approx(df_old * df_obs / (df_old + df_obs), rel=1e-12)
    # Without n_samples, df_old itself: finite where it was infinite, and
    # near-agreeing imputations (lambda 2e-9) print mice's 3e8, not 7e17.
    assert pool([1.0, 1.0, 1.0], [0.5, 0.5, 0.5]).df == pytest.approx(2e8, rel=1e-12)
    close = pool([1.0, 1.0 + 1e-5, 1.0, 1.0 - 1e-5], [0.5] * 4)
    assert 0 < close.lambda_ < 1e-4
    assert close.df == pytest.approx(3 / 1e-8, rel=1e-12)


def test_pool_without_variances_uses_between_only():
    result = pool(SCALAR_Q)
    assert result.total == pytest.approx(1.2 * 0.025, rel=1e-12)
    assert result.df == pytest.approx(4.0, rel=1e-12)
    assert result.fmi == 1.0


def test_summary_and_frames_have_mice_columns():
    pd = pytest.importorskip("pandas")
    result = pool(SCALAR_Q, SCALAR_U, n_samples=100)
    text = str(result.summary())
    assert text.splitlines()[0].split() == [
        "term",
        "estimate",
        "std.error",
        "statistic",
        "df",
        "p.value",
    ]
    frame = result.summary(conf_int=True).to_frame()
    assert list(frame.columns[-2:]) == ["2.5 %", "97.5 %"]
    full = result.to_frame()
    assert isinstance(full, pd.DataFrame)
    assert full.loc["x", "fmi"] == pytest.approx(result.fmi)
    assert "riv" in repr(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"estimates": [1.0]}, "at least 2 imputations"),
        ({"estimates": [[1.0, 2.0], [1.0]]}, "same shape"),
        ({"estimates": [1.0, 2.0], "variances": [0.1, -0.2]}, "non-negative"),
        ({"estimates": [1.0, 2.0], "variances": [0.1, 0.2, 0.3]}, "variances must"),
        ({"estimates": [1.0, 2.0], "n_samples": 0}, "n_samples"),
        ({"estimates": [1.0, np.nan]}, "finite"),
        # Finite, but their between variance is beyond float64.
        ({"estimates": [1e300, -1e300], "variances": [1.0, 1.0]}, "larger units"),
    ],
)
def test_pool_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pool(**kwargs)


def _regression_tables(m=4, n=120, seed=0):
    rng = np.random.RandomState(seed)
    tables = []
    X = rng.normal(size=(n, 2))
    for _ in range(m):
        y = 1.0 + X @ [2.0, -1.0] + rng.normal(size=n)
        tables.append(np.column_stack([y, X]))
    return tables


def _ols_covariance(estimator, X, y):
    design = np.column_stack([np.ones(len(X)), X])
    residuals = y - estimator.predict(X)
    sigma2 = residuals @ residuals / (len(y) - design.shape[1])
    return sigma2 * np.linalg.inv(design.T @ design)


def test_fit_and_pool_estimator_with_variance_function():
    tables = _regression_tables()
    result = fit_and_pool(
        LinearRegression(), tables, target=0, variance=_ols_covariance, n_samples=117
    )
    estimates, covariances = [], []
    for table in tables:
        fitted = LinearRegression().fit(table[:, 1:], table[:, 0])
        estimates.append(np.r_[fitted.intercept_, fitted.coef_])
        covariances.append(_ols_covariance(fitted, table[:, 1:], table[:, 0]))
    direct = pool(estimates, covariances, n_samples=117)
    np.testing.assert_allclose(result.estimate, direct.estimate, rtol=1e-12)
    np.testing.assert_allclose(result.total, direct.total, rtol=1e-12)
    assert result.names == ["intercept", "x0", "x1"]


def test_fit_and_pool_bootstrap_variance_is_close_to_ols():
    tables = _regression_tables(m=2)
    boot = fit_and_pool(
        LinearRegression(), tables, target=0, n_bootstrap=400, random_state=0
    )
    exact = fit_and_pool(LinearRegression(), tables, target=0, variance=_ols_covariance)
    # 400 bootstrap refits estimate a variance to about sqrt(2/400) = 7%
    # relative; 30% allows for the bootstrap's own small-sample bias.
    np.testing.assert_allclose(np.diag(boot.within), np.diag(exact.within), rtol=0.3)


def test_fit_and_pool_statsmodels_results():
    sm = pytest.importorskip("statsmodels.api")
    pd = pytest.importorskip("pandas")
    tables = [pd.DataFrame(t, columns=["y", "x1", "x2"]) for t in _regression_tables()]

    def model(frame):
        return sm.OLS(frame["y"], sm.add_constant(frame[["x1", "x2"]])).fit()

    result = fit_and_pool(model, tables)
    fits = [model(t) for t in tables]
    direct = pool(
        [f.params.to_numpy() for f in fits],
        [f.cov_params().to_numpy() for f in fits],
        n_samples=fits[0].df_resid,
    )
    assert result.names == ["const", "x1", "x2"]
    assert result.n_samples == 117
    np.testing.assert_allclose(result.df, direct.df, rtol=1e-12)
    # The pooled estimate of a sklearn fit with the OLS variance agrees.
    same = fit_and_pool(
        LinearRegression(), tables, target="y", variance=_ols_covariance, n_samples=117
    )
    np.testing.assert_allclose(same.estimate, result.estimate, rtol=1e-10)
    np.testing.assert_allclose(same.total, result.total, rtol=1e-10)


def test_fit_and_pool_duck_typed_results_need_no_statsmodels():
    class Results:
        def __init__(self, table):
            self.params = np.array([table[:, 0].mean()])
            self.df_resid = len(table) - 1

        def cov_params(self):
            return np.array([[1.0]])

    result = fit_and_pool(Results, _regression_tables())
    assert result.n_samples == 119


def test_fit_and_pool_bad_input():
    tables = _regression_tables()
    with pytest.raises(ValueError, match="exactly one of y"):
        fit_and_pool(LinearRegression(), tables)
    with pytest.raises(ValueError, match="at least 2"):
        fit_and_pool(LinearRegression(), tables[:1], target=0)
    with pytest.raises(ValueError, match="target must be a column index"):
        fit_and_pool(LinearRegression(), tables, target=7)
    with pytest.raises(ValueError, match="n_bootstrap must be an integer >= 2"):
        fit_and_pool(LinearRegression(), tables, target=0, n_bootstrap=1)


def test_fit_and_pool_names_every_class_of_a_multiclass_model():
    # A row of coefficients per class: named class:term, not as features.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    y = np.repeat([0.0, 1.0, 2.0], 30)
    tables = [
        np.column_stack([y, X + 0.01 * rng.normal(size=X.shape)]) for _ in range(3)
    ]
    model = LogisticRegression()
    result = fit_and_pool(model, tables, target=np.int64(0), n_bootstrap=20)
    intercepts = [f"{c}:intercept" for c in ("0.0", "1.0", "2.0")]
    terms = [f"{c}:x{j}" for c in ("0.0", "1.0", "2.0") for j in (0, 1)]
    assert result.names == intercepts + terms
    fitted = model.fit(tables[0][:, 1:], tables[0][:, 0])
    # In the order of _coefficients: intercepts, then coef_ row by row.
    assert result.estimate.shape == (3 + fitted.coef_.size,)


def test_fit_and_pool_keeps_text_labels_and_integer_column_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    tables = [
        pd.DataFrame({"x": rng.normal(size=60), "species": rng.choice(["a", "b"], 60)})
        for _ in range(3)
    ]
    result = fit_and_pool(
        LogisticRegression(), tables, target="species", n_bootstrap=20
    )
    assert result.names == ["intercept", "x"]
    # multiple_impute gives back a frame's non-string column names.
    frame = pd.DataFrame(rng.normal(size=(50, 3)))
    frame.iloc[::4, 1] = np.nan
    imputed = multiple_impute(frame, 2, random_state=0)
    assert list(imputed[0].columns) == [0, 1, 2]
    result = fit_and_pool(LinearRegression(), imputed, target=0, n_bootstrap=20)
    assert result.names == ["intercept", "1", "2"]


def test_pool_names_terms_by_the_index_of_series():
    pd = pytest.importorskip("pandas")
    estimates = [
        pd.Series([1.0, 2.0], index=["Intercept", "x"]),
        pd.Series([1.2, 1.9], index=["Intercept", "x"]),
    ]
    assert pool(estimates).names == ["Intercept", "x"]


def test_fit_and_pool_pools_a_pipelines_final_linear_model():
    # A Pipeline has no coef_ of its own (was an AttributeError): its final
    # step's terms, named by the earlier steps' get_feature_names_out.
    tables = _regression_tables()
    scaled = make_pipeline(StandardScaler(), LinearRegression())
    result = fit_and_pool(scaled, tables, target=0, variance=_scaled_ols_covariance)
    estimates, covariances = [], []
    for table in tables:
        X = StandardScaler().fit_transform(table[:, 1:])
        fitted = LinearRegression().fit(X, table[:, 0])
        estimates.append(np.r_[fitted.intercept_, fitted.coef_])
        covariances.append(_ols_covariance(fitted, X, table[:, 0]))
    direct = pool(estimates, covariances)
    np.testing.assert_allclose(result.estimate, direct.estimate, rtol=1e-12)
    np.testing.assert_allclose(result.total, direct.total, rtol=1e-12)
    assert result.names == ["intercept", "x0", "x1"]
    squares = PolynomialFeatures(2, include_bias=False)
    squares = make_pipeline(squares, LinearRegression())
    result = fit_and_pool(squares, tables, target=0, n_bootstrap=5, random_state=0)
    assert result.names == ["intercept", "x0", "x1", "x0^2", "x0 x1", "x1^2"]
    assert result.total.shape == (6, 6)
    # A step without get_feature_names_out: the final step's inputs by position.
    unnamed = make_pipeline(FunctionTransformer(np.tanh), LinearRegression())
    result = fit_and_pool(unnamed, tables, target=0, n_bootstrap=5, random_state=0)
    assert result.names == ["intercept", "x0", "x1"]


def _scaled_ols_covariance(pipeline, X, y):
    return _ols_covariance(pipeline[-1], pipeline[:-1].transform(X), y)


class _CountedTree(DecisionTreeRegressor):
    """A model without coef_ that counts its fits."""

    fits = 0

    def fit(self, X, y):
        type(self).fits += 1
        return super().fit(X, y)


@pytest.mark.parametrize("in_pipeline", [False, True])
def test_fit_and_pool_refuses_a_model_without_coef_after_one_fit(in_pipeline):
    model = _CountedTree()
    described = "_CountedTree has no coef_"
    if in_pipeline:
        model = make_pipeline(StandardScaler(), model)
        described = r"Pipeline \(final step _CountedTree\) has no coef_"
    _CountedTree.fits = 0
    with pytest.raises(TypeError, match=described + r".*callable.*cov_params"):
        fit_and_pool(model, _regression_tables(), target=0, n_bootstrap=5)
    # Refused at the first table's fit, before the other tables and the
    # bootstrap refits.
    assert _CountedTree.fits == 1


def test_fit_and_pool_bootstrap_without_a_rare_class_says_so():
    # A resample without class 1 refit a binary model with fewer
    # coefficients: numpy's 'inhomogeneous shape' error, or (two classes)
    # scikit-learn's one-class error, neither naming the bootstrap.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    X[rng.random(80) < 0.3, 0] = np.nan
    tables = multiple_impute(X, 3, random_state=0)
    y = np.zeros(80, int)
    y[:3] = 1
    y[3:40] = 2
    message = (
        r"resample of imputations\[0\] lacks the class\(es\) 1 \(3 of the 80 "
        r"rows\).*variance=callable"
    )
    for labels in [y, (y == 1).astype(int)]:
        with pytest.raises(ValueError, match=message):
            fit_and_pool(
                LogisticRegression(), tables, y=labels, n_bootstrap=50, random_state=0
            )
    # With the variance given, nothing is resampled.
    result = fit_and_pool(
        LogisticRegression(), tables, y=y, variance=lambda f, X, y: np.ones(9)
    )
    assert result.names[:3] == ["0:intercept", "1:intercept", "2:intercept"]


def test_fit_and_pool_bootstrap_refit_with_other_terms_says_so():
    # An encoder expands a category seen once into a term; a resample without
    # it has one coefficient fewer. The encoder names its outputs, so the
    # message names the term the refit lacks.
    rng = np.random.default_rng(0)
    category = np.r_[2.0, rng.integers(0, 2, size=59).astype(float)]
    tables = [np.column_stack([rng.normal(size=60), category]) for _ in range(2)]
    model = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LinearRegression())
    message = (
        r"resample of imputations\[0\] lacks 'x0_2.0', compared with the fit "
        r"on the whole table \(3 terms against 4\).*variance=callable"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_pool(model, tables, target=0, n_bootstrap=20, random_state=0)


def test_fit_and_pool_estimator_default_df_is_the_residual_df():
    # As R's pool takes dfcom from df.residual (and statsmodels' df_resid
    # here): rows less terms, 120 - 3; it assumed a large sample (df in the
    # millions) where statsmodels' OLS gave about n - p.
    tables = _regression_tables()
    n_rows = len(tables[0])
    result = fit_and_pool(
        LinearRegression(), tables, target=0, variance=_ols_covariance
    )
    assert result.n_samples == n_rows - 3
    explicit = fit_and_pool(
        LinearRegression(),
        tables,
        target=0,
        variance=_ols_covariance,
        n_samples=n_rows - 3,
    )
    np.testing.assert_array_equal(result.df, explicit.df)


# Terms pooled by name (as mice groups by term), not by position.


def test_pool_matches_series_terms_by_name():
    pd = pytest.importorskip("pandas")
    # Imputation 1 gives its terms in the other order; positions pooled a
    # with b (estimate 5.75 for both).
    estimates = [
        pd.Series({"a": 1.0, "b": 10.0}),
        pd.Series({"b": 10.5, "a": 1.5}),
    ]
    # Covariances labelled as their estimates: imputation 1's var(b) 0.4,
    # var(a) 0.2, cov 0.03.
    covariances = [
        pd.DataFrame([[0.1, 0.02], [0.02, 0.3]], index=["a", "b"], columns=["a", "b"]),
        pd.DataFrame([[0.4, 0.03], [0.03, 0.2]], index=["b", "a"], columns=["b", "a"]),
    ]
    result = pool(estimates, covariances, n_samples=30)
    assert result.names == ["a", "b"]
    # By hand, in the order a, b: Qbar (1.25, 10.25); deviations (-0.25,
    # -0.25) and (0.25, 0.25) so B = 0.125 everywhere; Ubar the mean of
    # [[0.1, 0.02], [0.02, 0.3]] and [[0.2, 0.03], [0.03, 0.4]]. Exact
    # binary fractions or one rounding: 1e-12 relative.
    within = np.array([[0.15, 0.025], [0.025, 0.35]])
    np.testing.assert_allclose(result.estimate, [1.25, 10.25], rtol=1e-12)
    np.testing.assert_allclose(result.between, np.full((2, 2), 0.125), rtol=1e-12)
    np.testing.assert_allclose(result.within, within, rtol=1e-12)
    np.testing.assert_allclose(result.total, within + 1.5 * 0.125, rtol=1e-12)
    # The same numbers in one order, plain arrays: pooled identically.
    direct = pool(
        [[1.0, 10.0], [1.5, 10.5]],
        [[[0.1, 0.02], [0.02, 0.3]], [[0.2, 0.03], [0.03, 0.4]]],
        n_samples=30,
    )
    for name in ("estimate", "total", "df", "p_value", "conf_int"):
        np.testing.assert_array_equal(getattr(result, name), getattr(direct, name))
    # Variances as arrays go with their own estimate's order, as Series by
    # their index (here in yet another order than the estimate).
    as_arrays = pool(estimates, [c.to_numpy() for c in covariances], n_samples=30)
    np.testing.assert_array_equal(as_arrays.total, direct.total)
    variances = [
        pd.Series({"b": 0.3, "a": 0.1}),
        pd.Series({"a": 0.2, "b": 0.4}),
    ]
    diagonal = pool(estimates, variances, n_samples=30)
    np.testing.assert_allclose(np.diag(diagonal.within), [0.15, 0.35], rtol=1e-12)


def test_pool_refuses_series_with_other_terms():
    pd = pytest.importorskip("pandas")
    first = pd.Series({"Intercept": 1.0, "g[T.B]": 0.5, "x": 2.0})
    other = pd.Series({"Intercept": 1.1, "g[T.C]": -0.4, "x": 2.1})
    message = (
        r"The terms differ between imputations: estimates\[2\] lacks "
        r"'g\[T.B\]' and has 'g\[T.C\]' besides, compared with estimates\[0\]"
        r"\. .*category or a class is "
        r"absent.*encoder or a feature selector.*merge it with another before "
        r"imputing, or leave its term out"
    )
    with pytest.raises(ValueError, match=message):
        pool([first, first, other])
    # Repeated names in another order: no matching by name exists.
    repeated = [
        pd.Series([1.0, 2.0, 3.0], index=["a", "a", "b"]),
        pd.Series([3.0, 1.0, 2.0], index=["b", "a", "a"]),
    ]
    with pytest.raises(ValueError, match="a name repeats"):
        pool(repeated)
    # A covariance labelled by other terms than its estimate's.
    covariance = pd.DataFrame(np.eye(3))
    with pytest.raises(ValueError, match=r"variances of estimates\[0\] are labelled"):
        pool([first, first], [covariance, covariance])


def _categorical_tables():
    # A rare level imputed differently: table 0 has levels A, B, table 1
    # A, C (finding 1 of the audit).
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 40
    x = rng.normal(size=n)
    g = np.array(["A"] * 38 + ["B", "C"], dtype=object)
    first = pd.DataFrame({"y": 1 + x + rng.normal(size=n), "x": x, "g": g})
    second = first.copy()
    first.loc[39, "g"] = "A"
    second.loc[38, "g"] = "A"
    return [first, second]


def test_fit_and_pool_refuses_statsmodels_fits_with_other_terms():
    smf = pytest.importorskip("statsmodels.formula.api")
    tables = _categorical_tables()
    message = (
        r"The terms differ between imputations: the fit on imputations\[1\] "
        r"lacks 'g\[T.B\]' and has 'g\[T.C\]' besides, compared with the fit "
        r"on imputations\[0\]"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_pool(lambda d: smf.ols("y ~ x + g", data=d).fit(), tables)


def test_fit_and_pool_matches_statsmodels_terms_by_name():
    smf = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    tables = [pd.DataFrame(t, columns=["y", "x1", "x2"]) for t in _regression_tables()]
    formulas = ["y ~ x1 + x2", "y ~ x2 + x1"]
    # Every other table's terms in the other order.
    fits = iter(range(len(tables)))

    def model(frame):
        return smf.ols(formulas[next(fits) % 2], data=frame).fit()

    result = fit_and_pool(model, tables)
    assert result.names == ["Intercept", "x1", "x2"]
    same = [smf.ols(formulas[0], data=t).fit() for t in tables]
    direct = pool(
        [f.params.to_numpy() for f in same],
        [f.cov_params().to_numpy() for f in same],
        n_samples=same[0].df_resid,
    )
    # The permuted design gives the same least squares up to rounding (a
    # few ulps, amplified by the condition number, about 1): 1e-10.
    np.testing.assert_allclose(result.estimate, direct.estimate, rtol=1e-10)
    np.testing.assert_allclose(result.total, direct.total, rtol=1e-10)


def test_fit_and_pool_matches_estimator_terms_by_name():
    # A table whose columns come in another order: LinearRegression's coef_
    # follows them, and the variance function's covariance too.
    pd = pytest.importorskip("pandas")
    tables = [pd.DataFrame(t, columns=["y", "u", "v"]) for t in _regression_tables()]
    shuffled = [t if i % 2 == 0 else t[["v", "y", "u"]] for i, t in enumerate(tables)]

    def covariance(fitted, X, y):
        design = np.column_stack([np.ones(len(X)), X.to_numpy()])
        residuals = y - fitted.predict(X)
        sigma2 = residuals @ residuals / (len(y) - 3)
        return sigma2 * np.linalg.inv(design.T @ design)

    result = fit_and_pool(LinearRegression(), shuffled, target="y", variance=covariance)
    assert result.names == ["intercept", "u", "v"]
    estimates, covariances = [], []
    for table in tables:
        X, y = table[["u", "v"]].to_numpy(), table["y"].to_numpy()
        fitted = LinearRegression().fit(X, y)
        estimates.append(np.r_[fitted.intercept_, fitted.coef_])
        covariances.append(_ols_covariance(fitted, X, y))
    direct = pool(estimates, covariances, n_samples=len(tables[0]) - 3)
    # Least squares on permuted columns: equal up to rounding, 1e-10.
    np.testing.assert_allclose(result.estimate, direct.estimate, rtol=1e-10)
    np.testing.assert_allclose(result.total, direct.total, rtol=1e-10)
    np.testing.assert_allclose(result.df, direct.df, rtol=1e-10)


def test_fit_and_pool_refuses_pipelines_with_other_terms_before_variance():
    tables = _categorical_tables()
    encoder = make_column_transformer(
        (OneHotEncoder(drop="first"), ["g"]), remainder="passthrough"
    )
    message = (
        r"the fit on imputations\[1\] lacks 'onehotencoder__g_B' and has "
        r"'onehotencoder__g_C' besides, compared with the fit on imputations\[0\]"
    )
    calls = []

    def variance(fitted, X, y):
        calls.append(len(y))
        return np.ones(3)

    with pytest.raises(ValueError, match=message):
        fit_and_pool(
            make_pipeline(encoder, LinearRegression()),
            tables,
            target="y",
            variance=variance,
        )
    # Table 0's variance only: refused before table 1's (or its bootstrap).
    assert calls == [40]
    # With the categories fixed, every table gives the same terms.
    fixed = make_column_transformer(
        (OneHotEncoder(categories=[["A", "B", "C"]], drop="first"), ["g"]),
        remainder="passthrough",
    )
    result = fit_and_pool(
        make_pipeline(fixed, LinearRegression()),
        tables,
        target="y",
        variance=lambda fitted, X, y: np.ones(4),
    )
    assert result.names == [
        "intercept",
        "onehotencoder__g_B",
        "onehotencoder__g_C",
        "remainder__x",
    ]


def test_fit_and_pool_multi_output_default_df_is_one_outputs():
    # Each output is its own regression: statsmodels' df_resid (and R's
    # df.residual of lm(cbind(...) ~ ...)) is rows less one output's terms.
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(0)
    for n_rows in (12, 16):
        tables = [rng.normal(size=(n_rows, 3)) for _ in range(3)]
        Y = rng.normal(size=(n_rows, 3))
        result = fit_and_pool(
            LinearRegression(), tables, y=Y, variance=lambda f, X, y: np.ones(12)
        )
        residual_df = {
            sm.OLS(Y[:, k], sm.add_constant(tables[0])).fit().df_resid for k in range(3)
        }
        assert residual_df == {n_rows - 4.0}
        assert result.n_samples == n_rows - 4
        assert result.names[:3] == ["0:intercept", "1:intercept", "2:intercept"]
    # A multiclass classifier keeps its documented rule: every class's terms
    # count, 90 rows less 3 x (1 + 2).
    X = rng.normal(size=(90, 2))
    tables = [X + 0.01 * rng.normal(size=X.shape) for _ in range(2)]
    labels = np.repeat([0, 1, 2], 30)
    classes = fit_and_pool(
        LogisticRegression(), tables, y=labels, variance=lambda f, X, y: np.ones(9)
    )
    assert classes.n_samples == 90 - 9


@pytest.mark.parametrize("n_classes", [3, 4])
@pytest.mark.parametrize("kind", ["SVC", "NuSVC"])
def test_fit_and_pool_names_one_vs_one_rows_by_class_pair(n_classes, kind):
    import sklearn.svm

    rng = np.random.default_rng(0)
    names = ["a", "b", "c", "d"][:n_classes]
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]])[:n_classes]
    y = np.repeat(names, 30)
    X = centres[np.repeat(np.arange(n_classes), 30)] + rng.normal(size=(len(y), 2))
    tables = [X + 0.01 * rng.normal(size=X.shape) for _ in range(2)]
    model = getattr(sklearn.svm, kind)(kernel="linear")
    n_pairs = n_classes * (n_classes - 1) // 2
    result = fit_and_pool(
        model, tables, y=y, variance=lambda f, X, y: np.ones(3 * n_pairs)
    )
    intercepts = result.names[:n_pairs]
    # Was a:intercept, b:intercept, ... with 3 classes (as many pairs as
    # classes), row numbers with 4.
    assert all("_vs_" in name and name.endswith(":intercept") for name in intercepts)
    assert result.names[n_pairs:] == [
        f"{pair.split(':')[0]}:x{j}" for pair in intercepts for j in (0, 1)
    ]
    # Checked against the fit itself: row k of coef_ and intercept_ is
    # positive on the rows of the first class of its pair and negative on
    # those of the second (the classes are well apart, so on every row).
    fitted = model.fit(tables[0], y)
    decision = tables[0] @ fitted.coef_.T + fitted.intercept_
    for k, name in enumerate(intercepts):
        first, second = name.removesuffix(":intercept").split("_vs_")
        assert np.all(decision[y == first, k] > 0)
        assert np.all(decision[y == second, k] < 0)


def test_fit_and_pool_names_statsmodels_terms_on_arrays_as_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    tables = _regression_tables()

    def plain(d):
        return sm.OLS(d[:, 0], d[:, 1:]).fit()

    def with_constant(d):
        return sm.OLS(d[:, 0], sm.add_constant(d[:, 1:])).fit()

    for model in (plain, with_constant):
        assert fit_and_pool(model, tables).names == model(tables[0]).model.exog_names
    assert fit_and_pool(with_constant, tables).names == ["const", "x1", "x2"]


def test_pool_zero_within_variance_gives_m_minus_1_df():
    # W = 0: T = (1 + 1/3) B = 4/3 for the estimates 1, 2, 3 (B = 1); df is
    # m - 1 = 2 with or without n_samples, as without variances.
    given = pool([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], n_samples=10)
    omitted = pool([1.0, 2.0, 3.0], None, n_samples=10)
    statistic = 2.0 / np.sqrt(4 / 3)  # sqrt(3)
    # Closed forms of the t distribution with 2 df: sf(t) = (1 - t /
    # sqrt(t^2 + 2)) / 2, and its quantile (2q - 1) / sqrt(2 q (1 - q)).
    p_value = 1.0 - statistic / np.sqrt(statistic**2 + 2.0)
    quantile = 0.95 / np.sqrt(2 * 0.975 * 0.025)
    for result in (given, omitted):
        assert result.df == 2.0
        assert result.statistic == pytest.approx(np.sqrt(3.0), rel=1e-14)
        # scipy's t against the closed forms: 1e-12 relative.
        assert result.p_value == pytest.approx(p_value, rel=1e-12)
        half = quantile * np.sqrt(4 / 3)
        assert result.conf_int == pytest.approx([2 - half, 2 + half], rel=1e-12)
    # Per term: a term with within variance keeps Barnard-Rubin's df.
    both = pool([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], [[0.0, 0.5]] * 3, n_samples=10)
    lam = (4 / 3) / (0.5 + 4 / 3)
    df_old = 2 / lam**2
    df_obs = 11 / 13 * 10 * (1 - lam)
    np.testing.assert_allclose(
        both.df, [2.0, df_old * df_obs / (df_old + df_obs)], rtol=1e-12
    )


def test_pool_identical_estimates_without_variance_do_not_crash():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ones = pool([1.0, 1.0, 1.0])
        zeros = pool([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], n_samples=10)
    # The docstring's m - 1 (was 2e8, lambda 0 floored at 1e-4).
    assert ones.df == 2.0 and zeros.df == 2.0
    assert ones.std_error == 0.0 and np.isposinf(ones.statistic)
    assert ones.p_value == 0.0 and list(ones.conf_int) == [1.0, 1.0]
    assert np.isnan(zeros.statistic) and np.isnan(zeros.p_value)


# statsmodels divides by the saturated fit's df_resid 0.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fit_and_pool_saturated_statsmodels_fit_names_df_resid():
    smf = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    tables = [
        pd.DataFrame(rng.normal(size=(3, 3)), columns=["y", "x", "z"]) for _ in range(3)
    ]
    message = (
        r"model\(imputations\[0\]\) has df_resid 0, the default n_samples: "
        r"the model has as many parameters as the table has rows.*"
        r"cov_params\(\), is undefined.*fewer parameters than rows.*"
        r"pass n_samples yourself"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_pool(lambda d: smf.ols("y ~ x + z", data=d).fit(), tables)


def test_pooled_result_compares_by_identity_and_hashes():
    result = pool(SCALAR_Q, SCALAR_U)
    again = pool(SCALAR_Q, SCALAR_U)
    assert result == result and result != again
    assert len({result, again, result}) == 2
    assert hash(result) == hash(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.alpha = 0.1


def test_tables_and_wald_tests_compare_and_hash_by_value():
    # Frozen, they held lists: == compared them, but hash() raised TypeError.
    estimates = [[1.0, 0.5], [1.4, 0.3], [1.1, 0.6]]
    covariances = [[[0.04, 0.01], [0.01, 0.02]]] * 3
    result = pool(estimates, covariances)
    again = pool(estimates, covariances)
    assert result.table() == again.table()
    assert hash(result.table()) == hash(again.table())
    assert len({result.summary(), again.summary()}) == 1
    test = result.wald_test([0, 1])
    assert test == again.wald_test([0, 1])
    assert hash(test) == hash(again.wald_test([0, 1]))
    assert result.table().to_frame().shape[0] == len(result.names)


def test_pool_takes_one_dataframe_of_variances_by_its_columns():
    # A DataFrame with a row of variances per imputation: pandas lined its
    # rows up by label already; each row was reordered a second time by its
    # imputation's own term order (a's within variance came out 0.215).
    pd = pytest.importorskip("pandas")
    e1 = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"])
    e2 = pd.Series([3.5, 2.5, 1.5], index=["c", "b", "a"])
    v1 = pd.Series([0.1, 0.2, 0.3], index=["a", "b", "c"])
    v2 = pd.Series([0.33, 0.22, 0.11], index=["c", "b", "a"])
    by_series = pool([e1, e2], [v1, v2])
    by_frame = pool([e1, e2], pd.DataFrame([v1, v2]))
    # One rounding each: (0.1 + 0.11) / 2 and so on.
    np.testing.assert_allclose(
        np.diag(by_frame.within), [0.105, 0.21, 0.315], rtol=1e-15
    )
    np.testing.assert_array_equal(by_frame.within, by_series.within)
    with pytest.raises(ValueError, match="The variances are labelled"):
        pool([e1, e2], pd.DataFrame([[0.1, 0.2, 0.3], [0.11, 0.22, 0.33]]))


# statsmodels results whose params have a column per equation.


def _multinomial_tables(m=3, n=150, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = pd.Series(rng.integers(0, 3, n), name="y")
    tables = [
        pd.DataFrame(X + 0.1 * rng.normal(size=X.shape), columns=["a", "b"])
        for _ in range(m)
    ]
    return tables, y


def test_fit_and_pool_flattens_mnlogit_params_in_cov_params_order():
    # MNLogit's params is a (3 terms, 2 equations) DataFrame; was refused as
    # estimates of shape (3, 3, 2).
    sm = pytest.importorskip("statsmodels.api")
    tables, y = _multinomial_tables()

    def model(frame):
        return sm.MNLogit(y, sm.add_constant(frame)).fit(disp=0)

    result = fit_and_pool(model, tables)
    fits = [model(t) for t in tables]
    covariance = fits[0].cov_params()
    # statsmodels labels the covariance's rows (class, term), equation by
    # equation, and its own bse is the square root of their diagonal taken
    # column by column from params' shape: params flattened column-major.
    assert list(covariance.index) == [
        (c, t) for c in ("1", "2") for t in ("const", "a", "b")
    ]
    np.testing.assert_array_equal(
        fits[0].bse.to_numpy().ravel(order="F"), np.sqrt(np.diag(covariance))
    )
    assert result.names == [
        f"y={c}:{t}" for c in ("1", "2") for t in ("const", "a", "b")
    ]
    # Rubin's rules by hand on the flattened params.
    m = len(fits)
    Q = np.array([f.params.to_numpy().ravel(order="F") for f in fits])
    U = np.array([f.cov_params().to_numpy() for f in fits])
    qbar = Q.mean(axis=0)
    ubar = U.mean(axis=0)
    between = (Q - qbar).T @ (Q - qbar) / (m - 1)
    total = ubar + (1 + 1 / m) * between
    # Means and products of the same numbers, summed perhaps in another
    # order: a few ulps of the largest entry (near-zero covariances get an
    # absolute bound at 1e-12 of it).
    np.testing.assert_allclose(result.estimate, qbar, rtol=1e-12)
    np.testing.assert_allclose(
        result.total, total, rtol=1e-12, atol=1e-12 * np.abs(total).max()
    )
    # Class 2's slope of a is params' column 1 (the second class after the
    # reference class 0): by name, the mean of those.
    j = result.names.index("y=2:a")
    assert result.estimate[j] == pytest.approx(
        np.mean([f.params.loc["a", 1] for f in fits]), rel=1e-12
    )
    assert result.n_samples == fits[0].df_resid == len(y) - 6
    # The class's slopes of a, tested together (three imputations: too few
    # for Reiter's df2, which the test says).
    with pytest.warns(UserWarning, match="use at least 4 imputations"):
        test = result.wald_test(["y=1:a", "y=2:a"])
    assert test.df1 == 2 and test.terms == ("y=1:a", "y=2:a")


def test_fit_and_pool_names_mnlogit_fits_on_arrays_as_on_frames():
    # A fit on arrays has a bare array cov_params(); its model's
    # data.cov_names label it as the frame's would.
    sm = pytest.importorskip("statsmodels.api")
    tables, y = _multinomial_tables()

    def on_arrays(frame):
        design = sm.add_constant(frame.to_numpy())
        return sm.MNLogit(y.to_numpy(), design).fit(disp=0)

    def on_frames(frame):
        return sm.MNLogit(y, sm.add_constant(frame)).fit(disp=0)

    arrays = fit_and_pool(on_arrays, tables)
    frames = fit_and_pool(on_frames, tables)
    assert arrays.names == [
        f"y={c}:{t}" for c in ("1", "2") for t in ("const", "x1", "x2")
    ]
    # The same fits on the same numbers: equal to rounding.
    np.testing.assert_allclose(arrays.estimate, frames.estimate, rtol=1e-10)
    np.testing.assert_allclose(arrays.total, frames.total, rtol=1e-10)


def test_fit_and_pool_flattens_var_params_term_by_term():
    # VAR's covariance runs term by term (its bse is params' shape row-major):
    # the labels, not a fixed order, decide.
    pd = pytest.importorskip("pandas")
    VAR = pytest.importorskip("statsmodels.tsa.api").VAR
    rng = np.random.default_rng(0)
    tables = [
        pd.DataFrame(rng.normal(size=(80, 2)), columns=["u", "v"]) for _ in range(3)
    ]
    result = fit_and_pool(lambda d: VAR(d).fit(1), tables)
    fits = [VAR(t).fit(1) for t in tables]
    np.testing.assert_array_equal(
        fits[0].bse.to_numpy().ravel(), np.sqrt(np.diag(fits[0].cov_params()))
    )
    assert result.names == [
        f"{e}:{t}" for t in ("const", "L1.u", "L1.v") for e in ("u", "v")
    ]
    qbar = np.mean([f.params.to_numpy().ravel() for f in fits], axis=0)
    # A mean of three numbers, perhaps summed in another order: 1e-12.
    np.testing.assert_allclose(result.estimate, qbar, rtol=1e-12)


def test_fit_and_pool_refuses_unlabelled_2d_params():
    class Results:
        params = np.ones((3, 2))
        df_resid = 10.0

        def cov_params(self):
            return np.eye(6)

    with pytest.raises(ValueError, match=r"shape \(3, 2\).*order of the 6 terms"):
        fit_and_pool(lambda table: Results(), _regression_tables())


# Bootstrap refits matched by name.


def test_fit_and_pool_bootstrap_refit_selecting_other_features_says_so():
    # SelectKBest keeps 2 features of 3 on every resample, but not always the
    # same 2: compared by count, the refits' coefficients of b were pooled
    # with those of c.
    pd = pytest.importorskip("pandas")
    from sklearn.feature_selection import SelectKBest, f_regression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, 0.3, 0.3] + rng.normal(size=40)
    tables = [
        pd.DataFrame(
            np.column_stack([y, X + 0.01 * rng.normal(size=X.shape)]),
            columns=["y", "a", "b", "c"],
        )
        for _ in range(2)
    ]
    model = make_pipeline(SelectKBest(f_regression, k=2), LinearRegression())
    message = (
        r"resample of imputations\[0\] lacks 'c' and has 'b' besides, compared "
        r"with the fit on the whole table \(as many terms, 3, but not the "
        r"same\).*feature selector chose other features.*Select the features "
        r"once.*variance=callable"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_pool(model, tables, target="y", n_bootstrap=20, random_state=0)
    # The same selector on arrays names its features x0, x1, x2 (their
    # columns): refused as well.
    with pytest.raises(ValueError, match=r"lacks 'x2' and has 'x1' besides"):
        arrays = [t.to_numpy() for t in tables]
        fit_and_pool(model, arrays, target=0, n_bootstrap=20, random_state=0)


def test_fit_and_pool_bootstrap_refit_of_unnamed_features_is_compared_by_count():
    # A step without get_feature_names_out leaves only positions, which say
    # nothing of what a term is: the refits are compared by count. A column
    # with one nonzero value is constant on a resample without its row, and
    # dropped.
    def nonconstant(X):
        return X[:, np.ptp(X, axis=0) > 0]

    rng = np.random.default_rng(0)
    rare = np.r_[1.0, np.zeros(59)]
    tables = [
        np.column_stack([rng.normal(size=60), rng.normal(size=60), rare])
        for _ in range(2)
    ]
    model = make_pipeline(FunctionTransformer(nonconstant), LinearRegression())
    message = (
        r"resample of imputations\[0\] has 2 coefficients, the fit on the whole "
        r"table 3.*variance=callable"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_pool(model, tables, target=0, n_bootstrap=20, random_state=0)


# The multivariate Wald test (D1).


def _wald_inputs(m, seed=0):
    """``m`` estimates of three terms and their covariance matrices."""
    rng = np.random.default_rng(seed)
    estimates = np.array([0.3, -0.5, 1.2]) + 0.2 * rng.normal(size=(m, 3))
    factors = 0.2 * rng.normal(size=(m, 3, 3))
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.05 * np.eye(3)
    return estimates, covariances


def _d1_by_hand(estimates, covariances, terms, value):
    """Li, Raghunathan and Rubin's D1, written out with explicit inverses."""
    m, k = len(estimates), len(terms)
    Q = estimates[:, terms]
    U = covariances[:, terms][:, :, terms]
    qbar = Q.mean(axis=0)
    ubar_inv = np.linalg.inv(U.mean(axis=0))
    between = np.cov(Q, rowvar=False, ddof=1).reshape(k, k)
    riv = (1 + 1 / m) * np.trace(between @ ubar_inv) / k
    deviation = qbar - value
    statistic = deviation @ ubar_inv @ deviation / (k * (1 + riv))
    t = k * (m - 1)
    if t > 4:
        df2 = 4 + (t - 4) * (1 + (1 - 2 / t) / riv) ** 2
    else:
        df2 = t * (1 + 1 / k) * (1 + 1 / riv) ** 2 / 2
    return statistic, df2, stats.f.sf(statistic, k, df2), riv


@pytest.mark.parametrize("m", [4, 3])
def test_wald_test_equals_d1_by_hand(m):
    # m = 4: t = k (m - 1) = 6 > 4; m = 3: t = 4, the other df2.
    estimates, covariances = _wald_inputs(m)
    result = pool(estimates, covariances, names=["a", "b", "c"])
    value = np.array([0.1, 0.2])
    # Terms by index and by name, in another order than the pool's.
    test = result.wald_test([2, "a"], value=value)
    statistic, df2, p_value, riv = _d1_by_hand(estimates, covariances, [2, 0], value)
    # inv() against solve() on 2 x 2 matrices of condition about 10: a few
    # ulps each, so 1e-12 relative.
    assert test.terms == ("c", "a") and test.df1 == 2
    assert test.statistic == pytest.approx(statistic, rel=1e-12)
    assert test.riv == pytest.approx(riv, rel=1e-12)
    assert test.df2 == pytest.approx(df2, rel=1e-12)
    assert test.p_value == pytest.approx(p_value, rel=1e-12)
    assert "Wald test of 'c', 'a'" in repr(test) and "p.value" in repr(test)
    with pytest.raises(dataclasses.FrozenInstanceError):
        test.statistic = 0.0


def test_wald_test_of_one_term_is_the_square_of_the_pooled_t():
    # k = 1: (1 + r1) Ubar = Ubar + (1 + 1/m) B = T, so D1 = statistic^2 and
    # r1 = riv exactly. df2 = t (1 + 1) (1 + 1/r)^2 / 2 = (m - 1)(1 + 1/r)^2,
    # Rubin's large-sample df, when t = m - 1 <= 4 (and F(1, v) of t^2 is
    # the two-sided t_v p-value); beyond, Li et al.'s df2 is another
    # approximation. With n_samples and t <= 4, both take Barnard-Rubin's.
    estimates, covariances = _wald_inputs(5)
    result = pool(estimates, covariances, names=["a", "b", "c"])
    test = result.wald_test("b")
    # The same arithmetic in another order: 1e-12 relative.
    assert test.statistic == pytest.approx(result.statistic[1] ** 2, rel=1e-12)
    assert test.riv == pytest.approx(result.riv[1], rel=1e-12)
    assert test.df2 == pytest.approx(result.df[1], rel=1e-12)
    # scipy's F and t tails are both incomplete beta functions, evaluated
    # with other arguments (measured 2e-16 apart): 1e-12 relative.
    assert test.p_value == pytest.approx(result.p_value[1], rel=1e-12)
    small = pool(estimates, covariances, names=["a", "b", "c"], n_samples=20)
    with pytest.warns(UserWarning, match="here 4: use at least 6 imputations"):
        small_test = small.wald_test("b")
    assert small.lambda_[1] > 1e-4  # above the floor pool puts under lambda
    assert small_test.df2 == pytest.approx(small.df[1], rel=1e-12)
    assert small_test.p_value == pytest.approx(small.p_value[1], rel=1e-12)
    assert small.df[1] < test.df2
    estimates, covariances = _wald_inputs(8)
    result = pool(estimates, covariances, names=["a", "b", "c"])
    test = result.wald_test(["b"])
    r = result.riv[1]
    assert test.statistic == pytest.approx(result.statistic[1] ** 2, rel=1e-12)
    assert test.df2 == pytest.approx(4 + 3 * (1 + (1 - 2 / 7) / r) ** 2, rel=1e-12)
    assert result.df[1] == pytest.approx(7 * (1 + 1 / r) ** 2, rel=1e-12)
    assert test.df2 != pytest.approx(result.df[1], rel=1e-3)


def _reiter_as_mitml(k, m, riv, dfcom):
    """Reiter's (2007) df2 in mitml's grouping of the terms, in exact
    rational arithmetic (riv and dfcom as given, the rest exact)."""
    r, n = Fraction(riv), Fraction(dfcom)
    t = k * (m - 1)
    a = r * t / (t - 2)
    vstar = (n + 1) / (n + 3) * n
    c0 = Fraction(1, t - 4)
    c1 = vstar - 2 * (1 + a)
    c2 = vstar - 4 * (1 + a)
    z = (
        1 / c2
        + c0 * (a**2 * c1 / ((1 + a) ** 2 * c2))
        + c0 * (8 * a**2 * c1 / ((1 + a) * c2**2) + 4 * a**2 / ((1 + a) * c2))
        + c0 * (4 * a**2 / (c2 * c1) + 16 * a**2 * c1 / c2**3)
        + c0 * (8 * a**2 / c2**2)
    )
    return float(4 + 1 / z)


@pytest.mark.parametrize("m", [4, 10])
def test_wald_test_with_n_samples_takes_reiters_small_sample_df2(m):
    # mice's D1 passes dfcom to mitml, whose df2 is Reiter's expansion. The
    # statistic and riv do not depend on n_samples; df2 is mitml's formula
    # evaluated exactly (Fractions), to 1e-12 relative (a float evaluation
    # of about 30 operations on numbers of one sign).
    estimates, covariances = _wald_inputs(m)
    large = pool(estimates, covariances, names=["a", "b", "c"])
    small = pool(estimates, covariances, names=["a", "b", "c"], n_samples=60)
    test = small.wald_test(["a", "c"])
    reference = large.wald_test(["a", "c"])
    assert test.statistic == reference.statistic and test.riv == reference.riv
    df2 = _reiter_as_mitml(2, m, test.riv, 60)
    assert test.df2 == pytest.approx(df2, rel=1e-12)
    assert test.p_value == pytest.approx(stats.f.sf(test.statistic, 2, df2), rel=1e-12)
    assert (test.df2_source, reference.df2_source) == ("Reiter 2007", "Li et al. 1991")
    assert str(test).splitlines()[0] == (
        "Wald test of 'a', 'c' (D1, Li et al. 1991; df2 Reiter 2007)"
    )
    # Fewer degrees of freedom than Li et al.'s and than the complete
    # data's (v* = 61 * 60 / 63): the p-value rises.
    assert 4 < test.df2 < min(reference.df2, 61 * 60 / 63)
    assert test.p_value > reference.p_value


def test_reiter_df2_limits():
    # Independent of the expansion's terms: with riv = 0 it is v* (every
    # term but 1 / c2 = 1 / (v* - 4) vanishes); as n grows it rises to Li
    # et al.'s df2; in between it stays below both.
    from emimpute._rubin import li_df2, reiter_df2

    for n in [10.0, 60.0, 1e4]:
        v_star = (n + 1) / (n + 3) * n
        assert reiter_df2(2, 6, 0.0, n) == (pytest.approx(v_star, rel=1e-12), True)
    for k, m, riv in [(1, 6, 0.3), (2, 4, 0.05), (3, 20, 1.0)]:
        sizes = np.geomspace(30, 1e9, 25)
        values = [reiter_df2(k, m, riv, n) for n in sizes]
        df2 = np.array([v for v, reiter in values])
        assert all(reiter for v, reiter in values)
        assert np.all(np.diff(df2) > 0)
        assert np.all(df2 < li_df2(k, m, riv))
        assert np.all(df2 < (sizes + 1) / (sizes + 3) * sizes)
        # At n = 1e9 the correction is of order riv-terms / n: 1e-6 relative.
        assert df2[-1] == pytest.approx(li_df2(k, m, riv), rel=1e-6)


def test_wald_test_outside_reiters_expansion_warns_and_combines():
    # A riv large beside a small sample (v* <= 4 (1 + a)), where mitml's
    # formula gives a df2 below 4: Barnard and Rubin's combination of Li
    # et al.'s df2 and v* / (1 + riv), with a warning naming the cause.
    estimates, covariances = _wald_inputs(10)
    estimates = estimates * np.array([1.0, 1.0, 8.0])  # a large riv for c
    result = pool(estimates, covariances, names=["a", "b", "c"], n_samples=12)
    with pytest.warns(UserWarning, match=r"large beside the riv .*n_samples = 12"):
        test = result.wald_test(["b", "c"])
    v_star = 13 * 12 / 15
    reference = pool(estimates, covariances, names=["a", "b", "c"])
    li = reference.wald_test(["b", "c"]).df2
    assert v_star <= 4 * (1 + test.riv * 18 / 16)
    assert _reiter_as_mitml(2, 10, test.riv, 12) < 4
    assert test.df2 == pytest.approx(1 / (1 / li + (1 + test.riv) / v_star), rel=1e-12)


def test_wald_test_of_one_term_with_variances_only():
    # One term needs no covariances: a scalar pool, or variances per term.
    scalar = pool(SCALAR_Q, SCALAR_U)
    test = scalar.wald_test("x", value=1.0)
    t = (1.1 - 1.0) / np.sqrt(0.074)
    assert test.statistic == pytest.approx(t**2, rel=1e-12)
    variances = pool([[1.0, 2.0], [1.5, 2.5], [0.5, 1.0]], [[0.1, 0.2]] * 3)
    assert variances.variance_form == "variance"
    assert variances.wald_test(1).statistic == pytest.approx(
        variances.statistic[1] ** 2, rel=1e-12
    )


def test_wald_test_of_agreeing_imputations_has_infinite_df2():
    # B = 0: r1 = 0, df2 infinite, and k D1 is chi-squared with k df.
    covariance = np.array([[0.5, 0.1], [0.1, 0.4]])
    result = pool([[1.0, 0.5]] * 3, [covariance] * 3, names=["a", "b"])
    test = result.wald_test(["a", "b"])
    statistic = np.array([1.0, 0.5]) @ np.linalg.inv(covariance) @ [1.0, 0.5] / 2
    assert test.riv == 0.0 and np.isposinf(test.df2)
    # A 2 x 2 inverse against a solve: 1e-12 relative.
    assert test.statistic == pytest.approx(statistic, rel=1e-12)
    assert test.p_value == pytest.approx(stats.chi2.sf(2 * statistic, 2), rel=1e-12)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"terms": ["nope"]}, r"'nope' is not a pooled term; the terms are 'a'"),
        ({"terms": ["a", "a"]}, r"terms: 'a' given more than once"),
        ({"terms": ["a", 0]}, r"terms: 'a' given more than once"),
        ({"terms": []}, r"give at least one term"),
        ({"terms": [3]}, r"index 3 is out of range for 3 terms"),
        ({"terms": [1.5]}, r"names \(str\) or indices \(int\)"),
        ({"terms": ["a", "b"], "value": [0.0, 1.0, 2.0]}, r"value must be one "),
        ({"terms": ["a", "b"], "value": [0.0, np.nan]}, r"2 \(one per term"),
    ],
)
def test_wald_test_bad_terms_and_values(arguments, message):
    estimates, covariances = _wald_inputs(4)
    result = pool(estimates, covariances, names=["a", "b", "c"])
    with pytest.raises(ValueError, match=message):
        result.wald_test(**arguments)


def test_wald_test_needs_covariances():
    estimates, covariances = _wald_inputs(4)
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    diagonal = pool(estimates, variances, names=["a", "b", "c"])
    message = (
        r"wald_test of 2 terms needs each imputation's covariance matrix.*only "
        r"their variances.*shape \(m, n_terms, n_terms\)"
    )
    with pytest.raises(ValueError, match=message):
        diagonal.wald_test(["a", "b"])
    with pytest.raises(ValueError, match="pool was given none: pass variances"):
        pool(estimates, names=["a", "b", "c"]).wald_test("a")
    covariances[:, 0, :] = covariances[:, :, 0] = 0.0
    singular = pool(estimates, covariances, names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"covariance of 'a', 'b' is singular"):
        singular.wald_test(["a", "b"])


class _ByVariance(TransformerMixin, BaseEstimator):
    """Puts the columns in order of decreasing variance (on the rows it was
    fit on), named as they are: the same terms, in an order that may
    change from one resample to another."""

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.order_ = np.argsort(-np.var(np.asarray(X), axis=0), kind="stable")
        return self

    def transform(self, X):
        return np.asarray(X)[:, self.order_]

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_in_[self.order_]


def test_fit_and_pool_bootstrap_takes_refits_terms_by_name():
    # Two columns of about equal variance swap places on some resamples: by
    # position their coefficients were pooled together.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n, n_bootstrap = 50, 30
    X = rng.normal(size=(n, 2))
    tables = []
    for _ in range(2):
        noisy = X + 0.01 * rng.normal(size=X.shape)
        y = 1.0 + noisy @ [2.0, -1.0] + rng.normal(size=n)
        tables.append(pd.DataFrame({"y": y, "a": noisy[:, 0], "b": noisy[:, 1]}))
    model = make_pipeline(_ByVariance(), LinearRegression())
    result = fit_and_pool(
        model, tables, target="y", n_bootstrap=n_bootstrap, random_state=0
    )
    # The same resamples (one random stream, table after table), refit on
    # the columns in a fixed order a, b.
    stream = np.random.RandomState(0)
    covariances = []
    swapped = 0
    for table in tables:
        draws = []
        for _ in range(n_bootstrap):
            rows = table.iloc[stream.randint(n, size=n)]
            fitted = LinearRegression().fit(rows[["a", "b"]], rows["y"])
            draws.append(np.r_[fitted.intercept_, fitted.coef_])
            swapped += list(_ByVariance().fit(rows[["a", "b"]]).order_) == [1, 0]
        covariances.append(np.cov(np.array(draws), rowvar=False))
    assert 0 < swapped < 2 * n_bootstrap
    order = [["intercept", "a", "b"].index(name) for name in result.names]
    within = np.mean(covariances, axis=0)[np.ix_(order, order)]
    # The same least-squares fits on permuted columns: equal to rounding
    # (condition number about 1), 1e-10 relative.
    np.testing.assert_allclose(result.within, within, rtol=1e-10)


def test_imputations_needed_is_von_hippels_two_stage_rule():
    # By hand: fmi of the pilot (m = 5) 0.5804; logit 0.3245, plus
    # z sqrt(2 / 5) = 1.95996 * 0.63246 = 1.23959, expit 0.82691; 1 + (0.82691
    # / 0.05)^2 / 2 = 137.76: 138 (the formula of R's howManyImputations).
    from scipy import special, stats

    result = pool([1.0, 1.4, 1.1, 1.2, 0.9], [0.04] * 5)
    fmi = float(result.fmi)
    upper = special.expit(special.logit(fmi) + stats.norm.ppf(0.975) * np.sqrt(2 / 5))
    assert upper == pytest.approx(0.82691, abs=1e-5)
    assert result.imputations_needed() == 138
    # A looser precision needs fewer; the largest fmi over terms decides.
    assert result.imputations_needed(cv=0.1) == int(np.ceil(1 + (upper / 0.1) ** 2 / 2))
    two = pool(
        [[1.0, 5.0], [1.4, 5.0], [1.1, 5.0], [1.2, 5.0], [0.9, 5.0]],
        [[0.04, 0.01]] * 5,
    )
    assert two.imputations_needed() == 138
    # Imputations that agree (fmi about 0): Rubin's rules still need two.
    agree = pool([2.0, 2.0, 2.0], [0.1] * 3)
    assert agree.imputations_needed() == 2
    for bad in (0, 1, -0.1, 1.5, True, "0.05"):
        with pytest.raises(ValueError, match="cv must be a number in"):
            result.imputations_needed(cv=bad)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        result.imputations_needed(alpha=0)


def test_imputations_needed_leaves_out_terms_without_variance():
    # A coefficient fixed by the design (no variance within or between
    # imputations) has no fraction of missing information: pool gives it
    # 2 / (m + 2), which made the rule ask for 69 imputations where the
    # only real term (which the imputations barely move) needs 2.
    result = pool(
        [[1.0, 5.0], [1.0001, 5.0], [0.9999, 5.0], [1.0, 5.0], [1.0, 5.0]],
        [[[0.04, 0.0], [0.0, 0.0]]] * 5,
    )
    assert result.imputations_needed() == 2
    with pytest.raises(ValueError, match="needs the complete-data variances"):
        pool([1.0, 1.4, 1.1]).imputations_needed()


def _labelled_inputs(seed=0, m=4):
    """Estimates of terms a, b, c and each imputation's covariance."""
    rng = np.random.default_rng(seed)
    estimates = rng.normal(size=(m, 3))
    factors = rng.normal(size=(m, 3, 3))
    covariances = factors @ np.swapaxes(factors, 1, 2) + np.eye(3)
    return estimates, covariances


def test_pool_takes_labelled_variances_of_a_dataframe_of_estimates_by_label():
    pd = pytest.importorskip("pandas")
    estimates, covariances = _labelled_inputs()
    reference = pool(estimates, covariances, names=["a", "b", "c"])
    frame = pd.DataFrame(estimates, columns=["a", "b", "c"])
    order = ["c", "a", "b"]
    # Variances a row per imputation, columns in another order.
    variances = pd.DataFrame(
        np.diagonal(covariances, axis1=1, axis2=2), columns=list("abc")
    )
    by_label = pool(frame, variances[order])
    expected = pool(estimates, np.diagonal(covariances, axis1=1, axis2=2))
    np.testing.assert_array_equal(by_label.std_error, expected.std_error)
    # Covariance matrices as labelled DataFrames (cov_params()), reordered.
    matrices = [
        pd.DataFrame(c, index=list("abc"), columns=list("abc")).loc[order, order]
        for c in covariances
    ]
    result = pool(frame, matrices)
    assert result.names == ["a", "b", "c"]
    np.testing.assert_array_equal(result.total, reference.total)


def test_pool_names_rename_but_do_not_reorder_labelled_terms():
    pd = pytest.importorskip("pandas")
    estimates, covariances = _labelled_inputs()
    series = [pd.Series(e, index=list("abc")) for e in estimates]
    renamed = pool(series, covariances, names=["alpha", "beta", "gamma"])
    assert renamed.names == ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(renamed.estimate, estimates.mean(axis=0))
    message = (
        r"names: 'c', 'a' name other terms .* terms are 'a', 'b', 'c'\)\. names renames"
    )
    with pytest.raises(ValueError, match=message):
        pool(series, covariances, names=["c", "b", "a"])
    with pytest.raises(ValueError, match="names: 'c', 'a' name other terms"):
        pool(pd.DataFrame(estimates, columns=list("abc")), names=["c", "b", "a"])


def test_pool_refuses_a_term_not_estimated_in_some_imputations():
    estimates, covariances = _labelled_inputs(m=5)
    estimates[[1, 3], 2] = 0.0
    covariances[[1, 3], 2, :] = covariances[[1, 3], :, 2] = 0.0
    with pytest.raises(
        ValueError,
        match=(
            r"Term 'c' has a complete-data variance of 0 in "
            r"imputations \[1, 3\] and not in the others.*merge it "
            r"with another"
        ),
    ):
        pool(estimates, covariances, names=["a", "b", "c"])
    # No variance in any imputation (none given, or all zero) is pooled.
    covariances[:, 2, :] = covariances[:, :, 2] = 0.0
    assert pool(estimates, covariances).df[2] == 4.0


def test_fit_and_pool_refuses_the_zero_dummy_of_a_level_absent_from_a_table():
    # statsmodels fits the dummy of a level absent from one completed table
    # (fixed categories) as 0 with variance 0 by its pseudo-inverse: pooled,
    # that 0 would pull the term towards 0 (a reviewer's 2.05 for a true 3).
    pd = pytest.importorskip("pandas")
    smf = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(0)
    n = 60
    tables = []
    for index in range(4):
        g = np.array(["A", "B"] * (n // 2), dtype=object)
        if index != 2:
            g[:3] = "C"
        x = rng.normal(size=n)
        y = x + 3.0 * (g == "C") + rng.normal(size=n)
        tables.append(
            pd.DataFrame(
                {"y": y, "x": x, "g": pd.Categorical(g, categories=list("ABC"))}
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own rank warning
        with pytest.raises(
            ValueError,
            match=(
                r"Term 'g\[T.C\]' has a complete-data variance of 0 in "
                r"imputation \[2\]"
            ),
        ):
            fit_and_pool(lambda d: smf.ols("y ~ x + g", d).fit(), tables)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"alpha": 0.95},
            (
                r"alpha is the intervals' significance level, in \(0, "
                r"0.5\]: 0.05 gives 95% intervals \(mice's conf.level = "
                r"0.95\); got 0.95"
            ),
        ),
        (
            {"variances": [[[1.0, 5.0], [5.0, 1.0]]] * 3},
            (
                r"variances: imputation 0's covariance matrix is not "
                r"positive semi-definite \(an eigenvalue of -4\)"
            ),
        ),
    ],
)
def test_pool_refuses_confidence_levels_and_indefinite_covariances(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pool([[1.0, 2.0], [1.1, 2.1], [0.9, 2.2]], **kwargs)


@pytest.mark.parametrize("smallest, refused", [(-1e-9, False), (-1e-3, True)])
def test_pool_refuses_covariances_negative_beyond_rounding(smallest, refused):
    # A covariance computed by inverting an information matrix of condition
    # number c is positive semi-definite to about c * eps of its size: an
    # eigenvalue of -1e-9 of the largest is such rounding (c ~ 1e7), one of
    # -1e-3 is not.
    rotation = np.array([[0.6, -0.8], [0.8, 0.6]])
    covariance = rotation @ np.diag([1.0, smallest]) @ rotation.T
    covariances = [covariance] * 2
    if refused:
        with pytest.raises(ValueError, match="not positive semi-definite"):
            pool([[1.0, 2.0], [1.2, 1.9]], covariances)
    else:
        result = pool([[1.0, 2.0], [1.2, 1.9]], covariances)
        assert np.all(np.isfinite(result.std_error))


def test_pool_refuses_a_dict_of_estimates():
    with pytest.raises(ValueError, match="estimates: a dict is not taken"):
        pool({"a": [1.0, 2.0]})


@dataclasses.dataclass
class _Results:
    params: np.ndarray
    covariance: np.ndarray

    def cov_params(self):
        return self.covariance


def test_fit_and_pool_refuses_one_table_and_names_the_table_a_fit_failed_on():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    tables = [
        pd.DataFrame(rng.normal(size=(20, 2)), columns=["y", "x"]) for _ in range(3)
    ]
    with pytest.raises(
        ValueError,
        match=(
            r"imputations must be a list of completed tables "
            r"\(multiple_impute's output\), got one table "
            r"\(DataFrame\)"
        ),
    ):
        fit_and_pool(LinearRegression(), tables[0], target="y")
    with pytest.raises(ValueError, match="got one table \\(ndarray\\)"):
        fit_and_pool(LinearRegression(), tables[0].to_numpy(), target=0)

    def fails_on_the_second(table):
        if table is tables[1]:
            raise np.linalg.LinAlgError("Singular matrix")
        return _Results(np.array([table["x"].mean()]), np.eye(1))

    with pytest.raises(np.linalg.LinAlgError) as raised:
        fit_and_pool(fails_on_the_second, tables)
    assert raised.value.__notes__ == [
        "(fit_and_pool: raised by the fit on imputations[1])"
    ]


def test_fit_and_pool_says_a_classifier_target_was_imputed_as_continuous():
    rng = np.random.default_rng(2)
    tables = [
        np.column_stack([rng.integers(2, size=30).astype(float), rng.normal(size=30)])
        for _ in range(3)
    ]
    tables[1][4, 0] = 0.057
    with pytest.raises(
        ValueError,
        match=(
            r"target 0 of imputations\[1\] holds non-integer values "
            r"\(such as 0.057\) for a classifier.*Declare it "
            r"categorical"
        ),
    ):
        fit_and_pool(LogisticRegression(C=np.inf), tables, target=0, n_bootstrap=5)


def test_fit_and_pool_warns_that_a_penalised_model_is_shrunk():
    rng = np.random.default_rng(3)
    tables = []
    for _ in range(3):
        x = rng.normal(size=(80, 1))
        y = (x[:, 0] + rng.logistic(size=80) > 0).astype(int)
        tables.append(np.column_stack([y, x]))
    with pytest.warns(
        UserWarning,
        match=(
            r"LogisticRegression is penalised \(C=1.0\): its "
            r"coefficients are shrunk.*\(C=np.inf\)"
        ),
    ):
        fit_and_pool(
            LogisticRegression(), tables, target=0, n_bootstrap=5, random_state=0
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_and_pool(
            LogisticRegression(C=np.inf),
            tables,
            target=0,
            n_bootstrap=5,
            random_state=0,
        )
        fit_and_pool(
            LinearRegression(), tables, target=1, n_bootstrap=5, random_state=0
        )


def test_pool_takes_polars_variances_by_label():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    estimates = pd.DataFrame({"a": [1.0, 1.2, 0.9], "b": [2.0, 2.1, 2.3]})
    variances = pd.DataFrame({"b": [0.1, 0.2, 0.1], "a": [0.01, 0.02, 0.01]})
    expected = pool(estimates, variances).std_error
    for frame in (estimates, pl.from_pandas(estimates)):
        result = pool(frame, pl.from_pandas(variances))
        np.testing.assert_array_equal(result.std_error, expected)
        assert result.names == ["a", "b"]
    with pytest.raises(ValueError, match="The variances are labelled 'zz', 'qq'"):
        pool(estimates, pl.DataFrame({"zz": [0.1] * 3, "qq": [0.01] * 3}))


def test_fit_and_pool_takes_tables_of_different_lengths():
    # A subgroup analysis: each completed table's rows with x > 0, a few
    # more or fewer in each. The check that refuses one table for the list
    # had made the list one array, which numpy refused.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    tables = []
    for n in (106, 106, 105):
        x = rng.normal(size=n)
        tables.append(pd.DataFrame({"x": x, "y": 2 * x + rng.normal(size=n)}))
    result = fit_and_pool(LinearRegression(), tables, target="y", n_bootstrap=20)
    assert result.names == ["intercept", "x"]
    np.testing.assert_allclose(
        result.estimate[1],
        np.mean([np.polyfit(t["x"], t["y"], 1)[0] for t in tables]),
        rtol=1e-12,
    )


@pytest.mark.parametrize("in_pipeline", [False, True])
def test_fit_and_pool_passes_params_and_resamples_sample_weight(in_pipeline):
    # The reference repeats fit_and_pool's resampling by hand: one
    # RandomState, n rows drawn per refit, table after table; a weight
    # goes with its row. Both sides do the same arithmetic in the same
    # order, hence 1e-12.
    tables = _regression_tables(m=2)
    n = len(tables[0])
    weights = np.random.default_rng(5).uniform(0.5, 2.0, size=n)
    model = LinearRegression()
    params = {"sample_weight": weights}
    if in_pipeline:
        model = make_pipeline(StandardScaler(with_mean=False, with_std=False), model)
        params = {"linearregression__sample_weight": weights}
    result = fit_and_pool(
        model, tables, target=0, n_bootstrap=30, random_state=0, params=params
    )
    rng = np.random.RandomState(0)
    estimates, covariances = [], []
    for table in tables:
        X, y = table[:, 1:], table[:, 0]
        fitted = LinearRegression().fit(X, y, sample_weight=weights)
        estimates.append(np.r_[fitted.intercept_, fitted.coef_])
        draws = []
        for _ in range(30):
            rows = rng.randint(n, size=n)
            refit = LinearRegression().fit(
                X[rows], y[rows], sample_weight=weights[rows]
            )
            draws.append(np.r_[refit.intercept_, refit.coef_])
        covariances.append(np.cov(np.asarray(draws), rowvar=False))
    direct = pool(estimates, covariances, n_samples=n - 3)
    np.testing.assert_allclose(result.estimate, direct.estimate, rtol=1e-12)
    np.testing.assert_allclose(result.total, direct.total, rtol=1e-12)
    unweighted = fit_and_pool(LinearRegression(), tables, target=0, n_bootstrap=2)
    assert not np.allclose(result.estimate, unweighted.estimate)


def test_fit_and_pool_refuses_params_it_cannot_pass():
    tables = _regression_tables(m=2)
    with pytest.raises(TypeError, match="params must be a dict"):
        fit_and_pool(LinearRegression(), tables, target=0, params=[1.0])
    with pytest.raises(TypeError, match="a callable model takes its own"):
        fit_and_pool(lambda t: None, tables, params={"sample_weight": 1.0})


def test_fit_and_pool_default_df_leaves_out_rows_of_weight_zero():
    # R's lm leaves rows of weight 0 out of df.residual: the default
    # complete-data df is the rows of positive weight less the terms (it
    # had counted every row: df 30.2 for 6.75 in the review's case).
    tables = _regression_tables(m=3, n=40)
    weights = np.r_[np.ones(12), np.zeros(28)]
    result = fit_and_pool(
        LinearRegression(),
        tables,
        target=0,
        variance=_ols_covariance,
        params={"sample_weight": weights},
    )
    estimates, covariances = [], []
    for table in tables:
        # The weighted fit is the fit on the 12 rows; the variance function
        # is given the whole table, as fit_and_pool gives it.
        fitted = LinearRegression().fit(table[:12, 1:], table[:12, 0])
        estimates.append(np.r_[fitted.intercept_, fitted.coef_])
        covariances.append(_ols_covariance(fitted, table[:, 1:], table[:, 0]))
    direct = pool(estimates, covariances, n_samples=12 - 3)
    np.testing.assert_allclose(result.estimate, direct.estimate, rtol=1e-10)
    np.testing.assert_allclose(result.df, direct.df, rtol=1e-10)
