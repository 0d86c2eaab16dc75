"""optbook: the library behind *Optimization for Training Deep Models*.

One module per idea:

* ``optim``: the book's algorithms as ``torch.optim.Optimizer`` subclasses (SGD, momentum,
  Nesterov, AdaGrad, RMSProp, AdaDelta, Adam); ``schedules``: learning-rate decay;
* ``landscapes``: 2-D test functions and a trajectory runner; ``problems``: problems with a
  known true risk; ``data``: scikit-learn's bundled digits; ``training``: a seeded training loop;
* ``init``: the initialisers of §8.4; ``monitor``: activation and gradient recording;
* ``second_order``: Newton, conjugate gradients, BFGS, L-BFGS; ``batchnorm``: batch
  normalisation with a hand-written backward pass;
* ``hpo``: grid, random and model-based hyperparameter search; ``gradcheck``: numerical
  gradient checking; ``rbm``: restricted Boltzmann machines with exact log-likelihoods;
* ``plotting`` and ``plotting_monitor``: draw, never compute; ``widgets``: live slider figures
  and their static scrubbable twins; ``explorers``: ready-made interactive figures.
"""

__version__ = "0.1.0"
