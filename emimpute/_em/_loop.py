"""run_em: initialise, repeat E and M steps, keep the best of n_init runs."""

import itertools
import warnings
from dataclasses import dataclass, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from emimpute._em._fused import blas_threads_for
from emimpute._em._init import initial_params
from emimpute._em._monitor import ConvergenceMonitor
from emimpute._em._mstep import log_prior, m_step
from emimpute._em._params import MixtureParams, largest_change
from emimpute._em._scaling import Scaling, check_range
from emimpute._em._warnings import user_stacklevel


@dataclass(frozen=True)
class EMResult:
    """Outcome of :func:`run_em`.

    Attributes
    ----------
    params : MixtureParams
        Parameters after the last M-step of the best run (of the
        standardised numeric columns when ``scaling`` is set).
    lower_bound : float
        The objective at the best run's last E-step, per sample: the
        observed-data log-likelihood in the caller's units (the data's, or
        ``units_offset`` away from them), plus, with a
        conjugate prior (MAP-EM), the log-prior density of the parameters
        (of the standardised model when ``scaling`` is set) divided by the
        number of rows.
    lower_bounds : list of float
        Its value at each iteration of the best run, in the same units.
    n_iter : int
        Iterations of the best run.
    converged : bool
        Whether the best run converged.
    scaling : Scaling or None
        The standardisation of the numeric columns, when the fit used one.
    moments_moving : bool
        The best run's last iteration met the log-likelihood's rule, not
        ``config.moment_tol`` (see ``ConvergenceMonitor``).
    other_runs : tuple of EMResult
        The other runs of ``n_init``, from the highest ``lower_bound`` down:
        for a caller that refuses the best (a model selector refusing a
        collapsed component keeps the next run instead).
    """

    params: MixtureParams
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool
    scaling: Scaling | None = None
    moments_moving: bool = False
    other_runs: tuple = ()


def run_em(
    data,
    config,
    *,
    start=None,
    previous_lower_bound=None,
    units_offset=0.0,
    quiet=False,
    **initial,
):
    """Fit a mixture to incomplete data by EM.

    Each iteration computes, in one pass over the rows, the observed-data
    log-likelihood of the current parameters and the expected sufficient
    statistics (the E-step), then re-estimates the parameters (the M-step);
    it stops when the per-sample log-likelihood changes by less than
    ``config.tol`` (and, with ``config.moment_tol``, no moment of the
    mixture moves by that much) or after ``config.max_iter`` iterations.
    ``config.n_init`` runs start from different initial parameters and the
    one with the highest final log-likelihood is kept. The loop knows no
    family: it sums statistics, calls the M-step and monitors. With a conjugate prior
    (``config.prior.conjugate``) it resolves the hyperparameters on the data
    as fit (standardised or not), the M-step is the MAP one and the
    objective monitored includes the log-prior, so that it never decreases
    (with ``reg_covar=0``).

    Parameters
    ----------
    data : EMData or DaskData
        The data source: ``initialisation_data(random_state)`` gives the
        in-memory rows the start is computed on, ``expectation(params,
        chunk_size)`` one E-step's per-sample log-likelihood and statistics;
        ``fit_scaling()``, ``mean_log_jacobian(scaling)`` and
        ``standardised(scaling)`` the standardisation.
    config : EMConfig
    start : MixtureParams, default=None
        Start from these parameters instead (warm start); ``n_init`` is then
        ignored. In standardised units when ``config.standardise``.
    previous_lower_bound : float, default=None
        The lower bound the warm start's parameters were reported with (in
        the data's units, as ``EMResult.lower_bound``): the first iteration's
        change is measured from it, as scikit-learn's ``GaussianMixture``
        does, so that repeated fits of one iteration each detect
        convergence instead of restarting from ``-inf``.
    units_offset : float, default=0.0
        The mean log-Jacobian from ``data``'s units to the caller's (a
        transformation of the features the caller applied): added, with the
        standardisation's, to every log-likelihood reported, so that the
        progress lines, the log records and the result are all in the
        caller's units.
    quiet : bool, default=False
        No progress lines or log records (an inner fit, such as a start's).
    **initial
        Validated ``weights_init``, ``means_init``, ``precisions_init``.

    Returns
    -------
    result : EMResult

    Raises
    ------
    ValueError
        If the log-likelihood becomes non-finite or a covariance is not
        positive definite; the message says what to change.
    """
    scaling = None
    # From the model's (standardised) units to the caller's.
    offset = units_offset
    if config.standardise and data.n_numeric:
        scaling = data.fit_scaling()
        offset -= data.mean_log_jacobian(scaling)
        data = data.standardised(scaling)
    check_range(data, scaling)
    config = replace(
        config,
        prior=config.prior.resolve(data, config.n_components, config.form, scaling),
    )
    n_runs = 1 if start is not None else config.n_init
    # tol is per row with something observed: the rows with nothing
    # observed (log-density 0) would dilute every change, and 300 of them
    # beside 120 rows stopped a fit after 3 iterations instead of 25.
    tol = config.tol * data.informative_share
    best, runs = None, []
    # The rows every run's start is computed on, read once: out of core,
    # a sample whose reading is a pass over the data (n_init of them took
    # most of a selector's passes); the runs differ by their starts' draws.
    start_data = None
    # The E-step's BLAS limit (one thread up to 64 features; see
    # ``_fused.blas_threads_for``), held for the whole fit rather than
    # entered by each E-step: an entry from no limit costs a round trip to
    # the limits thread (about 0.2 ms, as much as ten E-steps of a small
    # table), one while it is held 8 us. The start's statistics then round
    # alike at any thread count, as the E-step's do (2 threads gave other
    # bits from d = 60 up); the M-step's products, on d x d matrices, run on
    # one thread as BLAS itself runs them below its threshold.
    with blas_threads_for(data.n_numeric):
        for init_index in range(n_runs):
            monitor = ConvergenceMonitor(
                tol,
                moment_tol=config.moment_tol,
                verbose=config.verbose,
                verbose_interval=config.verbose_interval,
                init_index=init_index,
                n_runs=n_runs,
                warn_on_decrease=config.prior.reg_covar == 0,
                previous=(
                    -np.inf
                    if start is None or previous_lower_bound is None
                    else previous_lower_bound - offset
                ),
                offset=offset,
                quiet=quiet,
            )
            params = start
            if params is None:
                if start_data is None:
                    start_data = data.initialisation_data(config.random_state)
                params = initial_params(
                    start_data,
                    config,
                    init_index=init_index,
                    **initial,
                )
            run = iterate(data, params, config, monitor)
            run = replace(
                run, lower_bound=float(run.lower_bound + offset), scaling=scaling
            )
            runs.append(run)
            # With max_iter=0 no run is fit, and the last start is kept,
            # as GaussianMixture keeps it.
            if (
                best is None
                or run.lower_bound > best.lower_bound
                or config.max_iter == 0
            ):
                best = run
    others = sorted(
        (run for run in runs if run is not best), key=lambda run: -run.lower_bound
    )
    best = replace(best, other_runs=tuple(others))
    # The data's kept blocks served this fit's E-steps (DaskData keeps none).
    release_blocks = getattr(data, "release_blocks", None)
    if release_blocks is not None:
        release_blocks()
    if not best.converged and config.max_iter > 0:
        slow = (
            " The log-likelihood had settled, but not the fitted means and "
            "covariances: EM is slow on the parameters of a feature that few "
            "rows observe; increase max_iter first."
            if best.moments_moving
            else ""
        )
        warnings.warn(
            "Best performing initialization did not converge. Try different "
            "init parameters, or increase max_iter, tol, or check for "
            f"degenerate data.{slow}{_few_rows_hint(data, config)}",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    return best


def _few_rows_hint(data, config):
    """What to change when the rows are too few for the covariances.

    Without a prior, fewer rows than a covariance needs (more features
    than rows, the usual wide table) give a maximum-likelihood estimate
    that only reg_covar keeps invertible, towards which EM crawls; scikit-
    learn's generic advice does not say so. Empty when the rows suffice.
    """
    if config.prior.conjugate is not None or data.n_numeric == 0:
        return ""
    _, in_all = config.form.rows_needed(config.n_components, data.n_numeric)
    rows = data.summary()[1]
    if rows >= in_all:
        return ""
    return (
        f" {rows} rows with an observed entry are fewer than the {in_all} "
        f"that '{config.form.name}' covariances of {data.n_numeric} features "
        f"need with {config.n_components} component(s): their maximum-"
        "likelihood estimate is singular but for reg_covar, which EM "
        "approaches slowly. Fit under a prior (prior='default'), or with "
        "covariance_type='diag' or fewer components."
    )


def em_steps(data, params, config):
    """E and M steps from ``params``, without end.

    Yields, for each iteration, the objective at the parameters its E-step
    used (per unit of weight: the log-likelihood, plus the log-prior with a
    conjugate prior) and the parameters of its M-step.

    Raises
    ------
    ValueError
        If the objective becomes non-finite (a degenerate model), saying
        what to change.
    """
    for n_iter in itertools.count(1):
        lower_bound, stats = data.expectation(params, config.chunk_size)
        lower_bound += log_prior(params, config.prior) / data.total_weight
        if not np.isfinite(lower_bound):
            raise ValueError(
                f"The log-likelihood became {lower_bound} at iteration "
                f"{n_iter}: the model is degenerate. Increase reg_covar, "
                "decrease n_components, or scale the input data."
            )
        params = m_step(stats, params, config.prior, config.classes)
        yield lower_bound, params


def iterate(data, params, config, monitor):
    """:func:`em_steps` from ``params`` until ``monitor`` stops them.

    ``monitor.report(lower_bound, step)`` is told the objective of each
    E-step's parameters and, when it watches them (``monitor.moment_tol``
    set), the largest change of a moment of the mixture in the M-step that
    followed (:func:`~emimpute._em._params.largest_change`); it returns whether to
    stop. ``monitor.finish()`` is called at the end, and ``monitor.history``
    and ``monitor.converged`` make the result (a
    :class:`~emimpute._em._monitor.ConvergenceMonitor`). At most
    ``config.max_iter`` iterations. The result's ``lower_bound`` is in the
    model's units (no offset).
    """
    lower_bound = -np.inf
    steps = em_steps(data, params, config)
    # Each M-step's moments, kept for the next one's step.
    moments = params.marginal_moments() if monitor.moment_tol is not None else None
    step = None
    for lower_bound, moved in itertools.islice(steps, config.max_iter):
        params = moved
        if moments is not None:
            previous, moments = moments, params.marginal_moments()
            step = largest_change(moments, previous)
        if monitor.report(lower_bound, step):
            break
    monitor.finish()
    return EMResult(
        params=params,
        lower_bound=float(lower_bound),
        lower_bounds=list(monitor.history),
        n_iter=len(monitor.history),
        converged=monitor.converged,
        moments_moving=monitor.moments_moving,
    )
