"""Approximate second-order methods (§8.6): Newton's method, conjugate gradients, BFGS, L-BFGS.

Every method takes ``f``, a function from a 1-D floating-point tensor :math:`\\theta` to a
scalar tensor :math:`J(\\theta)`, and a start ``x0``; gradients (and, for Newton, Hessians) come
from :mod:`torch.autograd`. Each returns an :class:`OptimizeResult` (``x``, ``fun``, ``nit``,
``nfev``, ``path``, ...) in the manner of :func:`scipy.optimize.minimize`. The quasi-Newton and
CG methods share one strong Wolfe line search (:mod:`.line_search`); backtracking Armijo is the
alternative. One module per method:

* :mod:`.newton` — pure, damped, line-searched and saddle-free Newton;
* :mod:`.conjugate_gradient` — linear CG for quadratics, nonlinear CG (Fletcher–Reeves,
  Polak–Ribière) with restarts;
* :mod:`.bfgs` — BFGS and its update of the inverse-Hessian approximation;
* :mod:`.lbfgs` — L-BFGS and the two-loop recursion.
"""

from ._common import OptimizeResult
from .bfgs import bfgs, bfgs_update
from .conjugate_gradient import cg_beta, conjugate_gradient, linear_conjugate_gradient
from .lbfgs import lbfgs, two_loop_recursion
from .line_search import LineSearchResult, backtracking, cubic_minimizer, strong_wolfe
from .newton import newton, newton_direction, newton_directions

__all__ = [
    "OptimizeResult",
    "LineSearchResult",
    "newton",
    "newton_direction",
    "newton_directions",
    "conjugate_gradient",
    "cg_beta",
    "linear_conjugate_gradient",
    "bfgs",
    "bfgs_update",
    "lbfgs",
    "two_loop_recursion",
    "strong_wolfe",
    "backtracking",
    "cubic_minimizer",
]
