"""Categorical draws and modes: the same codes as before, without an n x L table.

Draws (``CategoricalFamily.sample``, ``complete``'s draws under a drawn
component) used to gather each draw's row of probabilities, an ``(n, L)``
table, and count the entries of its running sum below ``u`` times the
total; they now take one cumulative table per component and a binary search
per draw (``_categorical._inverse_cdf``). The mode used to be the argmax of
an ``(n_missing, L)`` posterior predictive made whole per block; with one
component it is now one category per column, with several it is made in
chunks of ``_PREDICTIVE_FLOATS`` floats.

The old functions are copied here as references: every code (and every
predictive probability) must be the same bit for bit, on both engines, for
one and several components, including chunks of a single cell. Then peak
memory (tracemalloc) at sizes where the old code took gigabytes; no
wall-clock limit.
"""

import tracemalloc

import numpy as np
import pytest
from _reference import random_params

from emimpute._em import _categorical, _fused
from emimpute._em._categorical import (
    CategoricalFamily,
    CategoricalKernel,
    _inverse_cdf,
    _rows_by_component,
)
from emimpute._em._data import EMData
from emimpute._em._impute import complete
from emimpute._em._params import MixtureParams

# ------------------------------------------------------- the old code, copied


def _old_inverse_cdf(probabilities, u):
    """The category whose cumulative probability first exceeds ``u`` (per row)."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = u * cumulative[:, -1]
    return np.minimum(
        (cumulative < u[:, np.newaxis]).sum(axis=1), probabilities.shape[1] - 1
    )


def _old_sample(self, labels, random_state):
    n_samples = len(labels)
    codes = np.empty((n_samples, len(self.probabilities)), dtype=np.intp)
    for j, probabilities in enumerate(self.probabilities):
        codes[:, j] = _old_inverse_cdf(
            probabilities[labels], random_state.uniform(size=n_samples)
        )
    return codes


def _old_impute(self, block, resp, evaluation, filled, *, draw=None):
    out, proba = filled.codes, filled.probabilities
    codes = evaluation.codes
    for j in range(self.n_columns):
        missing = np.flatnonzero(codes[:, j] < 0)
        if proba is not None or draw is None:
            predictive = self.predictive(resp, j, missing)
        if proba is not None:
            observed = np.flatnonzero(codes[:, j] >= 0)
            proba[j][block.rows[observed], codes[observed, j]] = 1.0
            proba[j][block.rows[missing]] = predictive
        if len(missing) == 0:
            continue
        if draw is None:
            completion = predictive.argmax(axis=1)
        else:
            component, random_state = draw
            completion = _old_inverse_cdf(
                self.family.probabilities[j][component[missing]],
                random_state.uniform(size=len(missing)),
            )
        out[block.rows[missing], j] = completion


# ------------------------------------------------------------------ fixtures


@pytest.fixture(params=["numba", "numpy"])
def engine(request, monkeypatch):
    """Runs the test under ``EMIMPUTE_KERNEL=engine`` (the E-step's switch)."""
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, request.param)
    return request.param


def _probabilities(rng, n_components, n_categories, *, zeros=True):
    """Category probabilities with some exact zeros (flat runs in the running
    sums, where a search must land where the count did), and rows whose
    float sum is not exactly 1."""
    theta = rng.dirichlet(np.full(n_categories, 0.7), size=n_components)
    if zeros and n_categories > 2:
        theta[rng.random(theta.shape) < 0.2] = 0.0
        theta[:, 0] = 0.0  # a first category of probability 0
        theta[:, -1] = 0.0  # and a last one
        theta[:, 1] += 1e-3
    return theta / theta.sum(axis=1, keepdims=True)


def _uniforms(rng, n):
    """Uniforms on [0, 1) with the ends in: 0 and the largest double below 1."""
    u = rng.uniform(size=n)
    u[:3] = [0.0, np.nextafter(1.0, 0.0), 0.5]
    return u


def _mixed_problem(seed, n_components, n_categories, n_samples=300, rate=0.3):
    """An EMData with numeric and categorical holes, and parameters."""
    rng = np.random.default_rng(seed)
    n_numeric = 3
    means = rng.normal(scale=2.0, size=(n_components, n_numeric))
    labels = rng.integers(n_components, size=n_samples)
    numeric = means[labels] + rng.normal(size=(n_samples, n_numeric))
    numeric[rng.random(numeric.shape) < rate] = np.nan
    probabilities = tuple(
        _probabilities(rng, n_components, n, zeros=False) for n in n_categories
    )
    codes = np.empty((n_samples, len(n_categories)), dtype=np.intp)
    for j, theta in enumerate(probabilities):
        cumulative = theta[labels].cumsum(axis=1)
        codes[:, j] = (cumulative < rng.random((n_samples, 1))).sum(axis=1)
    codes = np.minimum(codes, np.array(n_categories) - 1)
    codes[rng.random(codes.shape) < rate] = -1
    codes[:5] = -1  # rows with every categorical cell missing
    data = EMData.build(numeric, codes=codes, n_categories=n_categories)
    gaussian = random_params(rng, n_components, n_numeric, "full", spread=2.0)
    params = MixtureParams(
        weights=gaussian.weights,
        families=(gaussian.gaussian, CategoricalFamily(probabilities)),
    )
    return data, params


def _complete(data, params, seed, **kwargs):
    random_state = None if seed is None else np.random.RandomState(seed)
    return complete(data, params, random_state=random_state, **kwargs)


# ------------------------------------------------------ the same codes as before


@pytest.mark.parametrize("n_components", [1, 2, 5])
@pytest.mark.parametrize("n_categories", [1, 2, 7, 300])
def test_inverse_cdf_is_the_old_count(n_components, n_categories, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    probabilities = _probabilities(rng, n_components, n_categories)
    if global_random_seed % 2:
        # A Fortran-ordered table (from_counts may give one): same sums.
        probabilities = np.asfortranarray(probabilities)
    labels = rng.integers(n_components, size=2000)
    u = _uniforms(rng, len(labels))
    expected = _old_inverse_cdf(probabilities[labels], u)
    actual = _inverse_cdf(
        np.cumsum(probabilities, axis=1),
        _rows_by_component(labels, n_components),
        u,
    )
    np.testing.assert_array_equal(actual, expected)
    # Never a category of probability 0, but where u is 0 exactly (the old
    # count's category 0 too).
    zero = probabilities[labels, actual] == 0.0
    assert np.all(u[zero] == 0.0)
    # And a draw row by row, in plain Python: walk the running sum to the
    # first category reaching u times the row's (sequential) total.
    for i in rng.choice(len(labels), size=200, replace=False):
        row = probabilities[labels[i]].tolist()
        total = 0.0
        for p in row:
            total += p
        target, running = u[i] * total, 0.0
        for c, p in enumerate(row):  # noqa: B007 (c after the loop)
            running += p
            if running >= target:
                break
        assert actual[i] == c


def test_rows_by_component_keeps_the_order_of_each_component():
    labels = np.array([2, 0, 2, 1, 0, 2])
    rows = _rows_by_component(labels, 4)
    assert [r.tolist() for r in rows] == [[1, 4], [3], [0, 2, 5], []]
    assert _rows_by_component(labels * 0, 1) is None


@pytest.mark.parametrize("n_components", [1, 3])
def test_family_sample_is_the_old_sample(n_components, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    family = CategoricalFamily(
        tuple(_probabilities(rng, n_components, n) for n in (1, 4, 50))
    )
    labels = rng.integers(n_components, size=3000)
    expected_state = np.random.RandomState(global_random_seed)
    expected = _old_sample(family, labels, expected_state)
    actual_state = np.random.RandomState(global_random_seed)
    actual = family.sample(labels, actual_state)
    np.testing.assert_array_equal(actual, expected)
    # The same numbers taken from the stream.
    assert actual_state.uniform() == expected_state.uniform()


@pytest.mark.parametrize("n_components", [1, 2, 4])
@pytest.mark.parametrize("n_categories", [(3, 7), (2, 40)])
@pytest.mark.parametrize("draws", [False, True])
@pytest.mark.parametrize("return_proba", [False, True])
def test_complete_is_the_old_complete(
    engine, n_components, n_categories, draws, return_proba, global_random_seed
):
    # One chunk of predictive probabilities per block at these sizes (300
    # rows, 40 categories: far below _PREDICTIVE_FLOATS): bit for bit.
    data, params = _mixed_problem(global_random_seed, n_components, n_categories)
    seed = global_random_seed if draws else None
    with pytest.MonkeyPatch.context() as old:
        old.setattr(CategoricalKernel, "impute", _old_impute)
        expected = _complete(data, params, seed, return_proba=return_proba)
    actual = _complete(data, params, seed, return_proba=return_proba)
    np.testing.assert_array_equal(actual.codes, expected.codes)
    np.testing.assert_array_equal(actual.numeric, expected.numeric)
    if return_proba:
        for a, e in zip(actual.probabilities, expected.probabilities, strict=True):
            np.testing.assert_array_equal(a, e)
    assert (actual.codes >= 0).all()


@pytest.mark.parametrize("n_components", [2, 4])
@pytest.mark.parametrize("draws", [False, True])
@pytest.mark.parametrize("predictive_floats", [5, 97])
def test_chunked_predictive_is_the_whole_one(
    engine, n_components, draws, predictive_floats, global_random_seed, monkeypatch
):
    # Chunks of a single cell (5 floats for 7 or 40 categories; 2 cells of
    # 2 categories) and of 2 to 48 cells (97 floats), against the old
    # product of a block's cells at once. Draws use no predictive: their
    # codes are the same bit for bit. The predictive probabilities are the
    # same products, but a BLAS product takes other code paths for other
    # numbers of rows (one row: a matrix-vector product), which sum a
    # cell's K terms in another order or with other fused multiply-adds:
    # each entry is a sum of K non-negative products, computed by either to
    # a relative error of at most about K eps, so they agree to 2 K eps. A
    # mode can then differ only where the two most probable categories of
    # the cell are that close (none in these cases; checked if any were).
    data, params = _mixed_problem(global_random_seed, n_components, (2, 3, 7, 40))
    seed = global_random_seed if draws else None
    with monkeypatch.context() as old:
        old.setattr(CategoricalKernel, "impute", _old_impute)
        expected = _complete(data, params, seed, return_proba=True)
    monkeypatch.setattr(_categorical, "_PREDICTIVE_FLOATS", predictive_floats)
    actual = _complete(data, params, seed, return_proba=True)
    mode_only = _complete(data, params, seed)
    np.testing.assert_array_equal(mode_only.codes, actual.codes)
    rtol = 2 * n_components * np.finfo(float).eps
    for j, (a, e) in enumerate(
        zip(actual.probabilities, expected.probabilities, strict=True)
    ):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=0)
        differ = actual.codes[:, j] != expected.codes[:, j]
        if draws:
            assert not differ.any()
        for i in np.flatnonzero(differ):
            top = np.sort(e[i])[-2:]
            assert top[1] - top[0] <= 2 * rtol * top[1]


def test_one_component_mode_is_the_mode_of_its_probabilities(engine):
    data, params = _mixed_problem(0, 1, (5, 9))
    completion = _complete(data, params, None)
    for j, theta in enumerate(params.categorical.probabilities):
        missing = data.codes[:, j] < 0
        assert missing.any()
        np.testing.assert_array_equal(completion.codes[missing, j], theta[0].argmax())


# --------------------------------------------------------------- peak memory


def _peak_mib(function):
    tracemalloc.start()
    try:
        result = function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak / 2**20


def _one_big_column(n_samples, n_categories, n_components, seed=0):
    """1e5 rows, one numeric column and one categorical column of
    ``n_categories``, 30% of its cells missing."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n_samples, 1))
    codes = rng.integers(n_categories, size=(n_samples, 1))
    codes[rng.random(n_samples) < 0.3] = -1
    data = EMData.build(numeric, codes=codes, n_categories=(n_categories,))
    gaussian = random_params(rng, n_components, 1, "full", spread=2.0)
    theta = rng.dirichlet(np.ones(n_categories), size=n_components)
    params = MixtureParams(
        weights=gaussian.weights,
        families=(gaussian.gaussian, CategoricalFamily((theta,))),
    )
    return data, params


def test_sample_memory_does_not_grow_with_the_categories():
    # 8e4 draws from a 2000-category column, K = 3 (the audit's
    # EMMixture(3).sample(80000)): the old gather, running sum and
    # comparison peaked at 2596 MiB; now 2.9 MiB (the codes, the uniforms,
    # the sort by component).
    rng = np.random.default_rng(0)
    family = CategoricalFamily((rng.dirichlet(np.ones(2000), size=3),))
    labels = rng.integers(3, size=80_000)
    codes, peak = _peak_mib(lambda: family.sample(labels, np.random.RandomState(0)))
    assert codes.shape == (80_000, 1)
    assert peak < 8.0


def _complete_peaks(n_components, random_state):
    """Peak MiB of ``complete`` on 1e5 rows, 3e4 of their cells missing in a
    column of 5 categories, then of 8000 (after a warm-up: a first call in a
    process also loads and compiles, about 15 MiB)."""
    warm_up, params = _one_big_column(1000, 5, n_components)
    complete(warm_up, params, random_state=random_state)
    peaks = []
    for n_categories in (5, 8000):
        data, params = _one_big_column(100_000, n_categories, n_components)
        completion, peak = _peak_mib(
            lambda data=data, params=params: complete(
                data, params, random_state=random_state
            )
        )
        assert (completion.codes >= 0).all()
        peaks.append(peak)
    return peaks


@pytest.mark.parametrize("n_components", [1, 3])
def test_draws_memory_does_not_grow_with_the_categories(engine, n_components):
    # complete()'s draws (EMImputer(sample_posterior=True).transform, the
    # I-steps of multiple imputation), 3e4 missing cells of an 8000-category
    # column: the old gather made a (3e4, 8000) table, its running sum and
    # comparison, a peak of 3905 MiB at K = 1 and 3406 MiB at K = 3 (the
    # numba engine). Now, numba: 9.9 MiB at K = 1 and 17.1 MiB at K = 3,
    # against 9.8 and 16.9 MiB with 5 categories.
    small, large = _complete_peaks(n_components, np.random.RandomState(0))
    assert large < small + 1.0
    assert large < 40.0


@pytest.mark.parametrize("n_components", [1, 3])
def test_mode_memory_does_not_grow_with_the_categories(engine, n_components):
    # The mode (EMImputer().transform), 3e4 missing cells of an 8000-category
    # column: the old (3e4, 8000) float64 predictive per block peaked at
    # 1834 MiB at K = 1 and 1609 MiB at K = 3 (numba engine). Now, numba:
    # 7.8 MiB at K = 1 (no predictive: one mode per column), 17.0 MiB at
    # K = 3 (chunks of 2 MiB), against 7.7 and 14.5 MiB with 5 categories.
    small, large = _complete_peaks(n_components, None)
    budget = _categorical._PREDICTIVE_FLOATS * 8 / 2**20
    assert large < small + (0.5 if n_components == 1 else budget + 1.0)
    assert large < 40.0
