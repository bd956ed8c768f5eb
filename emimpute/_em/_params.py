"""The parameters of a Gaussian mixture, as one immutable value."""

from dataclasses import dataclass

import numpy as np

from emimpute._em._covariance import (
    covariances_from_cholesky,
    precision_cholesky_from_covariances,
)


@dataclass(frozen=True)
class MixtureParams:
    """Weights, means and covariances of a Gaussian mixture.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape depends on ``covariance_type`` (see ``_covariance``).
    precisions_cholesky : ndarray
        Same shape as ``covariances``; ``U @ U.T == inv(covariance)``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str

    @classmethod
    def from_covariances(cls, weights, means, covariances, covariance_type):
        """Build the parameters and factor the covariances."""
        return cls(
            weights=weights,
            means=means,
            covariances=covariances,
            precisions_cholesky=precision_cholesky_from_covariances(
                covariances, covariance_type
            ),
            covariance_type=covariance_type,
        )

    @classmethod
    def from_precisions_cholesky(
        cls, weights, means, precisions_cholesky, covariance_type
    ):
        """Build the parameters from precision Cholesky factors."""
        return cls(
            weights=weights,
            means=means,
            covariances=covariances_from_cholesky(precisions_cholesky, covariance_type),
            precisions_cholesky=precisions_cholesky,
            covariance_type=covariance_type,
        )

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]


def standardisation(X, mask):
    """Per-feature centre and scale of the observed entries.

    Returns the observed mean and standard deviation of each feature; a
    feature with zero spread (or one observed value) gets scale 1, so
    that standardising leaves it finite. A constant feature is centred on
    its value exactly, not on its computed mean, which may differ from it by
    rounding (0.1 sixty times sums to 6.000000000000001) and would give the
    feature a spurious spread of an ulp.
    """
    observed = ~mask
    counts = observed.sum(axis=0)
    values = np.where(observed, X, 0.0)
    centre = values.sum(axis=0) / np.maximum(counts, 1)
    lowest = np.where(observed, X, np.inf).min(axis=0)
    constant = lowest == np.where(observed, X, -np.inf).max(axis=0)
    centre[constant] = lowest[constant]
    deviations = np.where(observed, X - centre, 0.0)
    # Divided by the largest deviation before squaring, so that features in
    # units of 1e-200 or 1e200 neither underflow nor overflow.
    largest = np.abs(deviations).max(axis=0)
    unit = np.where(largest > 0.0, largest, 1.0)
    relative = deviations / unit
    scale = unit * np.sqrt((relative**2).sum(axis=0) / np.maximum(counts, 1))
    scale[~(scale > 0.0)] = 1.0
    return centre, scale


def in_data_units(params, centre, scale):
    """Means and covariances of a model fit to ``(X - centre) / scale``.

    The Gaussian family is closed under per-feature affine maps, so the model
    in the data's units has means ``mu * scale + centre`` and covariances
    ``S * outer(scale, scale)``. A spherical covariance stops being
    spherical under unequal scales: it is returned as per-feature variances,
    shape ``(n_components, n_features)``, like 'diag'.

    Returns
    -------
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
    """
    means = params.means * scale + centre
    covariances = params.covariances
    if params.covariance_type in ("full", "tied"):
        covariances = covariances * np.outer(scale, scale)
    elif params.covariance_type == "diag":
        covariances = covariances * scale**2
    else:
        covariances = covariances[:, np.newaxis] * scale**2
    return means, covariances
