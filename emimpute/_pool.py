"""Rubin's rules: estimates from multiply imputed data, pooled.

Each of ``m`` completed tables gives an estimate ``Q_i`` of the quantities of
interest and its (complete-data) variance or covariance ``U_i``. Rubin
(1987) pools them as

- ``Qbar = mean(Q_i)``, the pooled estimate;
- ``Ubar = mean(U_i)``, the within-imputation variance;
- ``B = sum (Q_i - Qbar)(Q_i - Qbar)^T / (m - 1)``, the between-imputation
  variance;
- ``T = Ubar + (1 + 1/m) B``, the total variance.

Per term, with ``b``, ``ubar`` and ``t`` the diagonals: the relative increase
in variance ``riv = (1 + 1/m) b / ubar``, the proportion of the variance due
to the missing data ``lambda = (1 + 1/m) b / t``, and the degrees of freedom
``df_old = (m - 1) / lambda^2`` (Rubin 1987), corrected for small samples
when the complete-data degrees of freedom ``nu_com`` are given (Barnard and
Rubin 1999): ``df_obs = (nu_com + 1) / (nu_com + 3) nu_com (1 - lambda)`` and
``df = 1 / (1 / df_old + 1 / df_obs)``, both with ``lambda`` at least
``1e-4`` (as mice: imputations that agree to the last digits then give a
finite ``df``; ``lambda`` itself is reported unfloored). A term with no
within-imputation variance (``ubar = 0``: no variances given, or zero ones)
has all its variance between imputations, and ``df = m - 1``, Rubin's
``(m - 1) / lambda^2`` at ``lambda = 1``, whatever ``nu_com`` (``df_obs``
would be 0). Terms are matched by name across imputations when the
estimates carry names. The fraction of missing information
is ``fmi = (riv + 2 / (df + 3)) / (1 + riv)``, and intervals are
``Qbar +- t_{df, 1 - alpha/2} sqrt(t)``; the names and the layout of the
tables follow R's mice (``pool``, ``summary``) so that results compare
line by line.
"""

from collections.abc import Mapping
from numbers import Real

import numpy as np

# PoolTable and WaldTest are imported too: results pickled when they were
# defined in this module name it, and still load.
from emimpute._pool_report import PooledResult, PoolTable, WaldTest  # noqa: F401
from emimpute._pool_terms import (
    UNESTIMATED_REMEDY,
    _align_terms,
    _pandas_labels,
    _renamed,
)
from emimpute._rubin import rubin_rules


def pool(estimates, variances=None, *, n_samples=None, alpha=0.05, names=None):
    """Pool estimates from multiply imputed data by Rubin's rules.

    Parameters
    ----------
    estimates : array-like of shape (m,) or (m, n_terms)
        The estimate from each of the ``m`` completed tables: a scalar each,
        or a vector each (a pandas DataFrame's columns name the terms, and
        its labelled variances are taken by them). A list of pandas Series
        (statsmodels' ``params``) is matched by name: every imputation's
        terms are taken in the first one's order by their index (an
        imputation with other terms is refused).

    variances : array-like of shape (m,), (m, n_terms) or (m, n_terms, n_terms), \
            default=None
        The complete-data variance of each estimate (squared standard
        errors), or its covariance matrix. With estimates matched by name,
        a pandas DataFrame (statsmodels' ``cov_params()``) is taken by its
        index and columns, a pandas Series by its index, and any other
        variance in the order of its own imputation's estimate. Without
        them only the between-imputation variance is known: the total
        variance is then ``(1 + 1/m) B``, with ``m - 1`` degrees of freedom.

    n_samples : float, default=None
        The complete-data degrees of freedom ``nu_com`` (mice's ``dfcom``),
        for instance ``n - p`` for a regression with ``p`` coefficients on
        ``n`` rows: gives the Barnard-Rubin small-sample degrees of freedom
        (and Reiter's to :meth:`PooledResult.wald_test`). None for the
        large-sample ones (``nu_com = inf``).

    alpha : float, default=0.05
        The intervals have coverage ``1 - alpha``: the significance level,
        in ``(0, 0.5]`` (mice's ``conf.level`` is ``1 - alpha``).

    names : list of str, default=None
        The terms' names, in the order of the (first imputation's) terms;
        by default the estimates' column names, the first Series' index, or
        ``x0, x1, ...`` (``x`` for a scalar). With labelled estimates it
        renames their terms in order; a name that is another position's
        label is refused (names do not reorder terms).

    Returns
    -------
    result : PooledResult
        With ``summary()``, ``table()`` and ``to_frame()``.

    Raises
    ------
    ValueError
        Fewer than two estimates, estimates of different shapes, variances
        of the wrong shape, negative or non-finite, or ``n_samples <= 0``;
        estimates matched by name whose sets of names differ (the message
        names the first imputation that differs, its missing and extra
        terms, and the usual causes: a category or class absent from one
        completed table, an encoder or a feature selector making other
        columns); a term whose variance is 0 in some imputations and not in
        others (not estimated there: the all-zero dummy of a level absent
        from a completed table); a covariance matrix that is not positive
        semi-definite beyond rounding; ``alpha`` outside ``(0, 0.5]``; a
        dict of estimates; ``names`` that reorder labelled terms.

    See Also
    --------
    multiple_impute : The imputations.
    fit_and_pool : Fit an estimator on every imputation and pool.

    Notes
    -----
    A term whose within-imputation variance ``ubar`` is 0 (no variances
    given, or zero ones) has all its variance between imputations
    (``lambda = 1``): the Barnard-Rubin observed-data part ``df_obs`` is 0
    there and means nothing, so ``df`` is Rubin's large-sample
    ``(m - 1) / lambda^2 = m - 1`` whether ``n_samples`` is given or not.
    When the estimates agree as well, the total variance is 0: ``std_error``
    is 0, ``statistic`` is infinite (``nan`` for an estimate of 0), the
    p-value 0 (``nan``), the interval the estimate itself, ``riv`` and
    ``lambda_`` 0, and ``df`` still ``m - 1``.

    References
    ----------
    Rubin (1987), Multiple Imputation for Nonresponse in Surveys. Wiley.

    Barnard and Rubin (1999), Small-sample degrees of freedom with multiple
    imputation. Biometrika 86(4), 948-955.

    Van Buuren (2018), Flexible Imputation of Missing Data, 2nd ed., sec.
    2.3 and 5.2.

    Examples
    --------
    >>> from emimpute import pool
    >>> result = pool([1.0, 1.2, 0.9, 1.1, 1.3], [0.04, 0.05, 0.04, 0.05, 0.04],
    ...               n_samples=100)
    >>> round(result.estimate, 3), round(result.std_error, 3)
    (1.1, 0.272)
    >>> round(result.df, 1), round(result.fmi, 3)
    (17.2, 0.464)
    >>> print(result.summary())
    term estimate std.error statistic       df      p.value
       x      1.1 0.2720294   4.04368 17.17045 0.0008285564
    """
    if isinstance(estimates, Mapping):
        raise ValueError(
            "estimates: a dict is not taken; pass one estimate per "
            "imputation, as a list (pandas Series, as statsmodels' params, "
            "are matched by name) or as a DataFrame with a row per "
            "imputation and a column per term."
        )
    labels = None
    if hasattr(estimates, "columns"):
        # A pandas or polars DataFrame, a row per imputation: its columns
        # name the terms, and labelled variances are taken by them.
        labels = [str(c) for c in estimates.columns]
        estimates, variances, _ = _align_terms(
            list(np.asarray(estimates.to_numpy(), dtype=float)),
            variances,
            [labels] * len(estimates),
            "estimates[{}]",
        )
    elif isinstance(estimates, list | tuple):
        # A list of pandas Series (statsmodels' params): their terms are
        # matched by their index.
        term_names = [_pandas_labels(e) for e in estimates]
        estimates, variances, labels = _align_terms(
            estimates, variances, term_names, "estimates[{}]"
        )
    names = _renamed(labels, names)
    if hasattr(estimates, "to_numpy"):
        estimates = estimates.to_numpy()
    estimates = list(estimates) if not isinstance(estimates, np.ndarray) else estimates
    if len(estimates) < 2:
        raise ValueError(
            f"estimates: pool needs estimates from at least 2 imputations, got "
            f"{len(estimates)}; impute more than once (n_imputations >= 2)."
        )
    values = _as_estimates(estimates)
    if not np.all(np.isfinite(values)):
        raise ValueError("estimates must be finite.")
    scalar = values.ndim == 1
    m = len(values)
    values = values.reshape(m, -1)
    n_terms = values.shape[1]
    if names is None:
        names = ["x"] if scalar else [f"x{j}" for j in range(n_terms)]
    names = [str(n) for n in names]
    if len(names) != n_terms:
        raise ValueError(f"names: {len(names)} names for {n_terms} terms.")
    if not (isinstance(alpha, Real) and 0.0 < alpha <= 0.5):
        raise ValueError(
            f"alpha is the intervals' significance level, in (0, 0.5]: 0.05 "
            f"gives 95% intervals (mice's conf.level = 0.95); got {alpha!r}."
        )
    if n_samples is None:
        n_samples = np.inf
    elif not (isinstance(n_samples, Real) and n_samples > 0):
        raise ValueError(
            f"n_samples (the complete-data degrees of freedom) must be a "
            f"positive number, got {n_samples!r}."
        )
    n_samples = float(n_samples)
    covariances, variance_form = _as_variances(variances, m, n_terms, scalar)
    _refuse_unestimated_terms(covariances, names)

    per_term, matrices, conf_int = rubin_rules(values, covariances, n_samples, alpha)
    if not np.all(np.isfinite(matrices[2])):
        raise ValueError(
            "The pooled variances overflow float64 (estimates or variances "
            f"as large as {max(np.abs(values).max(), np.abs(covariances).max()):.3g}): "
            "express the terms in larger units (rescale the variables they "
            "are estimated from) and pool again."
        )
    if scalar:
        per_term = [float(a[0]) for a in per_term]
        matrices = [float(a[0, 0]) for a in matrices]
        conf_int = conf_int[0]
    estimate, std_error, riv, lambda_, fmi, df, statistic, p_value = per_term
    within, between, total = matrices
    return PooledResult(
        names=names,
        n_imputations=m,
        estimate=estimate,
        within=within,
        between=between,
        total=total,
        std_error=std_error,
        riv=riv,
        lambda_=lambda_,
        fmi=fmi,
        df=df,
        n_samples=n_samples,
        statistic=statistic,
        p_value=p_value,
        conf_int=conf_int,
        alpha=float(alpha),
        variance_form=variance_form,
    )


def _as_estimates(estimates):
    shapes = {np.shape(e) for e in estimates}
    if len(shapes) > 1:
        raise ValueError(
            "estimates: every imputation's estimate must have the same shape, "
            f"got shapes {sorted(shapes)}; fit the same model on every "
            "completed table."
        )
    values = np.asarray(estimates, dtype=float)
    if values.ndim > 2:
        raise ValueError(
            "estimates must be one scalar or one vector per imputation, shape "
            f"(m,) or (m, n_terms); got shape {values.shape}."
        )
    return values


def _as_variances(variances, m, n_terms, scalar):
    """Each imputation's covariance matrix of the terms, shape ``(m,
    n_terms, n_terms)``, and the form ``variances`` came in: ``"covariance"``
    (matrices), ``"variance"`` (a variance per term: the covariances are
    unknown, and put at 0) or ``"none"``."""
    if variances is None:
        return np.zeros((m, n_terms, n_terms)), "none"
    if isinstance(variances, list | tuple):
        shapes = {np.shape(v) for v in variances}
        if len(shapes) > 1:
            raise ValueError(
                "variances: every imputation's variance must have the same "
                f"shape, got shapes {sorted(shapes)}."
            )
    values = np.asarray(variances, dtype=float)
    expected = [(m,)] if scalar else [(m, n_terms), (m, n_terms, n_terms)]
    if values.shape not in expected:
        raise ValueError(
            f"variances must have shape {' or '.join(map(str, expected))} for "
            f"{m} estimates of {'a scalar' if scalar else f'{n_terms} terms'} "
            f"(one variance, or one covariance matrix, per imputation); got "
            f"shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("variances must be finite.")
    form = "covariance" if values.ndim == 3 else "variance"
    if values.ndim < 3:
        diagonal = values.reshape(m, n_terms)
        values = diagonal[:, :, np.newaxis] * np.eye(n_terms)
    diagonal = np.diagonal(values, axis1=1, axis2=2)
    if np.any(diagonal < 0.0):
        i, j = np.argwhere(diagonal < 0.0)[0]
        raise ValueError(
            f"variances must be non-negative; imputation {i} gives "
            f"{diagonal[i, j]} for term {j}. Pass variances (squared "
            "standard errors), not estimates or log-variances."
        )
    scale = np.maximum(np.abs(values).max(), np.finfo(float).tiny)
    if not np.allclose(values, np.swapaxes(values, 1, 2), atol=1e-10 * scale):
        raise ValueError("variances: the covariance matrices must be symmetric.")
    if form == "covariance":
        eigenvalues = np.linalg.eigvalsh(values)
        largest = np.maximum(np.abs(eigenvalues).max(axis=1), np.finfo(float).tiny)
        # A covariance computed by inverting an information matrix of
        # condition number c is positive semi-definite up to about c * eps
        # of its size: 1e-6 leaves c up to 1e10.
        indefinite = eigenvalues[:, 0] < -PSD_TOLERANCE * largest
        if indefinite.any():
            i = int(np.flatnonzero(indefinite)[0])
            raise ValueError(
                f"variances: imputation {i}'s covariance matrix is not "
                f"positive semi-definite (an eigenvalue of "
                f"{eigenvalues[i, 0]:.3g}): pass each imputation's covariance "
                "matrix of the terms (statsmodels' cov_params()), or only "
                "their variances, shape (m, n_terms)."
            )
    return values, form


# The negative eigenvalue, relative to the largest, that refuses a
# covariance matrix as not positive semi-definite (see _as_variances).
PSD_TOLERANCE = 1e-6
# A term's complete-data variance below this share of its largest over the
# imputations is 0: the term was not estimated there.
UNESTIMATED_SHARE = 1e-10


def _refuse_unestimated_terms(covariances, names):
    """Refuse a term whose complete-data variance is 0 in some imputations
    and not in others.

    A completed table where a category is absent gives its dummy an
    all-zero column: a pseudo-inverse (statsmodels) or a penalty fits it
    as 0 with variance 0, and pooled with the other tables' estimates that
    0 would pull the term towards 0 as if it had been estimated.
    """
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    largest = variances.max(axis=0)
    unestimated = (variances <= UNESTIMATED_SHARE * largest) & (largest > 0.0)
    if unestimated.any():
        j = int(np.flatnonzero(unestimated.any(axis=0))[0])
        where = np.flatnonzero(unestimated[:, j]).tolist()
        raise ValueError(
            f"Term {names[j]!r} has a complete-data variance of 0 in "
            f"imputation{'s' if len(where) > 1 else ''} {where} and not in "
            "the others: it was not estimated there (a category absent from "
            "that completed table gives its dummy a column of zeros, which a "
            "pseudo-inverse or a penalty fits as 0), and pooling that 0 "
            f"would bias it towards 0. {UNESTIMATED_REMEDY}"
        )
