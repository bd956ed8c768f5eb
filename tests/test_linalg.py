"""The batched inverse of small SPD matrices against LAPACK, matrix by matrix.

Both routes of :func:`inverse_and_log_det` (entry-wise Cholesky for large
stacks, LAPACK for small ones) are compared with ``numpy.linalg.inv`` and
``slogdet`` on each matrix. Tolerance: the matrices have condition numbers
below ~1e3, so backward-stable inverses agree to a few ``eps * cond``,
about 1e-13 relative to the inverse's norm; log-determinants of size ~r
agree to ~1e-14 absolute. 1e-11 allows for the dimension and nothing more.
"""

import numpy as np
import pytest

from emimpute._em import _linalg
from emimpute._em._linalg import inverse_and_log_det


def _spd_stack(rng, r, batch):
    factors = rng.standard_normal((*batch, r, r + 3))
    stack = factors @ np.swapaxes(factors, -1, -2) + 0.1 * np.eye(r)
    return np.moveaxis(stack, (-2, -1), (0, 1))


def _assert_matches_lapack(blocks):
    inverse, log_det = inverse_and_log_det(blocks)
    stack = np.moveaxis(blocks, (0, 1), (-2, -1))
    expected = np.moveaxis(np.linalg.inv(stack), (-2, -1), (0, 1))
    sign, expected_log_det = np.linalg.slogdet(stack)
    assert np.all(sign == 1.0)
    assert inverse.shape == blocks.shape and log_det.shape == blocks.shape[2:]
    scale = np.abs(expected).max(axis=(0, 1))
    np.testing.assert_array_less(
        np.abs(inverse - expected).max(axis=(0, 1)), 1e-11 * scale
    )
    np.testing.assert_allclose(log_det, expected_log_det, rtol=0, atol=1e-11)
    np.testing.assert_array_equal(inverse, np.swapaxes(inverse, 0, 1))


@pytest.mark.parametrize("r", [1, 2, 3, 4, 7, 12, 17, 24])
@pytest.mark.parametrize("batch", [(1,), (3, 2), (2, 400)])
def test_inverse_and_log_det_match_lapack(r, batch, global_random_seed):
    # (1,) and (3, 2) go through LAPACK, (2, 400) entry-wise for r <= 10
    # (the stack must hold 8 r^2 matrices).
    rng = np.random.default_rng(global_random_seed)
    _assert_matches_lapack(_spd_stack(rng, r, batch))


@pytest.mark.parametrize("r", [2, 5, 24])
def test_both_routes_agree(r, global_random_seed, monkeypatch):
    rng = np.random.default_rng(global_random_seed)
    blocks = _spd_stack(rng, r, (5, 8))
    routes = []
    for threshold in (0, 10**9):  # always entry-wise, always LAPACK
        monkeypatch.setattr(_linalg, "_ENTRYWISE_MIN_STACK_PER_ENTRY", threshold)
        _assert_matches_lapack(blocks)
        routes.append(inverse_and_log_det(blocks))
    np.testing.assert_allclose(routes[0][0], routes[1][0], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(routes[0][1], routes[1][1], rtol=0, atol=1e-11)


def test_empty_matrices_have_unit_determinant():
    # r = 0: a row with nothing observed on the covariance route.
    inverse, log_det = inverse_and_log_det(np.empty((0, 0, 3, 4)))
    assert inverse.shape == (0, 0, 3, 4)
    np.testing.assert_array_equal(log_det, np.zeros((3, 4)))


@pytest.mark.parametrize("threshold", [0, 10**9])
@pytest.mark.parametrize("bad", [-1.0, 0.0, np.nan])
def test_not_positive_definite_raises(threshold, bad, monkeypatch):
    monkeypatch.setattr(_linalg, "_ENTRYWISE_MIN_STACK_PER_ENTRY", threshold)
    blocks = np.stack([np.eye(3)] * 4, axis=-1)
    blocks[1, 1, 2] = bad
    with pytest.raises(np.linalg.LinAlgError):
        inverse_and_log_det(blocks)
    # A rank-deficient matrix (two equal rows) too.
    blocks = np.stack([np.ones((3, 3))] * 4, axis=-1)
    with pytest.raises(np.linalg.LinAlgError):
        inverse_and_log_det(blocks)
