"""Convergence monitor of one EM run: history, convergence test, progress.

Progress goes two ways, both optional: printed lines, as scikit-learn's
``GaussianMixture`` prints them (``verbose``), and records of the
``"emimpute"`` :mod:`logging` logger, which an application routes, filters
and formats like any other library's (the command line shows them on
stderr). The logger gets every iteration at level ``DEBUG`` and the start
and end of every run at ``INFO``; each record carries the figures as
attributes (``em_run``, ``em_n_runs``, ``em_iteration``,
``em_log_likelihood``, ``em_change``, ``em_elapsed``, ``em_converged``,
and ``em_moment_change`` where the run watches the mixture's moments) for
handlers that format their own lines.
"""

import logging
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from emimpute._em._warnings import user_stacklevel

logger = logging.getLogger("emimpute")


class ConvergenceMonitor:
    """Record the per-sample observed-data log-likelihood of one EM run.

    Built afresh for every run, never stored on an estimator, so a later
    change of ``tol`` always takes effect.

    Parameters
    ----------
    tol : float
        EM has converged when the log-likelihood changes by less than ``tol``
        between two iterations (the per-sample mean, as in scikit-learn, so
        ``tol`` does not depend on the number of rows).
    moment_tol : float or None, default=None
        When set, EM has converged only when, besides, no moment of the
        fitted mixture (a mean, a covariance, a category's probability;
        ``_params.largest_change``) moved by ``moment_tol`` or more
        in the iteration (the ``step`` given to :meth:`report`). The
        log-likelihood is flat along the parameters of a feature that few
        rows observe, so a small change of it can leave them far from the
        maximum; a small step cannot.
    verbose : int, default=0
        0: silent; 1: one line per run and per ``verbose_interval``
        iterations; 2: the same lines with the time since the previous one
        and the change of the log-likelihood.
    verbose_interval : int, default=10
    init_index : int, default=0
        Number of the run (from 0), for the progress lines.
    stream : file-like, default=None
        Where progress lines go; ``None`` means ``sys.stdout``.
    warn_on_decrease : bool, default=True
        Warn when the log-likelihood drops by more than 1e-6 relative; the
        loop sets it only when ``reg_covar == 0``.
    n_runs : int, default=1
        Number of runs of the fit (``n_init``), for the log records.
    previous : float, default=-inf
        The value before this run's first iteration, in the model's units
        (``offset`` not included): a warm start's previous lower bound, so
        that a run of one iteration can converge.
    offset : float, default=0.0
        Added to every value reported: the mean log-Jacobian from the
        model's data to the caller's units (a standardisation, a
        transformation), so that the history, the printed lines and the log
        records are in the units of the estimator's ``lower_bound_``. The
        changes are the model's: they are the same, unless the offset is
        infinite (the density of a 'sqrt' feature at an observed 0).
    quiet : bool, default=False
        Neither print nor log (an inner fit, such as a start's).

    Attributes
    ----------
    history : list of float
        The log-likelihood at each iteration (``offset`` included).
    converged : bool
    moments_moving : bool
        The last iteration met the log-likelihood's rule but its moments
        still moved by ``moment_tol`` or more.

    Examples
    --------
    >>> from emimpute._em._monitor import ConvergenceMonitor
    >>> monitor = ConvergenceMonitor(tol=1e-3)
    >>> [monitor.report(value) for value in (-3.0, -2.5, -2.4996)]
    [False, False, True]
    >>> monitor = ConvergenceMonitor(tol=1e-3, moment_tol=1e-3)
    >>> [monitor.report(value, step) for value, step in
    ...  ((-3.0, 0.5), (-2.9998, 0.01), (-2.9997, 0.0005))]
    [False, False, True]
    """

    def __init__(
        self,
        tol,
        moment_tol=None,
        verbose=0,
        verbose_interval=10,
        init_index=0,
        stream=None,
        warn_on_decrease=True,
        n_runs=1,
        previous=-np.inf,
        offset=0.0,
        quiet=False,
    ):
        self.tol = tol
        self.moment_tol = moment_tol
        self.offset = offset
        self.previous = previous  # in the model's units, as the changes
        self.warn_on_decrease = warn_on_decrease
        self.verbose = 0 if quiet else verbose
        self.quiet = quiet
        self.verbose_interval = verbose_interval
        self.init_index = init_index
        self.n_runs = n_runs
        self.stream = stream
        self.history = []
        self.converged = False
        self.moments_moving = False
        self._start = self._last = time.perf_counter()
        self._say(f"Initialization {init_index}")
        self._log(logging.INFO, "EM run %d of %d started", em_iteration=0)

    def _say(self, line, level=1):
        if self.verbose >= level:
            print(line, file=self.stream or sys.stdout, flush=True)

    def _log(self, level, message, *args, **figures):
        # isEnabledFor first: an unrouted logger costs one check per
        # iteration, nothing is formatted.
        if not self.quiet and logger.isEnabledFor(level):
            figures = {
                "em_run": self.init_index + 1,
                "em_n_runs": self.n_runs,
                "em_elapsed": time.perf_counter() - self._start,
                **figures,
            }
            run = (figures["em_run"], self.n_runs)
            logger.log(level, message, *run, *args, extra=figures)

    def report(self, lower_bound, step=None):
        """Record one iteration's log-likelihood; return whether converged.

        ``lower_bound`` is in the model's units (``offset`` is added).
        ``step`` is the iteration's largest change of a moment, read when
        ``moment_tol`` is set.
        """
        if self.moment_tol is not None and step is None:
            raise ValueError(
                "report() needs the iteration's moment step: this monitor "
                "watches the moments (moment_tol is set)."
            )
        change = lower_bound - self.previous
        self.previous = lower_bound
        reported = lower_bound + self.offset
        self.history.append(reported)
        n_iter = len(self.history)
        # Without reg_covar, EM never lowers the likelihood in exact
        # arithmetic, so a visible drop means a collapsing component. With
        # reg_covar > 0 small drops are expected (the ridge is not a prior
        # of the likelihood), and warning about them would only be noise.
        # Not at a warm start's first iteration: the previous value may be of
        # other data.
        if (
            self.warn_on_decrease
            and n_iter > 1
            and change < -1e-6 * max(1.0, abs(lower_bound))
        ):
            warnings.warn(
                f"The log-likelihood decreased by {-change:.3g} at iteration "
                f"{n_iter} although reg_covar=0. This happens when "
                "a component is collapsing onto a few rows; set reg_covar > 0, "
                "decrease n_components or scale the data.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        settled = bool(abs(change) < self.tol)
        self.converged = settled and (self.moment_tol is None or step < self.moment_tol)
        self.moments_moving = settled and not self.converged
        # The first iteration has nothing to change from (change is +inf).
        message = "EM run %d of %d, iteration %d: log-likelihood %.6g"
        figures = (n_iter, reported)
        if n_iter > 1:
            message, figures = message + ", change %+.3e", (*figures, change)
        watched = {}
        if self.moment_tol is not None:
            message, figures = message + ", moment step %.3e", (*figures, step)
            watched = {"em_moment_change": step}
        self._log(
            logging.DEBUG,
            message,
            *figures,
            em_iteration=n_iter,
            em_log_likelihood=reported,
            em_change=change,
            em_converged=self.converged,
            **watched,
        )
        if n_iter % self.verbose_interval == 0:
            now = time.perf_counter()
            if self.verbose >= 2:
                self._say(
                    f"  Iteration {n_iter}\t time lapse {now - self._last:.5f}s\t "
                    f"ll change {change:.5f}",
                    2,
                )
            else:
                self._say(f"  Iteration {n_iter}")
            self._last = now
        return self.converged

    def finish(self):
        """Print and log the run's closing line."""
        state = "converged" if self.converged else "did not converge"
        lower_bound = self.history[-1] if self.history else float("nan")
        elapsed = time.perf_counter() - self._start
        if self.verbose >= 2:
            self._say(
                f"Initialization {state}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}.",
                2,
            )
        else:
            self._say(f"Initialization {state}.")
        self._log(
            logging.INFO,
            "EM run %d of %d %s after %d iterations, log-likelihood %.6g",
            state,
            len(self.history),
            lower_bound,
            em_iteration=len(self.history),
            em_log_likelihood=lower_bound,
            em_converged=self.converged,
        )
