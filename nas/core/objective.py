"""The run's objective: the one function that turns a child's measurements into its reward.

Every controller is told this reward, and the run's study records it as the trial's value, so
what a controller optimises is exactly what ``nas status``, ``nas report`` and the dashboard
show. Without a cost the reward *is* the validation accuracy (%, top-1). With a cost metric
and a target it is MnasNet's soft-constrained objective (Tan et al. 2019)::

    reward = accuracy x (cost / cost_target) ** cost_weight        (cost_weight = -0.07)

so a child twice as expensive as the target loses ``1 - 2 ** -0.07``, about 5 % of its
accuracy, and a cheaper one gains as much. The reward stays on the accuracy's scale (a
percentage): an accuracy-equivalent number. A child that failed has no reward (``None``); a
controller that needs a number for it uses :data:`FAILED_REWARD`, the worst reward there is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nas.core.errors import NasError
from nas.core.metrics import metric_name

#: Metrics a cost may be taken from (what evaluators measure besides accuracy); ``flops``, the
#: old name of ``macs``, is accepted too (:func:`nas.core.metrics.metric_name`).
COST_METRICS = ("macs", "params", "latency_ms")
#: The early-stopping rules a search can apply to its children (``--early-stop``): asynchronous
#: successive halving, Hyperband, and the median rule (see ``nas.evaluators.early_stop``).
PRUNERS = ("sha", "median", "hyperband")
#: What a controller that needs a number counts a failed child as: no accuracy at all.
FAILED_REWARD = 0.0


@dataclass(frozen=True)
class Objective:
    """What a search maximises; see the module docstring."""

    cost: str | None = None  # a cost metric to trade against accuracy: one of COST_METRICS
    cost_target: float | None = None  # the cost at which the reward is the plain accuracy
    cost_weight: float = -0.07  # MnasNet's exponent w in accuracy x (cost / target) ** w
    #: the metric the reward is: the accuracy, or what an evaluator that does not train
    #: measures instead (a zero-cost proxy's score, which no cost can be traded against)
    metric: str = "accuracy"

    def __post_init__(self) -> None:
        if self.cost is not None:  # a run saved when multiply-adds were called flops
            object.__setattr__(self, "cost", metric_name(self.cost))
        if self.metric != "accuracy" and self.cost is not None:
            raise NasError(f"--cost trades accuracy against a cost; this run's result is "
                           f"{self.metric!r}, not an accuracy: drop --cost")
        if self.cost is not None and self.cost not in COST_METRICS:
            raise NasError(f"unknown cost metric {self.cost!r}; known: {', '.join(COST_METRICS)}")
        if (self.cost is None) != (self.cost_target is None):
            raise NasError("give both --cost and --cost-target to trade accuracy against cost")
        if self.cost_target is not None and not self.cost_target > 0:
            raise NasError(f"--cost-target must be positive, got {self.cost_target}")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics the reward reads (an evaluator computes costs only when asked)."""
        return (self.metric,) if self.cost is None else (self.metric, self.cost)

    def reward(self, metrics: Mapping[str, float] | None) -> float | None:
        """The reward of a child that measured ``metrics``; None when it failed (no metrics,
        or an accuracy that is not a finite number)."""
        if metrics is None:
            return None
        if self.metric not in metrics:
            if self.metric == "accuracy":
                raise NasError("a result must have an 'accuracy' metric (validation top-1, %)")
            raise NasError(f"a result must have a {self.metric!r} metric")
        accuracy = float(metrics[self.metric])
        if not math.isfinite(accuracy):
            return None
        if self.cost is None or self.cost_target is None:
            return accuracy
        if self.cost not in metrics:
            raise NasError(f"the reward needs metric {self.cost!r}; this result has only "
                           f"{', '.join(sorted(metrics))}")
        ratio = max(float(metrics[self.cost]), 1e-12) / self.cost_target
        return accuracy * ratio**self.cost_weight

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for logs and reports."""
        if self.metric != "accuracy":
            return f"{self.metric} (the evaluator's measure, not an accuracy)"
        if self.cost is None:
            return "validation accuracy (%)"
        return (f"validation accuracy x ({self.cost} / {self.cost_target:g}) ** "
                f"{self.cost_weight:g}")
