"""Additive sufficient statistics: the values an E-step returns.

Statistics are additive over rows: those of a data set are the sum of those
of any split of its rows. That is what lets the E-step run in chunks, and,
later, on separate processes or machines, and be summed; every statistics
value here is frozen and has ``__add__``, and no E-step mutates one.
"""

from dataclasses import dataclass

import numpy as np

# Added to expected counts before dividing by them, so that an empty
# component does not divide by zero (as scikit-learn does).
NK_FLOOR = 10 * np.finfo(float).eps


@dataclass(frozen=True)
class MixtureStats:
    """The statistics of one E-step: component counts and each family's.

    Attributes
    ----------
    nk : ndarray of shape (n_components,)
        ``sum_i resp[i, k]``, the expected number of rows per component.
    families : tuple
        One statistics value per family of the model, in its order.
    """

    nk: np.ndarray
    families: tuple

    def __add__(self, other):
        if not isinstance(other, MixtureStats):
            return NotImplemented
        return MixtureStats(
            nk=self.nk + other.nk,
            families=tuple(
                a + b for a, b in zip(self.families, other.families, strict=True)
            ),
        )


@dataclass(frozen=True)
class SufficientStats:
    """Expected complete-data sufficient statistics of a Gaussian family.

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

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._forms import covariance_form
    >>> from emimpute._em._stats import SufficientStats
    >>> a = SufficientStats.zeros(2, 3, covariance_form("full"), shift=np.zeros((2, 3)))
    >>> (a + a).nk.tolist()
    [0.0, 0.0]
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray

    @classmethod
    def zeros(cls, n_components, n_features, form, *, shift):
        """Statistics of no rows, laid out for the covariance ``form``.

        The arrays are fresh: a kernel may add a block's terms into them in
        place before returning the value.
        """
        shape = (n_components, n_features)
        if not (isinstance(shift, np.ndarray) and shift.shape == shape):
            shift = np.broadcast_to(shift, shape).astype(float)
        return cls(
            nk=np.zeros(n_components),
            s1=np.zeros(shape),
            s2=np.zeros(form.statistics_shape(n_components, n_features)),
            shift=shift,
        )

    @property
    def arrays(self):
        return self.nk, self.s1, self.s2

    def __add__(self, other):
        if not isinstance(other, SufficientStats):
            return NotImplemented
        # The blocks of one E-step share their kernel's shift array: the
        # identity test spares a comparison per block.
        if self.shift is not other.shift and not np.array_equal(
            self.shift, other.shift
        ):
            raise ValueError(
                "cannot add statistics accumulated around different shifts"
            )
        return SufficientStats(
            nk=self.nk + other.nk,
            s1=self.s1 + other.s1,
            s2=self.s2 + other.s2,
            shift=self.shift,
        )


def add_complete_rows(arrays, x, resp, centres):
    """Add the statistics of complete rows to fresh ``(nk, s1, s2)`` arrays.

    ``x`` is centred on the statistics' shift; ``centres`` are the
    per-component centres relative to it. ``s2``'s shape tells the layout:
    ``(K, d)`` diagonal, ``(1, d, d)`` tied (whose centres are all zero),
    ``(K, d, d)`` full. Only ever called on arrays a kernel has just
    allocated for the value it returns.
    """
    nk, s1, s2 = arrays
    nk += resp.sum(axis=0)
    if s2.ndim == 3 and len(s2) == 1:
        # Tied: sum_k r_ik = w_i, the row's weight (1 without sample weights).
        s1 += resp.T @ x
        s2[0] += (x * resp.sum(axis=1)[:, np.newaxis]).T @ x
        return
    for k in range(len(nk)):
        deviations = x - centres[k]
        weighted = resp[:, k, np.newaxis] * deviations
        s1[k] += weighted.sum(axis=0)
        if s2.ndim == 2:
            s2[k] += (weighted * deviations).sum(axis=0)
        else:
            s2[k] += weighted.T @ deviations
