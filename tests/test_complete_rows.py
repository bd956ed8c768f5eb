"""Statistics of complete rows: only the responsibilities that weigh enter.

``add_complete_rows`` leaves a row out of component ``k``'s first and second
moments where its responsibility is below ``NEGLIGIBLE_WEIGHT`` times the
component's mean over the block (or ``NEGLIGIBLE_WEIGHT^2`` times the row's
own weight), the rule the fused kernels apply to rows with holes. Checked
against the sums over every row, written out here.
"""

import numpy as np
import pytest

from emimpute._em._forms import covariance_form
from emimpute._em._stats import (
    NEGLIGIBLE_WEIGHT,
    SufficientStats,
    add_complete_rows,
    negligible_floors,
    weighing_rows,
)


def _all_rows(x, resp, centres, diagonal):
    """``s1, s2`` with every row's terms, component by component."""
    s1 = np.einsum("ik,kid->kd", resp, x[np.newaxis] - centres[:, np.newaxis])
    deviations = x[np.newaxis] - centres[:, np.newaxis]
    if diagonal:
        s2 = np.einsum("ik,kid->kd", resp, deviations**2)
    else:
        s2 = np.einsum("ik,kid,kie->kde", resp, deviations, deviations)
    return s1, s2


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_complete_rows_leave_out_only_negligible_weights(
    covariance_type, global_random_seed
):
    # 300 rows, 4 features, 3 components: responsibilities of a well
    # separated mixture (most rows one component), with subnormal ones
    # (1e-310), ones just below a component's floor, and exact zeros mixed
    # in. The terms left out weigh at most NEGLIGIBLE_WEIGHT (2.2e-16) times
    # their component's total weight, times max |x - centre|^2 / the
    # weighted mean of it (below 50 here): a relative change below 1.1e-14
    # of each sum, under the 1e-13 of the test (the sums' own rounding over
    # 300 rows is a few 1e-15).
    rng = np.random.default_rng(global_random_seed)
    n_rows, n_features, n_components = 300, 4, 3
    x = rng.standard_normal((n_rows, n_features))
    centres = rng.standard_normal((n_components, n_features)) * 0.3
    resp = rng.dirichlet(np.full(n_components, 0.05), size=n_rows)
    choice = rng.integers(0, 5, size=n_rows)
    resp[choice == 0, 0] = 1e-310
    resp[choice == 1, 1] = 1e-17
    resp[choice == 2, 2] = 0.0
    form = covariance_form(covariance_type)
    stats = SufficientStats.zeros(n_components, n_features, form, shift=0.0)
    add_complete_rows(stats.arrays, x, resp, centres, shared=form.shared)

    diagonal = stats.s2.ndim == 2
    s1, s2 = _all_rows(x, resp, centres, diagonal)
    np.testing.assert_allclose(stats.nk, resp.sum(axis=0), rtol=1e-15)
    for k in range(n_components):
        scale1 = np.abs(resp[:, k, np.newaxis] * (x - centres[k])).sum(axis=0)
        np.testing.assert_array_less(np.abs(stats.s1[k] - s1[k]), 1e-13 * scale1)
        np.testing.assert_allclose(stats.s2[k], s2[k], rtol=1e-13, atol=0)
    if not diagonal:
        # The scatter is one product of a matrix with itself: symmetric, bit
        # for bit.
        assert np.array_equal(stats.s2, np.swapaxes(stats.s2, 1, 2))


def test_weighing_rows_is_the_fused_kernels_rule():
    # The compiled rank (rows with holes) and the numpy mask (complete rows)
    # keep the same rows, including the row-weight bound.
    from emimpute._em._fused_weighing import _rank_weighing_rows

    resp = np.array(
        [
            [1.0, 0.0, 1e-40],
            [0.5, 0.5, 0.0],
            [1e-20, 1.0, 1e-310],
            [1e-3, 1e-33, 1.0 - 1e-3],
            [0.0, 0.0, 0.0],
        ]
    )
    floors = np.array([1e-18, 1e-18, 1e-50])
    ranks = np.empty(resp.shape, np.intp)
    _rank_weighing_rows(resp, floors, ranks)
    assert np.array_equal(weighing_rows(resp, floors), ranks >= 0)
    # A subnormal responsibility is below any floor of a block whose
    # component weighs more than 1e-290 per row.
    assert 1e-310 < NEGLIGIBLE_WEIGHT * 1e-290


def test_negligible_floors_per_matrix():
    nk = np.array([3.0, 1.0])
    assert np.array_equal(negligible_floors(nk, 2, 4), NEGLIGIBLE_WEIGHT * nk / 4)
    # One matrix for both components (tied) weighs every row's total.
    assert np.array_equal(negligible_floors(nk, 1, 4), [NEGLIGIBLE_WEIGHT])
