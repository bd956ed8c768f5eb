"""EMImputer against scikit-learn's imputers: RMSE and time.

Run ``python -m benchmarks.bench_imputer --help`` (or the whole suite with
``python -m benchmarks``). Two parts, every method in the same process:

1. **Real data.** scikit-learn's bundled data sets (diabetes, wine, breast
   cancer, iris), columns standardised on the complete data, holes punched
   with 20% MCAR and with a 20% MAR mechanism (logistic in always-observed
   columns, see :func:`benchmarks._data.mar_mask`), several seeds. Each
   method imputes the holed table (``fit_transform``); we report the RMSE on
   the removed cells (in standard-deviation units) and the time.
2. **Large Gaussian table.** n=20000, d=50 rows from a Gaussian with a known,
   strongly correlated covariance, 20% MCAR: EMImputer against
   IterativeImputer with default settings (target: >= 20x faster, RMSE at
   most 1% above), with mean imputation and the oracle (the conditional
   mean under the true parameters) as floor and ceiling.

Methods: ``EMImputer(n_components=1)``; EMImputer with ``n_components``
chosen in 1..4 by 5-fold cross-validated ``EMImputer.score`` (the mean
observed-data log-likelihood of held-out rows, so the choice needs no ground
truth; the time includes the whole search and the refit);
``SimpleImputer(strategy='mean')``; ``KNNImputer()``;
``IterativeImputer(random_state=0)``. All other settings are defaults.
"""

import argparse

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.model_selection import GridSearchCV, KFold

from benchmarks import _data
from benchmarks._util import (
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    quiet,
    timed,
    verdict,
)

TARGET_SPEEDUP = 20.0
TARGET_RMSE_RATIO = 1.01
REFERENCE = "EMImputer (K=1)"


class _SelectedEMImputer:
    """EMImputer whose n_components is chosen by cross-validated score."""

    def __init__(self, candidates, cv, seed):
        self.candidates = candidates
        self.cv = cv
        self.seed = seed

    def fit_transform(self, X):
        from emimpute import EMImputer

        search = GridSearchCV(
            EMImputer(random_state=0),
            {"n_components": list(self.candidates)},
            cv=KFold(self.cv, shuffle=True, random_state=self.seed),
        )
        search.fit(X)
        self.n_components_ = search.best_params_["n_components"]
        return search.best_estimator_.transform(X)


def methods(candidates=(1, 2, 3, 4), cv=5, knn=True):
    """``{label: make(seed) -> estimator}`` of the compared imputers."""
    from emimpute import EMImputer

    out = {
        REFERENCE: lambda seed: EMImputer(random_state=0),
        f"EMImputer (K by {cv}-fold CV score)": lambda seed: _SelectedEMImputer(
            candidates, cv, seed
        ),
        "SimpleImputer (mean)": lambda seed: SimpleImputer(strategy="mean"),
        "KNNImputer": lambda seed: KNNImputer(),
        "IterativeImputer": lambda seed: IterativeImputer(random_state=0),
    }
    if not knn:
        del out["KNNImputer"]
    return out


def _impute(make, X_missing, seed):
    estimator = make(seed)
    with quiet():
        X_imputed, seconds = timed(estimator.fit_transform, X_missing)
    return estimator, np.asarray(X_imputed), seconds


def run_real(
    datasets=_data.REAL_DATASETS,
    mechanisms=("MCAR", "MAR"),
    seeds=(0, 1, 2),
    missing_rate=0.2,
    candidates=(1, 2, 3, 4),
    cv=5,
    log=print,
):
    """RMSE and time on the bundled data sets; ``{mechanism: {dataset: ...}}``."""
    compared = methods(candidates, cv)
    results = {}
    for mechanism in mechanisms:
        results[mechanism] = {}
        for name in datasets:
            X = _data.real_dataset(name)
            per_method = {label: {"rmse": [], "time": []} for label in compared}
            chosen = []
            for seed in seeds:
                rng = np.random.default_rng(1000 * seed + 7)
                if mechanism == "MCAR":
                    mask = _data.mcar_mask(X.shape, missing_rate, rng)
                else:
                    mask = _data.mar_mask(X, missing_rate, rng)
                X_missing = _data.with_nan(X, mask)
                for label, make in compared.items():
                    est, X_imputed, seconds = _impute(make, X_missing, seed)
                    per_method[label]["rmse"].append(_data.rmse(X, X_imputed, mask))
                    per_method[label]["time"].append(seconds)
                    if hasattr(est, "n_components_"):
                        chosen.append(est.n_components_)
            results[mechanism][name] = {
                "shape": X.shape,
                "chosen_k": chosen,
                "methods": {
                    label: {
                        "rmse": float(np.mean(v["rmse"])),
                        "rmse_sd": float(np.std(v["rmse"])),
                        "time": float(np.mean(v["time"])),
                    }
                    for label, v in per_method.items()
                },
            }
            best = min(
                results[mechanism][name]["methods"].items(),
                key=lambda kv: kv[1]["rmse"],
            )[0]
            log(
                f"[imputer] {mechanism} {name:14s} best RMSE: {best}, K chosen {chosen}"
            )
    return results


def run_large(
    n_samples=20_000,
    n_features=50,
    missing_rate=0.2,
    repeats=3,
    seed=0,
    log=print,
):
    """EMImputer vs IterativeImputer on a large correlated Gaussian table."""
    from emimpute import EMImputer

    rng = np.random.default_rng(seed)
    X, mean, cov = _data.gaussian_data(n_samples, n_features, rng)
    mask = _data.mcar_mask(X.shape, missing_rate, rng)
    X_missing = _data.with_nan(X, mask)
    log(
        f"[imputer] large: n={n_samples} d={n_features}, {mask.mean():.1%} missing, "
        f"{_data.count_patterns(mask)} distinct patterns"
    )
    out = {
        "config": {
            "n_samples": n_samples,
            "n_features": n_features,
            "missing_rate": float(mask.mean()),
            "n_patterns": _data.count_patterns(mask),
            "repeats": repeats,
        },
        "methods": {},
    }
    X_oracle, t_oracle = timed(_data.conditional_mean, X_missing, mean, cov)
    out["methods"]["oracle (true parameters)"] = {
        "rmse": _data.rmse(X, X_oracle, mask),
        "time": float("nan"),
    }
    runs = {
        REFERENCE: (lambda: EMImputer(random_state=0), repeats),
        "SimpleImputer (mean)": (lambda: SimpleImputer(strategy="mean"), repeats),
        "IterativeImputer": (lambda: IterativeImputer(random_state=0), repeats),
    }
    for label, (make, n_runs) in runs.items():
        times = []
        for _ in range(n_runs):
            est, X_imputed, seconds = _impute(
                lambda seed, make=make: make(), X_missing, 0
            )
            times.append(seconds)
        entry = {
            "rmse": _data.rmse(X, X_imputed, mask),
            "time": float(np.min(times)),
        }
        if hasattr(est, "n_iter_"):
            entry["n_iter"] = int(est.n_iter_)
        if hasattr(est, "converged_"):
            entry["converged"] = bool(est.converged_)
        out["methods"][label] = entry
        log(
            f"[imputer] large {label:24s} RMSE {entry['rmse']:.4f} "
            f"time {fmt_seconds(entry['time'])}"
        )
    return out


def targets(results):
    """The Targets rows of a run: those of the large table, when it ran."""
    return _large_targets(results["large"]) if results["large"] else []


def _large_targets(large):
    em = large["methods"][REFERENCE]
    it = large["methods"]["IterativeImputer"]
    speedup = it["time"] / em["time"]
    ratio = em["rmse"] / it["rmse"]
    return [
        (
            "EMImputer vs IterativeImputer, n=20000 d=50 20% MCAR: >= 20x faster",
            fmt_ratio(speedup),
            speedup >= TARGET_SPEEDUP,
        ),
        (
            "EMImputer RMSE / IterativeImputer RMSE <= 1.01",
            f"{ratio:.4f}",
            ratio <= TARGET_RMSE_RATIO,
        ),
    ]


def to_markdown(real, large, seeds):
    parts = []
    if real:
        labels = list(next(iter(next(iter(real.values())).values()))["methods"])
        for mechanism, by_data in real.items():
            rows = []
            for name, entry in by_data.items():
                m = entry["methods"]
                best = min(v["rmse"] for v in m.values())
                cells = []
                for label in labels:
                    text = f"{m[label]['rmse']:.3f} ± {m[label]['rmse_sd']:.3f}"
                    cells.append(f"**{text}**" if m[label]["rmse"] == best else text)
                n, d = entry["shape"]
                ks = entry["chosen_k"]
                rows.append([f"{name} ({n}x{d})", *cells, ",".join(map(str, ks))])
            parts.append(
                f"RMSE on the removed cells, {mechanism} 20%, standardised units "
                f"(mean ± sd over {len(seeds)} seeds; lowest in bold; the last "
                "column is the n_components chosen by CV for each seed):"
            )
            parts.append(markdown_table(["data set", *labels, "K chosen"], rows))
            rows = []
            for name, entry in by_data.items():
                m = entry["methods"]
                ref = m[REFERENCE]["time"]
                rows.append(
                    [
                        name,
                        *[
                            f"{fmt_seconds(m[label]['time'])} "
                            f"({fmt_ratio(m[label]['time'] / ref)})"
                            for label in labels
                        ],
                    ]
                )
            parts.append(
                f"fit_transform time, {mechanism} (mean over seeds; in brackets, "
                f"the ratio to {REFERENCE}'s time: above 1x means slower than it):"
            )
            parts.append(markdown_table(["data set", *labels], rows))
    if large:
        cfg = large["config"]
        it = large["methods"]["IterativeImputer"]
        rows = []
        for label, entry in large["methods"].items():
            rows.append(
                [
                    label,
                    f"{entry['rmse']:.4f}",
                    f"{entry['rmse'] / it['rmse']:.4f}",
                    fmt_seconds(entry["time"]),
                    fmt_ratio(it["time"] / entry["time"]),
                    str(entry.get("n_iter", "")),
                ]
            )
        parts.append(
            f"Large Gaussian table: n = {cfg['n_samples']}, d = {cfg['n_features']}, "
            f"{cfg['missing_rate']:.1%} MCAR, {cfg['n_patterns']} distinct patterns; "
            f"known mean and factor-model covariance. Time: fit_transform, best of "
            f"{cfg['repeats']} runs for every method. RMSE in the data's "
            "units."
        )
        parts.append(
            markdown_table(
                [
                    "method",
                    "RMSE",
                    "RMSE / IterativeImputer's",
                    "time",
                    "speed-up vs IterativeImputer",
                    "iterations",
                ],
                rows,
            )
        )
        parts.append(
            markdown_table(
                ["target", "measured", "status"],
                [[t, m, verdict(ok)] for t, m, ok in _large_targets(large)],
                align="lrl",
            )
        )
    return "\n\n".join(parts)


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets",
        type=lambda s: tuple(v for v in s.split(",") if v),
        default=_data.REAL_DATASETS,
        help="comma-separated subset of " + ",".join(_data.REAL_DATASETS),
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--max-components", type=int, default=4)
    parser.add_argument("--large-n-samples", type=int, default=20_000)
    parser.add_argument("--large-n-features", type=int, default=50)
    parser.add_argument("--large-repeats", type=int, default=3)
    parser.add_argument("--missing-rate", type=float, default=0.2)
    return parser


def run(
    datasets=_data.REAL_DATASETS,
    seeds=3,
    cv=5,
    max_components=4,
    large_n_samples=20_000,
    large_n_features=50,
    large_repeats=3,
    missing_rate=0.2,
    log=print,
):
    """Both parts; returns ``(results, markdown)``."""
    seed_list = tuple(range(seeds))
    real = run_real(
        datasets=datasets,
        seeds=seed_list,
        missing_rate=missing_rate,
        candidates=tuple(range(1, max_components + 1)),
        cv=cv,
        log=log,
    )
    large = None
    if large_n_samples:
        large = run_large(
            n_samples=large_n_samples,
            n_features=large_n_features,
            missing_rate=missing_rate,
            repeats=large_repeats,
            log=log,
        )
    results = {"real": real, "large": large, "seeds": seed_list}
    return results, to_markdown(real, large, seed_list)


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, markdown = run(
        datasets=args.datasets,
        seeds=args.seeds,
        cv=args.cv,
        max_components=args.max_components,
        large_n_samples=args.large_n_samples,
        large_n_features=args.large_n_features,
        large_repeats=args.large_repeats,
        missing_rate=args.missing_rate,
    )
    print(markdown)


if __name__ == "__main__":
    main()
