"""The ``supernet`` evaluator's options and its methods' names (no torch: cheap to import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The one-shot methods, in the order ``--help`` and ``nas evaluators`` list them.
METHODS: dict[str, str] = {
    "spos": "single-path one-shot (Guo et al. 2019; random search with weight sharing, Li & "
            "Talwalkar 2019): train on uniformly sampled paths, then any controller searches "
            "the trained supernet",
    "enas": "ENAS (Pham et al. 2018): the rl controller's paths train the supernet between its "
            "policy updates",
    "darts": "DARTS, first order (Liu et al. 2019): every path, softmax-weighted; architecture "
             "parameters trained on the validation split",
    "gdas": "GDAS (Dong & Yang 2019): one Gumbel-softmax path per step; architecture parameters "
            "trained on the validation split",
}
#: Methods with architecture parameters (they weight every path, or sample a hard one).
ARCH_METHODS = ("darts", "gdas")


@dataclass
class SupernetConfig:
    """How a supernet is trained and how a path through it is scored (``--evaluator-option``).

    Defaults are DARTS's CIFAR-10 search settings (Liu et al. 2019) where a method has them,
    GDAS's for its temperature; see ``docs/oneshot.md`` for CPU-sized settings.
    """

    method: str = "spos"  # spos, enas, darts or gdas (METHODS)
    epochs: int = 50  # supernet training passes over the training split (spos, darts, gdas)
    steps_per_epoch: int | None = None  # cap on the steps of an epoch; None: one full pass
    batch_size: int = 64  # training images per step, over all workers (each takes its share)
    lr: float = 0.025  # weights: SGD lr, cosine-annealed to min_lr (enas: constant)
    min_lr: float = 0.001  # the cosine schedule's floor (DARTS)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 3e-4  # on conv and linear weights (not biases or batch-norm scales)
    grad_clip: float = 5.0  # the weights' gradient norm is clipped to this (DARTS)
    arch_lr: float = 3e-4  # darts, gdas: Adam's lr on the architecture parameters
    arch_weight_decay: float = 1e-3  # darts, gdas: their weight decay (Adam betas 0.5, 0.999)
    tau_max: float = 10.0  # gdas: Gumbel-softmax temperature of the first epoch ...
    tau_min: float = 0.1  # ... annealed linearly to this at the last (Dong & Yang 2019)
    bn_batches: int = 4  # training batches that recalibrate batch norm before a score (0: none)
    val_batches: int = 4  # validation batches a score reads (0: the whole validation split)
    score_batch_size: int = 256  # images per batch when recalibrating and scoring
    candidates: int = 4  # darts, gdas: genomes proposed after the derived one
    enas_batch: int = 5  # enas: paths judged per round (sampled by the rl controller)
    enas_steps: int = 20  # enas: supernet steps per round, on the training split, over its paths
    partial_channels: int = 1  # darts, gdas: PC-DARTS's K, edges mix 1/K of the channels
    workers: int | None = None  # data-parallel ranks; None: one per GPU given, else 1 in-process
    seed: int | None = None  # the supernet's weights, paths and batches; None: the run's seed

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; known: {', '.join(METHODS)}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "score_batch_size": self.score_batch_size, "enas_batch": self.enas_batch,
                    "enas_steps": self.enas_steps, "partial_channels": self.partial_channels,
                    "lr": self.lr, "arch_lr": self.arch_lr, "grad_clip": self.grad_clip,
                    "tau_min": self.tau_min}
        for name, value in [*positive.items(), ("steps_per_epoch", self.steps_per_epoch),
                            ("workers", self.workers)]:
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        for name, value in {"min_lr": self.min_lr, "weight_decay": self.weight_decay,
                            "arch_weight_decay": self.arch_weight_decay,
                            "bn_batches": self.bn_batches, "val_batches": self.val_batches,
                            "candidates": self.candidates}.items():
            if value < 0:
                raise ValueError(f"{name} cannot be negative, got {value}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.tau_max < self.tau_min:
            raise ValueError(f"tau_max ({self.tau_max}) must be at least tau_min "
                             f"({self.tau_min})")
        if self.partial_channels > 1 and self.method not in ARCH_METHODS:
            raise ValueError(f"partial_channels is PC-DARTS's memory saving for the all-paths "
                             f"methods ({', '.join(ARCH_METHODS)}); a {self.method} path must "
                             f"be its fixed network: use partial_channels=1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["ARCH_METHODS", "METHODS", "SupernetConfig"]
