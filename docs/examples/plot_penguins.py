"""
=============================================
A mixed table with holes: the Palmer penguins
=============================================

The Palmer penguins table (Gorman, Williams and Fraser 2014) describes 344
penguins by three categorical columns (species, island, sex) and four
measurements (bill length and depth, flipper length, body mass), and it has
holes of its own: two birds were not measured and eleven were not sexed.

:class:`~emimpute.EMImputer` models both kinds of columns at once: a
mixture whose components are Gaussian in the measurements and carry a
probability for every category of every categorical column (a latent class
model, see :ref:`categorical_features`). We choose the number of components
by BIC, fill the natural holes, and then hide a fifth of the observed cells
to compare the imputations with the truth and with
:class:`~sklearn.impute.SimpleImputer`.

The data were collected and made available by Dr. Kristen Gorman and the
Palmer Station, Antarctica LTER, a member of the Long Term Ecological
Research Network, and are released under CC0 (public domain). Gorman, K. B.,
Williams, T. D. and Fraser, W. R. (2014). Ecological sexual dimorphism and
environmental variability within a community of Antarctic penguins (genus
*Pygoscelis*). *PLoS ONE* 9(3): e90081.
"""

# %%
# The data
# --------
# ``load_penguins`` returns a DataFrame whose categorical columns have the
# ``category`` dtype, which is how :class:`~emimpute.EMImputer` recognises
# them (``categorical_features='from_dtype'``, the default).
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from emimpute import EMImputer, EMMixture
from emimpute.datasets import load_penguins

X = load_penguins().data
categorical = ["species", "island", "sex"]
numeric = [name for name in X.columns if name not in categorical]
print(f"{X.shape[0]} penguins x {X.shape[1]} columns; holes per column:")
print(X.isna().sum().to_string())

# %%
# Choose the model by BIC
# -----------------------
# :meth:`EMMixture.bic <emimpute.EMMixture.bic>` counts the categorical
# parameters too, and uses the likelihood of the observed cells only, so it
# compares candidates on the incomplete table directly.
n_components_range = range(1, 6)
covariance_types = ["full", "diag"]


def bic_grid(X):
    """BIC of every candidate mixture, as {(n_components, covariance_type): bic}."""
    return {
        (k, cov): EMMixture(n_components=k, covariance_type=cov, random_state=0)
        .fit(X)
        .bic(X)
        for cov in covariance_types
        for k in n_components_range
    }


bic = bic_grid(X)
n_components, covariance_type = min(bic, key=bic.get)
print(
    pd.DataFrame(
        {cov: [bic[k, cov] for k in n_components_range] for cov in covariance_types},
        index=pd.Index(n_components_range, name="n_components"),
    ).round(0)
)
print(
    f"lowest BIC of this grid: n_components={n_components}, "
    f"covariance_type={covariance_type!r}"
)

fig, ax = plt.subplots(figsize=(6, 3.5))
for cov, marker in zip(covariance_types, "os", strict=True):
    values = [bic[k, cov] for k in n_components_range]
    ax.plot(n_components_range, values, marker=marker, label=cov)
ax.plot(n_components, bic[n_components, covariance_type], "k*", ms=14)
ax.set_xlabel("n_components")
ax.set_xticks(list(n_components_range))
ax.set_ylabel("BIC (lower is better)")
ax.set_title("Penguins: BIC of the mixture, holes included")
ax.legend(title="covariance_type")
fig.tight_layout()
plt.show()

# %%
# The chosen model
# ----------------
# Each component has a weight, a mean of the measurements and, for every
# categorical column, a probability per category
# (``category_probabilities_``). Printed here: the most probable species and
# island of each component, its probability of "male", and its mean flipper
# length and body mass.
imputer = EMImputer(
    n_components=n_components, covariance_type=covariance_type, random_state=0
).set_output(transform="pandas")
imputer.fit(X)
names = list(imputer.feature_names_in_)
theta = {
    names[j]: (categories, probabilities)
    for j, categories, probabilities in zip(
        imputer.categorical_features_,
        imputer.categories_,
        imputer.category_probabilities_,
        strict=True,
    )
}
means = pd.DataFrame(
    imputer.means_, columns=[names[j] for j in imputer.numeric_features_]
)
components = pd.DataFrame(
    {
        "weight": imputer.weights_,
        "species": theta["species"][0][theta["species"][1].argmax(axis=1)],
        "island": theta["island"][0][theta["island"][1].argmax(axis=1)],
        "P(male)": theta["sex"][1][:, list(theta["sex"][0]).index("male")],
        "flipper_length_mm": means["flipper_length_mm"],
        "body_mass_g": means["body_mass_g"],
    }
)
print(components.round(2).to_string())

# %%
# Without being told, the components have found the species, and within
# Adélie and Gentoo penguins the sexes: one component of small and one of
# large birds each, with a probability of "male" close to 0 or 1. The 68
# Chinstraps get a single component with no preference for either sex: a
# sixth full component would cost more parameters (a full covariance
# matrix) than the likelihood gains, by BIC's account (11425 against
# 11393). The grid stops at five for the picture: the diagonal curve is
# still falling there, and six diagonal components score a little lower
# (11379), so a wider search would keep looking past this grid. The
# island probabilities are spread over the three islands for the Adélie
# components, since Adélie penguins live on all three.
#
# The birds that were not sexed
# -----------------------------
# :meth:`~emimpute.EMImputer.predict_category_proba` gives, for every
# categorical column, the probability of each category given what is
# observed in the row: here, mostly the species and the body size.
# ``transform`` fills each hole with the most probable category.
sex_proba = imputer.predict_category_proba(X)[
    list(imputer.categorical_features_).index(names.index("sex"))
]
not_sexed = X["sex"].isna().to_numpy()
X_filled = imputer.transform(X)
report = X.loc[not_sexed, ["species", "island", "bill_depth_mm", "body_mass_g"]]
report["P(female)"], report["P(male)"] = sex_proba[not_sexed].T.round(3)
report["imputed sex"] = X_filled.loc[not_sexed, "sex"]
print(report.to_string())
print("output dtypes:", dict(X_filled.dtypes.astype(str)))

# %%
# The two birds with no measurement at all (rows 3 and 271) are close to a
# coin flip: only their species and island are known. The others are
# sexed by their size within their species, most of them with confidence.
#
# A known truth: hide 20% of the observed cells
# ---------------------------------------------
# To score the imputations, we remove a fifth of the observed cells at
# random, refit on what is left (BIC chooses the model again, on the masked
# table), and compare the filled cells with the values that were removed.
# The baseline fills a categorical hole with the column's most frequent
# category and a numeric hole with the column's mean. We also show
# ``EMImputer`` with one component: its categorical columns are then
# independent of everything else, so it fills them with the mode like the
# baseline, but it predicts the measurements from each other. BIC keeps the
# example quick; for imputation the user guide recommends choosing the model
# by held-out imputation error, which tends to keep more classes and to
# recover more of the hidden categories (see the mixed-table benchmark).
observed = X.notna().to_numpy()
std = X[numeric].std()


def simple_impute(X_missing):
    filled = X_missing.copy()
    for columns, strategy in ((categorical, "most_frequent"), (numeric, "mean")):
        imputer = SimpleImputer(strategy=strategy).set_output(transform="pandas")
        filled[columns] = imputer.fit_transform(X_missing[columns])
    return filled


def em_impute(X_missing, **params):
    imputer = EMImputer(random_state=0, **params).set_output(transform="pandas")
    return imputer.fit_transform(X_missing)


chosen = []


def em_impute_bic(X_missing):
    bic = bic_grid(X_missing)
    k, cov = min(bic, key=bic.get)
    chosen.append(f"{k} {cov}")
    return em_impute(X_missing, n_components=k, covariance_type=cov)


methods = {
    "most frequent / mean (SimpleImputer)": simple_impute,
    "EMImputer, 1 component": lambda X_missing: em_impute(X_missing),
    "EMImputer, K and covariance by BIC": em_impute_bic,
}
n_repeats = 3
accuracy = {name: {column: [] for column in categorical} for name in methods}
rmse = {name: {column: [] for column in numeric} for name in methods}
for seed in range(n_repeats):
    rng = np.random.default_rng(seed)
    hidden = observed & (rng.random(X.shape) < 0.2)
    X_missing = X.mask(hidden)
    for name, impute in methods.items():
        X_imputed = impute(X_missing)
        for j, column in enumerate(X.columns):
            rows = hidden[:, j]
            truth = X.loc[rows, column].to_numpy()
            guess = X_imputed.loc[rows, column].to_numpy()
            if column in categorical:
                accuracy[name][column].append(np.mean(guess == truth))
            else:
                error = (guess.astype(float) - truth) / std[column]
                rmse[name][column].append(np.sqrt(np.mean(error**2)))

print(f"models chosen by BIC on the masked tables: {', '.join(chosen)}")
print(f"mean over {n_repeats} masks:")
print("accuracy on the hidden categorical cells")
print(pd.DataFrame(accuracy).map(np.mean).T.round(3).to_string())
print("RMSE on the hidden numeric cells (feature standard deviations)")
print(pd.DataFrame(rmse).map(np.mean).T.round(3).to_string())

# %%
# The result
# ----------
colors = ["0.6", "tab:cyan", "tab:blue"]
width = 0.27
fig, (ax_acc, ax_rmse) = plt.subplots(1, 2, figsize=(12, 4.2))
for axis, scores, columns in (
    (ax_acc, accuracy, categorical),
    (ax_rmse, rmse, numeric),
):
    positions = np.arange(len(columns))
    for i, (name, color) in enumerate(zip(methods, colors, strict=True)):
        axis.bar(
            positions + (i - 1) * width,
            [np.mean(scores[name][column]) for column in columns],
            width,
            yerr=[np.std(scores[name][column]) for column in columns],
            color=color,
            capsize=3,
            label=name,
        )
    axis.set_xticks(positions, columns)
ax_acc.set_ylim(0, 1)
ax_acc.set_ylabel("share of hidden cells recovered")
ax_acc.set_title("Categorical columns: accuracy (higher is better)")
ax_acc.legend(fontsize=8, loc="lower left")
ax_rmse.set_ylabel("RMSE (feature standard deviations)")
ax_rmse.set_title("Numeric columns: RMSE (lower is better)")
fig.suptitle(f"Penguins, 20% of the observed cells hidden ({n_repeats} masks)")
fig.tight_layout()
plt.show()

# %%
# With a single component, the measurements are already predicted much
# better than by their means, since body size drives all four, but the
# categorical columns are no better than the mode. Several components tie
# the categories to the measurements and to each other: the species is
# recovered from the bill shape or the island, the sex from the size
# within the species, and in turn a known species sharpens the prediction
# of a missing measurement.
