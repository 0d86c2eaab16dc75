"""Experiments of §11.5 (debugging strategies): ``debugging``."""
