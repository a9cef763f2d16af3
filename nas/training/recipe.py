"""How to train a child: the recipe (optimiser, schedule, regularisation, seed) and the budget."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nas.core.config import make_config
from nas.core.errors import NasError

OPTIMIZERS = ("sgd", "adamw")


@dataclass
class Recipe:
    """How to train: optimiser, schedule, regularisation, batch size and seed.

    The defaults are the standard CIFAR ResNet recipe (SGD with Nesterov momentum, peak lr 0.1
    per 128 images, weight decay 5e-4, cosine decay after a short linear warm-up), which trains
    every space here well without tuning. ``None`` means "the optimiser's own default".
    """

    optimizer: str = "sgd"  # "sgd" (momentum, optionally Nesterov) or "adamw"
    lr: float | None = None  # peak lr; None: 0.1 x batch_size / 128 (SGD) or 2e-3 (AdamW)
    momentum: float = 0.9  # SGD momentum (AdamW uses its betas)
    nesterov: bool = True
    weight_decay: float | None = None  # None: 5e-4 (SGD) or 0.05 (AdamW); never on biases/BN
    label_smoothing: float = 0.0
    batch_size: int = 128
    warmup_epochs: float = 1.0  # linear warm-up from 0, capped at a fifth of the budget
    seed: int = 0  # weights (train_genome), batch order, augmentation, dropout
    augment: bool | None = None  # crop + flip; None: the dataset's choice (DataSplits.augment)
    grad_clip: float | None = None  # clip the global gradient norm to this, if set
    eval_batch_size: int | None = None  # None: 2 x batch_size (inference needs less memory)
    amp: bool | None = None  # mixed precision; None: the device's default (nas.device.amp_dtype)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise NasError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        checks = [("batch_size", self.batch_size, self.batch_size >= 1),
                  ("lr", self.lr, self.lr is None or self.lr > 0),
                  ("weight_decay", self.weight_decay,
                   self.weight_decay is None or self.weight_decay >= 0),
                  ("warmup_epochs", self.warmup_epochs, self.warmup_epochs >= 0),
                  ("label_smoothing", self.label_smoothing, 0 <= self.label_smoothing < 1),
                  ("momentum", self.momentum, 0 <= self.momentum < 1),
                  ("grad_clip", self.grad_clip, self.grad_clip is None or self.grad_clip > 0),
                  ("eval_batch_size", self.eval_batch_size,
                   self.eval_batch_size is None or self.eval_batch_size >= 1)]
        for name, value, ok in checks:
            if not ok:
                raise NasError(f"recipe {name} cannot be {value!r}")

    @property
    def peak_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.1 * self.batch_size / 128 if self.optimizer == "sgd" else 2e-3

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 5e-4 if self.optimizer == "sgd" else 0.05

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """A recipe from JSON data: unknown fields and wrongly typed values are one line."""
        return make_config(cls, data, "recipe")


@dataclass
class Budget:
    """When to stop: after ``epochs`` (fractions allowed), ``steps`` or ``seconds`` of training,
    whichever comes first. Seconds count the training loop, not evaluation."""

    epochs: float | None = None
    steps: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        given = {k: v for k, v in asdict(self).items() if v is not None}
        if not given:
            raise NasError("a training budget needs --epochs, --steps or --seconds")
        for name, value in given.items():
            if not value > 0 or not math.isfinite(value):
                raise NasError(f"a training budget must be positive: {name} = {value}")

    def total_steps(self, steps_per_epoch: int) -> int | None:
        """Optimiser steps the budget allows, or None when only seconds bound it."""
        limits = [self.steps] if self.steps is not None else []
        if self.epochs is not None:
            limits.append(max(1, math.ceil(self.epochs * steps_per_epoch)))
        return min(limits) if limits else None
