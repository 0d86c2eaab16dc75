"""optbook: the library behind *Optimization for Training Deep Models*.

One module per idea: ``optim`` (the book's algorithms), ``schedules``, ``landscapes``
(2-D test functions and a trajectory runner), ``data`` (scikit-learn's bundled digits),
``training`` (a small, seeded training loop), ``plotting`` (draws, never computes),
``widgets`` (live slider figures and their static scrubbable twins) and ``explorers``
(ready-made interactive figures built from the above).
"""

__version__ = "0.1.0"
