"""Rubin's rules arithmetic and the degrees of freedom of pooled tests.

One job: the numbers. Given each imputation's estimates and complete-data
covariances, :func:`rubin_rules` computes the pooled estimate, the within-,
between- and total variance, the relative increase in variance, lambda,
the fraction of missing information, the (Barnard-Rubin) degrees of
freedom, the statistics, p-values and intervals, as set out in
:mod:`emimpute._pool`; :func:`li_df2`, :func:`reiter_df2`,
:func:`f_reference` and :func:`f_p_value` give the F reference of a pooled
test of several terms (mice's D1, D2, D3). Input checks, term names and the
result objects live elsewhere (``_pool``, ``_pool_terms``,
``_pool_report``); this module needs only numpy and scipy.
"""

import numpy as np
from scipy import stats

# The least lambda the degrees of freedom take (mice's barnard.rubin).
LAMBDA_FLOOR = 1e-4


def rubin_rules(values, covariances, n_samples, alpha):
    """Rubin's rules on ``m`` imputations' estimates of ``n_terms`` terms.

    ``values``, shape ``(m, n_terms)``, the estimates; ``covariances``,
    shape ``(m, n_terms, n_terms)``, their complete-data covariance
    matrices; ``n_samples``, the complete-data degrees of freedom (``inf``
    for the large-sample ones); ``alpha``, the intervals' significance
    level. Checked by :func:`~emimpute.pool`, which documents the rules.

    Returns
    -------
    per_term : list of ndarray of shape (n_terms,)
        ``estimate, std_error, riv, lambda_, fmi, df, statistic, p_value``.
    matrices : list of ndarray of shape (n_terms, n_terms)
        ``within, between, total``.
    conf_int : ndarray of shape (n_terms, 2)
    """
    m = len(values)
    # Beyond float64 (estimates of 1e300), an infinity, which pool refuses.
    with np.errstate(over="ignore", invalid="ignore"):
        estimate = values.mean(axis=0)
        within = covariances.mean(axis=0)
        deviations = values - estimate
        between = deviations.T @ deviations / (m - 1)
        total = within + (1.0 + 1.0 / m) * between
    ubar, b, t = (np.diagonal(a).copy() for a in (within, between, total))
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = np.where(b > 0.0, (1.0 + 1.0 / m) * b / ubar, 0.0)
        lambda_ = np.where(t > 0.0, (1.0 + 1.0 / m) * b / t, 0.0)
        # mice's floor (barnard.rubin): imputations that agree to the last
        # digits give a finite df, the one mice prints.
        floored = np.maximum(lambda_, LAMBDA_FLOOR)
        df_old = (m - 1) / floored**2
        if not np.isfinite(n_samples):
            df = df_old
        else:
            df_obs = (n_samples + 1) / (n_samples + 3) * n_samples * (1 - floored)
            df = 1.0 / (1.0 / df_old + 1.0 / df_obs)
        # A term without within-imputation variance (no variances given, or
        # zero ones) has all its variance between imputations: the
        # observed-data part df_obs (0 at lambda = 1) means nothing, and df
        # is the large-sample (m - 1) / lambda^2 = m - 1; also when the
        # estimates agree as well (lambda then 0 / 0).
        df = np.where(ubar > 0.0, df, m - 1.0)
        fmi = np.where(np.isinf(riv), 1.0, (riv + 2.0 / (df + 3.0)) / (1.0 + riv))
        std_error = np.sqrt(t)
        statistic = estimate / std_error
    p_value = 2.0 * stats.t.sf(np.abs(statistic), df)
    half_width = stats.t.ppf(1.0 - alpha / 2.0, df) * std_error
    conf_int = np.column_stack([estimate - half_width, estimate + half_width])
    per_term = [estimate, std_error, riv, lambda_, fmi, df, statistic, p_value]
    matrices = [within, between, total]
    return per_term, matrices, conf_int


def f_reference(statistic, k, m, riv):
    """``(df2, p_value)`` of a pooled test of ``k`` terms (D1, D3).

    The p-value of ``statistic`` under ``F(k, df2)`` with the large-sample
    ``df2`` of :func:`li_df2`.
    """
    return f_p_value(statistic, k, li_df2(k, m, riv))


def li_df2(k, m, riv):
    """The denominator degrees of freedom of Li, Raghunathan and Rubin (1991).

    For ``m`` imputations and an average relative increase in variance
    ``riv``: with ``t = k (m - 1)``, ``4 + (t - 4) (1 + (1 - 2/t) / riv)^2``
    if ``t > 4``, else ``t (1 + 1/k) (1 + 1/riv)^2 / 2``. With ``riv = 0``
    (imputations that agree) it is infinite.
    """
    t = k * (m - 1)
    # A riv of 0 (or below 1e-154, where the square overflows) is the limit.
    with np.errstate(over="ignore", divide="ignore"):
        riv = np.float64(riv)
        if t > 4:
            return 4.0 + (t - 4) * (1.0 + (1.0 - 2.0 / t) / riv) ** 2
        return t * (1.0 + 1.0 / k) * (1.0 + 1.0 / riv) ** 2 / 2.0


def reiter_df2(k, m, riv, n_samples):
    """Small-sample denominator degrees of freedom of a Wald test (D1).

    Reiter's (2007, eqs. 1-2) ``v = 4 + 1/z`` for complete-data degrees of
    freedom ``n_samples``, as R's mitml computes it (and so mice's ``D1``,
    which passes mice's ``dfcom`` to mitml): with ``t = k (m - 1)``,
    ``a = riv t / (t - 2)``, ``v* = (n + 1) / (n + 3) n``,
    ``c1 = v* - 2 (1 + a)``, ``c2 = v* - 4 (1 + a)``,

    ``z = 1/c2 + [a^2 c1 / ((1 + a)^2 c2) + 8 a^2 c1 / ((1 + a) c2^2)
    + 4 a^2 / ((1 + a) c2) + 4 a^2 / (c2 c1) + 16 a^2 c1 / c2^3
    + 8 a^2 / c2^2] / (t - 4)``.

    As ``n`` grows it tends to :func:`li_df2`. The expansion needs
    ``t > 4`` and ``c2 > 0`` (``v* > 4 (1 + a)``); outside them (few
    imputations, or a fraction of missing information too large for the
    sample) it is meaningless (mitml returns it anyway: 4 at ``t = 4``,
    NaN at ``t = 2``, else below 4 or negative), and this returns Barnard
    and Rubin's (1999) combination
    ``1 / (1 / li_df2 + (1 + riv) / v*)`` instead, the degrees of freedom
    :func:`pool` gives a single term (for ``k = 1`` and ``m <= 5`` the
    same number), together with ``False``.

    Returns
    -------
    df2 : float
    reiter : bool
        Whether Reiter's expansion applied.
    """
    t = k * (m - 1)
    v_star = (n_samples + 1.0) / (n_samples + 3.0) * n_samples
    if t > 4:
        a = riv * t / (t - 2.0)
        c1 = v_star - 2.0 * (1.0 + a)
        c2 = v_star - 4.0 * (1.0 + a)
        if c2 > 0.0:
            a2 = a * a
            higher = (
                a2 * c1 / ((1.0 + a) ** 2 * c2)
                + 8.0 * a2 * c1 / ((1.0 + a) * c2**2)
                + 4.0 * a2 / ((1.0 + a) * c2)
                + 4.0 * a2 / (c2 * c1)
                + 16.0 * a2 * c1 / c2**3
                + 8.0 * a2 / c2**2
            )
            return float(4.0 + 1.0 / (1.0 / c2 + higher / (t - 4.0))), True
    with np.errstate(divide="ignore"):
        inverse = 1.0 / li_df2(k, m, riv) + (1.0 + riv) / v_star
    return float(1.0 / inverse), False


def f_p_value(statistic, k, df2):
    """``(df2, p_value)``: ``P(F(k, df2) > statistic)``, and where ``df2``
    is infinite (or overflowed) its limit, the chi-squared probability of
    ``k statistic`` with ``k`` degrees of freedom."""
    if not np.isfinite(df2):
        return np.inf, float(stats.chi2.sf(k * statistic, k))
    return float(df2), float(stats.f.sf(statistic, k, df2))
