"""``emimpute demo``: EM on the bundled Old Faithful data with values removed."""

import sys

import numpy as np
from sklearn.impute import SimpleImputer

from emimpute._em._forms import covariance_form
from emimpute.datasets import load_old_faithful, make_missing

N_COMPONENTS = 2


def demo(*, missing_rate=0.3, random_state=0, file=None):
    """Remove values from Old Faithful, fit EM, report and draw the result.

    Parameters
    ----------
    missing_rate : float, default=0.3
        Share of the values to remove completely at random.
    random_state : int, default=0
        Seed of the holes and of the EM initialisations.
    file : file-like, default=None
        Where to print the report; ``sys.stdout`` if None.

    Returns
    -------
    figure : matplotlib.figure.Figure
        The data, their holes and both imputations, for the caller to write
        (the command line reports a failed write as its other errors).

    Raises
    ------
    ImportError
        If matplotlib is missing; the report is printed before.
    """
    from emimpute import EMImputer, EMMixture

    file = sys.stdout if file is None else file
    faithful = load_old_faithful()
    X, names = faithful.data, faithful.feature_names
    X_missing = make_missing(X, missing_rate=missing_rate, random_state=random_state)
    mask = np.isnan(X_missing)

    mixture = EMMixture(n_components=N_COMPONENTS, random_state=random_state)
    mixture.fit(X_missing)
    imputer = EMImputer(n_components=N_COMPONENTS, random_state=random_state)
    X_em = imputer.fit_transform(X_missing)
    X_mean = SimpleImputer(strategy="mean").fit_transform(X_missing)
    rmse_em, rmse_mean = _rmse(X_em, X, mask), _rmse(X_mean, X, mask)

    def say(line=""):
        print(line, file=file)

    say(
        f"Old Faithful geyser data: {X.shape[0]} eruptions x {X.shape[1]} columns "
        f"({', '.join(names)}), in minutes."
    )
    # make_missing keeps one value in rows it would empty, so the realised
    # share is a little under missing_rate.
    say(
        f"Removed {mask.sum()} of the {mask.size} values ({mask.mean():.0%}) "
        f"completely at random, in {mask.any(axis=1).sum()} rows."
    )
    say()
    status = "converged" if mixture.converged_ else "not converged"
    say(
        f"EMMixture(n_components={N_COMPONENTS}) fit on the incomplete data "
        f"({mixture.n_iter_} EM iterations, {status}):"
    )
    say(f"  {'cluster':>7}  {'weight':>6}" + "".join(f"  {n:>9}" for n in names))
    # Sort the clusters by their first coordinate so the output is stable.
    for rank, k in enumerate(np.argsort(mixture.means_[:, 0]), start=1):
        means = "".join(f"  {m:9.3f}" for m in mixture.means_[k])
        say(f"  {rank:>7}  {mixture.weights_[k]:6.3f}{means}")
    say()
    say("Imputation error on the removed cells (root mean squared error, minutes):")
    say(f"  {'column':<9}  {'EMImputer':>9}  {'mean imputation':>15}")
    for name, em, mean in zip(names, rmse_em, rmse_mean, strict=True):
        say(f"  {name:<9}  {em:9.3f}  {mean:15.3f}")
    say()

    return _draw(X, X_missing, X_em, X_mean, mixture, names)


def _rmse(X_imputed, X_true, mask):
    """Root mean squared error per column over the masked cells."""
    errors = np.where(mask, X_imputed - X_true, 0.0)
    counts = np.maximum(mask.sum(axis=0), 1)
    return np.sqrt((errors**2).sum(axis=0) / counts)


def _draw(X, X_missing, X_em, X_mean, mixture, names):
    """Two panels: mean imputation, and EM imputation with the fitted clusters.

    Returns
    -------
    figure : matplotlib.figure.Figure
        The figure, to be saved by the caller.
    """
    # The Figure API draws with the Agg canvas and leaves pyplot's global
    # backend alone, so the demo also runs headless and inside notebooks.
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    mask = np.isnan(X_missing)
    complete = ~mask.any(axis=1)
    holed = ~complete
    labels = mixture.predict(X_missing)
    colors = np.array(["tab:blue", "tab:orange", "tab:green", "tab:purple"])

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    panels = [
        (axes[0], X_mean, "mean imputation (SimpleImputer)"),
        (axes[1], X_em, f"EM imputation (EMImputer, {mixture.n_components} clusters)"),
    ]
    for ax, X_filled, title in panels:
        rmse = _rmse(X_filled, X, mask)
        ax.scatter(*X[complete].T, s=10, c="0.6", label="fully observed rows")
        # A segment from the true point to its imputation shows the error.
        for truth, filled in zip(X[holed], X_filled[holed], strict=True):
            ax.plot(*np.c_[truth, filled], c="0.8", lw=0.7, zorder=1)
        ax.scatter(
            *X_filled[holed].T,
            s=18,
            marker="x",
            c=colors[labels[holed] % len(colors)],
            zorder=3,
        )
        ax.set_title(
            f"{title}\nRMSE: {names[0]} {rmse[0]:.2f}, {names[1]} {rmse[1]:.1f}",
            fontsize=10,
        )
        ax.set_xlabel(f"{names[0]} (min)")
    axes[0].set_ylabel(f"{names[1]} (min)")

    ax = axes[1]
    for k, (mean, cov) in enumerate(
        zip(mixture.means_, _full_covariances(mixture), strict=True)
    ):
        values, vectors = np.linalg.eigh(cov[:2, :2])
        angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
        for n_std in (1, 2):
            ax.add_patch(
                Ellipse(
                    mean[:2],
                    2 * n_std * np.sqrt(values[1]),
                    2 * n_std * np.sqrt(values[0]),
                    angle=angle,
                    fill=False,
                    color=colors[k % len(colors)],
                    lw=1.5 if n_std == 1 else 0.8,
                )
            )
    # One legend entry per marker: the crosses are coloured by the cluster
    # EMMixture assigns their row to, so each colour gets its own entry.
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, c="0.6", label="fully observed rows"),
        *(
            Line2D(
                [],
                [],
                ls="",
                marker="x",
                ms=6,
                c=colors[k % len(colors)],
                label=f"imputed point, row in cluster {rank}",
            )
            for rank, k in enumerate(np.argsort(mixture.means_[:, 0]), start=1)
        ),
        Line2D([], [], c="0.8", lw=0.7, label="segment to the true point"),
        Line2D([], [], c="0.3", lw=1.5, label="cluster: 1 and 2 std ellipses"),
    ]
    axes[0].legend(handles=handles, loc="upper left", fontsize=8)
    # The share actually removed, as the printout says it (make_missing keeps
    # one value in rows it would empty, so it is a little under the rate).
    fig.suptitle(
        f"Old Faithful with {mask.sum()} of the {mask.size} values "
        f"({mask.mean():.0%}) removed "
        "(segments join each imputed point to the truth)"
    )
    return fig


def _full_covariances(mixture):
    """One (n_features, n_features) covariance per component, any type."""
    n_components, n_features = mixture.means_.shape
    return covariance_form(mixture.covariance_type).full_matrices(
        np.asarray(mixture.covariances_), n_components, n_features
    )
