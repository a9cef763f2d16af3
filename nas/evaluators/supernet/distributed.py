"""One supernet training over several workers: Ray Train's ``TorchTrainer``, data-parallel.

Each worker runs :func:`nas.evaluators.supernet.trainer.run_training` as one rank of a
``torch.distributed`` group that Ray Train sets up (gloo on CPUs, NCCL on GPUs): every rank
trains the same path on its slice of each batch and gradients are averaged by one
all-reduce per step (see :mod:`~nas.evaluators.supernet.trainer` for why not DDP's wrapper).
The data reach the workers as in the ``train`` evaluator: numpy arrays in Ray's object store
(:class:`nas.evaluators.scratch.SharedData`), mapped without a copy on each node.

Rank 0 writes the epoch checkpoints, ``progress.json`` and ``status.json`` into the method's
folder under the run directory, which the driver reads: on a multi-node cluster that folder
must be on a filesystem every node sees (as Ray Train's own ``storage_path`` must be). A
worker that dies makes Ray Train restart the group (``FailureConfig(max_failures)``), and
the restarted ranks continue from the last epoch's checkpoint.

The driver calls :func:`train_distributed`, which runs ``TorchTrainer.fit`` in a thread and
reports each epoch (from ``progress.json``) on the driver's own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
import torch

from nas.core.errors import NasError
from nas.core.statefile import read_json
from nas.evaluators.scratch import SharedData
from nas.evaluators.supernet.trainer import (
    PROGRESS,
    EpochRecord,
    SupernetDiverged,
    TrainSpec,
    World,
    run_training,
)
from nas.training.data import DataSplits

log = logging.getLogger("nas.evaluators.supernet")


def train_worker(config: dict[str, Any]) -> None:
    """One rank (Ray Train's ``train_loop_per_worker``): its data, device, then training."""
    import ray.train  # the worker's own Ray Train context
    import ray.train.torch

    context = ray.train.get_context()
    torch.set_num_threads(max(1, int(config["threads"])))
    spec = TrainSpec.from_dict(config["spec"])
    shared: SharedData = ray.get(config["data"][0])
    device = ray.train.torch.get_device()
    world = World(rank=context.get_world_rank(), size=context.get_world_size())
    try:
        run_training(spec, shared.load(), world, device)
    except SupernetDiverged:
        return  # recorded in status.json by rank 0: a clean end, not a worker failure


def train_distributed(spec: TrainSpec, data: DataSplits, *, workers: int, use_gpu: bool,
                      cpus_per_worker: float, max_failures: int,
                      report: Callable[[str], None], poll: float = 0.5) -> None:
    """Train ``spec`` on ``workers`` Ray Train workers (Ray must be up); returns when every
    epoch is done or training stopped (``status.json`` says which). A training that fails
    for another reason is one :class:`NasError` line."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig  # Ray Train: only when used
    from ray.train.torch import TorchTrainer

    folder = Path(spec.folder)
    resources: dict[str, float] = {"CPU": cpus_per_worker}
    if use_gpu:
        resources["GPU"] = 1.0
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"spec": spec.to_dict(), "data": [ray.put(SharedData.of(data))],
                           "threads": max(1, int(cpus_per_worker))},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=f"supernet-{spec.method}",
                             storage_path=str((folder / "ray").resolve()),
                             failure_config=FailureConfig(max_failures=max_failures)))
    outcome: dict[str, BaseException] = {}

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as e:  # handed to the driver's thread
            outcome["error"] = e

    thread = threading.Thread(target=fit, name="supernet-fit", daemon=True)
    log.info("%s supernet: training on %d Ray Train workers (%s)", spec.method, workers,
             "GPU" if use_gpu else f"{cpus_per_worker:g} CPU each, gloo")
    report(f"{spec.method} supernet: starting {workers} data-parallel workers")
    thread.start()
    shown: Any = None
    progress = folder / PROGRESS
    while thread.is_alive():
        thread.join(timeout=poll)
        if progress.is_file():
            record = read_json(progress)
            if record != shown:
                shown = record
                report(EpochRecord(**record).line(spec.method))
    if "error" in outcome:
        e = outcome["error"]
        text = str(e).strip().splitlines()
        raise NasError(f"{spec.method} supernet training failed on Ray Train: "
                       f"{text[-1] if text else type(e).__name__}") from None


__all__ = ["train_distributed", "train_worker"]
