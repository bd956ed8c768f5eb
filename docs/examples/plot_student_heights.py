"""
================================================
Students' heights, gender recorded for only some
================================================

The classic first example of EM. Every student of a class has their
height recorded, but the gender column was filled in for only 30% of
them. Had every gender been recorded, the mean height of each gender would
be two averages; had the two height distributions been known, the
probability of each gender given a height would follow by Bayes' rule.
EM alternates between the two: it guesses each missing gender as a
probability from the current distributions, then re-estimates the
distributions from all the students, each unrecorded one counted
fractionally in both genders.

Here the gender is a categorical column with holes, and
:class:`~emimpute.EMImputer` fits a two-component mixture of the table:
within a component the height is Gaussian and the gender is categorical
(see :ref:`categorical_features`). The example
:ref:`sphx_glr_auto_examples_plot_hidden_label.py` solves the same problem
with the gender coded as a number.
"""

# %%
# Simulated heights
# -----------------
# 200 students, half of them men; heights in cm drawn from N(178, 7) for men
# and N(165, 6) for women; the gender recorded for a random 30% of them.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import norm

from emimpute import EMImputer

genders = ["female", "male"]
true_mean = {"female": 165.0, "male": 178.0}
true_std = {"female": 6.0, "male": 7.0}


def simulate(seed, n_students=200, recorded_share=0.3):
    """The class as a table [height, gender] and the true genders."""
    rng = np.random.default_rng(seed)
    gender = np.where(rng.random(n_students) < 0.5, "male", "female")
    height = rng.normal(
        np.where(gender == "male", true_mean["male"], true_mean["female"]),
        np.where(gender == "male", true_std["male"], true_std["female"]),
    )
    recorded = rng.random(n_students) < recorded_share
    X = pd.DataFrame(
        {
            "height": height,
            "gender": pd.Categorical(
                np.where(recorded, gender, None), categories=genders
            ),
        }
    )
    return X, gender


X, gender = simulate(seed=0)
recorded = X["gender"].notna().to_numpy()
print(f"{recorded.sum()} of {len(X)} students have their gender recorded")

# %%
# The labelled rows alone
# -----------------------
# The simplest estimate averages the heights of the students whose gender is
# recorded, and ignores the other 70% of the class.
labelled_only = X[recorded].groupby("gender", observed=True)["height"].mean()
print(labelled_only.round(2).to_string())

# %%
# Fit a two-component mixture to the incomplete table
# ---------------------------------------------------
# ``categorical_features=[1]`` names the gender column (its ``category``
# dtype alone would do, as the default is ``'from_dtype'``).
#
# EM converges slowly when most of the information is missing: each step
# moves the parameters a little, and the log-likelihood by less still. With
# the default ``tol=1e-3`` the fit can stop after a few iterations while the
# parameters are still moving, so we ask for a tighter tolerance.
imputer = EMImputer(
    n_components=2,
    categorical_features=[1],
    tol=1e-6,
    max_iter=500,
    random_state=0,
).set_output(transform="pandas")
imputer.fit(X)
early = EMImputer(n_components=2, categorical_features=[1], random_state=0).fit(X)
print(
    f"tol=1e-3: {early.n_iter_} iterations, means {early.means_.ravel().round(2)}\n"
    f"tol=1e-6: {imputer.n_iter_} iterations, means {imputer.means_.ravel().round(2)}"
)

# %%
# Which component is which gender?
# --------------------------------
# The two components are exchangeable: nothing in the model says that
# component 0 is "female", and another ``random_state`` may number them the
# other way round. What ties a component to a gender is the recorded
# genders: a labelled woman counts towards the categorical distribution of
# the gender *within* the component that her height puts her in (and her
# recorded gender in turn pulls her towards the component where "female"
# is frequent), so the component of the short students ends up with a high
# probability of "female" in ``category_probabilities_``. We read the
# mapping from there.
theta = imputer.category_probabilities_[0]  # (n_components, n_categories)
print(
    pd.DataFrame(
        theta, columns=imputer.categories_[0], index=["component 0", "component 1"]
    ).round(3)
)
k_male = int(np.argmax(theta[:, list(imputer.categories_[0]).index("male")]))
component = {"female": 1 - k_male, "male": k_male}

# %%
# These probabilities are not exactly 0 and 1, for two reasons. The model
# does not know that the hidden class *is* the gender: a component is "the
# tall students", and the data allow it to contain a few women. And
# ``category_smoothing=1.0`` adds one pseudo-count per category and
# component, a prior that pulls each probability towards 1/2, visibly so
# with about 30 labelled students per component. Lower it (``0.0`` gives
# the maximum-likelihood estimate) when a category is known to be tied to a
# single component.
#
# The estimated means
# -------------------
# Against the truth: the population means that generated the data, and the
# sample means of all 200 students, hidden genders included, which no method
# could know.
estimates = pd.DataFrame(
    {
        "population": true_mean,
        "sample (all genders known)": {
            g: X["height"][gender == g].mean() for g in genders
        },
        "labelled rows only": labelled_only,
        "EM, all rows": {g: imputer.means_[component[g], 0] for g in genders},
    }
)
print(estimates.round(2).T.to_string())

# %%
# In this class, EM is closer to the sample means for the men and further
# for the women than the labelled averages. One class is one random draw,
# in which either estimate can come out closer; the comparison over many
# classes, at the end of this example, settles which one is better.

# %%
# Impute the missing genders
# --------------------------
# ``transform`` fills each missing gender with its most probable category
# given the height; :meth:`~emimpute.EMImputer.predict_category_proba` gives
# the probabilities themselves, ``sum_k r_k theta_k``, with ``r_k`` the
# probability of component ``k`` given the height.
X_filled = imputer.transform(X)
print("output dtypes:", dict(X_filled.dtypes.astype(str)))
accuracy = np.mean(X_filled["gender"][~recorded] == gender[~recorded])


def bayes_male(height):
    """P(male | height) under the true model, the best any method can do."""
    male = norm.pdf(height, true_mean["male"], true_std["male"])
    female = norm.pdf(height, true_mean["female"], true_std["female"])
    return male / (male + female)


best = np.mean(
    (bayes_male(X["height"][~recorded]) > 0.5) == (gender[~recorded] == "male")
)
mode = X["gender"].mode()[0]
print(
    f"unrecorded genders recovered: {accuracy:.1%} "
    f"(true model: {best:.1%}, most frequent recorded gender: "
    f"{np.mean(gender[~recorded] == mode):.1%})"
)

# %%
# The probability of each gender as a function of height
# ------------------------------------------------------
# A grid of heights with the gender missing: ``predict_category_proba``
# turns each into the probability of each gender. Left: the heights by
# recorded gender, with each fitted component's density (scaled by its
# weight). Right: P(gender | height), the true curve dashed, and the true
# gender of every unrecorded student as a tick at 0 (female) or 1 (male).
grid = np.linspace(X["height"].min() - 5, X["height"].max() + 5, 300)
X_grid = pd.DataFrame(
    {
        "height": grid,
        "gender": pd.Categorical([None] * len(grid), categories=genders),
    }
)
proba = imputer.predict_category_proba(X_grid)[0]
colors = {"female": "tab:red", "male": "tab:blue"}

fig, (ax_hist, ax_proba) = plt.subplots(1, 2, figsize=(11, 4.2))
bins = np.linspace(grid[0], grid[-1], 30)
ax_hist.hist(
    [X["height"][X["gender"] == g] for g in genders] + [X["height"][~recorded]],
    bins=bins,
    stacked=True,
    color=[colors["female"], colors["male"], "0.75"],
    label=["recorded: female", "recorded: male", "not recorded"],
)
scale = len(X) * (bins[1] - bins[0])
for g in genders:
    k = component[g]
    density = imputer.weights_[k] * norm.pdf(
        grid, imputer.means_[k, 0], np.sqrt(imputer.covariances_[k, 0, 0])
    )
    ax_hist.plot(grid, scale * density, color=colors[g], lw=2)
ax_hist.set_xlabel("height (cm)")
ax_hist.set_ylabel("students")
ax_hist.set_title("Heights and the two fitted components")
ax_hist.legend(fontsize=8)

for i, g in enumerate(genders):
    ax_proba.plot(grid, proba[:, i], color=colors[g], label=f"P({g} | height)")
ax_proba.plot(grid, bayes_male(grid), "k--", lw=1, label="P(male | height), truth")
jitter = np.random.default_rng(1).uniform(-0.03, 0.03, (~recorded).sum())
is_male = gender[~recorded] == "male"
ax_proba.scatter(
    X["height"][~recorded],
    is_male + jitter,
    c=np.where(is_male, colors["male"], colors["female"]),
    s=8,
    alpha=0.6,
)
ax_proba.set_xlabel("height (cm)")
ax_proba.set_ylabel("probability")
ax_proba.set_title(f"Unrecorded students: {accuracy:.0%} imputed right")
ax_proba.legend(fontsize=8, loc="center right")
fig.tight_layout()
plt.show()

# %%
# Far from the middle the fitted curves level off below 1 (above 0): each
# component keeps a small probability of the other gender, as discussed
# above. The errors are the students whose height is typical of the other
# gender, which no method can get right from the height alone.
#
# Do the unlabelled rows help?
# ----------------------------
# One simulated class says little. Over 50 classes, the error of each
# estimated mean, labelled rows only against EM on all rows. The genders
# are missing completely at random here, so the labelled rows are a fair
# sample and their averages are unbiased; what the 70% unlabelled students
# add is precision.
errors = {"labelled rows only": [], "EM, all rows": []}
for seed in range(1, 51):
    X_sim, _ = simulate(seed)
    model = EMImputer(
        n_components=2, categorical_features=[1], tol=1e-6, max_iter=500, random_state=0
    ).fit(X_sim)
    k_male = int(np.argmax(model.category_probabilities_[0][:, 1]))
    by_gender = X_sim.groupby("gender", observed=True)["height"].mean()
    errors["labelled rows only"].append([by_gender[g] - true_mean[g] for g in genders])
    k_of = {"female": 1 - k_male, "male": k_male}
    errors["EM, all rows"].append(
        [model.means_[k_of[g], 0] - true_mean[g] for g in genders]
    )
errors = {name: np.array(values) for name, values in errors.items()}
for name, values in errors.items():
    rmse = np.sqrt(np.mean(values**2, axis=0))
    bias = values.mean(axis=0)
    print(
        f"{name:<20} RMSE women {rmse[0]:.2f} cm, men {rmse[1]:.2f} cm; "
        f"bias women {bias[0]:+.2f} cm, men {bias[1]:+.2f} cm"
    )

fig, ax = plt.subplots(figsize=(7, 3.6))
positions = np.array([0.0, 1.0])
for i, (name, color) in enumerate(zip(errors, ["0.6", "tab:blue"], strict=True)):
    ax.boxplot(
        errors[name],
        positions=positions + (i - 0.5) * 0.35,
        widths=0.3,
        patch_artist=True,
        boxprops={"facecolor": color},
        medianprops={"color": "k"},
    )
    ax.plot([], [], "s", color=color, label=name)
ax.axhline(0, color="k", lw=0.8, ls=":")
ax.set_xticks(positions, ["mean height, women", "mean height, men"])
ax.set_ylabel("estimate - population mean (cm)")
ax.set_title("50 simulated classes, 30% of the genders recorded")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# EM's estimates have the smaller error, because every unlabelled height
# still says something about both distributions. They are slightly biased
# outwards (women shorter, men taller), a small-sample bias of maximum
# likelihood for overlapping mixtures, which the pull of
# ``category_smoothing`` towards 1/2 makes a little larger. The balance
# turns further in EM's favour when the genders are missing *at random*
# but not completely, say recorded more often for tall students: the
# labelled students are then taller than their gender's average and their
# means are biased, while maximum likelihood, which models the height of
# every student, only needs the missingness to depend on what is observed
# (see :ref:`user_guide`).
