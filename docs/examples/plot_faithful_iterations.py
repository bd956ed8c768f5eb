"""
=====================================================
EM clustering of Old Faithful, iteration by iteration
=====================================================

The Old Faithful geyser erupts either briefly, after a short wait, or for
long, after a long wait. Here 30% of the values are removed at random, so
many eruptions have only their duration or only their waiting time, and a
two-component :class:`~emimpute.EMMixture` is fit to what is left, starting
from a deliberately poor guess.

Every EM iteration does two things, which the panels show:

- the **E-step** computes, for every eruption, the probability that it
  belongs to each component (the colour of its marker), using only its
  observed coordinates;
- the **M-step** re-estimates each component's weight, mean and covariance
  (the ellipses) from all rows, the incomplete ones weighted by how they
  were assigned and completed in the E-step.

The observed-data log-likelihood never goes down (last panel).

Fitting with ``warm_start=True, max_iter=1`` runs one EM iteration per
call to ``fit`` and continues from the previous parameters, which is how
the snapshots are taken. Each call warns that EM has not converged yet; the
warning is silenced here on purpose.
"""

# %%
# Remove 30% of the values
# ------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from sklearn.exceptions import ConvergenceWarning

from emimpute import EMMixture
from emimpute.datasets import load_old_faithful, make_missing

faithful = load_old_faithful()
X = make_missing(faithful.data, missing_rate=0.3, random_state=0)
mask = np.isnan(X)
complete = ~mask.any(axis=1)
print(
    f"{complete.sum()} complete rows, {mask[:, 1].sum()} without waiting time, "
    f"{mask[:, 0].sum()} without duration"
)

# %%
# Run EM one iteration at a time
# ------------------------------
# The initial means are crossed on purpose: a short eruption with a long
# wait, and a long eruption with a short wait.
mixture = EMMixture(
    n_components=2,
    means_init=[[2.0, 85.0], [4.5, 50.0]],
    warm_start=True,
    max_iter=1,
    tol=1e-6,
    random_state=0,
)
snapshot_at = [1, 2, 3, 5]
snapshots, log_likelihood = {}, []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for iteration in range(1, 31):
        mixture.fit(X)
        log_likelihood.append(mixture.lower_bound_)
        if iteration in snapshot_at:
            snapshots[iteration] = (
                mixture.means_.copy(),
                mixture.covariances_.copy(),
                mixture.predict_proba(X)[:, 0],
            )
snapshots["final"] = (
    mixture.means_,
    mixture.covariances_,
    mixture.predict_proba(X)[:, 0],
)
print("final means (duration, waiting):")
print(mixture.means_.round(2))


# %%
# Plot the snapshots and the log-likelihood
# -----------------------------------------
# Complete rows are dots. A row missing its waiting time is a tick on the
# bottom axis at its duration, and a row missing its duration a tick on the
# left axis at its waiting time: EM uses them all. A marker's colour is its
# responsibility, from blue (component 0) to red (component 1).
def draw_ellipses(ax, means, covariances):
    for mean, cov, color in zip(
        means, covariances, ["tab:blue", "tab:red"], strict=True
    ):
        values, vectors = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
        for n_std in (1, 2):
            ax.add_patch(
                Ellipse(
                    mean,
                    2 * n_std * np.sqrt(values[1]),
                    2 * n_std * np.sqrt(values[0]),
                    angle=angle,
                    fill=False,
                    color=color,
                    lw=2.0 if n_std == 1 else 1.0,
                )
            )
        ax.plot(*mean, "+", color=color, ms=12, mew=2)


cmap = plt.get_cmap("coolwarm_r")
xlim, ylim = (1.2, 5.6), (38, 100)
fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
for ax, (iteration, (means, covariances, proba)) in zip(
    axes.flat,
    snapshots.items(),
    strict=False,  # the last panel is the curve
):
    colors = cmap(proba)
    ax.scatter(*X[complete].T, c=colors[complete], s=12, edgecolor="none")
    no_wait = mask[:, 1] & ~mask[:, 0]
    no_duration = mask[:, 0] & ~mask[:, 1]
    ax.scatter(
        X[no_wait, 0],
        np.full(no_wait.sum(), ylim[0] + 1.5),
        marker="|",
        s=80,
        c=colors[no_wait],
    )
    ax.scatter(
        np.full(no_duration.sum(), xlim[0] + 0.06),
        X[no_duration, 1],
        marker="_",
        s=80,
        c=colors[no_duration],
    )
    draw_ellipses(ax, means, covariances)
    ax.set(xlim=xlim, ylim=ylim)
    title = "converged" if iteration == "final" else f"after iteration {iteration}"
    ax.set_title(title)
for ax in axes[1, :2]:
    ax.set_xlabel("eruption duration (min)")
for ax in axes[:, 0]:
    ax.set_ylabel("waiting time (min)")

# The last panel: the log-likelihood climbs at every step.
ax = axes[1, 2]
ax.plot(np.arange(1, len(log_likelihood) + 1), log_likelihood, "o-", ms=3)
ax.set_xlabel("iteration")
ax.set_ylabel("observed-data log-likelihood per row")
ax.set_title("the likelihood never goes down")
fig.suptitle("EM on Old Faithful with 30% of the values removed")
fig.tight_layout()
plt.show()

# %%
# The first iterations do most of the work: the components swap their
# crossed starting positions within three iterations, and the later ones only
# refine the shapes. Rows with a single observed coordinate still move the
# components, through the distribution EM gives their missing coordinate.
