"""fit_and_pool: fit a model on every completed table, then pool.

One job: turn a model fit on each imputation into estimates and
covariances for :func:`~emimpute.pool`. It reads a fitted scikit-learn
estimator's (or pipeline's) coefficients and names their terms, or a
statsmodels results object's ``params`` and ``cov_params()``, bootstraps a
covariance where the estimator has none, and warns of a penalised model.
It needs :mod:`emimpute._pool` (the pooling) and
:mod:`emimpute._pool_terms` (matching the tables' terms by name).
"""

import itertools
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, NuSVC
from sklearn.utils import check_random_state

from emimpute._em._warnings import user_stacklevel
from emimpute._pool import pool
from emimpute._pool_report import _listed
from emimpute._pool_terms import (
    _align_terms,
    _pandas_labels,
    _term_order,
)

# How fit_and_pool's messages name an imputation's terms.
FIT_ON = "the fit on imputations[{}]"


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
        The complete-data degrees of freedom (see :func:`pool`). By default a
        callable's results' ``df_resid`` (a saturated fit, ``df_resid`` 0, is
        refused); for an estimator, the rows of a table less its number of terms
        (``intercept_`` and ``coef_``), the residual degrees of freedom of a
        linear model, as R's ``pool`` takes them from ``df.residual`` (mice
        assumes a large sample, with a warning, only when the model has none);
        with a ``sample_weight`` in ``params``, the rows of positive weight, as
        ``lm`` counts them. A multi-output regressor's outputs are separate
        regressions: only one output's terms count (statsmodels' ``df_resid`` of
        each, R's ``df.residual`` of ``lm`` with a matrix response). The terms
        of every class of a multiclass classifier count (every row of ``coef_``:
        one per class, or per class pair of a one-vs-one SVC). With no more rows
        than those terms, a large sample is assumed (``inf``).

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
        n_rows = _rows_of_positive_weight(params, len(target_values))
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


def _rows_of_positive_weight(params, n_rows):
    """The rows a fit counts: those of positive ``sample_weight`` (given as
    ``sample_weight`` or a pipeline step's ``<step>__sample_weight``), as R's
    ``lm`` leaves rows of weight 0 out of ``df.residual``; all ``n_rows``
    without weights."""
    for name, value in params.items():
        if name == "sample_weight" or name.endswith("__sample_weight"):
            weights = np.asarray(value, dtype=float)
            if weights.shape == (n_rows,):
                return int(np.count_nonzero(weights > 0))
    return n_rows


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
