"""Imputation under diagonal and spherical covariances: vectors, not matrices.

Under such a component the missing part of a row is independent of its
observed part: its conditional means and variances are the component's on
the missing coordinates, and a draw is ``mean + sqrt(var) * z``. The kernel
once built them as a ``(K, n_patterns, r, r)`` stack of diagonal matrices
and Cholesky-factorised it for every draw (``O(n K r^2)`` memory and up to
``O(n K r^3)`` time where ``O(n K d)`` was promised). These tests compare
every imputation method with that dense path, rebuilt here from the vectors
exactly as the kernel built it, and bound the memory of a transform where
the dense path took hundreds of MiB.

Tolerances: conditional means and standard deviations are the same
arithmetic on the same gathered values, compared bit for bit. Draws: the
Cholesky factor of ``diag(v)`` (``v > 0``) is ``diag(sqrt(v))`` to the bit
in LAPACK's ``potrf`` (the square root of ``v_j`` minus a sum of zeros,
zeros divided), and ``L z`` adds exact zeros to ``sqrt(v_i) z_i``, so the
same normals give the same bits (as measured against the former code); they
are compared to 4 ulps of the data's largest entry, room for a LAPACK that
rounds its factor otherwise by an ulp, nothing more.
"""

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

from emimpute import EMImputer, multiple_impute
from emimpute._em._blocks import _CHUNK_FLOATS
from emimpute._em._conditional_draws import cholesky_noise, diagonal_noise
from emimpute._em._diagonal import DiagonalConditionals, DiagonalKernel
from emimpute._em._gaussian_block import Conditionals

_EPS = np.finfo(float).eps


def _data(seed, n_samples=120, n_features=6, categorical=False):
    """Three offset clusters of unequal spreads, 30% MCAR, 4 empty rows."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.standard_normal((3, n_features))
    X = (
        rng.standard_normal((n_samples, n_features)) * rng.uniform(0.5, 3, n_features)
        + centres[rng.integers(3, size=n_samples)]
        + 50.0
    )
    X[rng.random(X.shape) < 0.3] = np.nan
    X[:4] = np.nan
    if not categorical:
        return X
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(n_features)])
    codes = pd.Categorical(rng.choice(["a", "b", "c"], size=n_samples))
    frame["c"] = pd.Series(codes).where(rng.random(n_samples) >= 0.2)
    return frame


class _DensePath:
    """The diagonal kernel's former moments: ``diag(v)`` matrices per pattern.

    Patches ``DiagonalKernel.evaluate`` (which the fused kernel calls for
    moments) to return :class:`Conditionals` with the stack the kernel used
    to build, ``pattern_variances[..., None] * eye(r)``, which imputation
    then reads through ``np.diagonal`` and factorises with
    ``cholesky_noise``.
    """

    def __init__(self, monkeypatch):
        self.calls = 0
        evaluate = DiagonalKernel.evaluate

        def dense(kernel, block, moments=True):
            conditionals = evaluate(kernel, block, moments)
            if not moments:
                return conditionals
            self.calls += 1
            covariances = conditionals.pattern_variances[..., np.newaxis] * np.eye(
                block.n_missing
            )
            return Conditionals(
                conditionals.log_density,
                conditionals.means,
                covariances,
                conditionals.deviations,
            )

        monkeypatch.setattr(DiagonalKernel, "evaluate", dense)


def _tables(result):
    """Numeric and categorical arrays of a method's output(s)."""
    if isinstance(result, tuple | list):
        return [table for part in result for table in _tables(part)]
    frame = pd.DataFrame(result)
    numeric = frame.select_dtypes("number")
    rest = frame.drop(columns=numeric.columns)
    return [numeric.to_numpy(float), rest.to_numpy().astype(str)]


_METHODS = (
    "transform",
    "return_std",
    "sample_posterior",
    "parameter_uncertainty",
    "multiple_bootstrap",
    "multiple_posterior",
)
_DRAWS = _METHODS[2:]


def _run(method, X, kind, n_components, seed):
    params = dict(
        n_components=n_components,
        covariance_type=kind,
        max_iter=3,
        random_state=seed,
    )
    if method in ("transform", "return_std"):
        imputer = EMImputer(**params).fit(X)
        return imputer.transform(X, return_std=method == "return_std")
    if method.startswith("multiple_"):
        return multiple_impute(
            X,
            2,
            imputer=EMImputer(**params),
            method=method.removeprefix("multiple_"),
            random_state=seed,
        )
    # Two transforms from one stream: the second continues where the first
    # stopped, so both consume the normals in the same order.
    params["random_state"] = np.random.RandomState(seed)
    uncertainty = "posterior" if method == "parameter_uncertainty" else False
    imputer = EMImputer(
        **params, sample_posterior=True, parameter_uncertainty=uncertainty
    ).fit(X)
    return [imputer.transform(X), imputer.transform(X)]


# (covariance_type, n_components, categorical column): mixtures of both
# forms; one component, whose draws on numeric columns skip the kernel
# (below); a categorical column, whose draws share the stream.
_MODELS = [
    ("diag", 3, False),
    ("spherical", 3, False),
    ("diag", 1, False),
    ("spherical", 3, True),
    ("diag", 1, True),
]


# Every method on every model, but return_std on mixed tables (it is for
# numeric data).
_CASES = [
    pytest.param(method, *model, id=f"{method}-{model[0]}-{model[1]}-{kind}")
    for method in _METHODS
    for model in _MODELS
    for kind in ["mixed" if model[2] else "numeric"]
    if not (method == "return_std" and model[2])
]


@pytest.mark.parametrize("method, kind, n_components, categorical", _CASES)
def test_imputations_equal_the_dense_path(
    method, kind, n_components, categorical, global_random_seed, monkeypatch
):
    X = _data(global_random_seed, categorical=categorical)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vectors = _tables(_run(method, X, kind, n_components, global_random_seed))
        with monkeypatch.context() as patch:
            dense_path = _DensePath(patch)
            dense = _tables(_run(method, X, kind, n_components, global_random_seed))
    # One Gaussian on numeric columns draws in one compiled pass
    # (``_augmentation``, when numba is there), with no kernel moments;
    # every other case went through the patched path.
    one_gaussian_draws = n_components == 1 and not categorical and method in _DRAWS
    assert dense_path.calls > 0 or one_gaussian_draws
    assert len(vectors) == len(dense)
    scale = np.nanmax(np.abs(np.asarray(pd.DataFrame(X).select_dtypes("number"))))
    for new, old in zip(vectors, dense, strict=True):
        if method in _DRAWS and new.dtype.kind == "f":
            np.testing.assert_allclose(new, old, rtol=0, atol=4 * _EPS * scale)
        else:
            np.testing.assert_array_equal(new, old)


def test_diagonal_noise_is_cholesky_noise_of_diagonal_matrices(global_random_seed):
    # sqrt(v) * z against L z with L = cholesky(diag(v)), components and
    # patterns interleaved; variances over 12 orders of magnitude. Same
    # tolerance as above (bits equal where LAPACK's factor is sqrt(v)).
    rng = np.random.default_rng(global_random_seed)
    variances = 10.0 ** rng.uniform(-6, 6, size=(3, 5, 4))
    component = rng.integers(3, size=40)
    row_pattern = rng.integers(5, size=40)
    z = rng.standard_normal((40, 4))
    dense = variances[..., np.newaxis] * np.eye(4)
    want = cholesky_noise(dense, component, row_pattern, z)
    got = diagonal_noise(variances, component, row_pattern, z)
    np.testing.assert_allclose(got, want, rtol=4 * _EPS, atol=0)
    conditionals = DiagonalConditionals(None, None, variances)
    np.testing.assert_array_equal(conditionals.noise(component, row_pattern, z), got)
    np.testing.assert_array_equal(
        conditionals.row_covariances(row_pattern),
        dense[:, row_pattern],
    )
    np.testing.assert_array_equal(
        conditionals.variances(row_pattern), variances[:, row_pattern]
    )


@pytest.mark.parametrize("kind", ["diag", "spherical"])
def test_imputation_memory_is_linear_in_missing_entries(kind):
    # 400 rows x 300 features, 150 missing in each row at its own places:
    # one group of one block, a pattern per row. The dense path's stack of
    # conditional covariances alone was 2 x 400 x 150^2 floats (137 MiB);
    # tracemalloc peaks measured before the change (diag and spherical
    # alike): transform 146 MiB, return_std 148 MiB, draws 352 MiB (and
    # 14 to 18 s, the Cholesky factorisations); after: 9.6, 11.9 and
    # 10.1 MiB (0.1 s), for a 0.9 MiB input. The bound: the chunk's scratch
    # budget (16 MiB) plus eight copies of the input.
    rng = np.random.default_rng(0)
    n_samples, n_features, n_missing = 400, 300, 150
    centres = 3.0 * rng.standard_normal((2, n_features))
    X = (
        rng.standard_normal((n_samples, n_features))
        + centres[rng.integers(2, size=n_samples)]
    )
    holes = np.argsort(rng.random(X.shape), axis=1)[:, :n_missing]
    np.put_along_axis(X, holes, np.nan, axis=1)
    params = dict(n_components=2, covariance_type=kind, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imputer = EMImputer(**params).fit(X)
        sampler = EMImputer(**params, sample_posterior=True).fit(X)
    bound = 8 * _CHUNK_FLOATS + 8 * X.nbytes
    for call in (
        lambda: imputer.transform(X),
        lambda: imputer.transform(X, return_std=True),
        lambda: sampler.transform(X),
    ):
        call()  # compiled kernels and caches outside the measure
        tracemalloc.start()
        try:
            result = call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert np.isfinite(np.asarray(_tables(result)[0])).all()
        assert peak < bound, (peak / 2**20, bound / 2**20)
