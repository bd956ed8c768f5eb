"""Test statistics from multiply imputed data, pooled: mice's D2 and D3.

The Wald test of pooled terms (:meth:`PooledResult.wald_test`, mice's
``D1``) needs each completed table's estimates and their covariance. Two
other rules pool what an analysis gives when those are not at hand, as
R's mice (``D2()``, ``D3()``) and mitml (``testModels``) do:

- :func:`pool_chi2`, one chi-squared statistic per table (a test of
  independence of two categorical columns, a likelihood-ratio test whose
  fits are gone): Li, Meng, Raghunathan and Rubin (1991). It asks least of
  the analysis and is the least powerful.
- :func:`pool_likelihood_ratio`, nested models fit on every table (a
  categorical predictor's likelihood-ratio test in a logistic regression):
  Meng and Rubin (1992), from each table's log-likelihoods at its own
  estimates and at the pooled ones.
"""

import inspect
import math
import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np

from emimpute._pool_report import _format_table
from emimpute._rubin import f_p_value, f_reference

# How each rule is named when printed.
_TITLES = {
    "D2": "Pooled chi-squared statistics (Li et al. 1991, D2)",
    "D3": "Pooled likelihood-ratio test (Meng and Rubin 1992, D3)",
}


@dataclass(frozen=True)
class PooledTest:
    """A test statistic pooled over imputations (mice's D2 or D3).

    Returned by :func:`pool_chi2` and :func:`pool_likelihood_ratio`;
    prints as a one-row table, as R's ``D2()`` and ``D3()`` do.

    Attributes
    ----------
    method : {'D2', 'D3'}
        The rule: chi-squared statistics pooled (Li et al. 1991), or
        likelihood ratios (Meng and Rubin 1992).
    statistic : float
        Referred to an F distribution with ``df1`` and ``df2`` degrees of
        freedom. It can be negative: a D2 where the statistics vary much
        more between imputations than their mean is large, a D3 where the
        pooled parameters fit the null model better than the full one on
        average; its p-value is then 1.
    df1 : int or float
        ``k``, the degrees of freedom of the complete-data test (the number
        of constraints tested).
    df2 : float
        The denominator degrees of freedom: ``inf`` when the imputations
        agree exactly, and for D3 whenever ``r3`` comes out negative and is
        set to 0.
    p_value : float
        ``P(F(df1, df2) > statistic)``.
    riv : float
        The relative increase in variance due to nonresponse that the rule
        estimates (``r2`` or ``r3``).

    Examples
    --------
    >>> from emimpute import pool_chi2
    >>> test = pool_chi2([6.1, 8.3, 5.2, 7.7, 9.0], df=2)
    >>> test.method, round(test.statistic, 3), round(test.df2, 1)
    ('D2', 3.135, 283.9)
    >>> round(test.p_value, 4)
    0.045
    """

    method: str
    statistic: float
    df1: float
    df2: float
    p_value: float
    riv: float

    def __str__(self):
        columns = ["test", "statistic", "df1", "df2", "p.value", "riv"]
        row = [self.method, self.statistic, self.df1, self.df2, self.p_value, self.riv]
        return f"{_TITLES[self.method]}\n" + _format_table(columns, [row])

    def __repr__(self):
        return str(self)


def _degrees_of_freedom(df):
    if not isinstance(df, Real) or isinstance(df, bool) or not 0 < df < math.inf:
        raise ValueError(
            f"df must be a positive finite number, the statistics' degrees "
            f"of freedom (the number of constraints tested), got {df!r}."
        )
    return int(df) if float(df).is_integer() else float(df)


def pool_chi2(statistics, df):
    """Pool one chi-squared test statistic per imputation (mice's D2).

    Parameters
    ----------
    statistics : array-like of shape (m,)
        The statistic of the same test on each of ``m >= 2`` completed
        tables, each chi-squared with ``df`` degrees of freedom under the
        null hypothesis on complete data.

    df : float
        ``k``, the statistics' degrees of freedom (the number of
        parameters the test constrains), positive and finite.

    Returns
    -------
    test : PooledTest
        ``method='D2'``, ``statistic``, ``df1 = k``, ``df2``, ``p_value``
        and ``riv``.

    Raises
    ------
    ValueError
        If fewer than two statistics are given, or any is negative or not
        finite; if ``df`` is not a positive finite number.

    See Also
    --------
    PooledResult.wald_test : The Wald test of pooled terms (``D1``), more
        powerful where the estimates' covariances are known.
    pool_likelihood_ratio : Likelihood-ratio tests of nested models (``D3``).

    Notes
    -----
    With ``d_l`` the statistics, ``m`` their number and ``k`` their degrees
    of freedom (van Buuren 2018, sec. 5.3.2):

    - ``r2 = (1 + 1/m) s^2``, ``s^2`` the sample variance (divisor
      ``m - 1``) of the ``sqrt(d_l)``;
    - ``D2 = (mean(d_l) / k - (m + 1) / (m - 1) r2) / (1 + r2)``;
    - referred to ``F(k, v2)`` with ``v2 = k^(-3/m) (m - 1) (1 + 1/r2)^2``.

    When the statistics are all equal (``r2 = 0``), ``v2`` is infinite and
    the p-value is that of ``k D2`` (their common value) under a
    chi-squared distribution with ``k`` degrees of freedom. The statistic
    is not truncated at 0 (nor is it by mitml and miceadds): the p-value of
    a negative one is 1. The rule approximates the distribution of the
    statistics' spread between imputations, and is the least powerful of
    the three: van Buuren (2018, sec. 5.3.4) advises ``D1`` or ``D3``
    where the analysis allows them.

    References
    ----------
    Li, Meng, Raghunathan and Rubin (1991), Significance levels from
    repeated p-values with multiply-imputed data. Statistica Sinica 1(1),
    65-92.

    Van Buuren (2018), Flexible Imputation of Missing Data, 2nd ed., secs.
    5.3.2 and 5.3.4.

    Examples
    --------
    A test of independence of two partly missing categorical columns, on
    each of 5 completed tables (3 x 3 contingency tables: ``k = 4``):

    >>> from emimpute import pool_chi2
    >>> print(pool_chi2([11.2, 9.4, 14.8, 10.1, 12.6], df=4))
    Pooled chi-squared statistics (Li et al. 1991, D2)
    test statistic df1      df2    p.value       riv
      D2  2.447899   4 161.6934 0.04843064 0.1157833
    """
    values = np.asarray(statistics, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(
            "statistics must be one chi-squared statistic per imputation, at "
            f"least two (shape (m,)), got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            "statistics must be finite and non-negative (chi-squared values), "
            f"got {values.tolist()!r}."
        )
    df1 = _degrees_of_freedom(df)
    k = float(df1)
    m = len(values)
    riv = (1.0 + 1.0 / m) * float(np.var(np.sqrt(values), ddof=1))
    statistic = (values.mean() / k - (m + 1.0) / (m - 1.0) * riv) / (1.0 + riv)
    # (1 + 1/r2)^2 overflows to inf for r2 below 1e-154: the limit.
    with np.errstate(over="ignore", divide="ignore"):
        df2 = k ** (-3.0 / m) * (m - 1.0) * (1.0 + 1.0 / np.float64(riv)) ** 2
    df2, p_value = f_p_value(statistic, k, df2)
    return PooledTest(
        method="D2",
        statistic=float(statistic),
        df1=df1,
        df2=df2,
        p_value=p_value,
        riv=riv,
    )


# How closely a fit's model.loglike at its own parameters must give its llf
# (rounding of a sum of n terms: 1e-12 relative seen; 1e-8 allowed).
_LLF_AGREEMENT = 1e-8


@dataclass(frozen=True)
class _Fitted:
    """What D3 reads of one fit: its log-likelihood, parameters, the
    function that evaluates the log-likelihood at other parameters, and its
    error variance where that is a parameter (None otherwise)."""

    llf: float
    params: object
    loglike: object
    scale: float | None

    def at(self, params, scale):
        if scale is None:
            return float(self.loglike(params))
        return float(self.loglike(params, scale=scale))


# What D3 refuses, and what to do instead.
_ESTIMATED_SCALE = (
    "a model with an estimated scale other than a linear model fit by OLS "
    "(statsmodels' WLS or GLS, or a GLM whose dispersion is estimated: "
    "Gaussian, Gamma, inverse Gaussian, or scale='X2'), whose log-likelihood "
    "at the pooled parameters would not hold that scale at its pooled value. "
    "Fit a linear model with OLS, or test the terms with "
    "fit_and_pool(...).wald_test (D1)"
)


def _estimated_scale(fit, loglike):
    """The fit's error variance where D3 holds it at its pooled value (a
    linear model fit by OLS: ssr / n); None for a model without one; False
    for one whose scale D3 cannot hold (see ``_ESTIMATED_SCALE``)."""
    if hasattr(fit, "ssr") and hasattr(fit, "nobs"):
        if "scale" not in inspect.signature(loglike).parameters:
            return False  # WLS, GLS: loglike profiles the scale out
        # The maximum-likelihood estimate of the error variance.
        return float(fit.ssr) / float(fit.nobs)
    family = getattr(fit.model, "family", None)
    if family is not None and float(getattr(fit, "scale", 1.0)) != 1.0:
        return False  # a GLM whose dispersion is estimated
    return None


def _read(fit, name):
    """``getattr(fit, name)``, None where absent or where computing it fails
    (statsmodels' RLM raises NotImplementedError for its ``llf``)."""
    try:
        return getattr(fit, name)
    except Exception:
        return None


def _converged(fit):
    """False where the fit says its optimiser did not converge."""
    retvals = _read(fit, "mle_retvals")
    if isinstance(retvals, dict) and retvals.get("converged") is False:
        return False
    return _read(fit, "converged") is not False


def _fitted(fits, argument):
    """Each fit as :class:`_Fitted`, checked to reproduce its own ``llf``."""
    out = []
    for i, fit in enumerate(fits):
        model = _read(fit, "model")
        loglike = _read(model, "loglike")
        llf, params = _read(fit, "llf"), _read(fit, "params")
        if llf is None or params is None or not callable(loglike):
            raise TypeError(
                f"{argument}[{i}] must be a fitted model's results with a "
                "log-likelihood: llf, params and model.loglike(params), as "
                f"statsmodels' results have; got {type(fit).__name__}."
            )
        if not np.isfinite(llf):
            raise ValueError(
                f"{argument}[{i}] has no finite log-likelihood (llf {llf!r}: a "
                "model fit by another criterion, as QuantReg): D3 compares "
                "likelihoods. Test the terms with fit_and_pool(...).wald_test "
                "(D1)."
            )
        if not _converged(fit):
            raise ValueError(
                f"{argument}[{i}] did not converge: D3 needs each table's "
                "maximum-likelihood estimates. Refit with more iterations "
                "(maxiter) or another method."
            )
        scale = _estimated_scale(fit, loglike)
        if scale is False:
            raise ValueError(f"{argument}[{i}] is {_ESTIMATED_SCALE}.")
        item = _Fitted(float(llf), params, loglike, scale)
        # Plain arrays, as the pooled parameters are (a formula fit's
        # DataFrame of MNLogit parameters has no reshape).
        own = item.at(np.asarray(params, dtype=float), scale)
        if not math.isclose(own, item.llf, rel_tol=_LLF_AGREEMENT, abs_tol=1e-10):
            raise ValueError(
                f"{argument}[{i}]: its model.loglike at its own params gives "
                f"{own!r}, not its llf {item.llf!r}: its log-likelihood at "
                "other parameters is not the one its llf measures (statsmodels' "
                "Gaussian GLM, whose llf profiles the scale out, is one), so it "
                "cannot be evaluated at the pooled parameters as D3 needs. Fit "
                "a linear model with OLS, or test the terms with "
                "fit_and_pool(...).wald_test (D1)."
            )
        out.append(item)
    return out


def _check_pairs(fits, null_fits):
    """Each table's two fits: the same kind of model, on the same outcome.

    A null model of another kind (a probit against a logit, a Poisson
    against a negative binomial family) or fit to another outcome is no
    nested model, whatever its parameters; names cannot tell these apart.
    """
    for i, (fit, null) in enumerate(zip(fits, null_fits, strict=True)):
        model, null_model = _read(fit, "model"), _read(null, "model")
        kinds = [type(model), type(null_model)]
        families = [type(_read(m, "family")) for m in (model, null_model)]
        if kinds[0] is not kinds[1] or families[0] is not families[1]:
            raise ValueError(
                f"null_fits[{i}] is a {kinds[1].__name__} model and fits[{i}] a "
                f"{kinds[0].__name__} (families {families[1].__name__} and "
                f"{families[0].__name__}): D3 compares nested models of one "
                "kind. Fit the null model as the full one, without the terms "
                "tested."
            )
        endog, null_endog = _read(model, "endog"), _read(null_model, "endog")
        if endog is not None and null_endog is not None:
            same = np.shape(endog) == np.shape(null_endog) and np.array_equal(
                np.asarray(endog), np.asarray(null_endog)
            )
            if not same:
                raise ValueError(
                    f"null_fits[{i}] is fit to another outcome than fits[{i}]: "
                    "fit both models to the same table's outcome."
                )


def _pooled_scale(fitted):
    """The mean of the fits' error variances, or None where they have none."""
    scales = [f.scale for f in fitted]
    return None if any(v is None for v in scales) else float(np.mean(scales))


def _names(params):
    """The labels of a fit's parameters: its index, and its columns for a
    table of them (MNLogit's); None for an unlabelled array."""
    index = getattr(params, "index", None)
    if index is None:
        return None
    columns = getattr(params, "columns", None)
    return list(index), None if columns is None else list(columns)


def _pooled_params(params, argument):
    """The mean of the imputations' parameters, checked to be the same
    terms (by name when they carry names, as statsmodels' formula fits);
    and their names (None when unlabelled)."""
    names = [_names(p) for p in params]
    for i, other in enumerate(names[1:], start=1):
        if other != names[0]:
            raise ValueError(
                f"{argument}[{i}] has other parameters than {argument}[0] "
                f"({other if other is not None else 'unlabelled'} against "
                f"{names[0] if names[0] is not None else 'unlabelled'}): fit "
                "the same model on every completed table."
            )
    values = [np.asarray(p, dtype=float) for p in params]
    if any(v.shape != values[0].shape for v in values):
        raise ValueError(
            f"{argument}: the fits have parameters of different shapes "
            f"({sorted({v.shape for v in values})}): fit the same model on "
            "every completed table."
        )
    return np.mean(values, axis=0), names[0]


def _labels(names):
    """Every label of :func:`_names`' (index and columns), as a set."""
    index, columns = names
    return set(index) | set(columns or ())


def _check_nested(names, null_names):
    """Warn where the null model's labelled terms are not among the full
    model's: not nested, or nested under another coding (cell means, a
    merged factor), which names cannot tell apart."""
    if names is None or null_names is None:
        return
    extra = sorted(map(str, _labels(null_names) - _labels(names)))
    if extra:
        warnings.warn(
            f"The null model's terms {extra} are not among the full model's: "
            "D3 is meaningful only for nested models. If the null model is "
            "the full one under a constraint coded otherwise (cell means, "
            "merged levels), ignore this; else fit the null model on a subset "
            "of the full model's terms.",
            UserWarning,
            stacklevel=3,
        )


def pool_likelihood_ratio(fits, null_fits):
    """Pool likelihood-ratio tests of nested models over imputations (D3).

    Parameters
    ----------
    fits : sequence of fitted results, length m
        The full model fit on each of ``m >= 2`` completed tables: objects
        with ``llf``, ``params`` and ``model.loglike(params)``, as
        statsmodels' results (``Logit``, ``GLM``, ``OLS``, ... fits).

    null_fits : sequence of fitted results, length m
        The null model, nested in the full one, fit on the same tables in
        the same order.

    Returns
    -------
    test : PooledTest
        ``method='D3'``, ``statistic``, ``df1 = k`` (the number of
        parameters the null model drops), ``df2``, ``p_value`` and
        ``riv``.

    Raises
    ------
    TypeError
        If a fit has no log-likelihood to evaluate (``llf``, ``params``,
        ``model.loglike``).
    ValueError
        If the two sequences differ in length or hold fewer than two fits;
        if the fits of one model have other parameters from one table to
        the next; if the null model does not have fewer parameters, is of
        another kind than the full one or fit to another outcome; if a fit
        did not converge, has no finite log-likelihood, is of a model whose
        scale cannot be held at its pooled value (see the notes), or its
        ``model.loglike`` at its own parameters does not give its ``llf``.

    Warns
    -----
    UserWarning
        If the null model's named terms are not all among the full
        model's.

    See Also
    --------
    PooledResult.wald_test : The Wald test of pooled terms (``D1``).
    pool_chi2 : Chi-squared statistics pooled (``D2``).

    Notes
    -----
    With ``m`` imputations, ``k`` the difference in the number of
    parameters, ``d_l = 2 (l_l(theta_l) - l_l(theta0_l))`` the
    likelihood-ratio statistic of table ``l`` (at its own estimates) and
    ``dt_l = 2 (l_l(theta) - l_l(theta0))`` the same at the pooled
    estimates ``theta`` and ``theta0`` (the means over the tables), Meng
    and Rubin (1992):

    - ``r3 = (m + 1) / (k (m - 1)) (mean(d_l) - mean(dt_l))``, set to 0
      where it comes out negative (a variance increase estimated below 0,
      as mitml's ``ariv = "positive"``; mice and mitml's default keep the
      negative value);
    - ``D3 = mean(dt_l) / (k (1 + r3))``;
    - referred to ``F(k, v3)``, ``v3`` the degrees of freedom of ``D1``
      (Li, Raghunathan and Rubin 1991) with ``r3`` for ``r1``.

    When the imputations agree (no missing data, or none that matters),
    ``r3 = 0`` and ``D3`` is each table's likelihood-ratio statistic over
    ``k``, referred to a chi-squared distribution (``df2`` infinite).

    Every parameter is held at its pooled value, as Meng and Rubin
    define ``dt_l``: a linear model's error variance too (for results with
    ``ssr`` and ``nobs`` whose ``loglike`` takes a ``scale``, statsmodels'
    ``OLS``: the mean over the tables of ``ssr / n``, as mitml pools it).
    mice's ``D3()`` differs: it refits an intercept at the pooled
    coefficients (``fix.coef``), which moved the statistic by about 2% on
    the example below. Models whose scale cannot be so held are refused:
    statsmodels' ``WLS`` and ``GLS`` (their ``loglike`` profiles it out),
    a ``GLM`` whose dispersion is estimated (Gaussian, Gamma, inverse
    Gaussian, or ``scale='X2'``), and any fit whose ``model.loglike`` at
    its own parameters does not give its ``llf``. So are fits that did not
    converge (D3 needs maximum-likelihood estimates), fits without a
    finite log-likelihood, and pairs that cannot be nested: a null model of
    another kind (a probit against a logit) or fit to another outcome.
    Where the parameters carry names (formula fits), a null model with
    terms the full one lacks gets a warning: not nested, or nested under
    another coding (cell means, merged levels), which names cannot tell
    apart; unlabelled parameters are trusted.

    References
    ----------
    Meng and Rubin (1992), Performing likelihood ratio tests with
    multiply-imputed data sets. Biometrika 79(1), 103-111.

    Van Buuren (2018), Flexible Imputation of Missing Data, 2nd ed., sec.
    5.3.3.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> from emimpute import multiple_impute, pool_likelihood_ratio
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> y = (X @ [1.0, 0.5, 0.0] + rng.logistic(size=300) > 0).astype(float)
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> tables = multiple_impute(X, 5, random_state=0)
    >>> full = [sm.Logit(y, sm.add_constant(t)).fit(disp=0) for t in tables]
    >>> null = [sm.Logit(y, sm.add_constant(t[:, :1])).fit(disp=0)
    ...         for t in tables]
    >>> test = pool_likelihood_ratio(full, null)  # do columns 1 and 2 matter?
    >>> test.method, test.df1, bool(test.p_value < 0.01)
    ('D3', 2, True)
    """
    fits, null_fits = list(fits), list(null_fits)
    if len(fits) != len(null_fits) or len(fits) < 2:
        raise ValueError(
            "fits and null_fits must hold the full and the null model's fits "
            "on the same m >= 2 completed tables, in the same order; got "
            f"{len(fits)} and {len(null_fits)}."
        )
    full = _fitted(fits, "fits")
    null = _fitted(null_fits, "null_fits")
    _check_pairs(fits, null_fits)
    pooled, names = _pooled_params([f.params for f in full], "fits")
    pooled_null, null_names = _pooled_params([f.params for f in null], "null_fits")
    _check_nested(names, null_names)
    scale, null_scale = _pooled_scale(full), _pooled_scale(null)
    k = pooled.size - pooled_null.size
    if k <= 0:
        raise ValueError(
            f"null_fits must be of a model nested in that of fits, with fewer "
            f"parameters; got {pooled_null.size} against {pooled.size}."
        )
    m = len(fits)
    own = np.array([2.0 * (f.llf - n.llf) for f, n in zip(full, null, strict=True)])
    at_pooled = np.array(
        [
            2.0 * (f.at(pooled, scale) - n.at(pooled_null, null_scale))
            for f, n in zip(full, null, strict=True)
        ]
    )
    riv = max(0.0, (m + 1.0) / (k * (m - 1.0)) * (own.mean() - at_pooled.mean()))
    statistic = at_pooled.mean() / (k * (1.0 + riv))
    df2, p_value = f_reference(statistic, k, m, riv)
    return PooledTest(
        method="D3",
        statistic=float(statistic),
        df1=int(k),
        df2=df2,
        p_value=p_value,
        riv=float(riv),
    )
