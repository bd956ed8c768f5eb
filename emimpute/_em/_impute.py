"""Missing entries filled from their conditional distribution under a mixture."""

from dataclasses import dataclass, replace

import numpy as np

from emimpute._em._augmentation import OneGaussianAugmentation
from emimpute._em._estep import (
    check_finite_scores,
    check_log_densities,
    evaluate_block,
    kernels,
    log_mixture_weights,
    map_row_blocks,
    responsibilities,
)
from emimpute._em._parallel import e_step_threads
from emimpute._em._streams import generator


@dataclass(frozen=True)
class Completion:
    """A data set with its missing entries filled.

    While :func:`complete` runs, the arrays are the buffers each family's
    kernel writes its block's entries into (``impute``).

    Attributes
    ----------
    numeric : ndarray of shape (n_samples, n_numeric)
        The numeric columns; observed entries are those of the input, bit
        for bit.
    codes : ndarray of shape (n_samples, n_categorical)
        Category codes, every cell filled.
    std : ndarray of shape (n_samples, n_numeric) or None
        Conditional standard deviation of every numeric entry (0 where
        observed), when asked for.
    probabilities : list of ndarray of shape (n_samples, n_categories_j) or None
        Posterior predictive probabilities of each categorical column (one-hot
        where observed), when asked for.
    """

    numeric: np.ndarray
    codes: np.ndarray
    std: np.ndarray | None = None
    probabilities: list | None = None


def draw_components(resp, random_state):
    """One component per row, drawn by responsibility.

    With one component, component 0 and no number taken from the stream.
    """
    if resp.shape[1] == 1:
        return np.zeros(len(resp), dtype=np.intp)
    u = random_state.uniform(size=(len(resp), 1))
    cumulative = np.cumsum(resp, axis=1)
    u = u * cumulative[:, -1:]
    return np.minimum((cumulative < u).sum(axis=1), resp.shape[1] - 1)


def complete(
    data,
    params,
    *,
    scaling=None,
    return_std=False,
    return_proba=False,
    random_state=None,
    chunk_size=None,
    keep_blocks=False,
    scaled_data=None,
):
    """Fill each row's missing part from its distribution given the observed part.

    Given the observed part ``x_O`` of a row, the missing part follows the
    mixture ``sum_k r_k p(x_M | x_O, k)``, with ``r_k`` the responsibilities
    of the components given ``x_O``; under component ``k`` the missing
    numeric entries are Gaussian (``_gaussian``) and each missing
    categorical cell independent of them (``_categorical``). A numeric entry
    gets the mean ``sum_k r_k m_k`` (and, by the law of total variance, the
    standard deviation ``sqrt(sum_k r_k (diag(C_k) + (m_k - mean)**2))``);
    a categorical cell the most probable category of ``sum_k r_k theta_k``.
    A row with nothing observed gets the mixture's marginal mean and mode.

    Parameters
    ----------
    data : EMData
        In the data's units.
    params : MixtureParams
        Of the standardised numeric columns when ``scaling`` is given.
    scaling : Scaling, default=None
        The standardisation the parameters were fit under.
    return_std : bool, default=False
    return_proba : bool, default=False
    random_state : numpy.random.RandomState or Generator, default=None
        When given, draw each row's missing part jointly from its
        conditional distribution (a component by responsibility, then every
        missing entry from that component's conditional distribution)
        instead of taking the mean and the mode; the numbers come from
        ``_streams.generator(random_state)`` (a ``RandomState`` advances by
        the one number that seeds it).
    chunk_size : int, default=None
        Rows per chunk.
    keep_blocks : bool, default=False
        Use and keep the (model) data's row blocks and what the families
        gather for them (``EMData.block_memo``), for a caller that completes
        the same data many times (the draws of multiple imputation); that
        caller releases them (``release_blocks``).
    scaled_data : EMData, default=None
        ``scaling.apply(data)``, when the caller keeps it for several calls
        (with ``keep_blocks``, so are its blocks).

    Returns
    -------
    completion : Completion

    Notes
    -----
    Cost: that of one E-step over the rows with a missing entry; a row's
    result depends on that row only (draws aside, which share one stream).
    The categorical cells add, per column of ``L_j`` categories with ``n_j``
    missing cells (``_categorical``): draws, ``O(K L_j + n_j log L_j)``
    time and ``O(n_j + K L_j)`` memory (a binary search per cell in its
    drawn component's cumulative probabilities); the mode, ``O(L_j)`` with
    one component (the same category for every cell), else ``O(n_j K L_j)``
    time in chunks of cells of 2 MiB at most; ``return_proba``, the same
    time, and its ``(n, L_j)`` outputs.
    Without draws the blocks are shared out to threads as an E-step's
    (``_parallel``), with the same result. Draws under one Gaussian on
    numeric columns take one compiled pass over the rows with holes instead
    (``_augmentation``: the same draws, no Python work per block).
    """
    model_data = data
    if scaling is not None:
        model_data = scaling.apply(data) if scaled_data is None else scaled_data
    if random_state is not None:
        # Both ways of drawing below take the same numbers from it.
        random_state = generator(random_state)
    if (
        random_state is not None
        and not return_proba
        and OneGaussianAugmentation.applies(model_data, params)
    ):
        completion = _draw_one_gaussian(
            data, model_data, params, scaling, random_state, keep_blocks
        )
        if completion is not None:
            if return_std:
                # Under one Gaussian the standard deviations do not depend
                # on the draws, which the compiled pass makes without them:
                # a pass of conditional moments gives them, so that the
                # draws are those of a call without return_std, bit for bit.
                moments = complete(
                    data,
                    params,
                    scaling=scaling,
                    return_std=True,
                    chunk_size=chunk_size,
                    keep_blocks=keep_blocks,
                    scaled_data=model_data if scaling is not None else None,
                )
                completion = replace(completion, std=moments.std)
            return completion
    bound = kernels(model_data, params)
    filled = Completion(
        numeric=np.array(model_data.numeric, dtype=float, copy=True, order="C"),
        codes=data.codes.copy(),
        std=np.zeros(data.numeric.shape) if return_std else None,
        probabilities=(
            [np.zeros((data.n_samples, n)) for n in data.n_categories]
            if return_proba
            else None
        ),
    )
    log_weights = log_mixture_weights(params)
    groups = data.patterns.groups
    if data.n_categorical == 0:
        groups = [group for group in groups if group.n_missing > 0]

    def fill(block):
        # Each block writes its own rows of ``filled``.
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            evaluations, log_density = evaluate_block(bound, block, moments=True)
            # A row no component can produce has no responsibilities: its
            # categorical holes would take category 0 from argmax(NaN).
            check_log_densities(log_density)
            if params.n_components == 1:
                resp = np.ones((len(log_density), 1))
            else:
                _, resp = responsibilities(log_density, log_weights)
            draw = None
            if random_state is not None:
                draw = (draw_components(resp, random_state), random_state)
            for kernel, evaluation in zip(bound, evaluations, strict=True):
                kernel.impute(block, resp, evaluation, filled, draw=draw)

    # Draws take their numbers from one stream in block order: one thread.
    threads = 1
    if random_state is None:
        threads = e_step_threads(data, params.n_components)
    for _ in map_row_blocks(
        fill,
        model_data,
        bound,
        chunk_size=chunk_size,
        threads=threads,
        groups=groups,
        keep=keep_blocks,
    ):
        pass
    return in_data_units(filled, data, scaling)


def _draw_one_gaussian(data, model_data, params, scaling, random_state, keep):
    """``complete``'s draws under one Gaussian, in one compiled pass; or None.

    None when the pass cannot draw under ``params`` (``_augmentation``);
    ``complete`` then draws block by block. The pass's rows (copied in its
    order) are kept as the blocks would be (``keep``). The draws are written
    straight into a copy of the data in its own units, a standardisation
    undone as each is written (``in_data_units``' arithmetic, but for a
    fused multiply-add): no table in the model's units, no pass to map it.
    """

    def make():
        # Draws into a table only: no run is summed, none planned.
        return OneGaussianAugmentation(
            model_data, np.zeros(model_data.n_numeric), sum_runs=False
        )

    memo = model_data.block_memo if keep else None
    augmentation = make() if memo is None else memo.kept("augmentation", make)
    units = None if scaling is None else (scaling.scale, scaling.centre)
    table = np.array(data.numeric, dtype=float, copy=True, order="C")
    if not augmentation.fill(params, random_state, table, units):
        return None
    check_finite_scores(table.ravel()[data.missing_entries])
    return Completion(table, data.codes.copy())


def in_data_units(completion, data, scaling=None):
    """A completion in the model's (standardised) units, in ``data``'s.

    Parameters
    ----------
    completion : Completion
        Of ``scaling.apply(data)`` (of ``data`` when ``scaling`` is None).
    data : EMData
        In the data's units.
    scaling : Scaling, default=None

    Returns
    -------
    completion : Completion
        Observed entries those of ``data``, bit for bit; the missing ones
        mapped back by ``scaling``'s arithmetic.

    Raises
    ------
    ValueError
        If an imputed entry is not finite (a row far outside the data).
    """
    numeric, std = completion.numeric, completion.std
    missing = data.missing_entries
    imputed = numeric.ravel()[missing]
    check_finite_scores(imputed)
    if scaling is None:
        return completion
    # Observed entries are copied from the input, never round-tripped
    # through the standardisation, so they come back bit for bit; the
    # missing ones get scaling.to_data's arithmetic.
    columns = data.missing_columns
    numeric = data.numeric.astype(np.float64, copy=True)
    numeric.ravel()[missing] = (
        imputed * scaling.scale[columns] + scaling.centre[columns]
    )
    if std is not None:
        std = std * scaling.scale
    return Completion(numeric, completion.codes, std, completion.probabilities)
