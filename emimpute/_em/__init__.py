"""The private EM engine shared by the emimpute estimators.

numpy and scipy only; no estimator state. See ``_loop.run_em`` for the
entry point and ``_estep`` for the maths and its cost.
"""
