"""What training measured: the :class:`Result` of a child, and the :class:`Progress` a
progress bar sees while it trains."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Status = Literal["ok", "diverged", "oom", "error", "pruned"]
LATENCY_BATCH = 64  # the throughput batch for latency_ms_batch


@dataclass
class Result:
    """What training a child measured. Accuracies are percentages (0-100)."""

    status: Status = "ok"  # ok | diverged | oom | error | pruned
    message: str = ""  # why, when status is not ok
    val_top1: list[float] = field(default_factory=list)  # per evaluation (each epoch, last)
    val_top5: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    val_loss: list[float] = field(default_factory=list)
    best_val_top1: float = 0.0  # the reward's accuracy; 0 when nothing was evaluated
    final_val_top1: float = 0.0
    test_top1: float | None = None  # only with evaluate_test (final reports)
    epochs: float = 0.0  # epochs trained (steps / steps per epoch)
    steps: int = 0
    train_seconds: float = 0.0  # the training loop only
    images_per_second: float = 0.0  # training images per second of the loop
    params: int = 0
    macs: int = 0  # multiply-accumulates per image (see train and train_genome)
    latency_ms_b1: float = 0.0  # median inference latency, batch 1, on `device`; 0: not measured
    latency_ms_batch: float = 0.0  # median latency of one batch of `latency_batch` images
    device: str = ""
    latency_batch: int = LATENCY_BATCH

    def metrics(self) -> dict[str, float]:
        """Flat numbers for controllers and stores: ``accuracy`` is the best validation top-1
        (the test accuracy is deliberately absent: it is for final reports only)."""
        return {
            "accuracy": self.best_val_top1,
            "final_accuracy": self.final_val_top1,
            "top5": max(self.val_top5, default=0.0),
            "macs": float(self.macs),
            "params": float(self.params),
            "latency_ms": self.latency_ms_b1,
            "latency_ms_batch": self.latency_ms_batch,
            "train_seconds": self.train_seconds,
            "images_per_second": self.images_per_second,
            "epochs": self.epochs,
            "steps": float(self.steps),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line for logs."""
        head = f"{self.status}: val top-1 {self.best_val_top1:.2f}% (final " \
               f"{self.final_val_top1:.2f}%)"
        if self.test_top1 is not None:
            head += f", test {self.test_top1:.2f}%"
        head += (f", {self.epochs:.2f} epochs in {self.train_seconds:.1f}s "
                 f"({self.images_per_second:.0f} img/s)")
        return head + (f" -- {self.message}" if self.message else "")


@dataclass
class Progress:
    """What the progress hook sees, a few times a second (for progress bars)."""

    epoch: float  # epochs done, fractional
    step: int
    total_steps: int | None  # None when only seconds bound the budget
    elapsed: float  # seconds of training so far
    seconds: float | None  # the time budget, if any
    loss: float  # mean training loss of the current epoch so far
    lr: float
    images_per_second: float
    val_top1: float | None  # the last evaluation's accuracy, if any
