"""Test problems shared by several chapters: inputs to experiments, not experiments themselves.

* ``landscapes``: 2-D cost surfaces (quadratics, Rosenbrock, saddles, ...) with analytic
  gradients, and a trajectory runner for any optimiser (§8.3, §8.5, ...);
* ``regression``: ``LinearRegressionStream``, a stream of examples whose true risk is known
  exactly (§8.1), and ``streaming_sgd`` (re-exported here).
"""

from .regression import LinearRegressionStream, streaming_sgd

__all__ = ["LinearRegressionStream", "streaming_sgd"]
