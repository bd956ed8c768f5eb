"""EMImputer on mixed categorical and numeric tables: accuracy, RMSE and time.

Run ``python -m benchmarks.bench_mixed --help`` (or ``python -m benchmarks
--only mixed``); ``--skip-em`` runs the scikit-learn peers alone. Two parts,
every method in the same process:

1. **Real mixed tables** (:data:`benchmarks._mixed_data.TABLES`): Palmer
   penguins (bundled), ``cars`` from ``vega_datasets`` and ``anes96`` from
   ``statsmodels``, each with categorical columns of ``category`` dtype and
   numeric columns with their natural holes. For each of ``--masks`` masks
   (seeds 0, 1, ...), 20% of the *observed* cells are hidden uniformly at
   random (:func:`benchmarks._mixed_data.observed_mask`); every method imputes
   the holed table, and we score the hidden cells: the share of hidden
   categorical cells filled with the true category (accuracy, pooled over the
   categorical columns), and the RMSE over the hidden numeric cells, each
   error divided by its column's standard deviation over the observed cells
   of the original table (so filling with the true mean scores about 1).
2. **Time per EM iteration**, mixed against numeric: n = 100000 rows from a
   latent class model (:func:`benchmarks._mixed_data.latent_class_data`: 10
   Gaussian numeric columns, 10 categorical columns of 5 levels, K = 5
   classes), 20% cell-wise MCAR; ``EMMixture`` on the mixed table against
   ``EMMixture`` on its 10 numeric columns alone, timed as in
   ``bench_mixture`` (``tol=0``; ``(min t(max_iter=11) - min t(max_iter=1))
   / 10``, minima over ``--timing-repeats`` repeats, 5 by default). Target:
   ratio <= 1.3x. Ten iterations and five repeats, not five and three: each
   minimum carries the machine's noise (other processes on a shared
   machine; and the mixed fit's initialisation, 0.45 s at 1e5 rows, varied
   by 0.2 s from fit to fit), and the ratio of two times of 30 to 60 ms per
   iteration moved by up to 0.5 between runs of five iterations and three
   repeats on a shared 2-core machine.

Methods. Every method sees the numeric columns standardised by the mean and
standard deviation of their observed cells in the holed table (no ground
truth; mean imputation is unaffected), and its result is mapped back:

- ``SimpleImputer``: ``most_frequent`` on the categorical columns, ``mean``
  on the numeric ones;
- ``KNNImputer`` (defaults, 5 neighbours) on the numeric columns and a
  one-hot block per categorical column (a hidden category hides its whole
  block); a category is the argmax of its imputed block;
- ``IterativeImputer(random_state=0)`` (defaults: BayesianRidge, 10 rounds)
  on the numeric columns and the reference coding of each categorical column
  (the dummies of ``OneHotEncoder(drop='first')``, a hidden category hides
  them all); a category is the argmax over (``1 - sum`` of the imputed
  dummies for the dropped first level, the imputed dummies);
- ``EMImputer`` on the numeric columns alone (the categorical columns
  dropped), the baseline for the numeric RMSE of the mixed model;
- ``EMImputer`` on the whole table, ``categorical_features='from_dtype'``,
  ``category_smoothing=1.0``.

**The recipe for the EM models** (:func:`choose_model`, the same for every
table and for both EMImputer variants, using the holed table only, the one
the user guide recommends): for ``n_components`` K in 1..12 and
``covariance_type='tied'``, hide a further 10% of the
observed cells of the holed table (two seeded draws), fit
``EMImputer(n_components=K, covariance_type='tied', random_state=0)``
(with the same categorical settings) to what is left, and score the cells hidden
from it: per column, the error rate of a categorical column and the mean
squared error over the observed variance of a numeric one, averaged over the
columns and the draws. The K with the lowest loss wins; ties go to the
smaller K. A candidate whose fit fails with the
``ValueError`` of a degenerate covariance (the one that names
``reg_covar``) is skipped. The imputer is then ``EMImputer(n_components=K,
covariance_type='tied', random_state=0)`` with the same settings, fit on the
whole holed table, and its time includes the whole search.

Reported: mean ± sd over masks per table and method; for each peer, the
share of masks on which the mixed EMImputer's categorical accuracy is >= the
peer's (target: >= 80% of masks for every peer); whether its numeric RMSE is
<= the numeric-only EMImputer's (target: on the mean over masks).
"""

import argparse

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from benchmarks import _data, _mixed_data
from benchmarks._util import (
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    quiet,
    timed,
    verdict,
)

MISSING_RATE = 0.2
# 'tied' only: one shared covariance carries the numeric correlations and the
# classes the dependence between the categories and the rest. Searched over
# ('full', 'tied', 'diag') too, the held-out loss picked all three types
# from mask to mask and imputed worse (categorical accuracy over 10 masks:
# penguins 0.844, cars 0.780, anes96 0.497; 'tied' alone, 5 masks: 0.850,
# 0.822, 0.515).
COVARIANCE_TYPES = ("tied",)
TARGET_SHARE = 0.8
TARGET_TIME_RATIO = 1.3

# Settings of the mixed model, shared by the imputer, choose_model and the
# timing run.
MIXED_PARAMS = {"categorical_features": "from_dtype", "category_smoothing": 1.0}

LABELS = {
    "simple": "SimpleImputer (most frequent / mean)",
    "knn": "KNNImputer (one-hot)",
    "iterative": "IterativeImputer (reference coding)",
    "em-numeric": "EMImputer (numeric columns only)",
    "em-mixed": "EMImputer (mixed)",
}
PEERS = ("simple", "knn", "iterative")
EM_METHODS = ("em-numeric", "em-mixed")
METHODS = PEERS + EM_METHODS
# the methods that impute the categorical columns
CATEGORICAL_METHODS = ("simple", "knn", "iterative", "em-mixed")


# ----------------------------------------------------------------------------
# the model recipe
# ----------------------------------------------------------------------------
def choose_model(
    X,
    *,
    max_components=12,
    covariance_types=COVARIANCE_TYPES,
    holdout_rate=0.1,
    n_holdouts=2,
    random_state=0,
    **params,
):
    """Choose ``n_components`` and ``covariance_type`` by held-out imputation error.

    For each of ``n_holdouts`` seeded draws, hide ``holdout_rate`` of the
    observed cells of ``X`` (uniformly, as the benchmark's own masks do),
    fit ``EMImputer(n_components=K, covariance_type=t,
    random_state=random_state, **params)`` to what is left for every K in
    ``1..max_components`` and t in ``covariance_types``, impute, and score
    the hidden cells: per column, the error rate of a categorical column and
    the mean squared error over the observed variance of a numeric one,
    averaged over the columns. The pair with the lowest mean over the draws
    wins; ties go to the first candidate (smaller K, then the order of
    ``covariance_types``). A fit that fails with the ``ValueError`` of a
    degenerate covariance (its message names ``reg_covar``: too many
    components for the data) is skipped; if every fit fails, the last error
    is raised.

    Under local independence, the dependence between a categorical column
    and the rest flows only through the class, so the grid must allow many
    classes; BIC, which prices every class's parameters, stops too early for
    imputation (on these tables it picks 2 to 5 classes where 6 to 12
    impute the categories better).

    Parameters
    ----------
    X : DataFrame of shape (n_samples, n_features)
        The incomplete table, as it will be given to the imputer
        (categorical columns of pandas ``category`` dtype).
    max_components : int, default=12
        Largest number of components tried.
    covariance_types : tuple of str, default=('tied',)
        Covariance types tried.
    holdout_rate : float, default=0.1
        Share of the observed cells hidden in each draw.
    n_holdouts : int, default=2
        Number of draws (seeds ``random_state``, ``random_state + 1``...).
    random_state : int, default=0
        Seed of every fit and of the first draw.
    **params
        Further EMImputer parameters, the same for every fit (for a mixed
        table, ``categorical_features`` and ``category_smoothing``).

    Returns
    -------
    best : dict
        ``{'n_components': K, 'covariance_type': t}`` of the lowest loss.
    losses : dict
        ``{(K, t): loss}`` for every candidate, ``inf`` for a failed fit.
    """
    from emimpute import EMImputer

    categorical, _ = _mixed_data.split_columns(X)
    is_categorical = np.isin(X.columns, categorical)
    draws = []
    for draw in range(n_holdouts):
        rng = np.random.default_rng(random_state + draw)
        hidden = _mixed_data.observed_mask(X, holdout_rate, rng)
        draws.append((hidden, _mixed_data.with_holes(X, hidden)))
    truth = X.to_numpy(dtype=object)
    variances = np.array(
        [
            np.nanvar(X[c].to_numpy(dtype=float)) if c not in categorical else 1.0
            for c in X.columns
        ]
    )
    losses, best, error = {}, None, None
    for n_components in range(1, max_components + 1):
        for covariance_type in covariance_types:
            imputer = EMImputer(
                n_components=n_components,
                covariance_type=covariance_type,
                random_state=random_state,
                **params,
            )
            try:
                loss = 0.0
                for hidden, holed in draws:
                    with quiet():
                        out = np.asarray(imputer.fit_transform(holed), dtype=object)
                    loss += _holdout_loss(truth, out, hidden, is_categorical, variances)
                loss /= n_holdouts
            except ValueError as exc:
                # Only the degenerate-covariance error (it names reg_covar) marks
                # a bad candidate; any other is a bug and must surface.
                if "reg_covar" not in str(exc):
                    raise
                error, loss = exc, np.inf
            losses[n_components, covariance_type] = loss
            if best is None or loss < losses[best]:
                best = (n_components, covariance_type)
    if not np.isfinite(losses[best]):
        raise error
    return {"n_components": best[0], "covariance_type": best[1]}, losses


def _holdout_loss(truth, out, hidden, is_categorical, variances):
    """Mean over the columns with hidden cells of their imputation loss."""
    per_column = []
    for j in np.flatnonzero(hidden.any(axis=0)):
        rows = hidden[:, j]
        if is_categorical[j]:
            per_column.append(np.mean(out[rows, j] != truth[rows, j]))
        else:
            errors = out[rows, j].astype(float) - truth[rows, j].astype(float)
            per_column.append(np.mean(errors**2) / variances[j])
    return float(np.mean(per_column))


# ----------------------------------------------------------------------------
# the holed table as the peers see it
# ----------------------------------------------------------------------------
class _Design:
    """Standardised numeric columns and category codes of a holed table."""

    def __init__(self, holed):
        self.categorical, self.numeric = _mixed_data.split_columns(holed)
        self.columns = list(holed.columns)
        num = holed[self.numeric].to_numpy(dtype=float)
        self.mean = np.nanmean(num, axis=0)
        std = np.nanstd(num, axis=0)
        self.std = np.where(std > 0, std, 1.0)
        self.Z = (num - self.mean) / self.std
        self.categories = [list(holed[c].cat.categories) for c in self.categorical]
        self.n_levels = [len(c) for c in self.categories]
        # -1 for a hole, as pandas codes it
        self.codes = np.column_stack(
            [holed[c].cat.codes.to_numpy() for c in self.categorical]
        ).astype(np.int64)

    def one_hot(self, *, drop_first=False):
        """One block per categorical column; a hole is NaN across its block."""
        blocks = []
        for j, n_levels in enumerate(self.n_levels):
            codes = self.codes[:, j]
            block = (codes[:, None] == np.arange(n_levels)).astype(float)
            block[codes < 0] = np.nan
            blocks.append(block[:, 1:] if drop_first else block)
        return np.hstack(blocks)

    def decode(self, M, *, drop_first=False):
        """Category codes from imputed blocks: the argmax of each block.

        With ``drop_first`` the block holds the dummies of levels 1..L-1 and
        the dropped level 0 scores ``1 - sum`` of them.
        """
        codes, start = [], 0
        for n_levels in self.n_levels:
            width = n_levels - 1 if drop_first else n_levels
            block = M[:, start : start + width]
            start += width
            if drop_first:
                block = np.column_stack([1.0 - block.sum(axis=1), block])
            codes.append(block.argmax(axis=1))
        return np.column_stack(codes)

    def unscale(self, Z):
        return np.asarray(Z, dtype=float) * self.std + self.mean


# Every method maps (holed frame, design) to (numeric columns in the data's
# units, category codes or None when it leaves the categorical columns alone),
# and EMImputer adds the model choose_model picked.
def _simple(holed, design, max_components):
    num = SimpleImputer(strategy="mean", keep_empty_features=True).fit_transform(
        design.Z
    )
    codes = np.where(design.codes < 0, np.nan, design.codes.astype(float))
    codes = SimpleImputer(
        strategy="most_frequent", keep_empty_features=True
    ).fit_transform(codes)
    return design.unscale(num), codes.astype(np.int64)


def _knn(holed, design, max_components):
    n_numeric = len(design.numeric)
    M = np.hstack([design.Z, design.one_hot()])
    M = KNNImputer(keep_empty_features=True).fit_transform(M)
    return design.unscale(M[:, :n_numeric]), design.decode(M[:, n_numeric:])


def _iterative(holed, design, max_components):
    n_numeric = len(design.numeric)
    M = np.hstack([design.Z, design.one_hot(drop_first=True)])
    M = IterativeImputer(random_state=0, keep_empty_features=True).fit_transform(M)
    return (
        design.unscale(M[:, :n_numeric]),
        design.decode(M[:, n_numeric:], drop_first=True),
    )


def _em_numeric(holed, design, max_components):
    import pandas as pd

    from emimpute import EMImputer

    best, _ = choose_model(
        pd.DataFrame(design.Z, columns=design.numeric),
        max_components=max_components,
    )
    Z = EMImputer(**best, random_state=0).fit_transform(design.Z)
    return design.unscale(Z), None, best


def _em_mixed(holed, design, max_components):
    import pandas as pd

    from emimpute import EMImputer

    X = holed.copy()
    X[design.numeric] = design.Z
    best, _ = choose_model(X, max_components=max_components, **MIXED_PARAMS)
    out = np.asarray(
        EMImputer(**best, random_state=0, **MIXED_PARAMS).fit_transform(X),
        dtype=object,
    )
    index = {name: j for j, name in enumerate(design.columns)}
    Z = out[:, [index[c] for c in design.numeric]].astype(float)
    # a label outside the categories (or a hole left) gets code -1: wrong
    codes = np.column_stack(
        [
            pd.Categorical(out[:, index[c]], categories=cats).codes
            for c, cats in zip(design.categorical, design.categories, strict=True)
        ]
    ).astype(np.int64)
    return design.unscale(Z), codes, best


_IMPUTE = {
    "simple": _simple,
    "knn": _knn,
    "iterative": _iterative,
    "em-numeric": _em_numeric,
    "em-mixed": _em_mixed,
}


# ----------------------------------------------------------------------------
# part 1: real tables
# ----------------------------------------------------------------------------
def _score(truth, design, mask, num, codes):
    """Accuracy (pooled and per column) and standardised RMSE on hidden cells."""
    index = {name: j for j, name in enumerate(design.columns)}
    cat_idx = [index[c] for c in design.categorical]
    num_idx = [index[c] for c in design.numeric]
    out = {"acc": np.nan, "acc_by_column": {}, "rmse": np.nan}
    if codes is not None:
        true_codes = np.column_stack(
            [truth[c].cat.codes.to_numpy() for c in design.categorical]
        )
        hidden = mask[:, cat_idx]
        hits = codes == true_codes
        out["acc"] = float(hits[hidden].mean())
        out["acc_by_column"] = {
            c: float(hits[hidden[:, j], j].mean()) if hidden[:, j].any() else np.nan
            for j, c in enumerate(design.categorical)
        }
    true_num = truth[design.numeric].to_numpy(dtype=float)
    scale = np.nanstd(true_num, axis=0)
    hidden = mask[:, num_idx]
    errors = ((num - true_num) / scale)[hidden]
    out["rmse"] = float(np.sqrt(np.mean(errors**2)))
    return out


def run_tables(
    tables=_mixed_data.TABLES,
    masks=10,
    methods=METHODS,
    missing_rate=MISSING_RATE,
    max_components=12,
    log=print,
):
    """Accuracy, RMSE and time on the real tables; ``{table: entry}``."""
    results = {}
    for name in tables:
        truth = _mixed_data.load_table(name)
        categorical, numeric = _mixed_data.split_columns(truth)
        per_method = {
            key: {"acc": [], "rmse": [], "time": [], "acc_by_column": [], "chosen": []}
            for key in methods
        }
        hidden = []
        for seed in range(masks):
            rng = np.random.default_rng(seed)
            mask = _mixed_data.observed_mask(truth, missing_rate, rng)
            hidden.append(int(mask.sum()))
            holed = _mixed_data.with_holes(truth, mask)
            design = _Design(holed)
            for key in methods:
                with quiet():
                    result, seconds = timed(_IMPUTE[key], holed, design, max_components)
                num, codes = result[:2]
                scores = _score(truth, design, mask, num, codes)
                entry = per_method[key]
                entry["acc"].append(scores["acc"])
                entry["rmse"].append(scores["rmse"])
                entry["time"].append(seconds)
                entry["acc_by_column"].append(scores["acc_by_column"])
                if len(result) > 2:
                    best = result[2]
                    entry["chosen"].append(
                        f"{best['n_components']} {best['covariance_type']}"
                    )
        results[name] = {
            "shape": truth.shape,
            "categorical": categorical,
            "numeric": numeric,
            "levels": [len(truth[c].cat.categories) for c in categorical],
            "natural_holes": int(truth.isna().to_numpy().sum()),
            "hidden": hidden,
            "methods": per_method,
        }
        summary = ", ".join(
            f"{key} acc {_nanmean(v['acc']):.3f} rmse {np.mean(v['rmse']):.3f}"
            for key, v in per_method.items()
        )
        log(f"[mixed] {name}: {summary}")
    return results


# ----------------------------------------------------------------------------
# part 2: time per iteration, mixed vs numeric
# ----------------------------------------------------------------------------
def run_timing(
    n_samples=100_000,
    n_numeric=10,
    n_categorical=10,
    n_levels=5,
    n_components=5,
    covariance_type="full",
    missing_rate=MISSING_RATE,
    lo=1,
    hi=11,
    repeats=5,
    seed=0,
    log=print,
):
    """EMMixture time per iteration on a mixed table and on its numeric part."""
    from benchmarks.bench_mixture import _per_iteration
    from emimpute import EMMixture

    rng = np.random.default_rng(seed)
    frame, _ = _mixed_data.latent_class_data(
        n_samples, n_numeric, n_categorical, n_levels, n_components, rng
    )
    mask = _data.mcar_mask(frame.shape, missing_rate, rng, keep_one_observed=False)
    mixed = _mixed_data.with_holes(frame, mask)
    numeric = mixed.iloc[:, :n_numeric].to_numpy(dtype=float)
    data = {"numeric columns only": (numeric, {}), "mixed": (mixed, MIXED_PARAMS)}
    log(
        f"[mixed] timing: n={n_samples}, {n_numeric} numeric + {n_categorical} "
        f"categorical ({n_levels} levels), K={n_components}, {mask.mean():.1%} missing"
    )

    def make(X, params):
        def build(max_iter):
            return (
                EMMixture(
                    n_components=n_components,
                    covariance_type=covariance_type,
                    tol=0.0,
                    max_iter=max_iter,
                    n_init=1,
                    init_params="random_from_data",
                    random_state=0,
                    **params,
                ),
                X,
            )

        return build

    fits = {label: make(X, params) for label, (X, params) in data.items()}
    # warm-up: imports, BLAS threads, first-call overheads
    for X, params in data.values():
        with quiet():
            make(X[:2000], params)(2)[0].fit(X[:2000])
    per_iter, last = _per_iteration(fits, lo, hi, repeats)
    for label in fits:
        log(f"[mixed] timing {label:22s} {fmt_seconds(per_iter[label])}/iter")
    return {
        "config": {
            "n_samples": n_samples,
            "n_numeric": n_numeric,
            "n_categorical": n_categorical,
            "n_levels": n_levels,
            "n_components": n_components,
            "covariance_type": covariance_type,
            "missing_rate": float(mask.mean()),
            "lo": lo,
            "hi": hi,
            "repeats": repeats,
        },
        "per_iter": per_iter,
        "lower_bound": {
            label: float(est.lower_bound_) for label, (est, _) in last.items()
        },
    }


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def _nanmean(values):
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if not np.isnan(values).all() else np.nan


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return "—"
    return f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"


def comparisons(entry):
    """Mixed EMImputer against each peer and against numeric-only EMImputer."""
    m = entry["methods"]
    if "em-mixed" not in m:
        return None
    em_acc = np.asarray(m["em-mixed"]["acc"])
    out = {"share": {}}
    for peer in PEERS:
        if peer in m:
            out["share"][peer] = float(np.mean(em_acc >= np.asarray(m[peer]["acc"])))
    if "em-numeric" in m:
        mixed = np.asarray(m["em-mixed"]["rmse"])
        numeric = np.asarray(m["em-numeric"]["rmse"])
        out["rmse_ratio"] = float(mixed.mean() / numeric.mean())
        out["rmse_share"] = float(np.mean(mixed <= numeric))
    return out


def targets(results):
    """``[(description, measured, met)]``; empty where EM did not run."""
    out = []
    for name, entry in (results.get("tables") or {}).items():
        comp = comparisons(entry)
        if comp is None:
            continue
        if comp["share"]:
            worst = min(comp["share"], key=comp["share"].get)
            out.append(
                (
                    f"{name}: EMImputer (mixed) categorical accuracy >= every peer's "
                    f"on >= {TARGET_SHARE:.0%} of masks",
                    f"{comp['share'][worst]:.0%} (lowest, vs {LABELS[worst]})",
                    comp["share"][worst] >= TARGET_SHARE,
                )
            )
        if "rmse_ratio" in comp:
            out.append(
                (
                    f"{name}: EMImputer (mixed) numeric RMSE <= numeric-only "
                    "EMImputer's (mean over masks)",
                    f"{comp['rmse_ratio']:.3f}x",
                    comp["rmse_ratio"] <= 1.0,
                )
            )
    timing = results.get("timing")
    if timing:
        per_iter = timing["per_iter"]
        ratio = per_iter["mixed"] / per_iter["numeric columns only"]
        cfg = timing["config"]
        out.append(
            (
                f"EMMixture time per iteration, {cfg['n_numeric']} numeric + "
                f"{cfg['n_categorical']} categorical / {cfg['n_numeric']} numeric "
                f"alone, n={cfg['n_samples']} <= {TARGET_TIME_RATIO:.1f}x",
                fmt_ratio(ratio),
                ratio <= TARGET_TIME_RATIO,
            )
        )
    return out


def _bold_best(cells, values, best):
    return [
        f"**{c}**" if np.isfinite(v) and v == best else c
        for c, v in zip(cells, values, strict=True)
    ]


def to_markdown(results):
    parts = []
    tables = results.get("tables") or {}
    masks = results.get("masks")
    if tables:
        methods = list(next(iter(tables.values()))["methods"])
        cat_methods = [k for k in methods if k in CATEGORICAL_METHODS]
        rows = []
        for name, entry in tables.items():
            n, d = entry["shape"]
            source, licence = _mixed_data.SOURCES.get(name, ("", ""))
            rows.append(
                [
                    name,
                    f"{n} x {d}",
                    ", ".join(
                        f"{c} ({L})"
                        for c, L in zip(
                            entry["categorical"], entry["levels"], strict=True
                        )
                    ),
                    ", ".join(entry["numeric"]),
                    str(entry["natural_holes"]),
                    f"{np.mean(entry['hidden']):.0f}",
                    source,
                    licence,
                ]
            )
        parts.append(
            "Tables (categorical columns with their number of levels; natural "
            "holes are the table's own, hidden cells are 20% of the observed "
            "ones, per mask):"
        )
        parts.append(
            markdown_table(
                [
                    "table",
                    "shape",
                    "categorical",
                    "numeric",
                    "natural holes",
                    "hidden cells",
                    "source",
                    "licence",
                ],
                rows,
                align="lrllrrll",
            )
        )

        def metric_table(metric, keys, best_fn):
            rows = []
            for name, entry in tables.items():
                m = entry["methods"]
                means = [float(np.nanmean(m[k][metric])) for k in keys]
                cells = [_mean_sd(m[k][metric]) for k in keys]
                rows.append([name, *_bold_best(cells, means, best_fn(means))])
            return markdown_table(["table", *[LABELS[k] for k in keys]], rows)

        parts.append(
            f"Categorical accuracy on the hidden categorical cells, pooled over "
            f"the categorical columns (mean ± sd over {masks} masks; highest in "
            "bold):"
        )
        parts.append(metric_table("acc", cat_methods, max))
        parts.append(
            f"Numeric RMSE on the hidden numeric cells, each error divided by its "
            f"column's sd over the observed cells (mean ± sd over {masks} masks; "
            "lowest in bold):"
        )
        parts.append(metric_table("rmse", methods, min))

        rows = []
        for name, entry in tables.items():
            m = entry["methods"]
            for c in entry["categorical"]:
                values = [
                    float(np.nanmean([a[c] for a in m[k]["acc_by_column"]]))
                    for k in cat_methods
                ]
                cells = [f"{v:.3f}" for v in values]
                rows.append([f"{name}: {c}", *_bold_best(cells, values, max(values))])
        parts.append("Accuracy per categorical column (mean over masks):")
        parts.append(
            markdown_table(["column", *[LABELS[k] for k in cat_methods]], rows)
        )

        compared = {name: comparisons(entry) for name, entry in tables.items()}
        if any(compared.values()):
            rows = []
            for name, comp in compared.items():
                if comp is None:
                    continue
                rows.append(
                    [
                        name,
                        *[
                            f"{comp['share'][p]:.0%}" if p in comp["share"] else "—"
                            for p in PEERS
                        ],
                        f"{comp['rmse_ratio']:.3f}x" if "rmse_ratio" in comp else "—",
                        f"{comp['rmse_share']:.0%}" if "rmse_share" in comp else "—",
                    ]
                )
            parts.append(
                "EMImputer (mixed) against the peers: the share of masks on which "
                "its categorical accuracy is >= the peer's (target: >= "
                f"{TARGET_SHARE:.0%} for every peer); its numeric RMSE over the "
                "numeric-only EMImputer's (mean over masks; target <= 1) and the "
                "share of masks on which it is <=:"
            )
            parts.append(
                markdown_table(
                    [
                        "table",
                        *[f"acc >= {LABELS[p]}" for p in PEERS],
                        "RMSE / numeric-only EMImputer's",
                        "masks with RMSE <=",
                    ],
                    rows,
                )
            )

        em = [k for k in methods if k in EM_METHODS]
        if em:
            rows = []
            for name, entry in tables.items():
                row = [name]
                for k in em:
                    chosen = entry["methods"][k]["chosen"]
                    counts = {c: chosen.count(c) for c in dict.fromkeys(chosen)}
                    row.append(", ".join(f"{c} (x{n})" for c, n in counts.items()))
                rows.append(row)
            parts.append(
                "Model chosen by `choose_model` (n_components and "
                "covariance_type of the lowest held-out imputation loss, K in "
                "1..max, 'tied'), with how many masks chose it:"
            )
            parts.append(markdown_table(["table", *[LABELS[k] for k in em]], rows))

        rows = []
        for name, entry in tables.items():
            m = entry["methods"]
            rows.append([name, *[fmt_seconds(np.mean(m[k]["time"])) for k in methods]])
        parts.append(
            "Time of one imputation (mean over masks; for EMImputer, the "
            "model search included):"
        )
        parts.append(markdown_table(["table", *[LABELS[k] for k in methods]], rows))

    timing = results.get("timing")
    if timing:
        cfg = timing["config"]
        base = timing["per_iter"]["numeric columns only"]
        rows = [
            [
                label,
                fmt_seconds(seconds),
                fmt_ratio(seconds / base),
                f"{timing['lower_bound'][label]:.4f}",
            ]
            for label, seconds in timing["per_iter"].items()
        ]
        parts.append(
            f"EMMixture time per iteration: n = {cfg['n_samples']} rows of a "
            f"latent class model with K = {cfg['n_components']} classes, "
            f"{cfg['n_numeric']} Gaussian numeric columns and "
            f"{cfg['n_categorical']} categorical columns of {cfg['n_levels']} "
            f"levels, {cfg['missing_rate']:.1%} of the cells missing (cell-wise "
            f"MCAR); `covariance_type='{cfg['covariance_type']}'`, "
            f"n_components = {cfg['n_components']}. (min over {cfg['repeats']} "
            f"repeats of t(max_iter={cfg['hi']}) - min of t(max_iter={cfg['lo']}))"
            f" / {cfg['hi'] - cfg['lo']}, tol=0, the same seed for both fits."
        )
        parts.append(
            markdown_table(
                [
                    "data",
                    "time / iteration",
                    "ratio to numeric only",
                    "final log-likelihood / row",
                ],
                rows,
            )
        )
    target_rows = targets(results)
    if target_rows:
        parts.append(
            markdown_table(
                ["target", "measured", "status"],
                [[t, m, verdict(ok)] for t, m, ok in target_rows],
                align="lrl",
            )
        )
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def _names(choices):
    def parse(text):
        names = tuple(v for v in text.split(",") if v)
        unknown = set(names) - set(choices)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {sorted(unknown)}; choose from {','.join(choices)}"
            )
        return names

    return parse


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tables",
        type=_names(_mixed_data.TABLES),
        default=_mixed_data.TABLES,
        help="comma-separated subset of " + ",".join(_mixed_data.TABLES),
    )
    parser.add_argument("--masks", type=int, default=10, help="masks (seeds 0..)")
    parser.add_argument("--max-components", type=int, default=12)
    parser.add_argument("--missing-rate", type=float, default=MISSING_RATE)
    parser.add_argument(
        "--methods",
        type=_names(METHODS),
        default=METHODS,
        help="comma-separated subset of " + ",".join(METHODS),
    )
    parser.add_argument(
        "--skip-em",
        action="store_true",
        help="the scikit-learn peers alone: no EMImputer, no timing",
    )
    parser.add_argument("--timing-n-samples", type=int, default=100_000)
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--timing-covariance-type", default="full")
    return parser


def run(
    tables=_mixed_data.TABLES,
    masks=10,
    max_components=12,
    missing_rate=MISSING_RATE,
    methods=METHODS,
    skip_em=False,
    timing_n_samples=100_000,
    timing_repeats=5,
    timing_covariance_type="full",
    log=print,
):
    """Both parts; returns ``(results, markdown)``.

    ``skip_em`` leaves out both EMImputer variants and the timing, which
    need the mixed EMImputer/EMMixture; ``timing_n_samples=0`` skips the
    timing alone.
    """
    if skip_em:
        methods = tuple(k for k in methods if k not in EM_METHODS)
    results = {"masks": masks, "tables": None, "timing": None}
    if tables and masks:
        results["tables"] = run_tables(
            tables=tables,
            masks=masks,
            methods=methods,
            missing_rate=missing_rate,
            max_components=max_components,
            log=log,
        )
    if timing_n_samples and not skip_em:
        results["timing"] = run_timing(
            n_samples=timing_n_samples,
            repeats=timing_repeats,
            covariance_type=timing_covariance_type,
            missing_rate=missing_rate,
            log=log,
        )
    return results, to_markdown(results)


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, markdown = run(
        tables=args.tables,
        masks=args.masks,
        max_components=args.max_components,
        missing_rate=args.missing_rate,
        methods=args.methods,
        skip_em=args.skip_em,
        timing_n_samples=args.timing_n_samples,
        timing_repeats=args.timing_repeats,
        timing_covariance_type=args.timing_covariance_type,
    )
    print(markdown)


if __name__ == "__main__":
    main()
