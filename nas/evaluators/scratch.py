"""What runs on a Ray worker: a long-lived actor that trains one child after another.

Each :class:`ChildWorker` is a Ray actor that holds one slot of the cluster for the whole
search: ``num_gpus=F`` (a GPU, or a share of one) and ``num_cpus=K``. Ray sets
``CUDA_VISIBLE_DEVICES`` when the actor starts, so every child it trains sees only the slot's
GPU, and never another child's. An actor rather than a task per child because Ray reuses a
warm worker process for a later task *with a different GPU*: a process whose CUDA context is
already bound to GPU 1 would then train on GPU 1 while Ray books GPU 3 for it (measured: a
``max_calls=0`` GPU task's worker saw ``CUDA_VISIBLE_DEVICES`` change from 1 to 3), and with
Ray's default of a fresh process per GPU task every child pays seconds of start-up (process,
``import torch``, data). An actor pays them once per slot.

The data are loaded once, by the driver, and put in Ray's object store as numpy arrays
(:class:`SharedData`); every worker on a node maps that one copy without copying it
(``torch.from_numpy`` on the shared buffer), and another node fetches it once. Measured on
CIFAR-10 (45k/5k/10k images, float32, 737 MB; bench numbers from a 2-core machine): a worker
has the splits in 0.2 s this way, against 2.4 s and a private 2.7 GB peak when the splits
travel as torch tensors (pickled, so copied into every worker), and 1.7 s and 1.7 GB private
when each worker reloads the dataset from its on-disk cache (which also needs the data on
every node). A worker with a GPU then keeps the splits on it for all its children.

A child that raises, diverges or runs out of memory is a result, never an exception: the
trainer reports it as a status, and anything else that escapes it becomes an ``"error"``
outcome with its message here. A worker process or node that dies is Ray's to handle: the
actor is restarted (elsewhere if need be) and the call is retried a bounded number of times
(``max_restarts`` / ``max_task_retries`` in :mod:`nas.search.loop`).

With ``--early-stop``, each epoch's validation accuracy goes to one :class:`EarlyStopper`
actor, which answers "stop" or "go on" with an Optuna pruner (asynchronous successive halving
by default, Li et al. 2020; Hyperband or the median rule on request).

Test hooks: ``NAS_TEST_WORKER_EXIT=<path>`` makes the first child that finds no file at
``<path>`` create it and kill its own worker process (``os._exit``), as an out-of-memory kill
would; the tests use it to check that Ray restarts the worker and runs the child again.
``NAS_TEST_CHILD_SECONDS=<s>`` in the driver's environment makes the workers run
:func:`sleeping_child` instead of training (the load and fault tests drive ``nas search`` in a
subprocess with hundreds of children this way; the workers read ``<s>`` from theirs).
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import random
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import ray
import torch

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.evaluators.base import (
    Context,
    Evaluation,
    Evaluator,
    Job,
    NoOptions,
    register_evaluator,
)
from nas.evaluators.cluster import Slots, connect_ray, disconnect_ray, first_line, plan_slots
from nas.evaluators.early_stop import EarlyStopper
from nas.training.data import DataSplits, Split
from nas.training.device import pick_device
from nas.training.loop import train_genome
from nas.training.recipe import Budget, Recipe
from nas.training.result import Result

log = logging.getLogger("nas.evaluators.train")

#: The per-epoch hook the trainer calls: (epoch, metrics) -> True to stop the child now.
OnEpoch = Callable[[int, dict[str, float]], bool]


@dataclass(frozen=True)
class ChildJob:
    """Everything a worker needs to train one child, apart from the data (plain data)."""

    trial: int  # the study's trial number, which also names the child in logs
    genome: Genome
    recipe: dict[str, Any]  # nas.training.recipe.Recipe.to_dict()
    epochs: float  # the child's training budget (nas.training.recipe.Budget)
    space_options: dict[str, Any] = field(default_factory=dict)  # network-level options


#: What a worker runs for a job: trains it on the data and returns the trainer's Result.
ChildFn = Callable[[ChildJob, "DataSplits", "OnEpoch | None"], "Result"]


@dataclass(frozen=True)
class SharedData:
    """The loaded splits as numpy arrays: what goes into the object store, once per search.

    Ray hands numpy arrays to every worker on a node as read-only views of one shared
    buffer; torch tensors would be pickled and copied into each worker instead. The trainer
    never writes into its data (batches are gathered copies), so read-only is safe.
    """

    splits: DataSplits  # names, shapes, classes, statistics; its splits are empty
    arrays: dict[str, np.ndarray]  # "train.x", "train.y", "val.x", ...

    @classmethod
    def of(cls, data: DataSplits) -> SharedData:
        arrays = {f"{name}.{part}": getattr(getattr(data, name), part).cpu().numpy()
                  for name in ("train", "val", "test") for part in ("x", "y")}
        empty = Split(torch.empty(0), torch.empty(0, dtype=torch.int64))
        return cls(replace(data, train=empty, val=empty, test=empty), arrays)

    def load(self) -> DataSplits:
        """The splits as tensors sharing the object store's memory (no copy)."""
        with warnings.catch_warnings():  # read-only is fine: the trainer never writes data
            warnings.filterwarnings("ignore", message=".*not writable.*")
            t = {k: torch.from_numpy(v) for k, v in self.arrays.items()}
        return replace(self.splits, train=Split(t["train.x"], t["train.y"]),
                       val=Split(t["val.x"], t["val.y"]), test=Split(t["test.x"], t["test.y"]))


def train_child(job: ChildJob, data: DataSplits, on_epoch: OnEpoch | None) -> Result:
    """The real child: :func:`nas.training.loop.train_genome` with the job's recipe and budget."""
    return train_genome(job.genome, data, Recipe.from_dict(job.recipe),
                        Budget(epochs=job.epochs),
                        space_options=job.space_options, on_epoch=on_epoch)


def sleeping_child(job: ChildJob, data: DataSplits, on_epoch: OnEpoch | None) -> Result:
    """A child that sleeps instead of training, for tests and benchmarks of the search machinery.

    It takes ``NAS_TEST_CHILD_SECONDS`` (default 1) of wall time, uses no CPU, and returns a
    result whose accuracy (50-99 %) is a fixed function of its genome: the search around it
    (the controller, Ray actors, the study, the state file) is the real one.
    """
    time.sleep(float(os.environ.get("NAS_TEST_CHILD_SECONDS", "1")))
    accuracy = random.Random(job.genome.id).uniform(50.0, 99.0)
    return Result(status="ok", val_top1=[accuracy], best_val_top1=accuracy,
                  final_val_top1=accuracy, epochs=1.0, params=1000, macs=10**6)


def where() -> dict[str, Any]:
    """Where this process runs: node, pid and the GPUs Ray gave it (JSON-able)."""
    context = ray.get_runtime_context()
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    return {
        "node": context.get_node_id()[:8],  # the id prefix Ray's CLI prints
        "host": socket.gethostname(),
        "ip": ray.util.get_node_ip_address(),
        "pid": os.getpid(),
        "gpu_ids": gpu_ids,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": f"gpu {','.join(gpu_ids)}" if gpu_ids else "cpu",
    }


class ChildWorker:
    """A Ray actor that trains children one after another on its slot (see the module doc).

    The driver wraps it with ``ray.remote(...).options(num_gpus=F, num_cpus=K, ...)``. Every
    :meth:`run` call carries the object ref of the :class:`SharedData` (inside a list, so
    that Ray passes the ref rather than the data); the worker fetches it on its first child,
    and again after Ray restarts it, while the driver keeps the object alive. (A ref among the
    constructor arguments would work too, but Ray warns that a restart could then fail.)
    """

    def __init__(self, threads: int, child_fn: ChildFn = train_child,
                 stopper: Any = None) -> None:
        torch.set_num_threads(max(1, threads))  # a CPU child uses exactly its K cores
        self.data: DataSplits | None = None
        self.child_fn = child_fn
        self.stopper = stopper  # an EarlyStopper actor handle, or None
        self.where = where()
        if child_fn is train_child:  # warm up now, while the other workers start too,
            for module in ("nas.training.loop", "search_spaces"):  # not inside the first child
                importlib.import_module(module)
            # torch imports its compiler (~3 s) when the first optimizer is built
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    def ready(self) -> dict[str, Any]:
        """Where this worker runs; the driver's first call, which returns once it is up."""
        return self.where

    def run(self, job: ChildJob, data: Sequence[Any]) -> dict[str, Any]:
        """Train ``job`` on ``data[0]`` (a :class:`SharedData` ref) and say how it went.

        Returns ``{"trial", "started", "finished", ...where, "result" | "error"}``: ``result``
        is the trainer's ``Result.to_dict()``; ``error`` a one-line message (with the
        traceback's last lines in ``traceback``) when something other than the trainer raised.
        """
        if self.data is None:  # the first child of this worker (or of its restart)
            shared: SharedData = ray.get(data[0])
            self.data = shared.load()
            if torch.cuda.is_available():  # resident on this worker's GPU for all its children
                self.data = self.data.to(pick_device(None))
        _test_exit_hook()
        started = time.time()
        out: dict[str, Any] = {"trial": job.trial, "started": started, **self.where}
        try:
            result = self.child_fn(job, self.data, self._on_epoch(job.trial))
            out["result"] = result.to_dict()
            if self.stopper is not None:  # in order after the reports (one caller)
                self.stopper.finish.remote(job.trial, result.status, result.final_val_top1)
        except Exception as e:  # the trainer never raises for a bad child: this is a bug
            out["error"] = f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc(limit=-4)
        out["finished"] = time.time()
        return out

    def _on_epoch(self, trial: int) -> OnEpoch | None:
        if self.stopper is None:
            return None
        stopper = self.stopper

        def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
            accuracy = metrics.get("accuracy")  # this epoch's validation top-1 (%)
            if accuracy is None:
                return False
            return bool(ray.get(stopper.report.remote(trial, epoch, float(accuracy))))

        return on_epoch


def _test_exit_hook() -> None:
    marker = os.environ.get("NAS_TEST_WORKER_EXIT")
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)  # as the kernel's OOM killer would: no cleanup, no exception


# --- the evaluator ---------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    handle: Any  # the ChildWorker actor
    where: dict[str, Any] = field(default_factory=dict)  # its ready() answer


@dataclass
class _Child:
    job: Job
    worker: _Worker
    dispatched: float
    where: dict[str, Any] = field(default_factory=dict)  # what submit() returned: the live
    # view shows it, so a worker found dead is marked there (pid "restarting")


def place(where: Mapping[str, Any]) -> dict[str, Any]:
    """The where-it-ran fields of a worker's answer (study attributes, the live view)."""
    return {k: where[k] for k in ("node", "host", "ip", "pid", "device", "gpu_ids",
                                  "cuda_visible_devices") if k in where}


def evaluation_of(out: Mapping[str, Any]) -> Evaluation:
    """A worker's answer (:meth:`ChildWorker.run`) as an :class:`Evaluation`: the trainer's
    :class:`~nas.training.result.Result` is kept whole in ``detail``."""
    started, finished, where = float(out["started"]), float(out["finished"]), place(out)
    if "result" not in out:  # something other than the trainer raised, or Ray gave up
        return Evaluation(status="error", message=str(out["error"]),
                          detail={"traceback": out.get("traceback", "")}, where=where,
                          started=started, finished=finished)
    result = Result.from_dict(out["result"])
    return Evaluation(status=result.status, message=result.message,
                      metrics={k: float(v) for k, v in result.metrics().items()},
                      curve=[float(v) for v in result.val_top1], detail=dict(out["result"]),
                      where=where, started=started, finished=finished)


@register_evaluator
class TrainEvaluator(Evaluator):
    """Trains each child from scratch on a Ray worker: the search of Zoph & Le, distributed.

    Each worker is a :class:`ChildWorker` actor that holds one slot (a GPU, a share of one, or
    ``K`` CPU cores) for the whole search and trains one child after another on the data it
    maps from Ray's object store; ``--address`` puts the workers on a cluster. A worker
    process or node that dies is restarted by Ray and its child run again (``max_retries``).
    With ``--early-stop`` the children report each epoch to an :class:`EarlyStopper` actor.

    ``child_fn`` replaces the trainer in the workers (the scheduling benchmark's timed sleep;
    ``NAS_TEST_CHILD_SECONDS`` makes it :func:`sleeping_child`, see the module docstring).
    """

    name = "train"
    Config = NoOptions
    summary = "train each child from scratch, in parallel on Ray workers (GPUs or CPU cores)"

    def __init__(self, context: Context, *, child_fn: ChildFn = train_child,
                 **options: Any) -> None:
        super().__init__(context, **options)
        if child_fn is train_child and os.environ.get("NAS_TEST_CHILD_SECONDS"):
            child_fn = sleeping_child  # the test hook (see the module docstring)
        self.child_fn = child_fn
        self.slots: Slots | None = None
        self.workers: list[_Worker] = []  # every worker started, to kill at the end
        self.helpers: list[Any] = []  # other actors (the early stopper), likewise
        self.starting: dict[Any, _Worker] = {}  # ObjectRef of ready() -> worker starting up
        self.free: list[_Worker] = []
        self.children: dict[Any, _Child] = {}  # ObjectRef -> child in flight
        self.data_ref: Any = None  # the SharedData in the object store
        self._started_ray = False

    def open(self) -> None:
        """Load the data (a missing dataset fails here, before Ray starts), then join or start
        Ray and plan the slots (impossible resource flags fail here, before any run exists)."""
        self.context.data()
        self._started_ray = connect_ray(self.context.resources)
        self.slots = plan_slots(self.context.resources, ray.cluster_resources())

    def start(self, history: Sequence[Evaluation] = (), jobs: int | None = None) -> None:
        """Put the data in the object store and start the workers (no more than ``jobs``)."""
        assert self.slots is not None, "open() first"
        data = self.context.data()
        stopper = None
        if self.context.early_stop:  # the rungs remember the children of earlier sessions
            stopper = ray.remote(EarlyStopper).options(num_cpus=0).remote(
                self.context.early_stop, max_resource=math.ceil(self.context.epochs),
                history=[(e.curve, e.status) for e in history])
            self.helpers.append(stopper)
        log.info("%s; data %s", self.slots.describe(), data.summary())
        self.data_ref = ray.put(SharedData.of(data))  # alive as long as the workers
        actor = ray.remote(ChildWorker).options(
            num_gpus=self.slots.gpus, num_cpus=self.slots.cpus, max_concurrency=1,
            max_restarts=-1,  # a dead worker process comes back (on another node if need be)
            max_task_retries=self.context.resources.max_retries)  # ... its child runs again
        n = self.slots.n if jobs is None else min(self.slots.n, max(jobs, 1))
        for i in range(n):
            worker = _Worker(i, actor.remote(self.slots.threads, self.child_fn, stopper))
            self.starting[worker.handle.ready.remote()] = worker
            self.workers.append(worker)
        self.slots_total = n
        self.note = f"starting {self.slots.describe()}"

    def idle(self) -> int:
        return len(self.free)

    def in_flight(self) -> int:
        return len(self.children)

    def warming(self) -> bool:
        return bool(self.starting)

    def submit(self, job: Job) -> dict[str, Any]:
        worker = self.free.pop(0)
        child = ChildJob(trial=job.trial, genome=job.genome, recipe=self.context.recipe,
                         epochs=self.context.epochs,
                         space_options=dict(self.context.space.options))
        ref = worker.handle.run.remote(child, [self.data_ref])
        where = {"worker": worker.index, **place(worker.where)}
        self.children[ref] = _Child(job, worker, time.time(), where)
        return where

    def wait(self, timeout: float | None = None) -> list[tuple[Job, Evaluation]]:
        refs = [*self.children, *self.starting]
        if not refs:
            return []
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:  # everything else that is ready too: one round for all
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        done = []
        for ref in ready:
            if ref in self.starting:
                self._ready(ref)
            else:
                done.append(self._collect(ref))
        self._check_workers()
        return done

    def _check_workers(self) -> None:
        """Notice a worker process of this machine that died under its child (killed, out of
        memory): say so in the log and in the live view while Ray restarts it and runs the
        child again. (A worker on another node is noticed when its retried child returns.)"""
        host = socket.gethostname()
        for child in self.children.values():
            pid = child.worker.where.get("pid")
            if (not isinstance(pid, int) or child.worker.where.get("host") != host
                    or child.where.get("pid") == "restarting"):
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                log.warning("worker %d (pid %d) died while training trial %d: Ray restarts "
                            "it and trains the child again (up to %d retries)",
                            child.worker.index, pid, child.job.trial,
                            self.context.resources.max_retries)
                child.where["pid"] = "restarting"
            except PermissionError:  # alive, another user's: not ours to judge
                pass

    def _ready(self, ref: Any) -> None:
        worker = self.starting.pop(ref)
        try:
            worker.where = ray.get(ref)
        except ray.exceptions.RayError as e:
            log.error("worker %d could not start: %s", worker.index, first_line(e))
            if not self.starting and not self.free and not self.children:
                raise NasError(f"no worker could start on the Ray cluster: {first_line(e)}") \
                    from None
            return
        log.info("worker %d ready on node %s (%s, %s, pid %s)", worker.index,
                 worker.where["node"], worker.where["ip"], worker.where["device"],
                 worker.where["pid"])
        self.slots_ready += 1
        self.note = ""
        self.free.append(worker)

    def _collect(self, ref: Any) -> tuple[Job, Evaluation]:
        child = self.children.pop(ref)
        self.free.append(child.worker)
        try:
            out = ray.get(ref)
        except ray.exceptions.RayError as e:  # the worker died more often than max_retries
            out = {"error": f"worker lost: {first_line(e)}", "started": child.dispatched,
                   "finished": time.time(), **child.worker.where}
            log.error("trial %d: its worker died more than %d times: %s", child.job.trial,
                      self.context.resources.max_retries, first_line(e))
        if out.get("pid") not in (None, child.worker.where.get("pid")):  # Ray restarted it
            log.info("worker %d restarted (pid %s, was %s): trial %d was retried there",
                     child.worker.index, out["pid"], child.worker.where.get("pid"),
                     child.job.trial)
            child.worker.where = {**child.worker.where, **place(out)}
        return child.job, evaluation_of(out)

    def cancel(self) -> None:
        for ref in self.children:  # cancelled first, or Ray retries them when we kill
            ray.cancel(ref)
        self.children.clear()

    def close(self) -> None:
        for handle in [*(w.handle for w in self.workers), *self.helpers]:
            ray.kill(handle)
        self.workers.clear()
        self.helpers.clear()
        self.starting.clear()
        self.free.clear()
        self.data_ref = None
        if self._started_ray:
            disconnect_ray()
            self._started_ray = False
