"""The results of pooling: the objects :func:`~emimpute.pool` returns.

One job: hold, test and print pooled results. :class:`PooledResult` (with
its Wald test, mice's D1, and von Hippel's number of imputations),
:class:`WaldTest` and :class:`PoolTable`, and the helpers that format
their tables and lists of names as R's mice prints them. The D1 test's
degrees of freedom come from :mod:`emimpute._rubin` (its arithmetic, not
its presentation, hence the dependency).
"""

import math
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import special, stats

from emimpute._em._warnings import user_stacklevel
from emimpute._messages import names_of
from emimpute._rubin import f_p_value, f_reference, reiter_df2


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


def _variance_form_of(within):
    """The ``variance_form`` a pooled ``within`` implies, where it was not
    kept: covariances if any is off the diagonal, else variances (or none,
    all zero)."""
    within = np.atleast_2d(within)
    if not within.any():
        return "none"
    off_diagonal = within - np.diag(np.diag(within))
    return "covariance" if off_diagonal.any() else "variance"


def _listed(names, limit=8):
    """The names as pooling's messages list them (up to 8, each a repr)."""
    return names_of(names, limit)
