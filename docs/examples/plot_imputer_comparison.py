"""
================================================
Imputation error against scikit-learn's imputers
================================================

How close do imputed values come to the truth? We take scikit-learn's
diabetes dataset (442 patients, 10 measurements), remove 20% of the values
completely at random, fill them with each imputer, and measure the root
mean squared error (RMSE) on the removed cells, in units of each feature's
standard deviation. The experiment is repeated over several random masks.

- :class:`~sklearn.impute.SimpleImputer` fills each column with its mean.
- :class:`~sklearn.impute.KNNImputer` averages the 5 nearest rows.
- :class:`~sklearn.impute.IterativeImputer` regresses each column on the
  others in turn (Bayesian ridge regressions, round robin, 10 rounds).
- :class:`~emimpute.EMImputer` fits a multivariate Gaussian (or a mixture)
  by EM and fills each hole with its conditional expectation.
"""

# %%
# The data and the holes
# ----------------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from emimpute import EMImputer
from emimpute.datasets import make_missing

X = load_diabetes().data
# Standardise once, so an error of 1 is one standard deviation in every
# column, the columns weigh the same in the RMSE, and KNN's distances weigh
# the features alike.
X = (X - X.mean(axis=0)) / X.std(axis=0)
print(f"{X.shape[0]} rows x {X.shape[1]} features")

imputers = {
    "mean (SimpleImputer)": SimpleImputer(),
    "KNNImputer": KNNImputer(),
    "IterativeImputer": IterativeImputer(random_state=0),
    "EMImputer": EMImputer(random_state=0),
    "EMImputer, 2 components": EMImputer(n_components=2, random_state=0),
}

# %%
# Impute, and score on the removed cells
# --------------------------------------
# IterativeImputer warns that its 10 rounds did not meet its own stopping
# rule; its imputations are already stable by then, so the warning is
# silenced to keep the output readable.
n_repeats = 3
rmse = {name: [] for name in imputers}
seconds = dict.fromkeys(imputers, 0.0)
for seed in range(n_repeats):
    X_missing = make_missing(X, missing_rate=0.2, random_state=seed)
    mask = np.isnan(X_missing)
    for name, imputer in imputers.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            X_filled = imputer.fit_transform(X_missing)
        seconds[name] += time.perf_counter() - start
        rmse[name].append(np.sqrt(np.mean((X_filled[mask] - X[mask]) ** 2)))

for name in imputers:
    print(
        f"{name:<25} RMSE {np.mean(rmse[name]):.3f} +/- {np.std(rmse[name]):.3f}"
        f"   ({seconds[name] / n_repeats:.2f} s per fit)"
    )

# %%
# The result
# ----------
names = list(imputers)
means = [np.mean(rmse[name]) for name in names]
stds = [np.std(rmse[name]) for name in names]
colors = ["0.6", "0.6", "0.6", "tab:blue", "tab:blue"]

fig, ax = plt.subplots(figsize=(8, 3.8))
ax.barh(names, means, xerr=stds, color=colors, capsize=4)
ax.invert_yaxis()
ax.axvline(1.0, color="k", ls=":", lw=1)
ax.set_xlabel("RMSE on the removed cells (feature standard deviations)")
ax.set_title(f"Diabetes data, 20% of the values missing at random ({n_repeats} masks)")
fig.tight_layout()
plt.show()

# %%
# Mean imputation is off by about one standard deviation, as it must be:
# it ignores the other columns. The three multivariate imputers do better
# by using the correlations between measurements (the blood serum
# measurements of this dataset are strongly correlated). The Gaussian model
# fit by EM does as well as the round-robin regressions of IterativeImputer
# here, because both end up estimating linear relations between the
# columns; EM does it with one model of all columns at once, and also gives
# the uncertainty of each imputed value (see
# :ref:`sphx_glr_auto_examples_plot_std_bands.py`).
