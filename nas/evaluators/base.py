"""Evaluators: how a child is judged. One plug-in kind, beside spaces, controllers and datasets.

An evaluator turns genomes into :class:`Evaluation` s: a status, the metrics a controller and the
run's objective read (``accuracy``, costs, timings), the learning curve if there is one, and
what the evaluator wants to keep (``detail``). The search loop (:mod:`nas.search.loop`) never
knows which evaluator it drives; controllers never know either.

- ``train`` (:mod:`nas.evaluators.scratch`): trains each child from scratch on Ray workers.
- ``table`` (:mod:`nas.evaluators.table`): looks the child up in a table of published results.
- ``supernet`` (:mod:`nas.evaluators.supernet`): scores the child's path through one
  weight-sharing supernet (SPOS, ENAS, DARTS, GDAS).

The protocol is asynchronous, as children are: the loop :meth:`~Evaluator.submit` s jobs while
the evaluator has room (:meth:`~Evaluator.idle`), and :meth:`~Evaluator.wait` returns the ones
that finished. An evaluator that judges in the driver's own process subclasses
:class:`BatchEvaluator` and implements only :meth:`BatchEvaluator.evaluate`, which scores many
genomes in one call (a table answers a batch at once; a proxy or a supernet scores a batch of
networks together). An evaluator may hold state across trials (a trained supernet): it keeps
its large files itself, under :attr:`Context.workdir`, and returns from
:meth:`~Evaluator.state_dict` what the run's saved state must carry to resume it (JSON and
tensors only: nothing the project reads back is unpickled).

Life cycle, as the search drives it::

    evaluator = create_evaluator(name, context, **options)  # options checked: bad ones raise
    evaluator.open()             # load what it needs (data, a table): user errors raise here,
                                 # before the run directory exists or Ray starts
    evaluator.load_state_dict(state)    # on resume, what state_dict() returned last time
    evaluator.start(history)     # acquire compute (Ray workers ...), run a long phase
                                 # (train a supernet); history: earlier results
    evaluator.proposals()        # genomes its own method derived, judged first
    ... submit / wait ...
    evaluator.cancel()           # on interruption: children in flight are abandoned
    evaluator.close()            # always; idempotent
"""

from __future__ import annotations

import math
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from nas.core.config import make_config
from nas.core.genome import Genome
from nas.core.registry import Registry
from nas.core.space import Space
from nas.evaluators.cluster import Resources
from nas.training.data import DataSplits, load_dataset

#: How a child can end: ``ok``; ``pruned`` (stopped early, its partial result counts);
#: ``diverged`` (its loss became NaN/inf), ``oom`` and ``error`` (no result).
STATUSES = ("ok", "pruned", "diverged", "oom", "error")


@dataclass
class Evaluation:
    """How one genome was judged: what every evaluator returns (plain JSON data)."""

    status: str = "ok"  # one of STATUSES
    message: str = ""  # why, when the status is not ok
    metrics: dict[str, float] = field(default_factory=dict)  # accuracy (%), costs, timings
    curve: list[float] = field(default_factory=list)  # accuracy after each epoch, if trained
    detail: dict[str, Any] = field(default_factory=dict)  # the evaluator's own record (JSON)
    where: dict[str, Any] = field(default_factory=dict)  # node, host, pid, device ...
    started: float = 0.0  # Unix times
    finished: float = 0.0
    #: the metric that is the child's result, the base of its reward: the accuracy (%), or
    #: for an evaluator that does not train, what it measures instead (a proxy's score)
    measure: str = "accuracy"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"evaluation status {self.status!r} is not one of {STATUSES}")

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def ok(self) -> bool:
        """A result a controller learns from: finished (or stopped early) with a finite
        accuracy (or whatever :attr:`measure` names)."""
        value = self.metrics.get(self.measure, math.nan)
        return self.status in ("ok", "pruned") and math.isfinite(value)

    def told(self) -> dict[str, float] | None:
        """The metrics a controller is told, or None for a child that failed."""
        return dict(self.metrics) if self.ok else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def failed(cls, message: str, status: str = "error", **kw: Any) -> Evaluation:
        now = time.time()
        return cls(status=status, message=message, started=kw.pop("started", now),
                   finished=kw.pop("finished", now), **kw)


@dataclass(frozen=True)
class Job:
    """One child to judge: the study's trial number (it names the child in logs) and its
    genome."""

    trial: int
    genome: Genome


@dataclass
class Context:
    """What a run gives the evaluator it uses (built from the search's config)."""

    space: Space  # the space, with the run's network-level options
    dataset: str = "digits"  # a registered dataset (nas.training.data)
    data_dir: str | None = None
    limit: int | None = None  # cap on training images
    recipe: dict[str, Any] = field(default_factory=dict)  # a resolved nas.training Recipe
    epochs: float = 2.0  # a trained child's budget
    seed: int = 0  # the run's seed (the evaluator's own randomness derives from it)
    resources: Resources = field(default_factory=Resources)
    early_stop: str | None = None  # one of nas.core.objective.PRUNERS, or None
    metrics: tuple[str, ...] = ()  # metrics the run needs besides accuracy (costs)
    controller: str | None = None  # the run's controller (a method may need a particular one)
    workdir: Path | None = None  # where the evaluator may keep files; None: memory only
    #: tell the run what a long phase is doing (e.g. "supernet epoch 3/50, loss 1.23"): the
    #: live view shows it and search.log keeps it; the search sets it, a no-op otherwise
    report: Callable[[str], None] = field(default=lambda message: None, repr=False)
    _data: DataSplits | None = field(default=None, repr=False)

    def data(self) -> DataSplits:
        """The run's dataset, loaded on first use and kept."""
        if self._data is None:
            self._data = load_dataset(self.dataset, self.data_dir, limit=self.limit)
        return self._data


class Evaluator(ABC):
    """Judges genomes of ``context.space``; see the module docstring for the life cycle.

    Subclasses set ``name`` (their registered name), ``Config`` (a dataclass of options with
    a commented default per field) and ``needs_ray``; ``__init__`` turns ``**options`` into
    ``self.config`` and rejects unknown ones with a :class:`~nas.core.errors.NasError`.
    """

    name: ClassVar[str]
    Config: ClassVar[type[Any]]
    needs_ray: ClassVar[bool] = False  # the search connects to Ray only for evaluators that do
    #: the metric each evaluation's result is (Evaluation.measure), the base of the run's
    #: reward: the accuracy (%) for an evaluator that trains or looks up; a proxy's name for
    #: the proxy evaluator (set per instance: it depends on the options)
    measure: str = "accuracy"
    summary: ClassVar[str] = ""  # one line for `nas evaluators`

    def __init__(self, context: Context, **options: Any) -> None:
        self.context = context
        self.config = make_config(self.Config, options, f"evaluator {self.name!r}")
        self.slots_total = 0  # children it can judge at once, once started
        self.slots_ready = 0  # of those, ready now (workers still starting are not)
        self.note = ""  # what it is doing, for the live view ("starting 2 workers")

    # --- life cycle ----------------------------------------------------------------------

    def open(self) -> None:  # noqa: B027 (optional hook)
        """Load what judging needs (data, a table); errors a user can cause raise here."""

    def start(self, history: Sequence[Evaluation] = (),  # noqa: B027 (optional hook)
              jobs: int | None = None) -> None:
        """Acquire compute. ``history``: the run's finished evaluations of earlier sessions;
        ``jobs``: at most this many will be submitted (None: unknown), so start no more."""

    def proposals(self) -> list[Genome]:
        """Genomes the evaluator's own method found (a one-shot method that derives an
        architecture, such as DARTS): the search judges these first, before it asks the
        controller. Called once, after :meth:`start`."""
        return []

    def cancel(self) -> None:  # noqa: B027 (optional hook)
        """Abandon the children in flight (the search was interrupted)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release everything :meth:`start` acquired; safe to call twice, or without start."""

    # --- shapes -------------------------------------------------------------------------

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) of the networks it judges (the data's, by default)."""
        return self.context.data().input_shape

    @property
    def num_classes(self) -> int:
        return self.context.data().num_classes

    # --- judging ------------------------------------------------------------------------

    @abstractmethod
    def idle(self) -> int:
        """How many more jobs :meth:`submit` takes now."""

    @abstractmethod
    def in_flight(self) -> int:
        """Jobs submitted whose evaluation :meth:`wait` has not returned yet."""

    def warming(self) -> bool:
        """True while capacity is still coming (workers starting): the loop then waits."""
        return False

    @abstractmethod
    def submit(self, job: Job) -> dict[str, Any]:
        """Start judging ``job``; returns where it runs (JSON: node, device ...)."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[tuple[Job, Evaluation]]:
        """The jobs that finished (at least one, unless ``timeout`` passes first or nothing is
        in flight), each with its evaluation."""

    # --- state --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What the run's saved state carries to resume this evaluator (JSON + tensors)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Continue from what :meth:`state_dict` returned."""

    def describe(self) -> dict[str, Any]:
        """What the evaluator is, for the study's attributes and reports (JSON)."""
        return {"name": self.name, "options": asdict(self.config)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class BatchEvaluator(Evaluator):
    """An evaluator that judges in the driver's process, many genomes in one call.

    :meth:`submit` only queues; :meth:`wait` judges everything queued with one
    :meth:`evaluate` call. ``batch_size`` is how many it takes at once (the loop asks the
    controller for that many proposals before a batch is judged).
    """

    batch_size: int = 1

    def __init__(self, context: Context, **options: Any) -> None:
        super().__init__(context, **options)
        self._queue: list[Job] = []
        self._where = {"host": socket.gethostname(), "pid": os.getpid(), "device": "cpu"}

    def start(self, history: Sequence[Evaluation] = (), jobs: int | None = None) -> None:
        self.slots_total = self.slots_ready = self.batch_size

    @abstractmethod
    def evaluate(self, genomes: Sequence[Genome]) -> list[Evaluation]:
        """Judge ``genomes`` together; one evaluation each, in order."""

    def idle(self) -> int:
        return max(0, self.batch_size - len(self._queue))

    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, job: Job) -> dict[str, Any]:
        if not self.idle():
            raise RuntimeError(f"evaluator {self.name!r} takes {self.batch_size} at once")
        self._queue.append(job)
        return dict(self._where)

    def wait(self, timeout: float | None = None) -> list[tuple[Job, Evaluation]]:
        jobs, self._queue = self._queue, []
        if not jobs:
            return []
        started = time.time()
        evaluations = self.evaluate([j.genome for j in jobs])
        if len(evaluations) != len(jobs):
            raise RuntimeError(f"evaluator {self.name!r} returned {len(evaluations)} "
                               f"evaluations for {len(jobs)} genomes")
        finished = time.time()
        for e in evaluations:  # the batch's time, shared; where it ran
            e.started, e.finished = e.started or started, e.finished or finished
            e.where = e.where or dict(self._where)
        return list(zip(jobs, evaluations, strict=True))

    def cancel(self) -> None:
        self._queue.clear()


@dataclass
class NoOptions:
    """The options of an evaluator that has none."""


EVALUATORS: Registry[type[Evaluator]] = Registry(
    "evaluator", ("nas.evaluators.scratch", "nas.evaluators.table", "nas.evaluators.supernet",
                  "nas.evaluators.proxy"))


def register_evaluator(cls: type[Evaluator]) -> type[Evaluator]:
    """Class decorator: register an evaluator under its ``name``."""
    EVALUATORS.register(cls.name, cls)
    return cls


def create_evaluator(name: str, context: Context, **options: Any) -> Evaluator:
    """The evaluator ``name`` for ``context``; unknown names and options raise NasError."""
    return EVALUATORS.get(name)(context, **options)


def list_evaluators() -> list[str]:
    return EVALUATORS.names()
