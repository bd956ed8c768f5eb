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

    def replaced(self, old, new):
        """These parameters with the family ``old`` (one of ``families``,
        by identity) replaced by ``new``."""
        families = tuple(new if f is old else f for f in self.families)
        return replace(self, families=families)

    def replace_gaussian(self, **changes):
        """These parameters with some of the Gaussian family's replaced
        (unchanged without one)."""
        gaussian = self.gaussian
        if gaussian is None:
            return self
        return self.replaced(gaussian, replace(gaussian, **changes))

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

    def estimates(self):
        """The arrays EM estimates: the weights, then each family's
        (``family.estimates()``), in the units the M-step produces them."""
        return (self.weights, *(a for f in self.families for a in f.estimates()))

    def marginal_moments(self):
        """The moments of the mixture's distribution of a row, each
        family's (``family.marginal_moments(weights)``): the numeric
        features' mean and covariance (the parts the covariance form's
        M-step keeps), each categorical feature's probabilities."""
        return tuple(m for f in self.families for m in f.marginal_moments(self.weights))

    def n_parameters(self):
        """Free parameters, for BIC and AIC: weights and every family's."""
        return int(self.n_components - 1 + sum(f.n_parameters() for f in self.families))


def largest_change(moments, previous):
    """The largest absolute change of a marginal moment from ``previous`` to
    ``moments`` (two :meth:`MixtureParams.marginal_moments` of the same
    layout), in the units of the data fit (standardised ones in a
    standardised fit): the step the stopping rule on moments reads.

    On complete data an M-step keeps these moments (the data's own, plus
    ``reg_covar``), however slowly the components separate: they move only
    as the fills of the missing entries do, which is what makes EM slow
    where few rows observe a feature. Not quite with a conjugate prior (its
    pull on the means, its pseudo-counts) or ``category_smoothing`` (its
    pseudo-counts): these move them as the components' counts change (up to
    8e-3 and 1e-4 an iteration were measured), which the rule then waits
    out. Cost ``O(K d^2)`` with dense covariances (the moments'), as an
    M-step's.
    """
    pairs = zip(moments, previous, strict=True)
    steps = (np.max(np.abs(a - b), initial=0.0) for a, b in pairs)
    return float(max(steps, default=0.0))
