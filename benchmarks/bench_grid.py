"""The E-step over the full grid of width, missing rate and covariance type.

Run ``python -m benchmarks.bench_grid --help`` (or the whole suite with
``python -m benchmarks``). ``bench_speed`` times the issue's acceptance cases
at n = 1e5 (and 1e4, 1e6), at 1 thread and at the default; this part crosses
every d in (10, 20, 50, 100) with every missing rate in (5%, 20%, 50%) and
every covariance type, at one n small enough for the 48 cases to take a few
minutes, at 1 thread, with the same method (time per EM iteration from two
fits of ``lo`` and ``hi`` iterations, paired and interleaved, CPU time).

For full covariances it also gives the ratio that arithmetic alone allows.
Per row and component, GaussianMixture does ``4 d^2`` flops (the product
with the precision's Cholesky factor in the E-step, the covariance product
in the M-step). The fit with holes, on a row with ``r`` missing entries and
``q = d - r`` observed, does about ``m^3`` compiled, ``m = min(r, q)``
(the factorisation of the smaller of ``P_MM`` and ``S_OO`` in the density,
and the inverse that the conditional covariance needs in the statistics),
plus in BLAS ``3 d^2`` where ``r <= q`` (the product with the precision,
half a symmetric rank-k update) and ``2 d^2`` where ``q < r`` (the
covariance route needs no product with the precision). Averaged over the
rows' binomial counts, ``E[cost] / (4 d^2)`` is the ratio at equal flop
rates: where it is above the target, only a faster rate than BLAS's on
the small blocks (or inexact EM) could meet it.
"""

import argparse

import numpy as np
from scipy.stats import binom

from benchmarks import _data
from benchmarks._util import fmt_ratio, markdown_table, quiet
from benchmarks.bench_mixture import _initial_params, _make
from benchmarks.bench_speed import N_COMPONENTS, _per_iteration, _threads

WIDTHS = (10, 20, 50, 100)
MISSING_RATES = (0.05, 0.2, 0.5)
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
N_SAMPLES = 20_000
QUICK = {
    "widths": (5, 10),
    "missing_rates": (0.2,),
    "covariance_types": ("full", "diag"),
    "n_samples": 2000,
    "hi": 2,
    "repeats": 1,
}


def arithmetic_ratio(n_features, missing_rate):
    """``E[cost(r)] / (4 d^2)``, r ~ Binomial(d, missing rate) (see above)."""
    d = n_features
    missing = np.arange(d + 1)
    probability = binom.pmf(missing, d, missing_rate)
    observed = d - missing
    smaller = np.minimum(missing, observed)
    blas = np.where(observed < missing, 2, 3) * d**2
    return float(probability @ (blas + smaller**3)) / (4 * d**2)


def run(
    widths=WIDTHS,
    missing_rates=MISSING_RATES,
    covariance_types=COVARIANCE_TYPES,
    n_samples=N_SAMPLES,
    lo=1,
    hi=3,
    repeats=2,
    seed=0,
    log=print,
):
    """Time every case at 1 thread; return ``(results, markdown)``."""
    cases = []
    with _threads("1 thread"):
        with quiet():  # warm-up: the kernels of every type loaded
            X = np.random.default_rng(0).standard_normal((500, 5))
            X[::3, 1] = np.nan
            for covariance_type in covariance_types:
                _make("EMMixture", 2, covariance_type, 2, {}).fit(X)
        for n_features in widths:
            rng = np.random.default_rng([seed, n_features, n_samples])
            X, _, weights, means, covariances = _data.mixture_data(
                n_samples, n_features, N_COMPONENTS, rng
            )
            for missing_rate in missing_rates:
                mask = _data.mcar_mask(
                    X.shape,
                    missing_rate,
                    np.random.default_rng([seed, n_features]),
                    keep_one_observed=False,
                )
                X_missing = _data.with_nan(X, mask)
                for covariance_type in covariance_types:
                    init = _initial_params(
                        weights,
                        means,
                        covariances,
                        covariance_type,
                        np.random.default_rng(1),
                    )

                    def make(name, init=init, covariance_type=covariance_type):
                        return lambda it: _make(
                            name, N_COMPONENTS, covariance_type, it, init
                        )

                    fits = {
                        "GaussianMixture": (make("GaussianMixture"), X, "auto"),
                        "EMMixture": (make("EMMixture"), X, "auto"),
                        "EMMixture, holes": (make("EMMixture"), X_missing, "auto"),
                    }
                    times = _per_iteration(fits, lo, hi, repeats)
                    case = (covariance_type, n_features, missing_rate)
                    cases.append({"case": case, "times": times})
                    ratio = times["EMMixture, holes"][0] / times["GaussianMixture"][0]
                    log(
                        f"[grid] {covariance_type} d={n_features} "
                        f"{missing_rate:.0%}: holes / GM {ratio:.2f}x"
                    )
    results = {"cases": cases, "n_samples": n_samples, "K": N_COMPONENTS}
    return results, to_markdown(results)


def targets(results):
    """No targets of its own: the acceptance cases are ``bench_speed``'s."""
    return []


def to_markdown(results):
    cases = results["cases"]
    widths = sorted({c["case"][1] for c in cases})
    rates = sorted({c["case"][2] for c in cases})
    types = list(dict.fromkeys(c["case"][0] for c in cases))
    by_case = {c["case"]: c["times"] for c in cases}
    header = ["covariance", "d"] + [f"{rate:.0%} missing" for rate in rates]
    rows = []
    for covariance_type in types:
        for d in widths:
            row = [f"`{covariance_type}`", str(d)]
            for rate in rates:
                times = by_case.get((covariance_type, d, rate))
                if times is None:
                    row.append("-")
                    continue
                gm = times["GaussianMixture"][0]
                cell = (
                    f"{fmt_ratio(times['EMMixture, holes'][0] / gm)} "
                    f"({fmt_ratio(times['EMMixture'][0] / gm)})"
                )
                if covariance_type == "full":
                    cell += f" [{fmt_ratio(arithmetic_ratio(d, rate))}]"
                row.append(cell)
            rows.append(row)
    intro = (
        f"n = {results['n_samples']}, K = {results['K']}, cell-wise MCAR, 1 "
        "thread (BLAS and numba), CPU time per EM iteration as a ratio to "
        "GaussianMixture on the complete data: EMMixture with holes (in "
        "parentheses, EMMixture on the complete data). For `full`, in "
        "brackets, the ratio that the arithmetic allows at equal flop rates, "
        "E[(3 or 2) d^2 + min(r, d - r)^3] / (4 d^2) (see "
        "`benchmarks/bench_grid.py`): where "
        "it exceeds 1.3x, so must the fit with holes unless its small blocks "
        "run faster than BLAS."
    )
    return intro + "\n\n" + markdown_table(header, rows, align="lr" + "r" * len(rates))


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(
        prog="python -m benchmarks.bench_grid", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-samples", type=int, default=N_SAMPLES)
    parser.add_argument("--repeats", type=int, default=2)
    # A part of the grid, e.g. the worst case alone: --widths 100
    # --missing-rates 0.5 --covariance-types full.
    parser.add_argument(
        "--widths", default=None, help="comma-separated d (default: all)"
    )
    parser.add_argument(
        "--missing-rates", default=None, help="comma-separated rates (default: all)"
    )
    parser.add_argument(
        "--covariance-types", default=None, help="comma-separated (default: all)"
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    sizes = dict(QUICK) if args.quick else {}
    if not args.quick:
        sizes.update(n_samples=args.n_samples, repeats=args.repeats)
    if args.widths:
        sizes["widths"] = tuple(int(d) for d in args.widths.split(","))
    if args.missing_rates:
        sizes["missing_rates"] = tuple(
            float(rate) for rate in args.missing_rates.split(",")
        )
    if args.covariance_types:
        sizes["covariance_types"] = tuple(args.covariance_types.split(","))
    _, markdown = run(**sizes)
    print(markdown)


if __name__ == "__main__":
    main()
