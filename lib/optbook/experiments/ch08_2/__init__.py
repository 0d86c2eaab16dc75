"""Experiments of §8.2 (challenges): ``challenges``."""
