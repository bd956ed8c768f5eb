"""run_em: initialise, repeat E and M steps, keep the best of n_init runs."""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from emimpute._em._estep import e_step
from emimpute._em._init import initial_params
from emimpute._em._monitor import ConvergenceMonitor
from emimpute._em._mstep import m_step
from emimpute._em._params import MixtureParams


@dataclass(frozen=True)
class EMResult:
    """Outcome of :func:`run_em`.

    Attributes
    ----------
    params : MixtureParams
        Parameters after the last M-step of the best run.
    lower_bound : float
        Per-sample observed-data log-likelihood at the best run's last
        E-step.
    lower_bounds : list of float
        Its value at each iteration of the best run.
    n_iter : int
        Iterations of the best run.
    converged : bool
        Whether the best run converged.
    """

    params: MixtureParams
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool


def run_em(
    X,
    patterns,
    *,
    n_components,
    covariance_type,
    tol,
    reg_covar,
    max_iter,
    n_init,
    init_params,
    random_state,
    weights_init=None,
    means_init=None,
    precisions_init=None,
    start=None,
    verbose=0,
    verbose_interval=10,
    chunk_size=None,
):
    """Fit a Gaussian mixture to incomplete data by EM.

    Each iteration computes, in one pass over the rows, the observed-data
    log-likelihood of the current parameters and the expected sufficient
    statistics (the E-step), then re-estimates the parameters (the M-step);
    it stops when the per-sample log-likelihood changes by less than ``tol``
    or after ``max_iter`` iterations. ``n_init`` runs start from different
    initial parameters and the one with the highest final log-likelihood is
    kept.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Float64 data; the entries flagged in ``patterns.mask`` are ignored.
    patterns : MissingPatterns
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    tol : float
    reg_covar : float
    max_iter : int
    n_init : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState
    weights_init, means_init, precisions_init : ndarray, default=None
        Validated user-given initial values.
    start : MixtureParams, default=None
        Start from these parameters instead (warm start); ``n_init`` is then
        ignored.
    verbose, verbose_interval : int
        Progress output, see :class:`ConvergenceMonitor`.
    chunk_size : int, default=None
        Rows per E-step chunk.

    Returns
    -------
    result : EMResult

    Raises
    ------
    ValueError
        If the log-likelihood becomes non-finite or a covariance is not
        positive definite; the message says what to change.
    """
    n_runs = 1 if start is not None else n_init
    best = None
    for init_index in range(n_runs):
        monitor = ConvergenceMonitor(
            tol,
            verbose=verbose,
            verbose_interval=verbose_interval,
            init_index=init_index,
            warn_on_decrease=reg_covar == 0,
        )
        params = start
        if params is None:
            params = initial_params(
                X,
                patterns,
                n_components=n_components,
                covariance_type=covariance_type,
                reg_covar=reg_covar,
                init_params=init_params,
                random_state=random_state,
                weights_init=weights_init,
                means_init=means_init,
                precisions_init=precisions_init,
            )
        lower_bound = -np.inf
        for n_iter in range(1, max_iter + 1):
            log_prob_norm, stats = e_step(X, patterns, params, chunk_size=chunk_size)
            lower_bound = log_prob_norm.mean()
            if not np.isfinite(lower_bound):
                raise ValueError(
                    f"The log-likelihood became {lower_bound} at iteration "
                    f"{n_iter}: the model is degenerate. Increase reg_covar, "
                    "decrease n_components, or scale the input data."
                )
            params = m_step(stats, covariance_type, reg_covar)
            if monitor.report(lower_bound):
                break
        monitor.finish()
        if best is None or lower_bound > best.lower_bound:
            best = EMResult(
                params=params,
                lower_bound=lower_bound,
                lower_bounds=list(monitor.history),
                n_iter=len(monitor.history),
                converged=monitor.converged,
            )
    if not best.converged and max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. Try different "
            "init parameters, or increase max_iter, tol, or check for "
            "degenerate data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best
