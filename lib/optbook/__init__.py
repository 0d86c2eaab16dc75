"""optbook: the library behind *Optimization for Training Deep Models*.

The folder tree shows three roles.

**Algorithms and tools a reader imports into their own code**

* ``optim``: optimisers as ``torch.optim.Optimizer`` subclasses over small pure update functions
  (SGD with momentum and Nesterov, AdaGrad, RMSProp, AdaDelta, Adam; since 2016 AdamW, RAdam,
  Lion, Muon, SAM), plus ``optim.schedules``, ``optim.warmup`` (warm-up + cosine),
  ``optim.clipping`` and ``optim.averaging`` (Polyak, EMA);
* ``second_order``: Newton, conjugate gradients, BFGS, L-BFGS and their line searches;
* ``hpo``: grid, random and model-based hyperparameter search, successive halving and
  Hyperband, and the same searches on a distributed engine (``hpo.parallel``, Optuna);
* ``distributed``: data-parallel training on ``torch.distributed``, Hogwild!, stale gradients;
* ``nn``: initialisation (``init``, ``lsuv``), ``batchnorm``, ``architectures``, ``flat_params``;
* ``rbm``: restricted Boltzmann machines: model, training, diagnostics and their plots;
* ``gradcheck`` (finite differences against backprop), ``monitor`` (activation and gradient
  recording), ``sharpness`` (the Hessian's top eigenvalue from Hessian-vector products),
  ``noise_scale`` (the gradient noise scale, the critical batch size);
* shared inputs: ``data`` (scikit-learn's bundled digits), ``training`` (a seeded training loop),
  ``problems`` (2-D landscapes, a regression stream with known true risk).

**The experiments behind the chapters' figures**: ``experiments.ch08_1`` ... ``experiments.ch12_1``,
one subpackage per book section.

**Drawing and interactive figures**: ``viz`` (``plotting``, ``widgets``, ``explorers``,
``monitor``, ``debugging``); these draw and never compute.
"""

__version__ = "0.1.0"
