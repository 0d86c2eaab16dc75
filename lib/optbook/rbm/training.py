r"""Training an RBM by CD-k or PCD and recording its *exact* log-likelihood as it learns.

:func:`train` runs minibatch stochastic gradient ascent with the gradient estimates of
:meth:`optbook.rbm.RBM.cd_step` (CD-k), :meth:`~optbook.rbm.RBM.pcd_step` (persistent CD) or,
as a control without sampling, the exact gradient of each minibatch's mean log-likelihood
(:meth:`~optbook.rbm.RBM.exact_step`) and,
every ``eval_every`` epochs, evaluates the exact mean log-likelihood
:math:`\tfrac1N \sum_n \log p(v_n) = -\tfrac1N \sum_n F(v_n) - \log Z` of one or more data sets
(one :math:`\log Z` per checkpoint, by enumeration). It returns an :class:`RBMHistory` of arrays
and draws nothing. :func:`from_sklearn` turns a fitted :class:`sklearn.neural_network.BernoulliRBM`
into an :class:`~optbook.rbm.RBM`, so that its likelihood can be computed exactly too.

Symbol map: :math:`\epsilon` = ``lr`` (a number, or a function of the epoch), :math:`k` = ``k``,
:math:`m` = ``batch_size``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_int, check_real
from optbook.rbm.diagnostics import reconstruction_error
from optbook.rbm.model import RBM, cd_gradient, exact_gradient

__all__ = ["RBMHistory", "train", "from_sklearn"]

_METHODS = ("cd", "pcd", "exact")


@dataclass(frozen=True)
class RBMHistory:
    """What :func:`train` recorded at each checkpoint (index 0 is before any update).

    Attributes:
        epochs: the epoch after which each checkpoint was taken (0, ``eval_every``, ...).
        updates: parameter updates made before each checkpoint.
        gibbs_steps: Gibbs steps run per negative-phase chain before each checkpoint
            (``k`` per update), a measure of the sampling cost.
        log_likelihood: name of each evaluation set → exact mean :math:`\\log p(v)` in nats.
        log_partition: :math:`\\log Z` at each checkpoint.
        reconstruction_error: mean squared reconstruction error per example of the training
            data (see :func:`optbook.rbm.diagnostics.reconstruction_error`).
    """

    epochs: np.ndarray
    updates: np.ndarray
    gibbs_steps: np.ndarray
    log_likelihood: dict[str, np.ndarray]
    log_partition: np.ndarray
    reconstruction_error: np.ndarray


def _as_data(X, n_visible: int, name: str) -> torch.Tensor:
    X = torch.as_tensor(X, dtype=torch.float64)
    if X.ndim != 2 or X.shape[1] != n_visible or len(X) == 0:
        raise ValueError(
            f"{name} must have shape (n, {n_visible}) with n >= 1, got {tuple(X.shape)}"
        )
    if not bool(((X == 0) | (X == 1)).all()):
        raise ValueError(f"{name} must be binary (0 or 1), got values {X.unique()[:5].tolist()}...")
    return X


def _rate(lr, epoch: int) -> float:
    value = lr(epoch) if callable(lr) else lr
    return check_real(f"lr at epoch {epoch}", value, low=0.0, low_open=True)


def _step(rbm: RBM, v: torch.Tensor, method: str, k: int, lr: float) -> None:
    """The update of ``rbm.cd_step``, ``rbm.pcd_step`` or ``rbm.exact_step`` (the same arithmetic
    and random draws) on a minibatch of the data :func:`train` has validated once, without
    checking every argument again on each of thousands of updates."""
    W, b, c = rbm.params
    if method == "exact":
        grad = exact_gradient(v, W, b, c)
    elif method == "cd":
        grad, _ = cd_gradient(v, W, b, c, k, rbm.generator)
    else:
        start = v if rbm.chains is None else rbm.chains
        grad, rbm.chains = cd_gradient(v, W, b, c, k, rbm.generator, start)
    rbm._apply(grad, lr)


def train(
    rbm: RBM,
    X,
    *,
    method: str = "cd",
    k: int = 1,
    lr: float | Callable[[int], float] = 0.1,
    epochs: int = 10,
    batch_size: int = 20,
    seed: int = 0,
    n_chains: int | None = None,
    eval_sets: Mapping[str, object] | None = None,
    eval_every: int = 1,
    callback: Callable[[int, RBM], None] | None = None,
) -> RBMHistory:
    r"""Train ``rbm`` in place on the binary rows of ``X`` and record its exact log-likelihood.

    Each epoch visits ``X`` in a fresh order drawn from a generator seeded with ``seed``
    (:func:`optbook.data.minibatches`), and every minibatch of ``batch_size`` rows makes one
    update :math:`\theta \leftarrow \theta + \epsilon \hat g`, where :math:`\hat g` is the CD-k
    (``method="cd"``) or PCD-k (``method="pcd"``) estimate, or with ``method="exact"`` the exact
    gradient of the minibatch's mean log-likelihood (ordinary minibatch SGD, the control without
    sampling bias on the same minibatches; ``k`` is then unused and ``gibbs_steps`` stays 0).
    ``lr`` is a number or a function ``epoch -> rate`` (epochs counted from 0). The Gibbs samples
    come from ``rbm.generator``.

    For PCD, ``n_chains`` persistent chains start at ``n_chains`` rows of ``X`` drawn without
    replacement (default: as :meth:`~optbook.rbm.RBM.pcd_step` does, the first minibatch);
    chains already in ``rbm.chains`` are kept when ``n_chains`` is ``None``.

    ``eval_sets`` maps names to binary data sets whose exact mean log-likelihood is recorded
    at epoch 0 and every ``eval_every`` epochs (and after the last); default ``{"train": X}``.
    Each checkpoint enumerates :math:`2^{\min(D, F)}` states once, so keep the smaller layer
    small (:data:`optbook.rbm.MAX_ENUMERATED_UNITS`). ``callback(epoch, rbm)``, if given, is
    called after every epoch (epoch counted from 1), e.g. to keep copies of the parameters.
    """
    if not isinstance(rbm, RBM):
        raise TypeError(f"rbm must be an optbook.rbm.RBM, got {rbm!r}")
    X = _as_data(X, rbm.n_visible, "X")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    k = check_int("k", k, low=1)
    epochs = check_int("epochs", epochs, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_int("seed", seed, low=0)
    eval_every = check_int("eval_every", eval_every, low=1)
    if not callable(lr):
        check_real("lr", lr, low=0.0, low_open=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    if n_chains is not None:
        if method != "pcd":
            raise ValueError(f"n_chains is only used by method='pcd', got method={method!r}")
        n_chains = check_int("n_chains", n_chains, low=1, high=len(X))
    sets = {"train": X} if eval_sets is None else dict(eval_sets)
    if not sets:
        raise ValueError("eval_sets must name at least one data set")
    sets = {name: _as_data(v, rbm.n_visible, f"eval_sets[{name!r}]") for name, v in sets.items()}

    generator = torch.Generator().manual_seed(seed)
    if n_chains is not None:
        rbm.chains = X[torch.randperm(len(X), generator=generator)[:n_chains]].clone()

    epochs_at, updates_at, ll, log_z, recon = [], [], {n: [] for n in sets}, [], []
    updates = 0

    def checkpoint(epoch: int) -> None:
        with torch.no_grad():
            lz = rbm.log_partition()
            for name, v in sets.items():
                ll[name].append((-rbm.free_energy(v) - lz).mean().item())
            recon.append(reconstruction_error(X, *rbm.params).item())
        epochs_at.append(epoch)
        updates_at.append(updates)
        log_z.append(lz.item())

    checkpoint(0)
    for epoch in range(epochs):
        rate = _rate(lr, epoch)
        # the minibatches of optbook.data.minibatches (the same order from the same generator),
        # without the labels it would index too
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            _step(rbm, X[order[start : start + batch_size]], method, k, rate)
            updates += 1
        if callback is not None:
            callback(epoch + 1, rbm)
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            checkpoint(epoch + 1)

    updates_arr = np.asarray(updates_at)
    return RBMHistory(
        epochs=np.asarray(epochs_at),
        updates=updates_arr,
        gibbs_steps=(0 if method == "exact" else k) * updates_arr,
        log_likelihood={n: np.asarray(v) for n, v in ll.items()},
        log_partition=np.asarray(log_z),
        reconstruction_error=np.asarray(recon),
    )


def from_sklearn(model) -> RBM:
    """An :class:`~optbook.rbm.RBM` with the parameters of a fitted scikit-learn ``BernoulliRBM``.

    scikit-learn stores :math:`W^\\top` as ``components_`` (``n_components`` × ``n_features``),
    :math:`c` as ``intercept_hidden_`` and :math:`b` as ``intercept_visible_``; its energy is
    the same as ours. The copy is float64 and independent of ``model``.
    """
    names = ("components_", "intercept_hidden_", "intercept_visible_")
    missing = [n for n in names if not hasattr(model, n)]
    if missing:
        raise ValueError(f"model must be a fitted BernoulliRBM; it has no {', '.join(missing)}")
    W_T = np.asarray(model.components_, dtype=np.float64)
    c = np.asarray(model.intercept_hidden_, dtype=np.float64)
    b = np.asarray(model.intercept_visible_, dtype=np.float64)
    if W_T.ndim != 2 or c.shape != (W_T.shape[0],) or b.shape != (W_T.shape[1],):
        raise ValueError(
            f"inconsistent shapes: components_ {W_T.shape}, intercept_hidden_ {c.shape}, "
            f"intercept_visible_ {b.shape}"
        )
    rbm = RBM(W_T.shape[1], W_T.shape[0], init_std=0.0)
    rbm.W = torch.tensor(W_T.T.copy())
    rbm.b = torch.tensor(b.copy())
    rbm.c = torch.tensor(c.copy())
    return rbm
