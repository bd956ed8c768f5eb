"""
==============================================
Conditional standard deviations of imputations
==============================================

An imputed value is a guess, and some guesses are better than others.
Under the Gaussian model fit by :class:`~emimpute.EMImputer`, the missing
part of a row has a known conditional distribution given its observed part;
``transform(X, return_std=True)`` returns its standard deviation next to
its mean (0 for observed entries).

Four weather stations in the same valley record the daily temperature.
Station A is broken for a few weeks and drops readings at random the rest
of the time; the other stations drop a few readings too. The imputed
temperatures of station A come with bands of :math:`\\pm 2` conditional
standard deviations. The bands are narrow on days when the neighbouring
stations reported, which pin station A down, and wider on days when some of
them are missing too.
"""

# %%
# Simulated temperatures
# ----------------------
# A seasonal cycle shared by the four stations, plus weather that is
# strongly correlated between them, plus local noise.
import matplotlib.pyplot as plt
import numpy as np

from emimpute import EMImputer
from emimpute.datasets import make_missing

rng = np.random.RandomState(0)
days = np.arange(365)
season = 12 - 9 * np.cos(2 * np.pi * days / 365)
weather = rng.normal(0, 3, (365, 1)) * np.array([[1.0, 0.9, 0.8, 1.1]])
offsets = np.array([0.0, 1.5, -2.0, 0.5])
X = season[:, None] + offsets + weather + rng.normal(0, 0.8, (365, 4))

X_missing = make_missing(X, missing_rate=0.1, random_state=1)
X_missing[150:190, 0] = np.nan  # station A is broken for 40 days
hidden = np.isnan(X_missing[:, 0])
print(f"station A: {hidden.sum()} of 365 days missing")

# %%
# Impute with the conditional standard deviations
# -----------------------------------------------
# Rows are days, the model treats them as independent draws: it knows
# nothing about the seasons and learns only how the stations move
# together. It is fit on all days and imputes each from its own row.
imputer = EMImputer(random_state=0).fit(X_missing)
X_filled, std = imputer.transform(X_missing, return_std=True)

others_missing = np.isnan(X_missing[:, 1:]).sum(axis=1)
inside = np.abs(X_filled[hidden, 0] - X[hidden, 0]) <= 2 * std[hidden, 0]
print(f"true temperature inside the +/- 2 std band on {inside.mean():.0%} of the days")
for n in range(3):
    days_n = hidden & (others_missing == n)
    if days_n.any():
        print(
            f"days with {n} other station(s) missing: "
            f"mean std {std[days_n, 0].mean():.2f} C over {days_n.sum()} days"
        )

# %%
# Plot station A's record
# -----------------------
# The top panel shows the year; the bottom one zooms on the weeks around
# the breakdown.
fig, axes = plt.subplots(2, 1, figsize=(11, 6.5))
for ax, window in zip(axes, [slice(0, 365), slice(120, 220)], strict=True):
    d = days[window]
    observed = ~hidden[window]
    ax.plot(
        d,
        np.where(observed, X[window, 0], np.nan),
        ".",
        ms=3,
        c="0.4",
        label="observed",
    )
    ax.errorbar(
        d[~observed],
        X_filled[window, 0][~observed],
        yerr=2 * std[window, 0][~observed],
        fmt="o",
        ms=3,
        c="tab:blue",
        elinewidth=1,
        label="imputed, +/- 2 std",
    )
    ax.plot(
        d[~observed],
        X[window, 0][~observed],
        "x",
        c="tab:red",
        ms=4,
        label="hidden truth",
    )
    ax.set_ylabel("station A (C)")
axes[1].set_xlabel("day of the year")
axes[0].legend(loc="upper left", fontsize=8, ncols=3)
axes[0].set_title(
    f"Station A, imputed from the other stations: the truth is inside the "
    f"band on {inside.mean():.0%} of the days"
)
fig.tight_layout()
plt.show()

# %%
# The conditional standard deviation depends only on *which* values are
# observed, not on what they are: it is the spread the model leaves once
# the observed stations are known. On days with every neighbour observed
# it is small, since the neighbours explain most of the weather; each
# missing neighbour widens it. About 95% of the hidden temperatures fall
# inside the :math:`\\pm 2` std bands, as they should if the model fits.
