"""Per-feature standardisation of the numeric columns, an option of every fit.

The Gaussian family is closed under per-feature affine maps, so a model fit
to ``(x - centre) / scale`` is the model of ``x`` with means ``mu * scale +
centre`` and covariances ``S * outer(scale, scale)``; its density in the
data's units is the standardised density times the Jacobian, that is, minus
the sum of ``log scale`` over each row's *observed* numeric coordinates.
Fitting standardised makes ``reg_covar`` relative to each feature's
variance (scale-free, as Amelia's ridge), and keeps the fit of features in
units of 1e-200 finite. Units so large that the covariances themselves
overflow float64 (1e200: variances of 1e400) are refused up front with a
message that says to rescale (:func:`check_range`).
"""

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Scaling:
    """Centre and scale of each numeric column.

    Attributes
    ----------
    centre, scale : ndarray of shape (n_numeric,)
    """

    centre: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, data):
        """The observed mean and standard deviation of each numeric column.

        A feature with zero spread (or one observed value) gets scale 1, so
        that standardising leaves it finite. A constant feature is centred
        on its value exactly, not on its computed mean, which may differ
        from it by rounding (0.1 sixty times sums to 6.000000000000001) and
        would give the feature a spurious spread of an ulp.
        """
        return cls.fit_columns(data.numeric, data.mask, data.row_weights(slice(None)))

    @classmethod
    def fit_columns(cls, X, mask, row_weights=None, compute=None):
        """:meth:`fit` on arrays: numpy, or lazy ones (``dask.array``).

        ``compute(*arrays)`` returns the arrays' values (``dask.compute``
        for lazy arrays); the three calls are three passes over the rows.
        ``row_weights`` (a column) weigh the rows as copies would.
        """
        if compute is None:

            def compute(*arrays):
                return arrays

        observed = ~mask
        weights = observed if row_weights is None else observed * row_weights
        values = np.where(observed, X, 0.0)
        if row_weights is not None:
            values = values * row_weights
        counts, sums, lowest, highest = compute(
            weights.sum(axis=0),
            # In float64 whatever X's dtype: float32 sums of values near
            # 1e37 overflow, and the centre would be infinite.
            values.sum(axis=0, dtype=np.float64),
            np.where(observed, X, np.inf).min(axis=0),
            np.where(observed, X, -np.inf).max(axis=0),
        )
        counts = np.where(counts > 0, counts, 1)
        centre = np.asarray(sums / counts, dtype=float)
        constant = lowest == highest
        centre[constant] = lowest[constant]
        deviations = np.where(observed, X - centre, 0.0)
        # Divided by the largest deviation before squaring, so that features in
        # units of 1e-200 or 1e200 neither underflow nor overflow.
        (largest,) = compute(np.abs(deviations).max(axis=0))
        unit = np.where(largest > 0.0, largest, 1.0)
        (sum_of_squares,) = compute((weights * (deviations / unit) ** 2).sum(axis=0))
        scale = unit * np.sqrt(sum_of_squares / counts)
        scale[~(scale > 0.0)] = 1.0
        return cls(centre, scale)

    def apply(self, data):
        """The data with its numeric columns standardised (a copy)."""
        numeric = np.where(data.mask, np.nan, (data.numeric - self.centre) / self.scale)
        # In the data's own float dtype: a float32 table stays half the size.
        numeric = numeric.astype(data.numeric.dtype, copy=False)
        return replace(data, numeric=numeric)

    def log_jacobian(self, mask):
        """Per row, ``sum log scale`` over its observed numeric coordinates.

        The density of a row's observed entries in the data's units is that
        of the standardised entries divided by the product of their scales.
        """
        return np.where(mask, 0.0, np.log(self.scale)).sum(axis=1)

    def to_data(self, numeric):
        """Standardised values back in the data's units."""
        return numeric * self.scale + self.centre


def check_range(data, scaling=None):
    """Refuse numbers whose squares float64 cannot hold, saying to rescale.

    A covariance is a mean of products of two deviations, so features in
    units of 1e200 have covariances of 1e400, beyond float64's largest
    number (1.8e308); fitting on would overflow into infinities and NaNs.
    Without ``scaling`` the engine works in the data's units and sums
    squares over the rows, so the limit is the square root of float64's
    largest number over ``4 n_samples``; with it the standardised fit is
    safe and only the covariances mapped back to the data's units
    (``scale**2``) can overflow. Tiny units (1e-200) are no trouble: their
    covariances underflow towards 0, which float64 represents. float32 data
    is fit in float64 but gets float32 attributes (``output_dtype``), whose
    covariances must fit float32 too: ``sqrt(3.4e38) / 4``, 4.6e18, is then
    the limit of the values (or the standard deviations).
    """
    if not data.n_numeric:
        return
    largest = np.finfo(np.float64).max
    # The attributes' float type bounds the covariances they can hold.
    stored = (
        np.sqrt(np.finfo(np.float32).max) / 4 if data.dtype == np.float32 else np.inf
    )
    if scaling is not None:
        reach, limit = scaling.scale.max(), np.sqrt(largest) / 4
        what = "standard deviations"
    elif getattr(data, "numeric", None) is None:
        # A data source not in memory (rows read chunk by chunk) is not
        # looked through again: its summary's pass, which the fit's checks
        # made, found its largest magnitude.
        reach = data.largest_magnitude()
        limit = np.sqrt(largest / (4 * data.n_samples))
        what = "values"
    else:
        # fmax/fmin skip NaN without a copy of the data (a fit's peak
        # memory); an entry flagged missing holds NaN or a small marker.
        numeric = data.numeric
        reach = max(
            np.fmax.reduce(numeric, axis=None), -np.fmin.reduce(numeric, axis=None)
        )
        limit = np.sqrt(largest / (4 * len(data.numeric)))
        what = "values"
    if reach > min(limit, stored):
        # Values far from 0 that vary little: dividing alone would leave
        # their spread to reg_covar.
        centring = (
            " (or, for values far from 0 that vary little, subtract their "
            "centre and divide by their spread, as StandardScaler does; "
            "EMImputer does so itself)"
        )
        if reach > limit:
            kind, most, end = "float64", largest, "."
        else:
            kind, most = "float32, X's dtype", np.finfo(np.float32).max
            end = ", or pass X as float64."
        raise ValueError(
            f"The numeric features of X have {what} as large as {reach:.1e}: "
            f"their squares, and so the covariances, overflow {kind} (largest "
            f"{most:.1e}). Rescale X, for example divide it by {reach:.0e}"
            f"{centring if what == 'values' else ''}, and scale the results "
            f"back{end}"
        )
