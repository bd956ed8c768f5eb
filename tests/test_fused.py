"""The compiled (numba) E-step kernels against the numpy ones and per-row references.

Both engines run on every covariance type, every route of the dense kernel
(precision through ``P_MM``, covariance through ``S_OO``, mixed per
component), chunk sizes that split patterns, and rows with every number of
missing entries from 0 to d; each is compared with the per-row scipy
reference of ``_reference`` and with the other engine; fitted models of the
two engines are compared too.

Why 1e-12: the covariances have eigenvalues in [0.5, 2] (condition number
<= 4, and so has every principal block ``S_OO`` and ``P_MM``), the data
are O(1) to O(10) from the means; Cholesky factorisations and triangular
solves of such blocks are backward stable, with errors of a few ``eps *
cond`` relative (about 1e-15), and the statistics are sums of at most 120
such terms compared norm-wise (below 1e-13). 1e-12 leaves an order of
magnitude for rounding and none for a wrong formula.
"""

import numpy as np
import pytest
from _reference import (
    COVARIANCE_TYPES,
    assert_close,
    dense_covariances,
    norm_scale,
    random_params,
    reference_e_step,
    sample_mixture,
)

from emimpute import EMMixture
from emimpute._em import _fused
from emimpute._em._blocks import iter_blocks
from emimpute._em._data import EMData
from emimpute._em._estep import e_step, weighted_log_prob
from emimpute._em._gaussian_block import FusedConditionals

pytestmark = pytest.mark.skipif(
    not _fused.numba_available(), reason="numba is not installed"
)

TOL = 1e-12
ENGINES = ("numba", "numpy")
ROUTES = ("auto", "precision", "covariance", "mixed")


def _every_count_mask(rng, n_samples, n_features):
    """Rows with 0, 1, ..., d missing entries, in turn, at random places."""
    mask = np.zeros((n_samples, n_features), dtype=bool)
    for i in range(n_samples):
        count = i % (n_features + 1)
        mask[i, rng.choice(n_features, size=count, replace=False)] = True
    return mask


def _case(covariance_type, n_components, seed, n_samples=84, n_features=6):
    rng = np.random.default_rng([seed, COVARIANCE_TYPES.index(covariance_type)])
    params = random_params(rng, n_components, n_features, covariance_type)
    X, _ = sample_mixture(
        rng, n_samples, params.weights, params.means, dense_covariances(params)
    )
    mask = _every_count_mask(rng, n_samples, n_features)
    # Few patterns too: the second half of the rows repeats the first's
    # masks, so that runs of rows share their factorisations.
    mask[n_samples // 2 :] = mask[: n_samples - n_samples // 2]
    X[mask] = np.nan
    return X, mask, params, reference_e_step(X, mask, params)


def _reference_statistics(X, mask, params, reference, shift, rows):
    """``nk, s1, s2`` over ``rows`` (nothing-observed rows included)."""
    n_components, n_features = params.means.shape
    shift = np.broadcast_to(shift, (n_components, n_features))
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = np.zeros((n_components, n_features, n_features))
    for i in rows:
        m = np.flatnonzero(mask[i])
        for k in range(n_components):
            r = reference.resp[i, k]
            centred = X[i].copy()
            centred[m] = reference.cond_means[i][k]
            centred -= shift[k]
            nk[k] += r
            s1[k] += r * centred
            s2[k] += r * np.outer(centred, centred)
            s2[k][np.ix_(m, m)] += r * reference.cond_covs[i][k]
    return nk, s1, s2


def _kernel(data, params, route, engine):
    if route == "mixed":
        kernel = params.gaussian.kernel(data, params.weights, engine=engine)
        if hasattr(kernel.inner, "ill_conditioned"):
            kernel.inner.ill_conditioned = np.arange(params.n_components) % 2 == 0
        return kernel
    return params.gaussian.kernel(data, params.weights, route=route, engine=engine)


def _statistics_layout(s2, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return np.diagonal(s2, axis1=1, axis2=2)
    if covariance_type == "tied":
        return s2.sum(axis=0, keepdims=True)
    return s2


def _assert_reference_statistics(
    stats, X, mask, params, reference, covariance_type, what, rows=None
):
    """``nk``, ``s1`` and ``s2`` of ``stats`` against the per-row reference."""
    rows = range(len(X)) if rows is None else rows
    nk, s1, s2 = _reference_statistics(X, mask, params, reference, stats.shift, rows)
    s2 = _statistics_layout(s2, covariance_type)
    assert_close(stats.nk, nk, TOL, f"{what}: nk", scale=norm_scale(nk))
    assert_close(stats.s1, s1, TOL, f"{what}: s1", scale=norm_scale(s1))
    assert_close(stats.s2, s2, TOL, f"{what}: s2", scale=norm_scale(s2))


def _kernel_pass(X, mask, params, reference, route, engine, chunk_size):
    """Log-densities and statistics of every block, rows with 0..d missing."""
    data = EMData.build(X, mask)
    kernel = _kernel(data, params, route, engine)
    log_density = np.full(reference.log_density.shape, np.nan)
    total = None
    for block in iter_blocks(data.patterns, [kernel], chunk_size=chunk_size):
        # As the E-step asks (the batched kernel then leaves the conditional
        # covariances to the statistics).
        evaluation = kernel.evaluate(block, moments=False)
        fused = isinstance(evaluation.conditionals, FusedConditionals)
        # The compiled kernel takes exactly the rows with missing entries.
        assert fused == (engine == "numba" and block.n_missing > 0)
        log_density[block.rows] = evaluation.log_density
        stats = kernel.statistics(block, reference.resp[block.rows], evaluation)
        total = stats if total is None else total + stats
    return log_density, total


@pytest.mark.parametrize("n_components", [1, 3])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kernels_match_reference_on_every_route_and_chunking(
    covariance_type, n_components, global_random_seed
):
    X, mask, params, reference = _case(
        covariance_type, n_components, global_random_seed
    )
    results = {}
    for route in ROUTES:
        for chunk_size in (1, 5, None):
            for engine in ENGINES:
                log_density, stats = _kernel_pass(
                    X, mask, params, reference, route, engine, chunk_size
                )
                what = f"{engine} {route}"
                assert_close(
                    log_density, reference.log_density, TOL, f"{what}: log-density"
                )
                _assert_reference_statistics(
                    stats, X, mask, params, reference, covariance_type, what
                )
                results[engine] = (log_density, stats)
            # The engines against each other, on the same blocks.
            (ld_a, st_a), (ld_b, st_b) = results["numba"], results["numpy"]
            assert_close(ld_a, ld_b, TOL, "engines: log-density")
            for a, b in zip(st_a.arrays, st_b.arrays, strict=True):
                assert_close(a, b, TOL, "engines: statistics", scale=norm_scale(b))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_of_both_engines_matches_reference(
    covariance_type, global_random_seed, monkeypatch
):
    # Through the environment switch, as users and CI select the engine.
    X, mask, params, reference = _case(covariance_type, 2, global_random_seed)
    data = EMData.build(X, mask)
    informative = np.flatnonzero(~mask.all(axis=1))
    for engine in ENGINES:
        monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, engine)
        for chunk_size in (3, None):
            log_prob_norm, mixture_stats = e_step(data, params, chunk_size=chunk_size)
            stats = mixture_stats.families[0]
            assert_close(log_prob_norm, reference.log_prob_norm, TOL, "log p(x_O)")
            _assert_reference_statistics(
                stats,
                X,
                mask,
                params,
                reference,
                covariance_type,
                "e-step",
                rows=informative,
            )
            weighted = weighted_log_prob(data, params, chunk_size=chunk_size)
            assert_close(
                weighted,
                np.where(mask.all(axis=1)[:, None], 0.0, reference.log_density)
                + np.log(params.weights),
                TOL,
                "weighted log-prob",
            )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_models_of_both_engines_agree(
    covariance_type, global_random_seed, monkeypatch
):
    # 30 EM iterations from the same start: the engines' rounding differs by
    # about 1e-15 per step, and EM, a contraction near its fixed point, does
    # not amplify it; 1e-10 (relative to max(1, |value|)) is far above that.
    rng = np.random.default_rng(global_random_seed)
    params = random_params(rng, 3, 5, "full")
    X, _ = sample_mixture(
        rng, 400, params.weights, params.means, dense_covariances(params)
    )
    X[rng.random(X.shape) < 0.3] = np.nan
    fitted = {}
    for engine in ENGINES:
        monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, engine)
        model = EMMixture(
            n_components=3,
            covariance_type=covariance_type,
            max_iter=30,
            tol=0,
            random_state=0,
        )
        with pytest.warns(Warning):
            model.fit(X)
        fitted[engine] = model
    a, b = fitted["numba"], fitted["numpy"]
    for name in ("weights_", "means_", "covariances_"):
        assert_close(getattr(a, name), getattr(b, name), 1e-10, f"fitted {name}")
    assert_close(a.lower_bound_, b.lower_bound_, 1e-10, "fitted lower bound")
    assert_close(a.score_samples(X), b.score_samples(X), 1e-10, "score_samples")


def test_engine_switch(monkeypatch):
    monkeypatch.delenv(_fused.ENVIRONMENT_VARIABLE, raising=False)
    assert _fused.use_fused("auto")
    assert not _fused.use_fused("numpy")
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, "numpy")
    assert not _fused.use_fused("auto")
    # An explicit engine wins over the environment.
    assert _fused.use_fused("numba")
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, "fast")
    with pytest.raises(ValueError, match="EMIMPUTE_KERNEL"):
        _fused.use_fused("auto")


def test_numpy_kernels_without_numba(monkeypatch):
    # Where numba cannot be imported, 'auto' falls back to the numpy kernels
    # and asking for numba says what to do.
    monkeypatch.delenv(_fused.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(_fused, "numba", None)
    assert not _fused.use_fused("auto")
    with pytest.raises(ImportError, match="pip install numba"):
        _fused.use_fused("numba")
    X, mask, params, reference = _case("full", 2, 0)
    log_prob_norm, _ = e_step(EMData.build(X, mask), params)
    assert_close(log_prob_norm, reference.log_prob_norm, TOL, "fallback log p(x_O)")


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_fused_kernel_reports_an_ill_defined_covariance(covariance_type):
    # A covariance that is not positive definite on the observed block
    # (correlation 2 between features 1 and 2) reaches the kernel only
    # through a hand-made family; the message is the numpy kernel's.
    rng = np.random.default_rng(0)
    params = random_params(rng, 2, 3, covariance_type)
    covariances = dense_covariances(params)
    covariances[:, 1:, 1:] = [[1.0, 2.0], [2.0, 1.0]]
    X = rng.standard_normal((20, 3))
    mask = np.zeros_like(X, dtype=bool)
    mask[:, 0] = True
    X[mask] = np.nan
    from emimpute._em._forms import covariance_form
    from emimpute._em._gaussian import GaussianFamily

    form = covariance_form(covariance_type)
    family = GaussianFamily(
        form,
        params.means,
        form.unstack(covariances[:1] if form.shared else covariances),
        params.gaussian.precisions_cholesky,
    )
    data = EMData.build(X, mask)
    kernel = family.kernel(data, params.weights, route="covariance", engine="numba")
    block = next(iter_blocks(data.patterns, [kernel]))
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        kernel.evaluate(block)


def test_compiled_softmax_matches_scipy_and_numpy(monkeypatch):
    # The compiled log-sum-exp of the E-step against scipy's (an independent
    # reference) on ordinary rows, and against the numpy path on the rows it
    # must reproduce exactly: -inf under some or every component, +inf, NaN.
    # 1e-12: log-sum-exp of K=4 terms shifted by their maximum loses at most
    # a few eps relative; the rows span [-200, 200], so absolute errors stay
    # near 1e-13 on the log-density and 1e-16 on the responsibilities.
    from scipy.special import logsumexp, softmax

    from emimpute._em._estep import responsibilities

    rng = np.random.default_rng(0)
    log_density = rng.uniform(-200.0, 200.0, size=(300, 4))
    log_weights = np.log(rng.dirichlet(np.ones(4)))
    weighted = log_density + log_weights
    norm, resp = _fused.softmax_rows(log_density, log_weights)
    assert_close(norm, logsumexp(weighted, axis=1), TOL, "log p(x_O)")
    assert_close(resp, softmax(weighted, axis=1), TOL, "responsibilities")
    special = log_density[:7].copy()
    special[0] = -np.inf
    special[1, :2] = -np.inf
    special[2, 3] = np.inf
    special[3, 1] = np.nan
    # Entries whose exp underflows, or falls below 1e-304 (both 0 in both
    # passes, see test_responsibilities_are_never_subnormal), and beside a
    # NaN.
    special[4] = [0.0, -745.0, -746.5, -1e4]
    special[5] = [-740.0, -708.5, 0.0, -2000.0]
    special[6] = [np.nan, -1e4, 0.0, -800.0]
    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, "numpy")
    empty_components = np.array([np.log(0.5), np.log(0.5), -np.inf, -np.inf])
    for weights in (log_weights, empty_components, 0.0):
        with np.errstate(all="ignore"):
            expected = responsibilities(special, weights)
        got_all = _fused.softmax_rows(special, weights)
        for got, want in zip(got_all, expected, strict=True):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            finite = np.isfinite(want)
            np.testing.assert_array_equal(got[~finite], want[~finite])
            assert_close(got[finite], want[finite], TOL, "special rows")


@pytest.mark.parametrize("path", ["numba", "numpy"])
def test_responsibilities_are_never_subnormal(path, monkeypatch):
    # A ratio to the row's largest weighted density below exp(-700) (1e-304)
    # gives a responsibility of exactly 0, in both passes: subnormal ones
    # (below 2.2e-308) would slow every product that reads them. Above it,
    # exp as before; the row's total (at least 1) and log-sum-exp keep
    # their bits, as a term below 1e-304 cannot change them.
    from emimpute._em._estep import responsibilities

    monkeypatch.setenv(_fused.ENVIRONMENT_VARIABLE, path)
    weighted = np.array([[0.0, -699.0, -701.0, -709.0], [-3.0, -3.5, -720.0, 0.5]])
    norm, resp = responsibilities(weighted, 0.0)
    assert resp[0, 2] == resp[0, 3] == resp[1, 2] == 0.0
    assert resp[0, 1] == pytest.approx(np.exp(-699.0), rel=1e-13)
    assert not np.any((resp > 0) & (resp < np.finfo(float).tiny))
    total = np.exp(weighted[1] - 0.5)[[0, 1, 3]].sum()
    assert norm[1] == pytest.approx(0.5 + np.log(total), rel=1e-15)
    assert resp.sum(axis=1) == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_batched_and_per_pattern_dense_kernels_match_reference(
    covariance_type, batched, global_random_seed, monkeypatch
):
    # The dense kernel factorises per pattern, or (most rows with a pattern
    # of their own) _LANES rows at a time; each is forced on every block
    # here, with rows of 0..d missing entries, tasks split at pattern and
    # lane boundaries (chunk sizes 1, 5, all), against the per-row
    # reference. Tolerance as the module's (see its docstring).
    from emimpute._em import _fused_dense

    threshold = 0.0 if batched else np.inf
    monkeypatch.setattr(_fused_dense, "BATCHED_MIN_PATTERNS_PER_ROW", threshold)
    # 520 rows of 3 features: blocks of 130 rows, several batches of
    # _LANES, and (every block run in parallel) two row tasks each.
    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    X, mask, params, reference = _case(
        covariance_type, 3, global_random_seed, n_samples=520, n_features=3
    )
    for route in ("auto", "precision"):
        for chunk_size in (1, 5, None):
            data = EMData.build(X, mask)
            kernel = _kernel(data, params, route, "numba")
            for block in iter_blocks(data.patterns, [kernel], chunk_size=chunk_size):
                evaluation = kernel.evaluate(block, moments=True)
                if block.n_missing:
                    conditionals = evaluation.conditionals
                    assert (conditionals.row_pattern is not None) == batched
                    # Imputation's conditional covariances (the batched
                    # kernel makes them only when asked for moments).
                    want = np.stack([reference.cond_covs[i] for i in block.rows], 1)
                    assert_close(
                        conditionals.row_covariances(block.row_pattern),
                        want,
                        TOL,
                        f"batched={batched} {route} chunks of {chunk_size}: C",
                    )
            log_density, stats = _kernel_pass(
                X, mask, params, reference, route, "numba", chunk_size
            )
            what = f"batched={batched} {route} chunks of {chunk_size}"
            assert_close(log_density, reference.log_density, TOL, what)
            _assert_reference_statistics(
                stats, X, mask, params, reference, covariance_type, what
            )


def test_batched_covariance_route_statistics_when_ill_conditioned(
    global_random_seed, monkeypatch
):
    # Where fewer entries are observed than missing, the batched statistics
    # sum the conditional covariances as W S - S G S (G the rows' weighted
    # inv(S_OO), embedded), a difference that cancels as the per-pattern
    # covariance route's S_MM - S_MO inv(S_OO) S_OM does: errors of order
    # eps * cond(S) relative to the statistics. Covariances with
    # eigenvalues from 1e-3 to 1e3 (condition 1e6, below the limit of 1e7
    # up to which blocks are batched), rows with 0..8 of 8 entries missing,
    # against the per-row reference (itself exact only to about eps *
    # cond): 2e-12 to 5e-12 measured, below eps * cond = 2.2e-10; 1e-9
    # bounds that with a factor of 4, and a wrong or missing term fails by
    # far more.
    from emimpute._em import _fused_dense

    monkeypatch.setattr(_fused_dense, "BATCHED_MIN_PATTERNS_PER_ROW", 0.0)
    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    rng = np.random.default_rng(global_random_seed)
    n_features = 8
    params = random_params(rng, 3, n_features, "full")
    covariances = []
    for _ in range(3):
        q, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
        covariance = (q * np.geomspace(1e-3, 1e3, n_features)) @ q.T
        covariances.append(0.5 * (covariance + covariance.T))
    params = type(params).from_covariances(
        params.weights, params.means, np.stack(covariances), "full"
    )
    X, _ = sample_mixture(rng, 450, params.weights, params.means, covariances)
    mask = _every_count_mask(rng, len(X), n_features)
    X[mask] = np.nan
    reference = reference_e_step(X, mask, params)
    kernel = _kernel(EMData.build(X, mask), params, "auto", "numba").inner
    assert not kernel.any_ill_conditioned
    assert kernel._observed_route(5, n_features, moments=False)
    _, stats = _kernel_pass(X, mask, params, reference, "auto", "numba", None)
    nk, s1, s2 = _reference_statistics(
        X, mask, params, reference, stats.shift, range(len(X))
    )
    assert_close(stats.s1, s1, 1e-9, "s1", scale=norm_scale(s1))
    assert_close(stats.s2, s2, 1e-9, "s2", scale=norm_scale(s2))


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_batched_statistics_leave_out_only_negligible_weights(
    covariance_type, global_random_seed, monkeypatch
):
    # The batched kernel inverts a row's P_MM only where its responsibility
    # exceeds NEGLIGIBLE_WEIGHT (2^-52, ~2.2e-16) times the component's mean
    # responsibility over the block's rows (at most 1 here: floors below
    # 2.2e-16). Responsibilities set to exactly 0, to 1e-20 (left out
    # wherever the component's mean over the block exceeds 4.5e-5) and to
    # 1e-10 (kept) on random rows, mixed within each lane group, against the
    # per-row reference, which adds every term: the terms left out weigh at
    # most 2.2e-16 times the block's weight of their component, times ||C||
    # (C's eigenvalues <= 2 here), far below TOL. What the test catches: a
    # weighing row left out or given another row's inverse (the kept rows
    # are packed into lanes past the left-out ones), including lane groups
    # where a component weighs nothing at all. With full covariances the same
    # rows are left out of the component's first and second moments (the
    # scatter's product takes the packed rows that weigh, see
    # test_rank_weighing_rows_packs_them_in_row_order).
    from emimpute._em import _fused_dense

    monkeypatch.setattr(_fused_dense, "BATCHED_MIN_PATTERNS_PER_ROW", 0.0)
    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    X, mask, params, reference = _case(
        covariance_type, 3, global_random_seed, n_samples=520, n_features=3
    )
    rng = np.random.default_rng(global_random_seed)
    resp = reference.resp.copy()
    choice = rng.integers(0, 4, size=len(X))
    resp[choice == 0, 0] = 0.0
    resp[choice == 1, 1] = 1e-20
    resp[choice == 2, 2] = 1e-10
    # Component 1 weighs nothing on the second half of the rows.
    resp[len(X) // 2 :, 1] = 0.0
    reference.resp = resp
    for chunk_size in (5, None):
        _, stats = _kernel_pass(X, mask, params, reference, "auto", "numba", chunk_size)
        _assert_reference_statistics(
            stats,
            X,
            mask,
            params,
            reference,
            covariance_type,
            f"chunks of {chunk_size}",
        )


def test_batched_log_determinant_beyond_the_products_range(
    global_random_seed, monkeypatch
):
    # The batched kernel multiplies up to _LOG_GROUP (16) diagonal entries
    # of a factor per logarithm while the product stays in [1e-150, 1e150],
    # else takes a logarithm per entry. Coordinates rescaled by 1e-40 to
    # 1e40 (the factors' diagonals by the inverse) put most products of
    # rows with up to 16 of 18 entries missing out of that range. The
    # reference: the per-row one on the unscaled data, minus the log-scales
    # of the observed coordinates (the change of variables; scipy cannot
    # factorise the rescaled covariances). The log-densities reach about
    # 1e3 in magnitude: relative 1e-12, as the module's tolerance.
    from emimpute._em import _fused_dense
    from emimpute._em._params import MixtureParams

    monkeypatch.setattr(_fused_dense, "BATCHED_MIN_PATTERNS_PER_ROW", 0.0)
    rng = np.random.default_rng([global_random_seed, 17])
    n_features = 18
    params = random_params(rng, 2, n_features, "full")
    covariances = dense_covariances(params)
    X, _ = sample_mixture(rng, 200, params.weights, params.means, covariances)
    mask = _every_count_mask(rng, len(X), n_features)
    X[mask] = np.nan
    reference = reference_e_step(X, mask, params)
    scales = 10.0 ** rng.uniform(-40, 40, size=n_features)
    scaled = MixtureParams.from_covariances(
        params.weights,
        params.means * scales,
        covariances * np.outer(scales, scales),
        "full",
    )
    log_density, _ = _kernel_pass(
        X * scales, mask, scaled, reference, "auto", "numba", None
    )
    jacobian = (~mask * np.log(scales)).sum(axis=1)
    expected = reference.log_density - jacobian[:, np.newaxis]
    assert np.abs(expected).max() > 150 * np.log(10)
    assert_close(log_density, expected, TOL, "log-density")


def test_rank_weighing_rows_packs_them_in_row_order():
    # Rows whose responsibility for k is above its floor and above eps^2 of
    # the row's own weight get consecutive positions in row order; the others
    # -1. The counts are the packed rows of each component's scatter.
    from emimpute._em._fused_weighing import _rank_weighing_rows
    from emimpute._em._stats import NEGLIGIBLE_WEIGHT

    resp = np.array(
        [
            [1.0, 0.0, 1e-40],
            [0.5, 0.5, 0.0],
            [1e-20, 1.0, 0.0],
            [1e-3, 1e-33, 1.0 - 1e-3],
            [0.0, 0.0, 0.0],  # a row of weight 0 enters nothing
        ]
    )
    floors = np.array([1e-18, 1e-18, 1e-50])
    ranks = np.empty(resp.shape, np.intp)
    counts = _rank_weighing_rows(resp, floors, ranks)
    expected = np.array(
        [[0, -1, -1], [1, 0, -1], [-1, 1, -1], [2, -1, 0], [-1, -1, -1]]
    )
    assert np.array_equal(ranks, expected)
    assert np.array_equal(counts, [3, 2, 1])
    # 1e-40 is above component 2's floor but below eps^2 (~4.9e-32) times
    # the row's weight 1: left out by the second bound.
    assert 1e-40 < NEGLIGIBLE_WEIGHT**2


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_diagonal_kernels_on_tiles_and_tasks(
    covariance_type, global_random_seed, monkeypatch
):
    # The diagonal kernels work on tiles of 64 rows read straight from X:
    # blocks of 130 rows (520 rows, 3 features) span three tiles, the last
    # one partial, and (every block run in parallel) two row tasks.
    # Tolerance as the module's (see its docstring).
    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    X, mask, params, reference = _case(
        covariance_type, 3, global_random_seed, n_samples=520, n_features=3
    )
    log_density, stats = _kernel_pass(X, mask, params, reference, "auto", "numba", None)
    assert_close(log_density, reference.log_density, TOL, "tiles: log-density")
    _assert_reference_statistics(
        stats, X, mask, params, reference, covariance_type, "tiles"
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_complete_rows_on_tasks(covariance_type, global_random_seed, monkeypatch):
    # Complete rows take one wide product with the Cholesky factors and a
    # compiled pass over the rows side by side: 520 complete rows in one
    # block, run as 8 row tasks (every block run in parallel), and in chunks
    # of 37 rows (a partial vector at each block's end), against the per-row
    # reference and the numpy kernel. Tolerance as the module's.
    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    rng = np.random.default_rng([global_random_seed, 11])
    params = random_params(rng, 3, 5, covariance_type)
    X, _ = sample_mixture(
        rng, 520, params.weights, params.means, dense_covariances(params)
    )
    mask = np.zeros(X.shape, dtype=bool)
    reference = reference_e_step(X, mask, params)
    for chunk_size in (None, 37):
        got = {
            engine: _kernel_pass(X, mask, params, reference, "auto", engine, chunk_size)
            for engine in ENGINES
        }
        what = f"complete rows, chunks of {chunk_size}"
        assert_close(got["numba"][0], reference.log_density, TOL, what)
        assert_close(got["numba"][0], got["numpy"][0], TOL, what)
        _assert_reference_statistics(
            got["numba"][1], X, mask, params, reference, covariance_type, what
        )


def test_fused_scratch_stays_within_its_estimate():
    # The chunk size comes from floats_per_row: the scratch arrays a block of
    # the fused kernel borrows in an E-step (centred rows, products,
    # log-densities, conditional means, completions) must fit in it, or the
    # 16 MiB budget per chunk would not hold. Many patterns (the batched
    # path) and few (per pattern), every number of missing entries but d.
    from emimpute._em._blocks import BlockMemo

    rng = np.random.default_rng(7)
    n_features, n_components = 12, 3
    params = random_params(rng, n_components, n_features, "full")
    X = rng.standard_normal((3000, n_features))
    X[rng.random(X.shape) < 0.4] = np.nan
    X[:1500][_every_count_mask(rng, 1500, n_features)[:1500]] = np.nan
    data = EMData.build(X)
    kernel = params.gaussian.kernel(data, params.weights, engine="numba")
    memo = BlockMemo(keep_gathers=False)
    checked = 0
    for block in iter_blocks(data.patterns, [kernel], chunk_size=400, memo=memo):
        if block.n_missing == n_features:
            continue
        evaluation = kernel.evaluate(block, moments=False)
        # Complete rows: the wide product and the compiled pass.
        assert isinstance(evaluation.conditionals, FusedConditionals) == (
            block.n_missing > 0
        )
        resp = np.full((len(block.rows), n_components), 1.0 / n_components)
        kernel.statistics(block, resp, evaluation)
        borrowed = sum(buffer.size for buffer in memo._scratch.__dict__.values())
        assert borrowed <= kernel.floats_per_row(block.n_missing) * len(block.rows)
        memo._scratch.__dict__.clear()
        checked += 1
    assert checked > n_features
