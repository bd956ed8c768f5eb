"""The conjugate prior of a Gaussian mixture: MAP-EM (Fraley and Raftery 2007).

With a prior ``p(theta)`` EM climbs the log-posterior ``log p(X_O | theta) +
log p(theta)`` instead of the log-likelihood: the E-step is unchanged and the
M-step maximises the expected complete-data log-likelihood *plus* the
log-prior. For the conjugate prior of mclust's ``priorControl()`` that
maximum has a closed form. Per component, with ``nk`` the expected count,
``xbar_k`` the weighted mean and ``W_k`` the weighted scatter around it:

- means: ``mu_k | S_k ~ N(mu_P, S_k / kappa)``, so
  ``mu_k = (nk xbar_k + kappa mu_P) / (nk + kappa)``;
- full: ``S_k ~ inverse-Wishart(nu, Psi)``, so
  ``S_k = (Psi + W_k + B_k) / (nu + nk + d + 2)``, where
  ``B_k = kappa nk / (nk + kappa) (xbar_k - mu_P)(xbar_k - mu_P)^T``;
- tied: one inverse-Wishart, so
  ``S = (Psi + sum_k (W_k + B_k)) / (nu + n + d + K + 1)``;
- diag: ``S_k,jj ~ inverse-gamma(nu / 2, psi_j / 2)``, so
  ``S_k,jj = (psi_j + W_k,jj + B_k,jj) / (nu + nk + 3)``;
- spherical: ``s_k^2 ~ inverse-gamma(nu / 2, psi / 2)``, so
  ``s_k^2 = (psi + tr W_k + tr B_k) / (nu + (nk + 1) d + 2)``;
- weights, optionally: ``pi ~ Dirichlet(alpha)``, so
  ``pi_k = (nk + alpha - 1) / (n + K (alpha - 1))``.

(Fraley and Raftery 2007, section 3 and table 2; the textbook updates, not
the variants some of mclust's Fortran M-steps use.) In terms of the additive
statistics these are the maximum-likelihood formulas applied to the
statistics plus ``kappa`` pseudo-rows at ``mu_P`` and the scatter ``Psi``,
divided by a larger count (:meth:`GaussianPrior.augment`), so the prior costs
``O(K d^2)`` per M-step and nothing in the E-step. Each covariance form
(``_forms``) holds its share of the arithmetic: ``prior_update``,
``log_prior_terms``, ``min_prior_dof``, ``default_prior_scale`` and
``prior_scale``; this module holds what is common to them.

Missing entries change nothing here: the statistics are the E-step's
expected ones, and the data-dependent hyperparameters
(:meth:`ConjugatePrior.resolve`) come from the observed entries.
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import gammaln

from emimpute._sklearn_compat import InvalidParameterError


@dataclass(frozen=True)
class ConjugatePrior:
    """A conjugate prior on the Gaussian mixture's parameters (MAP-EM).

    The normal-inverse-Wishart prior of Fraley and Raftery (2007), mclust's
    ``priorControl()``: given its covariance ``S_k``, the mean of component
    ``k`` is ``N(mean, S_k / shrinkage)``; the covariance is
    inverse-Wishart with ``dof`` degrees of freedom and scale matrix
    ``scale`` ('full', 'tied'), or each variance inverse-gamma with shape
    ``dof / 2`` and scale ``scale / 2`` ('diag', 'spherical'). Optionally the
    weights are ``Dirichlet(weight_concentration)``. Every hyperparameter
    left None takes mclust's data-dependent default (``defaultPrior``),
    computed from the observed entries of the data being fit.

    Parameters
    ----------
    shrinkage : float, default=0.01
        ``kappa``: the prior's weight on ``mean``, in rows. 0 leaves the
        means unshrunk (a flat prior on them).
    mean : array-like of shape (n_features,), default=None
        ``mu_P``; by default each feature's observed mean.
    dof : float, default=None
        ``nu``; by default ``n_features + 2``. Must exceed
        ``n_features - 1`` for 'full' and 'tied' (0 for 'diag' and
        'spherical') for the prior to be proper.
    scale : float, array-like of shape (n_features,) or \
            (n_features, n_features), default=None
        ``Psi``; by default the data's covariance divided by
        ``n_components ** (2 / n_features)``: the covariance of the observed
        entries (pairwise, each pair of features over the rows where both
        are observed; its diagonal when that is not positive definite, for
        instance with fewer rows than features) for 'full' and 'tied', the
        mean of the features' observed variances for 'diag' and 'spherical'.
        A number is a multiple of the identity (of the variance for 'diag'
        and 'spherical'); a vector, per-feature variances; a matrix must be
        symmetric positive definite ('diag' takes its diagonal, 'spherical'
        the mean of its diagonal). In :class:`EMImputer`, which fits the
        standardised features, a given scale is converted to their units:
        for 'spherical' a number stays one variance for every feature
        (over their mean variance), while a vector or matrix becomes the
        mean of its standardised diagonal, so ``4.0`` and ``[4, 4, 4]``
        differ there unless the features have equal variances.
    weight_concentration : float, default=1.0
        ``alpha`` of a symmetric Dirichlet prior on the weights; 1 is flat
        (no prior on the weights, as mclust), larger values pull the
        weights towards equal ones. At least 1, so that the MAP weights
        exist.

    Notes
    -----
    In :class:`EMImputer`, which fits standardised data, hyperparameters are
    stated in the units of the data as the user sees them and converted:
    ``mean`` standardised, ``scale`` divided by the product of the
    features' standard deviations (for 'spherical', a number is divided by
    the mean of the features' variances). With ``feature_transforms``, the
    units are those of the transformed features, as for ``means_`` (a
    'log' feature's ``mean`` is a log; a variance cannot be carried through
    a nonlinear transformation). Per-feature entries are one per numeric
    feature of the input, those of features skipped as empty at fit
    included (they are dropped with the feature), or one per feature kept.

    A prior is an immutable value (frozen, compared by its fields), not an
    estimator: it has no ``set_params``, so a grid search over its settings
    lists whole priors, ``{"prior": [ConjugatePrior(shrinkage=s) for s in
    (0.01, 0.1, 1.0)]}``, rather than ``prior__shrinkage``.

    References
    ----------
    Fraley and Raftery (2007), Bayesian regularization for normal mixture
    estimation and model-based clustering. Journal of Classification 24.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute import ConjugatePrior, EMMixture
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(20, 3))
    >>> X[rng.rand(20, 3) < 0.2] = np.nan
    >>> mixture = EMMixture(prior=ConjugatePrior(shrinkage=0.1), random_state=0)
    >>> mixture.fit(X).converged_
    True
    """

    shrinkage: float = 0.01
    mean: object = None
    dof: float | None = None
    scale: object = None
    weight_concentration: float = 1.0

    # The dataclass's own equality and hash compare the fields as they are,
    # which fails for array fields ("truth value of an array is ambiguous",
    # "unhashable type"): fields compare by value, arrays as arrays.
    def _key(self):
        return tuple(
            None if value is None else np.asarray(value)
            for value in (
                self.shrinkage,
                self.mean,
                self.dof,
                self.scale,
                self.weight_concentration,
            )
        )

    def __eq__(self, other):
        if not isinstance(other, ConjugatePrior):
            return NotImplemented
        return all(
            (a is None and b is None)
            or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in zip(self._key(), other._key(), strict=True)
        )

    def __hash__(self):
        return hash(
            tuple(
                None if value is None else (value.shape, tuple(value.ravel().tolist()))
                for value in self._key()
            )
        )

    def restricted(self, kept, n_features):
        """This prior on the features ``kept`` of ``n_features``.

        Per-feature ``mean`` and ``scale`` entries given for all
        ``n_features`` (a vector's entries, a matrix's rows and columns) are
        taken at ``kept``; numbers, and arrays of any other shape (one per
        kept feature, or wrong: :meth:`resolve` says so), are unchanged.
        An imputer skips features empty at fit this way, as it does their
        ``min_value`` and ``max_value``.

        Examples
        --------
        >>> from emimpute import ConjugatePrior
        >>> prior = ConjugatePrior(mean=[0.0, 5.0, 1.0], scale=2.0)
        >>> prior.restricted([0, 2], 3)
        ConjugatePrior(shrinkage=0.01, mean=array([0., 1.]), dof=None, \
scale=2.0, weight_concentration=1.0)
        """
        kept = np.asarray(kept, dtype=np.intp)
        if len(kept) == n_features:
            return self
        changes = {}
        for name in ("mean", "scale"):
            value = getattr(self, name)
            shape = np.shape(value) if value is not None else None
            if shape == (n_features,):
                changes[name] = np.asarray(value)[kept]
            elif name == "scale" and shape == (n_features, n_features):
                changes[name] = np.asarray(value)[np.ix_(kept, kept)]
        return replace(self, **changes) if changes else self

    def resolve(self, data, n_components, form, scaling=None):
        """The hyperparameters for a fit: defaults filled in, all validated.

        Parameters
        ----------
        data : EMData
            The data being fit (standardised when ``scaling`` is given).
        n_components : int
        form : DenseForm or DiagonalForm
        scaling : Scaling, default=None
            The standardisation of ``data``: user-given ``mean`` and
            ``scale`` are in the data's units and are converted.

        Returns
        -------
        gaussian : GaussianPrior or None
            None without numeric columns.
        weight_concentration : float

        Raises
        ------
        ValueError
            Naming the hyperparameter that is invalid.
        """
        alpha = _real(self.weight_concentration, "weight_concentration")
        if alpha < 1.0:
            raise InvalidParameterError(
                "prior.weight_concentration must be >= 1 (1 is a flat prior on "
                f"the weights), got {alpha!r}."
            )
        n_features = data.n_numeric
        shrinkage = _real(self.shrinkage, "shrinkage")
        if shrinkage < 0.0:
            raise InvalidParameterError(
                f"prior.shrinkage must be >= 0 (0: no prior on the means), got "
                f"{shrinkage!r}."
            )
        if n_features == 0:
            # Nothing for the Gaussian part to act on: its settings are
            # still checked, not silently dropped.
            if self.dof is not None and not _real(self.dof, "dof") > 0.0:
                raise InvalidParameterError(f"prior.dof must be > 0, got {self.dof!r}.")
            given = [n for n in ("mean", "scale") if getattr(self, n) is not None]
            if given:
                raise InvalidParameterError(
                    f"prior.{given[0]} is given, but the data have no numeric "
                    "feature for it to describe; leave it None."
                )
            return None, alpha
        mean = self._mean(data, scaling)
        dof = float(n_features + 2) if self.dof is None else _real(self.dof, "dof")
        lowest = form.min_prior_dof(n_features)
        if not dof > lowest:
            raise InvalidParameterError(
                f"prior.dof must be > {lowest:g} (n_features - 1 for a proper "
                f"inverse-Wishart prior on {n_features} features; > 0 for "
                f"'diag' and 'spherical'), got {dof!r}."
            )
        scale = self._scale(data, n_components, form, scaling)
        return GaussianPrior(shrinkage, mean, dof, scale), alpha

    def _mean(self, data, scaling):
        n_features = data.n_numeric
        if self.mean is None:
            return observed_moments(data)[0]
        mean = _real_array(self.mean, "mean")
        if mean.shape != (n_features,):
            raise InvalidParameterError(
                f"prior.mean must be a finite array of shape ({n_features},) "
                f"(one value per numeric feature), got shape {mean.shape}."
            )
        if not np.all(np.isfinite(mean)):
            raise InvalidParameterError(
                f"prior.mean must be finite, got {mean.tolist()}."
            )
        if scaling is not None:
            mean = (mean - scaling.centre) / scaling.scale
        return mean

    def _scale(self, data, n_components, form, scaling):
        n_features = data.n_numeric
        if self.scale is None:
            factor = (1.0 / n_components) ** (2.0 / n_features)
            return form.default_prior_scale(observed_moments(data)[1], factor)
        scale = _real_array(self.scale, "scale")
        if not np.all(np.isfinite(scale)):
            raise InvalidParameterError("prior.scale must be finite.")
        number = scale.ndim == 0
        if number:
            scale = np.full(n_features, float(scale))
        if scale.shape == (n_features,):
            if np.any(scale <= 0.0):
                raise InvalidParameterError(
                    "prior.scale must be positive (a variance per feature), got "
                    f"{scale.tolist()}."
                )
            matrix = np.diag(scale)
        elif scale.shape == (n_features, n_features):
            if not np.allclose(scale, scale.T) or np.linalg.eigvalsh(scale)[0] <= 0:
                raise InvalidParameterError(
                    "prior.scale must be a symmetric positive-definite matrix."
                )
            matrix = scale
        else:
            raise InvalidParameterError(
                f"prior.scale must be a number, an array of shape ({n_features},) "
                f"or ({n_features}, {n_features}), got shape {scale.shape}."
            )
        variance = None
        if scaling is not None:
            matrix = matrix / np.outer(scaling.scale, scaling.scale)
            if number:
                # A number in the data's units: one variance for every
                # feature, relative to the features' mean variance (the
                # spherical form's scale; the others' come from the matrix).
                variance = float(self.scale) / np.mean(scaling.scale**2)
        return form.prior_scale(matrix, variance)


def _real(value, name):
    if isinstance(value, bool):
        raise InvalidParameterError(
            f"prior.{name} must be a real number, got {value!r}."
        )
    try:
        value = float(value)
    except (TypeError, ValueError):
        # InvalidParameterError (a TypeError and a ValueError): the user's
        # setting to fix, which a selector's grid re-raises instead of
        # recording the cell as a fit the data could not support.
        raise InvalidParameterError(
            f"prior.{name} must be a real number, got {value!r}."
        ) from None
    if not np.isfinite(value):
        raise InvalidParameterError(f"prior.{name} must be finite, got {value!r}.")
    return value


def _real_array(value, name):
    """``prior.<name>`` as a float array; an InvalidParameterError naming it."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"prior.{name} must be a number or an array of real numbers of "
            f"one shape, got {value!r}."
        ) from None


# Rows per block of observed_moments' passes over the data.
MOMENT_BLOCK_ROWS = 8192


def observed_moments(data):
    """Each numeric feature's observed mean, and their covariance.

    The covariance of each pair of features is taken over the rows where
    both are observed (``n - 1`` denominator, as R's ``var``, or ``n`` when
    the rows' weights add up to at most 1); when that
    matrix is not positive definite (fewer rows than features, or holes that
    make the pairwise estimates inconsistent) its diagonal is returned
    instead. Sample weights count as repeated rows. Cost ``O(n d^2)`` in
    two passes over blocks of rows; memory ``O(d^2)`` beyond a block's.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    covariance : ndarray of shape (n_features, n_features)
    """
    weights = data.row_weights(slice(None))
    n_features = data.n_numeric

    def blocks():
        # Row blocks bound the temporaries to MOMENT_BLOCK_ROWS x d each.
        for start in range(0, data.n_samples, MOMENT_BLOCK_ROWS):
            rows = slice(start, start + MOMENT_BLOCK_ROWS)
            mask = data.mask[rows]
            observed = (~mask).astype(float)
            values = np.where(mask, 0.0, data.numeric[rows])
            # Sample weights count a row as that many copies of it (the
            # moments of the repeated rows), so they weigh one side of
            # every product.
            row_weights = 1.0 if weights is None else weights[rows]
            yield mask, observed, values, row_weights

    counts, sums = np.zeros(n_features), np.zeros(n_features)
    for _, observed, values, row_weights in blocks():
        counts += (observed * row_weights).sum(axis=0)
        sums += (values * row_weights).sum(axis=0)
    # Divided where observed at all: weights of a fraction of a row each
    # (summing to 1, say) are no reason to divide by 1 instead.
    mean = np.divide(sums, counts, out=np.zeros(n_features), where=counts > 0.0)
    pair_counts = np.zeros((n_features, n_features))
    pair_sums = np.zeros((n_features, n_features))
    cross = np.zeros((n_features, n_features))
    for mask, observed, values, row_weights in blocks():
        centred = np.where(mask, 0.0, values - mean)
        weighted_centred = centred * row_weights
        pair_counts += (observed * row_weights).T @ observed
        pair_sums += weighted_centred.T @ observed
        cross += weighted_centred.T @ centred
    # R's n - 1 where the weights add up to more than one row; below that
    # (weights of a fraction of a row each), where it is not defined, the
    # weighted mean square (n), rather than no estimate at all.
    denominator = np.where(pair_counts > 1.0, pair_counts - 1.0, pair_counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = (cross - pair_sums * pair_sums.T / pair_counts) / denominator
    covariance[~(pair_counts > 0.0)] = 0.0
    covariance = 0.5 * (covariance + covariance.T)
    variances = np.diagonal(covariance).copy()
    # A feature observed once, or constant, still needs a positive scale.
    positive = variances[variances > 0.0]
    floor = positive.min() if len(positive) else 1.0
    variances[~(variances > 0.0)] = floor
    np.fill_diagonal(covariance, variances)
    eigenvalues = np.linalg.eigvalsh(covariance)
    if eigenvalues[0] <= 1e-10 * eigenvalues[-1]:
        covariance = np.diag(variances)
    return mean, covariance


@dataclass(frozen=True)
class GaussianPrior:
    """Resolved hyperparameters of the Gaussian family's conjugate prior.

    Attributes
    ----------
    shrinkage : float
        ``kappa``.
    mean : ndarray of shape (n_features,)
        ``mu_P``.
    dof : float
        ``nu``.
    scale : ndarray
        ``Psi``: a matrix ``(d, d)`` for 'full' and 'tied', per-feature
        inverse-gamma scales ``(d,)`` for 'diag' (all equal for 'spherical',
        whose prior scale is their mean).
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray

    def augment(self, stats, form):
        """The statistics plus the prior's pseudo-rows, and the divisor.

        ``kappa`` rows at ``mu_P`` and the scatter ``Psi`` added to the
        statistics (see the module docstring): the maximum-likelihood mean
        of the result is the MAP mean, and its scatter divided by the
        returned ``divisor`` (instead of the count) the MAP covariance.

        Returns
        -------
        nk, s1, s2 : ndarray
            Augmented statistics, in the layout of ``stats``.
        divisor : ndarray of shape (n_components,) or float
        """
        kappa = self.shrinkage
        offset = self.mean - stats.shift
        s1 = stats.s1 + kappa * offset
        s2, divisor = form.prior_update(self, stats.s2, stats.nk, offset)
        return stats.nk + kappa, s1, s2, divisor

    def log_density(self, family):
        """``log p(means, covariances)`` of a Gaussian family under the prior.

        With ``shrinkage = 0`` the prior on the means is the improper
        ``|S_k|^(-1/2)`` (its normalising constant left out).
        """
        kappa = self.shrinkage
        n_features = family.n_features
        deviations = family.means - self.mean
        # The form's terms: the quadratic forms of the deviations, the
        # covariances' log-density, the log-determinants.
        quadratic, log_covariance_prior, mean_log_det = family.form.log_prior_terms(
            self, deviations, family.covariances, family.precisions_cholesky
        )
        log_mean_prior = -0.5 * mean_log_det
        if kappa > 0.0:
            log_mean_prior = log_mean_prior + (
                0.5 * n_features * np.log(kappa / (2.0 * np.pi))
                - 0.5 * kappa * quadratic
            )
        return float(log_covariance_prior + log_mean_prior.sum())


def log_dirichlet(weights, alpha):
    """``log Dirichlet(weights; alpha, ..., alpha)``."""
    n_components = len(weights)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    tail = 0.0 if alpha == 1.0 else (alpha - 1.0) * log_weights.sum()
    return float(gammaln(n_components * alpha) - n_components * gammaln(alpha) + tail)
