"""The parameters of a mixture, as one immutable value."""

from dataclasses import dataclass, replace

import numpy as np

from emimpute._em._categorical import CategoricalFamily
from emimpute._em._forms import covariance_form
from emimpute._em._gaussian import GaussianFamily
from emimpute._em._labels import LabelFamily


@dataclass(frozen=True)
class MixtureParams:
    """Component weights and one parameter set per family.

    A component's density is the product of its families' densities over
    their disjoint column sets: the Gaussian family over the numeric
    columns and the categorical family over the categorical ones.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    families : tuple
        A :class:`GaussianFamily` (when there are numeric columns), then a
        :class:`CategoricalFamily` (when there are categorical ones), then a
        :class:`LabelFamily` (when the components belong to classes).
    """

    weights: np.ndarray
    families: tuple

    @classmethod
    def from_covariances(cls, weights, means, covariances, covariance_type):
        """A Gaussian mixture (numeric columns only), its covariances factored."""
        family = GaussianFamily.from_covariances(
            covariance_form(covariance_type), means, covariances
        )
        return cls(weights=weights, families=(family,))

    @property
    def n_components(self):
        return len(self.weights)

    @property
    def gaussian(self):
        """The Gaussian family, or None without numeric columns."""
        return self._family(GaussianFamily)

    @property
    def categorical(self):
        """The categorical family, or None without categorical columns."""
        return self._family(CategoricalFamily)

    @property
    def labels(self):
        """The label family, or None when the components have no classes."""
        return self._family(LabelFamily)

    def _family(self, kind):
        for family in self.families:
            if isinstance(family, kind):
                return family
        return None

    def replace_gaussian(self, **changes):
        """These parameters with some of the Gaussian family's replaced."""
        families = tuple(
            replace(f, **changes) if isinstance(f, GaussianFamily) else f
            for f in self.families
        )
        return replace(self, families=families)

    # The Gaussian family's parameters, for the many places (and tests) that
    # work with Gaussian mixtures.
    @property
    def means(self):
        return self.gaussian.means

    @property
    def covariances(self):
        return self.gaussian.covariances

    @property
    def precisions_cholesky(self):
        return self.gaussian.precisions_cholesky

    @property
    def covariance_type(self):
        return self.gaussian.form.name

    @property
    def n_features(self):
        return self.gaussian.n_features

    def n_parameters(self):
        """Free parameters, for BIC and AIC: weights and every family's."""
        return int(self.n_components - 1 + sum(f.n_parameters() for f in self.families))
