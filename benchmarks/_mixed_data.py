"""Mixed (categorical and numeric) tables for ``bench_mixed``: real and simulated.

Every table is a pandas DataFrame whose categorical columns have the
``category`` dtype (labels as str, a hole as NaN) and whose numeric columns
are float64 with NaN, so that ``categorical_features='from_dtype'`` finds the
categorical columns by itself.

- :func:`load_table`: the real tables, all shipped inside a package's wheel
  (nothing is downloaded at run time):

  ======== ============================ ===== ============ ============= =======
  name     loader                       rows  categorical  numeric       holes
  ======== ============================ ===== ============ ============= =======
  penguins ``emimpute.datasets``        344   3            4             19
  cars     ``vega_datasets`` 0.9.0      406   2            6             14
  anes96   ``statsmodels`` 0.15.0       944   3            7             0
  ======== ============================ ===== ============ ============= =======

- :func:`observed_mask`, :func:`with_holes`: hide a share of the observed
  cells, uniformly at random;
- :func:`latent_class_data`: a large simulated table for timing, a latent
  class model with class-dependent Gaussians and categoricals.
"""

import numpy as np

TABLES = ("penguins", "cars", "anes96")

# name -> (where it comes from, licence of the data), for the report
SOURCES = {
    "penguins": (
        "`emimpute.datasets.load_penguins()` (Gorman, Williams and Fraser 2014)",
        "CC0",
    ),
    "cars": (
        "`vega_datasets.local_data.cars()` (vega_datasets 0.9.0; StatLib, "
        "Donoho and Ramos 1982, the UCI Auto MPG data)",
        "public (StatLib); package MIT",
    ),
    "anes96": (
        "`statsmodels.datasets.anes96.load_pandas().data` (statsmodels 0.15.0; "
        "American National Election Studies 1996)",
        "public domain; package BSD-3",
    ),
}

# statsmodels codes the labels of anes96 as numbers; its DESCR gives the labels
_PARTY = (
    "Strong Democrat",
    "Weak Democrat",
    "Independent-Democrat",
    "Independent-Independent",
    "Independent-Republican",
    "Weak Republican",
    "Strong Republican",
)
_EDUCATION = (
    "1-8 grades",
    "Some high school",
    "High school graduate",
    "Some college",
    "College degree",
    "Master's degree",
    "PhD",
)


def _require(module, package):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"bench_mixed needs {package}: pip install {package} "
            '(or pip install -e ".[bench]")'
        ) from exc


def _categorical(values, categories=None):
    """A ``category`` Series from labels; None/NaN stay holes."""
    import pandas as pd

    values = pd.Series(values, dtype=object)
    values = values.where(values.notna(), None)
    if categories is None:
        categories = sorted({v for v in values if v is not None})
    return pd.Categorical(values, categories=list(categories))


def _penguins():
    from emimpute.datasets import load_penguins

    return load_penguins(as_frame=True).data.copy()


def _cars():
    import pandas as pd

    local_data = _require("vega_datasets", "vega_datasets").local_data
    raw = local_data.cars()
    # Name identifies the car model (311 values for 406 rows): not a feature.
    return pd.DataFrame(
        {
            "Miles_per_Gallon": raw["Miles_per_Gallon"].astype(float),
            "Cylinders": _categorical(raw["Cylinders"].astype(str)),
            "Displacement": raw["Displacement"].astype(float),
            "Horsepower": raw["Horsepower"].astype(float),
            "Weight_in_lbs": raw["Weight_in_lbs"].astype(float),
            "Acceleration": raw["Acceleration"].astype(float),
            "Year": raw["Year"].dt.year.astype(float),
            "Origin": _categorical(raw["Origin"]),
        }
    )


def _anes96():
    import pandas as pd

    anes96 = _require("statsmodels.datasets.anes96", "statsmodels")
    raw = anes96.load_pandas().data
    # popul is dropped for logpopul = log(popul + 0.1), the same information
    # on a scale where a Gaussian is less absurd. The 7-point scales and the
    # 24 income brackets stay numeric, as in statsmodels' own examples.
    return pd.DataFrame(
        {
            "logpopul": raw["logpopul"].astype(float),
            "TVnews": raw["TVnews"].astype(float),
            "selfLR": raw["selfLR"].astype(float),
            "ClinLR": raw["ClinLR"].astype(float),
            "DoleLR": raw["DoleLR"].astype(float),
            "PID": _categorical(
                [_PARTY[int(v)] for v in raw["PID"]], categories=_PARTY
            ),
            "age": raw["age"].astype(float),
            "educ": _categorical(
                [_EDUCATION[int(v) - 1] for v in raw["educ"]], categories=_EDUCATION
            ),
            "income": raw["income"].astype(float),
            "vote": _categorical(
                ["Dole" if v else "Clinton" for v in raw["vote"]],
                categories=("Clinton", "Dole"),
            ),
        }
    )


_LOADERS = {"penguins": _penguins, "cars": _cars, "anes96": _anes96}


def load_table(name):
    """One of :data:`TABLES` as a DataFrame (categoricals of ``category`` dtype).

    Columns are in the source's order; identifiers and duplicated columns
    are dropped (see the loaders). Natural holes are kept.
    """
    return _LOADERS[name]()


def split_columns(frame):
    """``(categorical column names, numeric column names)`` of a table."""
    import pandas as pd

    categorical = [
        c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    numeric = [c for c in frame.columns if c not in categorical]
    return categorical, numeric


# ----------------------------------------------------------------------------
# holes
# ----------------------------------------------------------------------------
def observed_mask(frame, rate, rng):
    """Hide ``round(rate * n_observed)`` of the observed cells, uniformly.

    Returns a boolean array of the frame's shape, True at the hidden cells
    (never at a natural hole). Every observed cell, categorical or numeric,
    has the same chance; rows may lose every cell they had.
    """
    observed = np.flatnonzero(~frame.isna().to_numpy().ravel())
    n_hidden = int(round(rate * observed.size))
    mask = np.zeros(frame.size, dtype=bool)
    mask[rng.choice(observed, size=n_hidden, replace=False)] = True
    return mask.reshape(frame.shape)


def with_holes(frame, mask):
    """A copy of ``frame`` with a hole (NaN) wherever ``mask`` is True."""
    out = frame.copy()
    for j, column in enumerate(frame.columns):
        if mask[:, j].any():
            out.loc[mask[:, j], column] = np.nan
    return out


# ----------------------------------------------------------------------------
# simulated table, for timing
# ----------------------------------------------------------------------------
def latent_class_data(
    n_samples, n_numeric, n_categorical, n_levels, n_components, rng, *, alpha=1.0
):
    """Rows from a latent class model with Gaussian numeric columns.

    A class ``z`` is drawn from Dirichlet(5) weights; given ``z`` the numeric
    columns are Gaussian with the class's mean and factor-model covariance
    (:func:`benchmarks._data.mixture_data`), and each categorical column is
    drawn independently from the class's level probabilities, a
    Dirichlet(``alpha``) draw per class and column, so the categoricals
    depend on the class (and through it on the numeric columns).

    Returns
    -------
    frame : DataFrame of shape (n_samples, n_numeric + n_categorical)
        Numeric columns ``x0, x1, ...`` (float64) then categorical columns
        ``c0, c1, ...`` (``category`` with levels ``'a', 'b', ...``).
    labels : ndarray of shape (n_samples,)
    """
    import pandas as pd

    from benchmarks import _data

    X, labels, _, _, _ = _data.mixture_data(n_samples, n_numeric, n_components, rng)
    levels = [chr(ord("a") + v) for v in range(n_levels)]
    columns = {f"x{j}": X[:, j] for j in range(n_numeric)}
    for j in range(n_categorical):
        probs = rng.dirichlet(np.full(n_levels, alpha), size=n_components)
        # inverse-CDF draw per row from its class's level probabilities
        cdf = np.cumsum(probs, axis=1)[labels]
        codes = (rng.random((n_samples, 1)) > cdf).sum(axis=1)
        codes = np.minimum(codes, n_levels - 1)
        columns[f"c{j}"] = pd.Categorical.from_codes(codes, categories=levels)
    return pd.DataFrame(columns), labels
