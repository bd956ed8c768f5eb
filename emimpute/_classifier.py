"""EMClassifier: a generative classifier fit by EM on unlabelled rows and holes."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from emimpute._base import (
    EM_PARAMETER_CONSTRAINTS,
    check_fit_rows,
    check_sample_weight,
    engine_data,
    fit_em,
    store_fitted,
    validate_with_nan,
    warn_unidentified_covariances,
)
from emimpute._em._forms import covariance_form
from emimpute._em._labels import Classes, class_log_posterior
from emimpute._em._warnings import user_stacklevel
from emimpute._input import read_input
from emimpute._sklearn_compat import (
    Interval,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    is_pandas_na,
    is_scalar_nan,
)


class EMClassifier(ClassifierMixin, BaseEstimator):
    """Gaussian classifier fit by EM to partly labelled data with holes.

    Each class is a Gaussian (or, with ``n_components_per_class > 1``, a
    Gaussian mixture) over the numeric features, times a categorical
    distribution per categorical feature: with ``covariance_type='full'``
    this is the model of
    :class:`~sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis`,
    with ``'tied'`` that of
    :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`. But
    the labels may be missing (``-1`` in ``y``, scikit-learn's
    semi-supervised convention) and ``X`` may hold NaN anywhere. EM fits the
    classes to the labelled *and* the unlabelled rows: an unlabelled row
    counts fractionally in every class, by its posterior class probability,
    so the class models use the information of every row; missing features
    are marginalised, not imputed. Prediction is Bayes' rule on the observed
    features of a row.

    Parameters
    ----------
    n_components_per_class : int, default=1
        Gaussian components per class; more than 1 fits a mixture per class,
        for classes that are not one blob.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance of the components, as in
        :class:`~sklearn.mixture.GaussianMixture`: 'full' (each its own
        matrix, QDA's model), 'tied' (one matrix shared by every component
        of every class, LDA's model), 'diag' (each its own diagonal, the
        Gaussian naive Bayes model), 'spherical' (each its own variance).

    tol : float, default=1e-3
        EM stops when the per-sample observed-data log-likelihood changes by
        less than ``tol`` (per row with an observed entry), the rule of
        ``GaussianMixture``. Where few rows observe a feature (or few rows
        are labelled) the log-likelihood is flat along its parameters, and
        this rule can stop well short of their maximum (see
        :class:`EMMixture`'s ``tol``): lower ``tol`` for such data.

    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of the covariances after
        each M-step, as in ``GaussianMixture``; absolute, in the squared
        units of the data.

    max_iter : int, default=100
        Maximum number of EM iterations.

    n_init : int, default=1
        Number of initialisations; the fit with the highest likelihood is
        kept. The first start is made from the labelled rows. With one
        component per class and unlabelled rows, each further one starts
        from a k-means clustering of all the rows into one cluster per
        class, each cluster matched to the class most of its labelled rows
        belong to (labelled rows keep their class): with a handful of
        labels the labelled rows alone can start EM in a poor local
        maximum (iris, two labels a class, 'diag': 45% accuracy from the
        labelled rows, 90% as the best of 10 starts). With several
        components per class, restarts split each class's labelled rows
        differently.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', \
            'hierarchical'}, default='kmeans'
        With ``n_components_per_class > 1``, how each class's labelled rows
        are split among its components to start (see :class:`EMMixture`).

    random_state : int, RandomState instance or None, default=None
        Controls the split of each class's labelled rows among its
        components. Pass an int for reproducible results.

    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous fit's parameters
        (which must have the same classes and components) and ``n_init``
        is ignored.

    verbose : int, default=0
        0 is silent; 1 prints the current initialization and iteration; 2
        also prints the time and the log-likelihood change.

    verbose_interval : int, default=10
        Number of iterations between two progress lines.

    priors : array-like of shape (n_classes,), default=None
        Fixed class priors, in the order of ``classes_``; they are
        normalised to sum to 1 (with a warning if they do not). None learns
        them from the labelled and the unlabelled rows.

    categorical_features : 'from_dtype', array-like of int, str or bool, \
            or None, default='from_dtype'
        The categorical features, as in :class:`EMMixture`. Given the
        component, each follows its own categorical distribution,
        independent of the other features.

    category_smoothing : float, default=1.0
        Pseudo-count added to every category of every component in each
        M-step (a symmetric Dirichlet prior); 0 gives maximum likelihood.
        In units of ``sample_weight`` (a row of weight 1 counts 1).

    handle_unknown : {'error', 'ignore'}, default='error'
        What a categorical value not seen in fit does at predict time:
        'error' raises; 'ignore' reads its cell as missing (marginalised),
        so the row is classified by its other entries. A cross-validation
        fold can hold a rare category that its training folds lack.

    prior : None, 'default' or ConjugatePrior, default=None
        None fits by maximum likelihood. 'default' (mclust's
        ``priorControl()``) or a :class:`ConjugatePrior` fits the maximum a
        posteriori parameters (MAP-EM) under the conjugate prior of Fraley
        and Raftery (2007): means shrunk towards the data's mean,
        covariances towards its covariance scaled by
        ``n_components ** (-2 / n_features)``, the data-dependent
        hyperparameters computed from the observed entries. It keeps
        covariances well defined where maximum likelihood degenerates
        (fewer rows than features, small components); ``reg_covar`` is
        still added after each M-step.
        ``lower_bound_`` then includes the log-prior.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``y`` (the unlabelled marker excluded).

    class_prior_ : ndarray of shape (n_classes,)
        The probability of each class: ``priors`` when given, else learnt.

    weights_ : ndarray of shape (n_components,)
        The weight of each component, ``n_components = n_classes *
        n_components_per_class``. Components are ordered by class:
        component ``k`` belongs to ``classes_[k // n_components_per_class]``.

    means_ : ndarray of shape (n_components, n_numeric)
        The mean of each component, over the numeric features.

    covariances_ : ndarray
        The covariance of each component, of shape (n_components,) for
        'spherical', (n_numeric, n_numeric) for 'tied', (n_components,
        n_numeric) for 'diag' and (n_components, n_numeric, n_numeric) for
        'full'.

    precisions_ : ndarray
        The precision matrices (inverse covariances), same shape as
        ``covariances_``.

    precisions_cholesky_ : ndarray
        The Cholesky factors ``U`` of the precisions, ``U @ U.T ==
        precision``, same shape as ``covariances_``.

    categories_ : list of ndarray
        The categories of each categorical feature.

    category_probabilities_ : list of ndarray of shape (n_components, n_categories_j)
        The probability of each category of each categorical feature, per
        component.

    numeric_features_ : ndarray of shape (n_numeric,)
        Indices of the numeric input features, in the order of ``means_``.

    categorical_features_ : ndarray of shape (n_categorical,)
        Indices of the categorical input features.

    transduction_ : ndarray of shape (n_samples,)
        The label of every training row: the given one, or the most
        probable class for an unlabelled row.

    label_distributions_ : ndarray of shape (n_samples, n_classes)
        The class probabilities of every training row given its observed
        features and label: one-hot for a labelled row.

    converged_ : bool
        True when the best fit reached ``tol``.

    n_iter_ : int
        Number of EM iterations of the best fit.

    lower_bound_ : float
        Per-sample log-likelihood of the observed data of the best fit:
        ``log p(x_O, y)`` for a labelled row, ``log p(x_O)`` for an
        unlabelled one (for a row with nothing observed, the log of its
        class's prior if it is labelled, 0 if not); with a
        ``prior``, plus the log-prior density of the parameters divided by
        ``n_samples`` (the objective of MAP-EM), and without one, plus that
        of the category probabilities under ``category_smoothing``'s
        Dirichlet prior (categorical features only).

    lower_bounds_ : list of float
        Its value at each iteration of the best fit.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis : The same
        model with every label known and no missing value.
    sklearn.semi_supervised.SelfTrainingClassifier : Semi-supervised
        learning around any classifier, without missing values.
    EMMixture : The same mixture without labels.

    Notes
    -----
    A label is one more categorical feature of the row whose probabilities
    are fixed: component ``k`` of class ``c`` says the label is ``c``. So
    for a labelled row the E-step's responsibilities are those of a Gaussian
    mixture restricted to its class's components (with one component per
    class, 1 for its class), and for an unlabelled row they are the usual
    ``r_k`` proportional to ``pi_k N(x_O; mu_k,O, S_k,OO)`` over every
    component; missing features are completed by their conditional
    distribution given the observed ones, as in :class:`EMMixture`. The
    M-step re-estimates each component from every row, weighted by ``r_k``.
    Each iteration never lowers the likelihood of the observed features and
    labels (when ``reg_covar=0``).

    The fit is correct when missing features and missing labels are missing
    at random: whether a label is missing may depend on the observed
    features, not on the class itself. When one class is labelled more often
    than another, the learnt class priors are biased; fix them with
    ``priors`` if they are known.

    With every label given and nothing missing, the fit is the closed-form
    maximum-likelihood estimate (class frequencies, class means and
    covariances with divisor ``n_c``, plus ``reg_covar``), reached in the
    first iteration: QDA's estimate from scikit-learn 1.9 (earlier versions
    divide by ``n_c - 1``), and with ``'tied'`` LDA's (with ``priors``,
    LDA's 'lsqr' and 'eigen' solvers weight the class covariances by them,
    while this, like its default 'svd' solver, pools them by counts, the
    maximum-likelihood estimate).

    Without a ``prior``, each class needs enough labelled rows to estimate
    its covariance by itself (``n_features + 1`` for ``'full'``, 2 for
    ``'diag'`` and ``'spherical'``, per component), however many
    unlabelled rows there are: a class model started from fewer is
    singular. ``prior='default'`` lifts it, the usual choice with a
    handful of labels and many unlabelled rows; ``covariance_type='tied'``
    eases it to ``n_components + n_features`` labelled rows in all (one
    covariance for every class), still however many unlabelled rows there
    are.

    :meth:`score` is the accuracy on the rows of ``y`` that have a label;
    unlabelled rows (for instance those of a cross-validation fold) are
    ignored.

    References
    ----------
    Dempster, Laird and Rubin (1977), Maximum likelihood from incomplete data
    via the EM algorithm. JRSS B 39(1).

    Ghahramani and Jordan (1994), Supervised learning from incomplete data
    via an EM approach. NIPS 6.

    Nigam, McCallum, Thrun and Mitchell (2000), Text classification from
    labeled and unlabeled documents using EM. Machine Learning 39.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute import EMClassifier
    >>> X = np.array([[160.0], [163], [158], [np.nan], [165], [162],
    ...               [176], [181], [178], [183], [175], [179]])
    >>> y = np.array(["f", "f", -1, "m", -1, -1, "m", -1, -1, -1, -1, "m"],
    ...              dtype=object)
    >>> clf = EMClassifier().fit(X, y)
    >>> clf.classes_
    array(['f', 'm'], dtype=object)
    >>> clf.transduction_
    array(['f', 'f', 'f', 'm', 'f', 'f', 'm', 'm', 'm', 'm', 'm', 'm'],
          dtype=object)
    >>> clf.predict([[168.0], [172.0]])
    array(['f', 'm'], dtype=object)
    >>> clf.class_prior_.round(2)
    array([0.42, 0.58])
    >>> clf.predict_proba([[np.nan]]).round(2)
    array([[0.42, 0.58]])
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in EM_PARAMETER_CONSTRAINTS.items() if k != "n_components"},
        "n_components_per_class": [Interval(Integral, 1, None, closed="left")],
        "priors": ["array-like", None],
        "warm_start": ["boolean"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_components_per_class=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        priors=None,
        categorical_features="from_dtype",
        category_smoothing=1.0,
        handle_unknown="error",
        prior=None,
    ):
        self.n_components_per_class = n_components_per_class
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.priors = priors
        self.categorical_features = categorical_features
        self.category_smoothing = category_smoothing
        self.handle_unknown = handle_unknown
        self.prior = prior

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate_X(self, X, *, reset):
        return validate_with_nan(self, X, reset=reset)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the class models to the labelled and unlabelled rows by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN marks a missing entry.

        y : array-like of shape (n_samples,)
            Class labels; ``-1`` marks an unlabelled row, and so do ``None``
            and NaN in an object or float ``y``. A string ``y`` has no
            marker: pass an object array to leave rows unlabelled.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row: a row of integer weight ``w``
            counts as ``w`` copies of it (labelled or not), and a row of
            weight 0 is left out of the fit. None gives every row weight 1.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        if y is None:
            raise ValueError(
                "EMClassifier requires y to be passed, but the target y is "
                "None. To fit a mixture without any label, use EMMixture."
            )
        table = read_input(
            self, X, reset=True, validate_numeric=self._validate_X, min_fit_rows=2
        )
        y = _label_array(y, warn=True)
        check_consistent_length(table.mask, y)
        labelled, values = _labelled_values(y)
        if len(values) == 0:
            raise ValueError(
                "EMClassifier needs at least one labelled row, but every "
                "label in y is missing (-1, None or NaN). To fit a mixture "
                "to unlabelled data, use EMMixture."
            )
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise ValueError(
                "Input y contains infinity or a value too large for "
                f"dtype({values.dtype.name!r})."
            )
        check_classification_targets(values)
        class_labels, codes = np.unique(values, return_inverse=True)
        if len(class_labels) < 2:
            raise ValueError(
                "EMClassifier needs labelled rows of at least two classes, "
                f"but y has one class, {class_labels.tolist()[0]!r}, besides its "
                "unlabelled rows (-1, None or NaN). If -1 is one of your "
                "classes, recode it (to 0, say): -1 marks an unlabelled row."
            )
        labels = np.full(len(y), -1, dtype=np.intp)
        labels[labelled] = codes.reshape(-1)
        classes = Classes.per_class(
            len(class_labels),
            self.n_components_per_class,
            self._check_priors(len(class_labels)),
        )
        data = engine_data(
            table,
            labels=labels,
            sample_weight=check_sample_weight(sample_weight, table.mask),
        )
        form = covariance_form(self.covariance_type)
        # First the checks of any fit (a feature never observed is named as
        # such, not as one that no class has labelled rows of); fit_em runs
        # them again on the rows of positive weight.
        check_fit_rows(data, classes.n_components, type(self).__name__, table.mask)
        if self.prior is None:
            # A prior keeps every estimate defined (it falls back to the
            # prior's), however few rows a class has.
            _check_labelled_rows(data, classes, form, class_labels, self)
            _check_labelled_features(
                data, classes, form, class_labels, table.numeric_columns, self
            )
        start = None
        if self.warm_start and hasattr(self, "converged_"):
            if not (
                np.array_equal(self.classes_, class_labels)
                and len(self.weights_) == classes.n_components
            ):
                raise ValueError(
                    "warm_start needs the classes and the number of components "
                    "of the previous fit; set warm_start=False to fit afresh."
                )
            start = self._fitted_params()
        self._layout = table.layout
        result = fit_em(self, data, start=start, mask=table.mask, classes=classes)
        params = result.params
        store_fitted(self, result, table, form)
        warn_unidentified_covariances(self, data)
        self.classes_ = class_labels
        self.class_prior_ = classes.class_sums(params.weights[np.newaxis])[0]
        # A final E-step with the kept parameters and the labels: the class
        # probabilities of the training rows, one-hot where labelled.
        log_class_proba = class_log_posterior(data, params, classes)[1]
        self.label_distributions_ = np.exp(log_class_proba)
        self.transduction_ = self.classes_[log_class_proba.argmax(axis=1)]
        return self

    def _check_priors(self, n_classes):
        if self.priors is None:
            return None
        priors = np.asarray(self.priors, dtype=float)
        if priors.shape != (n_classes,):
            raise ValueError(
                f"priors should have one value per class ({n_classes} classes "
                f"in y), but has shape {priors.shape}."
            )
        if not np.all(np.isfinite(priors)) or np.any(priors <= 0.0):
            raise ValueError(
                "priors should be positive and finite: a class with prior 0 "
                f"cannot have labelled rows; got {priors.tolist()}."
            )
        if not np.isclose(priors.sum(), 1.0):
            warnings.warn(
                "The priors do not sum to 1. Renormalizing",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return priors / priors.sum()

    def _classes(self):
        n_classes = len(self.classes_)
        return Classes.per_class(n_classes, len(self.weights_) // n_classes)

    def _fitted_params(self):
        """The fitted parameters as the engine's ``MixtureParams`` (float64).

        Those of the fit, not rebuilt from the attributes: a later
        ``set_params(covariance_type=...)`` must not relabel them.
        """
        return self._params

    def _class_log_posterior(self, X, allow_impossible=False):
        check_is_fitted(self)
        data = engine_data(
            read_input(self, X, reset=False, validate_numeric=self._validate_X)
        )
        return class_log_posterior(
            data,
            self._fitted_params(),
            self._classes(),
            allow_impossible=allow_impossible,
        )

    def predict_log_proba(self, X):
        """Log-probability of each class given the observed features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; a row with nothing
            observed gets ``log(class_prior_)``.
        """
        return self._class_log_posterior(X)[1]

    def decision_function(self, X):
        """Log-odds (two classes) or joint log-density of each class.

        As :class:`~sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis`'s:
        a score whose softmax over the classes is :meth:`predict_proba`, so
        that scorers and tools asking for a decision function (ROC curves,
        ``response_method='decision_function'``) work.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            With two classes, ``log p(classes_[1] | x_O) - log p(classes_[0]
            | x_O)`` (QDA's value, for ``reg_covar=0`` against its
            ``reg_param=0``). With more, ``log p(x_O, c)`` for each class
            ``c`` in the order of ``classes_``: the log-posterior plus the
            row's ``log p(x_O)`` (QDA's differs from it by a per-row
            constant, which the softmax cancels); a row with nothing
            observed gets ``log(class_prior_)``. An infinite score (a class
            of probability 0, possible with ``category_smoothing=0``) is
            ``1e300`` of its sign.

        Examples
        --------
        >>> import numpy as np
        >>> from emimpute import EMClassifier
        >>> X = np.array([[0.0, 0.1], [0.3, np.nan], [0.2, -0.1], [3.0, 3.1],
        ...               [np.nan, 2.9], [3.2, 2.8], [0.1, 0.0], [2.9, 3.0]])
        >>> clf = EMClassifier().fit(X, [0, 0, 0, 1, 1, 1, -1, -1])
        >>> clf.decision_function([[0.0, 0.0], [3.0, np.nan]]) > 0
        array([False,  True])
        """
        log_prob, log_proba = self._class_log_posterior(X)
        if len(self.classes_) == 2:
            scores = log_proba[:, 1] - log_proba[:, 0]
        else:
            scores = log_proba + log_prob[:, np.newaxis]
        # A class of probability 0 (a category it never shows, with
        # category_smoothing=0) has an infinite score, which scorers refuse;
        # 1e300 keeps the order (no finite log-odds comes near it) and a
        # scorer's sum over up to 1e8 rows finite.
        return np.clip(scores, -1e300, 1e300)

    def predict_proba(self, X):
        """Probability of each class given the observed features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1; a row with
            nothing observed gets ``class_prior_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class of each row given its observed features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        best = self.predict_log_proba(X).argmax(axis=1)
        return self.classes_[best]

    def score_samples(self, X):
        """Log-density of the observed features of each row, over all classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x_O)``, the marginal over the classes and the missing
            features; 0 for a row with nothing observed, ``-inf`` for a row
            of density 0 under every class (far from all of them).
        """
        return self._class_log_posterior(X, allow_impossible=True)[0]

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labelled rows of ``y``.

        Rows whose label is missing (``-1``, ``None`` or NaN, as in
        :meth:`fit`) are ignored, so that a cross-validation fold of
        partly labelled data is scored on its labelled rows (a ``scoring``
        string such as ``'accuracy'`` counts them as errors). Give integer
        classes and ``-1`` there: scikit-learn's default splitter for a
        classifier (``StratifiedKFold``) then stratifies the unlabelled
        rows too. With NaN, or text labels beside ``-1`` or ``None``, it
        cannot read the target (it raises, or splits the rows in order):
        pass ``cv=KFold(5, shuffle=True, random_state=0)`` (see the user
        guide).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        y : array-like of shape (n_samples,)
            True labels, with the unlabelled marker where unknown.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Mean accuracy of :meth:`predict` on the labelled rows.

        Raises
        ------
        ValueError
            If no row of ``y`` has a label.
        """
        y = _label_array(y)
        labelled, values = _labelled_values(y)
        if len(values) == 0:
            raise ValueError(
                "EMClassifier.score needs at least one labelled row in y, but "
                "every label is missing."
            )
        y_pred = self.predict(X)
        check_consistent_length(y_pred, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, y_pred)[labelled]
        return float(
            accuracy_score(values, y_pred[labelled], sample_weight=sample_weight)
        )


def _label_array(y, warn=False):
    """``y`` as a 1-d array whose unlabelled markers survive.

    Two conversions would lose them: numpy makes a list of text labels and
    ``-1`` (or NaN) a text array, where ``'-1'`` is a class like any other,
    so such a list becomes an object array; pandas (and polars) turn a
    nullable column with missing labels (``Int64``, ``boolean``,
    ``string``, a ``category`` of numbers) into floats, so its missing
    labels become ``None`` in an object array, whose labels
    :func:`_labelled_values` then gives back in their own type.
    """
    if hasattr(y, "isna") and hasattr(y, "astype"):
        # pandas, a Series, an Index or a one-column frame (whose
        # column_or_1d warning is kept), when it has nulls: as objects, its
        # labels of their own type (to_numpy makes a category of numbers
        # floats) and its nulls NaN or pd.NA.
        if np.asarray(y.isna()).any():
            y = np.asarray(y.astype(object))
    elif hasattr(y, "null_count") and hasattr(y, "to_list"):
        # polars: its to_numpy makes an integer column with nulls floats.
        if y.null_count():
            y = np.array(y.to_list(), dtype=object)
    elif not hasattr(y, "dtype") and not hasattr(y, "__array__"):
        array = np.asarray(y)
        if array.dtype.kind in "US":
            mixed = np.asarray(y, dtype=object)
            if not all(isinstance(v, str | bytes) for v in mixed.ravel()):
                array = mixed
        y = array
    return column_or_1d(y, warn=warn)


def _is_unlabelled(value):
    if value is None or is_scalar_nan(value) or is_pandas_na(value):
        return True
    return isinstance(value, Real) and not isinstance(value, bool) and value == -1


def _labelled_values(y):
    """The labelled rows of ``y`` and their labels.

    ``-1`` marks an unlabelled row in a numeric ``y``, and so do NaN (float
    ``y``) and ``None``, NaN or ``pd.NA`` (object ``y``). An object ``y``
    whose labels are all numbers comes back as a numeric array, as it would
    have been without the markers.

    Returns
    -------
    labelled : ndarray of shape (n_labelled,)
        Indices of the labelled rows.
    values : ndarray of shape (n_labelled,)
    """
    kind = y.dtype.kind
    if kind == "f":
        unlabelled = np.isnan(y) | (y == -1)
    elif kind in "iu":
        unlabelled = y == -1
    elif kind == "O":
        unlabelled = np.fromiter(map(_is_unlabelled, y), dtype=bool, count=len(y))
    else:
        unlabelled = np.zeros(len(y), dtype=bool)
    labelled = np.flatnonzero(~unlabelled)
    values = y[labelled]
    if kind == "O" and len(values) and not any(isinstance(v, str) for v in values):
        values = np.array(values.tolist())
    return labelled, values


def _check_labelled_features(data, classes, form, class_labels, columns, estimator):
    """Raise a clear error when a class never observes a numeric feature.

    A class's mean (and variance) of a feature comes from the rows of the
    class where the feature is observed; with fewer than
    ``form.observations_needed()`` per component among its labelled rows
    (counted by :func:`_labelled_counts`) and no unlabelled row to learn it
    from, the likelihood does not depend on it, EM leaves it where it
    started (a variance of ``reg_covar``), and it decides ``predict_proba``
    for every row where the feature is observed. ``columns`` are the numeric
    features' input indices, for the message. Cost ``O(n d)``.
    """
    if not data.n_numeric:
        return
    observed = ~data.mask
    if data.sample_weight is not None:
        observed &= (data.sample_weight > 0)[:, np.newaxis]
    taught = observed[data.labels < 0].any(axis=0)  # by unlabelled rows
    if taught.all():
        return
    counts = _labelled_counts(data, classes.n_classes, observed)
    needed = form.observations_needed() * estimator.n_components_per_class
    short = (counts < needed) & ~taught
    if not short.any():
        return
    c, j = np.argwhere(short)[0]
    names = getattr(estimator, "feature_names_in_", None)
    feature = f"feature {columns[j]}" + (
        "" if names is None else f" ({names[columns[j]]!r})"
    )
    raise ValueError(
        f"Class {class_labels.tolist()[c]!r} has {counts[c, j]:g} labelled rows"
        f"{_of_positive_weight(data)} with {feature} observed, fewer than the "
        f"{needed} that "
        f"covariance_type={estimator.covariance_type!r} with "
        f"n_components_per_class={estimator.n_components_per_class} needs, and "
        "no unlabelled row observes it: the class's parameters of that "
        "feature cannot be estimated, and would decide predict_proba wherever "
        "the feature is observed. Label rows of this class where the feature "
        "is observed, drop the feature, or use prior='default', which falls "
        "back to the prior's estimate."
    )


def _of_positive_weight(data):
    """What the counts of labelled rows leave out, for the messages: rows of
    weight 0, when there are any."""
    weights = data.sample_weight
    if weights is None or (weights > 0).all():
        return ""
    return " of positive sample_weight"


def _labelled_counts(data, n_classes, observed):
    """Labelled rows of positive weight per class and column of ``observed``.

    ``observed`` is ``(n_samples, m)`` bool; the count of class ``c`` and
    column ``j`` is the larger of the number of its labelled rows where
    ``observed[:, j]`` and their summed sample weight (a row of integer
    weight ``w`` counts as its ``w`` copies, and small fractional weights
    do not make a class short). Returns ``(n_classes, m)``; ``O(n m)``.
    """
    counted = data.labels >= 0
    if data.sample_weight is not None:
        counted &= data.sample_weight > 0
    n_columns = observed.shape[1]
    cells = observed[counted]
    # One bincount over (class, column) pairs: the class's index times the
    # number of columns plus the column's.
    pairs = data.labels[counted][:, np.newaxis] * n_columns + np.arange(n_columns)
    size = n_classes * n_columns
    counts = np.bincount(pairs[cells], minlength=size).astype(float)
    if data.sample_weight is not None:
        weights = np.broadcast_to(
            data.sample_weight[counted][:, np.newaxis], cells.shape
        )
        weighted = np.bincount(pairs[cells], weights=weights[cells], minlength=size)
        counts = np.maximum(counts, weighted)
    return counts.reshape(n_classes, n_columns)


def _check_labelled_rows(data, classes, form, class_labels, estimator):
    """Raise a clear error when a class has too few labelled rows to start.

    A labelled row counts when it has a numeric entry observed (any row
    counts without numeric features) and a positive sample weight, as
    :func:`_labelled_counts` counts rows; each class needs enough of them
    for its components' covariances (``form.rows_needed``).
    """
    n_components = estimator.n_components_per_class
    if data.n_numeric:
        informative = ~data.mask.all(axis=1)
        per_component, in_all = form.rows_needed(classes.n_components, data.n_numeric)
    else:
        informative = np.ones(len(data.labels), dtype=bool)
        per_component, in_all = 1, classes.n_components
    counts = _labelled_counts(data, classes.n_classes, informative[:, np.newaxis])[:, 0]
    needed = per_component * n_components
    covariance_type = estimator.covariance_type
    short = np.flatnonzero(counts < needed)
    if len(short):
        c = short[0]
        raise ValueError(
            f"Class {class_labels.tolist()[c]!r} has {counts[c]:g} labelled rows"
            f"{_of_positive_weight(data)} with an observed numeric feature, "
            f"fewer than the {needed} that "
            f"covariance_type={covariance_type!r} with n_components_per_class="
            f"{n_components} and n_features = {data.n_numeric} needs "
            f"({per_component} per component) to estimate "
            "its components. Label more rows of this class, use a "
            "covariance_type that needs fewer ('tied': one row per component "
            "and n_components + n_features in all; 'diag' or 'spherical': two "
            "per component), or prior='default', whose estimates stay defined "
            "however few rows a class has. reg_covar only keeps a covariance "
            "invertible: it cannot estimate one from too few rows."
        )
    if counts.sum() < in_all:
        raise ValueError(
            f"There are {counts.sum():g} labelled rows{_of_positive_weight(data)} "
            "with an observed numeric "
            f"feature, fewer than the {in_all} (n_components + n_features) "
            f"that covariance_type={covariance_type!r} needs to estimate the "
            "covariance shared by all classes. Label more rows, use "
            "covariance_type='diag' or 'spherical', or prior='default'."
        )
