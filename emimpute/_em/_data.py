"""A data set as the engine reads it: numeric columns, category codes, labels."""

from dataclasses import dataclass

import numpy as np

from emimpute._em._patterns import find_patterns


@dataclass(frozen=True)
class EMData:
    """Numeric entries, category codes and the missingness structure.

    Attributes
    ----------
    numeric : ndarray of shape (n_samples, n_numeric)
        Float64 numeric columns; entries flagged in ``patterns.mask`` are
        never read.
    codes : ndarray of shape (n_samples, n_categorical) of intp
        Index of each categorical cell's category; -1 where missing.
    n_categories : tuple of int
        Number of categories of each categorical column.
    patterns : MissingPatterns
        Rows grouped by their numeric missingness pattern; rows with a
        category or a label observed count as informative even when all
        their numeric entries are missing.
    labels : ndarray of shape (n_samples,) of intp or None
        Class code of each row, -1 where unlabelled (read by the label
        family, ``_labels``); None for data without labels.
    """

    numeric: np.ndarray
    codes: np.ndarray
    n_categories: tuple
    patterns: object
    labels: np.ndarray | None = None

    @classmethod
    def build(cls, numeric, mask=None, codes=None, n_categories=(), labels=None):
        """Group the rows by pattern; ``mask`` defaults to ``isnan(numeric)``.

        Examples
        --------
        >>> import numpy as np
        >>> from emimpute._em._data import EMData
        >>> data = EMData.build(
        ...     np.array([[1.0, np.nan], [np.nan, np.nan]]),
        ...     codes=np.array([[0], [-1]]), n_categories=(2,))
        >>> data.patterns.empty_rows.tolist()
        [1]
        """
        # C order: sums over rows (column means, the initialisation) round
        # differently on a Fortran-ordered copy of the same values.
        numeric = np.ascontiguousarray(numeric, dtype=float)
        mask = np.isnan(numeric) if mask is None else np.asarray(mask, dtype=bool)
        if codes is None:
            codes = np.empty((len(numeric), 0), dtype=np.intp)
        codes = np.asarray(codes, dtype=np.intp)
        observed_elsewhere = (codes >= 0).any(axis=1) if codes.shape[1] else None
        if labels is not None:
            labels = np.asarray(labels, dtype=np.intp)
            labelled = labels >= 0
            if observed_elsewhere is not None:
                labelled |= observed_elsewhere
            observed_elsewhere = labelled
        return cls(
            numeric=numeric,
            codes=codes,
            n_categories=tuple(int(n) for n in n_categories),
            patterns=find_patterns(mask, observed_elsewhere),
            labels=labels,
        )

    @property
    def n_samples(self):
        return self.numeric.shape[0]

    @property
    def n_numeric(self):
        return self.numeric.shape[1]

    @property
    def n_categorical(self):
        return self.codes.shape[1]

    @property
    def mask(self):
        return self.patterns.mask

    def take(self, rows):
        """The data of ``rows`` only (patterns rebuilt)."""
        return EMData.build(
            self.numeric[rows],
            self.mask[rows],
            self.codes[rows],
            self.n_categories,
            None if self.labels is None else self.labels[rows],
        )
