r"""Looking inside an RBM: exact samples, reconstructions, pseudo-likelihood, and the bias and
spread of gradient estimators.

Symbol map as in :mod:`optbook.rbm`: :math:`v` (``D`` visible units), :math:`h` (``F`` hidden
units), ``W`` (:math:`D \times F`), ``b``, ``c``; :math:`F(v)` is the free energy. All tensors are
float64.

* **Exact samples.** Summing out :math:`v` leaves the hidden marginal
  :math:`p(h) \propto \exp\bigl(c^\top h + \sum_i \zeta(b_i + W_{i:} h)\bigr)`, a distribution over
  :math:`2^F` states that can be enumerated when :math:`F` is small. Drawing
  :math:`h \sim p(h)` and then :math:`v \sim p(v \mid h)` (ancestral sampling) gives *exact*
  samples from :math:`p(v, h)`, the reference against which Gibbs chains can be judged
  (:func:`hidden_log_marginal`, :func:`exact_sample`).
* **Reconstructions** :math:`\hat v = \sigma\bigl(b + W \sigma(c + W^\top v)\bigr)`, the mean-field
  "up and down" pass, and the squared reconstruction error, a popular but indirect monitor of
  training (:func:`reconstruction`, :func:`reconstruction_error`).
* **Pseudo-likelihood** :math:`\sum_i \log p(v_i \mid v_{-i})` (Besag 1975), which needs free
  energies only, not :math:`Z` (:func:`pseudo_log_likelihood`).
* **Gradient estimators, many at once.** :func:`cd_estimates` and :func:`exact_estimates` return
  one gradient estimate per minibatch of a stack of minibatches; :func:`squared_bias` and
  :func:`spread` summarise such a stack against the exact gradient.
"""

from __future__ import annotations

import torch
from torch.nn.functional import logsigmoid

from optbook._validation import check_int
from optbook.rbm.model import (
    MAX_ENUMERATED_UNITS,
    RBMGradient,
    exact_gradient,
    free_energy,
    gibbs_step,
    p_h_given_v,
    p_v_given_h,
)

__all__ = [
    "hidden_log_marginal",
    "exact_sample",
    "reconstruction",
    "reconstruction_error",
    "pseudo_log_likelihood",
    "cd_estimates",
    "cd_estimates_by_k",
    "exact_estimates",
    "flatten",
    "squared_bias",
    "spread",
]

_CHUNK_ELEMENTS = 2**22


def _check_params(W, b, c) -> None:
    if W.ndim != 2 or b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
        raise ValueError(
            f"W, b, c must have shapes (D, F), (D,), (F,), got {tuple(W.shape)}, "
            f"{tuple(b.shape)}, {tuple(c.shape)}"
        )


def _check_visible(v, D: int, name: str = "v", ndim: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    v = torch.as_tensor(v, dtype=torch.float64)
    if v.ndim not in ndim or v.shape[-1] != D:
        raise ValueError(f"{name} must have {ndim} dimension(s), the last of size {D}; "
                         f"got shape {tuple(v.shape)}")
    return v


# ---------------------------------------------------------------- exact samples


@torch.no_grad()
def hidden_log_marginal(W, b, c) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Every hidden state and its exact log-probability :math:`\log p(h)`.

    Returns ``(H, log_p)``: ``H`` holds the :math:`2^F` binary states (row :math:`j` is the
    binary expansion of :math:`j`, least significant unit first) and ``log_p`` their
    log-probabilities, :math:`c^\top h + \sum_i \zeta(b_i + W_{i:} h) - \log Z`. This is the free
    energy of the RBM with the layers' roles swapped, ``free_energy(H, W.T, c, b)``. Raises
    :class:`ValueError` if :math:`F` exceeds :data:`optbook.rbm.MAX_ENUMERATED_UNITS`.
    """
    _check_params(W, b, c)
    F = W.shape[1]
    if F > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"hidden_log_marginal enumerates the hidden layer: n_hidden = {F} units, "
            f"more than the {MAX_ENUMERATED_UNITS} allowed"
        )
    idx = torch.arange(2**F)
    H = ((idx[:, None] >> torch.arange(F)) & 1).to(torch.float64)
    chunk = max(256, _CHUNK_ELEMENTS // max(1, W.shape[0]))
    log_w = torch.cat([-free_energy(H[s : s + chunk], W.T, c, b) for s in range(0, len(H), chunk)])
    return H, log_w - torch.logsumexp(log_w, 0)


@torch.no_grad()
def exact_sample(W, b, c, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``n`` independent exact samples ``(v, h)`` from :math:`p(v, h)`.

    Ancestral sampling: :math:`h \sim p(h)` from :func:`hidden_log_marginal`, then
    :math:`v \sim p(v \mid h)`. Unlike a Gibbs chain there is no burn-in and no correlation
    between samples; the price is the enumeration of :math:`2^F` hidden states.
    """
    n = check_int("n", n, low=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    H, log_p = hidden_log_marginal(W, b, c)
    idx = torch.multinomial(log_p.exp(), n, replacement=True, generator=generator)
    h = H[idx]
    return torch.bernoulli(p_v_given_h(h, W, b), generator=generator), h


# ---------------------------------------------------------------- monitors


def reconstruction(v, W, b, c) -> torch.Tensor:
    r"""The mean-field reconstruction :math:`\hat v = \sigma\bigl(b + W\sigma(c + W^\top v)\bigr)`:
    :math:`p(v' = 1 \mid h)` with the hidden units set to their means instead of sampled."""
    _check_params(W, b, c)
    v = _check_visible(v, W.shape[0])
    return p_v_given_h(p_h_given_v(v, W, c), W, b)


def reconstruction_error(v, W, b, c) -> torch.Tensor:
    r"""Mean over the rows of ``v`` of :math:`\lVert v - \hat v \rVert^2`
    (:func:`reconstruction`). Small does not mean likely: it is not the training objective."""
    v = _check_visible(v, W.shape[0])
    return ((v - reconstruction(v, W, b, c)) ** 2).sum(-1).mean()


def pseudo_log_likelihood(v, W, b, c) -> torch.Tensor:
    r"""The exact pseudo-log-likelihood :math:`\sum_{i=1}^{D} \log p(v_i \mid v_{-i})` of each row.

    With :math:`\tilde v^{(i)}` equal to :math:`v` with unit :math:`i` flipped,
    :math:`p(v_i \mid v_{-i}) = \sigma\bigl(F(\tilde v^{(i)}) - F(v)\bigr)`; all :math:`D`
    flips are evaluated. *Differs from* scikit-learn's ``BernoulliRBM.score_samples``, which
    flips one randomly chosen unit per row and returns :math:`D` times that term: an unbiased
    but noisy estimate of this sum.
    """
    _check_params(W, b, c)
    v = _check_visible(v, W.shape[0])
    D = W.shape[0]
    flipped = v.unsqueeze(-2).expand(*v.shape[:-1], D, D).clone()  # (..., i, D)
    eye = torch.eye(D, dtype=torch.float64).bool()
    flipped[..., eye] = 1.0 - flipped[..., eye]
    return logsigmoid(free_energy(flipped, W, b, c) - free_energy(v, W, b, c).unsqueeze(-1)).sum(-1)


# ---------------------------------------------------------------- gradient estimators


def _check_batches(v_batches, D: int, name: str = "v_batches") -> torch.Tensor:
    v = _check_visible(v_batches, D, name, ndim=(3,))
    if v.shape[0] < 1 or v.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one batch of one row, got {tuple(v.shape)}")
    return v


def _positive(v, W, c):
    ph = p_h_given_v(v, W, c)
    m = v.shape[-2]
    return v.transpose(-1, -2) @ ph / m, v.mean(-2), ph.mean(-2)


@torch.no_grad()
def cd_estimates(v_batches, W, b, c, k: int, generator: torch.Generator, v_start=None) -> RBMGradient:
    r"""One CD-k gradient estimate per minibatch, for a stack ``v_batches`` of shape (R, m, D).

    Each estimate is that of :func:`optbook.rbm.cd_gradient`: the exact positive phase of its
    minibatch minus :math:`\tfrac1n\sum \tilde v\,\sigma(c + W^\top\tilde v)^\top` over its ``n``
    chains after ``k`` Gibbs steps. The chains start at the minibatch itself (CD-k) or at
    ``v_start`` (shape (R, n, D)), for example exact samples from :func:`exact_sample`, which
    gives the negative phase of PCD with perfectly mixed chains (``k = 0`` is then allowed:
    the chains are already at equilibrium). All R × n chains run at once, so a few hundred
    minibatches cost about as much as one long one. Returns an :class:`~optbook.rbm.RBMGradient`
    whose tensors have a leading dimension R.
    """
    k = check_int("k", k, low=0)
    return cd_estimates_by_k(v_batches, W, b, c, [k], generator, v_start)[k]


@torch.no_grad()
def cd_estimates_by_k(
    v_batches, W, b, c, ks, generator: torch.Generator, v_start=None
) -> dict[int, RBMGradient]:
    """:func:`cd_estimates` for several ``ks`` from the *same* chains: one run of
    ``max(ks)`` Gibbs steps, read off after each ``k`` in ``ks``. Each entry is a valid set
    of CD-k estimates (the entries for different ``k`` are correlated, not independent)."""
    _check_params(W, b, c)
    v = _check_batches(v_batches, W.shape[0])
    ks = sorted({check_int("k", k, low=0) for k in ks})
    if not ks:
        raise ValueError("ks must hold at least one number of Gibbs steps")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    if v_start is None:
        chains = v
    else:
        chains = _check_batches(v_start, W.shape[0], "v_start")
        if chains.shape[0] != v.shape[0]:
            raise ValueError(
                f"v_start must hold one set of chains per minibatch: {v.shape[0]} minibatches, "
                f"{chains.shape[0]} sets of chains"
            )
    pos = _positive(v, W, c)
    out, done = {}, 0
    for k in ks:
        for _ in range(k - done):
            chains, _, _ = gibbs_step(chains, W, b, c, generator)
        done = k
        neg = _positive(chains, W, c)
        out[k] = RBMGradient(*(p - n for p, n in zip(pos, neg, strict=True)))
    return out


@torch.no_grad()
def exact_estimates(v_batches, W, b, c) -> RBMGradient:
    r"""The exact gradient of each minibatch's mean log-likelihood, for a stack of shape
    (R, m, D): its positive phase minus the exact negative phase (one enumeration for all).

    These differ from minibatch to minibatch only through the data: their spread is the
    minibatch noise of §8.1.3, the floor that any estimator on ``m`` examples starts from.
    """
    _check_params(W, b, c)
    v = _check_batches(v_batches, W.shape[0])
    first = exact_gradient(v[0], W, b, c)
    pos0 = _positive(v[0], W, c)
    neg = [p0 - g0 for p0, g0 in zip(pos0, first, strict=True)]
    pos = _positive(v, W, c)
    return RBMGradient(*(p - n for p, n in zip(pos, neg, strict=True)))


def flatten(grad: RBMGradient) -> torch.Tensor:
    """The parameters of a (stack of) gradient(s) as one vector per estimate: shape (R, P),
    or (P,) for a single gradient, in the order W, b, c."""
    W, b, c = grad
    lead = b.shape[:-1]
    return torch.cat([W.reshape(*lead, -1), b, c], dim=-1)


def _as_stack(estimates) -> torch.Tensor:
    E = flatten(estimates) if isinstance(estimates, RBMGradient) else torch.as_tensor(estimates)
    if E.ndim != 2 or E.shape[0] < 2:
        raise ValueError(f"estimates must stack at least 2 estimates, got shape {tuple(E.shape)}")
    return E.to(torch.float64)


def squared_bias(estimates, target) -> float:
    r"""An unbiased estimate of :math:`\lVert \mathbb E[\hat g] - g \rVert^2` from R independent
    estimates :math:`\hat g_1, \dots, \hat g_R` and the target :math:`g`.

    The plug-in :math:`\lVert \bar g - g\rVert^2` is biased upwards by the noise,
    :math:`\operatorname{tr}\operatorname{Cov}(\hat g)/R`; the U-statistic
    :math:`\frac{1}{R(R-1)}\sum_{r \ne s} (\hat g_r - g)^\top(\hat g_s - g)` is not. It can come
    out slightly negative when the bias is below the noise.
    """
    E = _as_stack(estimates)
    g = flatten(target) if isinstance(target, RBMGradient) else torch.as_tensor(target)
    if g.shape != E.shape[1:]:
        raise ValueError(f"target must have {E.shape[1]} entries, got shape {tuple(g.shape)}")
    d = E - g.to(torch.float64)
    R = len(d)
    total = d.sum(0)
    return ((total @ total - (d * d).sum()) / (R * (R - 1))).item()


def spread(estimates) -> float:
    r"""The root-mean-square distance of the estimates from their mean,
    :math:`\sqrt{\operatorname{tr}\operatorname{Cov}(\hat g)}`, with the unbiased :math:`R - 1`
    divisor: how far one estimate typically lands from the estimator's own mean."""
    E = _as_stack(estimates)
    return ((E - E.mean(0)) ** 2).sum(1).sum().div(len(E) - 1).sqrt().item()
