"""The experiments behind the chapters' figures, one subpackage per book section.

These are not algorithms to reuse (those live in ``optbook.optim``, ``optbook.second_order``,
``optbook.nn``, ...): each function sets up and runs one experiment of a chapter, so a reader of
§8.2 finds everything behind its figures in ``optbook.experiments.ch08_2``.

=============  ==========================================================================
subpackage     modules
=============  ==========================================================================
``ch08_1``     ``minibatch`` (per-example gradients, standard errors, minibatch orders)
``ch08_2``     ``challenges`` (cliffs, saddles between minima, the wrong side of a mountain)
``ch08_5``     ``diagonal_scaling`` (rotated quadratics and diagonal preconditioning)
``ch08_6``     ``saddles`` (where Newton's method goes: batched Newton paths on a double well)
``ch08_7``     ``coordinate_descent``, ``curriculum``, ``pretraining``, ``smoothing``
``ch08_8``     ``stacked``, ``single``, ``decoupling``, ``edge_of_stability``, ``batch_size``
``ch11_5``     ``debugging`` (confident mistakes, chance levels, diagnosis)
``ch12_1``     ``workloads`` (picklable models and objectives for worker processes), ``cost_models``
=============  ==========================================================================

Sections without a subpackage use only the library's algorithms and the shared problems in
``optbook.problems``.
"""
