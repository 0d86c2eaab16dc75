r"""Restricted Boltzmann machines: the textbook case of an inexact gradient (§8.2.6).

Symbol map: :math:`v` = ``v`` (visible units, :math:`D` = ``n_visible`` of them),
:math:`h` = ``h`` (hidden units, :math:`F` = ``n_hidden``), :math:`W` = ``W`` (:math:`D \times F`),
:math:`b` = ``b`` (visible biases), :math:`c` = ``c`` (hidden biases), :math:`\sigma` the logistic
sigmoid, :math:`\zeta(x) = \log(1 + e^x)` the softplus. All tensors are float64; a batch of
states is a tensor whose last dimension is the layer.

A Bernoulli–Bernoulli RBM is the energy-based model

.. math::

    E(v, h) = -b^\top v - c^\top h - v^\top W h, \qquad
    p(v, h) = \frac{e^{-E(v, h)}}{Z}, \qquad Z = \sum_{v, h} e^{-E(v, h)} .

With no connections inside a layer, both conditionals factorise,
:math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})` and
:math:`p(v_i = 1 \mid h) = \sigma(b_i + W_{i:} h)`, and summing out :math:`h` gives the free
energy :math:`F(v) = -b^\top v - \sum_j \zeta(c_j + v^\top W_{:j})` with
:math:`p(v) = e^{-F(v)}/Z`. The gradient of the log-likelihood is a *positive phase* (an
expectation under the data) minus a *negative phase* (an expectation under the model):

.. math::

    \frac{\partial \log p(v)}{\partial W} = v\, \sigma(c + W^\top v)^\top
    - \mathbb E_{p(v', h')}\bigl[v' h'^\top\bigr],

and likewise :math:`v - \mathbb E[v']` for :math:`b` and :math:`\sigma(c + W^\top v) -
\mathbb E[h']` for :math:`c`. The negative phase needs :math:`Z`'s :math:`2^{D+F}` terms;
contrastive divergence (CD-k, Hinton 2002) replaces it by :math:`k` steps of block Gibbs
sampling started at the data, persistent CD (PCD, Tieleman 2008) by chains carried over from
one update to the next. For a small enough layer the exact quantities are computable
(:func:`log_partition`, :func:`exact_gradient`), which is what lets the book measure how
inexact CD is.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import NamedTuple

import torch
from torch.nn.functional import softplus

from optbook._validation import check_int, check_real

__all__ = [
    "RBM",
    "RBMGradient",
    "MAX_ENUMERATED_UNITS",
    "energy",
    "free_energy",
    "p_h_given_v",
    "p_v_given_h",
    "gibbs_step",
    "cd_gradient",
    "log_partition",
    "log_likelihood",
    "exact_gradient",
]

#: :func:`log_partition` and :func:`exact_gradient` enumerate the :math:`2^m` states of the
#: smaller layer; above this many units they refuse rather than run for hours.
MAX_ENUMERATED_UNITS = 20
_CHUNK_ELEMENTS = 2**22  # states × units of the other layer held at once: 32 MB in float64


class RBMGradient(NamedTuple):
    """A gradient (or gradient estimate) of the mean log-likelihood, one tensor per parameter."""

    W: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor


# ---------------------------------------------------------------- the model


def energy(v: torch.Tensor, h: torch.Tensor, W, b, c) -> torch.Tensor:
    r""":math:`E(v, h) = -b^\top v - c^\top h - v^\top W h`, over the leading (batch) dimensions."""
    return -(v @ b) - (h @ c) - ((v @ W) * h).sum(-1)


def free_energy(v: torch.Tensor, W, b, c) -> torch.Tensor:
    r""":math:`F(v) = -\log \sum_h e^{-E(v, h)} = -b^\top v - \sum_j \zeta(c_j + v^\top W_{:j})`."""
    return -(v @ b) - softplus(v @ W + c).sum(-1)


def p_h_given_v(v: torch.Tensor, W, c) -> torch.Tensor:
    r""":math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})` for every hidden unit."""
    return torch.sigmoid(v @ W + c)


def p_v_given_h(h: torch.Tensor, W, b) -> torch.Tensor:
    r""":math:`p(v_i = 1 \mid h) = \sigma(b_i + W_{i:} h)` for every visible unit."""
    return torch.sigmoid(h @ W.T + b)


def gibbs_step(v: torch.Tensor, W, b, c, generator: torch.Generator):
    r"""One step of block Gibbs sampling, :math:`h \sim p(h \mid v)` then
    :math:`v' \sim p(v \mid h)`. Returns ``(v_new, h, p_v)`` with ``p_v`` = :math:`p(v' = 1
    \mid h)`, the mean a picture of the chain usually shows."""
    h = torch.bernoulli(p_h_given_v(v, W, c), generator=generator)
    p_v = p_v_given_h(h, W, b)
    return torch.bernoulli(p_v, generator=generator), h, p_v


def cd_gradient(v_data, W, b, c, k: int, generator: torch.Generator, v_start=None):
    r"""The CD-k estimate of the gradient of the mean log-likelihood of ``v_data``.

    The positive phase is exact, :math:`\tfrac1N \sum_n v_n \sigma(c + W^\top v_n)^\top`; the
    negative phase averages :math:`\tilde v\, \sigma(c + W^\top \tilde v)^\top` over chains
    :math:`\tilde v` run ``k`` Gibbs steps from ``v_start`` (default: the data itself, which is
    CD-k; the previous chains, which is PCD). Returns ``(gradient, chains)``, the chains' final
    visible states to pass back in as ``v_start`` for PCD.
    """
    v_chain = v_data if v_start is None else v_start
    for _ in range(k):
        v_chain, _, _ = gibbs_step(v_chain, W, b, c, generator)
    ph_data = p_h_given_v(v_data, W, c)
    ph_model = p_h_given_v(v_chain, W, c)
    grad = RBMGradient(
        W=v_data.T @ ph_data / len(v_data) - v_chain.T @ ph_model / len(v_chain),
        b=v_data.mean(0) - v_chain.mean(0),
        c=ph_data.mean(0) - ph_model.mean(0),
    )
    return grad, v_chain


# ---------------------------------------------------------------- exact quantities


def _check_enumerable(n_visible: int, n_hidden: int) -> None:
    m = min(n_visible, n_hidden)
    if m > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"exact computation enumerates the smaller layer: min(n_visible, n_hidden) = {m} "
            f"units, 2**{m} states, more than the {MAX_ENUMERATED_UNITS} units allowed"
        )


class _SoftplusSum(torch.autograd.Function):
    """:math:`\\sum_i \\zeta(x_i)` over the last dimension, with :math:`\\zeta' = \\sigma` exactly.

    :math:`\\zeta(x) = \\max(x, 0) - \\log\\sigma(|x|)`, and since :math:`\\sigma(|x|) \\in [1/2, 1)`
    the logarithms of a row are summed as the logarithm of one product (no underflow for up to
    1,000 factors). One ``log`` per row instead of one ``log1p`` per element: the enumeration
    behind :func:`exact_gradient` is about a quarter faster in float64. Agrees with the literal
    :math:`\\max(x, 0) + \\log(1 + e^{-|x|})` to rounding; *differs from* torch's ``softplus``,
    which returns :math:`x` itself above :math:`x = 20`, by up to :math:`e^{-20}` per term.
    The backward pass is written out, so that the kink of :math:`|x|` at 0 does not leak into
    the gradient.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0).sum(-1) - torch.log(torch.sigmoid(x.abs()).prod(-1))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.unsqueeze(-1) * torch.sigmoid(x)


def _softplus_sum(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-1] > 1000:  # the product of the sigmoids could underflow
        return softplus(x).sum(-1)
    return _SoftplusSum.apply(x)


def _all_states(m: int, chunk: int):
    """Yield every binary vector of length ``m``, ``chunk`` rows at a time."""
    bits = torch.arange(m)
    for start in range(0, 2**m, chunk):
        idx = torch.arange(start, min(start + chunk, 2**m))
        yield ((idx[:, None] >> bits) & 1).to(torch.float64)


def _enumeration(W, b, c):
    """Yield ``(log_weight, E[v | state], E[h | state])`` for chunks of the smaller layer's states.

    The enumerated layer's own "mean" is the state itself. ``log_weight`` is the unnormalised
    log-probability of each state of that layer with the other layer summed out:
    :math:`-F(v)` when enumerating :math:`v`, and
    :math:`c^\\top h + \\sum_i \\zeta(b_i + W_{i:} h)` when enumerating :math:`h`.
    This is the general route, safe for any parameters; :func:`_factorised` is the fast one.
    """
    n_visible, n_hidden = W.shape
    _check_enumerable(n_visible, n_hidden)
    chunk = max(256, _CHUNK_ELEMENTS // max(n_visible, n_hidden))
    if n_hidden <= n_visible:
        for h in _all_states(n_hidden, chunk):
            pre = h @ W.T + b
            yield h @ c + _softplus_sum(pre), torch.sigmoid(pre), h
    else:
        for v in _all_states(n_visible, chunk):
            pre = v @ W + c
            yield v @ b + _softplus_sum(pre), v, torch.sigmoid(pre)


# The factorised enumeration. Split the m enumerated units into a low half L (the low bits of a
# state's index) and a high half U. Then the other layer's input is a sum, pre = a(s_L) + β(s_U)
# with a = bias + W_L s_L and β = W_U s_U, so e^pre = e^a · e^β: the 2^m × n exponentials are
# products of two small tables of 2^(m/2) × n exponentials each, and
# Σ_i ζ(pre_i) = log Π_i (1 + e^pre_i) needs one log per state instead of one per unit.
# For large parameters these products can overflow, so _factorised checks bounds first and
# declines (returns None) when they fail; the elementwise _enumeration is then used instead.
_EXP_LIMIT = 300.0  # |a|, |β| below this: e^a, e^β and their products are normal floats
_LOG_PRODUCT_LIMIT = 700.0  # bound on log Π_i (1 + e^pre_i) over all states: below e^709
_BLOCK_ELEMENTS = 2**16  # blocks of 2^16 float64 (512 kB) stay in cache: faster than one big one


class _Factorised(NamedTuple):
    hidden: bool  # True when the hidden layer is the enumerated one
    exp_low: torch.Tensor  # e^a, (2^|L|, n)
    exp_high: torch.Tensor  # e^β, (2^|U|, n)
    own_low: torch.Tensor  # the enumerated layer's bias term of each low half-state, (2^|L|,)
    own_high: torch.Tensor  # and of each high half-state, (2^|U|,)
    states_low: torch.Tensor  # the low half-states, (2^|L|, |L|)
    states_high: torch.Tensor  # the high half-states, (2^|U|, |U|)
    rows: int  # high half-states per block


def _factorised(W, b, c) -> _Factorised | None:
    """The tables of the factorised enumeration, or ``None`` if its products could overflow."""
    n_visible, n_hidden = W.shape
    _check_enumerable(n_visible, n_hidden)
    hidden = n_hidden <= n_visible
    weights, other_bias, own_bias = (W, b, c) if hidden else (W.T, c, b)
    n, m = weights.shape
    m_low = m // 2
    states_low, states_high = _half_states(m_low), _half_states(m - m_low)
    a = states_low @ weights[:, :m_low].T + other_bias
    beta = states_high @ weights[:, m_low:].T
    with torch.no_grad():
        if not (a.abs().max() < _EXP_LIMIT and beta.abs().max() < _EXP_LIMIT):
            return None
        # the largest pre_i over all states is max a_i + max β_i (the halves vary independently)
        if not softplus(a.max(0).values + beta.max(0).values).sum() < _LOG_PRODUCT_LIMIT:
            return None
    rows = max(1, _BLOCK_ELEMENTS // (len(states_low) * n))
    return _Factorised(hidden, a.exp(), beta.exp(), states_low @ own_bias[:m_low],
                       states_high @ own_bias[m_low:], states_low, states_high, rows)


@functools.lru_cache(maxsize=8)
def _half_states(m: int) -> torch.Tensor:
    """All ``2**m`` states of ``m`` units (at most 10 here), built once: read, never written."""
    return next(_all_states(m, 2**m))


_workspace = threading.local()  # per thread: two reusable blocks for the no-grad passes


def _block_buffers(shape, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Two buffers of ``shape``, kept between calls: a fresh 512 kB tensor per block costs
    page faults (about a third of the time of an exact gradient, measured)."""
    buffers = getattr(_workspace, "buffers", None)
    if buffers is None or buffers[0].shape != shape or buffers[0].dtype != dtype:
        buffers = (torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype))
        _workspace.buffers = buffers
    return buffers


def _factorised_log_weights(f: _Factorised, reuse_buffers: bool = False):
    """Yield ``(start, log_weight, e, one_plus_e)`` for blocks of high half-states.

    ``log_weight[r, l]`` is that of the state with high half ``start + r`` and low half ``l``
    (index ``l + 2^|L| (start + r)`` of :func:`_all_states`); ``e`` = :math:`e^{pre}`,
    (rows, 2^|L|, n). Differentiable unless ``reuse_buffers``, which writes ``e`` and
    ``one_plus_e`` into the same two buffers for every block (valid until the next one).
    """
    if reuse_buffers:
        e_buffer, one_plus_buffer = _block_buffers((f.rows, *f.exp_low.shape), f.exp_low.dtype)
    for start in range(0, len(f.exp_high), f.rows):
        stop = min(start + f.rows, len(f.exp_high))
        if reuse_buffers:
            e = torch.mul(f.exp_high[start:stop, None, :], f.exp_low, out=e_buffer[: stop - start])
            one_plus_e = torch.add(e, 1.0, out=one_plus_buffer[: stop - start])
        else:
            e = f.exp_high[start:stop, None, :] * f.exp_low[None, :, :]
            one_plus_e = e + 1.0
        log_weight = one_plus_e.prod(-1).log() + f.own_low + f.own_high[start:stop, None]
        yield start, log_weight, e, one_plus_e


def _shift_to(shift: float, log_weight: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """One block of a streaming log-sum-exp: the new running maximum of the log-weights, the
    factor that rescales sums kept under the old maximum, and the block's weights
    ``exp(log_weight - maximum)``."""
    new_shift = max(shift, log_weight.max().item())
    return new_shift, math.exp(shift - new_shift), torch.exp(log_weight - new_shift)


@torch.no_grad()
def _negative_phase(W, b, c) -> RBMGradient:
    r""":math:`\mathbb E_{p(v,h)}[v h^\top]`, :math:`\mathbb E[v]`, :math:`\mathbb E[h]`, exactly."""
    f = _factorised(W, b, c)
    if f is None:
        return _negative_phase_elementwise(W, b, c)
    # Sums over blocks with a running maximum of the log-weights (the streaming log-sum-exp):
    # they are kept scaled by exp(-shift) and rescaled whenever a larger log-weight arrives.
    shift, total = -math.inf, 0.0
    by_low = torch.zeros_like(f.exp_low)  # Σ over high halves of w σ(pre), per low half-state
    cross_high = torch.zeros(f.exp_low.shape[1], f.states_high.shape[1], dtype=W.dtype)
    w_low = torch.zeros(len(f.states_low), dtype=W.dtype)
    w_high = torch.zeros(len(f.states_high), dtype=W.dtype)
    for start, log_weight, e, one_plus_e in _factorised_log_weights(f, reuse_buffers=True):
        stop = start + len(log_weight)
        shift, rescale, w = _shift_to(shift, log_weight)
        total = total * rescale + w.sum().item()
        if rescale != 1.0:  # (multiplying by 1.0 would change nothing)
            by_low, cross_high = by_low * rescale, cross_high * rescale
            w_low, w_high = w_low * rescale, w_high * rescale
        # e / (1 + e) = σ(pre), times the weights, in place: w σ(pre) over the block
        weighted = e.mul_(torch.div(w[:, :, None], one_plus_e, out=one_plus_e))
        by_low += weighted.sum(0)
        cross_high += weighted.sum(1).T @ f.states_high[start:stop]
        w_low += w.sum(0)
        w_high[start:stop] = w.sum(1)
    other = by_low.sum(0) / total  # E[the other layer]
    cross = torch.cat([by_low.T @ f.states_low, cross_high], 1) / total  # E[other ⊗ state]
    own = torch.cat([w_low @ f.states_low, w_high @ f.states_high]) / total  # E[state]
    if f.hidden:
        return RBMGradient(W=cross, b=other, c=own)
    return RBMGradient(W=cross.T, b=own, c=other)


def _negative_phase_elementwise(W, b, c) -> RBMGradient:
    """:func:`_negative_phase` through :func:`_enumeration`, for any parameters."""
    shift, total = -math.inf, 0.0
    vh, ev, eh = torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(c)
    for log_weight, mean_v, mean_h in _enumeration(W, b, c):
        shift, rescale, w = _shift_to(shift, log_weight)
        total = total * rescale + w.sum().item()
        vh = vh * rescale + (w[:, None] * mean_v).T @ mean_h
        ev = ev * rescale + w @ mean_v
        eh = eh * rescale + w @ mean_h
    return RBMGradient(W=vh / total, b=ev / total, c=eh / total)


def log_partition(W, b, c) -> torch.Tensor:
    r"""The exact :math:`\log Z`, differentiable by autograd.

    The larger layer is summed out analytically and the :math:`2^m` states of the smaller layer
    (:math:`m \le` :data:`MAX_ENUMERATED_UNITS`) are enumerated:
    :math:`\log Z = \log\sum_h \exp\bigl(c^\top h + \sum_i \zeta(b_i + W_{i:} h)\bigr)` when the
    hidden layer is the smaller, :math:`\log\sum_v e^{-F(v)}` otherwise. Raises
    :class:`ValueError` above the limit.
    """
    f = _factorised(W, b, c)
    if f is None:
        return torch.logsumexp(torch.cat([lw for lw, _, _ in _enumeration(W, b, c)]), 0)
    no_grad = not (torch.is_grad_enabled() and any(t.requires_grad for t in (W, b, c)))
    blocks = [lw.reshape(-1) for _, lw, _, _ in _factorised_log_weights(f, no_grad)]
    return torch.logsumexp(torch.cat(blocks), 0)


def log_likelihood(v, W, b, c, log_z=None) -> torch.Tensor:
    r""":math:`\log p(v) = -F(v) - \log Z` for each row of ``v`` (pass ``log_z`` to reuse it)."""
    if log_z is None:
        log_z = log_partition(W, b, c)
    return -free_energy(v, W, b, c) - log_z


@torch.no_grad()
def exact_gradient(v_data, W, b, c) -> RBMGradient:
    r"""The exact gradient of the mean log-likelihood :math:`\tfrac1N\sum_n \log p(v_n)`.

    The negative phase :math:`\mathbb E_{p(v,h)}[v h^\top]` (and :math:`\mathbb E[v]`,
    :math:`\mathbb E[h]`) is summed over the enumerated layer, using the exact conditional mean
    of the other: :math:`\sum_h p(h)\, \sigma(b + W h)\, h^\top` when enumerating :math:`h`.
    """
    vh, ev, eh = _negative_phase(W, b, c)
    ph_data = p_h_given_v(v_data, W, c)
    return RBMGradient(
        W=v_data.T @ ph_data / len(v_data) - vh,
        b=v_data.mean(0) - ev,
        c=ph_data.mean(0) - eh,
    )


# ---------------------------------------------------------------- the thin class


def _check_layer(x, n: int, name: str) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim not in (1, 2) or x.shape[-1] != n:
        raise ValueError(f"{name} must have shape ({n},) or (batch, {n}), got {tuple(x.shape)}")
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        lo, hi = x.min().item(), x.max().item()
        raise ValueError(f"{name} must hold values in [0, 1], got values from {lo!r} to {hi!r}")
    return x


class RBM:
    r"""A Bernoulli–Bernoulli RBM with parameters ``W`` (``n_visible`` × ``n_hidden``), ``b``,
    ``c`` as float64 tensors; see the module docstring for the model.

    The weights start as :math:`\mathcal N(0, \text{init\_std}^2)` and the biases at 0 (Hinton's
    "practical guide" also sets ``b`` to the data's log-odds; assign ``rbm.b`` to do so). One
    :class:`torch.Generator`, seeded with ``seed``, draws the weights and every Gibbs sample, so
    a run is reproducible. The persistent chains of PCD live in ``self.chains`` (``None`` until
    the first :meth:`pcd_step`; set it to ``None`` to restart them).

    The methods feed the module's functions with the current parameters; the update methods
    apply gradient *ascent* on the log-likelihood, :math:`\theta \leftarrow \theta + \epsilon
    \hat g`, and return the gradient estimate :math:`\hat g` they used.
    """

    def __init__(self, n_visible: int, n_hidden: int, seed: int = 0, init_std: float = 0.01):
        n_visible = check_int("n_visible", n_visible, low=1)
        n_hidden = check_int("n_hidden", n_hidden, low=1)
        seed = check_int("seed", seed, low=0)
        init_std = check_real("init_std", init_std, low=0.0)
        self.generator = torch.Generator().manual_seed(seed)
        self.W = init_std * torch.randn(
            n_visible, n_hidden, generator=self.generator, dtype=torch.float64
        )
        self.b = torch.zeros(n_visible, dtype=torch.float64)
        self.c = torch.zeros(n_hidden, dtype=torch.float64)
        self.chains: torch.Tensor | None = None

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    @property
    def params(self) -> RBMGradient:
        """``(W, b, c)`` as a named tuple (the same type as a gradient)."""
        return RBMGradient(self.W, self.b, self.c)

    def __repr__(self) -> str:
        return f"RBM(n_visible={self.n_visible}, n_hidden={self.n_hidden})"

    def _v(self, v, name="v"):
        return _check_layer(v, self.n_visible, name)

    def energy(self, v, h) -> torch.Tensor:
        return energy(self._v(v), _check_layer(h, self.n_hidden, "h"), self.W, self.b, self.c)

    def free_energy(self, v) -> torch.Tensor:
        return free_energy(self._v(v), self.W, self.b, self.c)

    def p_h_given_v(self, v) -> torch.Tensor:
        return p_h_given_v(self._v(v), self.W, self.c)

    def p_v_given_h(self, h) -> torch.Tensor:
        return p_v_given_h(_check_layer(h, self.n_hidden, "h"), self.W, self.b)

    def gibbs_chain(self, v, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``steps`` Gibbs steps from ``v``; return the visible samples and their means
        :math:`p(v = 1 \\mid h)`, each stacked to shape ``(steps + 1, *v.shape)`` (index 0 is
        ``v`` itself in both)."""
        v = self._v(v)
        steps = check_int("steps", steps, low=0)
        samples, means = [v], [v]
        for _ in range(steps):
            v, _, p_v = gibbs_step(v, self.W, self.b, self.c, self.generator)
            samples.append(v)
            means.append(p_v)
        return torch.stack(samples), torch.stack(means)

    def gibbs(self, v, steps: int = 1) -> torch.Tensor:
        """The visible state after ``steps`` Gibbs steps from ``v``."""
        return self.gibbs_chain(v, steps)[0][-1]

    def _batch(self, v) -> torch.Tensor:
        v = self._v(v)
        if v.ndim == 1:
            v = v[None, :]
        if len(v) == 0:
            raise ValueError("v must hold at least one example, got an empty batch")
        return v

    def _apply(self, grad: RBMGradient, lr: float) -> None:
        self.W = self.W + lr * grad.W
        self.b = self.b + lr * grad.b
        self.c = self.c + lr * grad.c

    def cd_step(self, v, k: int = 1, lr: float = 0.1) -> RBMGradient:
        """One CD-k update on the minibatch ``v``; returns the gradient estimate used."""
        v = self._batch(v)
        k = check_int("k", k, low=1)
        lr = check_real("lr", lr, low=0.0, low_open=True)
        grad, _ = cd_gradient(v, self.W, self.b, self.c, k, self.generator)
        self._apply(grad, lr)
        return grad

    def pcd_step(self, v, k: int = 1, lr: float = 0.1) -> RBMGradient:
        """One persistent-CD update: the negative phase continues ``self.chains`` for ``k``
        steps (the chains start at the first minibatch seen). Returns the gradient estimate."""
        v = self._batch(v)
        k = check_int("k", k, low=1)
        lr = check_real("lr", lr, low=0.0, low_open=True)
        start = v if self.chains is None else self.chains
        grad, self.chains = cd_gradient(v, self.W, self.b, self.c, k, self.generator, start)
        self._apply(grad, lr)
        return grad

    def exact_step(self, v, k: int = 1, lr: float = 0.1) -> RBMGradient:
        """One update along the exact gradient of the minibatch ``v``'s mean log-likelihood
        (:func:`exact_gradient`): minibatch SGD without sampling, the control for
        :meth:`cd_step` and :meth:`pcd_step`. ``k`` is accepted, validated and unused, so that
        the three steps share a signature. Returns the gradient used."""
        v = self._batch(v)
        check_int("k", k, low=1)
        lr = check_real("lr", lr, low=0.0, low_open=True)
        grad = exact_gradient(v, self.W, self.b, self.c)
        self._apply(grad, lr)
        return grad

    def log_partition(self) -> torch.Tensor:
        """Exact :math:`\\log Z` (see :func:`log_partition`)."""
        return log_partition(self.W, self.b, self.c)

    def log_likelihood(self, v) -> torch.Tensor:
        """Exact :math:`\\log p(v)` of each row of ``v`` (average it for a learning curve)."""
        return log_likelihood(self._v(v), self.W, self.b, self.c)

    def exact_gradient(self, v) -> RBMGradient:
        """Exact gradient of the mean log-likelihood of the batch ``v``."""
        return exact_gradient(self._batch(v), self.W, self.b, self.c)
