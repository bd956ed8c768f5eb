"""Warnings that point at the caller's line, not at the package's insides."""

import os
import sys

import joblib
import sklearn

# Frames in these directories are the package's, scikit-learn's wrappers
# around its methods (``_fit_context``, ``set_output``, meta-estimators), or
# joblib's, which runs the package's parallel parts (the imputations of
# ``multiple_impute``) in the caller's process when ``n_jobs`` is 1.
_INSIDE = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sys.modules[__name__.split(".")[0]], sklearn, joblib)
)


def user_stacklevel():
    """The ``stacklevel`` of the first frame outside emimpute and scikit-learn.

    For ``warnings.warn`` called by the function that calls this one. A
    fixed ``stacklevel`` breaks whenever a call path gains a frame (a
    decorator, a helper), and then names a line of the package; this counts
    the frames instead (pandas does the same), for about a microsecond per
    frame, once per warning.

    Examples
    --------
    >>> import warnings
    >>> from emimpute._em._warnings import user_stacklevel
    >>> def inside():
    ...     return user_stacklevel()
    >>> inside()  # this doctest's frame is outside the package
    1
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    return level
