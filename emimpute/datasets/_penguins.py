"""The Palmer penguins data, bundled with the package."""

import csv
import io
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

CATEGORICAL = ("species", "island", "sex")
NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
FEATURE_NAMES = [
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
]
# "NA" is how R and the palmerpenguins package write a hole; the bundled copy
# leaves the field empty. Either reads as missing.
_MISSING = ("", "NA")

DESCR = """\
.. _penguins_dataset:

Palmer penguins data
--------------------

Size measurements, sex and island of adult foraging Adélie,
Chinstrap and Gentoo penguins observed on islands of the Palmer
Archipelago near Palmer Station, Antarctica, from 2007 to 2009.

**Data Set Characteristics:**

:Number of Instances: 344
:Number of Attributes: 3 categorical, 4 numeric, and the study year
:Attribute Information:
    - species: Adelie, Chinstrap or Gentoo (categorical)
    - island: Biscoe, Dream or Torgersen (categorical)
    - bill_length_mm: bill (culmen) length in millimetres
    - bill_depth_mm: bill (culmen) depth in millimetres
    - flipper_length_mm: flipper length in millimetres
    - body_mass_g: body mass in grams
    - sex: female or male (categorical)
    - year: study year, 2007, 2008 or 2009 (in ``frame`` only)
:Missing Attribute Values: 19 cells: 2 in each measurement, 11 in sex
:Source: the ``palmerpenguins`` package (Horst, Hill and Gorman 2020),
    released under CC0 (public domain)

The holes are the data's own: 2 birds were not measured (all four
measurements and their sex are missing) and 9 more were not sexed, so
``sex`` has 11 holes and each measurement 2. The three species differ in
size and bill shape, and the sexes within each species, so the table is a
small real example of a mixture of Gaussians whose components are tied to
categorical columns.

Data were collected and made available by Dr. Kristen Gorman and the Palmer
Station, Antarctica LTER, a member of the Long Term Ecological Research
Network.

.. rubric:: References

- Gorman, K. B., Williams, T. D. and Fraser, W. R. (2014). Ecological
  sexual dimorphism and environmental variability within a community of
  Antarctic penguins (genus *Pygoscelis*). *PLoS ONE* 9(3): e90081.
  https://doi.org/10.1371/journal.pone.0090081
- Horst, A. M., Hill, A. P. and Gorman, K. B. (2020). palmerpenguins:
  Palmer Archipelago (Antarctica) penguin data. R package.
  https://doi.org/10.5281/zenodo.3960218
"""


def _read_columns():
    """The bundled CSV as ``{column: list of values}``, holes as None or NaN."""
    # importlib.resources reads the file whether the package is installed
    # from a wheel, a zip or an editable checkout.
    text = (
        resources.files("emimpute.datasets")
        .joinpath("data", "penguins.csv")
        .read_text(encoding="utf-8")
    )
    reader = csv.DictReader(io.StringIO(text))
    columns = {name: [] for name in reader.fieldnames}
    for row in reader:
        for name, value in row.items():
            missing = value in _MISSING
            if name in CATEGORICAL:
                columns[name].append(None if missing else value)
            elif name == "year":
                columns[name].append(int(value))
            else:
                columns[name].append(np.nan if missing else float(value))
    return columns


def load_penguins(*, as_frame=True):
    """Load the Palmer penguins data (344 birds, 3 categorical, 4 numeric).

    ==============   ==============================================
    Samples total    344
    Dimensionality   7 (3 categorical, 4 real), plus the year
    Features         categorical, real, positive, with missing values
    Target           none
    ==============   ==============================================

    A real table that mixes categorical and numeric columns and has holes of
    its own. Read more in the ``DESCR`` attribute of the result.

    Parameters
    ----------
    as_frame : bool, default=True
        If True, ``data`` and ``frame`` are pandas DataFrames whose
        categorical columns have the ``category`` dtype (pandas must be
        installed). If False, ``data`` is a NumPy object array and no pandas
        is needed.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (344, 7)
            The columns of ``feature_names``, without the study year. With
            ``as_frame=True`` a DataFrame: ``species``, ``island`` and ``sex``
            of ``category`` dtype with NaN for a hole, the measurements
            float64 with NaN. With ``as_frame=False`` an object ndarray: str
            for a category and None for a missing one, float for a
            measurement and NaN for a missing one.
        feature_names : list of str
            ``['species', 'island', 'bill_length_mm', 'bill_depth_mm',
            'flipper_length_mm', 'body_mass_g', 'sex']``.
        frame : DataFrame of shape (344, 8) or None
            With ``as_frame=True``, the whole table: the columns of ``data``
            in the file's order plus ``year`` (int64, 2007 to 2009), which is
            when a bird was observed rather than a property of it. None with
            ``as_frame=False``.
        DESCR : str
            Description of the dataset, its source and its licence.

    Raises
    ------
    ImportError
        With ``as_frame=True`` if pandas is not installed.

    See Also
    --------
    load_old_faithful : A small complete numeric dataset.
    make_missing : Punch holes in a complete dataset.

    Notes
    -----
    Data collected and made available by Dr. Kristen Gorman and the Palmer
    Station, Antarctica LTER (Gorman, Williams and Fraser 2014, *PLoS ONE*
    9(3): e90081), released under CC0 (public domain). The bundled table
    holds the same values as the copy shipped by the ``palmerpenguins``
    Python package (0.1.6), with empty fields for holes.

    Examples
    --------
    >>> from emimpute.datasets import load_penguins
    >>> penguins = load_penguins()
    >>> penguins.data.shape
    (344, 7)
    >>> penguins.frame["species"].cat.categories.tolist()
    ['Adelie', 'Chinstrap', 'Gentoo']
    >>> penguins.data.isna().sum().tolist()
    [0, 0, 2, 2, 2, 2, 11]
    >>> X = load_penguins(as_frame=False).data
    >>> X[0]
    array(['Adelie', 'Torgersen', 39.1, 18.7, 181.0, 3750.0, 'male'], dtype=object)
    >>> X[3]
    array(['Adelie', 'Torgersen', nan, nan, nan, nan, None], dtype=object)
    """
    columns = _read_columns()
    if not as_frame:
        data = np.empty((len(columns["species"]), len(FEATURE_NAMES)), dtype=object)
        for j, name in enumerate(FEATURE_NAMES):
            data[:, j] = columns[name]
        return Bunch(
            data=data, feature_names=list(FEATURE_NAMES), frame=None, DESCR=DESCR
        )

    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "load_penguins(as_frame=True) needs pandas: install it with "
            "`pip install pandas`, or pass as_frame=False for a NumPy object "
            "array."
        ) from exc
    frame = pd.DataFrame(
        {
            name: (
                pd.Categorical(
                    values, categories=sorted({v for v in values if v is not None})
                )
                if name in CATEGORICAL
                else np.asarray(values, dtype=np.int64 if name == "year" else float)
            )
            for name, values in columns.items()
        }
    )
    return Bunch(
        data=frame[FEATURE_NAMES],
        feature_names=list(FEATURE_NAMES),
        frame=frame,
        DESCR=DESCR,
    )
