"""Reliability report: the figures of RELIABILITY.md section (d).

    python -m benchmarks.bench_reliability            # full run (a few minutes)
    python -m benchmarks.bench_reliability --quick    # smoke run (< 1 minute)
    python -m benchmarks.bench_reliability --output reliability.md

Runs, in this process, the adversarial catalogue of RELIABILITY.md (b)
programmatically (every bad input, every degenerate data set), random
incomplete data sets through both estimators (observed cells, input
mutation, finiteness), pickle/joblib round trips, determinism within and
across processes, concurrent calls from threads, unregularised EM fits
(log-likelihood decreases), the n_init / fit_predict / convergence-warning
contracts, the oracles (GaussianMixture, scipy, closed form, scale), and
scikit-learn's estimator checks; the full run also runs the reliability and
property test files under pytest. Prints one markdown block, ready for the
README's reliability section.
"""

import argparse
import json
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import scipy
import scipy.sparse as sp
import sklearn
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

import emimpute
from emimpute import EMImputer, EMMixture

REPO = Path(__file__).resolve().parent.parent
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ESTIMATORS = {"EMImputer": EMImputer, "EMMixture": EMMixture}
POST_FIT = {
    "EMImputer": ("transform", "score"),
    "EMMixture": ("score", "score_samples", "predict", "predict_proba", "bic"),
}
FIT = {"EMImputer": ("fit", "fit_transform"), "EMMixture": ("fit", "fit_predict")}
ILL_DEFINED = "ill-defined empirical covariance"
# Exceptions that must never reach the user, and scipy/LAPACK wording that
# would mean a sub-step's message leaked.
LEAKED_TYPES = (
    np.linalg.LinAlgError,
    FloatingPointError,
    UnboundLocalError,
    NameError,
    ZeroDivisionError,
    IndexError,
    KeyError,
    AttributeError,
)
LEAKED_WORDING = re.compile(
    r"array must not contain infs or NaNs|leading minor|not positive definite|"
    r"singular matrix|LAPACK|lapack",
    re.IGNORECASE,
)
MONOTONE_TOL = 1e-9  # relative to max(1, |log-likelihood|), as the tests


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------
def _clusters(seed, n=60, d=3, k=2, rate=0.2, distance=6.0):
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(k):
        shape = np.eye(d) + 0.3 * rng.normal(size=(d, d))
        parts.append(rng.normal(size=(n // k, d)) @ shape + distance * j)
    X = rng.permutation(np.vstack(parts))
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    return X, Xm[~np.all(np.isnan(Xm), axis=1)]


def _train():
    _, Xm = _clusters(0, n=30)
    Xm[:, 0] = np.nan_to_num(Xm[:, 0], nan=1.0)
    return Xm


def _random_incomplete(rng):
    """A random data set as in RELIABILITY.md (c): correlated, scaled by a
    power of ten, shifted, MCAR holes, one observed value per feature kept;
    sometimes a constant feature, duplicated rows or an empty row."""
    n, d = int(rng.integers(3, 41)), int(rng.integers(1, 7))
    scale = float(rng.choice([1e-6, 1e-3, 1.0, 1e3, 1e6]))
    offset = float(rng.uniform(-1e3, 1e3))
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * scale + offset
    mask = rng.random((n, d)) < rng.uniform(0.0, 0.6)
    variant = rng.choice(["plain", "plain", "constant", "duplicates", "empty-row"])
    if variant == "constant":
        X[:, rng.integers(d)] = offset
    elif variant == "duplicates" and n >= 4:
        X[n // 2 :] = X[: n - n // 2]
        mask[n // 2 :] = mask[: n - n // 2]
    mask[rng.integers(n, size=d), np.arange(d)] = False
    if variant == "empty-row":
        row = int(rng.integers(n))
        mask[row] = True
        others = np.delete(np.arange(n), row)
        mask[rng.choice(others, size=d), np.arange(d)] = False
    dtype = np.float32 if rng.random() < 0.3 else np.float64
    X = X.astype(dtype)
    X[mask] = np.nan
    return X, mask


def _dense_covariances(model):
    covariances = np.asarray(model.covariances_)
    n_components, d = model.means_.shape
    if model.covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, d, d))
    if covariances.ndim == 3:
        return covariances
    if covariances.ndim == 1:
        return covariances[:, None, None] * np.eye(d)
    return np.stack([np.diag(c) for c in covariances])


# ----------------------------------------------------------------------------
# running one case
# ----------------------------------------------------------------------------
@dataclass
class Tally:
    """Counts of one group of cases."""

    tried: int = 0
    passed: int = 0
    leaked: int = 0
    numpy_warnings: int = 0
    failures: list = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)


def _is_numpy_warning(record):
    """A numpy floating-point RuntimeWarning raised inside emimpute."""
    return (
        issubclass(record.category, RuntimeWarning)
        and "emimpute" in str(record.filename)
        and "log-likelihood decreased" not in str(record.message)
    )


def run_case(tally, label, call, *, raises=None, match=None, check=None):
    """Run ``call``; it must raise ``raises`` matching ``match``, or return a
    result for which ``check`` is true."""
    tally.tried += 1
    ok, leaked = False, False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - every outcome is recorded
            ok = (
                raises is not None
                and isinstance(exc, raises)
                and re.search(match, str(exc)) is not None
            )
            # (NotFittedError is also an AttributeError: expected, not leaked.)
            leaked = not ok and (
                isinstance(exc, LEAKED_TYPES) or bool(LEAKED_WORDING.search(str(exc)))
            )
            outcome = f"{type(exc).__name__}: {str(exc)[:120]}"
        else:
            ok = raises is None and (check is None or bool(check(result)))
            outcome = "returned"
    numpy_warnings = sum(_is_numpy_warning(r) for r in caught)
    for record in caught:
        tally.warnings[record.category.__name__] += 1
    tally.passed += ok
    tally.leaked += leaked
    tally.numpy_warnings += numpy_warnings
    if not ok:
        tally.failures.append(f"{label}: {outcome}")


def _finite(result):
    arrays = result if isinstance(result, tuple) else (result,)
    return all(np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays)


# ----------------------------------------------------------------------------
# 1. the adversarial catalogue
# ----------------------------------------------------------------------------
def _bad_input_cases(tally):
    """Catalogue 1-15, 23 and 29: bad inputs raise the documented error."""
    X = _train()
    fitted = {
        name: E(n_components=2, random_state=0).fit(X) for name, E in ESTIMATORS.items()
    }
    text = X.astype(object)
    text[4, 1] = "abc"
    with_dict = X.astype(object)
    with_dict[0, 0] = {"a": 1}
    dense = np.nan_to_num(X)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    bad_inputs = {
        "+inf": (_set(X, (1, 2), np.inf), ValueError, "Input X contains infinity"),
        "-inf": (_set(X, (5, 0), -np.inf), ValueError, "Input X contains infinity"),
        "text": (text, ValueError, "could not convert string to float"),
        "dict in object array": (
            with_dict,
            TypeError,
            "argument must be .* string.* number",
        ),
        "complex": (X + 1j, ValueError, "Complex data not supported"),
        "1-D": (X[:, 1], ValueError, "Expected 2D array, got 1D array instead"),
        "3-D": (X[:, :, None], ValueError, "Found array with dim 3"),
        "0 rows": (X[:0], ValueError, r"Found array with 0 sample\(s\)"),
    }
    for container in (sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array):
        bad_inputs[f"sparse {container.__name__}"] = (
            container(dense),
            TypeError,
            "Sparse data was passed for X, but dense data is required",
        )
    for name, E in ESTIMATORS.items():
        for label, (bad, exc, match) in bad_inputs.items():
            for method in FIT[name]:
                run_case(
                    tally,
                    f"{name}.{method}({label})",
                    lambda E=E, m=method, b=bad: getattr(
                        E(n_components=2, random_state=0), m
                    )(b),
                    raises=exc,
                    match=match,
                )
            for method in POST_FIT[name]:
                run_case(
                    tally,
                    f"{name}.{method}({label}) after fit",
                    lambda f=fitted[name], m=method, b=bad: getattr(f, m)(b),
                    raises=exc,
                    match=match,
                )
        run_case(
            tally,
            f"{name}.fit(0 columns)",
            lambda E=E: E().fit(X[:, :0]),
            raises=ValueError,
            match=r"0 feature\(s\) \(shape=\(\d*, 0\)\)",
        )
        for n_features in (2, 4):
            wrong = np.column_stack([X, X])[:, :n_features]
            for method in POST_FIT[name]:
                run_case(
                    tally,
                    f"{name}.{method}({n_features} features)",
                    lambda f=fitted[name], m=method, w=wrong: getattr(f, m)(w),
                    raises=ValueError,
                    match=f"X has {n_features} features, but {name} is expecting 3",
                )
        on_frame = E(n_components=2, random_state=0).fit(frame)
        for label, changed in (
            ("reordered", frame[["b", "a", "c"]]),
            ("renamed", frame.rename(columns={"a": "z"})),
        ):
            for method in POST_FIT[name]:
                run_case(
                    tally,
                    f"{name}.{method}(columns {label})",
                    lambda f=on_frame, m=method, c=changed: getattr(f, m)(c),
                    raises=ValueError,
                    match="The feature names should match those that were passed",
                )
        object_na = frame.astype({"b": object})
        object_na.loc[3, "b"] = pd.NA
        run_case(
            tally,
            f"{name}.fit(object column with pd.NA)",
            lambda E=E, o=object_na: E().fit(o),
            raises=TypeError,
            match="NAType",
        )
        for param, value in (
            ("n_components", 0),
            ("covariance_type", "foo"),
            ("tol", -1.0),
            ("reg_covar", -1.0),
            ("max_iter", -1),
            ("n_init", 0),
            ("init_params", "x"),
            ("random_state", "a"),
        ):
            run_case(
                tally,
                f"{name}({param}={value!r}).fit",
                lambda E=E, p=param, v=value: E(**{p: v}).fit(X),
                raises=InvalidParameterError,
                match=f"The '{param}' parameter of {name} must be",
            )
        for method in POST_FIT[name] + (("sample",) if name == "EMMixture" else ()):
            args = (3,) if method == "sample" else (X,)
            run_case(
                tally,
                f"unfitted {name}.{method}",
                lambda E=E, m=method, a=args: getattr(E(), m)(*a),
                raises=NotFittedError,
                match=f"This {name} instance is not fitted yet",
            )
        run_case(
            tally,
            f"{name}(n_components=5).fit(3 rows)",
            lambda E=E: E(n_components=5).fit(X[:3]),
            raises=ValueError,
            match="Expected n_samples >= n_components but got n_components = 5, "
            "n_samples = 3",
        )
    marked = np.nan_to_num(X, nan=-1.0)
    run_case(
        tally,
        "EMImputer(missing_values=-1).fit(NaN)",
        lambda: EMImputer(missing_values=-1).fit(X),
        raises=ValueError,
        match="Input X contains NaN",
    )
    run_case(
        tally,
        "EMImputer(missing_values=-1).transform(NaN)",
        lambda: EMImputer(missing_values=-1).fit(marked).transform(X),
        raises=ValueError,
        match="Input X contains NaN",
    )
    run_case(
        tally,
        "EMImputer(missing_values=-1).fit(inf)",
        lambda: EMImputer(missing_values=-1).fit(_set(marked, (0, 1), np.inf)),
        raises=ValueError,
        match="Input X contains infinity",
    )
    run_case(
        tally,
        "EMMixture.fit(1 row)",
        lambda: EMMixture().fit(X[:1]),
        raises=ValueError,
        match=r"1 sample\(s\)",
    )
    run_case(
        tally,
        "EMMixture.sample(0)",
        lambda: fitted["EMMixture"].sample(0),
        raises=ValueError,
        match="Invalid value for 'n_samples': 0",
    )
    empty_column = _set(X, (slice(None), 1), np.nan)
    run_case(
        tally,
        "EMMixture.fit(all-NaN column)",
        lambda: EMMixture().fit(empty_column),
        raises=ValueError,
        match=re.escape("features without any observed value: [1]"),
    )


def _set(X, index, value):
    X = X.copy()
    X[index] = value
    return X


def _good_input_cases(tally):
    """Catalogue 4, 11, 12, 15-23: unusual but valid inputs give the
    documented result (identical to the plain float64 array where it
    applies)."""
    X = _train()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "X.npy"
        np.save(path, X)
        read_only = X.copy()
        read_only.flags.writeable = False
        wide = np.zeros((len(X), 6))
        wide[:, ::2] = X
        mask = np.isnan(X)
        ints = np.round(X * 10)
        nullable = pd.DataFrame(
            {
                "a": pd.array(ints[:, 0].astype(np.int64), dtype="Int64"),
                "b": pd.array(
                    [
                        None if m else v
                        for v, m in zip(ints[:, 1], mask[:, 1], strict=True)
                    ],
                    dtype="Int64",
                ),
                "c": pd.array(
                    [
                        None if m else v
                        for v, m in zip(X[:, 2], mask[:, 2], strict=True)
                    ],
                    dtype="Float64",
                ),
            }
        )
        nullable_ref = np.column_stack([ints[:, :2], X[:, 2]])
        layouts = {
            "object array of numbers": (X.astype(object), X),
            "read-only": (read_only, X),
            "memmap": (np.load(path, mmap_mode="r"), X),
            "Fortran-ordered": (np.asfortranarray(X), X),
            "strided view": (wide[:, ::2], X),
            "pandas Int64/Float64 with pd.NA": (nullable, nullable_ref),
        }
        for name, E in ESTIMATORS.items():
            outputs = _output_function(name)
            for label, (value, reference) in layouts.items():
                expected = outputs(
                    E(n_components=2, random_state=0).fit(reference), reference
                )
                run_case(
                    tally,
                    f"{name} on {label}",
                    lambda E=E, v=value, e=expected, o=outputs: _same(
                        o(E(n_components=2, random_state=0).fit(v), v), e
                    ),
                    check=bool,
                )
    marked = np.where(np.isnan(X), -1, np.round(X * 10)).astype(np.int64)
    run_case(
        tally,
        "EMImputer(missing_values=-1) on int data",
        lambda: EMImputer(missing_values=-1, random_state=0).fit_transform(marked),
        check=lambda Xt: (
            np.all(Xt[marked != -1] == marked[marked != -1])
            and not np.any(Xt[marked == -1] == -1)
        ),
    )
    complete = np.nan_to_num(X)
    run_case(
        tally,
        "EMImputer on data without missing values",
        lambda: EMImputer(add_indicator=True).fit(complete),
        check=lambda m: (
            np.array_equal(m.transform(complete), complete) and m.n_iter_ >= 1
        ),
    )
    empty_column = _set(X, (slice(None), 1), np.nan)
    run_case(
        tally,
        "EMImputer all-NaN column dropped with warning",
        lambda: _warns(
            lambda: EMImputer().fit_transform(empty_column),
            r"Skipping features without any observed values: \[1\]",
        ),
        check=lambda Xt: Xt.shape == (len(X), 2) and _finite(Xt),
    )
    empty_row = _set(X, 3, np.nan)
    run_case(
        tally,
        "EMMixture all-NaN row: score 0, proba == weights_",
        lambda: EMMixture(2, random_state=0).fit(empty_row),
        check=lambda m: (
            m.score_samples(empty_row)[3] == 0.0
            and np.allclose(m.predict_proba(empty_row)[3], m.weights_, rtol=1e-14)
        ),
    )
    run_case(
        tally,
        "EMImputer all-NaN row gets the mixture mean",
        lambda: EMImputer(n_components=2, random_state=0).fit(empty_row),
        check=lambda m: np.allclose(
            m.transform(empty_row)[3], m.weights_ @ m.means_, rtol=1e-12
        ),
    )
    one_value = _set(X, (slice(None), 2), np.nan)
    one_value[5, 2] = 7.25
    run_case(
        tally,
        "EMImputer feature with one observed value",
        lambda: EMImputer().fit_transform(one_value),
        check=lambda Xt: np.allclose(Xt[:, 2], 7.25, rtol=1e-12),
    )
    run_case(
        tally,
        "EMImputer single-row fit",
        lambda: EMImputer().fit_transform(np.array([[1.0, 2.0, 3.0]])),
        check=lambda Xt: np.array_equal(Xt, [[1.0, 2.0, 3.0]]),
    )
    no_complete = np.random.default_rng(0).normal(size=(60, 3))
    no_complete[np.arange(60), np.arange(60) % 3] = np.nan
    for name, E in ESTIMATORS.items():
        outputs = _output_function(name)
        run_case(
            tally,
            f"{name} without a complete row",
            lambda E=E, o=outputs: o(E(random_state=0).fit(no_complete), no_complete),
            check=_finite,
        )


def _warns(call, match):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    if not any(re.search(match, str(r.message)) for r in caught):
        raise AssertionError(f"no warning matching {match!r}")
    return result


def _output_function(name):
    if name == "EMImputer":
        return lambda m, X: (m.transform(X), np.array([m.score(X)]))
    return lambda m, X: (m.score_samples(X), m.predict_proba(X))


def _same(got, expected):
    return all(
        np.array_equal(a, b, equal_nan=True) for a, b in zip(got, expected, strict=True)
    )


def _numerical_cases(tally):
    """Catalogue 24-34: degenerate data, dtypes, far points, one feature."""
    _, Xm = _clusters(1)
    constant = np.column_stack([Xm, np.where(np.isnan(Xm[:, 0]), np.nan, 5.0)])
    collinear = Xm.copy()
    collinear[:, 2] = 2 * Xm[:, 0] + 1
    wide = np.random.default_rng(2).normal(size=(5, 20))
    duplicates = np.repeat([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], 10, axis=0)
    one_value = _set(Xm, (slice(None), 2), np.nan)
    one_value[5, 2] = 7.25
    degenerate = {
        "constant column": (constant, ("full", "tied", "diag"), 1),
        "collinear columns": (collinear, ("full", "tied"), 1),
        "n < d (5 x 20)": (wide, ("full", "tied"), 1),
        "duplicated points": (duplicates, COVARIANCE_TYPES, 3),
        "one observed value": (one_value, ("full", "tied", "diag"), 1),
    }
    for name, E in ESTIMATORS.items():
        outputs = _output_function(name)
        for label, (X, singular_types, k) in degenerate.items():
            for covariance_type in COVARIANCE_TYPES:
                params = dict(n_components=k, covariance_type=covariance_type)
                run_case(
                    tally,
                    f"{name}({covariance_type}) on {label}",
                    lambda E=E, X=X, p=params, o=outputs: o(
                        E(random_state=0, **p).fit(X), X
                    ),
                    check=_finite,
                )
                if covariance_type in singular_types:
                    run_case(
                        tally,
                        f"{name}({covariance_type}, reg_covar=0) on {label}",
                        lambda E=E, X=X, p=params: E(
                            reg_covar=0.0, random_state=0, **p
                        ).fit(X),
                        raises=ValueError,
                        match=ILL_DEFINED,
                    )
        for dtype in (np.float32, np.int32, np.int64):
            data = (
                (Xm * 100).astype(np.float32)
                if dtype == np.float32
                else (np.nan_to_num(Xm * 100).astype(dtype))
            )
            run_case(
                tally,
                f"{name} on {np.dtype(dtype).name} input",
                lambda E=E, X=data: E(n_components=2, random_state=0).fit(X),
                check=lambda m: all(
                    np.linalg.eigvalsh(c).min() > 0 for c in _dense_covariances(m)
                ),
            )
        x1 = Xm[:, :1][~np.isnan(Xm[:, 0])]
        x1 = np.vstack([x1, [[np.nan]]])
        run_case(
            tally,
            f"{name} with a single feature",
            lambda E=E, X=x1, o=outputs: o(E(n_components=2, random_state=0).fit(X), X),
            check=_finite,
        )
    for covariance_type in COVARIANCE_TYPES:
        gm = EMMixture(2, covariance_type=covariance_type, random_state=0).fit(Xm)
        imputer = EMImputer(
            n_components=2, covariance_type=covariance_type, random_state=0
        ).fit(Xm)
        for far in (1e4, 1e150):
            T = np.array([[far, 0.0, 0.0], [far, np.nan, far], [np.nan, far, np.nan]])

            def mixture_far(gm=gm, T=T):
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    return gm.score_samples(T), gm.predict_proba(T)

            def imputer_far(imputer=imputer, T=T):
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    return imputer.transform(T)

            run_case(
                tally,
                f"EMMixture({covariance_type}) far point {far:g}",
                mixture_far,
                check=lambda r: (
                    _finite(r)
                    and np.allclose(r[1].sum(axis=1), 1.0, rtol=0, atol=1e-12)
                ),
            )
            run_case(
                tally,
                f"EMImputer({covariance_type}) far point {far:g}",
                imputer_far,
                check=lambda Xt, imputer=imputer, T=T: (
                    _finite(Xt) and _within_component_means(imputer, T, Xt)
                ),
            )


def _extreme_scale_cases(tally, scale):
    """Every estimator and covariance type on data in units of ``scale``.

    At 1e-200 the fit must work with finite fitted attributes and outputs
    (covariances underflow towards 0, which float64 holds); at 1e200 the
    covariances (1e400) are beyond float64, so the documented outcome is a
    ValueError saying to rescale, raised before any arithmetic. Either way
    with no numpy RuntimeWarning (counted by ``run_case``).
    """
    _, Xm = _clusters(1)
    X = Xm * scale
    attributes = ("weights_", "means_", "covariances_", "lower_bound_")
    for name, E in ESTIMATORS.items():
        outputs = _output_function(name)
        for covariance_type in COVARIANCE_TYPES:
            params = dict(n_components=2, covariance_type=covariance_type)
            label = f"{name}({covariance_type}) at scale {scale:g}"
            if scale > 1:
                run_case(
                    tally,
                    label,
                    lambda E=E, p=params: E(random_state=0, **p).fit(X),
                    raises=ValueError,
                    match="overflow float64.*Rescale X",
                )
                continue

            def fit(E=E, p=params, o=outputs):
                model = E(random_state=0, **p).fit(X)
                return (*(getattr(model, a) for a in attributes), *o(model, X))

            run_case(tally, label, fit, check=_finite)


def _within_component_means(imputer, T, Xt):
    """Imputations lie between the components' conditional means."""
    for x, xt in zip(T, Xt, strict=True):
        m = np.isnan(x)
        if not m.any():
            continue
        o = ~m
        means = []
        for k, S in enumerate(_dense_covariances(imputer)):
            mu = imputer.means_[k]
            gain = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
            means.append(mu[m] + gain @ (x[o] - mu[o]))
        means = np.array(means)
        slack = 1e-9 * np.abs(means).max(axis=0)
        if np.any(xt[m] < means.min(axis=0) - slack) or np.any(
            xt[m] > means.max(axis=0) + slack
        ):
            return False
    return True


# ----------------------------------------------------------------------------
# 2. safety over random data
# ----------------------------------------------------------------------------
DOCUMENTED_ERRORS = re.compile(
    "ill-defined empirical covariance|rows with an observed value|"
    "Expected n_samples >= n_components"
)


def _safety(n_datasets, seed=20240601):
    """Random incomplete data through both estimators: observed cells,
    finiteness, input mutation; documented ValueErrors (absolute reg_covar on
    n <= d data at large scale, too few informative rows) are counted, any
    other exception is a failure."""
    rng = np.random.default_rng(seed)
    counts = Counter()
    warning_counts = Counter()
    for _ in range(n_datasets):
        X, mask = _random_incomplete(rng)
        settings = dict(
            n_components=int(rng.integers(1, 3)),
            covariance_type=str(rng.choice(COVARIANCE_TYPES)),
            random_state=int(rng.integers(1000)),
        )
        imputer_options = dict(
            add_indicator=bool(rng.random() < 0.3),
            sample_posterior=bool(rng.random() < 0.3),
        )
        snapshot = X.copy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name in ESTIMATORS:
                counts["fits"] += 1
                try:
                    if name == "EMImputer":
                        _check_imputer(X, mask, settings, imputer_options, counts)
                    else:
                        gm = EMMixture(**settings).fit(X)
                        outputs = (gm.score_samples(X), gm.predict_proba(X))
                        gm.predict(X)
                        for out in outputs:
                            counts["non-finite outputs"] += int(
                                np.sum(~np.isfinite(out))
                            )
                except ValueError as exc:
                    if DOCUMENTED_ERRORS.search(str(exc)):
                        counts["documented ValueErrors"] += 1
                    else:
                        counts["unexpected exceptions"] += 1
                except Exception:  # noqa: BLE001 - counted
                    counts["unexpected exceptions"] += 1
        for record in caught:
            warning_counts[_warning_key(record)] += 1
        counts["inputs mutated"] += int(not np.array_equal(X, snapshot, equal_nan=True))
        counts["datasets"] += 1
    return counts, warning_counts


def _check_imputer(X, mask, settings, options, counts):
    imputer = EMImputer(**settings, **options)
    for Xt in (imputer.fit_transform(X), imputer.transform(X)):
        values = Xt[:, : X.shape[1]]
        observed = ~mask
        counts["observed cells"] += int(observed.sum())
        # Bit for bit, both sides widened to float64 (exact from float32:
        # a float32 input gives a float32 output, as scikit-learn's imputers).
        counts["observed cells altered"] += int(
            np.sum(
                values[observed].astype(np.float64).view(np.int64)
                != X[observed].astype(np.float64).view(np.int64)
            )
        )
        counts["non-finite outputs"] += int(np.sum(~np.isfinite(Xt)))
    imputer.score(X)


def _warning_key(record):
    message = str(record.message)
    for pattern in (
        "Best performing initialization did not converge",
        "Number of distinct clusters",
        "The log-likelihood decreased",
        "Skipping features",
    ):
        if pattern in message:
            return f"{record.category.__name__}: {pattern}"
    return f"{record.category.__name__}: {message[:60]}"


def _pickles():
    X = _train()
    models = []
    for covariance_type in COVARIANCE_TYPES:
        models.append(EMImputer(n_components=2, covariance_type=covariance_type))
        models.append(EMMixture(2, covariance_type=covariance_type))
    models.append(EMImputer(add_indicator=True, sample_posterior=True))
    mismatches = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, prototype in enumerate(models):
            model = clone(prototype).set_params(random_state=i).fit(X)
            expected = _output_function(type(model).__name__)(model, X)
            path = Path(tmp) / f"{i}.joblib"
            joblib.dump(model, path)
            restored = [
                pickle.loads(pickle.dumps(model)),
                joblib.load(path),
                joblib.load(path, mmap_mode="r"),
            ]
            for other in restored:
                got = _output_function(type(model).__name__)(other, X)
                mismatches += not _same(got, expected)
    return len(models), 3 * len(models), mismatches


_DETERMINISM_CHILD = textwrap.dedent(
    """
    import hashlib, json, sys, warnings
    import numpy as np
    from threadpoolctl import threadpool_limits
    sys.path.insert(0, sys.argv[1])
    from benchmarks.bench_reliability import determinism_digests
    warnings.simplefilter("ignore")
    with threadpool_limits(limits=1):
        print(json.dumps(determinism_digests(int(sys.argv[2]))))
    """
)


def determinism_digests(n_seeds):
    """Bytes of every fitted parameter and output, per seed, as hex digests."""
    import hashlib

    digests = []
    for seed in range(n_seeds):
        _, Xm = _clusters(100 + seed, n=45, k=3)
        h = hashlib.sha256()
        for model in (
            EMImputer(n_components=2, init_params="k-means++", random_state=seed),
            EMImputer(sample_posterior=True, random_state=seed),
            EMMixture(3, n_init=2, init_params="random", random_state=seed),
        ):
            model.fit(Xm)
            for name in ("weights_", "means_", "covariances_"):
                h.update(np.ascontiguousarray(getattr(model, name)).tobytes())
            if isinstance(model, EMImputer):
                h.update(model.transform(Xm).tobytes())
            else:
                h.update(model.score_samples(Xm).tobytes())
                h.update(model.sample(7)[0].tobytes())
        digests.append(h.hexdigest())
    return digests


def _determinism(n_seeds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = determinism_digests(n_seeds), determinism_digests(n_seeds)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _DETERMINISM_CHILD, str(REPO), str(n_seeds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    others = []
    for child in children:
        out, err = child.communicate(timeout=1800)
        if child.returncode != 0:
            raise RuntimeError(f"determinism child failed:\n{err[-2000:]}")
        others.append(json.loads(out.strip().splitlines()[-1]))
    in_process = sum(a != b for a, b in zip(first, second, strict=True))
    across = sum(any(a != other[i] for other in others) for i, a in enumerate(first))
    return in_process, across


def _threads(n_threads=8, n_calls=50):
    _, Xm = _clusters(3, n=80)
    gm = EMMixture(2, random_state=0).fit(Xm)
    imputer = EMImputer(n_components=2, random_state=0).fit(Xm)
    calls = {
        "transform": lambda: imputer.transform(Xm),
        "predict": lambda: gm.predict(Xm),
        "predict_proba": lambda: gm.predict_proba(Xm),
        "score_samples": lambda: gm.score_samples(Xm),
    }
    names = list(calls)
    serial = {name: call() for name, call in calls.items()}

    def worker(thread):
        return [
            (name, calls[name]())
            for name in (names[(thread + i) % len(names)] for i in range(n_calls))
        ]

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        results = [r for batch in pool.map(worker, range(n_threads)) for r in batch]
    mismatches = sum(not np.array_equal(v, serial[n]) for n, v in results)
    return len(results), mismatches


# ----------------------------------------------------------------------------
# 3. EM behaviour
# ----------------------------------------------------------------------------
def _monotonicity(n_fits, seed=7):
    """Unregularised fits on non-degenerate incomplete data."""
    counts = Counter()
    worst = 0.0
    for i in range(n_fits):
        rng = np.random.default_rng(seed + i)
        covariance_type = COVARIANCE_TYPES[i % 4]
        k = 1 + (i // 4) % 3
        d = 2 + (i // 12) % 3
        _, Xm = _clusters(
            int(rng.integers(2**31)),
            n=k * int(rng.integers(30, 50)),
            d=d,
            k=k,
            rate=float(rng.uniform(0.1, 0.3)),
            distance=float(rng.uniform(3.0, 8.0)),
        )
        gm = EMMixture(
            k,
            covariance_type=covariance_type,
            reg_covar=0.0,
            tol=1e-10,
            max_iter=300,
            # Half from k-means, half from random responsibilities (longer,
            # harder runs).
            init_params=("kmeans", "random")[(i // 2) % 2],
            random_state=i,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gm.fit(Xm)
        except ValueError:
            counts["degenerate (ValueError)"] += 1
            continue
        if gm.weights_.min() * len(Xm) < d + 1:
            counts["degenerate (collapsed)"] += 1
            continue
        bounds = np.asarray(gm.lower_bounds_)
        drops = -np.diff(bounds) / np.maximum(1.0, np.abs(bounds[1:]))
        counts["fits"] += 1
        counts["steps"] += len(drops)
        counts["decreases"] += int(np.sum(drops > MONOTONE_TOL))
        if len(drops):
            worst = max(worst, float(drops.max()))
    return counts, worst


def _n_init_contracts(n_fits):
    counts = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i in range(n_fits):
            _, Xm = _clusters(200 + i, n=45, k=3)
            estimator = (EMMixture, EMImputer)[i % 2]
            params = dict(n_components=3, init_params="random", tol=1e-4, max_iter=40)
            best = estimator(n_init=4, random_state=i, **params).fit(Xm)
            stream = np.random.RandomState(i)
            runs = [
                estimator(random_state=stream, **params).fit(Xm).lower_bound_
                for _ in range(4)
            ]
            counts["n_init fits"] += 1
            counts["lower_bound_ == max"] += best.lower_bound_ == max(runs)
            gm_params = dict(n_init=1 + 4 * (i % 2), max_iter=1 + i % 7, random_state=i)
            labels = EMMixture(3, **gm_params).fit_predict(Xm)
            again = EMMixture(3, **gm_params).fit(Xm).predict(Xm)
            counts["fit_predict fits"] += 1
            counts["fit_predict == fit().predict"] += np.array_equal(labels, again)
    for i in range(n_fits):
        _, Xm = _clusters(300 + i)
        estimator = (EMMixture, EMImputer)[i % 2]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = estimator(
                n_components=2, max_iter=1, tol=1e-12, random_state=i
            ).fit(Xm)
        counts["forced non-convergence"] += 1
        counts["ConvergenceWarning raised"] += (
            any(
                issubclass(r.category, ConvergenceWarning)
                and "did not converge" in str(r.message)
                for r in caught
            )
            and model.converged_ is False
            and model.n_iter_ == 1
        )
    return counts


# ----------------------------------------------------------------------------
# 4. oracles
# ----------------------------------------------------------------------------
def _oracles(n_sets):
    result = {}
    worst = 0.0
    for seed in range(2):
        X, _ = _clusters(400 + seed, n=150, k=3)
        for covariance_type in COVARIANCE_TYPES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = GaussianMixture(
                    3, covariance_type=covariance_type, max_iter=0, random_state=0
                ).fit(X)
            inits = dict(
                weights_init=start.weights_,
                means_init=start.means_,
                precisions_init=start.precisions_,
                covariance_type=covariance_type,
                tol=1e-8,
            )
            gm = GaussianMixture(3, **inits).fit(X)
            em = EMMixture(3, **inits).fit(X)
            for name in ("weights_", "means_", "covariances_", "lower_bound_"):
                a, b = np.asarray(getattr(em, name)), np.asarray(getattr(gm, name))
                worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
            worst = max(worst, float(em.n_iter_ != gm.n_iter_))
    result["GaussianMixture (complete data, shared inits; max relative)"] = worst

    worst_density, worst_mean = 0.0, 0.0
    rng = np.random.default_rng(500)
    for i in range(n_sets):
        _, Xm = _clusters(int(rng.integers(2**31)), n=40, k=2, rate=0.3)
        covariance_type = COVARIANCE_TYPES[i % 4]
        gm = EMMixture(2, covariance_type=covariance_type, random_state=i).fit(Xm)
        expected = logsumexp(_reference_weighted(gm, Xm), axis=1)
        got = gm.score_samples(Xm)
        worst_density = max(
            worst_density,
            float(np.max(np.abs(got - expected) / np.maximum(1, np.abs(expected)))),
        )
        imputer = EMImputer(
            n_components=1 + i % 2, covariance_type=covariance_type, random_state=i
        ).fit(Xm)
        reference = _reference_imputation(imputer, Xm)
        spread = np.nanstd(Xm, axis=0)
        worst_mean = max(
            worst_mean,
            float(np.max(np.abs(imputer.transform(Xm) - reference) / spread)),
        )
    result["scipy marginal logpdf (abs. diff / max(1, abs. logpdf))"] = worst_density
    result["closed-form conditional mean (abs. diff / feature std)"] = worst_mean

    worst_scale = 0.0
    _, Xm = _clusters(600)
    spread = np.nanstd(Xm, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = dict(n_components=2, tol=0.0, max_iter=25, random_state=0)
        reference = EMImputer(**params).fit_transform(Xm)
        for scale in (1e-8, 1e-4, 1.0, 1e4, 1e8):
            Xt = EMImputer(**params).fit_transform(Xm * scale) / scale
            worst_scale = max(
                worst_scale, float(np.max(np.abs(Xt - reference) / spread))
            )
    result["EMImputer scale equivariance, s in 1e-8..1e8 (max rel.)"] = worst_scale
    return result


def _reference_weighted(model, X):
    covariances = _dense_covariances(model)
    out = np.tile(np.log(model.weights_), (len(X), 1))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        if o.any():
            for k, (mu, S) in enumerate(zip(model.means_, covariances, strict=True)):
                out[i, k] += multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(x[o])
    return out


def _reference_imputation(model, X):
    covariances = _dense_covariances(model)
    weighted = _reference_weighted(model, X)
    resp = np.exp(weighted - logsumexp(weighted, axis=1, keepdims=True))
    out = X.copy()
    for i, x in enumerate(X):
        m = np.isnan(x)
        if not m.any():
            continue
        o = ~m
        value = 0.0
        for k, (mu, S) in enumerate(zip(model.means_, covariances, strict=True)):
            if o.any():
                gain = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
                value = value + resp[i, k] * (mu[m] + gain @ (x[o] - mu[o]))
            else:
                value = value + resp[i, k] * mu[m]
        out[i, m] = value
    return out


# ----------------------------------------------------------------------------
# 5. scikit-learn checks
# ----------------------------------------------------------------------------
def _sklearn_checks():
    from sklearn.utils import estimator_checks as ec

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for estimator in (EMImputer(max_iter=5), EMMixture(n_init=2, max_iter=5)):
            results = ec.check_estimator(estimator, on_fail=None)
            status = Counter(r["status"] for r in results)
            skipped = sorted(
                {
                    f"{r['check_name']} ({r['exception']})"
                    for r in results
                    if r["status"] == "skipped"
                }
            )
            rows.append((type(estimator).__name__, len(results), status, skipped))
        extra = {
            "EMImputer": [
                "check_param_validation",
                "check_dataframe_column_names_consistency",
                "check_transformer_get_feature_names_out",
                "check_transformer_get_feature_names_out_pandas",
                "check_get_feature_names_out_error",
                "check_set_output_transform",
                "check_set_output_transform_pandas",
                "check_global_output_transform_pandas",
            ],
            "EMMixture": [
                "check_param_validation",
                "check_dataframe_column_names_consistency",
            ],
        }
        extra_results = {}
        for name, checks in extra.items():
            for check in checks:
                estimator = ESTIMATORS[name](max_iter=10)
                try:
                    getattr(ec, check)(name, estimator)
                    extra_results[f"{name}: {check}"] = "passed"
                except Exception as exc:  # noqa: BLE001 - reported
                    extra_results[f"{name}: {check}"] = f"FAILED ({type(exc).__name__})"
    return rows, extra_results


# ----------------------------------------------------------------------------
# 6. the known bugs (xfail tests), re-checked
# ----------------------------------------------------------------------------
def _open_bugs():
    """Each xfail of the test suite, reproduced: True while still present."""
    _, Xm = _clusters(0)
    far = np.array([[1e4, 0.0, 0.0], [1e150, np.nan, 0.0]])
    bugs = {}

    def underflow():
        gm = EMMixture(2, random_state=0).fit(Xm)
        with np.errstate(all="raise"):
            gm.score_samples(far)

    def tied_far():
        gm = EMMixture(2, covariance_type="tied", random_state=0).fit(Xm)
        return not np.allclose(gm.predict_proba(far).sum(axis=1), 1.0)

    def overflow_point():
        gm = EMMixture(2, random_state=0).fit(Xm)
        try:
            proba = gm.predict_proba(np.array([[1e200, 0.0, 0.0]]))
        except ValueError as exc:
            # The documented outcome: a clear error that says to scale.
            return "scale" not in str(exc)
        return bool(np.isnan(proba).any())

    def extreme_scale():
        params = dict(n_components=2, random_state=0)
        reference = EMImputer(**params).fit_transform(Xm)
        Xt = EMImputer(**params).fit_transform(Xm * 1e-200) / 1e-200
        return not np.allclose(Xt, reference, rtol=1e-6)

    def decrease_noise():
        # The data of test_default_fit_of_supported_degenerate_data_is_silent.
        rng = np.random.default_rng(0)
        factor = rng.normal(size=(3, 3)) + 2 * np.eye(3)
        one = rng.normal(size=(60, 3)) @ factor + np.arange(1.0, 4.0)
        one[rng.random(one.shape) < 0.2] = np.nan
        one[:, 2] = np.nan
        one[5, 2] = 7.25
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            EMImputer(random_state=0).fit(one)
        return any("log-likelihood decreased" in str(r.message) for r in caught)

    def nan_objective_warnings():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                EMMixture(2, means_init=[[1e200] * 3, [0.0] * 3]).fit(Xm)
            except ValueError:
                pass
        return any(_is_numpy_warning(r) for r in caught)

    def ill_conditioned_marginal():
        covariance = np.array(
            [
                [789108.77729698, -151373.85630995, 13993.17374561],
                [-151373.85630995, 3325172.94918945, 231373.34241765],
                [13993.17374561, 231373.34241765, 16868.50723873],
            ]
        )
        mean = np.array([-130.10262193, 1082.76171973, 290.20240767])
        gm = EMMixture(
            means_init=[mean], precisions_init=[np.linalg.inv(covariance)], max_iter=0
        ).fit(Xm * 1e3)
        S = gm.covariances_[0]
        # One observed coordinate, and two (fewer missing than observed).
        T = np.array([[-1526.66, np.nan, np.nan], [-1526.66, 1866.1, np.nan]])
        exact = [
            multivariate_normal(gm.means_[0, ~m], S[np.ix_(~m, ~m)]).logpdf(x[~m])
            for x, m in zip(T, np.isnan(T), strict=True)
        ]
        got = gm.score_samples(T)
        return not np.allclose(got, exact, rtol=1e-12, atol=0.0)

    def constant_underflow():
        # A constant feature at 2.3e-203 whose computed mean is an ulp off.
        rng = np.random.default_rng(0)
        X = np.column_stack([Xm, np.full(len(Xm), 2.3e-203)])
        X[rng.random(len(X)) < 0.3, -1] = np.nan
        imputer = EMImputer(random_state=0).fit(X)
        variance = imputer.covariances_[0][-1, -1]
        filled = imputer.transform(X)[:, -1]
        return not (variance > 0.0 and np.all(filled == 2.3e-203))

    def non_contiguous_factors():
        gm = EMMixture(2, random_state=0).fit(Xm)
        return not all(
            getattr(gm, name).flags.c_contiguous
            for name in ("means_", "covariances_", "precisions_cholesky_")
        )

    def zero_weight():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            EMMixture(2, weights_init=[0.0, 1.0], random_state=0).fit(Xm)
        return any(_is_numpy_warning(r) for r in caught)

    checks = {
        "score_samples inaccurate when S is ill-conditioned (cond 5e11)": (
            ill_conditioned_marginal
        ),
        "constant feature at 2.3e-203: variance underflows to 0": (constant_underflow),
        "precisions_cholesky_ non-contiguous (pickle not bitwise)": (
            non_contiguous_factors
        ),
        "underflow FloatingPointError under np.errstate(all='raise')": underflow,
        "tied + test point at 1e150: predict_proba rows sum to 2": tied_far,
        "test point at 1e200: NaN predict_proba / imputations": overflow_point,
        "EMImputer at scale 1e-200 not unit-free (1e200: a ValueError)": extreme_scale,
        "'log-likelihood decreased' RuntimeWarning with default reg_covar": (
            decrease_noise
        ),
        "numpy RuntimeWarnings before the NaN-objective ValueError": (
            nan_objective_warnings
        ),
        "numpy RuntimeWarning with a zero weight in weights_init": zero_weight,
    }
    for label, check in checks.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                present = check()
                # A check that returns nothing found no bug (it raises when
                # the bug is there).
                present = False if present is None else bool(present)
            except FloatingPointError:
                present = True
            except Exception as exc:  # noqa: BLE001 - reported
                present = f"check failed: {type(exc).__name__}"
        bugs[label] = present
    return bugs


# ----------------------------------------------------------------------------
# 7. the test files under pytest
# ----------------------------------------------------------------------------
def _pytest_summary():
    files = sorted(str(p) for p in (REPO / "tests").glob("test_reliability_*.py"))
    files.append(str(REPO / "tests" / "test_properties.py"))
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else "no output"
    return summary, elapsed


def _hypothesis_settings():
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import _strategies
        from hypothesis import settings
    finally:
        sys.path.pop(0)
    current = settings.get_profile(_strategies.PROFILE)
    return (
        f"profile `{_strategies.PROFILE}` (env `{_strategies.PROFILE_VARIABLE}`): "
        f"max_examples={current.max_examples}, derandomize={current.derandomize}, "
        f"deadline={current.deadline}"
    )


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join([":---"] + ["---:"] * (len(header) - 1)) + " |")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_reliability",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer fits and data sets (smoke run)"
    )
    parser.add_argument("--fits", type=int, default=None, help="unregularised fits")
    parser.add_argument("--datasets", type=int, default=None, help="safety data sets")
    parser.add_argument(
        "--no-pytest", action="store_true", help="skip running the test files"
    )
    parser.add_argument("--no-sklearn-checks", action="store_true")
    parser.add_argument("--output", default=None, help="also write the report here")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    n_fits = args.fits or (24 if args.quick else 240)
    n_datasets = args.datasets or (25 if args.quick else 300)
    n_contracts = 6 if args.quick else 30
    n_oracle = 8 if args.quick else 40
    n_seeds = 3 if args.quick else 10
    run_pytest = not (args.quick or args.no_pytest)
    start = time.perf_counter()

    def log(message):
        print(f"{time.perf_counter() - start:7.1f}s {message}", file=sys.stderr)

    with threadpool_limits(limits=1):
        bad, good, numeric = Tally(), Tally(), Tally()
        tiny, huge = Tally(), Tally()
        log("adversarial catalogue")
        _bad_input_cases(bad)
        _good_input_cases(good)
        _numerical_cases(numeric)
        _extreme_scale_cases(tiny, 1e-200)
        _extreme_scale_cases(huge, 1e200)
        log("safety over random data sets")
        safety, safety_warnings = _safety(n_datasets)
        n_models, n_round_trips, pickle_mismatches = _pickles()
        log("determinism")
        in_process, across = _determinism(n_seeds)
        n_thread_calls, thread_mismatches = _threads()
        log(f"{n_fits} unregularised fits")
        monotone, worst_drop = _monotonicity(n_fits)
        contracts = _n_init_contracts(n_contracts)
        log("oracles")
        oracles = _oracles(n_oracle)
        bugs = _open_bugs()
        checks = (
            None
            if args.no_sklearn_checks
            else (log("sklearn checks"), _sklearn_checks())[1]
        )
    pytest_summary = None
    if run_pytest:
        log("pytest on the reliability and property tests")
        pytest_summary = _pytest_summary()
    elapsed = time.perf_counter() - start

    tallies = {
        "bad inputs (1-15, 16, 23, 29)": bad,
        "valid unusual inputs (4, 11, 12, 15-23)": good,
        "numerics (24-34)": numeric,
        "scale 1e-200: fit, finite attributes and outputs": tiny,
        "scale 1e200: ValueError saying to rescale": huge,
    }
    lines = [
        "### Reliability figures",
        "",
        f"Generated by `python -m benchmarks.bench_reliability"
        f"{' --quick' if args.quick else ''}` in {elapsed:.0f} s "
        f"(emimpute {emimpute.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, "
        f"Python {platform.python_version()}).",
        "",
        "**Adversarial catalogue** (RELIABILITY.md (b), run programmatically)",
        "",
        _table(
            [
                "group",
                "cases tried",
                "as documented",
                "leaked LinAlgError/FloatingPointError/UnboundLocalError/scipy text",
                "numpy RuntimeWarnings",
            ],
            [
                (name, t.tried, t.passed, t.leaked, t.numpy_warnings)
                for name, t in tallies.items()
            ]
            + [
                (
                    "**total**",
                    sum(t.tried for t in tallies.values()),
                    sum(t.passed for t in tallies.values()),
                    sum(t.leaked for t in tallies.values()),
                    sum(t.numpy_warnings for t in tallies.values()),
                )
            ],
        ),
    ]
    failures = [f for t in tallies.values() for f in t.failures]
    if failures:
        lines += ["", "Not as documented:", ""] + [f"- {f}" for f in failures]
    lines += [
        "",
        "**Data safety**",
        "",
        _table(
            ["figure", "value"],
            [
                (
                    f"observed entries altered ({safety['datasets']} random data sets, "
                    f"{safety['observed cells']} observed cells, float32/float64, "
                    "indicator, posterior draws)",
                    safety["observed cells altered"],
                ),
                (
                    f"inputs mutated ({safety['datasets']} data sets, every method)",
                    safety["inputs mutated"],
                ),
                (
                    f"non-finite outputs ({safety['fits']} fits)",
                    safety["non-finite outputs"],
                ),
                (
                    "unexpected exceptions (documented ValueErrors: "
                    f"{safety['documented ValueErrors']})",
                    safety["unexpected exceptions"],
                ),
                (
                    f"pickle / joblib (+mmap) round trips not bitwise identical "
                    f"({n_models} models, {n_round_trips} round trips)",
                    pickle_mismatches,
                ),
                (
                    f"determinism: differences over {n_seeds} seeds, same process",
                    in_process,
                ),
                (
                    f"determinism: differences over {n_seeds} seeds, "
                    "two other processes",
                    across,
                ),
                (
                    f"threads: 8 threads x 50 calls ({n_thread_calls} calls), "
                    "mismatches vs serial",
                    thread_mismatches,
                ),
            ],
        ),
        "",
        "**EM behaviour**",
        "",
        _table(
            ["figure", "value"],
            [
                (
                    "log-likelihood decreases, reg_covar=0, relative tol "
                    f"{MONOTONE_TOL:g} ({monotone['fits']} non-degenerate fits, "
                    f"{monotone['steps']} EM steps)",
                    monotone["decreases"],
                ),
                (
                    "largest relative step-to-step decrease (0 = none)",
                    f"{worst_drop:.1e}",
                ),
                (
                    "fits excluded as degenerate (ValueError / component collapsed)",
                    f"{monotone['degenerate (ValueError)']} / "
                    f"{monotone['degenerate (collapsed)']} of {n_fits}",
                ),
                (
                    "n_init: lower_bound_ == max over the replayed inits",
                    f"{contracts['lower_bound_ == max']}/{contracts['n_init fits']}",
                ),
                (
                    "fit_predict(X) == fit(X).predict(X)",
                    f"{contracts['fit_predict == fit().predict']}/"
                    f"{contracts['fit_predict fits']}",
                ),
                (
                    "ConvergenceWarning (+ converged_ False, n_iter_ 1) when forced",
                    f"{contracts['ConvergenceWarning raised']}/"
                    f"{contracts['forced non-convergence']}",
                ),
            ],
        ),
        "",
        "**Oracles** (largest discrepancy)",
        "",
        _table(["reference", "max"], [(k, f"{v:.1e}") for k, v in oracles.items()]),
    ]
    if checks is not None:
        rows, extra = checks
        lines += [
            "",
            "**scikit-learn conformance**",
            "",
            _table(
                ["estimator", "checks", "passed", "skipped", "failed"],
                [
                    (
                        name,
                        n,
                        status["passed"],
                        status["skipped"],
                        n - status["passed"] - status["skipped"],
                    )
                    for name, n, status, _ in rows
                ],
            ),
        ]
        skipped = sorted({s for *_, skip in rows for s in skip})
        if skipped:
            lines += ["", "Skipped: " + "; ".join(skipped)]
        n_extra_passed = sum(v == "passed" for v in extra.values())
        lines += [
            "",
            f"Extra checks run explicitly: {n_extra_passed}/{len(extra)} passed "
            f"({', '.join(sorted({k.split(': ')[1] for k in extra}))}).",
        ]
        lines += [f"- {k}: {v}" for k, v in extra.items() if v != "passed"]
    lines += [
        "",
        "**Bugs found by this suite**, re-checked (`True` = still present; "
        "each has a regression test)",
        "",
        _table(["bug", "present"], list(bugs.items())),
        "",
        "**Warnings seen over the random data sets**, by kind: "
        + (
            "; ".join(f"{k} x{v}" for k, v in sorted(safety_warnings.items())) or "none"
        ),
        "",
        "**Hypothesis**: " + _hypothesis_settings() + ".",
    ]
    if pytest_summary is not None:
        summary, seconds = pytest_summary
        lines += [
            "",
            f"**pytest** `tests/test_reliability_*.py tests/test_properties.py`: "
            f"{summary} ({seconds:.0f} s wall).",
        ]
    report = "\n".join(lines)
    print(report)
    if args.output:
        Path(args.output).write_text(report + "\n")
    return report


if __name__ == "__main__":
    main()
