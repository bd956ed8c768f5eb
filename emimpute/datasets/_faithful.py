"""The Old Faithful geyser data, bundled with the package."""

import csv
import io
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

DESCR = """\
.. _old_faithful_dataset:

Old Faithful geyser data
------------------------

Waiting time between eruptions and the duration of the eruption for the Old
Faithful geyser in Yellowstone National Park, Wyoming, USA.

**Data Set Characteristics:**

:Number of Instances: 272
:Number of Attributes: 2 numeric, no target
:Attribute Information:
    - eruptions: eruption time in minutes
    - waiting: waiting time to the next eruption in minutes
:Missing Attribute Values: None
:Source: R's ``datasets::faithful`` (public domain)

The durations split into a short and a long group, and the waiting times
follow them, so the data are the classic small example of a two-component
Gaussian mixture.

.. rubric:: References

- Härdle, W. (1991). *Smoothing Techniques with Implementation in S*.
  New York: Springer.
- Azzalini, A. and Bowman, A. W. (1990). A look at some data on the Old
  Faithful geyser. *Applied Statistics* 39, 357-365.
"""


def load_old_faithful(*, as_frame=False):
    """Load the Old Faithful geyser data (272 eruptions, 2 features).

    ==============   ==================
    Samples total    272
    Dimensionality   2
    Features         real, positive
    Target           none
    ==============   ==================

    Read more in the ``DESCR`` attribute of the result.

    Parameters
    ----------
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with the feature names as
        columns (pandas must be installed), as in scikit-learn's loaders.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {ndarray, DataFrame} of shape (272, 2)
            Eruption duration and waiting time to the next eruption, both in
            minutes, as float64. A DataFrame when ``as_frame=True``.
        feature_names : list of str
            ``['eruptions', 'waiting']``.
        frame : DataFrame of shape (272, 2) or None
            The same table as a DataFrame when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset and its source.

    See Also
    --------
    make_missing : Punch holes in a complete dataset.

    Notes
    -----
    The table is R's ``datasets::faithful`` (Härdle 1991, after Azzalini and
    Bowman 1990), which is in the public domain.

    Examples
    --------
    >>> from emimpute.datasets import load_old_faithful
    >>> faithful = load_old_faithful()
    >>> faithful.data.shape
    (272, 2)
    >>> faithful.feature_names
    ['eruptions', 'waiting']
    >>> faithful.data[0]
    array([ 3.6, 79. ])
    """
    # importlib.resources reads the file whether the package is installed
    # from a wheel, a zip or an editable checkout.
    text = (
        resources.files("emimpute.datasets")
        .joinpath("data", "faithful.csv")
        .read_text(encoding="utf-8")
    )
    rows = list(csv.reader(io.StringIO(text)))
    feature_names = list(rows[0])
    data = np.array(rows[1:], dtype=np.float64)

    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(data, columns=feature_names)
    return Bunch(
        data=frame if as_frame else data,
        feature_names=feature_names,
        frame=frame,
        DESCR=DESCR,
    )
