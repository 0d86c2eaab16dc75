r"""Small computations behind the debugging strategies of §11.5.

Symbol map: :math:`K` = ``n_classes``, :math:`\boldsymbol z` = a row of ``logits``,
:math:`\hat p_k = \operatorname{softmax}(\boldsymbol z)_k` the model's probabilities,
:math:`\hat y = \arg\max_k \hat p_k` its prediction and :math:`\pi_k` the frequency of class
:math:`k` in ``targets``.

* :func:`confident_mistakes` ranks the wrongly classified examples by the probability
  :math:`\hat p_{\hat y}` the model gave its wrong answer ("visualise the worst mistakes").
* :func:`chance_levels` gives the loss and error of predictors that ignore the input, the
  reference every first check compares with: the cross-entropy of uniform predictions is
  :math:`\ln K`, that of predicting the class frequencies is their entropy
  :math:`H(\pi) = -\sum_k \pi_k \ln \pi_k`.
* :func:`diagnose` turns a training error and a test error into the section's reasoning
  ("reason about software using train and test error") as a verdict and a next step.

Everything here computes and returns numbers or strings; drawing lives in
:mod:`optbook.viz.debugging`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from optbook._validation import check_int, check_real

__all__ = ["Mistakes", "confident_mistakes", "ChanceLevels", "chance_levels", "Diagnosis", "diagnose"]


def _check_logits_targets(logits, targets) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a tensor of shape (n, K) with K >= 2, got {shape}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got {logits.dtype}")
    if (
        not isinstance(targets, torch.Tensor)
        or targets.ndim != 1
        or targets.shape[0] != logits.shape[0]
    ):
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(
            f"targets must be a tensor of shape ({logits.shape[0]},) matching logits, got {shape}"
        )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer class indices, got {targets.dtype}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[1]):
        raise ValueError(
            f"targets must lie in 0..{logits.shape[1] - 1}, got values from "
            f"{int(targets.min())} to {int(targets.max())}"
        )
    return logits.detach(), targets.detach()


@dataclass(frozen=True)
class Mistakes:
    """Wrongly classified examples, most confident first.

    Attributes:
        index: positions of the examples in the data set, shape ``(m,)``.
        predicted: the wrong predictions :math:`\\hat y`.
        target: the labels the examples carry.
        confidence: :math:`\\hat p_{\\hat y}`, the probability given to the wrong answer.
        target_probability: :math:`\\hat p_y`, the probability left for the label.
        n_wrong: how many examples were wrong in all (``m`` may be fewer when ``k`` is given).
    """

    index: torch.Tensor
    predicted: torch.Tensor
    target: torch.Tensor
    confidence: torch.Tensor
    target_probability: torch.Tensor
    n_wrong: int

    def __len__(self) -> int:
        return len(self.index)


def confident_mistakes(logits, targets, k: int | None = None) -> Mistakes:
    r"""The misclassified examples sorted by decreasing confidence :math:`\hat p_{\hat y}`.

    ``logits`` is ``(n, K)``, ``targets`` holds integer labels ``(n,)``. Ties in confidence
    keep the data set's order (a stable sort). ``k`` keeps only the ``k`` most confident; by
    default all mistakes are returned. An example whose logits contain NaN is counted as a
    mistake with confidence NaN and sorted last.
    """
    logits, targets = _check_logits_targets(logits, targets)
    if k is not None:
        k = check_int("k", k, low=0)
    p = torch.softmax(logits.double(), dim=1)
    confidence, predicted = p.max(dim=1)
    bad = ~torch.isfinite(logits).all(dim=1)
    wrong = torch.nonzero((predicted != targets) | bad).flatten()
    conf = torch.where(bad[wrong], -math.inf, confidence[wrong])
    order = torch.sort(conf, descending=True, stable=True).indices
    wrong = wrong[order]
    if k is not None:
        wrong = wrong[:k]
    return Mistakes(
        index=wrong,
        predicted=predicted[wrong],
        target=targets[wrong],
        confidence=confidence[wrong],
        target_probability=p[wrong, targets[wrong]],
        n_wrong=int(((predicted != targets) | bad).sum()),
    )


@dataclass(frozen=True)
class ChanceLevels:
    r"""What a predictor that ignores its input achieves.

    Attributes:
        uniform_loss: :math:`\ln K`, the cross-entropy of :math:`\hat p_k = 1/K` (on any labels).
        prior_loss: :math:`H(\pi)`, the cross-entropy of predicting the class frequencies, the
            lowest any input-independent predictor can reach on these labels.
        uniform_error: :math:`1 - 1/K`, the expected error of guessing uniformly.
        majority_error: :math:`1 - \max_k \pi_k`, the error of always answering the most
            frequent class.
    """

    uniform_loss: float
    prior_loss: float
    uniform_error: float
    majority_error: float


def chance_levels(targets, n_classes: int) -> ChanceLevels:
    r"""Chance-level loss and error for integer labels ``targets`` among ``n_classes`` classes.

    A freshly initialised classifier whose logits are small predicts nearly uniformly, so its
    cross-entropy should be close to ``uniform_loss`` = :math:`\ln K` (the check of §11.5, "fit
    a tiny dataset"); a training error that stays near ``majority_error`` means nothing was
    learned.
    """
    n_classes = check_int("n_classes", n_classes, low=2)
    if not isinstance(targets, torch.Tensor) or targets.ndim != 1 or targets.numel() == 0:
        raise ValueError(f"targets must be a non-empty 1-D tensor of labels, got {targets!r}")
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer class indices, got {targets.dtype}")
    if int(targets.min()) < 0 or int(targets.max()) >= n_classes:
        raise ValueError(
            f"targets must lie in 0..{n_classes - 1}, got values from {int(targets.min())} "
            f"to {int(targets.max())}"
        )
    pi = torch.bincount(targets, minlength=n_classes).double() / targets.numel()
    nz = pi[pi > 0]
    return ChanceLevels(
        uniform_loss=math.log(n_classes),
        prior_loss=float(-(nz * nz.log()).sum()),
        uniform_error=1.0 - 1.0 / n_classes,
        majority_error=1.0 - float(pi.max()),
    )


@dataclass(frozen=True)
class Diagnosis:
    """A verdict on a pair of errors and the experiment to run next."""

    verdict: str
    next_step: str


def diagnose(
    train_error: float,
    test_error: float,
    *,
    chance_error: float,
    target_error: float,
    max_gap: float,
) -> Diagnosis:
    r"""Read a training and a test error the way §11.5 suggests.

    Let :math:`e_{\text{tr}}` = ``train_error``, :math:`e_{\text{te}}` = ``test_error``,
    :math:`e_0` = ``chance_error`` (e.g. :attr:`ChanceLevels.majority_error`), :math:`e^*` =
    ``target_error`` (the training error you would accept) and :math:`g` = ``max_gap`` (the
    generalisation gap you would accept). The rules, first match wins:

    1. :math:`e_{\text{tr}} \ge e_0 - (e_0 - e^*)/4`: training barely beats chance, so suspect
       the software before the model: *not learning*.
    2. :math:`e_{\text{te}} \ge e_0 - (e_0 - e^*)/4` while training fits: a model that has
       learned anything does not score at chance on data from the same distribution, so
       suspect the evaluation code: *evaluation bug*.
    3. :math:`e_{\text{tr}} > e^*`: *underfitting*, or a bug that only slows learning.
    4. :math:`e_{\text{te}} - e_{\text{tr}} > g`: *overfitting*, or an evaluation that differs
       from training (different preprocessing, a wrong checkpoint).
    5. Otherwise *healthy*.

    The quarter of the way from chance to target is a heuristic margin, not a law; the rules
    encode the section's reasoning, they do not replace looking at the model.
    """
    train_error = check_real("train_error", train_error, low=0.0, high=1.0)
    test_error = check_real("test_error", test_error, low=0.0, high=1.0)
    chance_error = check_real("chance_error", chance_error, low=0.0, high=1.0, low_open=True)
    target_error = check_real("target_error", target_error, low=0.0, high=1.0)
    max_gap = check_real("max_gap", max_gap, low=0.0, high=1.0)
    if not target_error < chance_error:
        raise ValueError(
            f"target_error must be below chance_error, got {target_error!r} >= {chance_error!r}"
        )
    near_chance = chance_error - (chance_error - target_error) / 4
    if train_error >= near_chance:
        return Diagnosis(
            "not learning: suspect a bug",
            "fit a tiny data set; check the loss at initialisation and the gradients",
        )
    if test_error >= near_chance:
        return Diagnosis(
            "evaluation bug",
            "run training examples through the evaluation code; check the checkpoint and "
            "the preprocessing",
        )
    if train_error > target_error:
        return Diagnosis(
            "underfitting (or a bug)",
            "raise capacity, tune the learning rate, train longer; fit a tiny data set",
        )
    if test_error - train_error > max_gap:
        return Diagnosis(
            "overfitting (or an evaluation bug)",
            "regularise or get more data; evaluate training examples through the test code",
        )
    return Diagnosis("healthy", "tune hyperparameters for the last few points")
