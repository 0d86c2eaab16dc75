"""Restricted Boltzmann machines, the whole family in one place.

* ``model``: energy, conditionals, Gibbs sampling, CD-k and exact gradients, the ``RBM`` class
  (re-exported here: ``from optbook.rbm import RBM`` works);
* ``training``: the training loop and the bridge to scikit-learn's ``BernoulliRBM``;
* ``diagnostics``: reconstruction error, partition functions and likelihood curves;
* ``plotting``: filters, samples and the bipartite graph (draw only).
"""

from .model import (
    MAX_ENUMERATED_UNITS,
    RBM,
    RBMGradient,
    cd_gradient,
    energy,
    exact_gradient,
    free_energy,
    gibbs_step,
    log_likelihood,
    log_partition,
    p_h_given_v,
    p_v_given_h,
)

__all__ = [
    "RBM", "RBMGradient", "MAX_ENUMERATED_UNITS", "energy", "free_energy", "p_h_given_v",
    "p_v_given_h", "gibbs_step", "cd_gradient", "log_partition", "log_likelihood", "exact_gradient",
]
