"""EMMixture: scikit-learn's GaussianMixture API, with NaN allowed everywhere."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state

from emimpute._base import (
    EM_PARAMETER_CONSTRAINTS,
    as_dtype,
    check_lazy_input,
    check_sample_weight,
    dask_fit_input,
    engine_data,
    fit_em,
    output_dtype,
    store_fitted,
    store_run,
    validate_with_nan,
    warn_unidentified_covariances,
)
from emimpute._collapse import training_rows, warn_if_collapsed, warn_if_empty
from emimpute._criteria import dask_information_criteria, mixture_criteria
from emimpute._decode import decode
from emimpute._em._dask import (
    DaskData,
    check_known_chunks,
    is_dask_array,
    map_rows,
)
from emimpute._em._data import weights_as_counts
from emimpute._em._estep import posterior, weighted_log_prob
from emimpute._em._forms import covariance_form
from emimpute._em._init import check_initial_params
from emimpute._em._sample import sample_mixture
from emimpute._input import read_input
from emimpute._sklearn_compat import (
    Interval,
    _fit_context,
    check_is_fitted,
)


class EMMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fit by EM to data with missing values.

    The constructor, fitted attributes and methods are those of
    :class:`sklearn.mixture.GaussianMixture`, but ``X`` may contain NaN
    anywhere, in ``fit`` as in ``predict``, ``predict_proba``,
    ``score_samples`` and ``score``. Missing coordinates are marginalised,
    not imputed: each row is scored by the density of its observed
    coordinates, and EM maximises the likelihood of the observed data under
    the missing-at-random assumption. On complete data the fit equals
    ``GaussianMixture``'s, with one exception: 'tied' covariances started by
    'k-means++' or 'random_from_data', whose one-row seeds scikit-learn's
    start formula miscounts (its pooled covariance assumes every row's
    responsibilities sum to 1); the start here is the M-step of those
    seeds, which can reach a different, often higher, maximum. Two smaller
    differences: those seeds start with weights ``1 / n_components`` where
    scikit-learn's sum to ``n_components / n_samples`` (``lower_bounds_[0]``
    differs by their log ratio, nothing after the first M-step); and with
    ``n_init > 1``, restarts that reach the same maximum have lower bounds
    equal to rounding, and either of them may be kept (the same fit, its
    components perhaps in another order).

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The type of covariance parameters:

        - 'full': each component has its own general covariance matrix.
        - 'tied': all components share the same general covariance matrix.
        - 'diag': each component has its own diagonal covariance matrix.
        - 'spherical': each component has its own single variance.

    tol : float, default=1e-3
        The convergence threshold. EM stops when the per-sample observed-data
        log-likelihood changes by less than ``tol`` (per row with an
        observed entry: rows with nothing observed, whose log-density is 0,
        do not loosen it), the rule of ``GaussianMixture``. The
        log-likelihood is flat along the parameters of a feature that few
        rows observe, and this rule can stop well short of their maximum
        (with about 80% of a feature missing, its variance at 0.89 of the
        maximum's on average): lower ``tol`` for such data, or read the
        parameters off :class:`EMImputer`, which also waits for its
        fitted means and covariances to stop moving.

    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of the covariances
        after each M-step, as in ``GaussianMixture``. It is absolute, in the
        squared units of the data.

    max_iter : int, default=100
        The number of EM iterations to perform.

    n_init : int, default=1
        The number of initializations to perform. The best result (highest
        final log-likelihood) is kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', \
            'hierarchical'}, default='kmeans'
        The method used to initialize the responsibilities, run on the rows
        with at least one observed value after filling each missing entry
        with its column's observed mean:

        - 'kmeans': responsibilities from k-means.
        - 'k-means++': the k-means++ seeds, one row per component.
        - 'random': random responsibilities.
        - 'random_from_data': random rows, one per component.
        - 'hierarchical': a start in mclust's manner, a model-based
          agglomerative clustering (Ward's criterion, 'EII'; mclust's
          default merges by 'VVV', so its partitions differ) of at most 2000
          rows, each missing entry first filled with its conditional mean
          under one Gaussian; the first three of the ``n_init`` runs
          agglomerate three views of the data (whitened principal
          components, the data as given, standardised features), the
          others start from k-means. It finds optima that k-means starts
          miss (see the user guide); 'kmeans' stays the default so that
          fits on complete data equal ``GaussianMixture``'s. The
          agglomeration does not weigh rows by ``sample_weight`` (rows of
          weight 0 are left out; the EM fit that follows is weighted).

    weights_init : array-like of shape (n_components,), default=None
        The user-provided initial weights.

    means_init : array-like of shape (n_components, n_numeric), default=None
        The user-provided initial means, over the numeric features
        (``n_numeric``: all of them but the categorical ones, in input
        order, see ``numeric_features_``).

    precisions_init : array-like, default=None
        The user-provided initial precisions (inverse covariances), of shape
        (n_components,) for 'spherical', (n_numeric, n_numeric) for 'tied',
        (n_components, n_numeric) for 'diag' and
        (n_components, n_numeric, n_numeric) for 'full'.

    random_state : int, RandomState instance or None, default=None
        Controls the initialization and :meth:`sample`. Pass an int for
        reproducible results.

    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous fit's parameters and
        ``n_init`` is ignored.

    verbose : int, default=0
        0 is silent; 1 prints the current initialization and iteration; 2
        also prints the time and the log-likelihood change. Whatever its
        value, every iteration is also reported to the ``"emimpute"``
        :mod:`logging` logger (at ``DEBUG``; the start and end of each run at
        ``INFO``), for applications that route progress through logging.

    verbose_interval : int, default=10
        Number of iterations between two progress lines.

    categorical_features : 'from_dtype', array-like of int, str or bool, \
            or None, default='from_dtype'
        The categorical features, as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`:

        - 'from_dtype': pandas ``category``, ``string``, ``bool`` columns
          (their pyarrow types too: a ``category`` read with
          ``dtype_backend='pyarrow'`` is a pyarrow dictionary) and
          ``object`` columns of text; polars ``Categorical``, ``Enum``,
          ``String`` and ``Boolean`` columns; the columns of a numpy object
          array that hold text or booleans. A numeric array has none.
        - indices, feature names or a boolean mask.
        - None: every feature is numeric.

        Given the component, each categorical feature follows its own
        categorical distribution (``category_probabilities_``), independent
        of the other features (the latent class model). A missing
        categorical entry is marginalised. A category not seen in fit is
        an error at predict time (see ``handle_unknown``).

    category_smoothing : float, default=1.0
        Pseudo-count added to every category of every component in each
        M-step (a symmetric Dirichlet prior), so that no category has
        probability 0 inside a component; 0 gives maximum likelihood.
        In units of ``sample_weight`` (a row of weight 1 counts 1).

    handle_unknown : {'error', 'ignore'}, default='error'
        What a categorical value not seen in fit does at predict time:
        'error' raises; 'ignore' reads its cell as missing (marginalised),
        so the row is scored and assigned by its other entries. A
        cross-validation fold can hold a rare category that its training
        folds lack.

    prior : None, 'default' or ConjugatePrior, default=None
        None fits by maximum likelihood. 'default' (mclust's
        ``priorControl()``) or a :class:`ConjugatePrior` fits the maximum a
        posteriori parameters (MAP-EM) under the conjugate prior of Fraley
        and Raftery (2007): means shrunk towards the data's mean,
        covariances towards its covariance scaled by
        ``n_components ** (-2 / n_features)``, the data-dependent
        hyperparameters computed from the observed entries. It keeps
        covariances well defined where maximum likelihood degenerates
        (fewer rows than features, small components); ``reg_covar`` is
        still added after each M-step.
        ``lower_bound_`` then includes the log-prior.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each mixture component.

    means_ : ndarray of shape (n_components, n_numeric)
        The mean of each mixture component, over the numeric features
        (``numeric_features_``; all of them without categorical ones).

    covariances_ : ndarray
        The covariance of each mixture component, of shape (n_components,)
        for 'spherical', (n_numeric, n_numeric) for 'tied',
        (n_components, n_numeric) for 'diag' and
        (n_components, n_numeric, n_numeric) for 'full'.

    precisions_ : ndarray
        The precision matrices (inverse covariances), same shape as
        ``covariances_``.

    precisions_cholesky_ : ndarray
        The Cholesky factors ``U`` of the precisions, ``U @ U.T ==
        precision``, same shape as ``covariances_``.

    converged_ : bool
        True when the best fit reached ``tol``.

    n_iter_ : int
        Number of EM iterations of the best fit.

    lower_bound_ : float
        Per-sample observed-data log-likelihood of the best fit (rows with
        nothing observed contribute 0); with a ``prior``, the objective of
        MAP-EM: that plus the log-prior density of the parameters divided by
        ``n_samples``. Without a prior, categorical features add the
        log-density of their probabilities under ``category_smoothing``'s
        Dirichlet prior, whose MAP the M-step computes (0 with
        ``category_smoothing=0``), so that EM never lowers it.

    categories_ : list of ndarray
        The categories of each categorical feature (in the order of
        ``categorical_features_``), sorted as
        :class:`~sklearn.preprocessing.OneHotEncoder` sorts them (a pandas
        ``category`` column keeps its declared categories).

    category_probabilities_ : list of ndarray of shape (n_components, n_categories_j)
        The probability of each category of each categorical feature, per
        component.

    numeric_features_ : ndarray of shape (n_numeric,)
        Indices of the numeric input features: ``means_`` and
        ``covariances_`` refer to them, in this order.

    categorical_features_ : ndarray of shape (n_categorical,)
        Indices of the categorical input features.

    lower_bounds_ : list of float
        Its value at each iteration of the best fit.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The same model, for complete data.
    EMImputer : Imputes missing values with this model.

    Notes
    -----
    For row ``x`` with observed coordinates ``O`` and missing ``M``, the
    E-step computes the responsibilities from the observed-part densities
    ``log pi_k + log N(x_O; mu_k,O, S_k,OO)`` and the conditional
    distribution of the missing part under each component, ``N(m_k, C_k)``
    with ``m_k = mu_k,M + S_k,MO inv(S_k,OO) (x_O - mu_k,O)`` and
    ``C_k = S_k,MM - S_k,MO inv(S_k,OO) S_k,OM``. The M-step re-estimates
    the parameters from the expected statistics, where the row's missing
    part is replaced by ``m_k`` and ``C_k`` is added to its outer product.
    Each iteration never lowers the observed-data likelihood (when
    ``reg_covar=0``; with categorical features, the likelihood times the
    ``category_smoothing`` prior, see ``lower_bound_``).

    The model is correct when values are missing at random (MAR): whether
    an entry is missing may depend on the observed entries, not on the
    missing value itself. Rows with nothing observed carry no information:
    they do not influence the fit, their ``score_samples`` is 0 and their
    ``predict_proba`` is ``weights_``.

    Cost per iteration: ``O(n K d^2)`` for 'full' and 'tied', like complete
    data, plus, per component and per run of rows sharing a missingness
    pattern, a factorisation of size ``min(r, d - r)`` (``r`` the row's
    missing entries: the smaller of its missing and observed blocks);
    ``O(n K d)`` for 'diag' and 'spherical'. See ``emimpute._em._estep``
    for details.

    References
    ----------
    Dempster, Laird and Rubin (1977), Maximum likelihood from incomplete data
    via the EM algorithm. JRSS B 39(1).

    Ghahramani and Jordan (1994), Supervised learning from incomplete data
    via an EM approach. NIPS 6.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute import EMMixture
    >>> X = np.array([[1, 2], [1, np.nan], [1, 0], [1, 4],
    ...               [10, 2], [10, 0], [10, 4], [np.nan, 4]])
    >>> gm = EMMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_.round(1)
    array([[10. ,  2.2],
           [ 1. ,  2.3]])
    >>> gm.predict([[0, np.nan], [12, 3]])
    array([1, 0])
    >>> gm.score_samples([[np.nan, np.nan]])
    array([0.])
    """

    _parameter_constraints: dict = {
        **EM_PARAMETER_CONSTRAINTS,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "warm_start": ["boolean"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        categorical_features="from_dtype",
        category_smoothing=1.0,
        handle_unknown="error",
        prior=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.categorical_features = categorical_features
        self.category_smoothing = category_smoothing
        self.handle_unknown = handle_unknown
        self.prior = prior

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate_X(self, X, *, reset):
        return validate_with_nan(self, X, reset=reset)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN marks a missing entry.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: a row of integer weight ``w`` counts as
            ``w`` copies of it (in the statistics, the log-likelihood and the
            k-means start), a row of weight 0 as no row. None for unit
            weights. With several components, the random start draws from
            the rows as they are given, so a weighted fit equals the fit on
            the repeated rows in distribution over starts, not row for row
            (scikit-learn's ``KMeans`` is in the same case).

        Returns
        -------
        self : object
            The fitted mixture.

        Warns
        -----
        UserWarning
            When a component is left with less than one of the rows (by
            weight): no data estimate its mean and covariance. A warm start
            from a fit far from these data, or too many components. When two
            numeric features are never observed in the same row (with
            'full' or 'tied' covariances): no data estimate their
            covariance.
        """
        data, _ = self._fit(X, sample_weight)
        self._warn_of_unestimated_parameters(data)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Estimate the model parameters and predict the labels of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN marks a missing entry.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        data, _ = self._fit(X, sample_weight)
        self._warn_of_unestimated_parameters(data)
        if is_dask_array(X):
            return self.predict(X)
        # A final E-step with the kept parameters, so that the labels of
        # fit_predict(X) always equal fit(X).predict(X), whichever of the
        # n_init runs won. fit skips it: a row of weight 0 need not have a
        # label (its category may have probability 0 in every component).
        return weighted_log_prob(data, self._fitted_params()).argmax(axis=1)

    def _fit(self, X, sample_weight, dask_data=None):
        """Fit by EM and store the fitted attributes; the engine's data and
        the engine's result (its ``other_runs`` for a caller that refuses the
        best run).

        ``dask_data``, for a dask ``X``, is its :class:`DaskData` already
        built (``DaskData.build(X)``): fits of one ``X`` that share it make
        its summary's pass once (a selector's grid).
        """
        if is_dask_array(X):
            table = dask_fit_input(self, X, sample_weight, self._validate_X)
            data = DaskData.build(X) if dask_data is None else dask_data
        else:
            table = read_input(
                self, X, reset=True, validate_numeric=self._validate_X, min_fit_rows=2
            )
            data = engine_data(
                table, sample_weight=check_sample_weight(sample_weight, table.mask)
            )
        self._layout = table.layout
        form = covariance_form(self.covariance_type)
        n_components = self.n_components
        weights, means, precisions = check_initial_params(
            self.weights_init,
            self.means_init,
            self.precisions_init,
            n_components=n_components,
            n_features=data.n_numeric,
            form=form,
            n_categorical=data.n_categorical,
        )
        warm = self.warm_start and hasattr(self, "converged_")
        result = fit_em(
            self,
            data,
            start=self._fitted_params() if warm else None,
            mask=None if is_dask_array(X) else table.mask,
            min_rows=2,
            weights_init=weights,
            means_init=means,
            precisions_init=precisions,
        )
        store_fitted(self, result, table, form, output_dtype(data))
        # For bic's and aic's collapse warning: the fit's rows, not those of
        # the data a criterion scores (none kept out of core).
        self._training_rows = None if is_dask_array(X) else training_rows(data)
        return data, result

    def _warn_of_unestimated_parameters(self, data):
        """Warn of what the data cannot estimate: an empty component's
        parameters, the covariance of features never observed together."""
        warn_if_empty(self)
        warn_unidentified_covariances(self, data)

    def _adopt_run(self, run):
        """Take another run of the last fit (``EMResult.other_runs``) as the
        fitted model: its parameters and convergence record, in the fitted
        attributes' dtype."""
        store_run(self, run, covariance_form(self.covariance_type), self.weights_.dtype)

    def _fitted_params(self):
        """The fitted parameters as the engine's ``MixtureParams`` (float64)."""
        return self._params

    def _lazy(self, X, method, dtype, n_columns=None, what=None):
        """``method`` of every row chunk of a dask ``X``, lazily (see
        ``map_rows``); ``X`` validated now as far as its shape and dtype
        decide (:func:`check_lazy_input`: a model of numeric features
        refuses a dtype that is not numeric, as a dask fit does). ``what``,
        the method called, as the errors name it (``method``'s name by
        default)."""
        self._check_lazy_input(X, what or method.__name__)
        return map_rows(X, method, dtype, n_columns)

    def _check_lazy_input(self, X, what):
        check_is_fitted(self)
        check_lazy_input(self._validate_X, X, layout=self._layout, what=what)

    def _validated_data(self, X):
        check_is_fitted(self)
        return engine_data(
            read_input(self, X, reset=False, validate_numeric=self._validate_X)
        )

    def _posterior(self, X):
        """Log-density and responsibilities, in the input's float dtype."""
        return self._posterior_of(self._validated_data(X))

    def _posterior_of(self, data, allow_impossible=False):
        """:meth:`_posterior` of ``X`` already read (``_validated_data``)."""
        log_prob, resp = posterior(
            data, self._fitted_params(), allow_impossible=allow_impossible
        )
        dtype = output_dtype(data)
        return as_dtype(log_prob, dtype), as_dtype(resp, dtype)

    def score_samples(self, X):
        """Log-density of the observed coordinates of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x_O)`` under the model, the marginal over the missing
            coordinates; 0 for a row with nothing observed, ``-inf`` for a
            row of density 0 under every component (far from all of them,
            or a category of probability 0 in each).
        """
        return self._score_samples(X, "score_samples")

    def _score_samples(self, X, what):
        """:meth:`score_samples`, called by ``what`` (for a dask ``X``'s errors)."""
        if is_dask_array(X):
            return self._lazy(X, self.score_samples, output_dtype(X), what=what)
        # A row far from every component has density 0, log-density -inf,
        # as GaussianMixture's (an outlier's score, not an error).
        return self._posterior_of(self._validated_data(X), allow_impossible=True)[0]

    def score(self, X, y=None):
        """Mean per-row log-likelihood of the observed data.

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
        return self._score(X, "score")

    def _score(self, X, what):
        """:meth:`score`, called by ``what`` (for a dask ``X``'s errors)."""
        return float(np.mean(self._score_samples(X, what)))

    def predict_proba(self, X):
        """Posterior probability of each component given the observed part.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1; a row with nothing observed gets ``weights_``.
        """
        if is_dask_array(X):
            return self._lazy(
                X, self.predict_proba, output_dtype(X), len(self.weights_)
            )
        return self._posterior(X)[1]

    def predict(self, X):
        """Most probable component of each row given its observed part.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        if is_dask_array(X):
            return self._lazy(X, self.predict, np.intp)
        # The argmax of the float64 log-probabilities, as fit_predict's: a
        # float32 input's responsibilities, rounded, tie near a boundary.
        return weighted_log_prob(self._validated_data(X), self._params).argmax(axis=1)

    def sample(self, n_samples=1):
        """Generate random samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate, at least 1. A float with a whole
            value, such as 2.0, counts as that integer, as in
            ``GaussianMixture``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Randomly generated sample, grouped by component, with the
            categorical features (if any) holding categories, not codes.
            float64 when there are no categorical features or the model was
            fitted on an array of numbers (a categorical feature then holds
            its categories as floats, e.g. 20.0); an object array when it
            was fitted on a DataFrame or an object array, the categories
            keeping their own type (str, int, bool...) and the numeric
            features being floats.

        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        # GaussianMixture.sample takes a float such as 2.0; it also takes 2.5,
        # as 2 (numpy's multinomial truncates it), which is refused here.
        if (
            isinstance(n_samples, Real)
            and not isinstance(n_samples, Integral)
            and float(n_samples).is_integer()
        ):
            n_samples = int(n_samples)
        if not isinstance(n_samples, Integral):
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. It must be a "
                "whole number, such as 2 or 2.0."
            )
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                "requires at least one sample."
            )
        rng = check_random_state(self.random_state)
        draws, labels = sample_mixture(self._fitted_params(), int(n_samples), rng)
        if self._layout is None:
            return draws[0], labels
        numeric = draws[0] if len(self.numeric_features_) else None
        codes = draws[-1]
        if numeric is None:
            numeric = np.empty((len(labels), 0))
        return decode(numeric, codes, self._layout, container="numpy"), labels

    def _n_parameters(self):
        return self._fitted_params().n_parameters()

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion on ``X`` (lower is better).

        ``-2 * n_samples * score(X) + n_parameters * log(n)``, as in
        ``GaussianMixture``, with the observed-data likelihood; ``n`` counts
        the rows with an observed entry (a row with nothing observed carries
        no information: it adds 0 to the log-likelihood, and nothing to
        ``n``). With ``sample_weight``, each row's log-density and its count
        in ``n`` are weighted: a row of weight ``w`` counts as ``w`` copies,
        as in :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (see :meth:`fit`): whole ones count as
            copies of the rows, others are rescaled to sum to the rows of
            positive weight (they count no copies, and ``n`` must not come
            from their scale). Not for a dask array, which :meth:`fit`
            takes without weights.

        Returns
        -------
        bic : float
            The lower the better.

        Warns
        -----
        UserWarning
            When a component collapsed (on fewer rows than its covariance
            needs, or on rows that share a value, so that only
            ``reg_covar`` keeps it invertible): the likelihood, and the
            criterion, then grow without bound as ``reg_covar`` shrinks.
            mclust's BIC is NA there, and :class:`EMMixtureSelector`
            records such a fit as failed (keeping the best of its
            ``n_init`` runs that did not collapse).
        """
        criteria = self._criteria(X, "bic", sample_weight)
        warn_if_collapsed(self, "bic")
        return criteria["bic"]

    def aic(self, X, sample_weight=None):
        """Akaike information criterion on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, as in :meth:`bic`.

        Returns
        -------
        aic : float
            The lower the better.

        Warns
        -----
        UserWarning
            When a component collapsed (see :meth:`bic`).
        """
        criteria = self._criteria(X, "aic", sample_weight)
        warn_if_collapsed(self, "aic")
        return criteria["aic"]

    def _criteria(self, X, what, sample_weight=None):
        """:func:`~emimpute._criteria.information_criteria` of ``X``'s rows
        (weighted by ``sample_weight``), as :class:`EMMixtureSelector`'s
        grid scores its fits, from one read of ``X`` (a dask ``X``: one pass
        of tasks, each reading its chunk as in memory; ``X`` checked before
        it, as for :meth:`score`, and its chunks' sizes known). ``what``:
        the method called, as the errors name it."""
        self._n_samples(X, what)
        if is_dask_array(X):
            if sample_weight is not None:
                raise ValueError(
                    f"{what}: sample_weight is not taken with a dask array "
                    "(EMMixture fits one without weights)."
                )
            self._check_lazy_input(X, what)
            return dask_information_criteria(self, X, read=self._validated_data)
        data, counts = self._scored_rows(X, sample_weight)
        return mixture_criteria(self, data, counts)

    def _scored_rows(self, X, sample_weight=None):
        """``X`` as a criterion scores it (:meth:`bic`, and
        :class:`EMMixtureSelector`'s): read as at fit, without its rows of
        weight 0, which add nothing (and which a category seen only in them,
        of probability 0, could not even score), and the others' weights as
        counts of rows (whole ones as copies, others rescaled to the rows:
        :func:`~emimpute._em._data.weights_as_counts`; None without
        weights)."""
        data = self._validated_data(X)
        weights = check_sample_weight(sample_weight, data.mask)
        if weights is None:
            return data, None
        positive = weights > 0
        return data.take(positive), weights_as_counts(weights)[positive]

    @staticmethod
    def _n_samples(X, what):
        """The number of rows of ``X``; refused for a dask array of unknown
        chunk sizes, whose NaN would make ``what`` NaN."""
        if is_dask_array(X):
            check_known_chunks(X, what)
        return np.shape(X)[0]
