"""multiple_impute: proper multiple imputation with EMImputer.

The model is fit once and the data read once; then each imputation draws
the parameters and the holes. Bootstrap draws are independent given the
fit, so they run in parallel with joblib (scikit-learn's own dependency, and
the library that scikit-learn users already steer with ``n_jobs`` and
``parallel_backend``): no home-made pool. On threads unless a backend says
otherwise: the refits and draws run compiled with the GIL released, and
threads share the data (processes would each get it pickled). Posterior
draws, of the parameters and of the holes, are successive draws of one data
augmentation chain, so they are sequential. Each imputation gets its own seed (a
bootstrap's refit and draws; a posterior imputation's redraws within
bounds), and the chain its own, drawn up front from ``random_state``, so
the result does not depend on ``n_jobs``.
"""

import contextlib
import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone
from sklearn.utils import check_random_state

from emimpute._base import check_sample_weight
from emimpute._em._bootstrap import bootstrap_params
from emimpute._em._chain import posterior_chain
from emimpute._em._dask import is_dask_array, is_dask_collection
from emimpute._em._parallel import serial_engine
from emimpute._em._streams import seeded
from emimpute._em._warnings import user_stacklevel
from emimpute._imputer import EMImputer
from emimpute._layout import categorical_mask
from emimpute._sklearn_compat import _wrap_data_with_container, check_is_fitted
from emimpute._table import as_table, container_of, missing_cells

METHODS = ("bootstrap", "posterior")


def multiple_impute(
    X,
    n_imputations=5,
    *,
    imputer=None,
    method="bootstrap",
    random_state=None,
    n_jobs=None,
    sample_weight=None,
    return_imputer=False,
):
    """Proper multiple imputations of ``X``: a parameter draw for each.

    The model is fit once by EM; then each imputation draws the model's
    parameters from (an approximation of) their distribution given the
    observed data, and every missing entry from its conditional
    distribution under that draw. Analyses of the completed tables, pooled
    by Rubin's rules (:func:`pool`, :func:`fit_and_pool`), then account for
    the uncertainty of the imputations, including that of the model's
    parameters; draws under the single fit (``EMImputer(sample_posterior=True)``
    alone) would not, and their confidence intervals would be too narrow.

    Parameters
    ----------
    X : array-like, pandas or polars DataFrame of shape (n_samples, n_features)
        Data with missing entries (as the imputer reads them), in memory: a
        dask array is refused (the parameter draws refit to the data).

    n_imputations : int, default=5
        Number of completed tables, at least 2. 5 to 20 are usual; more when
        the fraction of missing information is high or when p-values and
        interval ends must be stable (see the user guide).

    imputer : EMImputer, default=None
        The imputation model, cloned (never fitted in place); its
        ``sample_posterior`` and ``parameter_uncertainty`` are overridden.
        ``EMImputer()`` by default, or ``EMImputer(n_components='auto')``
        when ``X`` has another column beside a categorical one with a hole
        (categorical as ``EMImputer``'s default
        ``categorical_features='from_dtype'`` reads it: a pandas
        ``category``, string, bool or text column, and their polars and
        numpy kin; a column with nothing observed does not count). With one
        component the categorical columns are independent of every other
        one: their holes would be drawn from their column's frequencies,
        whatever the rest of the row says, and an analysis of an association
        with such a column would be biased towards none; the components
        carry that association (see the user guide). Numeric data take
        ``EMImputer()``, unchanged.

    method : {'bootstrap', 'posterior'}, default='bootstrap'
        How the parameters are drawn:

        - 'bootstrap': EM refit on a row bootstrap of the data, started from
          the full-data fit (Amelia's EMB);
        - 'posterior': draws from the parameters' posterior under a
          non-informative prior by data augmentation (norm's and mice's
          approach; the prior is described in ``emimpute._em._uncertainty``):
          one chain started at the fit, the first draw after 10 steps, each
          next one 5 steps later, or more where more information is missing
          (as many as bring the correlation of successive draws to 0.08;
          the steps' autocorrelation, and why these numbers, in the same
          module).

    random_state : int, RandomState instance or None, default=None
        Seeds the imputations (and the fit, when ``imputer`` has no
        ``random_state`` of its own). An int gives the same tables whatever
        ``n_jobs``.

    n_jobs : int, default=None
        Bootstrap imputations run in parallel by joblib, on threads unless
        a :func:`joblib.parallel_backend` context says otherwise; None means
        1 unless in such a context, -1 means all processors. Not used by
        'posterior' (one chain is sequential).

    sample_weight : array-like of shape (n_samples,), default=None
        Row weights of the fit and of the parameter draws, as
        :meth:`EMImputer.fit` takes them: whole numbers count copies of a
        row ('bootstrap' resamples the copies, 'posterior' draws each copy's
        holes), other weights (survey weights) count none ('bootstrap'
        resamples the rows with their weights). Every row is completed, one
        of weight 0 too.

    return_imputer : bool, default=False
        Also return the fitted imputer: the model every parameter draw
        started from (the full-data fit), with its ``n_components_`` (what
        'auto' chose), ``means_``, ``covariances_`` and the rest, as R's
        ``mids`` and ``amelia`` objects keep their imputation model.

    Returns
    -------
    imputations : list of ndarray or DataFrame
        ``n_imputations`` completed tables of the input's kind (a numpy
        array, or a pandas or polars DataFrame with the input's columns and
        index), observed entries identical to the input's.

    imputer : EMImputer
        The fitted clone of ``imputer``; only when ``return_imputer``. Its
        ``sample_posterior`` is True and its ``parameter_uncertainty`` is
        ``method``: each ``transform`` draws one more proper imputation.

    Warns
    -----
    UserWarning
        When the fitted model has one component (``n_components=1``, or
        'auto' that chose 1) and a categorical column with a hole beside
        another column: that column's holes are drawn from its frequencies,
        independently of the other columns. The warning names the columns.

    See Also
    --------
    EMImputer : The imputation model (``parameter_uncertainty`` gives one
        proper imputation per ``transform``, for pipelines).
    pool : Rubin's rules.
    fit_and_pool : Fit an estimator on every imputation and pool.

    References
    ----------
    Rubin (1987), Multiple Imputation for Nonresponse in Surveys. Wiley.

    Honaker, King and Blackwell (2011), Amelia II: a program for missing
    data. Journal of Statistical Software 45(7).

    Schafer (1997), Analysis of Incomplete Multivariate Data. Chapman & Hall.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute import multiple_impute
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(50, 3))
    >>> X[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> tables = multiple_impute(X, n_imputations=3, random_state=0)
    >>> len(tables), tables[0].shape
    (3, (50, 3))
    >>> bool(np.isnan(tables[0]).any())
    False
    >>> observed = ~np.isnan(X)
    >>> all((t[observed] == X[observed]).all() for t in tables)
    True
    """
    if (
        not isinstance(n_imputations, Integral)
        or isinstance(n_imputations, bool)
        or n_imputations < 2
    ):
        raise ValueError(
            f"n_imputations must be an integer >= 2, got {n_imputations!r}: "
            "Rubin's rules need at least two imputations to estimate the "
            "between-imputation variance (5 to 20 are usual)."
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if is_dask_collection(X):
        # Before the fit, which would refuse parameter_uncertainty, an
        # option set here and not by the caller (or, for a dask DataFrame,
        # suggest its dask array, which this refuses too).
        kind = "dask array" if is_dask_array(X) else f"dask {type(X).__name__}"
        raise ValueError(
            f"multiple_impute needs X in memory, not a {kind}: its parameter "
            "draws refit (or augment) the training data, which must stay in "
            "memory, and it returns n_imputations completed tables in memory. "
            "Compute X first (X.compute())."
        )
    if imputer is None:
        # Only the column types (and the categorical columns' holes) are
        # read: numeric data take EMImputer() as they always did, with no
        # extra pass and no extra fit.
        imputer = (
            EMImputer(n_components="auto") if _categorical_holes(X) else EMImputer()
        )
    elif not isinstance(imputer, EMImputer):
        raise TypeError(
            f"imputer must be an EMImputer, got {type(imputer).__name__}; "
            "other imputers have no parameter draw."
        )
    rng = check_random_state(random_state)
    # seeds[0] fits (when the imputer has no seed), seeds[1:-1] seed the
    # imputations, seeds[-1] the posterior's chain.
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_imputations + 2)
    imputer = clone(imputer).set_params(
        sample_posterior=True, parameter_uncertainty=method
    )
    if imputer.random_state is None and random_state is not None:
        imputer.set_params(random_state=int(seeds[0]))
    container = container_of(X)
    # Tables of the input's kind, whatever scikit-learn's global
    # transform_output says (it made DataFrames of a numpy input).
    imputer.set_output(transform=container if container != "numpy" else "default")
    if type(imputer).fit is EMImputer.fit:
        training = imputer._fit_keeping_data(X, sample_weight)
    else:
        # A subclass's own fit is honoured: X is then read again.
        # Weights only when given: a subclass's fit may take none.
        weighted = {} if sample_weight is None else {"sample_weight": sample_weight}
        imputer.fit(X, **weighted)
        training = None
    _warn_independent_categories(imputer, X, training)
    tables = proper_imputations(
        imputer,
        X,
        seeds[1:-1],
        seeds[-1],
        n_jobs=n_jobs,
        training=training,
        sample_weight=sample_weight,
    )
    if container == "pandas" and not all(isinstance(c, str) for c in X.columns):
        # scikit-learn names the features of a frame whose column names are
        # not all strings x0, x1, ...: the input's names come back, in the
        # indicator columns' names too.
        names = {}
        for j, column in enumerate(X.columns):
            names[f"x{j}"] = column
            names[f"missingindicator_x{j}"] = f"missingindicator_{column}"
        tables = [table.rename(columns=names) for table in tables]
    return (tables, imputer) if return_imputer else tables


def _categorical_holes(X):
    """Whether ``X`` has a categorical column with a hole beside another column.

    Categorical as ``EMImputer()`` reads the columns
    (``categorical_features='from_dtype'``, NaN, None and ``pd.NA`` the
    holes), by the functions its fit calls; a column with nothing observed
    does not count (the fit skips it). A numeric ndarray, which has no
    categorical column, is not read at all; a DataFrame's numeric columns
    are judged by their dtype alone.
    """
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        return False
    table = as_table(X)
    if table.shape[1] < 2:
        return False
    columns = np.flatnonzero(
        categorical_mask(table, "from_dtype", n_features=table.shape[1])
    )
    if not len(columns):
        return False
    holes = missing_cells(table, columns)
    return bool((holes.any(axis=0) & ~holes.all(axis=0)).any())


def _warn_independent_categories(imputer, X, training):
    """Warn when one component leaves categorical holes independent of the rest.

    The fitted ``imputer``'s own reading of ``X``: its kept categorical
    features (``categorical_features_``) and, for their holes, the mask of
    the training data it kept (``training``), read again only for a
    subclass's fit and only when there are categorical features. A model of
    numeric features only returns at once.
    """
    categorical = imputer.categorical_features_
    if imputer.n_components_ != 1 or not len(categorical):
        return
    if len(imputer.numeric_features_) + len(categorical) < 2:
        return  # no other column to be associated with
    table = training[0] if training is not None else imputer._read(X, reset=False)
    mask = table.mask
    holed = categorical[mask[:, categorical].any(axis=0)]
    if not len(holed):
        return
    names = getattr(imputer, "feature_names_in_", None)
    if names is not None:
        named = [str(name) for name in names[holed]]
    elif container_of(X) == "pandas":
        named = X.columns[holed].tolist()
    else:
        named = [int(j) for j in holed]
    if imputer.n_components == "auto":
        fix = (
            "n_components='auto' chose 1: more components did not impute the "
            "held-out cells better, which a weak association also gives; where "
            "an analysis is about those columns' associations, pass an imputer "
            "with n_components >= 2 (on the command line, --n-components 2)"
        )
    else:
        fix = (
            "Set n_components='auto' (or >= 2) on the imputer, as in "
            "imputer=EMImputer(n_components='auto') (on the command line, "
            "--n-components auto)"
        )
    warnings.warn(
        "multiple_impute: the imputation model has one component, so the holes "
        f"of the categorical column(s) {named} are drawn from their column's "
        "frequencies, independently of the other columns: analyses of an "
        "association with those columns are biased towards none (their "
        f"effects shrink towards 0). {fix}: the components carry the "
        "association between the categorical columns and the rest.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def proper_imputations(
    imputer, X, seeds, chain_seed, n_jobs=None, training=None, sample_weight=None
):
    """The tables of :func:`multiple_impute`: one parameter draw each, of
    the fitted ``imputer``'s model.

    ``X`` is the training data, read, checked and grouped by missingness
    pattern once for all of them. 'bootstrap': imputation ``i`` draws
    its refit and its holes from ``_streams.seeded(seeds[i])``, as
    ``transform`` with that stream would, in parallel over ``n_jobs``
    joblib workers. 'posterior': the parameters and the holes are the
    successive draws of one data augmentation chain on the training
    data, from ``RandomState(chain_seed)`` (``posterior_chain``: the
    burn-in and thinning of :meth:`EMImputer._posterior_plan`, 10 and 5 steps
    unless much information is missing; each imputation is the
    chain's I-step at its parameter draw), bounded as ``transform``
    bounds a draw, with any redraw from ``_streams.seeded(seeds[i])``. The
    chain is sequential: ``n_jobs`` is not used. ``training``: what
    :meth:`EMImputer._fit_keeping_data` returned for this ``X``, used instead of
    reading it again; else ``X`` is read again, with ``sample_weight``
    (the fit's), which the bootstrap resamples.
    """
    check_is_fitted(imputer)
    if imputer._params is None:
        return [imputer.transform(X) for _ in seeds]
    if training is None:
        table = imputer._read(X, reset=False)
        weights = check_sample_weight(sample_weight, table.mask)
        data = imputer._engine_data(table, sample_weight=weights)
        model_data = imputer._support.model_data(data)
    else:
        table, data, model_data = training
    if imputer.parameter_uncertainty == "posterior":
        if training is None and not np.array_equal(
            model_data.mask, imputer._fit_data.mask
        ):
            raise ValueError(
                "Posterior imputations are of the data the imputer was "
                "fit on: pass the same X to fit and to this call."
            )
        plan = imputer._posterior_plan()
        chain = posterior_chain(
            imputer._fit_data,
            plan.start,
            imputer._fitted_config().prior,
            np.random.RandomState(chain_seed),
            burn_in=plan.burn_in,
            thin=plan.thin,
            scaling=imputer._scaling,
            unscaled=model_data,
        )
        # The seeds' streams only redraw holes drawn out of bounds: none
        # is made without bounds or transformations.
        redraws = not imputer._support.is_identity
        completions = [
            imputer._complete_data(
                data,
                model_data,
                params,
                seeded(seed) if redraws else None,
                completion=drawn,
            )
            # The chain is endless: the seeds say how many draws (zipped
            # first, so that no draw is made past the last seed).
            for seed, (params, drawn) in zip(seeds, chain, strict=False)
        ]
        chain.close()
    else:
        # Every draw completes the same data: standardised once, its row
        # blocks (and the rows they gather) kept for all of them.
        options = {"keep_blocks": True}
        if imputer._scaling is not None:
            # The fit's standardised data, where this is its data.
            options["scaled_data"] = (
                imputer._scaling.apply(model_data)
                if training is None
                else imputer._fit_data
            )
        # One task per worker, not per imputation, on threads by
        # default: the refits and draws run compiled with the GIL
        # released, and threads share the data and what is kept for it
        # (the per-pattern rows, the row blocks), which processes would
        # each get pickled and make again (measured, 20 imputations at
        # 1e4 x 10: 112 ms in one process, 114 in two, 85 on two
        # threads; at 1e5 x 10, 592, 885 and 414 ms). Each task runs the
        # engine on one thread: the tasks are the parallelism.
        n_tasks = max(1, min(len(seeds), effective_n_jobs(n_jobs)))
        batches = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_bootstrap_completions)(
                imputer, data, model_data, batch, options, serial=n_tasks > 1
            )
            for batch in np.array_split(np.asarray(seeds), n_tasks)
        )
        completions = [completion for batch in batches for completion in batch]
        # What the draws kept (row blocks, the compiled pass's rows) goes
        # with them: the data may be the fit's own, which the imputer
        # keeps.
        options.get("scaled_data", model_data).release_blocks()
    return [
        _wrap_data_with_container(
            "transform", imputer._output(table, completion), X, imputer
        )
        for completion in completions
    ]


def _bootstrap_completions(imputer, data, model_data, seeds, options, serial=False):
    """Bootstrap parameter draws and the holes under each, a stream per seed.

    ``serial``: the engine on this thread only (one of several tasks).
    """
    completions = []
    config = imputer._fitted_config()
    with serial_engine() if serial else contextlib.nullcontext():
        for seed in seeds:
            # A Generator, whose seeding and numbers cost less than a
            # RandomState's (_streams).
            random_state = seeded(seed)
            params = bootstrap_params(
                imputer._fit_data,
                imputer._params,
                config,
                random_state,
                scaling=imputer._scaling,
            )
            completions.append(
                imputer._complete_data(
                    data, model_data, params, random_state, **options
                )
            )
    return completions
