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

Test hook: ``NAS_TEST_WORKER_EXIT=<path>`` makes the first child that finds no file at
``<path>`` create it and kill its own worker process (``os._exit``), as an out-of-memory kill
would; the tests use it to check that Ray restarts the worker and runs the child again.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.core.genome import Genome

if TYPE_CHECKING:
    from nas.training.data import DataSplits
    from nas.training.result import Result

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
        import torch

        from nas.training.data import Split

        arrays = {f"{name}.{part}": getattr(getattr(data, name), part).cpu().numpy()
                  for name in ("train", "val", "test") for part in ("x", "y")}
        empty = Split(torch.empty(0), torch.empty(0, dtype=torch.int64))
        return cls(replace(data, train=empty, val=empty, test=empty), arrays)

    def load(self) -> DataSplits:
        """The splits as tensors sharing the object store's memory (no copy)."""
        import torch

        from nas.training.data import Split

        with warnings.catch_warnings():  # read-only is fine: the trainer never writes data
            warnings.filterwarnings("ignore", message=".*not writable.*")
            t = {k: torch.from_numpy(v) for k, v in self.arrays.items()}
        return replace(self.splits, train=Split(t["train.x"], t["train.y"]),
                       val=Split(t["val.x"], t["val.y"]), test=Split(t["test.x"], t["test.y"]))


def train_child(job: ChildJob, data: DataSplits, on_epoch: OnEpoch | None) -> Result:
    """The real child: :func:`nas.training.loop.train_genome` with the job's recipe and budget."""
    from nas.training.loop import train_genome
    from nas.training.recipe import Budget, Recipe

    return train_genome(job.genome, data, Recipe.from_dict(job.recipe),
                        Budget(epochs=job.epochs),
                        space_options=job.space_options, on_epoch=on_epoch)


def where() -> dict[str, Any]:
    """Where this process runs: node, pid and the GPUs Ray gave it (JSON-able)."""
    import ray

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
        import torch

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
            import ray

            shared: SharedData = ray.get(data[0])
            self.data = shared.load()
            import torch

            if torch.cuda.is_available():  # resident on this worker's GPU for all its children
                from nas.training.device import pick_device

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
        import ray

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
