"""mice's D2 and D3: test statistics pooled over imputations."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from emimpute import PooledTest, pool_chi2, pool_likelihood_ratio


def test_d2_equals_the_formula_on_a_hand_checked_example():
    # Statistics 4, 9, 16 (square roots 2, 3, 4: mean 3, sample variance 1),
    # k = 2, m = 3, by hand: r2 = (1 + 1/3) 1 = 4/3; mean 29/3, so D2 =
    # (29/6 - (4/2)(4/3)) / (1 + 4/3) = 13/14; v2 = 2^(-1) 2 (1 + 3/4)^2 =
    # 49/16. Rounding only (a few operations on exact binary fractions and
    # thirds: 1e-15 relative; 1e-12 claimed).
    test = pool_chi2([4.0, 9.0, 16.0], df=2)
    assert isinstance(test, PooledTest)
    assert test.method == "D2"
    assert test.riv == pytest.approx(4.0 / 3.0, rel=1e-12)
    assert test.statistic == pytest.approx(13.0 / 14.0, rel=1e-12)
    assert test.df1 == 2
    assert test.df2 == pytest.approx(49.0 / 16.0, rel=1e-12)
    expected = stats.f.sf(13.0 / 14.0, 2, 49.0 / 16.0)
    assert test.p_value == pytest.approx(expected, rel=1e-12)


def test_d2_equals_the_formula_on_random_statistics():
    # The textbook formula (van Buuren 2018, sec. 5.3.4) written out
    # independently, for several m and k, non-integer k included.
    rng = np.random.default_rng(0)
    for m, k in [(2, 1), (5, 3), (20, 2.5), (50, 10)]:
        d = rng.chisquare(k, size=m) * rng.uniform(0.5, 2.0, size=m)
        roots = np.sqrt(d)
        r = (1 + 1 / m) * sum((roots - roots.mean()) ** 2) / (m - 1)
        statistic = (d.mean() / k - (m + 1) / (m - 1) * r) / (1 + r)
        v = k ** (-3 / m) * (m - 1) * (1 + 1 / r) ** 2
        test = pool_chi2(list(d), df=k)
        assert test.statistic == pytest.approx(statistic, rel=1e-12)
        assert test.df2 == pytest.approx(v, rel=1e-12)
        assert test.p_value == pytest.approx(stats.f.sf(statistic, k, v), rel=1e-10)
        assert test.df1 == k


def test_equal_statistics_give_the_complete_data_test():
    # No spread between imputations: r2 = 0, v2 infinite, and the p-value is
    # each table's own chi-squared p-value.
    test = pool_chi2([7.5] * 4, df=3)
    assert test.riv == 0.0
    assert test.df2 == math.inf
    assert test.statistic == pytest.approx(2.5, rel=1e-15)
    assert test.p_value == pytest.approx(stats.chi2.sf(7.5, 3), rel=1e-12)


def test_a_negative_statistic_has_p_value_one():
    # Square roots 0 and 4: r2 = 1.5 * 8 = 12, D2 = (8 - 3 * 12) / 13 < 0.
    test = pool_chi2([0.0, 16.0], df=1)
    assert test.statistic == pytest.approx(-28.0 / 13.0, rel=1e-12)
    assert test.p_value == 1.0


def test_prints_as_mice_d2():
    text = str(pool_chi2([4.0, 9.0, 16.0], df=2))
    lines = text.splitlines()
    assert lines[0] == "Pooled chi-squared statistics (Li et al. 1991, D2)"
    assert lines[1].split() == ["test", "statistic", "df1", "df2", "p.value", "riv"]
    assert lines[2].split()[:4] == ["D2", "0.9285714", "2", "3.0625"]
    assert repr(pool_chi2([4.0, 9.0, 16.0], df=2)) == text


@pytest.mark.parametrize(
    "statistics, df, match",
    [
        ([3.0], 1, "at least two"),
        ([[3.0, 4.0]], 1, "shape"),
        ([3.0, -1.0], 1, "non-negative"),
        ([3.0, np.nan], 1, "finite"),
        ([3.0, np.inf], 1, "finite"),
        ([3.0, 4.0], 0, "df must be a positive finite number"),
        ([3.0, 4.0], -2, "df must be a positive finite number"),
        ([3.0, 4.0], True, "df must be a positive finite number"),
        ([3.0, 4.0], "2", "df must be a positive finite number"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(statistics, df, match):
    with pytest.raises(ValueError, match=match):
        pool_chi2(statistics, df=df)


class _Fit:
    """A fitted model's results as pool_likelihood_ratio reads them: llf,
    params and model.loglike (scripted values)."""

    def __init__(self, llf, params, at_pooled):
        self.llf = llf
        self.params = np.asarray(params, dtype=float)
        self.model = self
        self._at_pooled = at_pooled
        self.evaluated_at = None

    def loglike(self, params):
        params = np.asarray(params, dtype=float)
        if np.array_equal(params, self.params):
            return self.llf  # at its own estimates: its llf
        self.evaluated_at = params
        return self._at_pooled


def test_d3_equals_meng_and_rubin_on_a_hand_checked_example():
    # m = 3 tables, full model with 3 parameters, null with 1 (k = 2).
    # Likelihood ratios at each table's own estimates: 2 (llf - llf0) =
    # 12, 10, 14 (mean 12); at the pooled estimates: 11, 9, 10 (mean 10).
    # By hand: r3 = (m + 1) / (k (m - 1)) (12 - 10) = 4 / 4 * 2 = 2; D3 =
    # 10 / (2 (1 + 2)) = 5/3; t = k (m - 1) = 4, so v3 = t (1 + 1/k) (1 +
    # 1/r3)^2 / 2 = 4 * 1.5 * 2.25 / 2 = 6.75.
    own = [(-50.0, -56.0), (-40.0, -45.0), (-60.0, -67.0)]
    pooled = [(-51.0, -56.5), (-41.0, -45.5), (-61.0, -66.0)]
    full = [
        _Fit(f, [1.0 + i, 2.0 + i * i, 3.0 * i], p)
        for i, ((f, _), (p, _)) in enumerate(zip(own, pooled, strict=True))
    ]
    null = [
        _Fit(n, [0.5 * i + 0.1 * i * i], p0)
        for i, ((_, n), (_, p0)) in enumerate(zip(own, pooled, strict=True))
    ]
    test = pool_likelihood_ratio(full, null)
    assert test.method == "D3"
    assert test.df1 == 2
    assert test.riv == pytest.approx(2.0, rel=1e-12)
    assert test.statistic == pytest.approx(5.0 / 3.0, rel=1e-12)
    assert test.df2 == pytest.approx(6.75, rel=1e-12)
    assert test.p_value == pytest.approx(stats.f.sf(5.0 / 3.0, 2, 6.75), rel=1e-12)
    # Each model's likelihood is evaluated at its own pooled parameters.
    for fit in full:
        np.testing.assert_allclose(fit.evaluated_at, [2.0, 11 / 3, 3.0], rtol=1e-15)
    for fit in null:
        np.testing.assert_allclose(fit.evaluated_at, [2 / 3], rtol=1e-15)
    # A variance increase estimated below 0 is 0: the chi-squared reference.
    # The full fits' roles swapped (own 11, 9, 10; at the pooled estimates
    # 13, 11, 12, the null model having no parameter: its own llf), so r3 =
    # 4 / 2 (10 - 12) < 0.
    swapped = pool_likelihood_ratio(
        [
            _Fit(p, [1.0 + i * i], f)
            for i, ((f, _), (p, _)) in enumerate(zip(own, pooled, strict=True))
        ],
        [_Fit(p0, [], n) for (_, n), (_, p0) in zip(own, pooled, strict=True)],
    )
    assert swapped.riv == 0.0 and swapped.df2 == math.inf
    assert swapped.statistic == pytest.approx(12.0, rel=1e-12)  # 12 / (k = 1)
    assert swapped.p_value == pytest.approx(stats.chi2.sf(12.0, 1), rel=1e-12)


def test_d3_of_identical_tables_is_the_complete_data_likelihood_ratio_test():
    # Imputations that agree: every table's fit is the complete-data one,
    # so D3 k is statsmodels' own likelihood-ratio statistic against the
    # intercept-only model (llr), and the p-value its llr_pvalue.
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(0)
    X = sm.add_constant(rng.normal(size=(300, 3)))
    y = (X @ [0.2, 1.0, -0.5, 0.0] + rng.logistic(size=300) > 0).astype(float)
    fit = sm.Logit(y, X).fit(disp=0)
    null = sm.Logit(y, X[:, :1]).fit(disp=0)
    test = pool_likelihood_ratio([fit] * 4, [null] * 4)
    assert test.riv == 0.0 and test.df2 == math.inf
    assert test.df1 == 3
    # The same log-likelihoods at the same parameters: rounding only.
    assert test.statistic * 3 == pytest.approx(2 * (fit.llf - null.llf), rel=1e-12)
    # statsmodels' llr takes the null model's log-likelihood from a fit of
    # its own, converged to about 1e-9: 5e-10 apart here.
    assert test.statistic * 3 == pytest.approx(fit.llr, rel=1e-8)
    assert test.p_value == pytest.approx(fit.llr_pvalue, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_d3_on_multiple_imputations_is_close_to_the_wald_test(seed):
    # A linear model on 500 rows, 15% of the covariates missing at random,
    # two small coefficients tested: the likelihood-ratio and Wald tests of
    # the same coefficients are asymptotically one test, so D3 and D1
    # agree but for the complete-data tests' own ratio (LR / W = 0.976-1.0
    # on these data sets before deletion: 1 - O(effect^2)) and the
    # imputations' noise in r3 against r1 (m = 20). Measured: D3 / D1 =
    # 0.93-1.0, r3 / r1 = 1.03-1.24; allowed: 10% and a factor 1.5.
    sm = pytest.importorskip("statsmodels.api")
    from emimpute import fit_and_pool, multiple_impute

    rng = np.random.default_rng(seed)
    n = 500
    correlation = [[1, 0.5, 0.3], [0.5, 1, 0.2], [0.3, 0.2, 1]]
    X = rng.multivariate_normal([0, 0, 0], correlation, n)
    y = 1.0 + X @ [0.1, 0.1, 0.0] + rng.normal(size=n)
    X[rng.random(X.shape) < 0.15] = np.nan
    tables = multiple_impute(np.column_stack([y, X]), 20, random_state=0)
    full = [sm.OLS(t[:, 0], sm.add_constant(t[:, 1:])).fit() for t in tables]
    null = [sm.OLS(t[:, 0], sm.add_constant(t[:, 3:])).fit() for t in tables]
    d3 = pool_likelihood_ratio(full, null)
    d1 = fit_and_pool(
        lambda t: sm.OLS(t[:, 0], sm.add_constant(t[:, 1:])).fit(), tables
    ).wald_test([1, 2])
    assert d3.df1 == d1.df1 == 2
    assert d3.statistic == pytest.approx(d1.statistic, rel=0.1)
    assert 1 / 1.5 < d3.riv / d1.riv < 1.5


def test_d3_of_linear_models_holds_the_pooled_error_variance_fixed():
    # Meng and Rubin evaluate each table's log-likelihood at the pooled
    # estimates of every parameter, the error variance of a linear model
    # included (mitml: the mean of the tables' ssr / n): here the Gaussian
    # log-likelihood written out, against statsmodels' OLS fits. Rounding
    # only (sums of 120 terms of order 1: 1e-12 relative claimed).
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    n, m = 120, 4
    tables = []
    for _ in range(m):
        X = rng.normal(size=(n, 3))
        tables.append((1.0 + X @ [0.3, 0.2, 0.1] + rng.normal(size=n), X))
    full = [sm.OLS(y, sm.add_constant(X)).fit() for y, X in tables]
    null = [sm.OLS(y, sm.add_constant(X[:, 2:])).fit() for y, X in tables]

    def gaussian(y, design, beta, variance):
        residual = y - design @ beta
        return -0.5 * (
            n * np.log(2 * np.pi * variance) + residual @ residual / variance
        )

    beta = np.mean([f.params for f in full], axis=0)
    beta0 = np.mean([f.params for f in null], axis=0)
    variance = np.mean([f.ssr / n for f in full])
    variance0 = np.mean([f.ssr / n for f in null])
    own = [2 * (f.llf - f0.llf) for f, f0 in zip(full, null, strict=True)]
    at_pooled = [
        2
        * (
            gaussian(y, sm.add_constant(X), beta, variance)
            - gaussian(y, sm.add_constant(X[:, 2:]), beta0, variance0)
        )
        for y, X in tables
    ]
    k = 2
    r3 = max(0.0, (m + 1) / (k * (m - 1)) * (np.mean(own) - np.mean(at_pooled)))
    test = pool_likelihood_ratio(full, null)
    assert r3 > 0
    assert test.riv == pytest.approx(r3, rel=1e-10)
    assert test.statistic == pytest.approx(
        np.mean(at_pooled) / (k * (1 + r3)), rel=1e-10
    )


def test_d3_refuses_a_model_whose_loglike_does_not_give_its_llf():
    # statsmodels' Gaussian GLM evaluates loglike at its Pearson scale while
    # its llf takes the maximum-likelihood one: its log-likelihood at the
    # pooled parameters is not D3's, and the call says what to do instead.
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(0)
    X = sm.add_constant(rng.normal(size=(60, 2)))
    y = X @ [1.0, 0.5, 0.2] + rng.normal(size=60)
    fit = sm.GLM(y, X).fit()
    null = sm.GLM(y, X[:, :1]).fit()
    with pytest.raises(ValueError, match=r"fits\[0\].*OLS.*wald_test"):
        pool_likelihood_ratio([fit, fit], [null, null])


def test_d3_refuses_bad_input_naming_the_argument():
    fit = _Fit(-10.0, [1.0, 2.0], -10.5)
    null = _Fit(-12.0, [1.0], -12.2)
    with pytest.raises(ValueError, match="same m >= 2"):
        pool_likelihood_ratio([fit], [null])
    with pytest.raises(ValueError, match="same m >= 2"):
        pool_likelihood_ratio([fit, fit], [null, null, null])
    with pytest.raises(ValueError, match="nested"):
        pool_likelihood_ratio([null, null], [fit, fit])
    with pytest.raises(ValueError, match="fits: the fits have parameters of different"):
        pool_likelihood_ratio([fit, _Fit(-10.0, [1.0, 2.0, 3.0], -10.5)], [null, null])
    with pytest.raises(TypeError, match=r"null_fits\[1\] must be a fitted model"):
        pool_likelihood_ratio([fit, fit], [null, object()])
    pd = pytest.importorskip("pandas")
    named = _Fit(-10.0, [1.0, 2.0], -10.5)
    named.params = pd.Series([1.0, 2.0], index=["Intercept", "x"])
    other = _Fit(-10.0, [1.0, 2.0], -10.5)
    other.params = pd.Series([1.0, 2.0], index=["Intercept", "z"])
    with pytest.raises(ValueError, match=r"fits\[1\] has other parameters"):
        pool_likelihood_ratio([named, other], [null, null])


def _tables(seed=0, n=300, m=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    levels = np.argmax(X[:, :2] @ rng.normal(size=(2, 3)) + rng.gumbel(size=(n, 3)), 1)
    tables = []
    for _ in range(m):
        T = X + 0.1 * rng.normal(size=X.shape)  # imputations that differ a little
        tables.append(T)
    return tables, levels


def test_d3_reads_formula_fits_as_array_fits():
    # A formula MNLogit carries its parameters as a DataFrame (terms by
    # outcome levels), which its loglike cannot take as such: D3 reads the
    # values, and gives what the same fits on plain arrays give.
    sm = pytest.importorskip("statsmodels.api")
    smf = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    tables, levels = _tables()
    frames = [pd.DataFrame(t, columns=["a", "b", "c"]).assign(y=levels) for t in tables]
    formula = pool_likelihood_ratio(
        [smf.mnlogit("y ~ a + b + c", f).fit(disp=0) for f in frames],
        [smf.mnlogit("y ~ c", f).fit(disp=0) for f in frames],
    )
    arrays = pool_likelihood_ratio(
        [sm.MNLogit(levels, sm.add_constant(t)).fit(disp=0) for t in tables],
        [sm.MNLogit(levels, sm.add_constant(t[:, 2:])).fit(disp=0) for t in tables],
    )
    assert formula.df1 == arrays.df1 == 4
    # The same fits, by the same optimiser: rounding only.
    assert formula.statistic == pytest.approx(arrays.statistic, rel=1e-9)
    assert formula.riv == pytest.approx(arrays.riv, rel=1e-6, abs=1e-12)


def test_d3_checks_that_the_models_can_be_nested():
    # Labelled terms that the full model lacks ("y ~ a + b" against "y ~
    # c") warn: not nested, or nested under another coding (cell means:
    # "y ~ C(g) - 1" against "y ~ 1", which must still compute). A null
    # model of another kind, or fit to another outcome, is no nested model
    # whatever its terms: refused.
    sm = pytest.importorskip("statsmodels.api")
    smf = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    tables, levels = _tables()
    binary = (levels > 0).astype(float)
    frames = [
        pd.DataFrame(t, columns=["a", "b", "c"]).assign(y=binary, g=levels)
        for t in tables
    ]
    full = [smf.logit("y ~ a + b", f).fit(disp=0) for f in frames]
    null = [smf.logit("y ~ c", f).fit(disp=0) for f in frames]
    with pytest.warns(UserWarning, match=r"terms \['c'\] are not among"):
        pool_likelihood_ratio(full, null)
    cells = [smf.ols("a ~ C(g) - 1", f).fit() for f in frames]
    mean = [smf.ols("a ~ 1", f).fit() for f in frames]
    with pytest.warns(UserWarning, match="coded otherwise"):
        test = pool_likelihood_ratio(cells, mean)
    assert test.df1 == 2
    logit = [sm.Logit(binary, sm.add_constant(t)).fit(disp=0) for t in tables]
    probit = [sm.Probit(binary, sm.add_constant(t[:, 2:])).fit(disp=0) for t in tables]
    with pytest.raises(ValueError, match="Probit model and fits.0. a Logit"):
        pool_likelihood_ratio(logit, probit)
    other = [
        sm.Logit(1 - binary, sm.add_constant(t[:, 2:])).fit(disp=0) for t in tables
    ]
    with pytest.raises(ValueError, match="another outcome"):
        pool_likelihood_ratio(logit, other)


def test_d3_refuses_fits_that_are_no_maximum_likelihood_estimates():
    # A fit whose optimiser stopped short, a model without a likelihood
    # (QuantReg: llf NaN) and one whose llf statsmodels cannot compute
    # (RLM: NotImplementedError) are refused, each saying why.
    sm = pytest.importorskip("statsmodels.api")
    tables, levels = _tables()
    binary = (levels > 0).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        short = [
            sm.Logit(binary, sm.add_constant(t)).fit(disp=0, method="nm", maxiter=5)
            for t in tables
        ]
    null = [sm.Logit(binary, sm.add_constant(t[:, 2:])).fit(disp=0) for t in tables]
    with pytest.raises(ValueError, match=r"fits\[0\] did not converge"):
        pool_likelihood_ratio(short, null)
    y = tables[0][:, 0] + np.random.default_rng(0).normal(size=len(levels))
    quantile = [sm.QuantReg(y, sm.add_constant(t[:, 1:])).fit() for t in tables]
    with pytest.raises(ValueError, match="no finite log-likelihood"):
        pool_likelihood_ratio(quantile, quantile)
    robust = [sm.RLM(y, sm.add_constant(t[:, 1:])).fit() for t in tables]
    with pytest.raises(TypeError, match=r"fits\[0\] must be a fitted model"):
        pool_likelihood_ratio(robust, robust)


def test_d3_refuses_models_whose_scale_it_cannot_hold():
    # WLS's loglike profiles its scale out and a GLM with an estimated
    # dispersion re-estimates it at any parameters: neither holds the scale
    # at its pooled value, as Meng and Rubin's statistic needs. A GLM whose
    # scale is fixed (binomial) is D3's case, and gives Logit's statistic.
    sm = pytest.importorskip("statsmodels.api")
    tables, levels = _tables()
    y = np.exp(0.3 * tables[0][:, 0]) + 1.0
    binary = (levels > 0).astype(float)
    cases = {
        "WLS": lambda t, X: sm.WLS(y, X, weights=np.ones(len(y))).fit(),
        "Gamma": lambda t, X: sm.GLM(
            y, X, family=sm.families.Gamma(sm.families.links.Log())
        ).fit(),
        "X2": lambda t, X: sm.GLM(
            np.round(y).astype(float), X, family=sm.families.Poisson()
        ).fit(scale="X2"),
    }
    for fit in cases.values():
        full = [fit(t, sm.add_constant(t)) for t in tables]
        null = [fit(t, sm.add_constant(t[:, 2:])) for t in tables]
        with pytest.raises(ValueError, match="OLS.*wald_test"):
            pool_likelihood_ratio(full, null)
    binomial = sm.families.Binomial()
    glm = pool_likelihood_ratio(
        [sm.GLM(binary, sm.add_constant(t), family=binomial).fit() for t in tables],
        [
            sm.GLM(binary, sm.add_constant(t[:, 2:]), family=binomial).fit()
            for t in tables
        ],
    )
    logit = pool_likelihood_ratio(
        [sm.Logit(binary, sm.add_constant(t)).fit(disp=0) for t in tables],
        [sm.Logit(binary, sm.add_constant(t[:, 2:])).fit(disp=0) for t in tables],
    )
    # Two optimisers (IRLS and Newton) of one likelihood, converged to 1e-8.
    assert glm.statistic == pytest.approx(logit.statistic, rel=1e-6)


def test_d2_of_a_vanishing_spread_is_the_chi_squared_limit():
    # r2 of 1e-300 overflowed (1 + 1/r2)^2: the limit, an infinite df2 and
    # the chi-squared p-value, as for equal statistics.
    test = pool_chi2([0.0, 1e-300], df=1)
    assert test.df2 == math.inf
    assert np.isfinite(test.p_value)
    with pytest.raises(ValueError, match="positive finite number"):
        pool_chi2([3.0, 4.0], df=math.inf)
