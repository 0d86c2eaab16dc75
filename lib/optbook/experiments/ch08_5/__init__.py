"""Experiments of §8.5 (adaptive learning rates): ``diagonal_scaling``."""
