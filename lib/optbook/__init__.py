"""optbook: the library behind *Optimization for Training Deep Models*.

One module per idea, grouped by the chapter that introduces it:

* optimisers and their inputs: ``optim`` (SGD, momentum, Nesterov, AdaGrad, RMSProp, AdaDelta,
  Adam as ``torch.optim.Optimizer`` subclasses), ``schedules``, ``clipping``, ``init``, ``lsuv``;
* test problems: ``landscapes`` (2-D functions and a trajectory runner), ``challenges`` (cliffs,
  saddles between minima), ``saddles``, ``diagonal_scaling``, ``problems`` (known true risk),
  ``data`` (scikit-learn's bundled digits), ``minibatch`` (per-example gradients, standard errors);
* training and its strategies: ``training``, ``architectures``, ``batchnorm``, ``averaging``,
  ``coordinate_descent``, ``smoothing``, ``curriculum``, ``pretraining``, ``flat_params``;
* second-order methods: ``second_order`` (Newton, conjugate gradients, BFGS, L-BFGS);
* practical methodology: ``hpo`` (grid, random and model-based search), ``gradcheck``,
  ``monitor`` (activation and gradient recording), ``debugging``;
* energy-based models: ``rbm``, ``rbm_training``, ``rbm_diagnostics``;
* figures: ``plotting``, ``plotting_monitor``, ``plotting_debugging``, ``plotting_rbm`` (they draw,
  never compute), ``widgets`` (live slider figures and their static scrubbable twins) and
  ``explorers`` (ready-made interactive figures).
"""

__version__ = "0.1.0"
