"""The compiled kernels give the same bits at any alignment and lane.

The kernels are compiled with contraction (fused multiply-adds) but no
reassociation (``_fused._OPTIONS``): each result is one fixed sequence of
operations, so the same inputs must give exactly the same bits whether a
row's arithmetic runs in the vector body of a loop or in its scalar
remainder, whatever the arrays' alignment in memory, and in the serial or
the parallel compilation of a kernel. The comparisons are exact
(``array_equal``), not to a tolerance. Misaligned inputs are copies placed
1 to 3 elements past a 64-byte boundary (numpy's own allocations are
aligned); a row moves between the vector body and the remainder when rows
are put before it (a vector holds 4 or 8 doubles).
"""

import warnings

import numpy as np
import pytest
from _reference import (
    COVARIANCE_TYPES,
    dense_covariances,
    random_params,
    sample_mixture,
)

from emimpute import EMMixture
from emimpute._em import _fused, _fused_dense, _fused_diagonal
from emimpute._em._blocks import iter_blocks
from emimpute._em._data import EMData
from emimpute._em._estep import e_step
from emimpute._em._gaussian_block import GaussianBlock
from emimpute._em._stats import negligible_floors

pytestmark = pytest.mark.skipif(
    not _fused.numba_available(), reason="numba is not installed"
)

OFFSETS = (0, 1, 2, 3)


def _at_offset(array, offset):
    """A copy of ``array`` (C order) starting ``offset`` elements past 64 bytes."""
    array = np.asarray(array)
    itemsize = array.dtype.itemsize
    buffer = np.empty(array.size + offset + 64 // itemsize, dtype=array.dtype)
    start = (-buffer.ctypes.data % 64) // itemsize + offset
    out = buffer[start : start + array.size].reshape(array.shape)
    out[...] = array
    assert out.ctypes.data % 64 == offset * itemsize
    return out


def _mixture(covariance_type, seed, n_samples, n_features):
    rng = np.random.default_rng([seed, COVARIANCE_TYPES.index(covariance_type)])
    params = random_params(rng, 3, n_features, covariance_type)
    X, _ = sample_mixture(
        rng, n_samples, params.weights, params.means, dense_covariances(params)
    )
    return rng, params, X


def _one_block(covariance_type, seed, n_missing):
    """The compiled kernel and the one block of 150 rows of 9 entries.

    Each row has ``n_missing`` entries missing, at random places (so that
    the rows have patterns of their own).
    """
    rng, params, X = _mixture(covariance_type, seed, 150, 9)
    mask = np.argsort(rng.random(X.shape), axis=1) < n_missing
    data = EMData.build(np.where(mask, np.nan, X), mask)
    kernel = params.gaussian.kernel(data, params.weights, engine="numba")
    (block,) = iter_blocks(data.patterns, [kernel])
    block = GaussianBlock.gather(block, kernel.X, kernel.mask, kernel.shift)
    return kernel.inner, block


def _assert_same_bits(got, expected, what):
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape, what
        assert np.array_equal(a, b), f"{what}: {np.max(np.abs(a - b))}"


def _assert_same_bits_anywhere(run, kernel, befores):
    """``run(before, offset, version, tasks)`` gives the same bits throughout.

    ``before`` rows put before the block's, inputs ``offset`` elements past
    a 64-byte boundary, ``kernel``'s serial build on 1 task and its
    parallel build on 3 (whose groups of rows start elsewhere again).
    """
    expected = run(0, 0, kernel.serial, 1)
    assert np.all(np.isfinite(expected[0]))
    for before in befores:
        for offset in OFFSETS:
            for version, tasks in ((kernel.serial, 1), (kernel.parallel, 3)):
                got = run(before, offset, version, tasks)
                _assert_same_bits(got, expected, f"{before} rows before, {offset}")


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_batched_dense_rows_have_the_same_bits_in_any_lane(
    covariance_type, global_random_seed
):
    # One block of 150 rows with 4 of 9 entries missing at random places:
    # the batched kernel's case. Each row's log-densities, conditional
    # means and covariances are computed again with 1, 3 and _LANES - 1
    # rows put before it (other lanes, another position in or past the
    # vector body), from inputs at every offset, by the serial and the
    # parallel compilation (3 row tasks: groups start elsewhere again).
    inner, block = _one_block(covariance_type, global_random_seed, 4)
    assert isinstance(inner, _fused_dense.FusedDenseKernel)
    x, missing = block.centred, block.missing
    # The products once (BLAS), so that only the compiled kernel's
    # arithmetic is compared.
    # (matrices, d, rows): the layout the batched kernel reads.
    products = (x @ inner.wide_precisions).reshape(len(x), -1, x.shape[1])
    products = products.transpose(1, 2, 0)
    n_components, r = len(inner.means), missing.shape[1]

    def run(before, offset, version, tasks):
        def shifted(array, axis=0):
            rows = np.take(array, np.arange(before), axis=axis)
            return _at_offset(np.concatenate([rows, array], axis=axis), offset)

        n_rows = before + len(x)
        log_density = _at_offset(np.zeros((n_rows, n_components)), offset)
        delta = _at_offset(np.zeros((n_components, n_rows, r)), offset)
        covariances = _at_offset(
            np.zeros((len(inner.precisions), n_rows, r * (r + 1) // 2)), offset
        )
        failures = version(
            shifted(x),
            shifted(missing),
            inner.means,
            inner.precisions,
            inner.log_det_cholesky,
            shifted(products, axis=-1),
            inner.precision_means,
            log_density,
            delta,
            covariances,
            _fused_dense._LANES,
            tasks,
        )
        assert failures == 0
        return log_density[before:], delta[:, before:], covariances[:, before:]

    _assert_same_bits_anywhere(
        run, _fused_dense._evaluate_batched, (0, 1, 3, _fused_dense._LANES - 1)
    )


def test_batched_statistics_conditional_means_have_the_same_bits_in_any_lane(
    global_random_seed,
):
    # In the E-step of full covariances the batched kernel leaves each
    # row's forward-solved v = inv(L) y_M, and the statistics' kernel, whose
    # lanes hold only the rows that weigh in a component, solves on to the
    # conditional mean's offset: each row's offsets again with 1, 3 and
    # _LANES - 1 rows before it, inputs at every offset, serial and
    # parallel (3 tasks).
    inner, block = _one_block("full", global_random_seed, 4)
    x, missing = block.centred, block.missing
    n_rows, n_features = x.shape
    n_components, r = len(inner.means), missing.shape[1]
    products = (x @ inner.wide_precisions).reshape(n_rows, -1, n_features)
    forward = np.zeros((n_components, n_rows, r))
    _fused_dense._evaluate_batched(
        x,
        missing,
        inner.means,
        inner.precisions,
        inner.log_det_cholesky,
        np.ascontiguousarray(products.transpose(1, 2, 0)),
        inner.precision_means,
        np.zeros((n_rows, n_components)),
        forward,
        np.zeros((n_components, 0, r * (r + 1) // 2)),
        _fused_dense._LANES,
        1,
    )
    rng = np.random.default_rng(global_random_seed)
    resp = rng.dirichlet(np.ones(n_components), size=n_rows)
    resp[rng.random(resp.shape) < 0.4] = 0.0

    def run(before, offset, version, tasks):
        def shifted(array, axis=0):
            rows = np.take(array, np.arange(before), axis=axis)
            return _at_offset(np.concatenate([rows, array], axis=axis), offset)

        weights = shifted(resp)
        floors = negligible_floors(weights.sum(axis=0), n_components, len(weights))
        ranks = np.empty(weights.shape, np.intp)
        _fused_dense._rank_weighing_rows(weights, floors, ranks)
        delta = shifted(forward, axis=1)
        version(
            weights,
            shifted(missing),
            inner.precisions,
            floors,
            ranks,
            delta,
            np.zeros((tasks, n_components, n_features, n_features)),
            _fused_dense._LANES,
            tasks,
        )
        return (delta[:, before:],)

    _assert_same_bits_anywhere(
        run, _fused_dense._add_batched_covariances, (0, 1, 3, _fused_dense._LANES - 1)
    )
    # The offsets were made where the rows weigh, and only there.
    (delta,) = run(0, 0, _fused_dense._add_batched_covariances.serial, 1)
    changed = np.any(delta != forward, axis=2).T
    assert changed.any()
    floors = negligible_floors(resp.sum(axis=0), n_components, n_rows)
    ranks = np.empty(resp.shape, np.intp)
    _fused_dense._rank_weighing_rows(resp, floors, ranks)
    np.testing.assert_array_equal(changed, ranks >= 0)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_batched_observed_route_rows_have_the_same_bits_in_any_lane(
    covariance_type, global_random_seed
):
    # The batched covariance route (S_OO factorised, 6 of 9 entries
    # missing: more missing than observed), which the E-step takes for such
    # blocks: each row's log-densities, and its conditional means (tied:
    # made with the density; full: where the row weighs, by the
    # statistics' kernel, whose lanes hold only the rows that weigh in a
    # component), again with 1, 3 and _LANES - 1 rows before it, inputs at
    # every offset, serial and parallel (3 tasks).
    inner, block = _one_block(covariance_type, global_random_seed, 6)
    shared = covariance_type == "tied"
    assert inner._observed_route(6, 9, moments=False)
    assert not inner._observed_route(6, 9, moments=True)
    x, missing = block.centred, block.missing
    n_rows, n_features = x.shape
    n_components, r = len(inner.means), missing.shape[1]
    observed = np.empty((n_rows, n_features - r), dtype=missing.dtype)
    _fused_dense._observed_coordinates(missing, observed)
    rng = np.random.default_rng(global_random_seed)
    resp = rng.dirichlet(np.ones(n_components), size=n_rows)
    # Rows that weigh in some components only (all 0: in none), so that a
    # row's lane differs from component to component.
    resp[rng.random(resp.shape) < 0.4] = 0.0

    def shifted(array, before, offset):
        return _at_offset(np.concatenate([array[:before], array]), offset)

    def run_density(before, offset, version, tasks):
        log_density = _at_offset(np.zeros((before + n_rows, n_components)), offset)
        delta = np.zeros((n_components, 0, r))
        if shared:
            delta = _at_offset(np.zeros((n_components, before + n_rows, r)), offset)
        failures = version(
            shifted(x, before, offset),
            shifted(missing, before, offset),
            shifted(observed, before, offset),
            inner.means,
            inner.contiguous_covariances,
            log_density,
            delta,
            _fused_dense._LANES,
            tasks,
        )
        assert failures == 0
        return log_density[before:], delta[:, before:]

    def run_moments(before, offset, version, tasks):
        weights = shifted(resp, before, offset)
        floors = negligible_floors(weights.sum(axis=0), n_components, len(weights))
        ranks = np.empty(weights.shape, np.intp)
        _fused_dense._rank_weighing_rows(weights, floors, ranks)
        delta = _at_offset(np.zeros((n_components, before + n_rows, r)), offset)
        parts = np.zeros((tasks, n_components, n_features, n_features))
        version(
            shifted(x, before, offset),
            shifted(missing, before, offset),
            shifted(observed, before, offset),
            inner.means,
            inner.contiguous_covariances,
            weights,
            ranks,
            delta,
            parts,
            _fused_dense._LANES,
            tasks,
        )
        return (delta[:, before:],)

    befores = (0, 1, 3, _fused_dense._LANES - 1)
    _assert_same_bits_anywhere(
        run_density, _fused_dense._evaluate_batched_observed, befores
    )
    if not shared:
        _assert_same_bits_anywhere(
            run_moments, _fused_dense._add_observed_moments, befores
        )


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_diagonal_rows_have_the_same_bits_in_any_lane(
    covariance_type, global_random_seed
):
    # The diagonal kernel's log-density runs along the rows of tiles of 64
    # (here one block of 150 rows, 3 of 9 entries missing): each row again
    # with 1, 5 and 63 rows before it, X at every offset, serial and
    # parallel (3 tasks).
    inner, block = _one_block(covariance_type, global_random_seed, 3)
    assert isinstance(inner, _fused_diagonal.FusedDiagonalKernel)
    rows = block.rows

    def run(before, offset, version, tasks):
        shifted = np.concatenate([rows[:before], rows])
        log_density = np.zeros((len(shifted), len(inner.means)))
        version(
            _at_offset(block.X, offset),
            _at_offset(block.mask, offset),
            _at_offset(shifted, offset),
            block.shift,
            inner.means,
            inner.precisions,
            inner.log_variances,
            log_density,
            tasks,
        )
        return (log_density[before:],)

    _assert_same_bits_anywhere(run, _fused_diagonal._evaluate, (0, 1, 5, 63))


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_has_the_same_bits_twice_and_at_any_alignment(
    covariance_type, batched, monkeypatch
):
    # A whole fit (initialisation, E-steps of every kernel, M-steps), twice
    # on the same array and once on copies of it 1, 2 and 3 elements past
    # a 64-byte boundary; blocks run as several row tasks, batched or per
    # pattern. The E-step on the misaligned data checks that the data set
    # keeps the caller's (misaligned) array, so that the kernels read it.
    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    threshold = 0.0 if batched else np.inf
    monkeypatch.setattr(_fused_dense, "BATCHED_MIN_PATTERNS_PER_ROW", threshold)
    rng, params, X = _mixture(covariance_type, 0, 600, 7)
    X[rng.random(X.shape) < 0.3] = np.nan
    model = EMMixture(
        n_components=3,
        covariance_type=covariance_type,
        max_iter=5,
        tol=0,
        random_state=0,
    )

    def fit(data):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data)
        return (
            model.weights_,
            model.means_,
            model.covariances_,
            np.array([model.lower_bound_]),
            model.score_samples(X),
        )

    expected = fit(X)
    _assert_same_bits(fit(X), expected, "twice")
    step = e_step(EMData.build(X), params)
    for offset in OFFSETS[1:]:
        moved = _at_offset(X, offset)
        _assert_same_bits(fit(moved), expected, f"offset {offset}")
        data = EMData.build(moved)
        assert data.numeric.ctypes.data % 64 == 8 * offset
        moved_step = e_step(data, params)
        assert np.array_equal(moved_step[0], step[0])
        for a, b in zip(
            moved_step[1].families[0].arrays, step[1].families[0].arrays, strict=True
        ):
            assert np.array_equal(a, b)
