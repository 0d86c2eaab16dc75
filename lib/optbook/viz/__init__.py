"""Drawing and interactive figures: these modules draw, they never compute.

* ``plotting``: the book's palette and common drawings (contours, paths, learning curves);
* ``widgets``: ``LiveFigure`` (a live slider figure in JupyterLab and its static, scrubbable twin
  in the web book), ``show`` and ``slider_values``;
* ``explorers``: ready-made interactive figures (optimiser races on 2-D landscapes);
* ``monitor``: histograms and per-layer statistics recorded by ``optbook.monitor``;
* ``debugging``: drawings for the debugging strategies of §11.5.

The RBM's drawings live with the RBM family, in ``optbook.rbm.plotting``.
"""
