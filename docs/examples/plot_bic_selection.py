"""
==============================================================
mclust's BIC plot on incomplete data: Old Faithful with holes
==============================================================

:class:`~emimpute.EMMixtureSelector` fits a grid of Gaussian mixtures, every
number of components from 1 to ``n_components`` times every covariance
type, to the observed entries of the data, and keeps the one of lowest BIC,
as R's mclust does with ``mclustBIC``. Here 15% of Old Faithful's values are
removed at random, and the starts are mclust's model-based hierarchical
ones (``init_params='hierarchical'``).
"""

# %%
# Fit the grid
# ------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emimpute import EMMixtureSelector
from emimpute.datasets import load_old_faithful, make_missing

X = load_old_faithful().data
X_missing = make_missing(X, missing_rate=0.15, random_state=0)
# n_init=3: the three hierarchical trees only (the default, 10, adds seven
# k-means starts).
selector = EMMixtureSelector(
    n_components=6, init_params="hierarchical", n_init=3, random_state=0
).fit(X_missing)
print("selected:", selector.best_params_)

# %%
# The criterion against the number of components
# ----------------------------------------------
# One line per covariance type; the circle marks the selected model. mclust
# plots -BIC (higher is better); here lower is better, as scikit-learn's
# ``GaussianMixture.bic``.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
selector.plot(ax=left)
left.set_title("BIC on Old Faithful, 15% of the values missing")

# %%
# The selected mixture
# --------------------
# Rows with a missing coordinate are drawn at their observed coordinate on
# the axis of the missing one, coloured by their most probable component.
labels = selector.predict(X_missing)
complete = ~np.isnan(X_missing).any(axis=1)
right.scatter(*X_missing[complete].T, c=labels[complete], s=12, cmap="viridis")
best = selector.best_estimator_
right.scatter(*best.means_.T, marker="x", s=120, color="red", label="means")
right.set_xlabel("eruption (min)")
right.set_ylabel("waiting (min)")
right.set_title(
    f"{best.n_components} components, covariance_type={best.covariance_type!r}"
)
right.legend()
fig.tight_layout()
plt.show()

# %%
# The table
# ---------
# ``cv_results_`` holds every fit of the grid: pass it to pandas.
table = pd.DataFrame(selector.cv_results_)[
    ["param_covariance_type", "param_n_components", "bic", "log_likelihood"]
]
print(table.sort_values("bic").head(5).to_string(index=False))
