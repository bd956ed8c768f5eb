"""EMImputer: missing values filled from a Gaussian (mixture) fit by EM."""

import math
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils import check_random_state

from emimpute._base import EM_PARAMETER_CONSTRAINTS, fit_em
from emimpute._em._estep import posterior
from emimpute._em._impute import conditional_fill
from emimpute._em._params import in_data_units, standardisation
from emimpute._em._patterns import find_patterns
from emimpute._sklearn_compat import (
    _check_feature_names_in,
    _fit_context,
    check_is_fitted,
    validate_data,
)


def _is_nan(value):
    return isinstance(value, Real) and math.isnan(value)


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
    missing_values : int, float or np.nan, default=np.nan
        The placeholder for the missing values. All occurrences of
        ``missing_values`` are imputed.

    n_components : int, default=1
        Number of Gaussian components. 1 fits a multivariate Gaussian (as
        Amelia and norm do); more fit a mixture, for multimodal data.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure of the components, as in
        :class:`sklearn.mixture.GaussianMixture`. Only 'full' and 'tied'
        carry correlations between features; with 'diag' and 'spherical'
        a missing entry is predicted from the cluster membership alone.

    tol : float, default=1e-3
        EM stops when the per-row observed-data log-likelihood (of the
        standardised data) changes by less than ``tol``.

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

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are chosen (see
        :class:`EMMixture`).

    random_state : int, RandomState instance or None, default=None
        Controls the initialisation and, with ``sample_posterior=True``, the
        draws. Pass an int for reproducible results: each ``transform`` call
        then draws from a stream started afresh from that seed.

    sample_posterior : bool, default=False
        If True, each row's missing part is drawn jointly from its
        conditional distribution (a component chosen by responsibility, then
        that component's conditional Gaussian) instead of taking the
        conditional mean. Use different ``random_state`` values to build
        multiple imputations.

    add_indicator : bool, default=False
        If True, a :class:`~sklearn.impute.MissingIndicator` is fit on the
        training data and its columns are appended to the output. Features
        with no missing value at fit time get no indicator column, even if
        values are missing at transform time.

    keep_empty_features : bool, default=False
        If True, features that were entirely missing at fit time are kept
        in the output and filled with 0 (as scikit-learn's imputers do);
        otherwise they are dropped, with a warning.

    verbose : int, default=0
        Progress output of EM, as in :class:`EMMixture`.

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
        units). ``n_features_kept`` counts the features with at least one
        observed value at fit time.

    n_iter_ : int
        Number of EM iterations of the kept fit.

    converged_ : bool
        Whether the kept fit converged.

    lower_bound_ : float
        Per-row observed-data log-likelihood of the kept fit, in the data's
        units.

    indicator_ : MissingIndicator
        The indicator of missing values; None when ``add_indicator=False``.

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
    ``sum_k r_k m_k``, with ``r_k`` the responsibility of component ``k``
    given ``x_O``, and ``return_std`` gives the square root of
    ``sum_k r_k (diag(C_k) + m_k**2) - (sum_k r_k m_k)**2`` (the law of total
    variance). A row with nothing observed gets the mixture's mean and
    marginal standard deviation. A feature with a single observed value, or
    a constant one, is imputed with that value (its variance is then
    ``reg_covar`` times 1 in standardised units).

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
        "missing_values": [Real],
        "sample_posterior": ["boolean"],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = _is_nan(self.missing_values)
        return tags

    def _validate_X(self, X, *, reset):
        """Validated float64 copy of ``X`` and its missingness mask."""
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if _is_nan(self.missing_values) else True,
            reset=reset,
            copy=False,
        )
        X = np.asarray(X, dtype=np.float64)
        if _is_nan(self.missing_values):
            mask = np.isnan(X)
        else:
            mask = X == self.missing_values
        return X, mask

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the Gaussian (mixture) to the observed entries of ``X`` by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted imputer.
        """
        X, mask = self._validate_X(X, reset=True)
        empty = mask.all(axis=0)
        if empty.any() and not self.keep_empty_features:
            warnings.warn(
                "Skipping features without any observed values: "
                f"{np.flatnonzero(empty).tolist()}. At least one observed value "
                "is needed to estimate a feature's distribution.",
                UserWarning,
                stacklevel=2,
            )
        self._kept = np.flatnonzero(~empty)
        self.indicator_ = None
        if self.add_indicator:
            self.indicator_ = MissingIndicator(
                missing_values=self.missing_values, error_on_new=False
            ).fit(X)
        if len(self._kept) == 0:
            raise ValueError(
                "EMImputer needs at least one feature with an observed value; "
                "every feature of X is entirely missing."
            )
        X_kept, mask_kept = X[:, self._kept], mask[:, self._kept]
        self._centre, self._scale = standardisation(X_kept, mask_kept)
        result, _ = fit_em(self, (X_kept - self._centre) / self._scale, mask_kept)
        self._params = result.params
        self.weights_ = result.params.weights
        self.means_, self.covariances_ = in_data_units(
            result.params, self._centre, self._scale
        )
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.lower_bound_ = float(
            result.lower_bound - self._log_scale(mask_kept).mean()
        )
        return self

    def _log_scale(self, mask_kept):
        """Per row, the log-Jacobian of the standardisation of its observed part.

        The density of a row's observed entries in the data's units is that
        of the standardised entries divided by the product of their scales.
        """
        return np.where(mask_kept, 0.0, np.log(self._scale)).sum(axis=1)

    def _standardised(self, X, mask):
        X_kept = (X[:, self._kept] - self._centre) / self._scale
        mask_kept = mask[:, self._kept]
        return np.where(mask_kept, np.nan, X_kept), find_patterns(mask_kept)

    def transform(self, X, return_std=False):
        """Impute every missing entry of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        return_std : bool, default=False
            Also return the conditional standard deviation of every output
            entry: 0 where observed (and in indicator columns), NaN in
            features that were entirely missing at fit time and kept by
            ``keep_empty_features``.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out)
            ``X`` with its missing entries imputed, features entirely
            missing at fit time dropped (or filled with 0), and the indicator
            columns appended when ``add_indicator``.

        std : ndarray of shape (n_samples, n_features_out)
            Conditional standard deviations; only when ``return_std``.
        """
        check_is_fitted(self)
        X, mask = self._validate_X(X, reset=False)
        Z, patterns = self._standardised(X, mask)
        random_state = (
            check_random_state(self.random_state) if self.sample_posterior else None
        )
        filled, std = conditional_fill(
            Z,
            patterns,
            self._params,
            return_std=return_std,
            random_state=random_state,
        )
        kept_mask = mask[:, self._kept]
        Xt = X.copy()
        # Observed entries are copied from X, never round-tripped through
        # the standardisation, so they come back bit for bit.
        Xt[:, self._kept] = np.where(
            kept_mask, filled * self._scale + self._centre, X[:, self._kept]
        )
        if self.keep_empty_features:
            empty = np.setdiff1d(np.arange(X.shape[1]), self._kept)
            Xt[:, empty] = 0.0
        else:
            Xt = Xt[:, self._kept]
        if return_std:
            std_out = np.full(X.shape, np.nan)
            std_out[:, self._kept] = std * self._scale
            if not self.keep_empty_features:
                std_out = std_out[:, self._kept]
        if self.indicator_ is not None:
            indicator = self.indicator_.transform(X).astype(Xt.dtype)
            Xt = np.hstack([Xt, indicator])
            if return_std:
                std_out = np.hstack([std_out, np.zeros_like(indicator)])
        return (Xt, std_out) if return_std else Xt

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
            Mean observed-data log-likelihood per row.
        """
        check_is_fitted(self)
        X, mask = self._validate_X(X, reset=False)
        Z, patterns = self._standardised(X, mask)
        log_prob, _ = posterior(Z, patterns, self._params)
        return float(np.mean(log_prob - self._log_scale(mask[:, self._kept])))

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
