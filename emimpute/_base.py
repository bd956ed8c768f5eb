"""What the two estimators share: EM parameters, their validation, the fit."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from emimpute._em._covariance import COVARIANCE_TYPES
from emimpute._em._init import INIT_METHODS
from emimpute._em._loop import run_em
from emimpute._em._params import MixtureParams
from emimpute._em._patterns import find_patterns
from emimpute._sklearn_compat import Interval, StrOptions

EM_PARAMETER_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
    "tol": [Interval(Real, 0.0, None, closed="left")],
    "reg_covar": [Interval(Real, 0.0, None, closed="left")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init_params": [StrOptions(set(INIT_METHODS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def check_fit_rows(patterns, n_components, estimator_name):
    """Raise a clear error when EM cannot be fit on these rows.

    EM needs at least ``n_components`` rows with something observed and at
    least one observed value per feature (else no mean is estimable).
    """
    n_samples = patterns.n_samples
    if n_samples < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = "
            f"{n_components}, n_samples = {n_samples}"
        )
    n_informative = len(patterns.observed_rows)
    if n_informative < n_components:
        raise ValueError(
            f"{estimator_name} needs at least n_components = {n_components} rows "
            f"with an observed value, but only {n_informative} of the "
            f"{n_samples} rows have one."
        )
    empty_features = np.flatnonzero(patterns.mask.all(axis=0))
    if len(empty_features):
        raise ValueError(
            f"{estimator_name} cannot estimate a mean for features without any "
            f"observed value: {empty_features.tolist()}."
        )


def fit_em(estimator, X, mask, *, start=None, **initial):
    """Run EM with the estimator's parameters.

    Parameters
    ----------
    estimator : estimator with the parameters of ``EM_PARAMETER_CONSTRAINTS``
    X : ndarray of shape (n_samples, n_features)
        Float64 data; entries flagged in ``mask`` are ignored.
    mask : ndarray of shape (n_samples, n_features)
        True where missing.
    start : MixtureParams, default=None
        Warm-start parameters.
    **initial
        ``weights_init``, ``means_init``, ``precisions_init``.

    Returns
    -------
    result : EMResult
    patterns : MissingPatterns
    """
    patterns = find_patterns(mask)
    check_fit_rows(patterns, estimator.n_components, type(estimator).__name__)
    result = run_em(
        X,
        patterns,
        n_components=estimator.n_components,
        covariance_type=estimator.covariance_type,
        tol=estimator.tol,
        reg_covar=estimator.reg_covar,
        max_iter=estimator.max_iter,
        n_init=estimator.n_init,
        init_params=estimator.init_params,
        random_state=check_random_state(estimator.random_state),
        start=start,
        verbose=estimator.verbose,
        verbose_interval=getattr(estimator, "verbose_interval", 10),
        **initial,
    )
    return result, patterns


def fitted_params(estimator):
    """The fitted ``MixtureParams`` stored on an estimator."""
    return MixtureParams(
        weights=estimator.weights_,
        means=estimator.means_,
        covariances=estimator.covariances_,
        precisions_cholesky=estimator.precisions_cholesky_,
        covariance_type=estimator.covariance_type,
    )
