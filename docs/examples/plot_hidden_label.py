"""
===========================================
Inferring a hidden label: students' heights
===========================================

A class records the height of each of its 400 students, but the gender
column was filled in for only 40% of them. Heights alone already hint at
gender, since men are taller on average, but the two height distributions
overlap. A two-component Gaussian mixture fit by EM uses *both* kinds of
rows: the labelled ones pin down which component is which, and the
unlabelled ones still inform the shape of each component. The fitted model
then gives, for every unlabelled student, the probability of each gender
given the height.

The gender is simply a second column, 0 or 1 where recorded and NaN where
not: :class:`~emimpute.EMMixture` marginalises the missing entries, so no
special semi-supervised machinery is needed.
"""

# %%
# Simulated heights
# -----------------
# Heights in cm: women around 165 cm, men around 178 cm, with a spread of
# 6 to 7 cm, so about one student in five is on the "wrong" side of the
# midpoint.
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from emimpute import EMMixture

rng = np.random.RandomState(0)
n_students = 400
is_male = rng.rand(n_students) < 0.5
height = np.where(
    is_male, rng.normal(178, 7, n_students), rng.normal(165, 6.5, n_students)
)
recorded = rng.rand(n_students) < 0.4
gender = np.where(recorded, is_male.astype(float), np.nan)
X = np.column_stack([height, gender])
print(f"{recorded.sum()} of {n_students} students have their gender recorded")

# %%
# Fit a two-component mixture to the incomplete table
# ---------------------------------------------------
# The gender column of each component is almost constant (0 or 1), so the
# recorded rows belong to one component with certainty, and the other rows
# are assigned by height alone.
mixture = EMMixture(n_components=2, random_state=0).fit(X)
male = int(np.argmax(mixture.means_[:, 1]))
female = 1 - male
print(f"EM converged in {mixture.n_iter_} iterations")
for name, k in (("women", female), ("men", male)):
    mean, std = mixture.means_[k, 0], np.sqrt(mixture.covariances_[k, 0, 0])
    weight = mixture.weights_[k]
    print(f"{name}: weight {weight:.2f}, height {mean:.1f} cm +/- {std:.1f} cm")

# %%
# Predict the missing labels
# --------------------------
# ``predict_proba`` on the rows with a NaN gender uses their height only.
proba_male = mixture.predict_proba(X)[:, male]
guess = proba_male > 0.5
accuracy = np.mean(guess[~recorded] == is_male[~recorded])
print(f"gender recovered for {accuracy:.0%} of the unrecorded students")

# %%
# The fitted components and the posterior probability
# ---------------------------------------------------
# Left: the heights, by recorded gender, with each fitted component's
# density (scaled by its weight). Right: the probability of "male" given
# the height, with the true gender of every unrecorded student as a tick.
grid = np.linspace(height.min() - 5, height.max() + 5, 300)
X_grid = np.column_stack([grid, np.full_like(grid, np.nan)])

fig, (ax_hist, ax_proba) = plt.subplots(1, 2, figsize=(11, 4.2))
bins = np.linspace(grid[0], grid[-1], 36)
ax_hist.hist(
    [height[recorded & ~is_male], height[recorded & is_male], height[~recorded]],
    bins=bins,
    stacked=True,
    density=False,
    color=["tab:red", "tab:blue", "0.75"],
    label=["recorded: female", "recorded: male", "not recorded"],
)
scale = n_students * (bins[1] - bins[0])
for k, color in ((female, "tab:red"), (male, "tab:blue")):
    mean, var = mixture.means_[k, 0], mixture.covariances_[k, 0, 0]
    density = mixture.weights_[k] * norm.pdf(grid, mean, np.sqrt(var))
    ax_hist.plot(grid, scale * density, color=color, lw=2)
ax_hist.set_xlabel("height (cm)")
ax_hist.set_ylabel("students")
ax_hist.set_title("Heights and the two fitted components")
ax_hist.legend(fontsize=8)

ax_proba.plot(grid, mixture.predict_proba(X_grid)[:, male], color="k")
ax_proba.axhline(0.5, color="0.6", ls=":")
jitter = rng.uniform(-0.03, 0.03, (~recorded).sum())
unrecorded_male = is_male[~recorded]
ax_proba.scatter(
    height[~recorded],
    unrecorded_male + jitter,
    c=np.where(unrecorded_male, "tab:blue", "tab:red"),
    s=8,
    alpha=0.6,
)
ax_proba.set_xlabel("height (cm)")
ax_proba.set_ylabel("P(male | height)")
ax_proba.set_title(f"Unrecorded students: {accuracy:.0%} guessed right")
fig.tight_layout()
plt.show()

# %%
# The errors are the students whose height is typical of the other gender:
# no model can do better from height alone. The probability curve says how
# sure each guess is, which a hard label would hide.
