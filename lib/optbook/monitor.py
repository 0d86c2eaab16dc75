r"""Watching a network train (§8.4): per-layer activations, their gradients, and update sizes.

:class:`ActivationMonitor` is a context manager. Inside ``with``, a forward hook on each
monitored module records a detached copy of its output :math:`h` on every call, and a hook on
that output tensor records the gradient :math:`\partial J/\partial h` when a backward pass
reaches it; on exit all hooks are removed. Summary numbers come from small pure functions
(:func:`saturation_fraction`, :func:`zero_fraction`, :func:`update_ratios`) that take tensors
and return floats; drawing lives in :mod:`optbook.viz.monitor`.

Typical use::

    with ActivationMonitor(model) as mon:
        loss_fn(model(x), y).backward()
    mon.summary()          # {name: {"mean": ..., "std": ..., "saturated": ..., ...}}
    mon.outputs["1"][-1]   # the last output of module "1"
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ._validation import check_int, check_real

__all__ = [
    "ActivationMonitor",
    "saturation_fraction",
    "zero_fraction",
    "parameter_snapshot",
    "update_ratios",
]


def saturation_fraction(h: torch.Tensor, kind: str, threshold: float = 0.99) -> float:
    r"""The fraction of units whose output :math:`h` sits on a flat tail of its nonlinearity.

    ``kind="tanh"``: :math:`|h| \ge` ``threshold``; ``kind="sigmoid"``: :math:`h \ge`
    ``threshold`` or :math:`h \le 1 -` ``threshold``. With the default 0.99 a saturated tanh unit
    passes back at most :math:`1 - 0.99^2 \approx 2\%` of its gradient.
    """
    if kind not in ("tanh", "sigmoid"):
        raise ValueError(f"kind must be 'tanh' or 'sigmoid', got {kind!r}")
    low = 0.5 if kind == "sigmoid" else 0.0
    threshold = check_real("threshold", threshold, low=low, high=1.0, low_open=True, high_open=True)
    h = h.detach()
    if h.numel() == 0:
        return math.nan
    if kind == "tanh":
        saturated = h.abs() >= threshold
    else:
        saturated = (h >= threshold) | (h <= 1.0 - threshold)
    return saturated.double().mean().item()


def zero_fraction(h: torch.Tensor) -> float:
    """The fraction of entries exactly zero: for ReLU outputs, the units that are off (and pass
    back no gradient) for this input."""
    h = h.detach()
    return math.nan if h.numel() == 0 else (h == 0).double().mean().item()


def parameter_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of ``model``'s parameters, by name: take one before and one after a step
    and hand both to :func:`update_ratios`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def update_ratios(
    before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    r""":math:`\|\theta_{\text{after}} - \theta_{\text{before}}\| / \|\theta_{\text{before}}\|`
    per parameter (Frobenius norms), a scale-free measure of how much a step changed each one.

    A common rule of thumb is around :math:`10^{-3}` per step; much larger and training is
    unstable, much smaller and that layer hardly learns. A parameter that was exactly zero (a
    bias at initialisation) gives ``inf`` if it moved and ``nan`` if it did not.
    """
    if set(before) != set(after):
        raise ValueError(
            f"before and after must name the same parameters; only in before: "
            f"{sorted(set(before) - set(after))}, only in after: {sorted(set(after) - set(before))}"
        )
    ratios = {}
    for name, b in before.items():
        a = after[name]
        if a.shape != b.shape:
            raise ValueError(
                f"parameter {name!r} changed shape: {tuple(b.shape)} before, {tuple(a.shape)} after"
            )
        step = torch.linalg.vector_norm((a - b).double()).item()
        size = torch.linalg.vector_norm(b.double()).item()
        ratios[name] = step / size if size > 0 else (math.inf if step > 0 else math.nan)
    return ratios


_SATURATING = ((nn.Tanh, "tanh"), (nn.Sigmoid, "sigmoid"))


def _is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


class ActivationMonitor:
    r"""Record the outputs of ``model``'s modules, and the gradients with respect to them.

    Args:
        model: the network.
        modules: names from ``model.named_modules()`` to monitor, in the order wanted; by
            default every leaf module (one without children), e.g. each ``Linear`` and each
            activation of an ``nn.Sequential``.

    Inside ``with``, every forward call of a monitored module appends a detached copy of its
    output to ``outputs[name]``, and every backward pass through it appends a detached copy of
    :math:`\partial J/\partial h` (the gradient with respect to that output) to
    ``grads[name]``. Gradients arrive in backward order, so for a module called several times in
    one forward pass, ``grads[name]`` runs in the reverse order of ``outputs[name]``. Records
    persist after exit; :meth:`clear` drops them. Hooks are removed on exit, even on error, so
    run both the forward and the backward pass inside ``with``.

    The gradient is caught by a hook on the output tensor (``Tensor.register_hook``, added by the
    forward hook) rather than by ``Module.register_full_backward_hook``: the two see the same
    :math:`\partial J/\partial h`, but the full backward hook warns on every first layer (whose
    input needs no gradient) and breaks on in-place activations such as
    ``nn.ReLU(inplace=True)``, which the tensor hook handles. Monitored modules must return a
    single tensor.
    """

    def __init__(self, model: nn.Module, modules: Iterable[str] | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        named = dict(model.named_modules())
        if modules is None:
            names = [name for name, m in named.items() if _is_leaf(m)]
        else:
            if isinstance(modules, str):
                raise TypeError(
                    f"modules must be a list of module names, got the string {modules!r}"
                )
            names = list(modules)
            for name in names:
                if not isinstance(name, str):
                    raise TypeError(f"module names must be strings, got {name!r}")
                if name not in named:
                    raise ValueError(
                        f"no module named {name!r} in the model; its modules are {sorted(named)}"
                    )
            if len(set(names)) != len(names):
                raise ValueError(f"modules must not repeat a name, got {names!r}")
        if not names:
            raise ValueError("nothing to monitor: the model has no modules")
        self.model = model
        self.names: tuple[str, ...] = tuple(names)
        self.modules: dict[str, nn.Module] = {name: named[name] for name in names}
        self.outputs: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        self.grads: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        self._handles: list = []
        self._grad_handles: list = []

    # --- hooks -----------------------------------------------------------------------------

    def _forward_hook(self, name: str):
        def hook(module, args, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"ActivationMonitor records single-tensor outputs; module {name!r} "
                    f"returned {type(output).__name__}"
                )
            self.outputs[name].append(output.detach().clone())
            if output.requires_grad:
                self._grad_handles.append(output.register_hook(self._grad_hook(name)))

        return hook

    def _grad_hook(self, name: str):
        def hook(grad):
            self.grads[name].append(grad.detach().clone())  # returns None: grad passes unchanged

        return hook

    def __enter__(self) -> ActivationMonitor:
        if self._handles:
            raise RuntimeError("this ActivationMonitor is already active")
        self._handles = [
            module.register_forward_hook(self._forward_hook(name))
            for name, module in self.modules.items()
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles + self._grad_handles:
            handle.remove()
        self._handles, self._grad_handles = [], []

    @property
    def active(self) -> bool:
        """True inside ``with`` (while the hooks are registered)."""
        return bool(self._handles)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        for name in self.names:
            self.outputs[name].clear()
            self.grads[name].clear()

    # --- summaries ---------------------------------------------------------------------------

    def summary(self, *, call: int = -1, threshold: float = 0.99) -> dict[str, dict[str, float]]:
        r"""Per monitored module, numbers about its recorded output :math:`h` and gradient.

        ``call`` picks the record (``-1``: the latest; for gradients, indexing is into
        ``grads[name]``). Keys, each a float (``nan`` where there is no record or it does not
        apply):

        * ``mean``, ``std`` of :math:`h`; ``grad_mean``, ``grad_std`` of
          :math:`\partial J/\partial h`;
        * ``saturated``: :func:`saturation_fraction` for ``nn.Tanh`` and ``nn.Sigmoid``
          modules with ``threshold``, ``nan`` for others;
        * ``zeros``: :func:`zero_fraction` of :math:`h` (the dead units of a ReLU).
        """
        call = check_int("call", call)
        threshold = check_real(
            "threshold", threshold, low=0.5, high=1.0, low_open=True, high_open=True
        )
        out = {}
        for name in self.names:
            h = self._pick(self.outputs[name], call, name, "outputs")
            g = self._pick(self.grads[name], call, name, "grads")
            module = self.modules[name]
            kind = next((k for cls, k in _SATURATING if isinstance(module, cls)), None)
            out[name] = {
                "mean": _stat(h, torch.mean),
                "std": _stat(h, torch.std),
                "saturated": (
                    saturation_fraction(h, kind, threshold)
                    if kind is not None and h is not None
                    else math.nan
                ),
                "zeros": zero_fraction(h) if h is not None else math.nan,
                "grad_mean": _stat(g, torch.mean),
                "grad_std": _stat(g, torch.std),
            }
        return out

    @staticmethod
    def _pick(records, call, name, what):
        if not records:
            return None
        if not -len(records) <= call < len(records):
            raise IndexError(f"call={call} is out of range: {what}[{name!r}] has {len(records)}")
        return records[call]


def _stat(x: torch.Tensor | None, fn) -> float:
    if x is None or x.numel() < (2 if fn is torch.std else 1):
        return math.nan
    return fn(x.double()).item()
