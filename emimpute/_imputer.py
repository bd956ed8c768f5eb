"""EMImputer: missing values filled from a Gaussian (mixture) fit by EM."""

import copy
import math
import warnings
from dataclasses import replace
from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils import check_random_state

from emimpute._base import (
    EM_PARAMETER_CONSTRAINTS,
    check_lazy_input,
    check_sample_weight,
    dask_fit_input,
    em_config,
    engine_data,
    fit_em,
    output_dtype,
    warn_unidentified_covariances,
)
from emimpute._bounds import FeatureSupport, complete_within
from emimpute._decode import (
    append_columns,
    decode,
    decoded_dtype,
    keep_observed_cells,
    restore_cells,
    select_columns,
)
from emimpute._em._bootstrap import bootstrap_params
from emimpute._em._chain import chain_plan, posterior_params
from emimpute._em._dask import (
    DaskData,
    add_counts,
    check_row_chunks,
    is_dask_array,
    map_reduce,
    map_rows,
    refuse_unsupported,
)
from emimpute._em._estep import posterior
from emimpute._em._forms import covariance_form
from emimpute._em._warnings import user_stacklevel
from emimpute._encode import valid_row
from emimpute._input import read_input
from emimpute._prior import ConjugatePrior
from emimpute._selection import (
    components_the_rows_support,
    select_by_held_out_cells,
)
from emimpute._sklearn_compat import (
    Interval,
    MissingValues,
    StrOptions,
    _check_feature_names_in,
    _fit_context,
    _get_output_config,
    _wrap_data_with_container,
    check_is_fitted,
    is_pandas_na,
    validate_data,
)
from emimpute._table import container_of, missing_cells

# The candidates of n_components='auto': mclust's default G = 1:9.
AUTO_COMPONENTS = range(1, 10)
# The share of the observed cells 'auto' hides to compare the candidates.
AUTO_HELD_OUT_FRACTION = 0.1


def _is_nan(value):
    """Whether the marker is NaN; ``pd.NA`` is too, as pandas gives it as NaN."""
    return (isinstance(value, Real) and math.isnan(value)) or is_pandas_na(value)


def _engine_marker(value):
    """The marker as the validated input holds it: ``pd.NA`` becomes NaN."""
    return np.nan if is_pandas_na(value) else value


def _refuse_container_of_dask(imputer):
    """Refuse a DataFrame output (``set_output``) of a dask array's transform.

    The transform of a dask array is a lazy dask array; scikit-learn's
    ``set_output`` wrapper would make it a pandas DataFrame by computing all
    of it at the call (a polars one it cannot make at all), and there is no
    lazy container for it to return instead.
    """
    container = _get_output_config("transform", imputer)["dense"]
    if container == "default":
        return
    raise ValueError(
        f"The transform output is set to {container!r} (set_output, or "
        "scikit-learn's transform_output config), an in-memory DataFrame, but "
        "X is a dask array, whose transform is a lazy dask array. Compute X "
        "first (X.compute()) for a DataFrame, or keep the default output "
        "(set_output(transform='default')) for the lazy array; "
        "dask.dataframe.from_dask_array(Xt, "
        "columns=imputer.get_feature_names_out()) makes that a lazy dask "
        "DataFrame."
    )


class EMImputer(TransformerMixin, BaseEstimator):
    """Impute missing values with a Gaussian or Gaussian mixture fit by EM.

    ``fit`` estimates, by Expectation-Maximisation, the maximum-likelihood
    Gaussian (``n_components=1``) or Gaussian mixture of the observed
    entries, under the missing-at-random assumption. ``transform`` fills
    each missing entry with its conditional expectation given the observed
    entries of its row, or with a draw from the conditional distribution
    when ``sample_posterior=True``, and can return the conditional standard
    deviation of every entry. Observed entries are returned unchanged.

    Parameters
    ----------
    missing_values : int, float, str, np.nan, None or pandas.NA, default=np.nan
        The placeholder for the missing values. All occurrences of
        ``missing_values`` are imputed. ``pd.NA`` as the marker means NaN
        (pandas' nullable columns become NaN as floats). With another
        marker, a NaN, None or ``pd.NA`` in a numeric column is an error
        (``Input X contains NaN``), as in
        :class:`~sklearn.impute.SimpleImputer`, while in a text column it is
        missing (pandas' only spelling of a missing category). A string
        marker (``"NaN"``, ``"?"``) marks cells of text columns (categorical
        features of an object array or a DataFrame); numeric input with a
        string marker is an error, as in SimpleImputer. None marks None
        cells: of text columns, and of numeric columns beside them (a None
        object, a polars null, the ``pd.NA`` of a nullable pandas column;
        numeric input alone with None is an error, as in SimpleImputer); a
        NaN of a numeric column is then an error too, and pandas stores a
        None of a float column as NaN, so mark pandas' holes with np.nan.

    n_components : int or 'auto', default=1
        Number of Gaussian components. 1 fits a multivariate Gaussian (as
        Amelia and norm do); more fit a mixture, for multimodal data.
        'auto' chooses the number that imputes best: 10% of the observed
        cells (numeric and categorical, drawn with ``random_state``) are
        hidden, 1, 2, ... up to 9 components (mclust's default range) are
        fit on the rest, stopping once the error has not improved twice in
        a row (on a small table, further 10% groups are hidden in turn,
        until a few thousand cells are held out), and each number is scored
        by the mean squared error of its conditional expectations of the
        hidden cells (in units of each column's standard deviation; the
        Brier score for a categorical cell). The fewest components whose
        error is within one standard error of the smallest are fit again
        on all the data (the one-standard-error rule: a difference within
        the noise of the hidden cells does not buy a component);
        ``n_components_`` tells the choice, ``held_out_errors_`` the
        scores. BIC (:class:`EMMixtureSelector`) chooses the best density
        instead, which is not the best imputer: on scikit-learn's diabetes
        data it splits the rows along the binary ``sex`` column, and the
        held-out RMSE of the other columns rises by 4% over one component
        (see ``benchmarks/bench_selection.py``). With ``prior=None``, 'auto'
        fits under mclust's default prior (as ``prior='default'``), since
        maximum-likelihood mixtures of full covariances overfit tables of a
        few hundred rows; pass a :class:`ConjugatePrior` to change it.
        Numbers of components whose covariances need more rows than the
        table has (``K (d + 1)`` for 'full', ``K + d`` for 'tied', ``2 K``
        for 'diag' and 'spherical', ``d`` the numeric features) are not
        tried: their covariances would be the prior's, not the data's. The
        hidden cells are also predicted by each column's own mean (its
        frequencies if categorical), as :class:`~sklearn.impute.SimpleImputer`
        would; when that beats the choice by more than one standard error
        and by more than 5%, a UserWarning says so (wide tables of few rows,
        features that do not predict one another) and suggests
        ``covariance_type='diag'`` or a ridge prior.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure of the components, as in
        :class:`sklearn.mixture.GaussianMixture`. Only 'full' and 'tied'
        carry correlations between features; with 'diag' and 'spherical'
        a missing entry is predicted from the cluster membership alone.

    tol : float, default=1e-3
        EM stops when, in one iteration, the per-row observed-data
        log-likelihood (of the standardised data, per row with an observed
        entry) changes by less than ``tol``, as in
        :class:`~sklearn.mixture.GaussianMixture`, *and* no moment of the
        fitted distribution moves by ``tol`` or more: a mean of the
        standardised features (so in units of their standard deviations), a
        covariance of them (in units of a correlation), a category's
        probability. The second rule, Amelia's and norm's habit of watching
        the parameters, is there for features that few rows observe: the
        log-likelihood is flat along their parameters, and with the first
        rule alone EM stopped far short of the maximum (with about 80% of
        one of two features missing at random on 200 rows, 30 data sets: its
        fitted variance was 0.89 of the maximum-likelihood one on average,
        down to 0.75, and its mean up to 0.45 standard deviations off; with
        both rules 0.99, at least 0.98, and 0.02, in 48 iterations instead
        of 6). With several components the second rule watches the mixture's
        overall distribution, not each component: their slow separation,
        which leaves the overall mean and covariance where they are (an
        M-step on complete rows, without a prior, keeps them), is the first
        rule's to judge. Mixtures then take typically 1.5-2 times the
        iterations at 50% missing (occasionally 5 times or more), about as
        many at 20%; the candidates of ``n_components='auto'`` are compared
        with the first rule alone. EM where more than about 90% of a feature
        is missing may need more than ``max_iter`` iterations; it then
        warns. On a dask array every iteration is a pass over the data:
        raise ``tol`` to trade precision for passes.

    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of the covariances after
        each M-step. The model is fit to the data standardised by each
        feature's observed mean and standard deviation, so ``reg_covar`` is
        relative to each feature's variance and does not depend on units.

    max_iter : int, default=100
        Maximum number of EM iterations.

    n_init : int, default=1
        Number of initialisations; the fit with the highest likelihood is
        kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', \
            'hierarchical'}, default='kmeans'
        How the initial responsibilities are chosen (see
        :class:`EMMixture`).

    random_state : int, RandomState instance or None, default=None
        Controls the initialisation and, with ``sample_posterior=True``, the
        draws. Pass an int for reproducible results: each ``transform`` call
        then draws from a stream started afresh from that seed (on a dask
        array, each row chunk from its own stream, seeded from that one).

    sample_posterior : bool, default=False
        If True, each row's missing part is drawn jointly from its
        conditional distribution (a component chosen by responsibility, then
        that component's conditional Gaussian) instead of taking the
        conditional mean. Draws under the one fit are *improper* multiple
        imputations (they leave out the parameters' uncertainty): use
        :func:`multiple_impute`, or ``parameter_uncertainty``, for proper
        ones.

    add_indicator : bool, default=False
        If True, a :class:`~sklearn.impute.MissingIndicator` is fit on the
        training data and its columns are appended to the output. Features
        with no missing value at fit time get no indicator column, even if
        values are missing at transform time.

    keep_empty_features : bool, default=False
        If True, features that were entirely missing at fit time are kept
        in the output, their missing entries filled with 0 and their
        entries observed at transform kept (as scikit-learn's
        ``SimpleImputer`` and ``IterativeImputer`` do; a categorical
        feature, which has no category to fill with, keeps its holes);
        otherwise they are dropped, with a warning.

    verbose : int, default=0
        Progress output of EM, as in :class:`EMMixture`: 0 is silent; 1
        prints the current initialization and iteration; 2 also prints the
        time and the log-likelihood change. Whatever its value, every
        iteration is also reported to the ``"emimpute"`` :mod:`logging`
        logger (at ``DEBUG``; the start and end of each run at ``INFO``), for
        applications that route progress through logging.

    verbose_interval : int, default=10
        Number of iterations between two progress lines.

    categorical_features : 'from_dtype', array-like of int, str or bool, \
            or None, default='from_dtype'
        The categorical features, as in :class:`EMMixture`: by default
        pandas ``category``, ``string``, ``bool`` and text ``object``
        columns, polars ``Categorical``, ``Enum``, ``String`` and
        ``Boolean`` columns, and the columns of a numpy object array that
        hold text or booleans. A missing categorical entry is filled with
        its most probable category given the observed entries of its row
        (a draw with ``sample_posterior=True``); see
        :meth:`predict_category_proba`. A category not seen in fit is an
        error at transform time (see ``handle_unknown``). With one
        component, the categorical features are independent of everything
        else, so a categorical hole gets its feature's mode: use
        ``n_components > 1`` to carry dependence between features of both
        kinds.

    category_smoothing : float, default=1.0
        Pseudo-count added to every category of every component in each
        M-step, so that no category has probability 0 inside a component.
        In units of ``sample_weight`` (a row of weight 1 counts 1).

    handle_unknown : {'error', 'ignore'}, default='error'
        What a categorical value not seen in fit does at transform time:
        'error' raises; 'ignore' keeps the value in the output, as read
        (observed cells are never changed; a pandas ``category`` column
        then gains it as a category), while the model reads its cell as
        missing: the row's holes are imputed from its other entries,
        ``score`` marginalises the cell, the indicator does not mark it and
        :meth:`predict_category_proba` gives it a row of zeros (no known
        category). A cross-validation fold can hold a rare category that
        its training folds lack (``SimpleImputer`` passes such values
        through).

    prior : None, 'default' or ConjugatePrior, default=None
        None fits by maximum likelihood. 'default' (mclust's
        ``priorControl()``) or a :class:`ConjugatePrior` fits the maximum a
        posteriori parameters (MAP-EM) under the conjugate prior of Fraley
        and Raftery (2007): means shrunk towards the data's mean,
        covariances towards its covariance scaled by
        ``n_components ** (-2 / n_features)``, the data-dependent
        hyperparameters computed from the observed entries. It keeps
        covariances well defined where maximum likelihood degenerates
        (fewer rows than features, small components); hyperparameters are
        stated in the data's units (see :class:`ConjugatePrior`), per-feature
        ones for every numeric feature (the entries of features skipped as
        empty at fit are dropped with them) or for the features kept. The
        data-dependent ones are computed on the standardised features the
        model is fit to: for 'diag' and 'spherical', whose default scale is
        the mean of the features' variances, that mean is of variances of
        1, so each feature's prior scale is its own variance (times
        ``n_components ** (-2 / n_features)``) in the data's units, not
        their mean as in :class:`EMMixture` and mclust, which would make a
        feature of small spread look noisy beside one of large spread.
        ``lower_bound_`` then includes the log-prior.

    parameter_uncertainty : bool, 'bootstrap' or 'posterior', default=False
        With ``sample_posterior=True``, each ``transform`` call first draws
        the model's parameters, then every missing entry under that draw
        ("proper" imputation, see :func:`multiple_impute`): 'bootstrap' (or
        True) refits EM to a row bootstrap of the training data, started
        from the fit (Amelia's EMB); 'posterior' draws them from their
        posterior under a non-informative prior by data augmentation
        (``emimpute._em._uncertainty``; each call runs a chain of its own,
        10 steps from the fit, where :func:`multiple_impute` takes its
        draws from one chain; for one Gaussian where much information is
        missing, more, from EM run on from the fit: ``fit`` runs EM on for
        three E-steps to read the fraction of missing information, where it
        reads 0.5 or more on until its steps are rounding (at most 200
        E-steps), and the chain takes as many steps
        as bring the correlation of successive draws to 0.08, 16 at a
        fraction of 0.85). The draw comes from the
        ``random_state`` stream: with an int ``random_state`` every call
        restarts it, so repeated calls give the same imputation; give each
        imputation its own seed (or pass a ``RandomState``) to get different
        ones. The fitted attributes and ``predict_category_proba`` and
        ``score`` keep the maximum-likelihood fit. With a ``prior``,
        'bootstrap' refits under it, while 'posterior' draws under its own
        non-informative prior, not the conjugate one (with fewer rows than
        features, prefer 'bootstrap'). The imputer then keeps a
        copy of the training data. Requires ``sample_posterior=True``. With
        ``sample_weight``, 'bootstrap' draws a row of weight ``w`` as its
        ``w`` copies would be drawn when every weight is a whole number;
        other weights (survey weights, weights normalised to sum to 1)
        count no copies: the rows are resampled and keep their weights, so
        that the draws, as the fit, do not depend on the weights' scale.
        'posterior' draws the holes of each copy of a row of whole weight
        on their own (the draws are those of the rows repeated), and
        completes a row of other weight once, weighed by its weight. With
        one component the draws of a categorical feature's holes follow its
        frequencies, independent of the other features (see
        ``categorical_features``), and an analysis of the association with
        it is biased towards none: take ``n_components='auto'`` (or >= 2),
        as :func:`multiple_impute` does by default for such tables.

    min_value, max_value : float, array-like of shape (n_features,), dict \
            or None, default=-np.inf and np.inf
        Bounds of the imputed values, as in
        :class:`~sklearn.impute.IterativeImputer`: a scalar for every
        feature, one value per input feature, or a dict (or a pandas
        Series) by feature name or index (the others unbounded; a dict that
        names a feature twice, as ``{'a': 0, 0: 1}`` does when 'a' is
        feature 0, is an error). None (in a list or dict too, NaN in a
        Series) is no bound.
        Conditional means are clipped to the bounds; a posterior draw
        outside them is redrawn (the row's whole missing part, up to 100
        times: a draw from the conditional distribution truncated to the
        bounds), then clipped. Observed values are never changed, even
        outside the bounds. Bounds of categorical features, and of features
        entirely missing at fit, are ignored. ``return_std`` does not see
        the bounds: it is the standard deviation of the unbounded
        conditional distribution (of a feature without a transformation),
        larger than that of the truncated one the draws follow, and it
        says nothing about a conditional mean clipped to a bound.

    feature_transforms : dict, array-like of shape (n_features,) or None, \
            default=None
        A transformation per numeric feature, by name or index in a dict or
        a pandas Series (NaN there is None), or one entry per feature:
        'log' (positive features), 'sqrt'
        (non-negative ones), 'logit' (features within that feature's finite
        ``min_value`` and ``max_value``: the logit of
        ``(x - min_value) / (max_value - min_value)``) or None. EM is fit to
        the transformed features (``means_`` and ``covariances_`` are theirs)
        and imputations are mapped back, so they stay in the support: the
        conditional mean of the transformed feature, mapped back, is the
        conditional *median* of the feature under one component. With
        ``return_std``, the standard deviation of such a feature is the
        delta method's ``|g'(m)| s``, with ``m`` and ``s`` the conditional
        mean and standard deviation of the transformed feature and ``g``
        the back-transformation; for 'sqrt', the standard deviation of
        ``max(Y, 0)^2`` itself (``Y`` of mean ``m`` and standard deviation
        ``s``), which the draws follow and which stays positive where
        ``m <= 0`` and the imputation is 0. ``score`` includes the transformations'
        Jacobian, so it stays a density of the data in its units (+inf, as
        is ``lower_bound_``, for data with an observed 0 in a 'sqrt'
        feature, where that density is infinite). The imputations of a
        transformed feature lie in its support as the output's float type
        represents it: a 'logit' imputation strictly between the bounds
        (the nearest value inside where the mapped-back value rounds onto
        a bound, far in the tails), a 'log' one positive (the smallest
        positive value where ``exp`` underflows to 0), and every one finite:
        mapped-back values beyond the output dtype's largest value
        (``np.finfo(dtype).max``, about 3.4e38 for float32 input and 1.8e308
        for float64) are clipped to it. A transformation on a categorical
        feature is an error; on a numeric feature entirely missing at fit
        it is ignored, as its bounds are: the feature is skipped, or with
        ``keep_empty_features=True`` its holes are filled with 0, as
        scikit-learn does, even under 'log' or 'logit' (0 may be outside
        their support).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Component weights.

    means_ : ndarray of shape (n_components, n_features_kept)
        Component means, in the data's units.

    covariances_ : ndarray
        Component covariances, in the data's units: shape
        (n_components, n_features_kept, n_features_kept) for 'full',
        (n_features_kept, n_features_kept) for 'tied' and
        (n_components, n_features_kept) for 'diag' and 'spherical' (a
        spherical model of the standardised data is diagonal in the data's
        units). ``n_features_kept`` counts the numeric features with at
        least one observed value at fit time (``numeric_features_``);
        categorical features have ``category_probabilities_`` instead.

    n_components_ : int
        Number of components of the kept fit (``n_components``, or the
        choice of 'auto').

    held_out_errors_ : dict of int to float
        With ``n_components='auto'`` only: each number of components tried,
        in increasing order, and the mean squared error of its predictions
        of the hidden cells (in units of each column's standard deviation;
        the Brier score for a categorical cell). ``n_components_`` is the
        fewest within one standard error of the lowest (the errors are
        paired, cell by cell), not necessarily the lowest. Sample weights
        count as frequencies there as everywhere: the standard error shrinks
        as their total grows, so rescaling them all can change the choice.
        NaN when no cell could be hidden (then one component is fit).

    n_iter_ : int
        Number of EM iterations of the kept fit.

    converged_ : bool
        Whether the kept fit converged.

    lower_bound_ : float
        Per-row observed-data log-likelihood of the kept fit, in the data's
        units (with ``feature_transforms``, their Jacobian included, as in
        :meth:`score`); with a ``prior`` (or ``n_components='auto'``), plus
        the log-prior density of the standardised model's parameters divided by
        the number of rows (the objective of MAP-EM); categorical features
        add that of ``category_smoothing``'s Dirichlet prior (see
        :class:`EMMixture`).

    indicator_ : MissingIndicator
        The indicator of missing values; None when ``add_indicator=False``.

    categories_ : list of ndarray
        The categories of each categorical feature kept, in the order of
        ``categorical_features_``.

    category_probabilities_ : list of ndarray of shape (n_components, n_categories_j)
        The probability of each category of each categorical feature, per
        component.

    numeric_features_ : ndarray of shape (n_numeric,)
        Indices of the numeric input features kept: ``means_`` and
        ``covariances_`` refer to them, in this order.

    categorical_features_ : ndarray of shape (n_categorical,)
        Indices of the categorical input features kept.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    EMMixture : The mixture model itself, with NaN allowed.
    sklearn.impute.SimpleImputer : Column statistics, no model.
    sklearn.impute.IterativeImputer : Round-robin regressions.

    Notes
    -----
    For a row with observed coordinates ``O`` and missing ``M``, component
    ``k`` has conditional distribution ``N(m_k, C_k)`` with
    ``m_k = mu_k,M + S_k,MO inv(S_k,OO) (x_O - mu_k,O)`` and
    ``C_k = S_k,MM - S_k,MO inv(S_k,OO) S_k,OM``. The imputed value is
    ``m = sum_k r_k m_k``, with ``r_k`` the responsibility of component
    ``k`` given ``x_O``, and ``return_std`` gives the square root of
    ``sum_k r_k (diag(C_k) + (m_k - m)**2)`` (the law of total variance). A
    row with nothing observed gets the mixture's mean and marginal standard
    deviation. A feature with a single observed value, or a constant one,
    is imputed with that value; having no spread, it is standardised with
    scale 1, so its variance is about ``reg_covar`` in the data's units
    (with 'spherical', the variance pooled over the standardised features:
    draws of it then spread by about 1 whatever its units).

    ``transform`` uses the fitted parameters only, so a row's output never
    depends on the other rows passed with it (posterior draws aside, which
    share one random stream).

    The imputations are the maximum-likelihood ones when values are missing
    at random (MAR); they are biased when missingness depends on the
    missing value itself (MNAR).

    References
    ----------
    Dempster, Laird and Rubin (1977), Maximum likelihood from incomplete data
    via the EM algorithm. JRSS B 39(1).

    Little and Rubin (2019), Statistical Analysis with Missing Data, 3rd ed.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute import EMImputer
    >>> X = [[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 8.0], [np.nan, 10.1]]
    >>> imputer = EMImputer(random_state=0).fit(X)
    >>> imputer.transform(X).round(1)
    array([[ 1. ,  2. ],
           [ 2. ,  4.1],
           [ 3. ,  6. ],
           [ 4. ,  8. ],
           [ 5. , 10.1]])
    >>> Xt, std = imputer.transform(X, return_std=True)
    >>> bool(std[2, 1] > 0) and bool(std[2, 0] == 0)
    True
    """

    _parameter_constraints: dict = {
        **EM_PARAMETER_CONSTRAINTS,
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "missing_values": [MissingValues()],
        "sample_posterior": ["boolean"],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "parameter_uncertainty": ["boolean", StrOptions({"bootstrap", "posterior"})],
        "min_value": [None, Real, "array-like", dict],
        "max_value": [None, Real, "array-like", dict],
        "feature_transforms": ["array-like", dict, None],
    }

    def __init__(
        self,
        *,
        missing_values=np.nan,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        sample_posterior=False,
        add_indicator=False,
        keep_empty_features=False,
        verbose=0,
        verbose_interval=10,
        categorical_features="from_dtype",
        category_smoothing=1.0,
        handle_unknown="error",
        prior=None,
        parameter_uncertainty=False,
        min_value=-np.inf,
        max_value=np.inf,
        feature_transforms=None,
    ):
        self.missing_values = missing_values
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.sample_posterior = sample_posterior
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.categorical_features = categorical_features
        self.category_smoothing = category_smoothing
        self.handle_unknown = handle_unknown
        self.prior = prior
        self.parameter_uncertainty = parameter_uncertainty
        self.min_value = min_value
        self.max_value = max_value
        self.feature_transforms = feature_transforms

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = _is_nan(self.missing_values)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate_X(self, X, *, reset):
        """Validated float ``X`` (float32 kept) and its missingness mask."""
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if _is_nan(self.missing_values) else True,
            reset=reset,
            copy=False,
        )
        # float32 stays float32: the engine computes in float64 and
        # transform returns the input's dtype, as scikit-learn's imputers.
        if _is_nan(self.missing_values):
            mask = np.isnan(X)
        else:
            mask = X == self.missing_values
        return X, mask

    def _validate_numeric(self, X, *, reset):
        """:meth:`_validate_X`, once the marker is known to be one for numbers."""
        if isinstance(self.missing_values, str) or self.missing_values is None:
            raise ValueError(
                "'X' and 'missing_values' types are expected to be both "
                "numerical. Every column of X is numeric (numbers, beside the "
                f"marker in some), and missing_values={self.missing_values!r}: "
                "a string or None marks cells of text (categorical) columns. "
                "To impute numbers, make the marker NaN first (pandas' "
                f"X.replace({self.missing_values!r}, np.nan), or "
                f"np.where(X == {self.missing_values!r}, np.nan, X).astype(float))"
                " and keep missing_values=np.nan."
            )
        return self._validate_X(X, reset=reset)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the Gaussian (mixture) to the observed entries of ``X`` by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: a row of integer weight ``w`` counts as
            ``w`` copies of it (in the model's estimate and its
            standardisation), a row of weight 0 as no row; every row is
            imputed by :meth:`transform` whatever its weight. None for unit
            weights.

        Returns
        -------
        self : object
            The fitted imputer.
        """
        self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_keeping_data(self, X, sample_weight=None):
        """:meth:`fit`, and the training data as read (with its weights), for
        a caller that completes it at once (:func:`multiple_impute`, which
        would otherwise read, check and group ``X`` again: 2 ms of 80 at
        1e4 x 10); see :meth:`_fit`."""
        return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight=None):
        """The work of :meth:`fit` (its parameters validated).

        Returns
        -------
        training : tuple or None
            ``(table, data, model_data)``: ``X`` as read, its engine data
            and that data in model space (``_support.model_data``), as
            :func:`~emimpute._multiple.proper_imputations` would read them;
            None where there is no model (every feature empty) or ``X`` is a
            dask array.
        """
        # Before the data are read, which resets the fitted state: a refused
        # combination also on data with nothing observed (no model to draw).
        if self.parameter_uncertainty and not self.sample_posterior:
            raise ValueError(
                "parameter_uncertainty needs sample_posterior=True: a parameter "
                "draw only matters for draws of the missing entries."
            )
        lazy = is_dask_array(X)
        weights = None  # a dask fit refuses weights (_dask_input)
        summary = None
        if lazy:
            table, empty, summary, support = self._dask_input(X, sample_weight)
        else:
            table = self._read(X, reset=True)
            empty = table.mask.all(axis=0)
            weights = check_sample_weight(sample_weight, table.mask)
            if weights is not None:
                # A row of weight 0 is no row: a feature observed only
                # there is empty, skipped as if those rows were dropped.
                empty = (table.mask | (weights == 0)[:, np.newaxis]).all(axis=0)
            # Validated whatever the data: also when every feature is empty
            # and no model is fit (the dask input's are, in _dask_input).
            support = self._feature_support(table)
        self._layout = table.layout
        # A refit keeps nothing of an earlier fit: no choice of 'auto'
        # components, no training data for the parameter draws.
        self.__dict__.pop("held_out_errors_", None)
        self._fit_data = self._chain_plan = None
        self._fit_features(table, empty)
        if len(self._kept) == 0:
            self._fit_nothing()
            return None
        data, model_data = self._fit_support(X, table, weights, support, summary)
        result = self._fit_model(model_data)
        self._store_fitted(result, table)
        warn_unidentified_covariances(self, model_data)
        self.lower_bound_ = result.lower_bound
        # The parameter draws refit to (or augment) the training data, in the
        # units the model was fit in.
        if self.parameter_uncertainty:
            self._fit_data = (
                model_data
                if result.scaling is None
                else result.scaling.apply(model_data)
            )
            self._fit_history = result.lower_bounds
            if self.parameter_uncertainty == "posterior":
                # At fit, not at a transform, which changes no attribute.
                self._posterior_plan()
        return None if lazy else (table, data, model_data)

    def _fit_features(self, table, empty):
        """The features kept (warning about the empty ones) and the indicator."""
        if empty.any() and not self.keep_empty_features:
            # Named as scikit-learn's imputers name them: by feature name
            # when the input has names, else by index.
            names = getattr(self, "feature_names_in_", None)
            skipped = np.flatnonzero(empty) if names is None else names[empty]
            warnings.warn(
                f"Skipping features without any observed values: {skipped}. At "
                "least one observed value is needed to estimate a feature's "
                "distribution.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        self._kept = np.flatnonzero(~empty)
        self.indicator_ = None
        if self.add_indicator:
            # Its own output stays an array whatever scikit-learn's global
            # transform_output says: this imputer puts it in the container
            # (a frame of its own, indexed 0..n-1, had aligned to X's index
            # as NaN, and a polars one has no astype).
            self.indicator_ = (
                MissingIndicator(
                    missing_values=self._indicator_marker, error_on_new=False
                )
                .set_output(transform="default")
                .fit(self._indicator_input(table))
            )
        # Positions of the kept features among the numeric and the
        # categorical ones.
        self._numeric_kept = np.flatnonzero(~empty[table.numeric_columns])
        self._n_numeric_in = len(table.numeric_columns)
        self._categorical_kept = np.flatnonzero(~empty[table.categorical_columns])

    def _fit_support(self, X, table, weights, support, summary=None):
        """The bounds and transformations (``_support``); the engine data
        and the data the model sees (its domains checked by ``model_data``).

        ``support``: the bounds and transformations of every numeric
        feature, validated by ``fit`` before anything else was read of the
        data (:meth:`_feature_support`), restricted here to the kept ones.
        ``summary``: a dask array ``X``'s (:meth:`_dask_input`); its counts
        give the kept columns' without a pass over them (the columns
        dropped have no observed entry: the rows with one are the same).
        """
        if summary is not None:
            n_samples, n_informative, observed_counts = summary
            data = replace(
                DaskData.build(X[:, self._kept]),
                counts=(n_samples, n_informative, observed_counts[self._kept]),
            )
        else:
            data = self._engine_data(table, sample_weight=weights)
        self._support = support.take(self._numeric_kept)
        # (On a dask fit this is the identity: _dask_input refused the
        # bounds and transformations of kept features, which need the data
        # in memory.)
        return data, self._support.model_data(data)

    def _feature_support(self, table):
        """The bounds and transformations of every numeric feature of
        ``table``, validated (:meth:`FeatureSupport.fit`); those of a
        feature found empty are then unused (:meth:`_fit_support`)."""
        return FeatureSupport.fit(
            self.min_value,
            self.max_value,
            self.feature_transforms,
            columns=table.numeric_columns,
            n_features=self.n_features_in_,
            feature_names=getattr(self, "feature_names_in_", None),
            categorical=table.categorical_columns,
        )

    def _fit_model(self, model_data):
        """EM on the model's data: one fit, or the choice of 'auto' components."""

        def fit(data, n_components=None, prior=None, moment_tol=self.tol):
            # The log-likelihoods reported (progress, lower_bound_) in the
            # data's units, as score's: the model's density of the
            # transformed features times the transformations' Jacobian.
            return fit_em(
                self,
                data,
                standardise=True,
                n_components=n_components,
                prior=prior,
                units_offset=self._support.mean_log_jacobian(data),
                moment_tol=moment_tol,
            )

        # Maximum-likelihood mixtures overfit tables of a few hundred rows
        # (see n_components): 'auto' is MAP-EM by default.
        prior = self._fitted_prior()
        if self.n_components != "auto":
            return fit(model_data, prior=prior)
        # The candidates are compared at the log-likelihood's precision (on
        # their parameters too, the mixtures that overfit crawl: 2.4 times
        # the time of a choice among 1-9 components on 2000 rows); the one
        # chosen is fit to the imputer's precision.
        result, table, baseline = select_by_held_out_cells(
            model_data,
            components_the_rows_support(
                AUTO_COMPONENTS, model_data, covariance_form(self.covariance_type)
            ),
            lambda data, k: fit(data, k, prior, moment_tol=None),
            random_state=check_random_state(self.random_state),
            fraction=AUTO_HELD_OUT_FRACTION,
            refit=lambda data, k: fit(data, k, prior),
        )
        self.held_out_errors_ = {row["n_components"]: row["score"] for row in table}
        if baseline["better"]:
            self._warn_columns_impute_better(model_data, baseline, result)
        return result

    def _warn_columns_impute_better(self, data, baseline, result):
        """'auto' chose a model that imputes worse than the columns' means."""
        chosen = len(result.params.weights)
        dof = data.n_numeric + 2
        remedy = (
            "covariance_type='diag' imputes each column from its own "
            "distribution (within each component); a prior that shrinks "
            "the correlations keeps them: prior=ConjugatePrior(dof="
            f"{dof}, scale={dof} * variances), variances the features' "
            "observed ones (in their units; a ridge prior, as Amelia's "
            "empri)"
            if covariance_form(self.covariance_type).dense and data.n_numeric > 1
            else "more rows would tell the components apart"
        )
        warnings.warn(
            "n_components='auto': each column's own mean (frequencies if "
            "categorical) imputed the held-out cells better than the number "
            f"of components chosen, {chosen}: mean squared error "
            f"{baseline['score']:.3g} against {self.held_out_errors_[chosen]:.3g}"
            " (in units of each column's standard deviation). The features "
            "predict one another too little to pay for the covariances "
            f"estimated from {data.n_samples} rows of "
            f"{data.n_numeric + data.n_categorical} features: {remedy}.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )

    def _store_fitted(self, result, table):
        """The fitted attributes, in the data's units."""
        params = result.params
        self._params = params
        self._scaling = result.scaling
        self.weights_ = params.weights
        n_components = len(params.weights)
        if params.gaussian is None:
            self.means_ = np.empty((n_components, 0))
            self.covariances_ = np.empty(
                covariance_form(self.covariance_type).shape(n_components, 0)
            )
        else:
            self.means_, self.covariances_ = params.gaussian.scaled(
                result.scaling.centre, result.scaling.scale
            )
        self.numeric_features_ = table.numeric_columns[self._numeric_kept]
        self.categorical_features_ = table.categorical_columns[self._categorical_kept]
        self.categories_ = (
            []
            if table.layout is None
            else [table.layout.categories[j] for j in self._categorical_kept]
        )
        self.category_probabilities_ = (
            [] if params.categorical is None else list(params.categorical.probabilities)
        )
        self.n_components_ = len(params.weights)
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged

    def _dask_input(self, X, sample_weight):
        """The fit's input from a row-chunked dask array, its empty features,
        its summary (:meth:`DaskData.summary`) and the bounds and
        transformations of all its features (:meth:`_feature_support`).

        Numeric, NaN-marked holes only; the options a dask fit lacks are
        refused, and the bounds and transformations validated (with the
        in-memory errors), before any pass over the rows; then one pass
        counts the observed entries of each feature.

        Bounds and transformations are then treated as in memory: those of
        a feature found empty are ignored, as the feature is skipped (or
        filled with 0). Those of a feature with an observed value are
        refused, after that pass: only the pass tells which features are
        empty, and they need the data in memory (the domain's check, the
        transformed data, the log-Jacobian).
        """
        check_row_chunks(X)  # 2-D, before its columns are counted
        table = dask_fit_input(
            self,
            X,
            sample_weight,
            **{
                "add_indicator=True": self.add_indicator,
                "missing_values other than NaN": not _is_nan(self.missing_values),
                "n_components='auto'": self.n_components == "auto",
                "parameter_uncertainty": bool(self.parameter_uncertainty),
            },
        )
        # dask_fit_input set n_features_in_ (and no feature names) from X.
        support = self._feature_support(table)
        summary = DaskData.build(X).summary()
        empty = summary[2] == 0
        used = support.take(np.flatnonzero(~empty))
        if not used.is_identity:
            bounded = [used.described[j] for j in np.flatnonzero(used.constrained)]
            refuse_unsupported(
                {
                    "min_value, max_value or feature_transforms on a feature "
                    f"with an observed value (features {', '.join(bounded)})": True
                }
            )
        return table, empty, summary, support

    def _fit_nothing(self):
        """Every feature empty: no model, as scikit-learn's imputers then do.

        ``transform`` returns shape ``(n_samples, 0)`` (or zeros with
        ``keep_empty_features``), plus the indicator columns.
        """
        self._params = self._scaling = None
        self._numeric_kept = self._categorical_kept = np.empty(0, dtype=np.intp)
        self.n_components_ = 1
        self.weights_ = np.ones(1)
        self.means_ = np.empty((1, 0))
        self.covariances_ = np.empty(covariance_form(self.covariance_type).shape(1, 0))
        self.numeric_features_ = self.categorical_features_ = self._numeric_kept
        self.categories_, self.category_probabilities_ = [], []
        self.n_iter_, self.converged_, self.lower_bound_ = 0, True, 0.0
        return self

    def _read(self, X, *, reset):
        return read_input(
            self,
            X,
            reset=reset,
            validate_numeric=self._validate_numeric,
            missing_values=_engine_marker(self.missing_values),
        )

    @property
    def _indicator_marker(self):
        if self._layout is None:
            return _engine_marker(self.missing_values)
        return np.nan

    def _indicator_input(self, table):
        """What the MissingIndicator reads: X, or NaN where a mixed table has holes.

        A categorical column empty at fit has no category to encode a value
        with, so the engine's mask has all its cells missing; its cells as
        read say which are (its observed ones are kept in the output). So
        for cells of a category not seen in fit (``handle_unknown``).
        """
        if table.layout is None:
            return table.table
        mask = table.mask
        uncoded = table.layout.uncoded
        if len(uncoded) or table.unknown is not None:
            mask = mask.copy()
        if len(uncoded):
            mask[:, uncoded] = missing_cells(
                table.table, uncoded, missing_values=self.missing_values
            )
        if table.unknown is not None:
            # Observed, of a category not seen in fit: not a hole.
            mask[:, table.layout.categorical] &= ~table.unknown
        return np.where(mask, np.nan, 0.0)

    def _engine_data(self, table, sample_weight=None):
        return engine_data(
            table,
            self._numeric_kept,
            self._categorical_kept,
            sample_weight=sample_weight,
        )

    def _complete(self, X, random_state=None, *, draw=True, params=None, **options):
        """The table of ``X`` and its completion; ``draw=False`` keeps the
        maximum-likelihood fit and conditional means whatever
        ``sample_posterior``; ``params``, a parameter draw made already (a
        dask array's chunks share one), is taken instead of a new one."""
        check_is_fitted(self)
        table = self._read(X, reset=False)
        if self._params is None:
            n_samples = len(table.mask)
            empty = np.empty((n_samples, 0))
            return table, SimpleNamespace(
                numeric=empty, std=empty, codes=empty.astype(np.intp), probabilities=[]
            )
        if not (draw and self.sample_posterior):
            random_state = None
        elif random_state is None:
            random_state = check_random_state(self.random_state)
        if params is None:
            params = self._params
            if random_state is not None and self.parameter_uncertainty:
                params = self._draw_parameters(random_state)
        data = self._engine_data(table)
        completion = self._complete_data(
            data, self._support.model_data(data), params, random_state, **options
        )
        return table, completion

    def _complete_data(self, data, model_data, params, random_state=None, **options):
        """Engine data completed under ``params`` (bounds and transformations)."""
        return complete_within(
            data,
            model_data,
            params,
            self._support,
            scaling=self._scaling,
            random_state=random_state,
            **options,
        )

    def _fitted_prior(self):
        """The prior of the fit: 'auto' is MAP-EM by default (see
        ``n_components``)."""
        if self.n_components == "auto" and self.prior is None:
            return "default"
        if isinstance(self.prior, ConjugatePrior):
            # Per-feature hyperparameters of every numeric feature: those of
            # features skipped as empty go with them (as their bounds do).
            return self.prior.restricted(self._numeric_kept, self._n_numeric_in)
        return self.prior

    def _fitted_config(self):
        """The engine's configuration of the fitted model, for the parameter
        draws: the number of components and the prior it was fit with."""
        return em_config(
            self, n_components=len(self._params.weights), prior=self._fitted_prior()
        )

    def _draw_parameters(self, random_state):
        """A draw of the model's parameters (``parameter_uncertainty``)."""
        if self._fit_data is None:
            raise ValueError(
                "parameter_uncertainty was set after fit: the parameter draws "
                "refit to the training data, which the imputer keeps only when "
                "fit with parameter_uncertainty set. Call fit again."
            )
        config = self._fitted_config()
        if self.parameter_uncertainty == "posterior":
            plan = self._posterior_plan()
            return posterior_params(
                self._fit_data, plan.start, config.prior, random_state, plan.burn_in
            )
        return bootstrap_params(
            self._fit_data, self._params, config, random_state, scaling=self._scaling
        )

    def _posterior_plan(self):
        """The posterior chain's start, burn-in and thinning, worked out
        once per fit (:func:`chain_plan`: longer where much information is
        missing); at fit with ``parameter_uncertainty='posterior'``, else at
        the first draw after it was set so."""
        if getattr(self, "_chain_plan", None) is None:
            self._chain_plan = chain_plan(
                self._fit_data,
                self._params,
                self._fitted_config(),
                # None for an imputer pickled before the plan was kept.
                getattr(self, "_fit_history", None),
                scaling=self._scaling,
            )
        return self._chain_plan

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to ``X``, then impute it: ``fit(X, **fit_params).transform(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        y : Ignored
            Not used, present for API consistency by convention.

        **fit_params : dict
            Passed to :meth:`fit` (``sample_weight``).

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out)
            As :meth:`transform`.
        """
        if is_dask_array(X):
            # Refused before the fit's passes over the rows, not after them.
            _refuse_container_of_dask(self)
        return super().fit_transform(X, y, **fit_params)

    def transform(self, X, return_std=False):
        """Impute every missing entry of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        return_std : bool, default=False
            Also return the conditional standard deviation of every output
            entry: 0 where observed (and in indicator columns), NaN at the
            missing entries of features that were entirely missing at fit
            time and kept by ``keep_empty_features`` and in every
            categorical feature (see
            :meth:`predict_category_proba` for their uncertainty); inf where
            it is beyond the output dtype's largest value (a transformed
            feature far in its tail, whose imputation is clipped to that
            value; see ``feature_transforms``).

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out)
            ``X`` with its missing entries imputed, features entirely
            missing at fit time dropped (or filled with 0), and the indicator
            columns appended when ``add_indicator``. For a dask array ``X``,
            a lazy dask array with ``X``'s row chunks (a DataFrame output of
            ``set_output`` is then refused: it would compute all of ``X`` at
            the call).

        std : ndarray of shape (n_samples, n_features_out)
            Conditional standard deviations; only when ``return_std``. In
            the container ``set_output`` asks for, as ``Xt``: a DataFrame
            with ``Xt``'s column names (and, for a pandas ``X``, its index).
            scikit-learn's wrapper converts only the first element of a
            returned tuple; the standard deviations of an imputed column
            are read by its name as often as its values are.
        """
        if is_dask_array(X):
            return self._lazy_transform(X, return_std)
        if not return_std:
            return self._transform(X)
        Xt, std = self._transform(X, return_std=True)
        return Xt, _wrap_data_with_container("transform", std, X, self)

    def _transform(self, X, return_std=False, random_state=None, params=None):
        """``transform``, drawing from ``random_state`` when given (under
        ``params``, a parameter draw, when given)."""
        table, completion = self._complete(
            X, random_state=random_state, return_std=return_std, params=params
        )
        return self._output(table, completion, return_std)

    def _output(self, table, completion, return_std=False):
        """The transformed table of a completion (``transform``'s output)."""
        if table.layout is not None:
            return self._mixed_output(table, completion, return_std)
        X = table.table
        std = completion.std
        numeric = self._output_numeric(completion, X.dtype)
        if self.keep_empty_features and len(self._kept) < X.shape[1]:
            Xt = X.copy()
            Xt[:, self._kept] = numeric
            empty = np.setdiff1d(np.arange(X.shape[1]), self._kept)
            # Entries observed now stay: only the holes get scikit-learn's 0.
            Xt[:, empty] = np.where(table.mask[:, empty], 0.0, X[:, empty])
        else:
            # The completion is the kept columns of the table (a new array,
            # its observed entries X's), in X's dtype: no copy of X to
            # overwrite (0.7 ms a table at 1e4 x 10).
            Xt = numeric
        if return_std:
            std_out = np.where(table.mask, np.nan, 0.0).astype(X.dtype)
            # A std beyond X's dtype (a transformed feature's, far in its
            # tail) is inf there, as an infinite one is: no numpy warning.
            with np.errstate(over="ignore"):
                std_out[:, self._kept] = std
            if not self.keep_empty_features:
                std_out = std_out[:, self._kept]
        if self.indicator_ is not None:
            indicator = self._indicator_matrix(X).astype(Xt.dtype)
            Xt = np.hstack([Xt, indicator])
            if return_std:
                std_out = np.hstack([std_out, np.zeros_like(indicator)])
        return (Xt, std_out) if return_std else Xt

    def _indicator_matrix(self, X):
        """The indicator columns of ``X``, an array whatever the output
        configuration: an indicator fitted before its own output was fixed
        to arrays (an older pickle) follows scikit-learn's global
        ``transform_output``, whose frame would align to ``X``'s index as
        NaN."""
        return np.asarray(self.indicator_.transform(X))

    def _output_numeric(self, completion, dtype):
        """The completion's numeric features in the output's ``dtype``: each
        transformed feature's imputations inside its support as ``dtype``
        represents it (finite, off a 'logit' feature's bounds; see
        ``FeatureSupport.cast``)."""
        if self._params is None:  # no model, no features (and no _support)
            return completion.numeric.astype(dtype, copy=False)
        return self._support.cast(completion.numeric, dtype)

    def _lazy_transform(self, X, return_std):
        """:meth:`transform` of every row chunk of a dask array, lazily.

        With ``return_std`` the standard deviations are a second lazy array,
        computed by a second pass of the same tasks. With
        ``sample_posterior``, row chunk ``i`` draws from
        ``RandomState(seeds[i])``, the seeds drawn now from ``random_state``
        (as the in-memory call draws its stream): the chunks' draws are
        independent, an int ``random_state`` reproduces them, and each call
        advances a ``RandomState`` instance. Both passes draw with the same
        seeds, as one in-memory call with ``return_std`` draws once. With
        ``parameter_uncertainty``, the parameters are drawn once, now (a
        refit, or a chain, on the training data in memory), and every chunk
        draws its holes under that draw, as one in-memory call does: a draw
        per chunk made the imputations' between-table variance shrink with
        the number of chunks.

        The lazy arrays declare the computed width, the indicator's columns
        included (an imputer fitted in memory with ``add_indicator``). A
        DataFrame output (``set_output``) is refused: see
        :func:`_refuse_container_of_dask`.
        """
        check_is_fitted(self)
        _refuse_container_of_dask(self)
        self._check_lazy_input(X, "transform")
        n_columns = self.n_features_in_ if self.keep_empty_features else len(self._kept)
        if self.indicator_ is not None:
            n_columns += len(self.indicator_.features_)
        std_dtype = dtype = output_dtype(X)
        if self._layout is not None:
            # Text categories come back as objects, as in memory.
            dtype = decoded_dtype(self._layout, dtype)
        seeds = params = None
        if self.sample_posterior:
            random_state = check_random_state(self.random_state)
            seeds = random_state.randint(np.iinfo(np.int32).max, size=len(X.chunks[0]))
            if self.parameter_uncertainty and self._params is not None:
                params = self._draw_parameters(
                    np.random.RandomState(random_state.randint(np.iinfo(np.int32).max))
                )

        # The tasks carry the imputer without its training data (kept for
        # parameter draws, made above): each pickled task had held all of
        # it (21 MB a task for a fit on 2e5 x 10).
        shipped = copy.copy(self)
        shipped._fit_data = None

        def completed(chunk, seed=None, return_std=False):
            random_state = None if seed is None else np.random.RandomState(seed)
            return shipped._transform(
                chunk, return_std=return_std, random_state=random_state, params=params
            )

        imputed = map_rows(X, completed, dtype, n_columns, per_chunk=seeds)
        if not return_std:
            return imputed

        def std(chunk, seed=None):
            return completed(chunk, seed, return_std=True)[1]

        return imputed, map_rows(X, std, std_dtype, n_columns, per_chunk=seeds)

    def _mixed_output(self, table, completion, return_std):
        """The completed mixed table, in the input's kind and column types.

        With scikit-learn's default output a numpy object array; with
        ``set_output(transform='pandas' | 'polars')`` a DataFrame whose
        categorical columns keep their type (a pandas ``category`` column
        stays ``category`` with the same categories).
        """
        layout = table.layout
        numeric = table.numeric.copy()
        numeric[:, self._numeric_kept] = self._output_numeric(completion, numeric.dtype)
        codes = table.codes.copy()
        codes[:, self._categorical_kept] = completion.codes
        empty_numeric = np.setdiff1d(np.arange(len(layout.numeric)), self._numeric_kept)
        # sklearn's rule for kept empty features: their holes filled with 0
        # (entries observed now stay); an empty categorical feature has no
        # category to fill with and stays missing.
        empty_holes = table.mask[:, layout.numeric[empty_numeric]]
        numeric[:, empty_numeric] = np.where(
            empty_holes, 0.0, numeric[:, empty_numeric]
        )
        container = _get_output_config("transform", self)["dense"]
        if container == "default":
            output = decode(numeric, codes, layout, container="numpy")
        elif container == layout.container == container_of(table.table):
            output = decode(numeric, codes, layout, like=table.table)
        else:
            output = decode(numeric, codes, layout, container=container, columns=None)
            if container == "pandas" and container_of(table.table) == "pandas":
                # scikit-learn's wrapper gives X's index to an ndarray only.
                output.index = table.table.index
        if self.keep_empty_features:
            # A categorical feature empty at fit has no category to encode
            # a later value with: its observed cells are copied as read.
            output = keep_observed_cells(
                output, table.table, layout.uncoded, missing_values=self.missing_values
            )
        if table.unknown is not None:
            # A category not seen in fit (handle_unknown='ignore') is an
            # observed cell: written back as read, never imputed.
            touched = table.unknown.any(axis=0)
            output = restore_cells(
                output,
                table.table,
                layout.categorical[touched],
                table.unknown[:, touched],
            )
        columns = np.arange(layout.n_features)
        if not self.keep_empty_features:
            columns = self._kept
        output = select_columns(output, columns)
        indicator = None
        if self.indicator_ is not None:
            indicator = self._indicator_matrix(self._indicator_input(table))
            names = self.indicator_.get_feature_names_out(
                _check_feature_names_in(self, None)
            )
            output = append_columns(output, indicator.astype(float), names)
        if not return_std:
            return output
        # In the numeric columns' float dtype, as the numeric path's.
        std = np.full(table.mask.shape, np.nan, dtype=table.numeric.dtype)
        std[:, layout.numeric] = np.where(table.mask[:, layout.numeric], np.nan, 0.0)
        with np.errstate(over="ignore"):  # beyond the dtype: inf (see _output)
            std[:, layout.numeric[self._numeric_kept]] = completion.std
        std = std[:, columns]
        if indicator is not None:
            std = np.hstack([std, np.zeros(indicator.shape)])
        return output, std

    def predict_category_proba(self, X):
        """Posterior predictive probabilities of each categorical feature.

        For a missing categorical entry of a row with observed part
        ``x_O``, ``P(x_j = c | x_O) = sum_k r_k(x_O) theta_kjc``, with
        ``r_k`` the responsibilities of the components given ``x_O`` and
        ``theta_kj`` the category probabilities of feature ``j`` in
        component ``k``; an observed entry gets probability 1 on its
        category, and an observed entry of a category not seen in fit
        (``handle_unknown='ignore'``) a row of zeros, as ``OneHotEncoder``
        encodes it (its ``argmax`` is then the first category: test for
        the zeros).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries.

        Returns
        -------
        probabilities : list of ndarray of shape (n_samples, n_categories_j)
            One array per categorical feature (``categorical_features_``),
            columns in the order of ``categories_``. For a dask array ``X``,
            lazy dask arrays with ``X``'s row chunks: one task per row chunk
            computes every feature's probabilities, so that computing them
            together (``dask.compute(*probabilities)``) is one pass over
            ``X``.
        """
        if is_dask_array(X):
            check_is_fitted(self)
            self._check_lazy_input(X, "predict_category_proba")
            widths = [len(categories) for categories in self.categories_]
            if not widths:
                return []

            def chunk_probabilities(chunk):
                return np.hstack(self.predict_category_proba(chunk))

            joined = map_rows(X, chunk_probabilities, np.float64, sum(widths))
            ends = np.cumsum(widths)
            return [
                joined[:, end - width : end]
                for width, end in zip(widths, ends, strict=True)
            ]
        table, completion = self._complete(X, draw=False, return_proba=True)
        probabilities = completion.probabilities
        if table.unknown is not None:
            # A category not seen in fit (handle_unknown='ignore') has no
            # column: its row is all zeros, as OneHotEncoder's.
            for kept, column in zip(probabilities, self._categorical_kept, strict=True):
                kept[table.unknown[:, column]] = 0.0
        return probabilities

    def score(self, X, y=None):
        """Mean log-likelihood of the observed entries of each row.

        The density of each row's observed entries under the fitted model,
        in the data's units, averaged over rows; rows with nothing observed
        contribute 0. Higher is better, so it can drive
        :class:`~sklearn.model_selection.GridSearchCV` on incomplete data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean observed-data log-likelihood per row; ``-inf`` when a row
            has density 0 under the model (far from every component), as
            :class:`~sklearn.mixture.GaussianMixture`'s.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            # One pass of tasks, each reading its chunk as in memory; the
            # array checked before it, as transform checks it.
            self._check_lazy_input(X, "score")
            total, n_rows = map_reduce(X, self._chunk_log_likelihood, add_counts)
            if n_rows == 0:
                # As in memory (a filter can leave a dask array no rows).
                raise ValueError(
                    "Found array with 0 sample(s) (shape=(0, "
                    f"{X.shape[1]})) while a minimum of 1 is required by "
                    f"{type(self).__name__}."
                )
            return total / n_rows
        return float(np.mean(self._log_likelihood(X)))

    def _check_lazy_input(self, X, what):
        """A dask ``X``'s columns and dtype checked at the call of ``what``,
        as in memory, not at compute(): a dtype that is not numeric is
        refused for a model of numeric features, as a dask fit refuses it
        (:func:`check_lazy_input`)."""
        row = None if self._layout is None else valid_row(self._layout, X.dtype)
        check_lazy_input(self._read, X, layout=self._layout, what=what, row=row)

    def _log_likelihood(self, X):
        """Each row's observed-data log-density in the data's units (0 for
        every row when nothing was observed at fit: density 1)."""
        table = self._read(X, reset=False)
        if self._params is None:
            return np.zeros(len(table.mask))
        data = self._engine_data(table)
        log_prob, _ = posterior(
            self._support.model_data(data),
            self._params,
            scaling=self._scaling,
            allow_impossible=True,
        )
        jacobian = self._support.log_jacobian(data.numeric, data.mask)
        # A row of density 0 stays at -inf beside an infinite log-Jacobian
        # (an observed 0 of a 'sqrt' feature), where the sum is NaN.
        with np.errstate(invalid="ignore"):
            return np.where(log_prob == -np.inf, -np.inf, log_prob + jacobian)

    def _chunk_log_likelihood(self, chunk):
        """The summed :meth:`_log_likelihood` of a dask chunk's rows, and
        their number (a :func:`map_reduce` part)."""
        if len(chunk) == 0:  # boolean indexing leaves empty chunks
            return 0.0, 0
        return float(self._log_likelihood(chunk).sum(dtype=np.float64)), len(chunk)

    def inverse_transform(self, X):
        """Put the holes back: ``missing_values`` where the indicator says.

        Inverts :meth:`transform`, as
        :meth:`~sklearn.impute.SimpleImputer.inverse_transform` does: only
        with ``add_indicator=True``, whose columns tell which entries were
        missing. A feature with no hole at fit has no indicator, so its
        imputations (of holes met later) are not inverted; a feature skipped
        as empty at fit comes back all ``missing_values``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_out)
            :meth:`transform`'s output: the imputed features, then the
            indicator's columns (an ndarray, or a pandas or polars
            DataFrame).

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in)
            The imputed features with ``missing_values`` in the entries the
            indicator marks (NaN for ``pd.NA``). Of the input's float dtype
            for numeric data, of objects for a table with categorical
            features.

        Raises
        ------
        ValueError
            Without ``add_indicator=True``, or when ``X`` has not the width
            of :meth:`transform`'s output.

        Examples
        --------
        >>> import numpy as np
        >>> from emimpute import EMImputer
        >>> X = np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, np.nan], [4.0, 8.0]])
        >>> imputer = EMImputer(add_indicator=True).fit(X)
        >>> Xt = imputer.transform(X)
        >>> Xt.shape
        (4, 4)
        >>> imputer.inverse_transform(Xt)
        array([[ 1.,  2.],
               [nan,  4.],
               [ 3., nan],
               [ 4.,  8.]])
        """
        check_is_fitted(self)
        if not self.add_indicator:
            raise ValueError(
                "'inverse_transform' works only when 'EMImputer' is "
                "instantiated with 'add_indicator=True'. Got "
                f"'add_indicator={self.add_indicator}' instead."
            )
        if hasattr(X, "to_numpy"):  # a pandas or polars DataFrame
            X = X.to_numpy()
        X = np.asarray(X)
        columns = (
            np.arange(self.n_features_in_) if self.keep_empty_features else self._kept
        )
        holed = self.indicator_.features_
        width = len(columns) + len(holed)
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(
                f"X has shape {X.shape}, but EMImputer's transform outputs "
                f"{width} columns: {len(columns)} imputed features, then "
                f"{len(holed)} of the missing indicator."
            )
        marker = _engine_marker(self.missing_values)
        if self._layout is None:
            original = np.full((len(X), self.n_features_in_), marker, dtype=float)
            original = original.astype(X.dtype if X.dtype.kind == "f" else float)
        else:
            original = np.full((len(X), self.n_features_in_), marker, dtype=object)
        original[:, columns] = X[:, : len(columns)]
        holes = np.zeros(original.shape, dtype=bool)
        holes[:, holed] = X[:, len(columns) :].astype(float) != 0
        original[holes] = marker
        return original

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; by default ``feature_names_in_`` or
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The kept input features (all, with ``keep_empty_features``), then
            the indicator's features when ``add_indicator``.
        """
        check_is_fitted(self, "n_features_in_")
        input_features = _check_feature_names_in(self, input_features)
        names = input_features
        if not self.keep_empty_features:
            names = input_features[self._kept]
        if self.indicator_ is not None:
            names = np.concatenate(
                [names, self.indicator_.get_feature_names_out(input_features)]
            )
        return np.asarray(names, dtype=object)
