"""Experiments of §8.6 (second-order methods): ``saddles``."""
