"""The options of an EM fit, as one frozen value."""

from dataclasses import dataclass, replace

from emimpute._em._conjugate import GaussianPrior
from emimpute._em._forms import FULL


@dataclass(frozen=True)
class Prior:
    """What the M-step adds to the data's statistics.

    Attributes
    ----------
    reg_covar : float
        Added to the diagonal of every covariance after each M-step
        (scikit-learn's ``GaussianMixture`` meaning; not a prior of the
        likelihood, so with ``reg_covar > 0`` EM is only nearly monotone).
    category_smoothing : float
        Pseudo-count added to every category of every component (the MAP
        estimate under a symmetric Dirichlet prior of concentration
        ``1 + category_smoothing``); 0 gives maximum likelihood.
    conjugate : ConjugatePrior or None
        The conjugate prior of the Gaussian family and the weights, as the
        user stated it (None: maximum likelihood): an object whose
        ``resolve(data, n_components, form, scaling)`` returns the
        :class:`GaussianPrior` (or None) and the weights' concentration
        (``emimpute.ConjugatePrior``, defined outside the engine). ``run_em``
        resolves it to the data being fit (:meth:`resolve`).
    gaussian : GaussianPrior or None
        The resolved hyperparameters of the Gaussian family (set by
        :meth:`resolve`).
    weight_concentration : float
        The resolved Dirichlet concentration of the weights (1: flat).
    """

    reg_covar: float = 1e-6
    category_smoothing: float = 1.0
    conjugate: object = None
    gaussian: GaussianPrior | None = None
    weight_concentration: float = 1.0

    @property
    def is_map(self):
        """Whether EM maximises a posterior (the objective has a log-prior)."""
        return self.conjugate is not None

    def resolve(self, data, n_components, form, scaling=None):
        """This prior with the conjugate hyperparameters fit to ``data``.

        See ``ConjugatePrior.resolve``; without a conjugate prior, the
        prior itself.
        """
        if self.conjugate is None:
            return self
        gaussian, alpha = self.conjugate.resolve(data, n_components, form, scaling)
        return replace(self, gaussian=gaussian, weight_concentration=alpha)


@dataclass(frozen=True)
class EMConfig:
    """Everything ``run_em`` needs besides the data.

    Attributes
    ----------
    n_components : int
    form : DenseForm or DiagonalForm
        The covariance form of the Gaussian family.
    prior : Prior
    tol : float
        Convergence threshold on the per-row observed-data log-likelihood.
    moment_tol : float or None
        When set, also a threshold on the largest change, in an iteration,
        of a moment of the mixture (``_params.largest_change``, in the
        units of the data fit: standardised ones when ``standardise``); see
        ``ConvergenceMonitor``. None: the log-likelihood alone, as
        scikit-learn's ``GaussianMixture``.
    max_iter : int
    n_init : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState or None
    standardise : bool
        Fit the numeric columns standardised by their observed mean and
        standard deviation (then ``reg_covar`` is relative to each
        feature's variance); parameters and log-likelihoods are reported in
        the data's units (``_scaling``).
    verbose, verbose_interval : int
        Progress output, see ``ConvergenceMonitor``.
    chunk_size : int or None
        Rows per E-step chunk; None bounds the scratch space to ~16 MiB.
    classes : Classes or None
        For data with labels: the class of each component and the class
        priors if they are fixed (``_labels``); the start is then made from
        the labelled rows and the M-step keeps fixed priors.
    """

    n_components: int = 1
    form: object = FULL
    prior: Prior = Prior()
    tol: float = 1e-3
    moment_tol: float | None = None
    max_iter: int = 100
    n_init: int = 1
    init_params: str = "kmeans"
    random_state: object = None
    standardise: bool = False
    verbose: int = 0
    verbose_interval: int = 10
    chunk_size: int | None = None
    classes: object = None
