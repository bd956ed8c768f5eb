"""EMMixtureSelector: a grid of mixtures on data with holes, kept by BIC, ICL or AIC.

mclust's ``mclustBIC`` for scikit-learn: every combination of
``n_components``, ``covariance_type`` and ``prior`` is fit to the observed
entries by EM and scored by an information criterion of the observed-data
likelihood; the best fit is kept and the whole table is reported, with
mclust's plot of the criterion against the number of components. scikit-learn
has no such selector (its ``GaussianMixture`` example loops by hand; issue
#19338 is open).
"""

import time
import warnings
from dataclasses import fields
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, clone

from emimpute._base import dask_fit_input, warn_unidentified_covariances
from emimpute._collapse import refuse_collapsed_components
from emimpute._criteria import (
    CRITERIA,
    dask_information_criteria,
    mixture_criteria,
)
from emimpute._em._dask import DaskData, is_dask_array
from emimpute._em._forms import COVARIANCE_TYPES
from emimpute._em._holdout import (
    column_baseline_errors,
    held_out_errors,
    held_out_folds,
    one_standard_error_choice,
)
from emimpute._em._init_clusters import INIT_METHODS
from emimpute._em._warnings import user_stacklevel
from emimpute._mixture import EMMixture
from emimpute._prior import ConjugatePrior
from emimpute._sklearn_compat import (
    Interval,
    InvalidParameterError,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)


def _keep_a_run_that_did_not_collapse(
    mixture, result, n_samples, X, observed, constant=None, sample_weight=None
):
    """The fitted ``mixture``'s best run of ``n_init`` whose components did
    not collapse (:func:`refuse_collapsed_components`), adopted in place of
    a collapsed best: a spike's likelihood, bounded only by ``reg_covar``,
    beats every proper fit of the other starts, which mclust would score.

    Raises
    ------
    ValueError
        The best run's collapse, when every run collapsed.
    """
    first = None
    # The best run first (the fitted one), then the others, best first.
    for run in (None, *result.other_runs):
        if run is not None:
            mixture._adopt_run(run)
        try:
            refuse_collapsed_components(
                mixture,
                n_samples,
                X,
                observed=observed,
                constant=constant,
                sample_weight=sample_weight,
            )
            return
        except ValueError as collapse:
            first = first or collapse
    raise first


def _cell(params):
    """A model of the grid as messages name it: ``n_components=2, ...``."""
    return ", ".join(f"{key}={value!r}" for key, value in params.items())


def _reissue(recorded, params):
    """Warn again each warning a fit of the grid gave, its model named."""
    for record in recorded:
        warnings.warn(
            f"{_cell(params)}: {record.message}",
            record.category,
            stacklevel=user_stacklevel(),
        )


def _as_tuple(value):
    if value is None or isinstance(value, str | ConjugatePrior):
        return (value,)
    return tuple(value)


class EMMixtureSelector(DensityMixin, BaseEstimator):
    """Fit a grid of mixtures to data with holes and keep the best by BIC.

    Every combination of ``n_components``, ``covariance_type`` and ``prior``
    is fit by :class:`EMMixture` (missing entries marginalised) and scored
    by ``criterion`` on the training data; ``best_estimator_`` is the fit
    with the lowest value. ``cv_results_`` holds the whole table and
    :meth:`plot` draws mclust's BIC plot. The other methods are those of the
    best fit.

    Parameters
    ----------
    n_components : int or array-like of int, default=9
        The numbers of components to try: an int ``G`` means ``1, ..., G``
        (mclust's default is ``G = 1:9``).

    covariance_type : str or array-like of str, \
            default=('full', 'tied', 'diag', 'spherical')
        The covariance types to try (see :class:`EMMixture`); mclust's VVV,
        EEE, VVI and VII.

    prior : None, 'default', ConjugatePrior or array-like of them, \
            default=None
        The priors to try (see :class:`EMMixture`): for example
        ``(None, 'default')`` tries each model with and without mclust's
        default conjugate prior. The criterion uses the log-likelihood (not
        the log-posterior), as mclust's BIC does with a prior.

    criterion : {'bic', 'icl', 'aic'}, default='bic'
        Lower is better. 'icl' adds to BIC twice the entropy of the
        classification, favouring well-separated clusters.

    tol : float, default=1e-3
        See :class:`EMMixture`: scikit-learn's rule, a change of the
        per-row log-likelihood below ``tol``. mclust stops on a relative
        change of 1e-5, far tighter on most data (about 4e-5 per row on Old
        Faithful): at the default, slow fits stop short of their maximum
        (on Old Faithful, BIC up to 17 units above its value at 1e-8), and
        the ranking of close models can differ (there, not the best).
        Lower ``tol`` (1e-5, at some cost in time) for a table to set
        beside mclust's.

    reg_covar : float, default=1e-6
        See :class:`EMMixture`.

    max_iter : int, default=100
        See :class:`EMMixture`.

    n_init : int, default=10
        See :class:`EMMixture`. With the hierarchical start: its three trees,
        then seven k-means starts.

    init_params : str, default='hierarchical'
        See :class:`EMMixture`. With 'hierarchical' (mclust's start, see the
        user guide) each agglomeration tree of the data is computed once and
        cut at every number of components of the grid (mclust's reuse of
        ``hc``). The default is the start that found the best known optimum
        most often on Old Faithful, at the cost of ten k-means starts:
        ``init_params='hierarchical', n_init=10`` reached it in 20 of the 20
        cells (4 covariance types x 1 to 5 components), ten k-means starts
        in 19, ``GaussianMixture(n_init=20)`` in 18 in twice the time
        (``benchmarks/bench_selection.py``). Lower ``n_init`` on large data.

    random_state : int, RandomState instance or None, default=None
        Seeds every fit of the grid alike.

    verbose : int, default=0
        See :class:`EMMixture`.

    categorical_features : 'from_dtype', array-like or None, \
            default='from_dtype'
        See :class:`EMMixture`.

    category_smoothing : float, default=1.0
        See :class:`EMMixture`.

    handle_unknown : {'error', 'ignore'}, default='error'
        See :class:`EMMixture`: passed to every fit of the grid, so that
        ``best_estimator_`` (and this selector's ``predict``, ``score``...)
        reads a category not seen in fit as missing with 'ignore'.

    Attributes
    ----------
    best_estimator_ : EMMixture
        The fit with the lowest criterion.

    best_params_ : dict
        Its ``n_components``, ``covariance_type`` and ``prior``.

    best_index_ : int
        Its row in ``cv_results_``.

    best_score_ : float
        Its criterion value.

    cv_results_ : dict of ndarray
        One entry per fit of the grid (in the order ``prior``, then
        ``covariance_type``, then ``n_components``): ``param_n_components``,
        ``param_covariance_type``, ``param_prior``, ``params``, ``bic``,
        ``icl``, ``aic``, ``log_likelihood`` (summed over rows),
        ``n_parameters``, ``converged``, ``n_iter``, ``fit_time``, ``error``
        (the message of a fit that failed, whose criteria are then inf, as
        mclust's NA; without a prior, a fit whose covariance only
        ``reg_covar`` keeps invertible fails too: a component on too few
        rows, or singular in some direction, a spike whose likelihood grows
        without bound as ``reg_covar`` shrinks) and ``rank_criterion`` (1
        for the best). Pass it to ``pandas.DataFrame`` for a table.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    EMMixture : One fit of the grid.
    EMImputer : ``n_components='auto'`` chooses by held-out cells instead.

    Notes
    -----
    A fit that raises (a covariance that is not positive definite, too few
    rows for the components) is recorded with an infinite criterion and
    its message instead of stopping the search; a grid of one model raises
    it, with the model named. With a prior in the grid, models that maximum
    likelihood cannot fit still get a criterion.

    On a dask array ``X`` no array of ``X``'s rows reaches the client
    beyond what :class:`EMMixture`'s dask fit holds (its start's row
    sample, at most 100,000 rows): every fit of the grid is that fit, each
    EM iteration one pass of tasks over the row chunks, and a fit's
    criteria are one more pass, whose tasks return each chunk's summed
    log-likelihood, number of rows with an observed entry and entropy
    term, added as a tree (equal to the in-memory criteria of the same fit
    but for the order of the additions). The fits share one count of the
    rows (one pass for the whole grid). Each run of ``n_init`` starts from
    its own sample, drawn by ``random_state``: with an int, every fit of
    the grid draws the same ones, so the hierarchical start's trees are
    still computed once and cut at every number of components. Passes per
    fit: ``n_init`` (the samples), the EM iterations of all its runs, and
    1; a fit with a component that may be a spike (see ``cv_results_``)
    makes a probe's few more. As for :class:`EMMixture`, a dask ``X`` must
    hold numeric columns only (no categorical ones) and the grid's
    ``prior`` be None: refused before any pass.

    References
    ----------
    Fraley and Raftery (2002), Model-based clustering, discriminant analysis
    and density estimation. JASA 97.

    Biernacki, Celeux and Govaert (2000), Assessing a mixture model for
    clustering with the integrated completed likelihood. IEEE PAMI 22.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute import EMMixtureSelector
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (60, 2))])
    >>> X[rng.rand(120, 2) < 0.1] = np.nan
    >>> selector = EMMixtureSelector(n_components=4, n_init=1, random_state=0)
    >>> selector = selector.fit(X)
    >>> selector.best_params_["n_components"]
    2
    >>> len(selector.cv_results_["bic"])
    16
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES)), "array-like"],
        "prior": [None, StrOptions({"default"}), ConjugatePrior, "array-like"],
        "criterion": [StrOptions(set(CRITERIA))],
        "tol": [
            Interval(Real, 0.0, None, closed="left"),
        ],
        "reg_covar": [
            Interval(Real, 0.0, None, closed="left"),
        ],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "category_smoothing": [
            Interval(Real, 0.0, None, closed="left"),
        ],
        "handle_unknown": [StrOptions({"error", "ignore"})],
    }

    def __init__(
        self,
        n_components=9,
        *,
        covariance_type=COVARIANCE_TYPES,
        prior=None,
        criterion="bic",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=10,
        init_params="hierarchical",
        random_state=None,
        verbose=0,
        categorical_features="from_dtype",
        category_smoothing=1.0,
        handle_unknown="error",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.prior = prior
        self.criterion = criterion
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.verbose = verbose
        self.categorical_features = categorical_features
        self.category_smoothing = category_smoothing
        self.handle_unknown = handle_unknown

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _grid(self):
        """The ``(prior, covariance_type, n_components)`` of every fit."""
        n_components = self.n_components
        if isinstance(n_components, Integral):
            n_components = range(1, int(n_components) + 1)
        n_components = list(n_components)
        if not all(
            isinstance(k, Integral) and not isinstance(k, bool) for k in n_components
        ):
            raise ValueError(
                f"n_components should hold integers >= 1, got {n_components}."
            )
        n_components = [int(k) for k in n_components]
        covariance_types = _as_tuple(self.covariance_type)
        priors = _as_tuple(self.prior)
        for name, values in (
            ("n_components", n_components),
            ("covariance_type", covariance_types),
            ("prior", priors),
        ):
            if len(values) == 0:
                raise ValueError(
                    f"{name} is empty: the grid of EMMixtureSelector needs at "
                    f"least one value of {name}."
                )
        if min(n_components) < 1:
            raise ValueError(
                f"n_components should hold integers >= 1, got {n_components}."
            )
        for covariance_type in covariance_types:
            if covariance_type not in COVARIANCE_TYPES:
                raise ValueError(
                    f"covariance_type should hold values of {COVARIANCE_TYPES}, "
                    f"got {covariance_type!r}."
                )
        for prior in priors:
            if not (
                prior is None or prior == "default" or isinstance(prior, ConjugatePrior)
            ):
                raise ValueError(
                    "prior should hold None, 'default' or ConjugatePrior "
                    f"objects, got {prior!r}."
                )
        return [
            {"n_components": k, "covariance_type": t, "prior": p}
            for p in priors
            for t in covariance_types
            for k in n_components
        ]

    def _base_mixture(self):
        return EMMixture(
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            n_init=self.n_init,
            init_params=self.init_params,
            random_state=self.random_state,
            verbose=self.verbose,
            categorical_features=self.categorical_features,
            category_smoothing=self.category_smoothing,
            handle_unknown=self.handle_unknown,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit every mixture of the grid and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN marks a missing entry. A row-chunked dask
            array is read chunk by chunk, never computed into memory: each
            fit of the grid is :class:`EMMixture`'s out-of-core fit on it,
            and its criteria are one more pass over the chunks (see Notes).

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights of every fit of the grid (see
            :meth:`EMMixture.fit`) and of its criteria: a row of whole
            weight ``w`` counts as ``w`` copies of it in the log-likelihood,
            the number of rows ``n`` and the classification entropy; other
            weights count no copies and are rescaled to sum to the rows of
            positive weight (``n`` must not come from their scale). Rows of
            weight 0 add nothing. Not taken with a dask array (as
            :class:`EMMixture`).

        Returns
        -------
        self : object
            The fitted selector.
        """
        grid = self._grid()
        base = self._base_mixture()
        lazy = is_dask_array(X)
        validate = partial(
            validate_data,
            self,
            dtype=None,
            ensure_all_finite="allow-nan",
            ensure_min_samples=2,
        )
        if lazy:
            # Checked, refused and validated as EMMixture's dask fit does,
            # before any pass over the rows: the selector's validation runs
            # on a stand-in of X's shape and dtype (n_features_in_, no
            # feature names). A prior of the grid is refused once here,
            # not recorded as a failure of each of its fits.
            priors = [params["prior"] for params in grid]
            dask_fit_input(
                clone(base).set_params(
                    prior=next((p for p in priors if p is not None), None)
                ),
                X,
                sample_weight,
                validate,
            )
            # One for every fit of the grid: its summary's pass (the rows,
            # those with an observed entry) is made once.
            data = DaskData.build(X)
        else:
            validate(X, reset=True)
            # X as the engine reads it, once for every fit of the grid (the
            # same X, so the same columns and categories), and its rows
            # with an observed entry: read after the first fit.
            data = weights = None
        rows, fits = [], []
        for params in grid:
            mixture = clone(base).set_params(**params)
            start = time.perf_counter()
            row = {"error": ""}
            try:
                # Its warnings, with the model named: a grid's
                # ConvergenceWarnings were identical lines.
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    if lazy:
                        # EMMixture's out-of-core fit (the one its fit makes
                        # on X), on the grid's shared data.
                        _, result = mixture._fit(X, None, dask_data=data)
                    else:
                        # fit's own validation, then the fit that returns
                        # the other runs of n_init.
                        mixture._validate_params()
                        _, result = mixture._fit(X, sample_weight)
                _reissue(caught, params)
                if lazy:
                    _, n_informative, observed = data.summary()
                    # From the summary's pass, as in memory from the rows.
                    constant = data.constant_features()
                else:
                    # The fit's rows of positive weight, counted by their
                    # weights (training_rows, kept by the fit).
                    n_informative, observed, constant = mixture._training_rows
                    if data is None:
                        data, weights = mixture._scored_rows(X, sample_weight)
                _keep_a_run_that_did_not_collapse(
                    mixture, result, n_informative, X, observed, constant, sample_weight
                )
                if lazy:
                    row.update(dask_information_criteria(mixture, data.array))
                else:
                    row.update(mixture_criteria(mixture, data, weights))
                row.update(converged=mixture.converged_, n_iter=mixture.n_iter_)
            except ValueError as exc:
                # A model the data cannot support (too many components, a
                # degenerate covariance): recorded, as mclust's NA. An
                # invalid setting (a prior's hyperparameter) is the user's
                # to fix, whatever the data.
                if isinstance(exc, InvalidParameterError):
                    raise
                if len(grid) == 1:
                    # No other model to choose: the only one cannot be
                    # scored, which is the user's to change.
                    raise ValueError(
                        f"The grid's only model ({_cell(params)}) cannot be scored: "
                        f"{exc} Give the grid other models (fewer components, "
                        "another covariance_type) or a prior ('default')."
                    ) from exc
                row.update(
                    log_likelihood=np.nan,
                    n_parameters=-1,
                    bic=np.inf,
                    icl=np.inf,
                    aic=np.inf,
                    converged=False,
                    n_iter=0,
                    error=str(exc),
                )
                mixture = None
            row["fit_time"] = time.perf_counter() - start
            rows.append(row)
            fits.append(mixture)
        scores = np.array([row[self.criterion] for row in rows])
        if not np.any(np.isfinite(scores)):
            raise ValueError(
                f"Every fit of the grid failed; the first error was: {rows[0]['error']}"
            )
        self.cv_results_ = self._results(grid, rows, scores)
        self.best_index_ = int(np.argmin(scores))
        self.best_params_ = grid[self.best_index_]
        self.best_score_ = float(scores[self.best_index_])
        self.best_estimator_ = fits[self.best_index_]
        if not lazy:
            # Of the kept fit, once (the grid's fits run without it): the
            # rows it was scored on, those of positive weight.
            warn_unidentified_covariances(self.best_estimator_, data)
        # What plot draws: the fit's criterion, not a later set_params'.
        self._criterion = self.criterion
        return self

    def _results(self, grid, rows, scores):
        results = {
            f"param_{name}": np.ma.MaskedArray(
                np.array([params[name] for params in grid], dtype=object),
                mask=False,
            )
            for name in ("n_components", "covariance_type", "prior")
        }
        results["params"] = grid
        for key, dtype in (
            ("bic", float),
            ("icl", float),
            ("aic", float),
            ("log_likelihood", float),
            ("n_parameters", int),
            ("converged", bool),
            ("n_iter", int),
            ("fit_time", float),
            ("error", object),
        ):
            results[key] = np.array([row[key] for row in rows], dtype=dtype)
        # Ties share the lowest rank, as GridSearchCV's rank_test_score.
        order = np.searchsorted(np.sort(scores), scores, side="left")
        results["rank_criterion"] = order.astype(int) + 1
        return results

    def _check_X(self, X):
        # The best fit validates X (its features and their names are the
        # selector's), as GridSearchCV leaves it to its best estimator: a
        # second validation here warned twice about missing feature names.
        check_is_fitted(self)
        return X

    def predict(self, X):
        """Most probable component of each row, under the best fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        X = self._check_X(X)
        return self.best_estimator_.predict(X)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the grid and predict the components of ``X`` by the best fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights of the fits (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def predict_proba(self, X):
        """Component probabilities of each row, under the best fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        X = self._check_X(X)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X):
        """Log-density of each row's observed coordinates, under the best fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            The observed-data log-density of each row.
        """
        X = self._check_X(X)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None):
        """Mean observed-data log-likelihood per row, under the best fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
            Mean of :meth:`score_samples`.
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1):
        """Draw rows from the best fit.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw, as :meth:`EMMixture.sample` takes it (a
            float with a whole value counts as that integer).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The drawn rows, of the dtype :meth:`EMMixture.sample` gives.

        y : ndarray of shape (n_samples,)
            Their components.
        """
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)

    def plot(self, ax=None):
        """Plot the criterion against the number of components (mclust's plot).

        One line per covariance type (and prior, when several were tried);
        failed fits are left out. Needs matplotlib.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; the current axes by default.

        Returns
        -------
        ax : matplotlib Axes
            The axes drawn on.
        """
        check_is_fitted(self)
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - plot extra missing
            raise ImportError(
                "EMMixtureSelector.plot needs matplotlib: pip install 'emimpute[plot]'."
            ) from exc
        if ax is None:
            ax = plt.gca()
        results = self.cv_results_
        # A selector fit before the criterion was kept: its current one.
        criterion = getattr(self, "_criterion", self.criterion)
        scores = results[criterion]
        # The lines of the grid that was fit (set_params since does not
        # change them), one per prior and covariance type in grid order.
        # Priors are told apart by value when they are names (a numpy
        # array of names gives a new np.str_ at every read) and by identity
        # otherwise.
        lines = {}
        for i, params in enumerate(results["params"]):
            prior = params["prior"]
            named = prior is None or isinstance(prior, str)
            key = (prior if named else id(prior), params["covariance_type"])
            lines.setdefault(key, (prior, []))[1].append(i)
        several_priors = len({key[0] for key in lines}) > 1
        markers = "osD^v<>ph*"
        for j, ((_, covariance_type), (prior, rows)) in enumerate(lines.items()):
            rows = [i for i in rows if np.isfinite(scores[i])]
            if not rows:
                continue
            # Along the axis, whatever order the grid gave n_components in.
            rows.sort(key=lambda i: results["params"][i]["n_components"])
            label = covariance_type
            if several_priors:
                label += f", prior={_prior_name(prior)}"
            ax.plot(
                [results["params"][i]["n_components"] for i in rows],
                scores[rows],
                marker=markers[j % len(markers)],
                label=label,
            )
        best = self.best_params_
        ax.plot(
            [best["n_components"]],
            [self.best_score_],
            marker="o",
            markersize=14,
            markerfacecolor="none",
            color="black",
            linestyle="none",
            label="selected",
        )
        ax.set_xlabel("number of components")
        ax.set_ylabel(f"{criterion.upper()} (lower is better)")
        ax.legend()
        return ax


def _prior_name(prior):
    """A legend's name of ``prior``: a conjugate prior by the hyperparameters
    it sets, so that two of a grid have two names."""
    if prior is None or isinstance(prior, str):
        return repr(prior)
    default = ConjugatePrior()
    settings = []
    for field in fields(prior):
        value = getattr(prior, field.name)
        if value is None or (
            getattr(default, field.name) is not None
            and np.array_equal(value, getattr(default, field.name))
        ):
            continue
        value = np.asarray(value)
        shown = (
            f"{float(value):g}"
            if value.ndim == 0
            else np.array2string(value, threshold=6, precision=3)
        )
        settings.append(f"{field.name}={shown}")
    return f"ConjugatePrior({', '.join(settings)})"


def _search(candidates, fit, score, patience):
    """The fit of lowest ``score`` among increasing numbers of components.

    ``fit(n_components)`` returns an :class:`EMResult`, ``score(result)`` a
    dict whose ``"score"`` is compared (lower is better). A candidate that
    cannot be fit (too many components for the rows, a degenerate
    covariance) is skipped, as mclust's NA. The search stops once the score
    has not improved for ``patience`` candidates in a row: over ``K`` it is
    nearly always unimodal, and the larger fits are the costly ones.

    Returns
    -------
    result : EMResult
        The best fit.
    table : list of dict
        The scores of every candidate fit (``n_components`` added).

    Raises
    ------
    ValueError
        When no candidate can be fit: the first candidate's error.
    """
    best, best_score, table, first_error = None, np.inf, [], None
    worse = 0
    for n_components in candidates:
        if worse >= patience:
            break
        try:
            with warnings.catch_warnings():
                # Candidates that do not converge are still compared.
                warnings.simplefilter("ignore")
                result = fit(n_components)
        except ValueError as exc:
            first_error = first_error or exc
            continue
        row = {**score(result), "n_components": n_components}
        table.append(row)
        # The first fit is kept whatever its score (NaN when nothing could
        # be compared).
        if best is None or row["score"] < best_score:
            best, best_score, worse = result, row["score"], 0
        else:
            worse += 1
    if best is None:
        raise first_error
    return best, table


# The share by which the columns' means must beat the choice's held-out
# error for it to be said to have fit noise. A model's conditional means,
# regressions on up to d - 1 features estimated from n rows, err about
# (d - 1) / n more than the regressions themselves (least squares' excess
# risk): on independent features 1.02 against 1.02 at 1000 x 3, 1.02
# against 1 at 1000 x 10, a cost too small to act on; 5% is that excess
# at n = 20 d, and 40 x 15 features of correlation 0.5 err 38% more.
BASELINE_MARGIN = 0.05


def components_the_rows_support(candidates, data, form):
    """The candidates whose components the rows can all estimate.

    A number of components is kept when the distinct rows of ``data`` that
    count (an observed entry, a positive weight: copies of a row add no
    rank) are at least the rows its covariances need in all
    (``form.rows_needed``: ``K (d + 1)`` for 'full'); one component always
    is. Beyond that, a conjugate prior sets the components' covariances,
    not the data: a choice among them compares priors, and each costs
    ``1 / fraction`` fits on a small table.

    Parameters
    ----------
    candidates : iterable of int
        Increasing.
    data : EMData
    form : CovarianceForm

    Returns
    -------
    candidates : list of int

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._forms import covariance_form
    >>> from emimpute._selection import components_the_rows_support
    >>> data = EMData.build(np.zeros((60, 30)))
    >>> components_the_rows_support(range(1, 10), data, covariance_form("full"))
    [1]
    >>> components_the_rows_support(range(1, 10), data, covariance_form("diag"))
    [1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    rows = data.patterns.observed_rows
    if data.sample_weight is not None:
        rows = rows[data.sample_weight[rows] > 0]
    return [
        k
        for k in candidates
        if k == 1 or form.rows_needed(k, data.n_numeric)[1] <= len(rows)
    ]


def select_by_held_out_cells(
    data, candidates, fit, *, random_state, fraction=0.1, patience=2, refit=None
):
    """The number of components that best predicts observed cells held out.

    The observed cells are split at random into groups of about
    ``fraction`` of them, and enough groups to hold out a few thousand cells
    are hidden in turn (:func:`~emimpute._em._holdout.held_out_folds`);
    every candidate is fit on the rest and scored by the mean squared error
    of its conditional expectations of the hidden cells
    (:func:`~emimpute._em._holdout.held_out_errors`); the search stops as
    :func:`_search` does. The fewest components within one standard error
    of the best (:func:`~emimpute._em._holdout.one_standard_error_choice`)
    are then fit again on all of ``data``.

    Parameters
    ----------
    data : EMData
    candidates : iterable of int
        Increasing.
    fit : callable
        ``fit(data, n_components)`` returns an :class:`EMResult`.
    random_state : numpy.random.RandomState
        Chooses the hidden cells.
    fraction : float, default=0.1
    patience : int, default=2
    refit : callable, default=None
        ``refit(data, n_components)``, the fit of the chosen candidate on
        all of ``data``; None: ``fit``.

    Returns
    -------
    result : EMResult
        The chosen candidate fit on all of ``data``.
    table : list of dict
        ``n_components`` and ``score`` (the mean held-out error) of every
        candidate fit.
    baseline : dict
        ``score``, the mean held-out error of each column's observed mean
        (frequencies for a categorical column,
        :func:`~emimpute._em._holdout.column_baseline_errors`), and
        ``better``, whether it beats the choice by more than one standard
        error of their difference, cell by cell (the rule of the choice),
        and by more than ``BASELINE_MARGIN`` of its own error.

    Notes
    -----
    Cost: per candidate tried, one fit and one imputation pass per group
    hidden (one group once ``fraction`` of the observed cells reaches
    ``MIN_HELD_OUT_CELLS``, up to ``1 / fraction`` groups on small tables),
    and one more fit of the chosen candidate.
    """
    folds = held_out_folds(data, fraction, random_state)
    weights = np.concatenate([fold.cell_weights for fold in folds])
    if len(weights) == 0:
        # Too few observed cells to hide any: nothing can be compared.
        candidates = list(candidates)[:1]
    errors = []

    def fit_folds(n_components):
        return [fit(fold.data, n_components) for fold in folds]

    def score(results):
        errors.append(
            np.concatenate(
                [
                    held_out_errors(fold, result.params, scaling=result.scaling)
                    for fold, result in zip(folds, results, strict=True)
                ]
            )
        )
        # The weighted mean (no cells only with one candidate).
        total = weights.sum()
        return {"score": float(errors[-1] @ weights / total) if total else np.nan}

    _, table = _search(candidates, fit_folds, score, patience)
    choice = one_standard_error_choice(errors, weights)
    chosen = table[choice]["n_components"]
    # The columns' own means and frequencies, scored on the same cells: a
    # choice they beat by more than the noise of the cells has fit noise.
    baseline = np.concatenate([column_baseline_errors(fold) for fold in folds])
    total = weights.sum()
    baseline_score = float(baseline @ weights / total) if total else np.nan
    comparison = {
        "score": baseline_score,
        "better": bool(
            total
            and one_standard_error_choice([errors[choice], baseline], weights)
            and table[choice]["score"] > (1.0 + BASELINE_MARGIN) * baseline_score
        ),
    }
    return (fit if refit is None else refit)(data, chosen), table, comparison
