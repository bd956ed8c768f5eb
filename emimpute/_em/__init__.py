"""The private EM engine shared by the emimpute estimators.

numpy, scipy and numba (scikit-learn for the k-means start, its
validation and its warning classes; joblib for threads); no estimator
state, and no import of an estimator. A mixture component is the
product of *families* over disjoint column sets: the Gaussian family over
the numeric columns (``_gaussian``, its covariance type a form object in
``_forms``) and the categorical family over the categorical ones
(``_categorical``). Each family's kernel, bound to the data, gives per row
block the log-density of the observed part, the expected sufficient
statistics (an additive value, ``_stats``) and the completed entries; the
loop (``_loop.run_em``, options in one frozen ``_config.EMConfig``) only
sums statistics over blocks (``_estep``), calls each family's M-step
(``_mstep``) and monitors. See ``_estep`` for the E-step's contract and
each family's module for its maths and cost.
"""
