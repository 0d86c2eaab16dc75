"""Experiments of §8.1 (learning vs pure optimisation): ``minibatch``."""
