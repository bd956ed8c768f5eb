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
            covariances=covariances_from_cholesky(
                precisions_cholesky, covariance_type
            ),
            precisions_cholesky=precisions_cholesky,
            covariance_type=covariance_type,
        )

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]
