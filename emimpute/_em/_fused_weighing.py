"""Which (row, component) pairs enter a compiled block's statistics.

A row whose responsibility for a component is below the rounding of that
component's sums (``_stats.NEGLIGIBLE_WEIGHT``, see
:func:`~emimpute._em._stats.negligible_floors`) adds nothing to them: the
compiled statistics (``_fused_dense``, ``_fused_batched``) leave it out of
the scatter's products, the conditional covariances and the inverses, which
then take ``n_w`` pairs instead of ``n K`` (often one component per row).
:func:`_weighs` is the rule, :func:`_rank_weighing_rows` numbers the pairs
that weigh (``O(n K)``, serial, so that the packed rows are the same
whatever the tasks) and :func:`_next_weighing_rows` takes the next ones
for a group of lanes (``O(rows read x K)`` with one matrix, ``O(rows
read)`` per component otherwise). Missing patterns do not enter.
"""

import numpy as np

from emimpute._em._fused import jit
from emimpute._em._lanes import _inline
from emimpute._em._stats import NEGLIGIBLE_WEIGHT


@_inline
def _weighs(weight, mass, floor):
    """Whether a row's weight for a matrix enters that matrix's statistics.

    Above ``floor`` (see :func:`~emimpute._em._stats.negligible_floors`) and
    above ``NEGLIGIBLE_WEIGHT^2`` times the row's own weight ``mass``: where a
    component is nearly absent from the block, its floor is tiny, and its
    few rows of weight 1e-40 would each cost a batch of lanes.
    """
    return weight > floor and weight > NEGLIGIBLE_WEIGHT**2 * mass


@jit
def _rank_weighing_rows(resp, floors, ranks, pairs=False):
    """Number, in row order, the rows that weigh in each component.

    ``ranks[i, k]`` receives the position of row ``i`` among the rows whose
    responsibility for component ``k`` enters its statistics
    (:func:`_weighs`), or -1; returns each component's count. With
    ``pairs``, one numbering of all the (row, component) pairs that weigh,
    row by row (the tied scatter's), and their count. Serial and ``O(n_rows
    K)``: the positions make the packed rows of the scatter's product the
    same, in the same order, whatever the tasks.
    """
    n_rows, n_components = resp.shape
    counts = np.zeros(1 if pairs else n_components, np.intp)
    for i in range(n_rows):
        mass = 0.0
        for k in range(n_components):
            mass += resp[i, k]
        for k in range(n_components):
            if _weighs(resp[i, k], mass, floors[k]):
                counter = 0 if pairs else k
                ranks[i, k] = counts[counter]
                counts[counter] += 1
            else:
                ranks[i, k] = -1
    return counts


@_inline
def _next_weighing_rows(resp, ranks, floor, j, shared, i, stop, kept, weights):
    """The next rows from ``i`` (before ``stop``) that weigh in matrix ``j``.

    Up to ``len(kept)`` of them, in row order, into ``kept`` with their
    weights (``resp[i, j]``; one matrix, ``shared``: the row's ``sum_k
    resp[i, k]``, which weighs above ``floor``, see :func:`_weighs`; else
    the rows :func:`_rank_weighing_rows` ranked). Returns their number and
    the row to go on from. Inlined.
    """
    size = 0
    while i < stop and size < len(kept):
        if shared:
            weight = 0.0
            for k in range(resp.shape[1]):
                weight += resp[i, k]
            weighs = _weighs(weight, weight, floor)
        else:
            weight = resp[i, j]
            weighs = ranks[i, j] >= 0
        if weighs:
            kept[size] = i
            weights[size] = weight
            size += 1
        i += 1
    return size, i
