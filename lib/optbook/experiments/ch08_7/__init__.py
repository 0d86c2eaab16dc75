"""Experiments of §8.7 (optimisation strategies): ``coordinate_descent``, ``curriculum``,
``pretraining``, ``smoothing``."""
