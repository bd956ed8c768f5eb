"""Additive sufficient statistics of a Gaussian mixture's E-step."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SufficientStats:
    """Expected complete-data sufficient statistics, summed over rows.

    With ``resp`` the responsibilities, ``xhat`` a row with its missing part
    replaced by its conditional mean under a component, ``C`` that
    component's conditional covariance of the missing part (zero elsewhere)
    and ``shift[k]`` a fixed centre per component:

    - ``nk[k] = sum_i resp[i, k]``
    - ``s1[k] = sum_i resp[i, k] (xhat_ik - shift[k])``
    - ``s2[k] = sum_i resp[i, k] ((xhat_ik - shift[k])(...)^T + C_ik)``

    ``s2`` holds full matrices ``(K, d, d)`` for the full model, their sum
    over components ``(1, d, d)`` for the tied model (all its M-step needs;
    its centres are then all equal) and only their diagonals ``(K, d)`` for
    the diagonal and spherical ones. Centring on each component's current
    mean keeps the one-pass covariance ``s2 / nk - m m^T`` free of
    cancellation, even for a tight component far from the others.

    Statistics are additive over rows: those of a data set are the sum of
    those of any split of its rows, which is what lets the E-step run in
    chunks (or on separate machines) and be summed.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._stats import SufficientStats
    >>> a = SufficientStats.zeros(2, 3, "full", shift=np.zeros((2, 3)))
    >>> (a + a).nk.tolist()
    [0.0, 0.0]
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray

    @classmethod
    def zeros(cls, n_components, n_features, covariance_type, *, shift):
        """Statistics of no rows, laid out for ``covariance_type``."""
        s2_shape = {
            "full": (n_components, n_features, n_features),
            "tied": (1, n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components, n_features),
        }[covariance_type]
        return cls(
            nk=np.zeros(n_components),
            s1=np.zeros((n_components, n_features)),
            s2=np.zeros(s2_shape),
            shift=np.broadcast_to(shift, (n_components, n_features)).astype(float),
        )

    def __add__(self, other):
        if not isinstance(other, SufficientStats):
            return NotImplemented
        if not np.array_equal(self.shift, other.shift):
            raise ValueError(
                "cannot add statistics accumulated around different shifts"
            )
        return SufficientStats(
            nk=self.nk + other.nk,
            s1=self.s1 + other.s1,
            s2=self.s2 + other.s2,
            shift=self.shift,
        )
