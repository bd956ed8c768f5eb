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

import itertools
import math
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import special, stats
from sklearn.base import clone, is_classifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, NuSVC
from sklearn.utils import check_random_state

from emimpute._em._warnings import user_stacklevel

# The least lambda the degrees of freedom take (mice's barnard.rubin).
LAMBDA_FLOOR = 1e-4


def _format_table(columns, rows):
    """Text of a table, numbers with 7 significant digits (as R prints)."""

    def cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, Real) and float(value).is_integer() and abs(value) < 1e15:
            return str(int(value)) if np.isfinite(value) else str(value)
        return f"{value:.7g}"

    body = [[cell(v) for v in row] for row in rows]
    widths = [
        max([len(str(c))] + [len(r[j]) for r in body]) for j, c in enumerate(columns)
    ]
    lines = [" ".join(str(c).rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        " ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in body
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class PoolTable:
    """A table of pooled results: printable, and convertible to pandas.

    Returned by :meth:`PooledResult.summary` and :meth:`PooledResult.table`;
    prints as R's mice prints the same table.

    Attributes
    ----------
    columns : tuple of str
    rows : tuple of tuple
        One row per term, its name first.

    Examples
    --------
    >>> from emimpute import pool
    >>> result = pool([[1.0, 0.5], [1.4, 0.3], [1.1, 0.6]], [[0.04, 0.02]] * 3,
    ...               names=["a", "b"], n_samples=50)
    >>> table = result.summary()
    >>> table.columns
    ('term', 'estimate', 'std.error', 'statistic', 'df', 'p.value')
    >>> print(table)
    term  estimate std.error statistic       df    p.value
       a  1.166667 0.3126944  3.731013 4.436697 0.01683544
       b 0.4666667 0.2260777  2.064187 4.195147  0.1046895
    >>> table.to_frame().shape
    (2, 6)
    """

    columns: tuple
    rows: tuple

    def __post_init__(self):
        # Tuples, so that a frozen table hashes as it compares: by value.
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple(tuple(row) for row in self.rows))

    def __str__(self):
        return _format_table(self.columns, self.rows)

    def __repr__(self):
        return str(self)

    def to_frame(self):
        """The table as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


# Whose denominator degrees of freedom a WaldTest has.
LI_DF2, REITER_DF2, BARNARD_RUBIN_DF2 = (
    "Li et al. 1991",
    "Reiter 2007",
    "Barnard-Rubin 1999",
)


@dataclass(frozen=True)
class WaldTest:
    """A multivariate Wald test of pooled terms, mice's D1.

    Returned by :meth:`PooledResult.wald_test`; prints as a one-row table,
    as R's ``D1()`` does.

    Attributes
    ----------
    terms : tuple of str
        The terms tested, in the order given.
    statistic : float
        ``D1``, referred to an F distribution with ``df1`` and ``df2``
        degrees of freedom.
    df1 : int
        ``k``, the number of terms.
    df2 : float
        The denominator degrees of freedom of Li, Raghunathan and Rubin
        (1991) (``inf`` when the imputations agree exactly on the terms),
        or, when :func:`pool` was given ``n_samples``, Reiter's (2007)
        small-sample ones (see :meth:`PooledResult.wald_test`).
    p_value : float
        ``P(F(df1, df2) > statistic)``.
    riv : float
        ``r1``, the average relative increase in variance due to
        nonresponse over the terms.
    df2_source : str
        Whose ``df2``: 'Li et al. 1991', 'Reiter 2007', or 'Barnard-Rubin
        1999' (Reiter's fallback, see :meth:`PooledResult.wald_test`).

    Examples
    --------
    >>> from emimpute import pool
    >>> result = pool([[1.0, 0.5], [1.4, 0.3], [1.1, 0.6]],
    ...               [[[0.04, 0.01], [0.01, 0.02]]] * 3, names=["a", "b"])
    >>> test = result.wald_test(["a", "b"])
    >>> test.df1, round(test.statistic, 3), round(test.df2, 2)
    (2, 5.552, 6.31)
    >>> round(test.p_value, 4)
    0.0407
    """

    terms: tuple
    statistic: float
    df1: int
    df2: float
    p_value: float
    riv: float
    df2_source: str = LI_DF2

    def __str__(self):
        columns = ["test", "statistic", "df1", "df2", "p.value", "riv"]
        row = ["D1", self.statistic, self.df1, self.df2, self.p_value, self.riv]
        return (
            f"Wald test of {_listed(self.terms)} (D1, Li et al. 1991; df2 "
            f"{self.df2_source})\n" + _format_table(columns, [row])
        )

    def __repr__(self):
        return str(self)


@dataclass(frozen=True, eq=False)
class PooledResult:
    """Estimates pooled over imputations by Rubin's rules.

    Per-term attributes are arrays of shape ``(n_terms,)`` (floats for a
    scalar estimate); variance attributes are ``(n_terms, n_terms)``
    matrices (floats for a scalar estimate). Immutable; ``==`` and ``hash``
    go by identity (two results are equal only if they are the same object;
    compare their attributes with :func:`numpy.allclose` instead).

    Attributes
    ----------
    names : list of str
        The terms' names.
    n_imputations : int
        ``m``.
    estimate : ndarray
        The pooled estimate ``Qbar``.
    within : ndarray
        ``Ubar``, the mean of the complete-data (co)variances.
    between : ndarray
        ``B``, the (co)variance of the estimates over imputations.
    total : ndarray
        ``T = Ubar + (1 + 1/m) B``.
    std_error : ndarray
        ``sqrt(diag(T))``.
    riv : ndarray
        Relative increase in variance due to nonresponse.
    lambda_ : ndarray
        Proportion of the total variance due to the missing data.
    fmi : ndarray
        Fraction of missing information.
    df : ndarray
        Degrees of freedom (Barnard-Rubin when ``n_samples`` was given),
        with ``lambda_`` taken as at least 1e-4, as mice does: finite even
        when the imputations agree exactly. ``m - 1`` for a term whose
        within-imputation variance is 0 (see :func:`pool`).
    n_samples : float
        The complete-data degrees of freedom (``inf`` if not given).
    statistic : ndarray
        ``estimate / std_error``.
    p_value : ndarray
        Two-sided p-value of ``statistic`` under a t distribution with
        ``df`` degrees of freedom.
    conf_int : ndarray of shape (n_terms, 2) or (2,)
        The ``1 - alpha`` confidence intervals.
    alpha : float
    variance_form : {'covariance', 'variance', 'none'}
        What :func:`pool` was given per imputation: covariance matrices,
        variances of each term (their covariances unknown, taken as 0 in
        ``within``), or nothing. :meth:`wald_test` of several terms needs
        covariance matrices.
    """

    names: list
    n_imputations: int
    estimate: np.ndarray
    within: np.ndarray
    between: np.ndarray
    total: np.ndarray
    std_error: np.ndarray
    riv: np.ndarray
    lambda_: np.ndarray
    fmi: np.ndarray
    df: np.ndarray
    n_samples: float
    statistic: np.ndarray
    p_value: np.ndarray
    conf_int: np.ndarray
    alpha: float
    variance_form: str

    def __setstate__(self, state):
        # A result pickled before variance_form was kept: covariances if
        # any is off the diagonal, else variances (wald_test of several
        # terms then asks for the matrices, as it says).
        if "variance_form" not in state:
            state = {**state, "variance_form": _variance_form_of(state["within"])}
        self.__dict__.update(state)

    def _terms(self, name):
        value = getattr(self, name)
        if name in ("within", "between", "total"):
            value = np.diagonal(np.atleast_2d(value))
        return np.atleast_1d(value)

    def summary(self, conf_int=False):
        """The table of R's ``summary(pool(fit))``.

        Parameters
        ----------
        conf_int : bool, default=False
            Add the interval ends (columns named as in mice, e.g. ``2.5 %``
            and ``97.5 %``).

        Returns
        -------
        table : PoolTable
            Columns ``term, estimate, std.error, statistic, df, p.value``;
            prints as mice does, ``to_frame()`` gives a DataFrame.
        """
        columns = ["term", "estimate", "std.error", "statistic", "df", "p.value"]
        parts = [self._terms(n) for n in ("estimate", "std_error", "statistic")]
        parts += [self._terms("df"), self._terms("p_value")]
        if conf_int:
            low, high = 100 * self.alpha / 2, 100 * (1 - self.alpha / 2)
            columns += [f"{low:g} %", f"{high:g} %"]
            bounds = np.atleast_2d(self.conf_int)
            parts += [bounds[:, 0], bounds[:, 1]]
        rows = [
            [name] + [float(p[i]) for p in parts] for i, name in enumerate(self.names)
        ]
        return PoolTable(columns, rows)

    def table(self):
        """The table R's mice prints for ``pool(fit)``.

        Returns
        -------
        table : PoolTable
            Columns ``term, m, estimate, ubar, b, t, dfcom, df, riv, lambda,
            fmi``.
        """
        columns = ["term", "m", "estimate", "ubar", "b", "t", "dfcom", "df"]
        columns += ["riv", "lambda", "fmi"]
        names = ["estimate", "within", "between", "total"]
        parts = [self._terms(n) for n in names]
        parts += [np.full(len(self.names), self.n_samples), self._terms("df")]
        parts += [self._terms(n) for n in ("riv", "lambda_", "fmi")]
        rows = [
            [name, self.n_imputations] + [float(p[i]) for p in parts]
            for i, name in enumerate(self.names)
        ]
        return PoolTable(columns, rows)

    def to_frame(self):
        """The pooled results as a pandas DataFrame, one row per term.

        Returns
        -------
        frame : pandas.DataFrame
            The columns of :meth:`table` then ``std.error``, ``statistic``,
            ``p.value`` and the interval ends, indexed by term.
        """
        frame = self.table().to_frame()
        summary = self.summary(conf_int=True).to_frame()
        for column in summary.columns[2:]:
            if column != "df":
                frame[column] = summary[column].to_numpy()
        return frame.set_index("term")

    def imputations_needed(self, cv=0.05, alpha=0.05):
        """How many imputations make the standard errors reproducible.

        The second stage of von Hippel's (2020) two-stage rule: from these
        pilot imputations, the number ``m`` for which the standard errors of
        two runs of ``m`` imputations would differ by a coefficient of
        variation of about ``cv`` at most, for every term.

        Parameters
        ----------
        cv : float, default=0.05
            The coefficient of variation of the standard errors wanted,
            in (0, 1).

        alpha : float, default=0.05
            The pilot's fraction of missing information is taken at the
            upper end of its ``1 - alpha`` confidence interval, in (0, 1).

        Returns
        -------
        n_imputations : int
            At least 2 (Rubin's rules need two).

        Raises
        ------
        ValueError
            If ``cv`` or ``alpha`` is not in (0, 1); if :func:`pool` was
            given no variances.

        Notes
        -----
        With ``gamma`` the largest fraction of missing information over the
        terms (:attr:`fmi`), ``m`` the pilot's imputations and ``z`` the
        standard normal's ``1 - alpha / 2`` quantile, the upper end
        ``gamma_u = expit(logit(gamma) + z sqrt(2 / m))`` and the number
        ``ceil(1 + (gamma_u / cv)^2 / 2)``, as R's ``howManyImputations``
        computes it from a mice pool. von Hippel recommends a pilot of
        about 20 imputations. Terms without any variance (within or
        between imputations: a coefficient the design fixes) are left out:
        their fraction of missing information is undefined (mice's is NaN,
        which makes ``howManyImputations`` answer NA; here they do not
        count).

        References
        ----------
        Von Hippel (2020), How many imputations do you need? A two-stage
        calculation using a quadratic rule. Sociological Methods & Research
        49(3), 699-718.

        Examples
        --------
        >>> from emimpute import pool
        >>> result = pool([1.0, 1.4, 1.1, 1.2, 0.9], [0.04] * 5)
        >>> round(float(result.fmi), 3)
        0.58
        >>> result.imputations_needed()  # a pilot of 5, fmi 0.58: 138
        138
        """
        for name, value in (("cv", cv), ("alpha", alpha)):
            if (
                not isinstance(value, Real)
                or isinstance(value, bool)
                or not 0 < value < 1
            ):
                raise ValueError(f"{name} must be a number in (0, 1), got {value!r}.")
        if self.variance_form == "none":
            raise ValueError(
                "imputations_needed reads the fraction of missing information, "
                "which needs the complete-data variances, and pool was given "
                "none (every term's fmi is then 1): pass variances to pool, or "
                "use fit_and_pool."
            )
        # A term with no variance at all (a coefficient fixed by the
        # design) has no fraction of missing information (mice: NaN).
        informative = self._terms("total") > 0
        if not informative.any():
            return 2
        gamma = float(np.max(self._terms("fmi")[informative]))
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        with np.errstate(divide="ignore"):
            upper = float(
                special.expit(
                    special.logit(gamma) + z * math.sqrt(2.0 / self.n_imputations)
                )
            )
        return max(2, math.ceil(1.0 + 0.5 * (upper / cv) ** 2))

    def wald_test(self, terms, value=None):
        """Test that several pooled terms are jointly equal to given values.

        The multivariate Wald test of Li, Raghunathan and Rubin (1991),
        mice's ``D1``: for instance, whether a categorical predictor
        matters at all, by testing its dummies together.

        Parameters
        ----------
        terms : str, int, or list of str or int
            The ``k`` terms tested, by name (:attr:`names`) or by index.

        value : float or array-like of shape (k,), default=None
            The values the null hypothesis gives the terms, in the order of
            ``terms`` (one number for all of them); 0 by default.

        Returns
        -------
        test : WaldTest
            ``statistic``, ``df1 = k``, ``df2``, ``p_value``, ``riv`` and
            ``terms``.

        Raises
        ------
        ValueError
            If ``terms`` is empty, names an unknown term or an index out of
            range, or repeats a term; if ``value`` is not one number or
            ``k`` finite numbers; if :func:`pool` was given no variances, or
            (for ``k > 1``) only each term's variance where the test needs
            each imputation's covariance matrix of the terms; if the
            within-imputation covariance of the terms is singular.

        Notes
        -----
        With ``Qbar``, ``Ubar`` and ``B`` the pooled estimate, the mean
        within-imputation covariance and the between-imputation covariance
        of the ``k`` terms (:attr:`estimate`, :attr:`within`,
        :attr:`between`), ``Q0`` the null values and ``m`` the number of
        imputations:

        - ``r1 = (1 + 1/m) tr(B Ubar^-1) / k``;
        - ``D1 = (Qbar - Q0)' Ubar^-1 (Qbar - Q0) / (k (1 + r1))``;
        - referred to ``F(k, v1)`` with, for ``t = k (m - 1)``,
          ``v1 = 4 + (t - 4) (1 + (1 - 2/t) / r1)^2`` if ``t > 4``, else
          ``v1 = t (1 + 1/k) (1 + 1/r1)^2 / 2``.

        The statistic takes the total covariance as ``(1 + r1) Ubar``,
        which assumes that the fraction of missing information is about the
        same for every term tested (``B`` proportional to ``Ubar``); ``B``
        itself, of rank at most ``m - 1``, is not inverted, so the test
        works with fewer imputations than terms. When the imputations agree
        exactly on the terms (``r1 = 0``), ``v1`` is infinite and the
        p-value is that of ``k D1`` under a chi-squared distribution with
        ``k`` degrees of freedom.

        For ``k = 1``, ``D1`` is the square of the pooled term's
        ``statistic`` (``(1 + r1) Ubar = T``) and ``riv`` its ``riv``;
        ``v1`` equals Rubin's large-sample ``(m - 1) (1 + 1/r)^2`` when
        ``t <= 4`` (up to five imputations), so that the p-value is the
        term's then (without ``n_samples``, and with ``lambda_`` above the
        floor of 1e-4 that :func:`pool` puts under it), and differs from it
        beyond. With ``n_samples`` and up to five imputations, ``v1`` is
        the term's Barnard-Rubin ``df`` (with a warning, see below).

        When the complete-data degrees of freedom are known (``n_samples``
        given to :func:`pool`; :func:`fit_and_pool` takes them from the
        model), ``v1`` is instead Reiter's (2007) small-sample degrees of
        freedom, as mice's ``D1``
        computes them through mitml: Li et al.'s ``v1`` does not depend on
        the sample size and can exceed the complete-data degrees of
        freedom, which makes the p-value too small in small samples.
        Reiter's expansion needs ``k (m - 1) > 4`` and a complete-data df
        well above the ``riv``; outside that (where mitml, with a warning
        for ``t <= 4``, returns 4 at ``t = 4`` whatever the data, NaN at
        ``t = 2``, and numbers below 4 or negative otherwise) ``v1`` is
        Barnard and Rubin's combination ``1 / (1/v1 + (1 + r1) / v*)``,
        with ``v* = (n + 1) n / (n + 3)``, with a warning: mice's default of
        five imputations gives ``t = 4`` for one term, so a test of one
        term needs six for Reiter's ``v1``.

        References
        ----------
        Li, Raghunathan and Rubin (1991), Large-sample significance levels
        from multiply imputed data using moment-based statistics and an F
        reference distribution. JASA 86(416), 1065-1073.

        Reiter (2007), Small-sample degrees of freedom for multi-component
        significance tests with multiple imputation for missing data.
        Biometrika 94(2), 502-508.

        Van Buuren (2018), Flexible Imputation of Missing Data, 2nd ed., sec.
        5.3.

        Examples
        --------
        A categorical predictor ``g`` with levels A, B, C enters a
        regression as the dummies ``g[T.B]`` and ``g[T.C]``; the test that
        both are 0 is the test that ``g`` does not matter:

        >>> from emimpute import pool
        >>> estimates = [[0.52, 0.31, 2.0], [0.71, 0.18, 2.1], [0.44, 0.40, 1.9],
        ...              [0.60, 0.22, 2.2], [0.80, 0.35, 1.8]]
        >>> covariance = [[0.04, 0.02, 0.0], [0.02, 0.05, 0.0], [0.0, 0.0, 0.03]]
        >>> result = pool(estimates, [covariance] * 5,
        ...               names=["g[T.B]", "g[T.C]", "x"])
        >>> test = result.wald_test(["g[T.B]", "g[T.C]"])
        >>> print(test)
        Wald test of 'g[T.B]', 'g[T.C]' (D1, Li et al. 1991; df2 Li et al. 1991)
        test statistic df1      df2    p.value      riv
          D1  2.971976   2 24.76823 0.06968339 0.586575
        """
        names = list(self.names)
        if isinstance(terms, str | Integral) and not isinstance(terms, bool):
            terms = [terms]
        terms = list(terms)
        if not terms:
            raise ValueError(
                "terms: give at least one term to test (a name from names, "
                f"{_listed(names)}, or an index)."
            )
        indices = []
        for term in terms:
            if isinstance(term, str):
                if term not in names:
                    raise ValueError(
                        f"terms: {term!r} is not a pooled term; the terms are "
                        f"{_listed(names, limit=20)}."
                    )
                indices.append(names.index(term))
            elif isinstance(term, Integral) and not isinstance(term, bool):
                if not -len(names) <= term < len(names):
                    raise ValueError(
                        f"terms: index {term} is out of range for {len(names)} terms."
                    )
                indices.append(int(term) % len(names))
            else:
                raise ValueError(
                    f"terms must be names (str) or indices (int) of pooled "
                    f"terms, got {term!r}."
                )
        chosen = [names[i] for i in indices]
        if len(set(indices)) < len(indices):
            repeated = [n for j, n in enumerate(chosen) if n in chosen[:j]]
            raise ValueError(
                f"terms: {_listed(repeated)} given more than once; test each term once."
            )
        k = len(indices)
        if value is None:
            value = np.zeros(k)
        value = np.asarray(value, dtype=float)
        if value.ndim == 0:
            value = np.full(k, float(value))
        if value.shape != (k,) or not np.all(np.isfinite(value)):
            raise ValueError(
                f"value must be one finite number or {k} (one per term tested, "
                f"in the order of terms), got {value.tolist()!r}."
            )
        if self.variance_form == "none":
            raise ValueError(
                "wald_test needs the complete-data variances, and pool was "
                "given none: pass variances to pool (each imputation's "
                "covariance matrix of the terms, shape (m, n_terms, n_terms), "
                "as statsmodels' cov_params()), or use fit_and_pool."
            )
        if self.variance_form == "variance" and k > 1:
            raise ValueError(
                f"wald_test of {k} terms needs each imputation's covariance "
                "matrix of the terms, and pool was given only their variances "
                "(their covariances are unknown): pass variances of shape "
                "(m, n_terms, n_terms) to pool (statsmodels' cov_params(), or "
                "a covariance matrix from variance=callable in fit_and_pool), "
                "or test one term at a time."
            )
        block = np.ix_(indices, indices)
        within = np.atleast_2d(self.within)[block]
        between = np.atleast_2d(self.between)[block]
        deviation = np.atleast_1d(self.estimate)[indices] - value
        try:
            # The Cholesky factor refuses a singular or indefinite Ubar,
            # where solve might return noise.
            np.linalg.cholesky(within)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"The within-imputation covariance of {_listed(chosen)} is "
                "singular: a term has no complete-data variance, or some are "
                "linear combinations of others (every dummy of a category "
                "with the intercept). Test terms with a positive definite "
                "covariance."
            ) from None
        m = self.n_imputations
        riv = (1.0 + 1.0 / m) * np.trace(np.linalg.solve(within, between)) / k
        statistic = deviation @ np.linalg.solve(within, deviation) / (k * (1 + riv))
        source = LI_DF2
        if np.isfinite(self.n_samples):
            df2, reiter = reiter_df2(k, m, riv, self.n_samples)
            source = REITER_DF2 if reiter else BARNARD_RUBIN_DF2
            if not reiter:
                t = k * (m - 1)
                cause = (
                    f"k (m - 1) > 4, here {t}: use at least {4 // k + 2} imputations"
                    if t <= 4
                    else f"a complete-data df large beside the riv ({riv:.3g}), "
                    "(n + 1) n / (n + 3) > 4 (1 + riv t / (t - 2)) for "
                    f"n = n_samples = {self.n_samples:g} and t = k (m - 1) = {t}"
                )
                warnings.warn(
                    f"wald_test: Reiter's small-sample degrees of freedom need "
                    f"{cause}. df2 = {df2:.4g} is Barnard and Rubin's "
                    "combination of the large-sample and the observed-data "
                    "degrees of freedom instead.",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
            df2, p_value = f_p_value(statistic, k, df2)
        else:
            df2, p_value = f_reference(statistic, k, m, riv)
        return WaldTest(
            terms=tuple(chosen),
            statistic=float(statistic),
            df1=k,
            df2=float(df2),
            p_value=float(p_value),
            riv=float(riv),
            df2_source=source,
        )

    def __str__(self):
        return str(self.table())

    def __repr__(self):
        return f"Class: PooledResult  m = {self.n_imputations}\n{self.table()}"


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


def _variance_form_of(within):
    """The ``variance_form`` a pooled ``within`` implies, where it was not
    kept: covariances if any is off the diagonal, else variances (or none,
    all zero)."""
    within = np.atleast_2d(within)
    if not within.any():
        return "none"
    off_diagonal = within - np.diag(np.diag(within))
    return "covariance" if off_diagonal.any() else "variance"


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


def _renamed(labels, names):
    """The terms' names: ``names`` when given (renaming the terms in their
    order), else the estimates' own ``labels`` (None without them).

    Raises
    ------
    ValueError
        If ``names`` lists one of the labels at another position: names
        rename terms by position, they do not reorder them.
    """
    if names is None:
        return labels
    names = [str(n) for n in names]
    if labels is None:
        return names
    moved = [n for j, n in enumerate(names) if n in labels and labels.index(n) != j]
    if moved:
        raise ValueError(
            f"names: {_listed(moved)} name{'s' if len(moved) == 1 else ''} "
            "other terms of the estimates than the ones at "
            f"{'its' if len(moved) == 1 else 'their'} position (the estimates' "
            f"terms are {_listed(labels)}). names renames the terms in their "
            "order, and does not reorder them: leave it out to keep the "
            "estimates' labels."
        )
    return names


def _pandas_labels(values):
    """The labels of a pandas Series (its index), as strings; None for other
    input (arrays, lists, polars: their values go by position)."""
    if hasattr(values, "to_numpy") and hasattr(values, "index"):
        return [str(label) for label in values.index]
    return None


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


def _listed(names, limit=8):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# What to do about a level or class that some completed tables lack: its
# term cannot be estimated from them, whether it is dropped (other terms)
# or kept as a column of zeros (a variance of 0).
UNESTIMATED_REMEDY = (
    "A level (or class) too rare to appear in every completed table cannot "
    "be estimated from each: merge it with another before imputing, or "
    "leave its term out of the model (R's lm gives NA there, and mice does "
    "not pool it)."
)
TERMS_DIFFER_REMEDY = (
    "Terms are pooled by name, and a completed table gives other terms when a "
    "category or a class is absent from it (a rare level or class imputed "
    "differently in each table), or when an encoder or a feature selector "
    f"makes other columns from it. {UNESTIMATED_REMEDY} Select features once, "
    "not in each table."
)


# How fit_and_pool's messages name an imputation's terms.
FIT_ON = "the fit on imputations[{}]"


def _term_order(first, names, index, source):
    """Where each of ``first``'s terms (imputation 0's names) is among
    ``names`` (imputation ``index``'s): the permutation that puts imputation
    ``index``'s terms in ``first``'s order, or None when they are in it
    already (or either has no names: then terms go by position).

    ``source`` names an imputation's terms in messages, ``{}`` its index:
    ``"estimates[{}]"``, ``"the fit on imputations[{}]"``.

    Raises
    ------
    ValueError
        If the two have different sets of names (naming the missing and the
        extra terms, why, and what to do), or repeat a name while their
        orders differ (then no order by name exists).
    """
    if first is None or names is None or names == first:
        return None
    present, wanted = set(names), set(first)
    missing = [n for n in first if n not in present]
    extra = [n for n in names if n not in wanted]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {_listed(missing)}")
        if extra:
            parts.append(f"has {_listed(extra)} besides")
        raise ValueError(
            f"The terms differ between imputations: {source.format(index)} "
            f"{' and '.join(parts)}, compared with {source.format(0)}. "
            f"{TERMS_DIFFER_REMEDY}"
        )
    if len(present) < len(names) or len(wanted) < len(first):
        raise ValueError(
            f"The terms of {source.format(index)} are those of "
            f"{source.format(0)} in another order, and a name repeats, so they "
            "cannot be matched by name; give every term its own name."
        )
    position = {name: j for j, name in enumerate(names)}
    return np.array([position[name] for name in first])


def _reorder(values, order):
    """An estimate, a variance vector or a covariance matrix with its terms
    taken in ``order`` (unchanged when ``order`` is None, or when its shape
    does not fit: the shape checks of :func:`pool` then say so)."""
    if order is None:
        return values
    values = np.asarray(values)
    n = len(order)
    if values.shape == (n,):
        return values[order]
    if values.shape == (n, n):
        return values[np.ix_(order, order)]
    return values


def _by_labels(variance, first, index, source, *, columns=False):
    """A variance given as a pandas DataFrame (a covariance matrix, as
    statsmodels' ``cov_params()``) or Series (variances), its rows and
    columns taken by their labels in the order of the terms ``first``;
    None for other input. ``columns``: a DataFrame of a row of variances
    per imputation, taken by its columns' labels alone (``index`` None)."""
    if columns:
        axes = [list(variance.columns)]
    elif hasattr(variance, "columns") and hasattr(variance, "index"):
        axes = [variance.index, variance.columns]
    elif _pandas_labels(variance) is not None:
        axes = [variance.index]
    else:
        return None
    # A DataFrame of rows per imputation: every row, its columns by label.
    positions = [list(range(len(variance)))] if columns else []
    whose = "The variances" if columns else f"The variances of {source.format(index)}"
    for axis in axes:
        labels = [str(label) for label in axis]
        if sorted(labels) != sorted(first) or len(set(labels)) < len(labels):
            raise ValueError(
                f"{whose} are labelled "
                f"{_listed(labels)}, not by the terms of its estimate "
                f"({_listed(first)}); label them as the estimate, or pass "
                "arrays in the estimate's order."
            )
        position = {label: j for j, label in enumerate(labels)}
        positions.append([position[name] for name in first])
    return np.asarray(variance.to_numpy(), dtype=float)[np.ix_(*positions)]


def _align_terms(estimates, variances, term_names, source):
    """Every imputation's estimate and variance with its terms in the first
    imputation's order, matched by name.

    ``term_names`` holds each imputation's names (None where it has none:
    then its terms go by position). A variance that is a pandas DataFrame
    or Series is taken by its labels; any other goes with its estimate's
    order. Returns the estimates, the variances and the first imputation's
    names (None without them).

    Raises
    ------
    ValueError
        See :func:`_term_order`.
    """
    first = term_names[0] if len(term_names) else None
    if first is None:
        return estimates, variances, None
    orders = [
        _term_order(first, names, index, source)
        for index, names in enumerate(term_names)
    ]
    estimates = [
        _reorder(np.asarray(e), order)
        for e, order in zip(estimates, orders, strict=True)
    ]
    if hasattr(variances, "columns"):
        # One DataFrame (pandas or polars), a row of variances per
        # imputation: its rows are lined up by their labels (the columns)
        # already, so it is taken by them, not reordered again row by row.
        return (
            estimates,
            _by_labels(variances, first, None, source, columns=True),
            first,
        )
    if variances is not None and not isinstance(variances, list | tuple):
        # One array for every imputation: its rows by imputation, each in
        # the order of that imputation's estimate.
        variances = np.asarray(variances)
    per_imputation = variances is not None and (
        isinstance(variances, list | tuple) or variances.ndim > 0
    )
    if per_imputation and len(variances) == len(orders):
        aligned = []
        for index, (variance, order) in enumerate(zip(variances, orders, strict=True)):
            labelled = _by_labels(variance, first, index, source)
            aligned.append(_reorder(variance, order) if labelled is None else labelled)
        variances = aligned
    return estimates, variances, first


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


def _split_target(table, target):
    """``(X, y)`` of a completed table, ``y`` its column ``target``."""
    if hasattr(table, "columns"):
        columns = list(table.columns)
        if target not in columns:
            raise ValueError(f"target {target!r} is not a column: {columns}.")
        others = [c for c in columns if c != target]
        # The labels as they are: a classifier takes text or categories.
        y = np.asarray(table[target])
        X = table.select(others) if hasattr(table, "select") else table[others]
        return X, y
    table = np.asarray(table)
    n_features = table.shape[1]
    if (
        not isinstance(target, Integral)
        or isinstance(target, bool)
        or not -n_features <= target < n_features
    ):
        raise ValueError(
            f"target must be a column index of the completed arrays (0 to "
            f"{n_features - 1}), got {target!r}."
        )
    others = np.delete(np.arange(n_features), target % n_features)
    return table[:, others], table[:, target]


def _linear_step(fitted):
    """The fitted estimator holding ``coef_``: ``fitted`` itself, or the
    final step of a :class:`~sklearn.pipeline.Pipeline` (whose terms are
    those of the features its earlier steps make).

    Raises
    ------
    TypeError
        If neither has ``coef_``, naming the estimator and the alternatives.
    """
    step = fitted[-1] if isinstance(fitted, Pipeline) else fitted
    if not hasattr(step, "coef_"):
        described = type(fitted).__name__
        if step is not fitted:
            described += f" (final step {type(step).__name__})"
        raise TypeError(
            f"fit_and_pool pools the coef_ and intercept_ of a fitted "
            f"estimator, and {described} has no coef_. Pass a linear model "
            "(or a Pipeline ending in one), or as model a callable "
            "table -> results with params and cov_params() (a statsmodels "
            "fit), or pool estimates and variances you compute with pool()."
        )
    return step


def _coefficients(fitted):
    """A fitted estimator's ``intercept_`` then ``coef_``, flattened, and the
    number of intercepts (see :func:`_linear_step`)."""
    step = _linear_step(fitted)
    coef = np.ravel(step.coef_)
    intercept = np.ravel(getattr(step, "intercept_", []))
    if getattr(step, "fit_intercept", True) is False:
        intercept = np.empty(0)
    return np.concatenate([intercept, coef]), len(intercept)


def _given_feature_names(fitted, X):
    """The names of the features ``coef_`` multiplies, as strings, where
    something names them: ``X``'s columns, or for a
    :class:`~sklearn.pipeline.Pipeline` the names its earlier steps give
    their outputs (``get_feature_names_out``); None where they have only
    positions (an array, a step without ``get_feature_names_out``)."""
    if isinstance(fitted, Pipeline) and len(fitted) > 1:
        try:
            return [str(name) for name in fitted[:-1].get_feature_names_out()]
        except AttributeError:
            # A step without get_feature_names_out: its outputs have no
            # names, only positions.
            return None
    if hasattr(X, "columns"):
        return [str(c) for c in X.columns]
    return None


def _feature_names(fitted, X):
    """The names of the features ``coef_`` multiplies, as strings.

    ``X``'s columns (``x0, x1, ...`` without names); for a
    :class:`~sklearn.pipeline.Pipeline`, the names its earlier steps give
    their outputs (``get_feature_names_out``), or ``x0, x1, ...`` by position
    among the final step's inputs when a step cannot name them.
    """
    names = _given_feature_names(fitted, X)
    if names is not None:
        return names
    return [f"x{j}" for j in range(np.shape(_linear_step(fitted).coef_)[-1])]


def _coefficient_names(fitted, X, n_terms, n_intercept):
    """Names of the ``n_terms`` terms of :func:`_coefficients`, in order.

    ``intercept`` and the features' names (:func:`_feature_names`); a
    multiclass (or multi-output) model has a row of coefficients per class,
    named ``class:term`` by ``classes_`` (else by row number); libsvm's
    one-vs-one classifiers (SVC, NuSVC) a row per class pair, named
    ``a_vs_b:term`` in scikit-learn's order of the pairs.
    """
    features = _feature_names(fitted, X)
    step = _linear_step(fitted)
    coef = step.coef_
    n_rows = np.shape(coef)[0] if np.ndim(coef) == 2 else 1
    if n_rows == 1:
        names = ["intercept"] * n_intercept + features
    else:
        classes = getattr(step, "classes_", None)
        if isinstance(step, SVC | NuSVC):
            # libsvm's one-vs-one rows, one per class pair in scikit-learn's
            # order (classes_[0] vs [1], [0] vs [2], ..., [1] vs [2], ...),
            # whatever their count.
            labels = [f"{a}_vs_{b}" for a, b in itertools.combinations(classes, 2)]
        elif classes is not None and len(classes) == n_rows:
            labels = classes
        else:
            labels = range(n_rows)
        intercepts = [f"{c}:intercept" for c in labels][:n_intercept]
        names = intercepts + [f"{c}:{f}" for c in labels for f in features]
    if len(names) != n_terms:
        raise ValueError(
            f"{type(step).__name__} has {n_terms} coefficients "
            f"(intercept_ and coef_), which fit_and_pool cannot name from "
            f"{len(features)} features; pass a statsmodels model, or pool "
            "the estimates yourself with pool()."
        )
    return names


def _terms_per_output(fitted, n_terms):
    """The terms a complete-data residual df subtracts from the rows: those
    of one output for a multi-output regressor (``coef_`` has a row per
    output, each output its own regression: statsmodels' ``df_resid`` of
    each, and R's ``df.residual`` of ``lm`` with a matrix response); all
    ``n_terms`` for others, a classifier's every class (or class pair)."""
    step = _linear_step(fitted)
    coef = step.coef_
    if np.ndim(coef) == 2 and getattr(step, "classes_", None) is None:
        return n_terms // np.shape(coef)[0]
    return n_terms


def _results_names(results):
    """The names of a results object's ``params``: its pandas index, else
    its model's ``exog_names`` (statsmodels' names of a fit on arrays,
    ``const, x1, x2...``); None if neither names every term."""
    params = results.params
    if np.ndim(params) != 1:
        return None
    names = _pandas_labels(params)
    if names is None:
        names = getattr(getattr(results, "model", None), "exog_names", None)
    if names is None or len(names) != len(params):
        return None
    return [str(name) for name in names]


def _equation_labels(results, covariance):
    """The (equation, term) labels of the rows of ``covariance``, a results
    object's ``cov_params()`` for ``params`` with a column per equation: its
    own two-level index (a fit on pandas), else its model's
    ``data.cov_names``, the labels statsmodels gives it (a fit on arrays,
    whose ``cov_params()`` is a bare array); None without either."""
    data = getattr(getattr(results, "model", None), "data", None)
    for labels in (
        getattr(covariance, "index", None),
        getattr(data, "cov_names", None),
    ):
        if getattr(labels, "nlevels", 1) == 2:
            return labels
    return None


def _equation_terms(results, index):
    """The estimate, covariance and term names of a results object whose
    ``params`` has a row per term and a column per equation (statsmodels'
    ``MNLogit``, one equation per class but the first; ``VAR``, one per
    variable).

    ``params`` is flattened in the order of the rows of ``cov_params()``,
    which its labels give: statsmodels stacks MNLogit's equation by equation
    (its ``bse`` is the square root of ``cov_params()``'s diagonal reshaped
    column-major) but VAR's term by term (row-major), so no fixed order
    fits both. Each term is named ``equation:term`` (as ``class:term`` for
    a scikit-learn classifier's rows), the equation as statsmodels' summary
    names it: ``y=1`` when the labels' level has a name (MNLogit's
    response), else the bare label (VAR's ``u``).

    Raises
    ------
    ValueError
        If the covariance has no (equation, term) labels that match
        ``params`` (then its order is unknown), naming what to do.
    """
    params = results.params
    covariance = results.cov_params()
    where = FIT_ON.format(index)
    labels = _equation_labels(results, covariance)
    terms = _pandas_labels(params)
    if terms is None:
        terms = getattr(getattr(results, "model", None), "exog_names", None)
    n_rows, n_columns = np.shape(params)
    remedy = (
        "fit_and_pool takes a 2-D params (a column per equation) in the order "
        "of cov_params()'s (equation, term) labels; return results whose "
        "cov_params() is labelled (a fit on pandas data), or pool the "
        "flattened params yourself with pool()."
    )
    if labels is None or terms is None:
        raise ValueError(
            f"The params of {where} have shape {np.shape(params)} (a column "
            "per equation), and neither its cov_params() nor its model's "
            "data.cov_names labels the covariance's rows by equation and term, "
            f"so the order of the {n_rows * n_columns} terms is unknown. {remedy}"
        )
    terms = [str(term) for term in terms]
    levels = [[str(v) for v in labels.get_level_values(i)] for i in (0, 1)]
    pairs = list(zip(*levels, strict=True))
    # The level whose labels are params' rows holds the terms; the other,
    # with a label per column, the equations.
    term_level = [
        i
        for i in (0, 1)
        if set(levels[i]) == set(terms) and len(set(levels[1 - i])) == n_columns
    ]
    if (
        len(term_level) != 1
        or len(terms) != n_rows
        or len(set(terms)) < n_rows
        or len(pairs) != n_rows * n_columns
        or len(set(pairs)) < len(pairs)
    ):
        raise ValueError(
            f"The covariance of {where} is labelled {_listed(pairs)}, which "
            f"are not every (equation, term) of its params once (terms "
            f"{_listed(terms)}, {n_columns} equations). {remedy}"
        )
    t = term_level[0]
    equations = list(dict.fromkeys(levels[1 - t]))
    columns = [str(c) for c in getattr(params, "columns", [])]
    # params' columns by their labels where they are the equations' (VAR's
    # variables); else by position (MNLogit's columns are 0, 1, ... for its
    # classes in the covariance's order, as its bse takes them).
    if sorted(columns) != sorted(equations):
        columns = equations
    row_of = {term: i for i, term in enumerate(terms)}
    column_of = {equation: j for j, equation in enumerate(columns)}
    values = np.asarray(params, dtype=float)
    estimate = np.array([values[row_of[p[t]], column_of[p[1 - t]]] for p in pairs])
    level_name = labels.names[1 - t]
    prefix = "" if level_name is None else f"{level_name}="
    names = [f"{prefix}{p[1 - t]}:{p[t]}" for p in pairs]
    return estimate, np.asarray(covariance, dtype=float), names


def _residual_df(results, index):
    """``results.df_resid`` as the default ``n_samples``.

    Raises
    ------
    ValueError
        If it is not positive (a saturated fit), naming the model's
        ``df_resid``, why, and what to do.
    """
    df_resid = float(results.df_resid)
    if not df_resid > 0.0:
        raise ValueError(
            f"model(imputations[{index}]) has df_resid {df_resid:g}, the "
            "default n_samples: the model has as many parameters as the table "
            "has rows, so its residual variance, and with it the complete-data "
            "covariance cov_params(), is undefined (and so are the "
            "complete-data degrees of freedom). Fit a model with fewer "
            "parameters than rows (fewer terms, or rare categories merged); "
            "if its covariance needs no residual variance (a GLM with a fixed "
            "scale, as a Poisson or binomial one), pass n_samples yourself "
            "(float('inf') for the large-sample degrees of freedom)."
        )
    return df_resid


BOOTSTRAP_ALTERNATIVES = (
    "Give the rare classes (or categories) more rows, or pass variance=callable"
    "(fitted, X, y) returning the terms' covariance (from the model's "
    "information matrix, or a bootstrap stratified by class)."
)


def _bootstrap_covariance(
    model, fitted, names, X, y, n_bootstrap, rng, table_index, *, named, params
):
    """The covariance of ``fitted``'s terms (named ``names``) over refits of
    ``model`` on ``n_bootstrap`` row bootstraps of ``(X, y)``, each fit with
    ``params`` (those with an entry per row: the resample's entries).

    Each resample draws rows uniformly with replacement (the ordinary,
    unconditional case bootstrap: the class counts vary, as they would in
    a new sample). ``named``: whether the features have names (``X``'s
    columns, or a pipeline's ``get_feature_names_out``). Then each refit's
    terms are matched with ``fitted``'s by name, as the imputations' are:
    a feature selector may keep as many features from a resample but other
    ones, whose coefficients a covariance by position would mix up. Names
    that are positions only (``x0, x1, ...``) say nothing of what a term
    is, and refits are compared by their number of terms alone.

    Raises
    ------
    ValueError
        If a resample lacks one of ``fitted``'s classes, or a refit has
        other terms than ``fitted`` (its covariance is then undefined),
        naming the table, the terms that differ and what to do.
    """
    classes = getattr(_linear_step(fitted), "classes_", None)
    n_rows = len(y)
    n_terms = len(names)
    draws = []
    for _ in range(n_bootstrap):
        rows = rng.randint(n_rows, size=n_rows)
        if classes is not None:
            # A classifier refit without a class has no coefficients for it:
            # said before refitting, as the refit may fail less clearly.
            missing = np.setdiff1d(classes, y[rows])
            if len(missing):
                lacking = ", ".join(
                    f"{c!r} ({int(np.sum(y == c))} of the {n_rows} rows)"
                    for c in missing.tolist()
                )
                raise ValueError(
                    f"A bootstrap resample of imputations[{table_index}] lacks "
                    f"the class(es) {lacking}, so its refit has no "
                    "coefficients for them and the bootstrap covariance is "
                    f"undefined. {BOOTSTRAP_ALTERNATIVES}"
                )
        X_boot = X[rows] if isinstance(X, np.ndarray) else _take_rows(X, rows)
        refit = clone(model).fit(X_boot, y[rows], **_rows_of(params, rows, n_rows))
        refit_terms, n_intercept = _coefficients(refit)
        if not named:
            if len(refit_terms) != n_terms:
                raise ValueError(
                    f"A bootstrap refit on a resample of imputations[{table_index}] "
                    f"has {len(refit_terms)} coefficients, the fit on the whole "
                    f"table {n_terms}: the resample lacked something the model "
                    "makes terms of (a class, or a category an encoder expands), "
                    "and the bootstrap covariance is undefined. "
                    f"{BOOTSTRAP_ALTERNATIVES}"
                )
            draws.append(refit_terms)
            continue
        refit_names = _coefficient_names(refit, X_boot, len(refit_terms), n_intercept)
        if refit_names != names:
            if sorted(refit_names) != sorted(names) or len(set(names)) < n_terms:
                _refuse_bootstrap_terms(names, refit_names, table_index)
            # The same terms in another order: taken in the whole fit's.
            position = {name: j for j, name in enumerate(refit_names)}
            refit_terms = refit_terms[[position[name] for name in names]]
        draws.append(refit_terms)
    return np.atleast_2d(np.cov(np.asarray(draws), rowvar=False))


def _refuse_bootstrap_terms(names, refit_names, table_index):
    """Raise the ValueError of a bootstrap refit whose terms ``refit_names``
    are not the whole table's fit's ``names``."""
    present, wanted = set(refit_names), set(names)
    missing = [n for n in names if n not in present]
    extra = [n for n in refit_names if n not in wanted]
    parts = []
    if missing:
        parts.append(f"lacks {_listed(missing)}")
    if extra:
        parts.append(f"has {_listed(extra)} besides")
    if not parts:
        parts.append("repeats a name in another order")
    if len(refit_names) == len(names):
        counts = f"as many terms, {len(names)}, but not the same"
    else:
        counts = f"{len(refit_names)} terms against {len(names)}"
    raise ValueError(
        f"A bootstrap refit on a resample of imputations[{table_index}] "
        f"{' and '.join(parts)}, compared with the fit on the whole table "
        f"({counts}): the model made other "
        "terms from the resample (a feature selector chose other features, or "
        "an encoder met other categories), and the bootstrap covariance of "
        "the whole fit's terms is undefined. Select the features once, before "
        f"fit_and_pool, and fix an encoder's categories. {BOOTSTRAP_ALTERNATIVES}"
    )


def fit_and_pool(
    model,
    imputations,
    y=None,
    *,
    target=None,
    variance="bootstrap",
    n_bootstrap=200,
    n_samples=None,
    alpha=0.05,
    random_state=None,
    params=None,
):
    """Fit a model on every completed table and pool its estimates.

    R's ``pool(with(imp, lm(...)))`` in one call. As mice, terms are matched
    by name: each table's fit is taken in the order of the first table's
    terms, and a fit with other terms is refused.

    Parameters
    ----------
    model : scikit-learn estimator or callable
        - A scikit-learn estimator with ``coef_`` (and ``intercept_``) after
          fit, for instance :class:`~sklearn.linear_model.LinearRegression`,
          or a :class:`~sklearn.pipeline.Pipeline` ending in one: cloned and
          fit on each table; the terms are ``intercept_`` (when fit) then
          ``coef_`` of the estimator (of a pipeline's final step, whose
          features are named by the earlier steps'
          ``get_feature_names_out``, by position ``x0, x1, ...`` when a step
          has none). Any other estimator is refused with a ``TypeError``
          once the first table is fit.
        - A callable ``table -> results``, results with ``params`` and
          ``cov_params()`` (a statsmodels results object, for instance
          ``lambda d: smf.ols("y ~ x1 + x2", data=d).fit()``). The terms
          are named by the index of ``params``, else by
          ``results.model.exog_names`` (statsmodels' names for a fit on
          arrays: ``const, x1, x2, ...``), else ``x0, x1, ...`` by
          position. A ``params`` with a column per equation (a
          ``DataFrame`` of shape ``(n_exog, n_equations)``, as
          ``sm.MNLogit(y, X).fit()`` gives, one equation per class but the
          first) is flattened in the order of the rows of ``cov_params()``,
          which its (equation, term) labels give (MNLogit's equation by
          equation, VAR's term by term), and each term is named
          ``equation:term``, the equation as statsmodels' summary names it:
          ``y=1:const``, ``y=1:x1``, ..., ``y=2:const``, ... Its
          ``df_resid``, when present, is the default ``n_samples``.
          statsmodels is not needed by this function.

    imputations : list of array-like or DataFrame
        The completed tables (:func:`multiple_impute`).

    y : array-like of shape (n_samples,), default=None
        The target, the same for every table (a fully observed target), for
        an estimator; give ``target`` instead when it was imputed too.

    target : str or int, default=None
        The column of each completed table that is the target (its name for
        a DataFrame, its index for an array); the other columns are the
        features.

    variance : 'bootstrap' or callable, default='bootstrap'
        The terms are ``intercept`` and the features' names, as
        ``class:term`` for each class of a multiclass model (by
        ``classes_``), ``a_vs_b:term`` for each class pair of a one-vs-one
        :class:`~sklearn.svm.SVC` or :class:`~sklearn.svm.NuSVC` (its
        ``coef_`` rows, in scikit-learn's order ``classes_[0]`` vs ``[1]``,
        ``[0]`` vs ``[2]``, ..., ``[1]`` vs ``[2]``, ...; positive values
        favour the first class of the pair), and ``0:term``, ``1:term``, ...
        for each output of a multi-output regressor. The complete-data
        covariance of an estimator's terms in each table:
        the covariance of the terms over ``n_bootstrap`` refits on row
        bootstraps of the table, or ``variance(fitted_estimator, X, y)``
        returning their covariance matrix (or variances) in the order of
        that table's terms. Ignored for a callable ``model``. The bootstrap
        needs every refit to have the same terms, matched by name where the
        features have names (a DataFrame's columns, a pipeline's
        ``get_feature_names_out``), by number where they are positions
        only: a resample without one of the classes (or a category an
        encoder expands), or on which a feature selector keeps other
        features, raises a ``ValueError``; with a rare class, give
        ``variance`` a callable, and select features once, before.

    n_bootstrap : int, default=200
        Bootstrap refits per table.

    n_samples : float, default=None
        The complete-data degrees of freedom (see :func:`pool`). By default
        a callable's results' ``df_resid`` (a saturated fit, ``df_resid``
        0, is refused); for an estimator, the rows of a table less its
        number of terms (``intercept_`` and ``coef_``), the residual degrees
        of freedom of a linear model, as R's ``pool`` takes them from
        ``df.residual`` (mice assumes a large sample, with a warning, only
        when the model has none). A multi-output regressor's outputs are
        separate regressions: only one output's terms count (statsmodels'
        ``df_resid`` of each, R's ``df.residual`` of ``lm`` with a matrix
        response). The terms of every class of a multiclass classifier
        count (every row of ``coef_``: one per class, or per class pair of
        a one-vs-one SVC). With no more rows than those terms, a large
        sample is assumed (``inf``).

    alpha : float, default=0.05

    random_state : int, RandomState instance or None, default=None
        For the bootstrap.

    params : dict, default=None
        Parameters passed to every fit of an estimator,
        ``fit(X, y, **params)``, as ``cross_validate``'s ``params``: for
        instance ``{"sample_weight": w}``, or
        ``{"logisticregression__sample_weight": w}`` for a pipeline (or
        the step's own name under metadata routing). A value with one
        entry per row of a table (an array, list or Series of its length)
        goes with its rows: each bootstrap refit gets the entries of the
        rows it resampled, as each fold of ``cross_validate`` gets its own.
        For a callable ``model``, put them in the callable instead.

    Returns
    -------
    result : PooledResult

    Raises
    ------
    TypeError
        If ``model`` is neither a callable nor an estimator with ``coef_``
        after fit (or a pipeline whose final step has it); if ``params`` is
        not a dict, or is given with a callable ``model``.
    ValueError
        If a table's fit has other terms than the first table's (a category
        or a class absent from one completed table, an encoder or a feature
        selector making other columns: the message names the table, its
        missing and extra terms, and what to do); if a bootstrap refit has
        other terms than the fit on the whole table (a class, or a category,
        missing from the resample; a feature selector choosing other
        features: the message names the table and the differing terms); if
        a callable's results have ``df_resid`` 0 and ``n_samples`` is not
        given, or a 2-D ``params`` whose ``cov_params()`` has no (equation,
        term) labels to order it by; if ``imputations`` is one table, not
        a list of them; if a classifier's ``target`` holds non-integer
        values (a 0/1 column imputed as a continuous one: declare it
        categorical to the imputer). An error raised by a table's fit
        carries a note naming the table (``imputations[i]``).

    Warns
    -----
    UserWarning
        When the estimator is one of scikit-learn's penalised linear models
        (``LogisticRegression`` with a finite ``C``, its default 1.0;
        ``Ridge``, ``Lasso``, a GLM with ``alpha > 0``): its coefficients
        are shrunk towards 0, and their pooled intervals are not those of
        maximum likelihood (R's ``glm``, statsmodels). Pass ``C=np.inf``
        (``alpha=0``) for those.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from emimpute import fit_and_pool, multiple_impute
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = 1.0 + 2.0 * X[:, 0] + rng.normal(size=200)
    >>> data = np.column_stack([y, X])
    >>> data[rng.uniform(size=200) < 0.3, 1] = np.nan
    >>> tables = multiple_impute(data, n_imputations=5, random_state=0)
    >>> result = fit_and_pool(LinearRegression(), tables, target=0,
    ...                       n_bootstrap=50, random_state=0)
    >>> result.names
    ['intercept', 'x0', 'x1']
    >>> bool(result.conf_int[1, 0] < 2.0 < result.conf_int[1, 1])
    True
    """
    if hasattr(imputations, "columns") or (
        isinstance(imputations, np.ndarray) and imputations.ndim == 2
    ):
        raise ValueError(
            "imputations must be a list of completed tables (multiple_impute's "
            f"output), got one table ({type(imputations).__name__}); pass "
            "multiple_impute(X, ...) itself, not one of its tables."
        )
    if len(imputations) < 2:
        raise ValueError(
            f"imputations: fit_and_pool needs at least 2 completed tables, got "
            f"{len(imputations)}."
        )
    estimates, covariances = [], []
    if params is not None and not isinstance(params, dict):
        raise TypeError(
            f"params must be a dict of fit parameters, such as "
            f"{{'sample_weight': w}}; got {type(params).__name__}."
        )
    params = params or {}
    if not hasattr(model, "fit"):
        if not callable(model):
            raise TypeError(
                "model must be a scikit-learn estimator or a callable returning "
                f"results with params and cov_params(); got {type(model).__name__}."
            )
        if params:
            raise TypeError(
                "params are passed to an estimator's fit; a callable model takes "
                "its own (for statsmodels' weights, smf.wls(..., weights=...) "
                "inside the callable)."
            )
        term_names = []
        for index, table in enumerate(imputations):
            with _naming_the_table(index):
                results = model(table)
            if not (hasattr(results, "params") and hasattr(results, "cov_params")):
                raise TypeError(
                    "model(table) must return results with params and "
                    f"cov_params() (statsmodels'); got {type(results).__name__}."
                )
            if n_samples is None and hasattr(results, "df_resid"):
                n_samples = _residual_df(results, index)
            if np.ndim(results.params) == 2:
                estimate, covariance, names = _equation_terms(results, index)
            else:
                estimate, covariance = results.params, results.cov_params()
                names = _results_names(results)
            estimates.append(estimate)
            covariances.append(covariance)
            term_names.append(names)
        estimates, covariances, names = _align_terms(
            estimates, covariances, term_names, FIT_ON
        )
        return pool(
            [np.asarray(e, dtype=float) for e in estimates],
            [np.asarray(c, dtype=float) for c in covariances],
            n_samples=n_samples,
            alpha=alpha,
            names=names,
        )
    if (y is None) == (target is None):
        raise ValueError(
            "Give exactly one of y (a target shared by every table) and target "
            "(the column of each completed table to predict)."
        )
    if variance != "bootstrap" and not callable(variance):
        raise ValueError(
            f"variance must be 'bootstrap' or a callable, got {variance!r}."
        )
    if variance == "bootstrap" and (
        not isinstance(n_bootstrap, Integral)
        or isinstance(n_bootstrap, bool)
        or n_bootstrap < 2
    ):
        raise ValueError(
            f"n_bootstrap must be an integer >= 2 (a covariance needs two "
            f"refits; 200 is usual), got {n_bootstrap!r}."
        )
    rng = check_random_state(random_state)
    n_rows = None
    term_names = []
    for index, table in enumerate(imputations):
        if target is None:
            X, target_values = table, np.asarray(y)
        else:
            X, target_values = _split_target(table, target)
            if is_classifier(model):
                _refuse_continuous_labels(target_values, target, index)
        with _naming_the_table(index):
            fitted = clone(model).fit(X, target_values, **params)
        # A model without coef_ is refused here, at the first table's fit:
        # the earliest a fitted attribute can be seen.
        terms, n_intercept = _coefficients(fitted)
        if index == 0:
            _warn_if_penalised(_linear_step(fitted))
        n_rows = len(target_values)
        estimates.append(terms)
        term_names.append(_coefficient_names(fitted, X, len(terms), n_intercept))
        # Other terms than the first table's are refused before this table's
        # bootstrap (_align_terms below would, after every table's).
        _term_order(term_names[0], term_names[-1], index, FIT_ON)
        if callable(variance):
            covariances.append(np.asarray(variance(fitted, X, target_values)))
        else:
            covariances.append(
                _bootstrap_covariance(
                    model,
                    fitted,
                    term_names[-1],
                    X,
                    target_values,
                    n_bootstrap,
                    rng,
                    index,
                    named=_given_feature_names(fitted, X) is not None,
                    params=params,
                )
            )
    estimates, covariances, names = _align_terms(
        estimates, covariances, term_names, FIT_ON
    )
    n_fitted = _terms_per_output(fitted, len(names))
    if n_samples is None and n_rows > n_fitted:
        # The residual degrees of freedom of the complete-data fit.
        n_samples = float(n_rows - n_fitted)
    return pool(estimates, covariances, n_samples=n_samples, alpha=alpha, names=names)


@contextmanager
def _naming_the_table(index):
    """Add to an error raised while fitting a completed table which one."""
    try:
        yield
    except Exception as error:
        error.add_note(f"(fit_and_pool: raised by the fit on imputations[{index}])")
        raise


def _refuse_continuous_labels(labels, target, index):
    """Refuse a classifier's numeric target holding non-integer values: a
    0/1 column with holes imputed as a continuous one."""
    labels = np.asarray(labels)
    if labels.dtype.kind != "f":
        return
    fractional = labels[np.isfinite(labels) & (labels != np.round(labels))]
    if len(fractional):
        raise ValueError(
            f"target {target!r} of imputations[{index}] holds non-integer "
            f"values (such as {fractional[0]:.4g}) for a classifier: its holes "
            "were imputed as those of a continuous column. Declare it "
            "categorical to the imputer (a pandas 'category' or bool column, "
            "or categorical_features=[...]) so that they are imputed as "
            "classes."
        )


def _warn_if_penalised(step):
    """Warn that a penalised linear model's coefficients are shrunk: pooled,
    they are not the maximum-likelihood inference a statistician expects
    (R's lm and glm, statsmodels)."""
    params = step.get_params(deep=False)
    # Only scikit-learn's linear models fit a likelihood (or least squares)
    # that their penalty shrinks; an SVM's C is no such penalty.
    if not type(step).__module__.startswith("sklearn.linear_model") or (
        params.get("penalty", "l2") is None
    ):
        return
    strength = [
        (name, value, fix)
        for name, fix, penalised in (
            ("C", "C=np.inf", lambda c: np.isfinite(c)),
            ("alpha", "alpha=0, or LinearRegression", lambda a: a > 0),
        )
        if isinstance(value := params.get(name), Real)
        and not isinstance(value, bool)
        and penalised(value)
    ]
    if strength:
        name, value, fix = strength[0]
        warnings.warn(
            f"{type(step).__name__} is penalised ({name}={value!r}): its "
            "coefficients are shrunk towards 0, so Rubin's rules pool a shrunk "
            "estimate, and its intervals are not those of maximum likelihood "
            f"(R's lm and glm, statsmodels). For those, fit it unpenalised "
            f"({fix}).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def _rows_of(params, rows, n_rows):
    """``params`` for a fit on ``rows``: a value with an entry per row (of
    ``n_rows``) taken on those rows, as ``cross_validate`` splits its
    ``params`` by fold; any other value as given."""
    return {
        name: _take_rows(value, rows)
        if not isinstance(value, str | bytes | dict)
        and hasattr(value, "__len__")
        and len(value) == n_rows
        else value
        for name, value in params.items()
    }


def _take_rows(table, rows):
    if hasattr(table, "iloc"):
        return table.iloc[rows]
    if hasattr(table, "select"):
        return table[rows]
    return np.asarray(table)[rows]
