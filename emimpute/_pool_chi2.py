"""Chi-squared statistics from multiply imputed data, pooled: mice's D2.

Where each completed table gives only a chi-squared test statistic (a
likelihood-ratio test of a categorical predictor, a test of independence
in a contingency table, a Wald statistic without its covariance), the
statistics are pooled by the rule of Li, Meng, Raghunathan and Rubin
(1991), the ``D2`` of R's mice (``D2()``), mitml (``testModels(...,
method = "D2")``) and miceadds (``micombine.chisquare``). It needs less than
the Wald test of pooled terms (:meth:`PooledResult.wald_test`, ``D1``) and
is less powerful: prefer ``D1`` where the estimates and their covariances
are available.
"""

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy import stats

from emimpute._pool import _format_table


@dataclass(frozen=True)
class Chi2Test:
    """Chi-squared statistics pooled over imputations, mice's D2.

    Returned by :func:`pool_chi2`; prints as a one-row table, as R's
    ``D2()`` does.

    Attributes
    ----------
    statistic : float
        ``D2``, referred to an F distribution with ``df1`` and ``df2``
        degrees of freedom. It can be negative (when the statistics vary
        much more between imputations than their mean is large); the
        p-value is then 1.
    df1 : int or float
        ``k``, the degrees of freedom of each chi-squared statistic.
    df2 : float
        The denominator degrees of freedom of Li et al. (1991) (``inf``
        when the imputations give equal statistics).
    p_value : float
        ``P(F(df1, df2) > statistic)``.
    riv : float
        ``r2``, the relative increase in variance due to nonresponse,
        estimated from the spread of the statistics' square roots.

    Examples
    --------
    >>> from emimpute import pool_chi2
    >>> test = pool_chi2([6.1, 8.3, 5.2, 7.7, 9.0], df=2)
    >>> round(test.statistic, 3), round(test.df2, 1), round(test.p_value, 4)
    (3.135, 283.9, 0.045)
    """

    statistic: float
    df1: float
    df2: float
    p_value: float
    riv: float

    def __str__(self):
        columns = ["test", "statistic", "df1", "df2", "p.value", "riv"]
        row = ["D2", self.statistic, self.df1, self.df2, self.p_value, self.riv]
        return "Pooled chi-squared statistics (Li et al. 1991, D2)\n" + (
            _format_table(columns, [row])
        )

    def __repr__(self):
        return str(self)


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
        parameters the test constrains), positive.

    Returns
    -------
    test : Chi2Test
        ``statistic`` (``D2``), ``df1 = k``, ``df2``, ``p_value`` and
        ``riv``.

    Raises
    ------
    ValueError
        If fewer than two statistics are given, or any is negative or not
        finite; if ``df`` is not a positive number.

    See Also
    --------
    PooledResult.wald_test : The Wald test of pooled terms (``D1``), more
        powerful where the estimates' covariances are known.

    Notes
    -----
    With ``d_l`` the statistics, ``m`` their number and ``k`` their degrees
    of freedom (van Buuren 2018, sec. 5.3.4):

    - ``r2 = (1 + 1/m) s^2``, ``s^2`` the sample variance (divisor
      ``m - 1``) of the ``sqrt(d_l)``;
    - ``D2 = (mean(d_l) / k - (m + 1) / (m - 1) r2) / (1 + r2)``;
    - referred to ``F(k, v2)`` with ``v2 = k^(-3/m) (m - 1) (1 + 1/r2)^2``.

    When the statistics are all equal (``r2 = 0``), ``v2`` is infinite and
    the p-value is that of ``k D2`` (their common value) under a
    chi-squared distribution with ``k`` degrees of freedom. The statistic
    is not truncated at 0 (miceadds truncates it; mice and mitml do not):
    the p-value of a negative one is 1 either way. The rule approximates
    the distribution of the statistics' spread between imputations; Li et
    al. found its p-values roughly right but conservative or liberal by a
    factor of up to 2 in places, which is why ``D1`` is preferred where it
    applies.

    References
    ----------
    Li, Meng, Raghunathan and Rubin (1991), Significance levels from
    repeated p-values with multiply-imputed data. Statistica Sinica 1(1),
    65-92.

    Van Buuren (2018), Flexible Imputation of Missing Data, 2nd ed., sec.
    5.3.4.

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
    if not isinstance(df, Real) or isinstance(df, bool) or not df > 0:
        raise ValueError(
            f"df must be a positive number, the statistics' degrees of "
            f"freedom (the number of constraints tested), got {df!r}."
        )
    k = float(df)
    m = len(values)
    riv = (1.0 + 1.0 / m) * float(np.var(np.sqrt(values), ddof=1))
    statistic = (values.mean() / k - (m + 1.0) / (m - 1.0) * riv) / (1.0 + riv)
    if riv == 0.0:
        df2 = math.inf
        p_value = stats.chi2.sf(k * statistic, k)
    else:
        df2 = k ** (-3.0 / m) * (m - 1.0) * (1.0 + 1.0 / riv) ** 2
        p_value = stats.f.sf(statistic, k, df2)
    return Chi2Test(
        statistic=float(statistic),
        df1=int(df) if float(df).is_integer() else k,
        df2=float(df2),
        p_value=float(p_value),
        riv=riv,
    )
