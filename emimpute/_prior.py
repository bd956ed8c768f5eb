"""ConjugatePrior: the public conjugate prior, validated into the engine's.

One job: hold the user's hyperparameters (mclust's ``priorControl()``),
check them with errors that name the setting, and resolve them for a fit
(defaults from the observed data, the data's units converted to a
standardised fit's) into the engine's ``GaussianPrior``
(``emimpute._em._conjugate``), whose arithmetic (MAP M-step, log-prior)
lives in the engine. It sits outside the engine because it speaks to
users (scikit-learn's ``InvalidParameterError``, examples with the
estimators); the engine only calls its ``resolve``.
"""

from dataclasses import dataclass, replace

import numpy as np

from emimpute._em._conjugate import GaussianPrior, observed_moments
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
