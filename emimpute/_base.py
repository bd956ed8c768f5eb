"""What the estimators share: EM parameters, their validation, the fit."""

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from emimpute._em._config import EMConfig, Prior
from emimpute._em._dask import (
    check_known_chunks,
    check_numeric_dtype,
    check_row_chunks,
    refuse_unsupported,
)
from emimpute._em._data import EMData
from emimpute._em._forms import (
    COVARIANCE_TYPES,
    ILL_DEFINED_COVARIANCE,
    SINGULAR_PIVOT,
    covariance_form,
)
from emimpute._em._gaussian import GaussianFamily
from emimpute._em._init_clusters import INIT_METHODS
from emimpute._em._loop import run_em
from emimpute._em._warnings import user_stacklevel
from emimpute._input import TableInput
from emimpute._layout import categorical_mask
from emimpute._prior import ConjugatePrior
from emimpute._sklearn_compat import (
    Interval,
    StrOptions,
    _check_sample_weight,
    validate_data,
)

EM_PARAMETER_CONSTRAINTS = {
    "categorical_features": [
        StrOptions({"from_dtype"}),
        "array-like",
        None,
    ],
    "category_smoothing": [Interval(Real, 0.0, None, closed="left")],
    "handle_unknown": [StrOptions({"error", "ignore"})],
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
    "tol": [Interval(Real, 0.0, None, closed="left")],
    "reg_covar": [Interval(Real, 0.0, None, closed="left")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init_params": [StrOptions(set(INIT_METHODS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "prior": [None, StrOptions({"default"}), ConjugatePrior],
}


def check_fit_rows(
    data, n_components, estimator_name, mask=None, *, dropped=False, min_rows=1
):
    """Raise a clear error when EM cannot be fit on these rows.

    EM needs at least ``n_components`` rows with something observed (and
    ``min_rows``: 2 for a mixture, as ``GaussianMixture`` needs two rows,
    since one row fixes no spread) and at least one observed value per
    feature (else no mean or category probability is estimable). ``mask``
    is the input's missingness mask, for the features' indices in the
    message (``data``'s numeric mask by default); ``dropped``, whether rows
    of weight 0 were left out of ``data``, which the message then says.
    """
    n_samples, n_informative, observed_counts = data.summary()
    if n_samples < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = "
            f"{n_components}, n_samples = {n_samples}"
        )
    # One row fixes no spread of a numeric feature; categories' frequencies
    # need no second row.
    min_rows = min_rows if data.n_numeric else 1
    needed = max(n_components, min_rows)
    if n_informative < needed:
        reason = (
            f"n_components = {n_components}"
            if n_components >= min_rows
            else "one row fixes no spread"
        )
        left_out = " of positive sample_weight" if dropped else ""
        raise ValueError(
            f"{estimator_name} needs at least {needed} rows with an observed "
            f"value ({reason}), but only {n_informative} of the {n_samples} "
            f"rows{left_out} have one."
        )
    empty = observed_counts == 0 if mask is None else mask.all(axis=0)
    empty_features = np.flatnonzero(empty)
    if len(empty_features):
        where = " in a row of positive sample_weight" if dropped else ""
        raise ValueError(
            f"{estimator_name} cannot estimate a mean (or, for a categorical "
            "feature, category probabilities) for features without any "
            f"observed value{where}: {empty_features.tolist()}."
        )


def check_warm_start(start, data, config):
    """Raise a clear error when warm-start parameters do not fit this fit.

    ``warm_start=True`` continues from the previous fit's parameters, which
    fix the number of components, the covariance type and the columns
    (numeric features and each categorical column's categories); a refit
    that changes any of them has no parameters to continue from.
    """
    gaussian = start.gaussian
    previous = {
        "n_components": start.n_components,
        "covariance_type": None if gaussian is None else gaussian.form.name,
        "numeric features": 0 if gaussian is None else gaussian.means.shape[1],
        "categories per categorical column": ()
        if start.categorical is None
        else tuple(p.shape[1] for p in start.categorical.probabilities),
    }
    current = {
        "n_components": config.n_components,
        "covariance_type": None if gaussian is None else config.form.name,
        "numeric features": data.n_numeric,
        "categories per categorical column": tuple(data.n_categories),
    }
    changed = [
        f"{name} {previous[name]} (now {current[name]})"
        for name in previous
        if previous[name] != current[name]
    ]
    if changed:
        raise ValueError(
            "warm_start=True continues from the previous fit, which had "
            + ", ".join(changed)
            + ". Set warm_start=False to fit afresh, or refit with the "
            "previous settings and columns."
        )


def conjugate_prior(prior):
    """The :class:`ConjugatePrior` of a ``prior`` parameter, or None."""
    if prior is None:
        return None
    return ConjugatePrior() if isinstance(prior, str) else prior


def em_config(
    estimator,
    *,
    standardise=False,
    classes=None,
    n_components=None,
    prior=None,
    moment_tol=None,
):
    """The engine's :class:`EMConfig` from an estimator's parameters.

    ``classes`` (a classifier's :class:`~emimpute._em._labels.Classes`), or
    ``n_components`` when given, sets the number of components instead of
    ``estimator.n_components``; ``prior``, when given, replaces
    ``estimator.prior``; ``moment_tol`` is the engine's (see
    ``EMConfig``).
    """
    if prior is None:
        prior = getattr(estimator, "prior", None)
    if n_components is None:
        n_components = (
            estimator.n_components if classes is None else classes.n_components
        )
    return EMConfig(
        n_components=n_components,
        form=covariance_form(estimator.covariance_type),
        prior=Prior(
            reg_covar=estimator.reg_covar,
            category_smoothing=estimator.category_smoothing,
            conjugate=conjugate_prior(prior),
        ),
        tol=estimator.tol,
        moment_tol=moment_tol,
        max_iter=estimator.max_iter,
        n_init=estimator.n_init,
        init_params=estimator.init_params,
        random_state=check_random_state(estimator.random_state),
        standardise=standardise,
        verbose=estimator.verbose,
        verbose_interval=getattr(estimator, "verbose_interval", 10),
        classes=classes,
    )


def fit_em(
    estimator,
    data,
    *,
    standardise=False,
    start=None,
    mask=None,
    classes=None,
    n_components=None,
    prior=None,
    units_offset=0.0,
    moment_tol=None,
    min_rows=1,
    **initial,
):
    """Run EM on ``data`` with the estimator's parameters.

    Parameters
    ----------
    estimator : estimator with the parameters of ``EM_PARAMETER_CONSTRAINTS``
    data : EMData
    standardise : bool, default=False
        Fit the numeric columns standardised (see ``EMConfig``).
    start : MixtureParams, default=None
        Warm-start parameters.
    mask : ndarray of shape (n_samples, n_features), default=None
        The input's missingness mask, for the error on empty features.
    classes : Classes, default=None
        The components' classes, for data with labels (see ``em_config``).
    n_components : int, default=None
        Overrides ``estimator.n_components`` (a selection's candidates).
    prior : 'default' or ConjugatePrior, default=None
        Overrides ``estimator.prior``.
    units_offset : float, default=0.0
        The mean log-Jacobian from ``data``'s units to the estimator's (see
        ``run_em``).
    moment_tol : float, default=None
        Stop only when, besides, no moment of the mixture moves by this
        much in an iteration (see ``EMConfig``).
    min_rows : int, default=1
        The fewest rows with an observed value the fit takes, whatever the
        number of components (see :func:`check_fit_rows`).
    **initial
        ``weights_init``, ``means_init``, ``precisions_init``.

    Returns
    -------
    result : EMResult
    """
    config = em_config(
        estimator,
        standardise=standardise,
        classes=classes,
        n_components=n_components,
        prior=prior,
        moment_tol=moment_tol,
    )
    dropped = False
    if data.sample_weight is not None:
        # A row of weight 0 is a row dropped: it changes no statistic (the
        # E-step would count it as nothing), and the fit's row checks and
        # start then see only the rows that count.
        kept = data.sample_weight > 0
        dropped = not kept.all()
        data = data.take(kept)
        mask = None if mask is None else mask[kept]
    check_fit_rows(
        data,
        config.n_components,
        type(estimator).__name__,
        mask,
        dropped=dropped,
        min_rows=min_rows,
    )
    if start is not None:
        check_warm_start(start, data, config)
    result = run_em(
        data,
        config,
        start=start,
        previous_lower_bound=(
            None if start is None else getattr(estimator, "lower_bound_", None)
        ),
        units_offset=units_offset,
        **initial,
    )
    check_fitted_variances(result, data, config.prior.reg_covar)
    return result


# reg_covar may make up at most this share of a fitted variance, and this
# share squared of the data's variance of that feature, before the absolute
# ridge is said to swamp the data's scale.
REG_COVAR_SHARE = 0.1


def component_variances(gaussian):
    """Each component's variance of each feature, ``(K, d)``."""
    return gaussian.form.component_variances(
        gaussian.covariances, gaussian.n_components, gaussian.n_features
    )


def check_fitted_variances(result, data, reg_covar):
    """Refuse collapsed variances; warn when ``reg_covar`` swamps the data.

    With ``reg_covar=0``, a component's variance of a feature at or below
    ``SINGULAR_PIVOT d`` times the data's variance of it is a collapse (a
    feature observed on one row only drives its variance to 0 geometrically,
    one factor per iteration, without a singular factorisation ever
    flagging it): the ill-defined covariance error, as a component on a
    single point of complete data gives. Cost ``O(n d)`` for the data's
    variances, computed only when needed.

    With ``reg_covar > 0``: ``reg_covar`` is added to every variance after each
    M-step, in the squared units of the data (of the standardised features,
    variance 1 each, in EMImputer's fit); when it makes up more than
    ``REG_COVAR_SHARE`` (10%) of a fitted component's variance of a feature and
    more than 1% of that feature's variance in the data (features with no
    spread in the data left aside: nothing can help them), it decides the fit
    rather than the data (two clusters at a scale of 1e-8 merge into one). The
    second condition leaves out a component collapsing onto a few rows of data
    at an ordinary scale, where ``reg_covar`` is doing its job. The message
    gives the data's smallest variance and a ``reg_covar`` scaled to it.
    """
    gaussian = result.params.gaussian
    if gaussian is None or data.n_numeric == 0:
        return
    fitted = component_variances(gaussian)
    # The data's observed variances (1 for a feature with no spread, and
    # in the units of a standardised fit: 1 each).
    standardised = result.scaling is not None
    if reg_covar == 0.0:
        data_variances = 1.0 if standardised else data.fit_scaling().scale ** 2
        if np.any(fitted <= SINGULAR_PIVOT * data.n_numeric * data_variances):
            raise ValueError(ILL_DEFINED_COVARIANCE)
        return
    swamped = reg_covar > REG_COVAR_SHARE * fitted
    if not swamped.any():
        return
    data_variances = 1.0 if standardised else data.fit_scaling().scale ** 2
    swamped &= reg_covar > REG_COVAR_SHARE**2 * data_variances
    if not swamped.any():
        return
    smallest = fitted[swamped].min()
    if standardised:
        # EMImputer: reg_covar is in units of the features' variances.
        effect = (
            "shrinks the correlations the imputations rest on"
            if gaussian.form.dense
            else "inflates the variances, and so the imputations' standard "
            "deviations and draws"
        )
        message = (
            f"reg_covar={reg_covar:.3g} is {reg_covar / smallest:.0%} of the "
            "smallest fitted variance of the standardised features (EMImputer "
            "fits each feature scaled to variance 1, and adds reg_covar to "
            f"those variances): it {effect}. Lower it (the default is 1e-6)."
        )
    else:
        data_scale = data_variances.min()
        message = (
            f"reg_covar={reg_covar:.3g} is {reg_covar / smallest:.0%} of the "
            f"smallest fitted variance ({smallest:.3g}): it is absolute, in the "
            "squared units of the data, and here it swamps the data's scale "
            f"(smallest feature variance {data_scale:.3g}), so components may "
            "merge. Scale the data (for example with StandardScaler) or set "
            f"reg_covar to about 1e-6 times the data's variance "
            f"(reg_covar={1e-6 * data_scale:.3g})."
        )
    warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


def engine_data(
    table_input, numeric=None, categorical=None, labels=None, sample_weight=None
):
    """The engine's data of some of an input's numeric and categorical columns.

    ``numeric`` and ``categorical`` are positions among the input's numeric
    and categorical columns (all by default); ``labels`` are class codes
    (-1 where unlabelled) for a classifier's fit; ``sample_weight`` the rows'
    validated weights.
    """
    layout = table_input.layout
    numeric = slice(None) if numeric is None else numeric
    categorical = slice(None) if categorical is None else categorical
    n_categories = ()
    if layout is not None:
        n_categories = [len(c) for c in layout.categories]
        n_categories = np.asarray(n_categories, dtype=int)[categorical]
    mask = table_input.mask
    if layout is not None:
        mask = mask[:, layout.numeric]
    return EMData.build(
        table_input.numeric[:, numeric],
        mask[:, numeric],
        table_input.codes[:, categorical],
        tuple(n_categories),
        labels,
        sample_weight,
    )


def check_sample_weight(sample_weight, X):
    """Validated non-negative float weights of ``X``'s rows, or None.

    Raises
    ------
    ValueError
        If the weights are negative, not finite, of the wrong length, or all
        zero.
    """
    if sample_weight is None:
        return None
    weights = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
    if not weights.sum() > 0:
        raise ValueError(
            "sample_weight sums to 0: give at least one row a positive weight."
        )
    return weights


def dask_fit_input(estimator, X, sample_weight, validate=None, **unsupported):
    """The fit's input from a row-chunked dask array (numeric, NaN holes).

    Checks the chunks (along rows only, of known sizes) and the dtype
    (numeric, :func:`check_numeric_dtype`), refuses the options dask data
    lacks (``sample_weight``, ``prior``, categorical features, and the
    estimator's own ``unsupported``: description -> used) with a clear
    error, and validates ``X`` as far as its shape and dtype decide
    (:func:`check_dask_input` with ``validate``, by default
    ``validate_data``), which sets ``n_features_in_`` (and no feature
    names) as ``validate_data`` on ``X`` would. All of it before any pass
    over the rows. The returned input has no mask rows: the missingness is
    read chunk by chunk.
    """
    check_row_chunks(X)
    check_known_chunks(X, "a fit")
    check_numeric_dtype(X, "a fit")
    refuse_unsupported(
        {
            "sample_weight": sample_weight is not None,
            "prior (its hyperparameters need the data in memory)": (
                estimator.prior is not None
            ),
            **unsupported,
        }
    )
    refuse_categorical_features(estimator.categorical_features, X.shape[1])
    if validate is None:
        validate = partial(validate_data, estimator)
    check_dask_input(validate, X, reset=True)
    return TableInput(X, None, None, np.zeros((0, X.shape[1]), dtype=bool), None)


def refuse_categorical_features(categorical_features, n_features):
    """Refuse ``categorical_features`` naming a column of a dask array ``X``.

    A dask fit reads numeric columns only (its data hold no categories), so
    a column named categorical would be fit as a Gaussian feature. The
    parameter is resolved as in memory (:func:`emimpute._layout.categorical_mask`,
    whose errors an out-of-range index or a name gets, a dask array having
    no feature names); 'from_dtype' and None name nothing on numeric
    columns (:func:`check_numeric_dtype` refused the others), nor does an
    empty list or an all-False mask.
    """
    if categorical_features is None or isinstance(categorical_features, str):
        # None, or 'from_dtype' (anything else is refused by the
        # parameter's validation): no categorical column in numbers.
        return
    is_categorical = categorical_mask(
        np.empty((0, n_features)), categorical_features, n_features=n_features
    )
    if is_categorical.any():
        raise ValueError(
            f"categorical_features={categorical_features!r} makes columns "
            f"{np.flatnonzero(is_categorical).tolist()} of X categorical, but a "
            "dask array X holds numeric columns only: categorical columns are not "
            "supported with a dask array X yet. Compute X in memory "
            "(X.compute(); a dask DataFrame's compute() gives a pandas "
            "DataFrame) to model them as categories, or drop those columns "
            "from X."
        )


def check_dask_input(validate, X, *, reset, row=None):
    """Validate a dask ``X`` now, as far as its shape and dtype decide.

    ``validate(A, reset=...)`` is the estimator's in-memory validation; it
    runs on an in-memory stand-in of ``X``'s columns and dtype, so that the
    number of features, its minimum, the number of rows (when known) and
    the dtype are checked at the call with the in-memory messages, not when
    a lazy result is computed. The stand-in has ``X``'s rows up to 2 (what
    a minimum of rows can ask for: the messages give ``X``'s shape), and
    all of them when ``X`` has no columns (then it holds nothing); 1 when
    the row chunks' sizes are unknown. Its values are zeros, or ``row``
    (of ``X``'s dtype) in every row when it has ``X``'s columns: the
    entries of ``X`` are read only by the chunks' tasks, and a mixed
    table's categorical columns need a valid cell where 0 is no category
    (:func:`emimpute._encode.valid_row`).
    """
    check_row_chunks(X)
    n_rows, n_columns = X.shape
    if np.isnan(n_rows):
        n_rows = 1
    elif n_columns:
        n_rows = min(n_rows, 2)
    stand_in = np.zeros((n_rows, n_columns), dtype=X.dtype)
    # Of another width, the zeros get the in-memory error about the columns.
    if row is not None and len(row) == n_columns:
        stand_in[:] = row
    validate(stand_in, reset=reset)


def check_lazy_input(validate, X, *, layout, what, row=None):
    """Validate a dask ``X`` at the call of ``what``, a lazy method of a
    fitted model, before any chunk is read.

    A model of numeric features (``layout`` None, as every dask fit's)
    reads a dask array as numeric columns only, as a dask fit does: another
    dtype is refused now with the fit's message
    (:func:`check_numeric_dtype`). In memory, scikit-learn's validation
    converts an object array of numbers to floats after looking at its
    values; a dask array's values are seen only when its chunks are
    computed, where a chunk of text or ``pd.NA`` would fail in a task,
    after the chunks before it. A model with categorical features (fitted
    in memory: a dask fit has none) reads each chunk as a table, as in
    memory, and an object array holds its text categories. Then
    :func:`check_dask_input` (``row``: see there).
    """
    check_row_chunks(X)
    if layout is None:
        check_numeric_dtype(X, what)
    check_dask_input(validate, X, reset=False, row=row)


def validate_with_nan(estimator, X, *, reset):
    """Float ``X`` and its NaN mask, as the mixture and the classifier read it.

    NaN marks a missing entry; fit needs two rows at least (as
    ``GaussianMixture``). float32 stays float32 (see :func:`output_dtype`);
    any other dtype becomes float64.
    """
    X = validate_data(
        estimator,
        X,
        dtype=[np.float64, np.float32],
        ensure_all_finite="allow-nan",
        ensure_min_samples=2 if reset else 1,
        reset=reset,
    )
    return X, np.isnan(X)


def output_dtype(data):
    """The float dtype of the results computed on ``data`` (or an array).

    As scikit-learn's ``GaussianMixture`` and imputers, float32 input gives
    float32 attributes and outputs. The engine keeps float32 data as it is
    (half the memory) but computes in float64: every row block is promoted
    when it meets the float64 parameters, and the factorisations, the
    log-sum-exp and the accumulated statistics (sums over up to millions of
    rows) run in float64, so float32 results are float64 ones rounded once.
    Any other dtype (integers, bools, float16) gives float64, as its
    validation in memory makes it float64 (a dask array's declared dtype
    must be the computed one).
    """
    return np.dtype(np.float32 if data.dtype == np.float32 else np.float64)


def as_dtype(value, dtype):
    """``value`` (an array or a float) rounded to ``dtype`` (no copy if it is).

    A value beyond ``dtype``'s range (an outlier's log-density in float32)
    becomes an infinity, the rounding's answer, without numpy's warning.
    """
    with np.errstate(over="ignore"):
        if np.ndim(value) == 0:
            return dtype.type(value)
        return np.asarray(value).astype(dtype, copy=False)


def store_fitted(estimator, result, table, form, dtype=None):
    """Set a mixture-like estimator's fitted attributes from an EM result.

    ``weights_``, the Gaussian family's ``means_``, ``covariances_``,
    ``precisions_cholesky_`` and ``precisions_`` (empty arrays of the form's
    shape without numeric features) in ``dtype`` (see :func:`output_dtype`),
    the categorical family's ``category_probabilities_``, the column split
    and the convergence record.
    ``_params`` keeps the engine's float64 parameters, which the estimator
    scores, predicts and warm-starts with.
    """
    store_run(estimator, result, form, dtype)
    estimator.numeric_features_ = table.numeric_columns
    estimator.categorical_features_ = table.categorical_columns
    estimator.categories_ = [] if table.layout is None else table.layout.categories


def warn_unidentified_covariances(estimator, data):
    """Warn of numeric features never observed in the same row.

    Their covariance (and correlation) is not identified by the data: the
    observed-data likelihood is the same whatever it is (within positive
    definiteness), so the fitted value is where EM started (or the
    prior's), and each feature's imputations from the other follow it, not
    the data. Only covariance types with covariances ('full', 'tied'),
    and in-memory data (the patterns a fit has made; a dask fit is not
    checked). The fitted ``estimator``'s ``numeric_features_`` name the
    features of ``data``'s numeric columns. Cost ``O(P d^2)`` for ``P``
    missingness patterns (:meth:`MissingPatterns.joint_counts`).
    """
    gaussian = estimator._params.gaussian
    if gaussian is None or not gaussian.form.dense or not isinstance(data, EMData):
        return
    weights = data.sample_weight
    counts = data.patterns.joint_counts(
        None if weights is None else (weights > 0).astype(float)
    )
    observed = np.diagonal(counts) > 0
    apart = (counts == 0) & observed[:, np.newaxis] & observed[np.newaxis, :]
    first, second = np.nonzero(np.triu(apart, 1))
    if not len(first):
        return
    columns = estimator.numeric_features_
    names = getattr(estimator, "feature_names_in_", None)

    def named(j):
        column = columns[j]
        return repr(str(names[column])) if names is not None else f"{column}"

    pairs = [f"{named(i)} and {named(j)}" for i, j in zip(first, second, strict=True)]
    shown = "; ".join(pairs[:3]) + (
        f"; and {len(pairs) - 3} more pairs" if len(pairs) > 3 else ""
    )
    warnings.warn(
        f"Features {shown} are never observed in the same row: the data say "
        "nothing of their covariance. Its fitted value comes from where EM "
        "started (or from the prior), and so do the imputations of each from "
        "the other. Collect rows that observe both, or fit "
        "covariance_type='diag' (no covariances).",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def store_run(estimator, result, form, dtype=None):
    """The fitted attributes of :func:`store_fitted` that a run sets: the
    parameters and the convergence record, not the column split (the same
    for every run of a fit, which a caller may switch between)."""
    dtype = np.dtype(np.float64) if dtype is None else dtype
    params = result.params
    # The model itself, in float64: float32 attributes are its rounded
    # image, and a covariance of condition number beyond 1e7 rounded to
    # float32 may not be positive definite any more.
    estimator._params = params
    n_components = len(params.weights)
    gaussian = params.gaussian
    if gaussian is None:
        empty = np.empty(form.shape(n_components, 0))
        gaussian = GaussianFamily(form, np.empty((n_components, 0)), empty, empty)
    categorical = params.categorical
    estimator.weights_ = as_dtype(params.weights, dtype)
    estimator.means_ = as_dtype(gaussian.means, dtype)
    estimator.covariances_ = as_dtype(gaussian.covariances, dtype)
    estimator.precisions_cholesky_ = as_dtype(gaussian.precisions_cholesky, dtype)
    estimator.precisions_ = as_dtype(
        form.precisions(gaussian.precisions_cholesky), dtype
    )
    estimator.category_probabilities_ = (
        [] if categorical is None else list(categorical.probabilities)
    )
    estimator.converged_ = result.converged
    estimator.n_iter_ = result.n_iter
    estimator.lower_bound_ = as_dtype(result.lower_bound, dtype)
    estimator.lower_bounds_ = result.lower_bounds
