"""The classifier's start: initial parameters from the labelled rows.

:func:`labelled_params` turns the labelled rows' one-hot responsibilities
into parameters by one M-step (each missing numeric entry filled with its
class's observed mean); with unlabelled rows, every component starts from
the covariance of all the rows. A classifier's further runs may start from
clusters of all the rows instead (:func:`_clusters_restart`,
:func:`_clustered_labels`).

Cost, for ``n`` rows (``n_l`` labelled) of ``d`` numeric features, ``C``
classes and ``K`` components: the class-mean filling ``O(n d + C n_l)``,
the M-step ``O(n_l K d^2)`` (full covariances; ``O(n_l K d)`` diagonal
ones) plus the categorical counts ``O(n_l c K)`` for ``c`` categorical
columns; with unlabelled rows, the overall covariance ``O(n d^2)``; a class
with several components, a clustering of its labelled rows by
``init_params`` (see ``_init_clusters``). A restart from clusters: one
k-means of the rows with an observed entry, ``O(n C d)`` per iteration,
and an assignment of clusters to classes, ``O(n + C^3)``. Missing patterns
do not enter: holes are filled or ignored.
"""

from dataclasses import replace

import numpy as np

from emimpute._em import _init_features
from emimpute._em._categorical import CategoricalFamily, observed_counts
from emimpute._em._gaussian import GaussianFamily, complete_data_statistics
from emimpute._em._init_clusters import RANDOM_METHODS, initial_responsibilities
from emimpute._em._init_features import mean_filled
from emimpute._em._labels import LabelFamily, LabelStats
from emimpute._em._mstep import m_step
from emimpute._em._params import MixtureParams
from emimpute._em._stats import MixtureStats


def _clusters_restart(data, config):
    """Whether a classifier's further runs start from clusters: with
    unlabelled rows that carry something, and one component per class (with
    more, the labelled rows' split among a class's components already
    differs from run to run)."""
    classes = config.classes
    if classes.n_components != classes.n_classes:
        return False
    rows = data.patterns.observed_rows
    return bool(np.any(data.labels[rows] < 0))


def _clustered_labels(data, config, init_index):
    """Labels for every row with an observed entry: its own where given,
    else its cluster's class.

    k-means (``config.random_state``, a draw per run) splits those rows into
    one cluster per class; each cluster is matched to a class so that as
    many labelled rows as possible (weighted) fall in their own class's
    cluster (the assignment problem, scipy's ``linear_sum_assignment``).
    With few labels the labelled rows alone can put a class's start on the
    wrong side of a boundary the unlabelled rows draw (iris, two labels a
    class: log-likelihood -323.6 and 45% accuracy, where a start from the
    clusters reaches -307.6 and 95%), and restarts from the labelled rows
    would all be that one start. Cost: one k-means of the rows.
    """
    from scipy.optimize import linear_sum_assignment

    n_classes = config.classes.n_classes
    rows = data.patterns.observed_rows
    weights = None if data.sample_weight is None else data.sample_weight[rows]
    features, _, private = _init_features._kmeans_features(data, rows, one_hot=True)
    clusters = initial_responsibilities(
        features,
        n_classes,
        "kmeans",
        config.random_state,
        private=private,
        init_index=init_index,
        sample_weight=weights,
    ).argmax(axis=1)
    given = data.labels[rows]
    known = given >= 0
    agreement = np.zeros((n_classes, n_classes))
    np.add.at(
        agreement,
        (clusters[known], given[known]),
        1.0 if weights is None else weights[known],
    )
    cluster_of, class_of = linear_sum_assignment(agreement, maximize=True)
    to_class = np.empty(n_classes, dtype=np.intp)
    to_class[cluster_of] = class_of
    labels = data.labels.copy()
    labels[rows] = np.where(known, given, to_class[clusters])
    return labels


def labelled_params(data, config):
    """Initial parameters of a classifier's mixture, from the labelled rows.

    Each labelled row's responsibilities are one-hot on its class's
    component, or, with several components per class, on the component
    ``config.init_params`` assigns it to among its class's labelled rows.
    One M-step turns them into parameters: class frequencies (or the fixed
    priors), and the Gaussian and categorical families of the labelled rows,
    each missing numeric entry filled with its class's observed mean (its
    column's when the class has none) and each missing category ignored.
    With every label given and nothing missing this is the maximum-likelihood
    estimate itself.

    When some rows are unlabelled, every component starts instead with the
    covariance of all the rows (mean-filled): a class's few labelled rows
    give a poor, often nearly flat, covariance, and EM started from it can
    stay in a poor local maximum. Measured on two overlapping Gaussian
    classes, 400 rows of which 2% labelled, 60 seeds: the start from the
    labelled covariances ended 2 or more points of accuracy below QDA fitted
    to the labelled rows alone in 2 fits (in 22 with 20% of the entries
    missing, QDA still seeing complete rows); the broad start in 0 (and 4).
    Unlabelled rows enter at the first E-step. A class with several
    components shares its labelled rows among them by ``init_params``, or
    at random when it has fewer rows than components (possible under a
    prior only).

    Parameters
    ----------
    data : EMData
        With ``labels``; every class has labelled rows.
    config : EMConfig
        With ``classes``.

    Returns
    -------
    params : MixtureParams
    """
    classes = config.classes
    labelled = np.flatnonzero(data.labels >= 0)
    labels = data.labels[labelled]
    # Sample weights count a row as that many copies of it, here as in EM.
    weights = (
        np.ones(len(data.labels)) if data.sample_weight is None else data.sample_weight
    )
    resp = np.zeros((len(labelled), classes.n_components))
    for c in range(classes.n_classes):
        rows = np.flatnonzero(labels == c)
        components = np.flatnonzero(classes.component_classes == c)
        if len(components) == 1:
            resp[rows, components[0]] = 1.0
        else:
            # Fewer labelled rows than the class's components (which only a
            # prior lets through, see EMClassifier.fit): no clustering of
            # them exists, and random responsibilities share them out.
            method = config.init_params if len(rows) >= len(components) else "random"
            features = _init_features._kmeans_features(
                data, labelled[rows], one_hot=method not in RANDOM_METHODS
            )[0]
            resp[np.ix_(rows, components)] = initial_responsibilities(
                features,
                len(components),
                method,
                config.random_state,
                private=True,
                sample_weight=(
                    None if data.sample_weight is None else weights[labelled[rows]]
                ),
            )
    resp *= weights[labelled, np.newaxis]
    families, family_stats = [], []
    if data.n_numeric:
        # Labelled rows with no numeric entry observed tell nothing about the
        # Gaussians; mean-filling them would shrink the covariances.
        numeric_rows = ~data.mask[labelled].all(axis=1)
        filled = _class_mean_filled(
            data.numeric,
            data.mask,
            labelled[numeric_rows],
            labels[numeric_rows],
            weights,
        )
        families.append(GaussianFamily(config.form, None, None, None))
        family_stats.append(
            complete_data_statistics(filled, resp[numeric_rows], config.form)
        )
    if data.n_categorical:
        families.append(CategoricalFamily(()))
        family_stats.append(
            observed_counts(data.codes[labelled], data.n_categories, resp)
        )
    families.append(LabelFamily(classes.component_classes))
    family_stats.append(LabelStats())
    start_prior = replace(
        config.prior, category_smoothing=max(config.prior.category_smoothing, 1.0)
    )
    params = m_step(
        MixtureStats(nk=resp.sum(axis=0), families=tuple(family_stats)),
        MixtureParams(weights=None, families=tuple(families)),
        start_prior,
        classes,
    )
    informative = ~data.mask.all(axis=1) if data.n_numeric else None
    if data.n_numeric and np.any(data.labels[informative] < 0):
        covariances = _overall_covariance(
            data.numeric[informative],
            data.mask[informative],
            weights[informative],
            config,
        )
        params = params.replace_gaussian(
            covariances=covariances,
            precisions_cholesky=config.form.precision_cholesky(covariances),
        )
    return params


def _overall_covariance(X, mask, weights, config):
    """The covariance of all of ``X`` (mean-filled), for every component."""
    filled = mean_filled(X, mask, weights)
    stats = complete_data_statistics(filled, weights[:, np.newaxis], config.form)
    family = GaussianFamily(config.form, None, None, None).m_step(stats, config.prior)
    shape = config.form.shape(config.n_components, X.shape[1])
    return np.broadcast_to(family.covariances, shape).copy()


def _class_mean_filled(X, mask, rows, labels, weights):
    """``X[rows]`` with each missing entry filled with its class's observed mean.

    Means weighted by the rows' ``weights``. A class with no observed value
    in a column gets the column's observed mean over all rows.
    """
    filled = np.array(X[rows], dtype=float, copy=True)
    row_mask = mask[rows]
    if not row_mask.any():
        return filled
    observed = ~mask
    counts = weights @ observed
    sums = weights @ np.where(observed, X, 0.0)
    column_means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    filled[row_mask] = 0.0
    row_weights = weights[rows]
    for c in np.unique(labels):
        in_class = labels == c
        counts = row_weights[in_class] @ ~row_mask[in_class]
        means = np.divide(
            row_weights[in_class] @ filled[in_class],
            counts,
            out=column_means.copy(),
            where=counts > 0,
        )
        class_rows = filled[in_class]
        class_mask = row_mask[in_class]
        class_rows[class_mask] = np.broadcast_to(means, class_rows.shape)[class_mask]
        filled[in_class] = class_rows
    return filled
