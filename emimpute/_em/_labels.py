"""The label family: a class label per row, known for some rows.

A classifier's mixture gives each class one or more components; component
``k`` belongs to class ``component_classes[k]``. The label of a row is one
more categorical cell, whose category probabilities are *fixed*:
``theta[k, c] = 1`` if component ``k`` belongs to class ``c``, else 0. So a
labelled row's log-density under component ``k`` is 0 for the components of
its class and ``-inf`` for the others, and the E-step's softmax clamps its
responsibilities to its class's components; an unlabelled row's label is
marginalised, like a missing categorical cell (factor 1, log-density 0), and
gets the usual E-step. Nothing in the loop knows about labels: the family
has no statistics and no free parameter, and its M-step returns it unchanged.

With the labels observed, the likelihood EM climbs is that of the observed
data *and labels*: ``log p(x_O, y)`` for a labelled row, ``log p(x_O)`` for
an unlabelled one; the mechanism that hides labels is assumed ignorable
(labels missing at random given ``x_O``).

The class weights are learnt (``pi_k = nk / n``), or the class priors are
fixed and only the split of each class's prior among its components is
learnt (:meth:`Classes.weights`); that rule lives in the M-step, through
``EMConfig.classes``.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from emimpute._em._estep import weighted_log_prob


@dataclass(frozen=True)
class Classes:
    """Which class each component belongs to, and the class priors if fixed.

    Attributes
    ----------
    component_classes : ndarray of shape (n_components,) of intp
        The class of each component, in ``0 .. n_classes - 1``; every class
        has at least one component.
    priors : ndarray of shape (n_classes,) or None
        Fixed class priors (positive, summing to 1), or None to learn them.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._labels import Classes
    >>> classes = Classes.per_class(2, 2, priors=np.array([0.5, 0.5]))
    >>> classes.component_classes.tolist()
    [0, 0, 1, 1]
    >>> classes.weights(np.array([1.0, 3.0, 5.0, 5.0])).tolist()
    [0.125, 0.375, 0.25, 0.25]
    """

    component_classes: np.ndarray
    priors: np.ndarray | None = None

    @classmethod
    def per_class(cls, n_classes, n_components_per_class, priors=None):
        """``n_components_per_class`` consecutive components per class."""
        return cls(
            np.repeat(np.arange(n_classes), n_components_per_class),
            None if priors is None else np.asarray(priors, dtype=float),
        )

    @property
    def n_classes(self):
        return int(self.component_classes.max()) + 1

    @property
    def n_components(self):
        return len(self.component_classes)

    def weights(self, nk):
        """The M-step of the component weights from the expected counts.

        Learnt priors: ``pi_k = nk_k / sum(nk)``. Fixed priors ``p``:
        ``pi_k = p_c nk_k / sum_{j in c} nk_j`` for ``k`` in class ``c``,
        the maximiser of the expected complete-data log-likelihood under the
        constraint that each class's weights sum to its prior.

        Parameters
        ----------
        nk : ndarray of shape (n_components,)
            Expected counts, positive.

        Returns
        -------
        weights : ndarray of shape (n_components,)
        """
        if self.priors is None:
            return nk / nk.sum()
        class_totals = np.bincount(
            self.component_classes, weights=nk, minlength=len(self.priors)
        )
        return self.priors[self.component_classes] * (
            nk / class_totals[self.component_classes]
        )

    def class_sums(self, resp):
        """Sum the columns of ``resp`` (rows, components) over each class."""
        out = np.zeros((resp.shape[0], self.n_classes))
        for k, c in enumerate(self.component_classes):
            out[:, c] += resp[:, k]
        return out


@dataclass(frozen=True)
class LabelStats:
    """The statistics of the label family: none (its parameters are fixed)."""

    def __add__(self, other):
        if not isinstance(other, LabelStats):
            return NotImplemented
        return self


@dataclass(frozen=True)
class LabelFamily:
    """The class label as a categorical cell with fixed probabilities.

    Attributes
    ----------
    component_classes : ndarray of shape (n_components,) of intp
        ``theta[k, c] = 1`` when ``component_classes[k] == c``, else 0.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._labels import LabelFamily
    >>> family = LabelFamily(np.array([0, 1, 1]))
    >>> data = EMData.build(np.zeros((2, 1)), labels=np.array([1, -1]))
    >>> family.kernel(data, None).evaluate(data.patterns.groups[0]).log_density
    array([[-inf,   0.,   0.],
           [  0.,   0.,   0.]])
    """

    component_classes: np.ndarray

    @property
    def n_components(self):
        return len(self.component_classes)

    def estimates(self):
        """The arrays EM estimates: none, the probabilities are fixed."""
        return ()

    def from_estimates(self, arrays):
        """The family of ``arrays`` laid out as :meth:`estimates` (none):
        the family itself. Cost ``O(1)``."""
        return self

    def marginal_moments(self, weights):
        """None: the classes' shares are the weights' sums."""
        return ()

    def kernel(self, data, weights):
        """This family's :class:`LabelKernel` on ``data``."""
        return LabelKernel(self, data)

    def m_step(self, stats, prior):
        """The probabilities are fixed: the family itself."""
        return self

    def log_prior(self, prior):
        """No free parameter, no prior."""
        return 0.0

    def n_parameters(self):
        """No free parameter."""
        return 0

    def draw_given_complete(
        self, numeric, codes, labels, prior, random_state, *, weights=None
    ):
        """Parameter draws are for imputation models only: a ValueError."""
        raise ValueError("Parameter draws are for imputation models only.")

    def sample(self, labels, random_state):
        """The class of each drawn component."""
        return self.component_classes[labels]


@dataclass(frozen=True)
class LabelEvaluation:
    log_density: np.ndarray


class LabelKernel:
    """The label family bound to a data set.

    Parameters
    ----------
    family : LabelFamily
    data : EMData
        Its ``labels`` (class codes, ``-1`` where unlabelled) are read; data
        without labels (``labels is None``) is unlabelled everywhere, which
        is how the classifier predicts.
    """

    def __init__(self, family, data):
        self.component_classes = family.component_classes
        self.labels = data.labels

    def floats_per_row(self, n_missing):
        return len(self.component_classes) + 1

    def evaluate(self, block, *, moments=False):
        n_rows = len(block.rows)
        if self.labels is None:
            return LabelEvaluation(np.zeros((n_rows, len(self.component_classes))))
        labels = np.take(self.labels, block.rows)[:, np.newaxis]
        allowed = (labels < 0) | (labels == self.component_classes)
        return LabelEvaluation(np.where(allowed, 0.0, -np.inf))

    def statistics(self, block, resp, evaluation):
        return LabelStats()

    def impute(self, block, resp, evaluation, filled, *, draw=None):
        """Nothing to write: the labels are not part of the completed data."""


def class_log_posterior(
    data, params, classes, *, chunk_size=None, allow_impossible=False
):
    """``log p(x_O)`` and ``log p(class | x_O)`` of every row.

    Each class's probability is the sum of its components' posterior
    probabilities, computed in log space. A row with nothing observed gets
    ``log p(x_O) = 0`` and the log class priors. ``allow_impossible`` as in
    :func:`~emimpute._em._estep.posterior`: a row of density 0 under every
    component gets ``log p(x_O) = -inf`` (and NaN class probabilities)
    instead of an error.

    Parameters
    ----------
    data : EMData
        Without labels (or with them, to clamp the labelled rows).
    params : MixtureParams
    classes : Classes
    chunk_size : int, default=None

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
    log_class_proba : ndarray of shape (n_samples, n_classes)
    """
    weighted = weighted_log_prob(
        data, params, chunk_size=chunk_size, allow_impossible=allow_impossible
    )
    # Relative to the row's largest term: far from the data, log-densities
    # of -1e40 leave no digits for log 2, and every class got log p = 0.
    top = weighted.max(axis=1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    relative = weighted - top
    with np.errstate(divide="ignore", under="ignore", invalid="ignore"):
        log_total = logsumexp(relative, axis=1)
        if classes.n_components == classes.n_classes:
            order = np.argsort(classes.component_classes)
            log_joint = relative[:, order]
        else:
            log_joint = np.column_stack(
                [
                    logsumexp(relative[:, classes.component_classes == c], axis=1)
                    for c in range(classes.n_classes)
                ]
            )
        log_class_proba = log_joint - log_total[:, np.newaxis]
    log_prob = log_total + top[:, 0]
    log_prob[data.patterns.empty_rows] = 0.0
    return log_prob, log_class_proba
