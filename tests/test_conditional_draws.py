"""Imputation by both engines: conditional means, standard deviations, draws.

Every covariance type, every route of the dense kernel, chunk sizes that
split patterns, rows with 0 to d missing entries (``test_fused._case``);
each completed entry is compared with the per-row reference of
``_reference``: the mean ``sum_k r_k m_k``, the standard deviation by the
law of total variance, and a draw ``m_k + L z`` with ``L`` the Cholesky
factor of the row's conditional covariance under its given component and
``z`` the block's standard normals. 1e-12 for the reasons in
``test_fused``'s docstring (condition numbers at most 4, O(1) to O(10)
values).
"""

import numpy as np
import pytest
from _reference import COVARIANCE_TYPES, assert_close
from test_fused import ENGINES, ROUTES, TOL, _case, _kernel

from emimpute._em._blocks import iter_blocks
from emimpute._em._conditional_draws import cholesky_noise, packed_cholesky_noise
from emimpute._em._data import EMData
from emimpute._em._impute import Completion


def _imputations(X, mask, params, reference, route, engine, chunk_size):
    """Means, standard deviations and draws of every block, through ``impute``."""
    data = EMData.build(X, mask)
    kernel = _kernel(data, params, route, engine)
    n_components = params.n_components
    means = Completion(X.copy(), None, std=np.zeros(X.shape))
    draws = Completion(X.copy(), None)
    noise = {}
    for index, block in enumerate(
        iter_blocks(data.patterns, [kernel], chunk_size=chunk_size)
    ):
        evaluation = kernel.evaluate(block, moments=True)
        resp = reference.resp[block.rows]
        kernel.impute(block, resp, evaluation, means)
        component = block.rows % n_components
        kernel.impute(
            block,
            resp,
            evaluation,
            draws,
            draw=(component, np.random.RandomState(index)),
        )
        z = np.random.RandomState(index).standard_normal(
            size=(len(block.rows), block.n_missing)
        )
        noise.update(zip(block.rows, z, strict=True))
    return means, draws, noise


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_imputations_of_both_engines_match_reference(
    covariance_type, global_random_seed
):
    X, mask, params, reference = _case(covariance_type, 3, global_random_seed)
    n_components = params.n_components
    results = {}
    for route in ROUTES:
        for chunk_size in (1, 5, None):
            for engine in ENGINES:
                means, draws, noise = _imputations(
                    X, mask, params, reference, route, engine, chunk_size
                )
                what = f"{engine} {route} {chunk_size}"
                np.testing.assert_array_equal(means.numeric[~mask], X[~mask])
                np.testing.assert_array_equal(draws.numeric[~mask], X[~mask])
                for i in np.flatnonzero(mask.any(axis=1)):
                    m = np.flatnonzero(mask[i])
                    r = reference.resp[i]
                    mean = r @ reference.cond_means[i]
                    second = r @ (
                        np.diagonal(reference.cond_covs[i], axis1=1, axis2=2)
                        + reference.cond_means[i] ** 2
                    )
                    std = np.sqrt(np.maximum(second - mean**2, 0.0))
                    k = i % n_components
                    root = np.linalg.cholesky(reference.cond_covs[i][k])
                    draw = reference.cond_means[i][k] + root @ noise[i]
                    assert_close(means.numeric[i, m], mean, TOL, f"{what}: mean")
                    assert_close(means.std[i, m], std, TOL, f"{what}: std")
                    assert_close(draws.numeric[i, m], draw, TOL, f"{what}: draw")
                results[engine] = (means.numeric, means.std, draws.numeric)
            for a, b in zip(results["numba"], results["numpy"], strict=True):
                assert_close(a, b, TOL, "engines: imputations")


def _spd(rng, count, size):
    factors = rng.standard_normal((count, size, size))
    return factors @ np.swapaxes(factors, 1, 2) + size * np.eye(size)


def _pack(matrices):
    rows, columns = np.tril_indices(matrices.shape[-1])
    return matrices[..., rows, columns]


def test_packed_and_stacked_noise_are_cholesky_times_noise():
    # Runs of rows sharing an entry, the matrices interleaved within a run
    # (as components drawn row by row are): each row L z with L its own
    # matrix's factor. Well-conditioned 4 x 4 matrices: 1e-12 is rounding.
    rng = np.random.default_rng(0)
    covariances = _spd(rng, 3 * 5, 4).reshape(3, 5, 4, 4)
    entry = np.repeat([0, 0, 3, 1, 4], 6)
    matrix = rng.integers(3, size=len(entry))
    z = rng.standard_normal((len(entry), 4))
    roots = np.linalg.cholesky(covariances)
    expected = np.einsum("nij,nj->ni", roots[matrix, entry], z)
    packed = packed_cholesky_noise(_pack(covariances), entry, matrix, z)
    stacked = cholesky_noise(covariances, matrix, entry, z)
    assert_close(packed, expected, TOL, "packed")
    assert_close(stacked, expected, TOL, "stacked")


def test_singular_covariances_take_a_symmetric_square_root():
    # Collinear features make a conditional covariance singular: no
    # Cholesky factor, but a root R with R R^T = C, so that the draws still
    # have covariance C. Unit noise vectors read R's columns.
    rng = np.random.default_rng(1)
    direction = rng.standard_normal((3, 1))
    singular = direction @ direction.T
    regular = _spd(rng, 1, 3)[0]
    covariances = np.stack([singular, regular])[np.newaxis]
    for entry in (0, 1):
        entries = np.full(3, entry)
        zero = np.zeros(3, dtype=np.intp)
        for noise in (
            packed_cholesky_noise(_pack(covariances), entries, zero, np.eye(3)),
            cholesky_noise(covariances, zero, entries, np.eye(3)),
        ):
            root = noise.T
            assert np.isfinite(root).all()
            assert_close(root @ root.T, covariances[0, entry], TOL, "root")
    # Only the singular matrix's rows take that root: the regular one's
    # rows keep its Cholesky factor on both engines, as without the singular
    # one beside it (the numpy kernel had given every row the root).
    entries, zero = np.array([0, 1, 1]), np.zeros(3, dtype=np.intp)
    factor = np.linalg.cholesky(regular)
    for noise in (
        packed_cholesky_noise(_pack(covariances), entries, zero, np.eye(3)),
        cholesky_noise(covariances, zero, entries, np.eye(3)),
    ):
        assert_close(noise[1:], factor[:, 1:].T, TOL, "regular rows")
