"""The features k-means clusters to start EM on a mixed table.

Against the definition written column by column: the numeric columns
mean-filled and standardised, then each categorical column's one-hot
indicators, a missing cell given the column's observed (weighted)
frequencies. Without weights the same operations give the same bits;
with weights the frequencies are summed in another order (a bincount
against a weighted average), so within a few eps of 1.
"""

import numpy as np
import pytest

from emimpute._em._data import EMData
from emimpute._em._init_features import _kmeans_features, mean_filled


def _reference(data, rows):
    numeric, mask, codes = data.numeric, data.mask, data.codes
    weights = data.sample_weight
    if rows is not None:
        numeric, mask, codes = numeric[rows], mask[rows], codes[rows]
        weights = None if weights is None else weights[rows]
    filled = mean_filled(numeric, mask, weights)
    if weights is None:
        centre, spread = filled.mean(axis=0), filled.std(axis=0)
    else:
        centre = weights @ filled / weights.sum()
        spread = np.sqrt(weights @ (filled - centre) ** 2 / weights.sum())
    blocks = [(filled - centre) / np.where(spread > 0, spread, 1.0)]
    for j, n_categories in enumerate(data.n_categories):
        one_hot = (codes[:, j, np.newaxis] == np.arange(n_categories)).astype(float)
        observed = codes[:, j] >= 0
        frequencies = 0.0
        if observed.any():
            frequencies = np.average(
                one_hot[observed],
                axis=0,
                weights=None if weights is None else weights[observed],
            )
        blocks.append(np.where(observed[:, np.newaxis], one_hot, frequencies))
    return np.hstack(blocks)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("subset", [False, True])
def test_mixed_start_features_match_their_definition(weighted, subset):
    rng = np.random.default_rng(4)
    n_samples = 300
    X = rng.standard_normal((n_samples, 3)) * [1.0, 10.0, 0.0] + [0.0, 5.0, 2.0]
    X[rng.random(X.shape) < 0.2] = np.nan
    n_categories = (3, 4, 2, 5)
    codes = np.column_stack([rng.integers(0, k, n_samples) for k in n_categories])
    codes[rng.random(codes.shape) < 0.25] = -1
    codes[:, 2] = rng.integers(0, 2, n_samples)  # a column never missing
    codes[:, 3] = -1  # a column never observed: frequencies 0
    weights = rng.random(n_samples) + 0.5 if weighted else None
    data = EMData.build(X, None, codes, n_categories, sample_weight=weights)
    rows = np.arange(1, n_samples, 2) if subset else None
    features, numeric, private = _kmeans_features(data, rows)
    expected = _reference(data, rows)
    assert private and features.shape == expected.shape
    if weighted:
        np.testing.assert_allclose(features, expected, rtol=0, atol=4e-16)
    else:
        np.testing.assert_array_equal(features, expected)
    # The indicators of an observed cell are exact 0s and 1s.
    assert np.isin(
        features[codes[rows if subset else slice(None), 0] >= 0, 3:6], [0, 1]
    ).all()
