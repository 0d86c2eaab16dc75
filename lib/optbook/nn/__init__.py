"""Building blocks for networks that are easier to optimise: initialisation (§8.4), batch
normalisation with a hand-written backward pass (§8.7.1), the model families of §8.7 and a
network's parameters as one flat vector (for the methods of §8.6).

* ``init``: the book's initialisation schemes (normalised, orthogonal, sparse, ...);
* ``lsuv``: data-driven initialisation (layer-sequential unit variance);
* ``batchnorm``: ``batch_norm``, ``BatchNormFunction``, ``BatchNorm1d``;
* ``architectures``: ``mlp_bn``, ``ResidualMLP`` and gradient-norm probes;
* ``flat_params``: a model's cost as a function of one flat vector.
"""
