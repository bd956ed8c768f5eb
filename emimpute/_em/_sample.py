"""Draws from a fitted mixture."""

import numpy as np


def sample_mixture(params, n_samples, random_state):
    """Draw ``n_samples`` rows from the mixture.

    Component counts are one multinomial draw, so exactly ``n_samples`` rows
    come back, grouped by component as in scikit-learn; each family then
    draws its columns given the component.

    Returns
    -------
    draws : tuple
        One array per family, in its order: ``(n_samples, n_numeric)``
        floats for the Gaussian family, ``(n_samples, n_categorical)``
        category codes for the categorical one.
    labels : ndarray of shape (n_samples,)
    """
    weights = params.weights / params.weights.sum()
    counts = random_state.multinomial(n_samples, weights)
    labels = np.repeat(np.arange(params.n_components), counts)
    draws = tuple(family.sample(labels, random_state) for family in params.families)
    return draws, labels
