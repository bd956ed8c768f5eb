"""The numeric rows of a block, as the Gaussian kernels read them."""

from dataclasses import dataclass

import numpy as np

from emimpute._em._blocks import RowBlock

LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class GaussianBlock(RowBlock):
    """A :class:`~emimpute._em._blocks.RowBlock` with its numeric entries.

    Attributes
    ----------
    centred : ndarray of shape (n_rows, n_features)
        ``x - shift``, zero at the missing entries.
    observed : ndarray of shape (n_rows, n_features)
        1.0 where observed, 0.0 where missing.
    """

    centred: np.ndarray
    observed: np.ndarray

    @classmethod
    def gather(cls, block, X, mask, shift):
        """The rows of ``block`` from ``X``, centred on ``shift``."""
        rows = block.rows
        # take, not fancy indexing: several times faster for row gathers.
        centred = np.take(X, rows, axis=0)
        centred -= shift
        if block.n_missing:
            row_mask = np.take(mask, rows, axis=0)
            np.putmask(centred, row_mask, 0.0)
            observed = np.logical_not(row_mask).astype(float)
        else:
            # Complete rows: a read-only view, not a chunk-sized array of
            # ones on every E-step (the complete-row paths never read it).
            observed = np.broadcast_to(1.0, centred.shape)
        return cls(
            rows=rows,
            centred=centred,
            observed=observed,
            missing=block.missing,
            row_pattern=block.row_pattern,
            pattern_missing=block.pattern_missing,
        )


@dataclass(frozen=True)
class Conditionals:
    """What one set of Gaussian components tells about one block.

    Attributes
    ----------
    log_density : ndarray of shape (n_rows, n_components)
        ``log N(x_O; mu_O, S_OO)`` per row and component (0 when nothing is
        observed).
    means : ndarray of shape (n_components, n_rows, r) or None
        Conditional means of the missing part, relative to the shift; None
        when the kernel was asked for densities only.
    covariances : ndarray of shape (n_components, n_patterns, r, r) or None
        Conditional covariances of the missing part, per pattern.
    deviations : ndarray of shape (n_components, n_rows, n_features) or None
        ``x - mu_k`` on the observed entries and 0 on the missing ones, when
        the kernel computed it anyway; scratch space, which ``statistics``
        may overwrite.
    """

    log_density: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    deviations: np.ndarray = None


@dataclass(frozen=True)
class FusedConditionals:
    """What a fused kernel keeps of a block between density and statistics.

    Attributes
    ----------
    log_density : ndarray of shape (n_rows, n_components)
    delta : ndarray of shape (n_components, n_rows, r) or None
        Conditional mean of the missing part minus the component's mean
        (None for the diagonal kernel, where it is 0).
    covariances : ndarray of shape (n_matrices, n_patterns, r (r + 1) / 2) or None
        Conditional covariance of the missing part per covariance matrix (one
        per component, or the tied one) and pattern of the block, as packed
        lower triangles (row by row).
    """

    log_density: np.ndarray
    delta: np.ndarray = None
    covariances: np.ndarray = None
