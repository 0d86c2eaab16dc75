"""Optimisers written as the book's algorithms (``torch.optim.Optimizer`` subclasses)."""

from .adamw import AdamW, adamw_update_, decay_weights_
from .adaptive import (
    AdaDelta,
    AdaGrad,
    Adam,
    RMSProp,
    accumulate_squares_,
    adadelta_update_,
    adagrad_update_,
    adam_update_,
    rms,
    rmsprop_update_,
)
from .lion import Lion, lion_update_
from .muon import (
    NS_COEFFICIENTS,
    Muon,
    muon_lr_scale,
    muon_update_,
    newton_schulz,
    newton_schulz_polynomial,
)
from .radam import RAdam, radam_rectification, radam_rho, radam_update_
from .sam import SAM, global_norm, sam_perturbation
from .sgd import SGD, sgd_update_
from .warmup import WarmupCosineLR, warmup_cosine

__all__ = [
    "SGD",
    "sgd_update_",
    "AdaGrad",
    "RMSProp",
    "AdaDelta",
    "Adam",
    "accumulate_squares_",
    "rms",
    "adagrad_update_",
    "rmsprop_update_",
    "adadelta_update_",
    "adam_update_",
    "AdamW",
    "adamw_update_",
    "decay_weights_",
    "WarmupCosineLR",
    "warmup_cosine",
    "Lion",
    "lion_update_",
    "SAM",
    "sam_perturbation",
    "global_norm",
    "Muon",
    "muon_update_",
    "newton_schulz",
    "newton_schulz_polynomial",
    "muon_lr_scale",
    "NS_COEFFICIENTS",
    "RAdam",
    "radam_update_",
    "radam_rho",
    "radam_rectification",
]
