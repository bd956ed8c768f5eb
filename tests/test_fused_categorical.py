"""The categorical family's compiled E-step against the numpy one and a brute force.

The compiled kernels (``_fused_categorical``) and the numpy path (sparse
one-hot rows, ``_categorical``) must give the log-densities of the observed
cells and the expected category counts that a per-row brute force gives:
:func:`_brute_force` enumerates every completion of a row's missing cells
(``itertools.product``), multiplies out the category probabilities of all
its cells, and sums posteriors over the completions, never using the closed
form ``resp * theta`` nor the flat table. Cases: rows with every number of
missing cells (0 to all 4 columns), probability-0 categories (what
``category_smoothing=0`` allows: ``-inf`` log-densities, at the same places
on every side), sample weights, class labels (the label family clamps the
responsibilities, which the categorical counts then follow), blocks
small enough that the statistics are sums of many blocks' values, and
columns whose numbers of categories put them in the compiled kernels' joint
tables (``ColumnGroups``) by 1, 2 and 3 (compared with the numpy path).

Why 1e-12: the category probabilities are at least about 0.01 (or exactly
0), so each finite log-density is a sum of at most 9 logarithms of size at
most 5, computed by every side with an error of a few ulps of 45 (about
1e-14, compared relative to max(1, |value|)); the counts are sums over at
most 60 rows of posteriors in [0, 1] times weights at most 3, compared
relative to their largest entry, so their rounding stays below about 60
eps, 1e-14. 1e-12 leaves two orders of
magnitude for rounding and none for a wrong formula (a missing cell's mass
spread by another component's probabilities, a row or a block left out, a
weight applied twice all move the counts by 1e-2 or more).

The compiled kernels are also checked to give the same bits on any number of
threads: the serial and the parallel builds, on 1 and on several row tasks,
and in the whole E-step on 1 and 2 threads.
"""

import itertools

import numpy as np
import pytest
from _mixed_reference import random_probabilities
from _reference import assert_close, norm_scale
from scipy.special import logsumexp
from test_fused_reproducible import OFFSETS, _at_offset

from emimpute._em import _fused, _fused_categorical
from emimpute._em._blocks import iter_blocks
from emimpute._em._categorical import CategoricalFamily, FlatCounts
from emimpute._em._data import EMData
from emimpute._em._estep import e_step, weighted_log_prob
from emimpute._em._labels import LabelFamily
from emimpute._em._params import MixtureParams

TOL = 1e-12

N_CATEGORIES = (2, 3, 4, 3)
N_COMPONENTS = 3
N_SAMPLES = 60

# The engines to compare: the compiled one where numba is installed (a core
# dependency, see pyproject.toml), and the numpy reference everywhere.
ENGINES = ("numpy", "numba") if _fused.numba_available() else ("numpy",)


def _case(
    seed, *, zeros=False, weighted=False, labelled=False, n_categories=N_CATEGORIES
):
    """Codes with every number of missing cells, and mixture parameters.

    Row ``i`` misses ``i % 5`` of its cells (all 4 of the default columns
    at most), at random columns. With ``zeros``, category 0 of every column
    (but a column of one category) has probability 0 in component 0 (a
    maximum-likelihood fit without smoothing can give that), so a row
    showing it cannot come from component 0. With ``weighted``, sample
    weights in [0.5, 3]; with ``labelled``, components 0 and 1 belong to
    class 0 and component 2 to class 1, and two rows in three are labelled.
    """
    rng = np.random.default_rng([seed, zeros, weighted, labelled, len(n_categories)])
    codes = np.column_stack([rng.integers(0, n, N_SAMPLES) for n in n_categories])
    for i in range(N_SAMPLES):
        codes[i, rng.permutation(len(n_categories))[: i % 5]] = -1
    thetas = random_probabilities(rng, N_COMPONENTS, n_categories)
    if zeros:
        for theta in thetas:
            if theta.shape[1] == 1:  # its one category is certain
                continue
            theta[0, 0] = 0.0
            theta[0] /= theta[0].sum()
    weights = rng.dirichlet(np.full(N_COMPONENTS, 2.0)) + 0.05
    families = [CategoricalFamily(thetas)]
    labels = None
    if labelled:
        component_classes = np.array([0, 0, 1])
        families.append(LabelFamily(component_classes))
        labels = np.where(
            np.arange(N_SAMPLES) % 3 == 0, -1, rng.integers(0, 2, N_SAMPLES)
        )
    sample_weight = rng.uniform(0.5, 3.0, N_SAMPLES) if weighted else None
    data = EMData.build(
        np.empty((N_SAMPLES, 0)),
        codes=codes,
        n_categories=n_categories,
        labels=labels,
        sample_weight=sample_weight,
    )
    params = MixtureParams(weights=weights / weights.sum(), families=tuple(families))
    return data, params


def _brute_force(data, params):
    """Per-row E-step of the categorical (and label) families, by enumeration.

    Returns
    -------
    log_density : ndarray of shape (n_samples, K)
        ``log sum_completions prod_cells theta`` (``-inf`` where 0).
    log_prob_norm : ndarray of shape (n_samples,)
        0 for a row with nothing observed (no cell, no label).
    nk : ndarray of shape (K,)
    counts : list of ndarray of shape (K, n_categories_j)
        Each (component, completion)'s posterior, times the row's weight,
        added at the category it gives each cell.
    """
    thetas = params.categorical.probabilities
    codes = data.codes
    n_samples, n_columns = codes.shape
    labels = data.labels
    component_classes = (
        params.families[-1].component_classes if labels is not None else None
    )
    weights = np.ones(n_samples) if data.sample_weight is None else data.sample_weight
    log_density = np.empty((n_samples, N_COMPONENTS))
    log_prob_norm = np.zeros(n_samples)
    nk = np.zeros(N_COMPONENTS)
    counts = [np.zeros((N_COMPONENTS, n)) for n in N_CATEGORIES]
    for i in range(n_samples):
        missing = [j for j in range(n_columns) if codes[i, j] < 0]
        completions = list(
            itertools.product(*(range(N_CATEGORIES[j]) for j in missing))
        )
        joint = np.empty((N_COMPONENTS, len(completions)))
        for t, completion in enumerate(completions):
            cells = dict(zip(missing, completion, strict=True))
            for k in range(N_COMPONENTS):
                product = 1.0
                for j in range(n_columns):
                    product *= thetas[j][k, cells.get(j, codes[i, j])]
                joint[k, t] = product
        with np.errstate(divide="ignore"):
            log_density[i] = np.log(joint.sum(axis=1))
            log_joint = np.log(params.weights)[:, np.newaxis] + np.log(joint)
        labelled = labels is not None and labels[i] >= 0
        if labelled:
            log_joint[component_classes != labels[i]] = -np.inf
        if len(missing) == n_columns and not labelled:
            continue
        norm = logsumexp(log_joint)
        log_prob_norm[i] = norm
        posterior = np.exp(log_joint - norm)
        nk += weights[i] * posterior.sum(axis=1)
        for t, completion in enumerate(completions):
            cells = dict(zip(missing, completion, strict=True))
            for j in range(n_columns):
                counts[j][:, cells.get(j, codes[i, j])] += weights[i] * posterior[:, t]
    return log_density, log_prob_norm, nk, counts


def _assert_same_log_density(actual, desired, what):
    """``-inf`` at the same places, the finite values to ``TOL``."""
    np.testing.assert_array_equal(actual == -np.inf, desired == -np.inf, what)
    finite = np.isfinite(desired)
    # Elementwise max(1, |value|): sums of a few logarithms.
    assert_close(actual[finite], desired[finite], TOL, what)


def _assert_counts(actual, desired, what):
    for a, d in zip(actual, desired, strict=True):
        # Sums over rows: relative to the largest entry.
        assert_close(a, d, TOL, what, scale=norm_scale(d))


@pytest.fixture
def engine(request, monkeypatch):
    """Runs the test under ``EMIMPUTE_KERNEL=engine`` (the E-step's switch)."""
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, request.param)
    return request.param


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize(
    "zeros, weighted, labelled",
    [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (True, True, True),
    ],
)
def test_e_step_matches_brute_force(
    engine, zeros, weighted, labelled, global_random_seed
):
    data, params = _case(
        global_random_seed, zeros=zeros, weighted=weighted, labelled=labelled
    )
    log_density, log_prob_norm, nk, counts = _brute_force(data, params)
    # The families' log-densities alone: weighted_log_prob adds log pi and
    # the label family's (0 where unlabelled), which the brute force has not.
    plain = MixtureParams(weights=params.weights, families=params.families[:1])
    _assert_same_log_density(
        weighted_log_prob(data, plain) - np.log(params.weights),
        log_density,
        f"{engine} log-density",
    )
    if zeros:
        # The zero probabilities reach the comparison: some rows are
        # impossible under component 0, none under every component.
        assert np.any(log_density[:, 0] == -np.inf)
        assert np.all(np.isfinite(log_density[:, 1:]))
    # Chunks of 7 rows: the statistics are sums of 9 blocks' values.
    for chunk_size in (None, 7):
        norm, stats = e_step(data, params, chunk_size=chunk_size)
        assert_close(norm, log_prob_norm, TOL, f"{engine} log p(x_O)")
        assert_close(stats.nk, nk, TOL, f"{engine} nk", scale=norm_scale(nk))
        _assert_counts(stats.families[0].counts, counts, f"{engine} counts")


@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize(
    "n_categories",
    [
        N_CATEGORIES,  # one group of 3 columns (60 rows), one of 1
        (1, 70, 2, 2, 2, 2, 2, 7, 7),  # a column alone beyond 64 rows
    ],
)
def test_kernels_match_per_block(zeros, n_categories, global_random_seed):
    """Both engines' evaluations and statistics on the same blocks and resp.

    Arbitrary responsibilities (not the posterior): the statistics are
    linear in them, and the test must not depend on the E-step's own. The
    compiled kernels' groups of columns (``ColumnGroups``) are of several
    sizes, and the counts come from their margins.
    """
    data, params = _case(global_random_seed, zeros=zeros, n_categories=n_categories)
    family = params.categorical
    kernels = {
        engine: family.kernel(data, params.weights, engine=engine) for engine in ENGINES
    }
    rng = np.random.default_rng(global_random_seed)
    totals = {}
    nk = np.zeros(N_COMPONENTS)
    for block in iter_blocks(data.patterns, list(kernels.values()), chunk_size=11):
        resp = rng.dirichlet(np.ones(N_COMPONENTS), len(block.rows))
        nk += resp.sum(axis=0)
        expected_density = kernels["numpy"].evaluate(block).log_density
        for engine, kernel in kernels.items():
            evaluation = kernel.evaluate(block)
            _assert_same_log_density(
                evaluation.log_density, expected_density, f"{engine} block log-density"
            )
            value = kernel.statistics(block, resp, evaluation)
            assert isinstance(value, FlatCounts)
            totals[engine] = value if engine not in totals else totals[engine] + value
    expected = totals["numpy"].counts
    for engine, value in totals.items():
        _assert_counts(value.counts, expected, f"{engine} block counts")
        # Each row's cells, observed or completed, add one row per column.
        for column_counts in value.counts:
            assert_close(
                column_counts.sum(axis=1),
                nk,
                TOL,
                f"{engine} counts total",
                scale=norm_scale(nk),
            )


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_e_step_has_the_same_bits_on_any_threads(engine, global_random_seed):
    """Blocks shared out to 2 threads give what 1 thread gives, exactly."""
    data, params = _case(global_random_seed, weighted=True, labelled=True)
    norm, stats = e_step(data, params, chunk_size=7, threads=1)
    norm_2, stats_2 = e_step(data, params, chunk_size=7, threads=2)
    np.testing.assert_array_equal(norm_2, norm)
    np.testing.assert_array_equal(stats_2.nk, stats.nk)
    for a, b in zip(stats_2.families[0].counts, stats.families[0].counts, strict=True):
        np.testing.assert_array_equal(a, b)


def test_flat_counts_add_across_parameters():
    """Counts spread by other probabilities add as counts, not as totals."""
    first = CategoricalFamily((np.array([[0.25, 0.75]]),))
    second = CategoricalFamily((np.array([[0.5, 0.5]]),))
    a = FlatCounts(np.array([[1.0], [0.0], [2.0]]), first)
    b = FlatCounts(np.array([[0.0], [1.0], [2.0]]), second)
    # 1 + 2 * 0.25 + 2 * 0.5 and 0 + 2 * 0.75 + 1 + 2 * 0.5: exact in binary.
    np.testing.assert_array_equal((a + b).counts[0], [[2.5, 3.5]])
    np.testing.assert_array_equal((a + a).counts[0], [[3.0, 3.0]])
    assert isinstance(a + a, FlatCounts)


def _large_block(seed, n_rows=50_000):
    """Flat codes of a block large enough for several row tasks."""
    rng = np.random.default_rng(seed)
    n_categories = np.array([5] * 10)
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    codes = rng.integers(0, 5, (n_rows, 10))
    missing = rng.random(codes.shape) < 0.2
    flat = np.where(missing, n_categories.sum() + np.arange(10), codes + offsets)
    log_table = np.log(rng.dirichlet(np.ones(5), size=(10, 4)).transpose(0, 2, 1))
    log_table = np.concatenate([log_table.reshape(50, 4), np.zeros((10, 4))])
    resp = rng.dirichlet(np.ones(4), n_rows)
    return flat.astype(np.int32), log_table, resp


def test_compiled_kernels_have_the_same_bits_on_any_tasks(global_random_seed):
    flat, log_table, resp = _large_block(global_random_seed)
    n_rows, n_components = resp.shape
    tasks = _fused.n_tasks(n_rows, flat.shape[1] * n_components)
    assert tasks > 1
    table_t = np.ascontiguousarray(log_table.T)
    densities = []
    for version in (
        _fused_categorical._log_density.serial,
        _fused_categorical._log_density.parallel,
    ):
        out = np.empty((n_rows, n_components))
        version(flat, table_t, out, tasks)
        densities.append(out)
    np.testing.assert_array_equal(densities[0], densities[1])
    # One task or several: each row's sum is the same sequence of adds.
    one = np.empty((n_rows, n_components))
    _fused_categorical._log_density.serial(flat, table_t, one, 1)
    np.testing.assert_array_equal(one, densities[0])
    parts = []
    for version in (
        _fused_categorical._totals.serial,
        _fused_categorical._totals.parallel,
    ):
        out = np.zeros((tasks, len(log_table), n_components))
        version(flat, resp, out, tasks)
        parts.append(out)
    np.testing.assert_array_equal(parts[0], parts[1])
    # And against the numpy reference: the same sums, in another order.
    totals = _fused_categorical.totals(flat, resp, len(log_table))
    one_hot = np.zeros((n_rows, len(log_table)))
    np.put_along_axis(one_hot, flat.astype(np.intp), 1.0, axis=1)
    assert_close(totals, one_hot.T @ resp, TOL, "task totals", scale=norm_scale(totals))


def test_compiled_kernels_have_the_same_bits_at_any_alignment(global_random_seed):
    """Rows put before the block's, inputs 1 to 3 elements past 64 bytes.

    Each row's sums are one fixed sequence of operations whether the row
    falls in a vector loop's body or its remainder, whatever the alignment
    (``_fused._OPTIONS``). The rows put before have zero responsibilities:
    they add ``+0.0`` to the totals, which changes no bit.
    """
    flat, log_table, resp = _large_block(global_random_seed, n_rows=200)
    n_components = resp.shape[1]
    density = _fused_categorical.log_density(flat, log_table)
    totals = _fused_categorical.totals(flat, resp, len(log_table))
    for before in (1, 3, 5):
        for offset in OFFSETS:
            cells = _at_offset(np.concatenate([flat[:before], flat]), offset)
            weights = np.concatenate([np.zeros((before, n_components)), resp])
            weights = _at_offset(weights, offset)
            got = _fused_categorical.log_density(cells, _at_offset(log_table, offset))
            np.testing.assert_array_equal(got[before:], density)
            got = _fused_categorical.totals(cells, weights, len(log_table))
            np.testing.assert_array_equal(got, totals)
