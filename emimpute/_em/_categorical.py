"""The categorical family: one categorical factor per categorical column.

Given the component ``k``, the categorical columns are independent of each
other and of the numeric ones (the latent class model, or *local
independence*: a Bayesian network whose hidden class is the parent of every
feature), column ``j`` taking category ``c`` with probability
``theta[j][k, c]``. So a row's categorical log-density under component ``k``
is ``sum_j log theta[j][k, x_j]`` over its observed cells; a missing cell's
factor is ``sum_c theta[j][k, c] = 1``: it is marginalised.

E-step statistics count each row's categories with weight ``resp[i, k]``,
and each *possible completion* of a missing cell with its posterior
probability ``resp[i, k] * theta[j][k, c]`` (the completion's probability
given the row's observed part, under component ``k``). The M-step normalises
the counts, with ``category_smoothing`` pseudo-counts (a symmetric Dirichlet
prior's MAP with concentration ``1 + category_smoothing``) so that no
category's probability is 0 in any component.

All columns are handled at once through one flat table of log-probabilities
(the categories of all columns stacked, plus one row of zeros per column for
a missing cell, ``EMData.flat_codes``), so no Python loop runs per row or
per category. Two engines, chosen as the Gaussian family's are
(``_fused.use_fused``: ``engine``, the ``EMIMPUTE_KERNEL`` environment
variable): the compiled kernels of ``_fused_categorical`` (one pass over a
block's codes for the log-densities, one for the counts, on joint tables of
groups of consecutive columns), and the numpy one here, sparse one-hot rows
kept per block and two sparse products, which is the reference the compiled
one is tested against and runs without numba. Both give per-block
statistics of the same form (:class:`FlatCounts`): each cell's row of the
table gets the row's responsibilities; a column's missing cells gather its
missing mass ``sum_i r_ik``, spread over the completions as ``mass_k
theta[j][k, c]`` once per E-step, when the M-step reads the counts (the
spread is linear: spreading the sum equals summing the spreads).

Cost per E-step, for ``n`` rows, ``m`` categorical columns with ``L``
categories in all, and ``K`` components: ``O(n m K)`` for the densities and
the counts (each cell, observed or missing, reads or adds one row of ``K``;
the compiled kernels read a group of cells at once, ``O(n G K)`` for ``G``
groups, see ``_fused_categorical``; how many cells are missing and how many
categories a column has do not matter beyond the table's ``(L + m) K``
entries), plus ``O((L + m) K)`` per block to add its totals and ``O(L K)``
per E-step to spread the missing mass; the M-step is ``O(L K)``. Measured at
1e5 rows, 10 columns of 5 categories, K = 5, 20% missing, on one thread, per
E-step: compiled, 1.8 ms for the densities and 1.4 ms for the counts; numpy
(before the compiled kernels, spreading per block), 4.4 ms and 5.4 ms.

Cost of imputing (``_impute.complete``, :meth:`CategoricalKernel.impute`)
and sampling (:meth:`CategoricalFamily.sample`), per column of ``L_j``
categories with ``n_j`` cells to fill or draw:

- draws (a row's component is drawn first, then its cells from that
  component's probabilities): ``O(K L_j + n_j log L_j)`` time, one binary
  search per cell in its component's cumulative probabilities (after a
  radix sort of the cells by component), and ``O(n_j + K L_j)`` memory.
  (Gathering each cell's row of probabilities cost ``O(n_j L_j)`` of both:
  2.6 GB to sample 8e4 rows with a 2000-category column.)
- the mode: with one component the same category for every cell,
  ``O(L_j)``; with ``K``, the argmax of each cell's posterior predictive
  ``sum_k r_k theta[j][k]``, ``O(n_j K L_j)`` time, made in chunks of cells
  of at most ``_PREDICTIVE_FLOATS`` floats (2 MiB), so memory ``O(K L_j)``
  beyond that, whatever ``n_j``.
- posterior predictive probabilities, when asked for: ``O(n_j K L_j)`` time
  in the same chunks, into the caller's ``(n, L_j)`` output.
"""

import functools
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import gammaln

from emimpute._em import _fused_categorical
from emimpute._em._fused import use_fused

# Floats of posterior predictive probabilities (missing cells x categories)
# made at once when imputing a column (2 MiB). A block's size counts no
# categories (``floats_per_row``), so its missing cells are taken in chunks of
# this many floats, well within the 16 MiB budget of ``_blocks``' chunks:
# without them a block of 1e5 rows made an (n_missing, L) array, 809 MiB for
# L = 8000. Smaller chunks stay in cache: the modes of 1e5 rows at K = 3, L =
# 8000 took 0.24 s in chunks of 2 MiB, 0.48 s of 16 MiB, 0.81 s unchunked.
_PREDICTIVE_FLOATS = 2**18


@dataclass(frozen=True)
class CategoricalStats:
    """Expected category counts, summed over rows.

    Attributes
    ----------
    counts : tuple of ndarray of shape (n_components, n_categories_j)
        ``sum_i resp[i, k] P(x_ij = c | x_iO, k)`` per categorical column:
        1 for the observed category, ``theta[j][k, c]`` for each completion
        of a missing cell.
    """

    counts: tuple

    def __add__(self, other):
        if not isinstance(other, (CategoricalStats, FlatCounts)):
            return NotImplemented
        return CategoricalStats(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        )


@dataclass(frozen=True, eq=False)
class FlatCounts:
    """Expected category counts as an E-step sums them: the flat totals.

    ``totals[offset_j + c, k] = sum_i r_ik`` over the rows whose cell ``j``
    is ``c``, and ``totals[L + j, k]``, the same over the rows whose cell
    ``j`` is missing: that column's missing mass, spread over the
    completions by ``family``'s probabilities when :attr:`counts` is read.
    Or the totals of the compiled kernels' joint tables of ``groups`` of
    columns (``_fused_categorical.ColumnGroups``), whose margins are those.
    One array per block, so adding the blocks' statistics is one addition,
    not one per column, and the margins and the spread are taken once per
    E-step, not per block (the margins per block took 1.9 ms of small numpy
    calls per E-step at 1e5 rows, 10 columns, K = 5: more than the
    compiled kernel's totals themselves).

    Attributes
    ----------
    totals : ndarray of shape (L + m, n_components) or (groups.n_rows, n_components)
    family : CategoricalFamily
        Whose probabilities complete the missing cells.
    groups : ColumnGroups or None
        The joint tables ``totals`` are of; None for the flat table.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._categorical import CategoricalFamily, FlatCounts
    >>> family = CategoricalFamily((np.array([[0.25, 0.75]]),))
    >>> # 2 rows show category 1, a row's cell is missing: 0.25, 0.75 more.
    >>> FlatCounts(np.array([[0.0], [2.0], [1.0]]), family).counts
    (array([[0.25, 2.75]]),)
    """

    totals: np.ndarray
    family: object
    groups: object = None

    @property
    def counts(self):
        """``CategoricalStats.counts``: observed, plus each missing cell's
        responsibilities spread by ``theta``."""
        totals = self.totals
        if self.groups is not None:
            totals = self.groups.flat_totals(totals)
        probabilities = self.family.probabilities
        missing_mass = totals[sum(p.shape[1] for p in probabilities) :]
        counts = []
        offset = 0
        for j, p in enumerate(probabilities):
            n_categories = p.shape[1]
            observed = totals[offset : offset + n_categories].T
            counts.append(observed + missing_mass[j][:, np.newaxis] * p)
            offset += n_categories
        return tuple(counts)

    def __add__(self, other):
        if (
            isinstance(other, FlatCounts)
            and other.family is self.family
            and other.groups is self.groups
        ):
            return FlatCounts(self.totals + other.totals, self.family, self.groups)
        # Spread by other probabilities (the E-steps of other parameters), or
        # of other tables: only the counts add up.
        return CategoricalStats(self.counts) + other


@dataclass(frozen=True)
class CategoricalFamily:
    """Category probabilities of each categorical column, per component.

    Attributes
    ----------
    probabilities : tuple of ndarray of shape (n_components, n_categories_j)
        Rows sum to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._categorical import CategoricalFamily
    >>> family = CategoricalFamily((np.array([[0.5, 0.5], [0.9, 0.1]]),))
    >>> family.n_parameters()
    2
    """

    probabilities: tuple

    @classmethod
    def from_counts(cls, counts, smoothing):
        """Normalise expected counts with ``smoothing`` pseudo-counts.

        A component with no mass in a column (possible only without
        smoothing) gets uniform probabilities.
        """
        probabilities = []
        for column_counts in counts:
            n_categories = column_counts.shape[1]
            smoothed = column_counts + smoothing
            total = smoothed.sum(axis=1, keepdims=True)
            uniform = np.full_like(smoothed, 1.0 / max(n_categories, 1))
            probabilities.append(
                np.divide(smoothed, total, out=uniform, where=total > 0.0)
            )
        return cls(tuple(probabilities))

    @property
    def n_components(self):
        return self.probabilities[0].shape[0]

    @property
    def n_categories(self):
        return tuple(p.shape[1] for p in self.probabilities)

    def estimates(self):
        """The arrays EM estimates: each column's probabilities."""
        return self.probabilities

    def from_estimates(self, arrays):
        """The family of ``arrays`` laid out as :meth:`estimates` (the inverse
        of it). Cost ``O(K L)``, ``L`` the categories in all.

        Raises
        ------
        ValueError
            If a probability is not positive.
        """
        probabilities = tuple(arrays)
        if not all(np.all(p > 0) for p in probabilities):
            raise ValueError("Category probabilities must be positive.")
        return CategoricalFamily(probabilities)

    def marginal_moments(self, weights):
        """Each column's probabilities in the mixture."""
        return tuple(weights @ p for p in self.probabilities)

    def kernel(self, data, weights, *, engine="auto"):
        """This family's :class:`CategoricalKernel` on ``data``."""
        return CategoricalKernel(self, data, engine=engine)

    def m_step(self, stats, prior):
        """Category probabilities from expected counts and the smoothing."""
        return CategoricalFamily.from_counts(stats.counts, prior.category_smoothing)

    def log_prior(self, prior):
        """``log Dirichlet(theta; 1 + category_smoothing)`` of every column
        and component: the prior whose MAP the M-step computes."""
        alpha = 1.0 + prior.category_smoothing
        total = 0.0
        for probabilities in self.probabilities:
            n_components, n_categories = probabilities.shape
            total += n_components * (
                gammaln(n_categories * alpha) - n_categories * gammaln(alpha)
            )
            if prior.category_smoothing:
                with np.errstate(divide="ignore"):
                    total += prior.category_smoothing * np.log(probabilities).sum()
        return float(total)

    def n_parameters(self):
        """Free parameters: ``K (L_j - 1)`` per column."""
        return int(sum(p.shape[0] * (p.shape[1] - 1) for p in self.probabilities))

    def draw_given_complete(
        self, numeric, codes, labels, prior, random_state, *, weights=None
    ):
        """The P-step's draw of this family given complete rows and their
        components (``_uncertainty.draw_params``; ``numeric`` is not read).

        Column ``j`` of component ``k`` gets ``Dirichlet(counts_kj + 1 +
        smoothing)``: the posterior under the Dirichlet prior whose mode the
        fit uses (``category_smoothing`` pseudo-counts); rows weighted by
        ``weights`` (copies). Cost ``O(n m + K L)`` for ``m`` columns of
        ``L`` categories in all.
        """
        n_components = self.n_components
        probabilities = []
        for j, n in enumerate(self.n_categories):
            counts = np.zeros((n_components, n))
            np.add.at(
                counts, (labels, codes[:, j]), 1.0 if weights is None else weights
            )
            probabilities.append(
                dirichlet_draws(counts + 1.0 + prior.category_smoothing, random_state)
            )
        return type(self)(tuple(probabilities))

    def sample(self, labels, random_state):
        """One category per column for each label, as codes ``(n, m)``.

        Column by column, one uniform per row in row order, inverted through
        the row's component's cumulative probabilities
        (:func:`_inverse_cdf`): ``O(K L_j + n log L_j)`` time and ``O(n + K
        L_j)`` memory per column.
        """
        n_samples = len(labels)
        codes = np.empty((n_samples, len(self.probabilities)), dtype=np.intp)
        rows = _rows_by_component(labels, self.n_components)
        for j, probabilities in enumerate(self.probabilities):
            codes[:, j] = _inverse_cdf(
                np.cumsum(probabilities, axis=1),
                rows,
                random_state.uniform(size=n_samples),
            )
        return codes


def dirichlet_draws(alpha, random_state):
    """One Dirichlet draw per row of ``alpha``, by normalised gamma draws.

    Over a single category (one component's weight) the draw is 1 whatever
    the gamma: none is drawn (7 us of a data augmentation step's 0.45 ms).
    """
    if alpha.shape[1] == 1:
        return np.ones(alpha.shape)
    gammas = random_state.standard_gamma(alpha)
    return gammas / gammas.sum(axis=1, keepdims=True)


def _rows_by_component(labels, n_components):
    """The positions of each component's labels, in increasing order.

    A list of ``n_components`` index arrays; None when there is one
    component (every position). One stable sort, a radix sort (``O(n)``,
    3.5x faster than sorting the intp labels at 1e5 rows) while the labels
    fit 16 bits.
    """
    if n_components == 1:
        return None
    labels = np.asarray(labels)
    if n_components <= 2**16:
        labels = labels.astype(np.uint16)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_components + 1), side="left")
    return [order[bounds[k] : bounds[k + 1]] for k in range(n_components)]


def _inverse_cdf(cumulative, rows, u):
    """Each draw's category: the first whose cumulative probability reaches
    ``u`` times the total of its component's row.

    Parameters
    ----------
    cumulative : ndarray of shape (n_components, n_categories)
        ``np.cumsum(probabilities, axis=1)`` of the components' category
        probabilities (non-negative, so each row is non-decreasing).
    rows : list of ndarray or None
        The draws of each component (:func:`_rows_by_component`); None when
        every draw is of component 0.
    u : ndarray of shape (n_draws,)
        Uniforms on ``[0, 1)``, one per draw.

    Returns
    -------
    codes : ndarray of shape (n_draws,) of intp

    Notes
    -----
    The category is ``#{c : cumulative[k, c] < u * cumulative[k, -1]}``
    (capped at ``n_categories - 1``), which on a non-decreasing row is
    ``searchsorted(side='left')``: one binary search per draw in its
    component's row, ``O(K L + n log L)`` time and ``O(n + K L)`` memory.
    The same codes, bit for bit, as gathering each draw's row of
    probabilities, taking its running sum and counting the entries below
    ``u`` times its total (what this did before, ``O(n L)`` time and memory:
    2.6 GB for 8e4 draws of a 2000-category column): a running sum along a
    row is sequential, so a row's cumulative probabilities are the same
    floats whether gathered per draw or taken once per component, and a
    floating-point sum of non-negative terms never decreases.
    """
    n_categories = cumulative.shape[1]
    codes = np.empty(len(u), dtype=np.intp)
    if rows is None:
        rows = [slice(None)]
    for k, drawn in enumerate(rows):
        codes[drawn] = np.searchsorted(
            cumulative[k], u[drawn] * cumulative[k, -1], side="left"
        )
    return np.minimum(codes, n_categories - 1, out=codes)


@dataclass(frozen=True)
class CategoricalEvaluation:
    """A block's category codes, its cells and their log-density.

    ``cells`` are the block's cells: for the compiled kernels, an ``(n_rows,
    n_groups)`` int32 array of their codes in the joint tables of groups of
    columns (``_fused_categorical.ColumnGroups``); for the numpy path, a
    sparse ``(n_rows, L + m)`` matrix with one 1 per cell, at its row of
    ``EMData.flat_codes`` (the cell's category in the flat table, or its
    column's missing row). ``codes`` are the block's codes when the
    evaluation is for imputation (``moments=True``), else None.
    """

    codes: np.ndarray
    cells: np.ndarray | sparse.csr_array
    log_density: np.ndarray


class CategoricalKernel:
    """The categorical family bound to a data set, for one E-step.

    Parameters
    ----------
    family : CategoricalFamily
    data : EMData
        Its ``codes`` (``-1`` where missing) are read: once per data set
        into the compiled kernels' group codes (kept with its blocks), or as
        ``flat_codes`` by the numpy path; and to impute.
    engine : {'auto', 'numba', 'numpy'}, default='auto'
        The compiled kernels of ``_fused_categorical`` or the sparse
        products here (``_fused.use_fused``).
    """

    def __init__(self, family, data, *, engine="auto"):
        self.family = family
        self.fused = use_fused(engine)
        self.codes = data.codes
        self.n_columns = len(family.n_categories)
        # Each column's cumulative probabilities, for draws (_cumulative).
        self._cumulative_tables = {}
        if self.fused:
            # The columns in groups (_fused_categorical.ColumnGroups), each
            # row's codes in them made once per data set that keeps its
            # blocks, else once per kernel (a data set too large to keep its
            # blocks makes them at each E-step too; see _blocks).
            memo = data.block_memo
            make = functools.partial(_column_groups, data)
            self.groups, self.group_codes = (
                make() if memo is None else memo.kept("categorical_groups", make)
            )
            self.log_table = self.groups.log_table(family.probabilities)
            return
        self.flat_codes = data.flat_codes
        # Flat (L + m, K) table: each column's categories, then one row of
        # zeros per column, the log-factor of a missing cell.
        with np.errstate(divide="ignore"):
            log_probabilities = [np.log(p.T) for p in family.probabilities]
        n_components = family.n_components
        self.log_table = np.concatenate(
            log_probabilities + [np.zeros((self.n_columns, n_components))]
        )

    def floats_per_row(self, n_missing):
        """Scratch floats per row: the log-densities (numpy: also the
        one-hot rows' entries and indices, and the codes). Not the
        categories: imputation bounds its ``(cells, L_j)`` predictive
        probabilities by chunks of its own (``_PREDICTIVE_FLOATS``), so the
        E-step's blocks do not shrink with the categories."""
        if self.fused:
            return self.family.n_components
        return 4 * self.n_columns + 2 * self.family.n_components

    def evaluate(self, block, *, moments=False):
        # The codes themselves only for imputation (the completions).
        codes = np.take(self.codes, block.rows, axis=0) if moments else None
        # The block's cells depend on the data alone: kept with a kept block
        # (the one-hot rows, made again at every E-step, were 40% of the
        # numpy path's E-step at 1e5 rows, 10 columns of 5 categories).
        if self.fused:
            # Gathered, not read through the block's rows by the kernels:
            # those are spread over the whole data set, and the two passes
            # reading them in place took 3x as long (7.8 ms against 2.4 for
            # the log-densities at 1e5 rows, 10 columns, K = 5).
            cells = block.kept(
                "categorical_group_codes",
                lambda: _fused_categorical.gather(self.group_codes, block.rows),
            )
            log_density = _fused_categorical.log_density(cells, self.log_table)
        else:
            cells = block.kept("categorical_one_hot", lambda: self._one_hot(block))
            log_density = cells @ self.log_table
        return CategoricalEvaluation(codes, cells, log_density)

    def _one_hot(self, block):
        """The block's rows one-hot over the flat table, as a sparse matrix.

        The log-density is then one sparse product, and so are the counts
        (5x faster than gathering an ``(n_rows, m, K)`` array and
        bincounting it).
        """
        flat = np.take(self.flat_codes, block.rows, axis=0)
        return sparse.csr_array(
            (
                np.ones(flat.size),
                flat.ravel(),
                np.arange(0, flat.size + 1, max(self.n_columns, 1)),
            ),
            shape=(len(flat), len(self.log_table)),
        )

    def statistics(self, block, resp, evaluation):
        """The block's :class:`FlatCounts`: ``resp`` added at each cell's row."""
        if self.fused:
            totals = _fused_categorical.totals(
                evaluation.cells, resp, len(self.log_table)
            )
            return FlatCounts(totals, self.family, self.groups)
        return FlatCounts(evaluation.cells.T @ resp, self.family)

    def predictive(self, resp, column, rows):
        """``P(x_ij = c | x_iO) = sum_k resp[i, k] theta[j][k, c]`` for ``rows``."""
        return resp[rows] @ self.family.probabilities[column]

    def _predictive_chunks(self, resp, column, rows):
        """:meth:`predictive` of ``rows``, chunk by chunk: pairs ``(chunk,
        predictive)`` of a slice of ``rows`` and its ``(len, L_j)`` array,
        each at most ``_PREDICTIVE_FLOATS`` floats (whatever the block's
        size, which does not count ``L_j``)."""
        step = max(1, _PREDICTIVE_FLOATS // max(self.family.n_categories[column], 1))
        for start in range(0, len(rows), step):
            chunk = slice(start, start + step)
            yield chunk, self.predictive(resp, column, rows[chunk])

    def _cumulative(self, column):
        """``cumsum(theta[j], axis=1)``, made once per kernel and column."""
        cumulative = self._cumulative_tables.get(column)
        if cumulative is None:
            cumulative = np.cumsum(self.family.probabilities[column], axis=1)
            self._cumulative_tables[column] = cumulative
        return cumulative

    def impute(self, block, resp, evaluation, filled, *, draw=None):
        """Write the block's completed category codes into ``filled.codes``.

        A missing cell gets the most probable category under the row's
        posterior predictive ``sum_k resp[i, k] theta[j][k, c]``, or, when
        ``draw = (component, random_state)`` gives each row's drawn
        component, a draw from ``theta[j][component]``.
        ``filled.probabilities``, when not None, a list of ``(n_samples,
        n_categories_j)`` arrays, receives the posterior predictive of every
        cell (one-hot where observed).

        Cost per column ``j`` with ``L_j`` categories, for ``n_j`` missing
        cells in the block: draws, ``O(K L_j + n_j log L_j)``
        (a binary search per cell in its drawn component's cumulative
        probabilities, :func:`_inverse_cdf`), ``O(n_j + K L_j)`` memory;
        the mode, with one component the same category for every cell (the
        mode of ``theta[j][0]``, ``O(L_j)``), else ``O(n_j K L_j)`` time for
        the predictive probabilities, made in chunks of at most
        ``_PREDICTIVE_FLOATS`` floats (2 MiB); the probabilities, when
        asked for, ``O(n_j K L_j)``, in the same chunks.
        """
        out, proba = filled.codes, filled.probabilities
        codes = evaluation.codes
        n_components = self.family.n_components
        for j in range(self.n_columns):
            missing = np.flatnonzero(codes[:, j] < 0)
            if proba is not None:
                observed = np.flatnonzero(codes[:, j] >= 0)
                proba[j][block.rows[observed], codes[observed, j]] = 1.0
            if len(missing) == 0:
                continue
            completion = None
            if draw is not None:
                component, random_state = draw
                completion = _inverse_cdf(
                    self._cumulative(j),
                    _rows_by_component(component[missing], n_components),
                    random_state.uniform(size=len(missing)),
                )
            elif n_components == 1:
                # A cell's predictive is theta[j][0] (its one responsibility
                # is 1): the same mode for every cell, no (cells, L_j) table.
                completion = self.family.probabilities[j][0].argmax()
            mode = completion is None
            if mode:
                completion = np.empty(len(missing), dtype=np.intp)
            if mode or proba is not None:
                for chunk, predictive in self._predictive_chunks(resp, j, missing):
                    if proba is not None:
                        proba[j][block.rows[missing[chunk]]] = predictive
                    if mode:
                        completion[chunk] = predictive.argmax(axis=1)
            out[block.rows[missing], j] = completion


def _column_groups(data):
    """``ColumnGroups`` of ``data``'s categorical columns and its rows' codes."""
    groups = _fused_categorical.ColumnGroups(data.n_categories)
    return groups, groups.codes(data.codes)


def observed_counts(codes, n_categories, resp):
    """Category counts of the observed cells only, weighted by ``resp``.

    What a first M-step needs, before any category probabilities exist to
    complete the missing cells with.

    Returns
    -------
    stats : CategoricalStats
    """
    n_components = resp.shape[1]
    counts = []
    for j, n in enumerate(n_categories):
        observed = codes[:, j] >= 0
        # One bincount over (category, component) pairs, O(rows K): a one-hot
        # product made an (n_categories, rows) array, quadratic in the rows
        # for an identifier column (128 MB of float64 at 4000 rows).
        pairs = codes[observed, j][:, np.newaxis] * n_components + np.arange(
            n_components
        )
        summed = np.bincount(
            pairs.ravel(), weights=resp[observed].ravel(), minlength=n * n_components
        )
        counts.append(summed.reshape(n, n_components).T.copy())
    return CategoricalStats(tuple(counts))
