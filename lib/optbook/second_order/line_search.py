r"""Line searches along a descent direction (Nocedal & Wright, *Numerical Optimization*, §3).

Given :math:`\theta`, a direction :math:`d` with :math:`g^\top d < 0` and
:math:`\phi(\epsilon) = J(\theta + \epsilon d)`, a line search picks the step :math:`\epsilon`
(the book's :math:`\epsilon^*`; Nocedal & Wright's :math:`\alpha`). The *strong Wolfe*
conditions ask for sufficient decrease and a flattened slope,

.. math::

    \phi(\epsilon) \le \phi(0) + c_1 \epsilon \phi'(0), \qquad
    |\phi'(\epsilon)| \le c_2 |\phi'(0)|, \qquad 0 < c_1 < c_2 < 1.

The first alone is the *Armijo* condition. Symbol map: :math:`\epsilon` = ``step``,
:math:`\phi` = ``phi`` (a callable returning :math:`(\phi(\epsilon), \phi'(\epsilon))`: with
autograd both come from one call to ``f``), :math:`c_1, c_2` = ``c1``, ``c2``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .._validation import check_int, check_real

__all__ = ["LineSearchResult", "strong_wolfe", "backtracking", "cubic_minimizer"]

Phi = Callable[[float], tuple[float, float]]


@dataclass(frozen=True)
class LineSearchResult:
    """``step`` :math:`\\epsilon`, :math:`\\phi(\\epsilon)`, :math:`\\phi'(\\epsilon)`, and the
    number of calls to ``phi`` made. When ``success`` is false these describe the best (or
    the last) trial, which the optimisers do not take."""

    step: float
    phi: float
    dphi: float
    nfev: int
    success: bool
    message: str


def _check(phi, phi0, dphi0, step0, c1, c2=None):
    if not callable(phi):
        raise TypeError(f"phi must be callable, got {phi!r}")
    check_real("phi0", phi0)
    dphi0 = check_real("dphi0", dphi0)
    if dphi0 >= 0:
        raise ValueError(f"d must be a descent direction, got phi'(0) = {dphi0!r} >= 0")
    check_real("step0", step0, low=0.0, low_open=True)
    c1 = check_real("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
    if c2 is not None:
        c2 = check_real("c2", c2, low=0.0, high=1.0, low_open=True, high_open=True)
        if c1 >= c2:
            raise ValueError(f"need 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")


def _finite(value: float) -> float:
    # A NaN or overflow counts as "no decrease": comparisons with NaN would silently pass.
    return value if math.isfinite(value) else math.inf


def _tie(a: float, b: float) -> bool:
    """Values whose difference is a few rounding errors, so means nothing."""
    return abs(a - b) <= 16 * sys.float_info.epsilon * max(abs(a), abs(b))


def cubic_minimizer(a: float, fa: float, da: float, b: float, fb: float, db: float):
    r"""Minimiser of the cubic matching :math:`\phi` and :math:`\phi'` at ``a`` and ``b``
    (Nocedal & Wright eq. 3.59), or ``None`` where it does not exist. Exact for a quadratic."""
    if a == b or not all(map(math.isfinite, (fa, da, fb, db))):
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    rad = d1 * d1 - da * db
    if rad < 0.0:
        return None
    d2 = math.copysign(math.sqrt(rad), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0.0:
        return None
    t = b - (b - a) * (db + d2 - d1) / denom
    return t if math.isfinite(t) else None


def strong_wolfe(
    phi: Phi,
    phi0: float,
    dphi0: float,
    step0: float = 1.0,
    *,
    c1: float = 1e-4,
    c2: float = 0.9,
    step_max: float = 1e10,
    max_iter: int = 30,
) -> LineSearchResult:
    r"""A step satisfying the strong Wolfe conditions: Nocedal & Wright Algorithm 3.5 with
    ``zoom`` (Algorithm 3.6).

    Trials grow from ``step0`` (by cubic extrapolation, up to tenfold per trial, capped at
    ``step_max``) until one violates
    sufficient decrease, fails to decrease on the previous trial, or has
    :math:`\phi' \ge 0`; a minimiser satisfying both conditions is then bracketed and
    ``zoom`` shrinks the bracket, each new trial at the minimiser of the cubic through the
    end points (values and slopes, eq. 3.59). Safeguards, as in :class:`torch.optim.LBFGS`:
    bisection when the cubic has no minimiser inside the bracket, and a trial within 10 % of an
    end is moved 10 % inside if the previous one was also that close. ``max_iter`` bounds the
    calls to ``phi`` in all.

    Differs from Algorithm 3.6 where values tie: near a minimiser :math:`\phi` changes by less
    than its rounding error, so "is :math:`\phi` lower?" is decided by the slope, as in
    Hager & Zhang's line search, and the interpolation becomes a secant on :math:`\phi'`.
    Sufficient decrease is still tested on the values, so when :math:`\lVert g\rVert` is so
    small that :math:`\epsilon\,|g^\top d|` is below the rounding of :math:`J` (only possible
    when the minimum value is not near 0) the search fails, as scipy's does ("precision
    loss"): keep ``gtol`` above that level.

    Use :math:`c_2 = 0.9` for (quasi-)Newton directions and a small :math:`c_2` (0.1) for
    nonlinear conjugate gradients, as Nocedal & Wright recommend.
    """
    _check(phi, phi0, dphi0, step0, c1, c2)
    check_real("step_max", step_max, low=step0)
    max_iter = check_int("max_iter", max_iter, low=1)
    armijo = lambda t, ft: ft > phi0 + c1 * t * dphi0  # noqa: E731  (violated?)
    curvature = lambda dt: abs(dt) <= -c2 * dphi0  # noqa: E731  (satisfied?)

    prev = (0.0, phi0, dphi0)
    t = step0
    for i in range(max_iter):
        ft, dt = phi(t)
        ft = _finite(ft)
        nfev = i + 1
        if armijo(t, ft) or (i > 0 and ft >= prev[1]):
            return _zoom(phi, prev, (t, ft, dt), phi0, dphi0, armijo, curvature, nfev, max_iter)
        if curvature(dt):
            return LineSearchResult(t, ft, dt, nfev, True, "strong Wolfe conditions hold")
        if dt >= 0:
            return _zoom(phi, (t, ft, dt), prev, phi0, dphi0, armijo, curvature, nfev, max_iter)
        if t >= step_max:
            return LineSearchResult(t, ft, dt, nfev, False, "reached step_max")
        prev, t = (t, ft, dt), _extrapolate(prev, (t, ft, dt), step_max)
    return LineSearchResult(t, ft, dt, nfev, False, f"no bracket after {max_iter} trials")


def _extrapolate(prev, cur, step_max: float) -> float:
    """The next, longer trial: the cubic's minimiser, kept between a step 1 % longer than the
    last increase and ten times the current step (as :class:`torch.optim.LBFGS` does)."""
    t = cubic_minimizer(*prev, *cur)
    low, high = cur[0] + 0.01 * (cur[0] - prev[0]), 10.0 * cur[0]
    t = high if t is None else min(max(t, low), high)
    return min(t, step_max)


def _zoom(phi, lo, hi, phi0, dphi0, armijo, curvature, nfev, max_iter) -> LineSearchResult:
    """Algorithm 3.6. ``lo`` and ``hi`` are ``(step, phi, dphi)``; ``lo`` is the best trial so
    far satisfying sufficient decrease, and the slope at ``lo`` points towards ``hi``."""
    near_end = False  # was the previous trial allowed close to an end of the bracket?
    while nfev < max_iter:
        left, right = sorted((lo[0], hi[0]))
        width = right - left
        if width <= 1e-14 * right:
            return LineSearchResult(lo[0], lo[1], lo[2], nfev, False, "bracket too small")
        if _tie(lo[1], hi[1]):  # values carry no information: secant on the slopes
            t = lo[0] - lo[2] * (hi[0] - lo[0]) / (hi[2] - lo[2]) if hi[2] != lo[2] else None
        else:
            t = cubic_minimizer(*lo, *hi)
        if t is None or not left < t < right:
            t, near_end = left + 0.5 * width, False
        elif min(t - left, right - t) < 0.1 * width:
            # Close to an end: fine once (the cubic is often right there), but twice running
            # would crawl, so then move it to 10 % of the width from that end.
            if near_end:
                t = left + 0.1 * width if t - left < right - t else right - 0.1 * width
            near_end = not near_end
        else:
            near_end = False
        ft, dt = phi(t)
        ft = _finite(ft)
        nfev += 1
        if armijo(t, ft) or (ft >= lo[1] and not _tie(ft, lo[1])):
            hi = (t, ft, dt)
        else:
            if curvature(dt):
                return LineSearchResult(t, ft, dt, nfev, True, "strong Wolfe conditions hold")
            if dt * (hi[0] - lo[0]) >= 0:
                hi = lo
            lo = (t, ft, dt)
    message = f"zoom did not finish in {max_iter} trials"
    return LineSearchResult(lo[0], lo[1], lo[2], nfev, False, message)


def backtracking(
    phi: Phi,
    phi0: float,
    dphi0: float,
    step0: float = 1.0,
    *,
    c1: float = 1e-4,
    shrink: float = 0.5,
    max_iter: int = 50,
) -> LineSearchResult:
    r"""Backtracking (Nocedal & Wright Algorithm 3.1): the first of
    :math:`\epsilon_0, \rho\epsilon_0, \rho^2\epsilon_0, \dots` satisfying the Armijo condition,
    with :math:`\rho` = ``shrink``. It ignores the slope, so curvature is not controlled."""
    _check(phi, phi0, dphi0, step0, c1)
    shrink = check_real("shrink", shrink, low=0.0, high=1.0, low_open=True, high_open=True)
    max_iter = check_int("max_iter", max_iter, low=1)
    t = step0
    for i in range(max_iter):
        ft, dt = phi(t)
        if math.isfinite(ft) and ft <= phi0 + c1 * t * dphi0:
            return LineSearchResult(t, ft, dt, i + 1, True, "Armijo condition holds")
        t *= shrink
    message = f"no decrease in {max_iter} trials"
    return LineSearchResult(t / shrink, ft, dt, max_iter, False, message)
