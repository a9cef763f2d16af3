"""The ``proxy`` evaluator: a child's result is a zero-cost proxy's score, not a training.

Each child's network is built with weights from a seed and scored at initialisation on one
seeded minibatch of the run's training images (:mod:`nas.evaluators.proxies`: MeCo, synflow,
NASWOT, SNIP, ...), on CPU, in a fraction of a second: ``nas search --space nasnet --evaluator
proxy`` ranks thousands of cells in minutes. The score is recorded as what it is: the child's
metrics are ``{<proxy>: score}`` (with ``params`` / ``macs`` when the run asks for costs), the
evaluation's :attr:`~nas.evaluators.base.Evaluation.measure` names the proxy, and the run's
reward, the value every controller is told and the study records, is the score itself
(:class:`~nas.core.objective.Objective` with ``metric=<proxy>``), never an accuracy. A higher
score predicts a more accurate network; how well, per proxy, ``nas proxies`` measures against
NAS-Bench-201 (MeCo, the default, ranks best there: Spearman 0.92 on 1,000 cells).

A network that does not fit the images, or whose score is not finite (NASWOT's kernel is
singular when a cell's output ignores its input), is an ``error`` evaluation with the reason:
its controller is told a failure, as for a child whose training diverged.

The proxy evaluator is also stage one of a proxy-prefiltered search (``nas search --prefilter``,
:mod:`nas.search.prefilter`), which scores many random cells with it and hands the best to the
run's real evaluator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas.core.errors import NasError, ShapeError
from nas.core.genome import Genome
from nas.evaluators import proxies as px
from nas.evaluators.base import BatchEvaluator, Context, Evaluation, register_evaluator
from nas.training.data import Split

DEFAULT_PROXY = "meco"  # the best single proxy on NAS-Bench-201 CIFAR-10 (see nas proxies)


@dataclass
class ProxyConfig:
    proxy: str = DEFAULT_PROXY  # the zero-cost proxy whose score is each child's result
    batch_size: int = 64  # images in the one seeded minibatch every network is scored on
    seed: int | None = None  # weights and minibatch; None: the run's seed
    at_once: int = 16  # children scored per call (one study write per batch)


@register_evaluator
class ProxyEvaluator(BatchEvaluator):
    """Scores each child with a zero-cost proxy at initialisation; see the module docstring."""

    name = "proxy"
    Config = ProxyConfig
    summary = ("score each child with a zero-cost proxy at initialisation, on one minibatch "
               "(CPU, under a second; the score, not an accuracy, is the reward)")
    config: ProxyConfig

    def __init__(self, context: Context, **options: Any) -> None:
        super().__init__(context, **options)
        # an unknown proxy lists the known ones; an old name (flops) is the current one (macs)
        self.config.proxy = px.get_proxy(self.config.proxy).name
        if self.config.batch_size < 2:
            raise NasError(f"evaluator 'proxy': batch_size must be at least 2, got "
                           f"{self.config.batch_size}")
        if self.config.at_once < 1:
            raise NasError(f"evaluator 'proxy': at_once must be at least 1, got "
                           f"{self.config.at_once}")
        self.batch_size = self.config.at_once
        self.measure = self.config.proxy
        self.batch: Split | None = None

    @property
    def seed(self) -> int:
        return self.context.seed if self.config.seed is None else self.config.seed

    def open(self) -> None:
        data = self.context.data()  # a missing dataset: raised here
        self.batch = px.sample_batch(data, self.config.batch_size, self.seed)

    def score(self, genome: Genome) -> Evaluation:
        """One child's evaluation (the scores of a batch are independent of each other)."""
        assert self.batch is not None, "open() first"
        started = time.time()
        costs = [m for m in ("params", "macs") if m in self.context.metrics]
        try:  # the proxy first, then the costs the run asks for, on the same network
            metrics = px.score_genome(self.context.space, genome, self.batch,
                                      list(dict.fromkeys([self.config.proxy, *costs])),
                                      self.num_classes, self.seed)
        except ShapeError as e:
            return Evaluation.failed(f"the network does not fit the images ({e})",
                                     started=started, measure=self.measure)
        value = metrics[self.measure]
        detail = {"proxy": self.config.proxy, "batch_size": self.config.batch_size,
                  "seed": self.seed}
        if not math.isfinite(value):
            return Evaluation.failed(f"proxy {self.config.proxy} gave {value} (not a finite "
                                     f"score: ranked last)", started=started, detail=detail,
                                     measure=self.measure)
        return Evaluation(metrics=metrics, detail=detail, started=started,
                          finished=time.time(), measure=self.measure)

    def evaluate(self, genomes: Sequence[Genome]) -> list[Evaluation]:
        return [self.score(g) for g in genomes]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "measure": self.measure, "seed": self.seed}
