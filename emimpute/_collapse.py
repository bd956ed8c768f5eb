"""Components that collapsed: fits whose likelihood only ``reg_covar`` bounds.

A maximum-likelihood component on too few rows, or on rows that share a
value or lie on a line, has a covariance singular but for ``reg_covar``:
its density, and the fit's likelihood, grow without bound as ``reg_covar``
shrinks, so such a fit wins any information criterion on small data.
mclust's BIC is NA for it. :class:`EMMixtureSelector` records it as a
failed fit (and keeps the best run of its ``n_init`` that did not
collapse), and :meth:`EMMixture.bic` and :meth:`EMMixture.aic` warn.
"""

import copy
import math
import warnings

import numpy as np

from emimpute._base import REG_COVAR_SHARE
from emimpute._em._data import weights_as_counts
from emimpute._em._warnings import user_stacklevel

# A component's variance in some direction, less reg_covar, at or below
# this share of the mixture's variance in that direction is a collapse
# (rows sharing a value: far below any measurement's resolution).
COLLAPSED_VARIANCE_SHARE = 1e-9
# Or reg_covar makes up at least half of it, while the mixture's variance
# there is above reg_covar / SPIKE_SCALE_SHARE (data at an ordinary scale,
# not one that reg_covar swamps everywhere; see check_fitted_variances).
SPIKE_SCALE_SHARE = REG_COVAR_SHARE**2
# That second case is also a genuinely tight component (100 distinct rows of
# variance 5e-7 beside a cluster of variance 1e-2: mclust and
# GaussianMixture score it). A few EM iterations from the fit with
# reg_covar shrunk tell the two apart: a spike's variance follows reg_covar
# down (at reg_covar / 100, 5 iterations took it from 4.9e-7 to 1.1e-8 on
# three rows, one with a hole, and from 3.3e-7 to 4.6e-9 on rows on a line
# with holes), a tight component's stays where its rows put it.
SPIKE_PROBE_SHRINK = 100.0
SPIKE_PROBE_ITERATIONS = 5
SPIKE_PROBE_DROP = 0.25


def _dense_covariances(gaussian):
    """Every component's covariance as a ``(K, d, d)`` matrix."""
    return gaussian.form.full_matrices(
        gaussian.covariances, gaussian.n_components, gaussian.n_features
    )


def _spike_directions(gaussian, weights, reg_covar, inflation=1.0):
    """Each component's least variance and whether it may be a spike.

    A spike is a direction in which a component's covariance is singular
    but for ``reg_covar``: its variance there, less ``reg_covar``, is at
    most ``COLLAPSED_VARIANCE_SHARE`` of the mixture's variance in that
    direction (``collapsed``: rows sharing a value, or on a line), or at
    most ``inflation * reg_covar`` on data whose variance there is of an
    ordinary scale (``SPIKE_SCALE_SHARE``; ``small``: too few rows once the
    holes are counted, whose conditional variances keep ``reg_covar`` in
    the fit, or a genuinely tight component, see
    :func:`_follows_reg_covar`). ``inflation``, the rows over the fewest
    observations of a feature: each M-step adds ``reg_covar`` to a
    variance that the E-step's conditional variances of the holes carry
    back, so a feature observed in ``n / c`` rows that share a value
    settles at ``c * reg_covar`` (5 rows of 150: 30 times it).
    Eigenvectors, not the features' axes: a 'tied' covariance pooled over
    components on one row each, or a 'full' one on collinear rows, is
    singular off the axes. Cost ``O(K d^3)``.

    Returns
    -------
    least, excess : ndarray of shape (n_components,)
        Each component's least variance, and the least of its variances
        less ``reg_covar`` in the directions of ``small`` (NaN elsewhere).
    collapsed, small : ndarray of bool of shape (n_components,)
    """
    covariances = _dense_covariances(gaussian)
    centred = gaussian.means - weights @ gaussian.means
    total = (
        np.einsum("k,kij->ij", weights, covariances) + (centred.T * weights) @ centred
    )
    least, vectors = np.linalg.eigh(covariances)
    # The mixture's variance along each component's eigenvectors.
    along = np.einsum("kjd,jl,kld->kd", vectors, total, vectors)
    excess = least - reg_covar
    collapsed = excess <= COLLAPSED_VARIANCE_SHARE * along
    small = (excess <= inflation * reg_covar) & (reg_covar <= SPIKE_SCALE_SHARE * along)
    return (
        least.min(axis=1),
        np.where(small, excess, np.inf).min(axis=1, initial=np.inf),
        collapsed.any(axis=1),
        small.any(axis=1),
    )


def _follows_reg_covar(mixture, X, components, excess, sample_weight=None):
    """Which of ``components`` shrink with ``reg_covar``: spikes.

    ``SPIKE_PROBE_ITERATIONS`` EM iterations continue the fit (a copy)
    with ``reg_covar / SPIKE_PROBE_SHRINK``; a component whose least
    variance less ``reg_covar`` falls below ``SPIKE_PROBE_DROP`` of
    ``excess`` (the fit's) has no variance of its own there. Cost: those
    iterations, only for fits with such a component (on a dask ``X``,
    :class:`EMMixture`'s dask warm start: a pass counting the rows, then
    one per iteration).
    """
    probe = copy.deepcopy(mixture).set_params(
        reg_covar=mixture.reg_covar / SPIKE_PROBE_SHRINK,
        warm_start=True,
        max_iter=SPIKE_PROBE_ITERATIONS,
        tol=0.0,
        verbose=0,
    )
    with warnings.catch_warnings():
        # An internal refit: the grid's own fit of X said what there is to say.
        warnings.simplefilter("ignore")
        probe.fit(X, sample_weight=sample_weight)
    after = _least_excess(probe)
    return components[after[components] <= SPIKE_PROBE_DROP * excess[components]]


def _least_excess(mixture):
    """Each component's least variance less ``reg_covar``."""
    covariances = _dense_covariances(mixture._params.gaussian)
    return np.linalg.eigvalsh(covariances)[:, 0] - mixture.reg_covar


def constant_features(data):
    """Whether each numeric feature's observed values are all equal (True
    for one with none), over the rows of positive weight of an in-memory
    :class:`EMData`. Cost ``O(n d)``."""
    hidden = data.mask
    if data.sample_weight is not None:
        hidden = hidden | (data.sample_weight <= 0)[:, np.newaxis]
    lowest = np.where(hidden, np.inf, data.numeric).min(axis=0, initial=np.inf)
    highest = np.where(hidden, -np.inf, data.numeric).max(axis=0, initial=-np.inf)
    return ~(lowest < highest)


def refuse_collapsed_components(
    mixture, n_samples, X, *, observed=None, constant=None, sample_weight=None
):
    """Raise a ValueError (a failed fit) for a component that collapsed.

    Without a prior, a component on fewer rows (``weights_ * n_samples``)
    than its covariance needs (``n_features + 1`` for 'full', 2 for 'diag'
    and 'spherical', see ``rows_needed``), fewer rows in all than the
    covariances need ('tied': a mean per component and ``n_features``), or
    a covariance singular but for ``reg_covar`` in some direction
    (:func:`_spike_directions`: rows sharing a value, or too few rows once
    the holes are counted), has a maximum-likelihood covariance that only
    ``reg_covar`` keeps invertible: a spike whose likelihood grows without
    bound as ``reg_covar`` shrinks, which wins any criterion on small data.
    mclust's BIC is NA for such a fit; here it is recorded as failed.

    ``X`` (the fit's data) is read only by the probe of a component that
    may be a spike (:func:`_follows_reg_covar`): a dask ``X`` is refit out
    of core, by :class:`EMMixture`'s dask fit; None, no probe (such a
    component passes). ``observed``, the observed
    entries of each numeric feature (in ``n_samples`` rows), widens the
    probe to the variances the holes inflate (see :func:`_spike_directions`).
    ``constant`` (:func:`constant_features`) refuses a feature whose
    observed values are all equal: every component's variance of it is
    ``reg_covar``, times the holes' inflation, which the spike test cannot
    tell from data at that scale (complete, such a feature collapses).
    ``sample_weight``, the fit's, is the probe's too.
    """
    gaussian = mixture._params.gaussian
    if mixture.prior is not None or gaussian is None:
        return
    if constant is not None and np.any(constant):
        j = int(np.flatnonzero(constant)[0])
        raise ValueError(
            f"the observed values of numeric feature {j} are all equal: every "
            "component's variance of it is singular but for reg_covar "
            "(mclust's BIC is NA)."
        )
    per_component, in_all = gaussian.form.rows_needed(
        mixture.n_components, gaussian.n_features
    )
    weights = mixture._params.weights
    rows = weights * n_samples
    covariance = f"its '{mixture.covariance_type}' covariance"
    if rows.min() < per_component:
        # Floored, not rounded: 1.9993 rows is not "2 rows, fewer than 2".
        fewest = math.floor(rows.min() * 1000) / 1000
        what = f"a component holds {fewest:g} rows, fewer than the {per_component}"
        raise ValueError(
            f"{what} {covariance} needs: it is singular but for reg_covar "
            "(mclust's BIC is NA)."
        )
    if n_samples < in_all:
        raise ValueError(
            f"{n_samples} rows are fewer than the {in_all} {covariance} needs "
            f"with {mixture.n_components} components: it is singular but for "
            "reg_covar (mclust's BIC is NA)."
        )
    inflation = 1.0
    if observed is not None and len(observed):
        inflation = max(1.0, n_samples / max(float(np.min(observed)), 1.0))
    least, excess, collapsed, small = _spike_directions(
        gaussian, weights, mixture.reg_covar, inflation
    )
    spike = np.flatnonzero(collapsed)
    if not len(spike) and small.any() and X is not None:
        spike = _follows_reg_covar(
            mixture, X, np.flatnonzero(small), excess, sample_weight
        )
    if len(spike):
        k = int(spike[0])
        raise ValueError(
            f"component {k}'s covariance is singular but for reg_covar in "
            f"some direction (variance {least[k]:.3g} there, reg_covar "
            f"{mixture.reg_covar:.3g}): its rows lie on a line or plane (or "
            "share a value), or are too few once the holes are counted "
            "(mclust's BIC is NA)."
        )


def training_rows(data):
    """What the collapse checks read of a fit's in-memory data: its rows
    with an observed entry, each numeric feature's observed entries (both
    counted by the sample weights, :func:`weights_as_counts`) and whether
    its observed values are all equal (:func:`constant_features`)."""
    weights = weights_as_counts(data.sample_weight)
    if weights is None:
        _, n_informative, observed = data.summary()
    else:
        n_informative = float(weights[data.patterns.observed_rows].sum())
        observed = weights @ ~data.mask
    return n_informative, observed, constant_features(data)


def warn_if_collapsed(mixture, criterion):
    """Warn that ``criterion`` (``'bic'``, ``'aic'``) scores a collapsed fit.

    :func:`refuse_collapsed_components` on the fit's own rows (kept at fit
    by :func:`training_rows` as ``mixture._training_rows``; a dask fit, or
    one unpickled from before, keeps none and is not checked), its error
    made a warning, without the probe that would refit: the criterion is
    computed (as ``GaussianMixture`` computes it), but is not comparable
    with other fits'. Whatever data the criterion scores, the collapse is
    the fit's.
    """
    rows = getattr(mixture, "_training_rows", None)
    if rows is None:
        return
    n_samples, observed, constant = rows
    try:
        refuse_collapsed_components(
            mixture, n_samples, None, observed=observed, constant=constant
        )
    except ValueError as exc:
        warnings.warn(
            f"{criterion} of a degenerate fit: {exc} Its likelihood, and "
            f"{criterion}, grow without bound as reg_covar shrinks, so it wins "
            "any comparison without being a better model: EMMixtureSelector "
            "records such a fit as failed. Fit fewer components, another "
            "covariance_type, or under prior='default'.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def warn_if_empty(mixture):
    """Warn of a component left with less than one of the fit's rows.

    Its mean and covariance are then estimated from no data: without a prior,
    only the floor that keeps the M-step's division finite, so arbitrary
    numbers, far from the data (a warm start on data that moved left one at a
    mean of -674 for data near 100, silently). scikit-learn's
    ``GaussianMixture`` does not say so; mclust's BIC is NA for such a fit.
    Under a prior they are the prior's. Every such component is named. The
    fit's rows with an observed entry, counted by their weights, as kept at fit
    by :func:`training_rows` (none kept out of core: not checked). ``O(K)``.
    """
    rows = getattr(mixture, "_training_rows", None)
    if rows is None:
        return
    held = mixture._params.weights * rows[0]
    empty = np.flatnonzero(held < 1.0)
    if not len(empty):
        return
    if mixture.warm_start:
        cause = (
            "The fit started from the previous one (warm_start=True), which "
            "may lie far from these data: refit with warm_start=False."
        )
    else:
        cause = "Fit fewer components, or try more starts (n_init)."
    which = ", ".join(f"{k} ({held[k]:.3g} rows)" for k in empty.tolist())
    values = "the prior's" if mixture.prior is not None else "arbitrary"
    warnings.warn(
        f"Component(s) {which} hold less than one of the {rows[0]:g} rows: no "
        f"data estimate their means and covariances, which are {values}. "
        f"{cause}",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
