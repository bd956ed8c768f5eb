"""EMClassifier against scikit-learn's classifiers: most labels missing, holes in X.

Run ``python -m benchmarks.bench_classifier --help`` (or ``python -m
benchmarks --only classifier``). Every method runs in the same process, on
the same data.

**Data.** Two Gaussian classes in d dimensions (``--dims``, 2 and 5 by
default) whose model is QDA's: class 1 with probability 0.4, class 0 centred
at the origin and class 1 at ``separation`` (2.0) times a random unit
vector, each class with its own random factor-model covariance
(:func:`benchmarks._data.random_covariance`), so the classes overlap and
their covariances differ. For each seed, a new problem, ``--n-train`` (2000)
training rows and ``--n-test`` (5000) test rows, complete. The training
labels are kept for a random ``round(fraction * n_train)`` rows (fractions
2%, 5%, 10%, 20%, 50%; the rows of a smaller fraction are among those of a
larger one), the others are set to ``-1``; labels are missing completely at
random, whatever the class. ``X`` is used complete (0% MCAR) and with every
cell missing independently with probability 0.2 (20% MCAR; a row may lose
every cell). The same problem, labels and mask serve every method.

**Methods**, each scored by its accuracy on the held-out complete test set:

- ``EMClassifier(random_state=seed)``, otherwise defaults
  (``covariance_type='full'``), on every training row, ``-1`` where the
  label is missing, NaN where ``X`` is;
- ``QuadraticDiscriminantAnalysis()`` and ``LinearDiscriminantAnalysis()``
  fitted on the labelled rows alone, behind ``SimpleImputer()`` (mean) in a
  ``Pipeline`` when ``X`` has holes (the imputer then sees the labelled
  rows only);
- ``SelfTrainingClassifier(QuadraticDiscriminantAnalysis())`` (defaults:
  threshold 0.75, 10 rounds) on every training row. It passes ``X`` on to
  QDA, which refuses NaN, so with holes it runs as ``Pipeline([
  SimpleImputer(), SelfTrainingClassifier(QDA())])``: the imputer is fitted
  on every training row, labelled or not;
- for scale, not as peers: ``QuadraticDiscriminantAnalysis()`` fitted with
  *every* label on the complete training data (the reference of the
  target), and the Bayes rule under the true parameters (the best any
  classifier can do).

A fit that raises is counted as failed and scored as chance, 0.5; the
tables give the number of failures. QDA and EMClassifier (``'full'``) need
d + 1 labelled rows of each class, and the peers fitted on the labelled
rows need both classes among them. At the default sizes (at least 40
labels) no fit fails; smaller ``--n-train`` shows failures.

Reported: accuracy averaged over ``--seeds`` (20) seeds, per d, MCAR rate
and label fraction; the time of one fit, averaged over the seeds and
fractions, and EMClassifier's time over the time of the reference QDA fit
(every row, complete data, so the same number of rows). Targets (issue 10):
EMClassifier's mean accuracy >= every peer's at every label fraction; and
within 1 point of the reference QDA when 10% of the labels are kept (0%
MCAR).
"""

import argparse

import numpy as np
from scipy.stats import multivariate_normal
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.semi_supervised import SelfTrainingClassifier

from benchmarks import _data
from benchmarks._util import (
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    quiet,
    timed,
    verdict,
)

DIMS = (2, 5)
FRACTIONS = (0.02, 0.05, 0.10, 0.20, 0.50)
MISSING_RATES = (0.0, 0.2)
N_TRAIN = 2000
N_TEST = 5000
SEPARATION = 2.0
PRIOR = 0.4  # probability of class 1
CHANCE = 0.5
TARGET_FRACTION = 0.10
TARGET_GAP = 0.01

LABELS = {
    "em": "EMClassifier",
    "qda": "QDA (labelled rows)",
    "lda": "LDA (labelled rows)",
    "self-training": "SelfTraining(QDA)",
    "reference": "QDA, all labels, complete X",
    "bayes": "Bayes rule (true parameters)",
}
PEERS = ("qda", "lda", "self-training")
METHODS = ("em",) + PEERS


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------
def two_class_problem(n_features, rng, *, separation=SEPARATION):
    """Means ``(2, d)`` and covariances ``(2, d, d)`` of two overlapping classes."""
    direction = rng.standard_normal(n_features)
    direction /= np.linalg.norm(direction)
    means = np.stack([np.zeros(n_features), separation * direction])
    covariances = np.stack([_data.random_covariance(n_features, rng) for _ in range(2)])
    return means, covariances


def draw(n_samples, means, covariances, rng, *, prior=PRIOR):
    """``(X, y)``: rows of class 1 with probability ``prior``, else class 0."""
    y = (rng.random(n_samples) < prior).astype(np.int64)
    X = np.empty((n_samples, means.shape[1]))
    for c in (0, 1):
        rows = y == c
        chol = np.linalg.cholesky(covariances[c])
        X[rows] = means[c] + rng.standard_normal((rows.sum(), means.shape[1])) @ chol.T
    return X, y


def bayes_accuracy(X, y, means, covariances, *, prior=PRIOR):
    """Accuracy of Bayes' rule under the true parameters."""
    log_joint = np.column_stack(
        [
            np.log(p) + multivariate_normal(m, S).logpdf(X)
            for p, m, S in zip((1 - prior, prior), means, covariances, strict=True)
        ]
    )
    return float(np.mean(log_joint.argmax(axis=1) == y))


# ----------------------------------------------------------------------------
# methods
# ----------------------------------------------------------------------------
def _behind_imputer(estimator, has_holes):
    return make_pipeline(SimpleImputer(), estimator) if has_holes else estimator


def _fit(key, X, y_semi, labelled, seed, has_holes):
    """The fitted method; raises what its ``fit`` raises."""
    from emimpute import EMClassifier

    if key == "em":
        return EMClassifier(random_state=seed).fit(X, y_semi)
    if key == "qda":
        estimator = _behind_imputer(QuadraticDiscriminantAnalysis(), has_holes)
        return estimator.fit(X[labelled], y_semi[labelled])
    if key == "lda":
        estimator = _behind_imputer(LinearDiscriminantAnalysis(), has_holes)
        return estimator.fit(X[labelled], y_semi[labelled])
    if key == "self-training":
        estimator = _behind_imputer(
            SelfTrainingClassifier(QuadraticDiscriminantAnalysis()), has_holes
        )
        return estimator.fit(X, y_semi)
    raise ValueError(key)


def _fit_score(key, X, y_semi, labelled, seed, X_test, y_test):
    """``(accuracy, seconds, fitted or None, error message or None)``."""
    has_holes = bool(np.isnan(X).any())
    try:
        with quiet():
            fitted, seconds = timed(_fit, key, X, y_semi, labelled, seed, has_holes)
    except ValueError as exc:  # numpy's and scipy's LinAlgError included
        return CHANCE, np.nan, None, f"{type(exc).__name__}: {exc}"
    with quiet():
        accuracy = float(np.mean(fitted.predict(X_test) == y_test))
    return accuracy, seconds, fitted, None


# ----------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------
def run_seeds(
    dims=DIMS,
    seeds=20,
    fractions=FRACTIONS,
    missing_rates=MISSING_RATES,
    n_train=N_TRAIN,
    n_test=N_TEST,
    separation=SEPARATION,
    log=print,
):
    """Accuracy and fit time of every method in every setting."""
    cells = {
        (d, rate, frac): {
            "n_labelled": max(1, int(round(frac * n_train))),
            **{key: {"acc": [], "time": [], "failed": 0} for key in METHODS},
            "em_iter": [],
            "em_converged": [],
        }
        for d in dims
        for rate in missing_rates
        for frac in fractions
    }
    reference = {
        d: {"reference": {"acc": [], "time": []}, "bayes": {"acc": []}} for d in dims
    }
    errors = {}
    # warm-up: imports and first-call overheads stay out of the timings
    rng = np.random.default_rng(12345)
    means, covariances = two_class_problem(2, rng, separation=separation)
    X, y = draw(200, means, covariances, rng)
    for key in METHODS:
        _fit_score(key, X, y, np.arange(200), 0, X, y)
    for d in dims:
        for seed in range(seeds):
            rng = np.random.default_rng([seed, d])
            means, covariances = two_class_problem(d, rng, separation=separation)
            X, y = draw(n_train, means, covariances, rng)
            X_test, y_test = draw(n_test, means, covariances, rng)
            with quiet():
                fitted, seconds = timed(QuadraticDiscriminantAnalysis().fit, X, y)
            reference[d]["reference"]["acc"].append(
                float(np.mean(fitted.predict(X_test) == y_test))
            )
            reference[d]["reference"]["time"].append(seconds)
            reference[d]["bayes"]["acc"].append(
                bayes_accuracy(X_test, y_test, means, covariances)
            )
            order = rng.permutation(n_train)
            # cell-wise MCAR: a cell is missing when its uniform draw < rate
            uniform = rng.random(X.shape)
            for rate in missing_rates:
                X_fit = _data.with_nan(X, uniform < rate) if rate > 0 else X
                for frac in fractions:
                    cell = cells[(d, rate, frac)]
                    labelled = np.sort(order[: cell["n_labelled"]])
                    y_semi = np.full(n_train, -1, dtype=np.int64)
                    y_semi[labelled] = y[labelled]
                    for key in METHODS:
                        acc, seconds, fitted, error = _fit_score(
                            key, X_fit, y_semi, labelled, seed, X_test, y_test
                        )
                        cell[key]["acc"].append(acc)
                        cell[key]["time"].append(seconds)
                        if error is not None:
                            cell[key]["failed"] += 1
                            errors.setdefault(key, error)
                        elif key == "em":
                            cell["em_iter"].append(fitted.n_iter_)
                            cell["em_converged"].append(bool(fitted.converged_))
        for rate in missing_rates:
            summary = ", ".join(
                f"{frac:.0%}: EM {np.mean(cells[(d, rate, frac)]['em']['acc']):.4f} "
                f"best peer {_best_peer(cells[(d, rate, frac)])[1]:.4f}"
                for frac in fractions
            )
            log(f"[classifier] d={d} MCAR {rate:.0%} {summary}")
        log(
            f"[classifier] d={d} QDA all labels "
            f"{np.mean(reference[d]['reference']['acc']):.4f}, Bayes "
            f"{np.mean(reference[d]['bayes']['acc']):.4f}"
        )
    return {
        "config": {
            "dims": tuple(dims),
            "seeds": seeds,
            "fractions": tuple(fractions),
            "missing_rates": tuple(missing_rates),
            "n_train": n_train,
            "n_test": n_test,
            "separation": separation,
            "prior": PRIOR,
        },
        "cells": cells,
        "reference": reference,
        "errors": errors,
    }


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def _mean(values):
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _best_peer(cell):
    """``(key, mean accuracy)`` of the peer with the highest mean accuracy."""
    key = max(PEERS, key=lambda k: np.mean(cell[k]["acc"]))
    return key, float(np.mean(cell[key]["acc"]))


def _seeds_em_ahead(cell):
    """Seeds on which EMClassifier's accuracy is >= every peer's."""
    em = np.asarray(cell["em"]["acc"])
    best = np.max([cell[k]["acc"] for k in PEERS], axis=0)
    return int(np.sum(em >= best))


def _gap_to_reference(results, d):
    """Reference QDA's mean accuracy minus EMClassifier's, 10% labels, 0% MCAR."""
    cfg = results["config"]
    frac = next(f for f in cfg["fractions"] if np.isclose(f, TARGET_FRACTION))
    em = np.mean(results["cells"][(d, 0.0, frac)]["em"]["acc"])
    return float(np.mean(results["reference"][d]["reference"]["acc"]) - em)


def targets(results):
    """``[(description, measured, met)]``."""
    cfg = results["config"]
    cells = results["cells"]
    dims = ", ".join(map(str, cfg["dims"]))
    out = []
    for rate in cfg["missing_rates"]:
        margins = []
        for (d, r, frac), cell in cells.items():
            if r != rate:
                continue
            key, best = _best_peer(cell)
            margins.append((np.mean(cell["em"]["acc"]) - best, d, frac, key))
        worst, d, frac, key = min(margins)
        n_ok = sum(m[0] >= 0 for m in margins)
        out.append(
            (
                "EMClassifier mean accuracy >= every peer's (QDA and LDA on the "
                "labelled rows, SelfTraining(QDA)) at every label fraction, "
                f"d = {dims}, X {rate:.0%} MCAR",
                f"{n_ok}/{len(margins)} settings; lowest margin "
                f"{100 * worst:+.2f} points (d={d}, {frac:.0%} labels, vs "
                f"{LABELS[key]})",
                worst >= 0,
            )
        )
    if 0.0 in cfg["missing_rates"] and any(
        np.isclose(f, TARGET_FRACTION) for f in cfg["fractions"]
    ):
        gaps = [(_gap_to_reference(results, d), d) for d in cfg["dims"]]
        worst, d = max(gaps)
        out.append(
            (
                f"EMClassifier with {TARGET_FRACTION:.0%} of the labels, complete "
                "X: within 1 point of QDA fitted with every label",
                f"{100 * worst:+.2f} points below it at worst (d={d})",
                worst <= TARGET_GAP,
            )
        )
    return out


def to_markdown(results):
    cfg = results["config"]
    cells = results["cells"]
    reference = results["reference"]
    parts = [
        f"Two Gaussian classes with different covariances (QDA's model), class 1 "
        f"with probability {cfg['prior']}, means {cfg['separation']} apart; a new "
        f"problem per seed, {cfg['n_train']} training rows of which a random "
        f"share keep their label, {cfg['n_test']} complete test rows. Accuracy "
        f"on the test rows in %, mean over {cfg['seeds']} seeds; the highest of "
        "EMClassifier and its peers in bold; `(k failed)`: k fits raised and "
        f"were scored as chance ({CHANCE:.0%}). `EM - best peer`: EMClassifier's "
        "mean minus the best peer's mean, in points; `seeds EM ahead`: seeds on "
        "which EMClassifier's accuracy is >= every peer's. The last two columns "
        "do not depend on the labels or the holes: QDA fitted with every label "
        "on the complete training data, and Bayes' rule under the true "
        "parameters."
    ]
    rows = []
    for (d, rate, frac), cell in cells.items():
        means = [float(np.mean(cell[k]["acc"])) for k in METHODS]
        texts = [
            f"{100 * m:.2f}"
            + (f" ({cell[k]['failed']} failed)" if cell[k]["failed"] else "")
            for m, k in zip(means, METHODS, strict=True)
        ]
        best = max(means)
        texts = [
            f"**{t}**" if m == best else t for t, m in zip(texts, means, strict=True)
        ]
        rows.append(
            [
                str(d),
                f"{rate:.0%}",
                f"{frac:.0%} ({cell['n_labelled']})",
                *texts,
                f"{100 * (means[0] - _best_peer(cell)[1]):+.2f}",
                f"{_seeds_em_ahead(cell)}/{cfg['seeds']}",
                f"{100 * np.mean(reference[d]['reference']['acc']):.2f}",
                f"{100 * np.mean(reference[d]['bayes']['acc']):.2f}",
            ]
        )
    parts.append(
        markdown_table(
            [
                "d",
                "X MCAR",
                "labels kept (rows)",
                *[LABELS[k] for k in METHODS],
                "EM - best peer",
                "seeds EM ahead",
                LABELS["reference"],
                LABELS["bayes"],
            ],
            rows,
            align="rrr" + "r" * (len(METHODS) + 4),
        )
    )

    rows = []
    for d in cfg["dims"]:
        ref_time = _mean(reference[d]["reference"]["time"])
        for rate in cfg["missing_rates"]:
            group = [cells[(d, rate, frac)] for frac in cfg["fractions"]]
            times = {
                k: _mean([t for cell in group for t in cell[k]["time"]])
                for k in METHODS
            }
            iterations = " / ".join(
                f"{np.mean(cell['em_iter']):.1f}" if cell["em_iter"] else "—"
                for cell in group
            )
            not_converged = sum(
                len(c["em_converged"]) - sum(c["em_converged"]) for c in group
            )
            rows.append(
                [
                    str(d),
                    f"{rate:.0%}",
                    *[fmt_seconds(times[k]) for k in METHODS],
                    fmt_seconds(ref_time),
                    fmt_ratio(times["em"] / ref_time),
                    iterations,
                    str(not_converged),
                ]
            )
    fractions = " / ".join(f"{f:.0%}" for f in cfg["fractions"])
    parts.append(
        "Time of one fit (mean over the seeds and the label fractions, failed "
        "fits left out; peers with holes include their `SimpleImputer`). "
        "`EM / QDA, all labels`: EMClassifier's time over that of the "
        "reference QDA fit, which sees as many rows (every one, labelled and "
        "complete). EMClassifier's mean number of EM iterations at each label "
        f"fraction ({fractions}), and its fits that stopped at `max_iter` "
        "without reaching `tol`:"
    )
    parts.append(
        markdown_table(
            [
                "d",
                "X MCAR",
                *[LABELS[k] for k in METHODS],
                LABELS["reference"],
                "EM / QDA, all labels",
                "EM iterations",
                "EM not converged",
            ],
            rows,
        )
    )
    errors = results["errors"]
    if errors:
        parts.append(
            "First error of each method that failed:\n\n"
            + "\n".join(f"- {LABELS[k]}: `{message}`" for k, message in errors.items())
        )
    parts.append(
        markdown_table(
            ["target", "measured", "status"],
            [[t, m, verdict(ok)] for t, m, ok in targets(results)],
            align="lrl",
        )
    )
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def _numbers(kind):
    def parse(text):
        return tuple(kind(v) for v in text.split(",") if v)

    return parse


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dims", type=_numbers(int), default=DIMS, help="comma-separated, e.g. 2,5"
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--fractions",
        type=_numbers(float),
        default=FRACTIONS,
        help="label fractions kept, comma-separated",
    )
    parser.add_argument(
        "--missing-rates",
        type=_numbers(float),
        default=MISSING_RATES,
        help="cell-wise MCAR rates of X, comma-separated",
    )
    parser.add_argument("--n-train", type=int, default=N_TRAIN)
    parser.add_argument("--n-test", type=int, default=N_TEST)
    parser.add_argument("--separation", type=float, default=SEPARATION)
    return parser


def run(
    dims=DIMS,
    seeds=20,
    fractions=FRACTIONS,
    missing_rates=MISSING_RATES,
    n_train=N_TRAIN,
    n_test=N_TEST,
    separation=SEPARATION,
    log=print,
):
    """The whole benchmark; returns ``(results, markdown)``."""
    results = run_seeds(
        dims=dims,
        seeds=seeds,
        fractions=fractions,
        missing_rates=missing_rates,
        n_train=n_train,
        n_test=n_test,
        separation=separation,
        log=log,
    )
    return results, to_markdown(results)


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, markdown = run(
        dims=args.dims,
        seeds=args.seeds,
        fractions=args.fractions,
        missing_rates=args.missing_rates,
        n_train=args.n_train,
        n_test=args.n_test,
        separation=args.separation,
    )
    print(markdown)


if __name__ == "__main__":
    main()
