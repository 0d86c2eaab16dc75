"""Experiments of §8.7 (optimisation strategies): ``coordinate_descent``, ``curriculum``,
``pretraining``, ``smoothing``; ``torch_sgd`` (torch's SGD, without importing ``torch._dynamo``)."""
