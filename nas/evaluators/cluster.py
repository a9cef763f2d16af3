"""Ray: join a cluster or start one here, and plan how many children run at once on it."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import ray
import torch

from nas.core.errors import NasError


@dataclass(frozen=True)
class Resources:
    """Where children run: the resource flags of ``nas search`` and ``nas compare``."""

    gpus: float | None = None  # GPUs to use; None: every GPU Ray sees (none: CPU workers)
    gpus_per_trial: float = 1.0  # a share < 1 packs several small children per GPU
    cpus_per_trial: float | None = None  # None: 1 per CPU child, <= 1 per GPU child
    address: str | None = None  # an existing Ray cluster ("auto" or HOST:PORT)
    max_retries: int = 2  # times a child is run again when its worker or node dies


@dataclass(frozen=True)
class Slots:
    """How many children run at once, and what each asks Ray for."""

    n: int  # workers (children at once)
    gpus: float  # per child: 0, a share, or 1
    cpus: float  # per child
    threads: int  # torch threads in a child

    def describe(self) -> str:
        each = f"{self.gpus:g} GPU + {self.cpus:g} CPU" if self.gpus else f"{self.cpus:g} CPU"
        return f"{self.n} worker(s), {each} each"


def _local_gpus() -> int:
    """GPUs a local Ray would see (checked before starting it, to fail fast)."""
    return torch.cuda.device_count()


@contextlib.contextmanager
def _quiet_token_notice() -> Iterator[None]:
    """Drop Ray's notice that a local cluster it starts uses token authentication (the
    secure default, nothing for the user to do) while ``ray.init`` runs; its other warnings,
    e.g. that authentication is disabled, still show."""
    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")

    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def connect_ray(config: Resources) -> bool:
    """Join the Ray cluster at ``config.address``, or start a local one; True if we started it.

    A Ray already initialised in this process (a notebook, a test, the benchmark) is used as
    it is. ``"local"`` (or no address) starts Ray on this machine; asking for more GPUs than
    it has fails here, before Ray starts.
    """
    if ray.is_initialized():
        return False
    address = None if config.address in (None, "local") else config.address
    if address is None and config.gpus:
        have = _local_gpus()
        if config.gpus > have:
            raise NasError(f"--gpus {config.gpus:g}: this machine has {have} GPU(s); use "
                           f"--gpus {have} or fewer, or --address for a Ray cluster")
    try:
        with _quiet_token_notice():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
    except ConnectionError as e:
        raise NasError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None
    return True


def plan_slots(config: Resources, resources: Mapping[str, float]) -> Slots:
    """Children at once and their resources, from the flags and what the cluster has."""
    have_gpus = float(resources.get("GPU", 0))
    have_cpus = float(resources.get("CPU", 0))
    gpus = have_gpus if config.gpus is None else float(config.gpus)
    if gpus > have_gpus + 1e-9:
        raise NasError(f"--gpus {gpus:g}: the Ray cluster has {have_gpus:g} GPU(s); use "
                       f"--gpus {have_gpus:g} or fewer")
    if gpus > 0:
        n = math.floor(gpus / config.gpus_per_trial + 1e-9)
        if n < 1:
            raise NasError(f"--gpus {gpus:g} is less than one --gpus-per-trial "
                           f"({config.gpus_per_trial:g})")
        # a GPU child needs little CPU (its data sit on the GPU): up to one core each
        cpus = config.cpus_per_trial or min(1.0, have_cpus / n)
        if cpus * n > have_cpus + 1e-9:
            raise NasError(f"{n} GPU children x {cpus:g} CPU need {cpus * n:g} CPUs; the "
                           f"cluster has {have_cpus:g}: lower --cpus-per-trial")
        return Slots(n=n, gpus=config.gpus_per_trial, cpus=cpus, threads=max(1, int(cpus)))
    cpus = config.cpus_per_trial or 1.0
    n = math.floor(have_cpus / cpus + 1e-9)
    if n < 1:
        raise NasError(f"--cpus-per-trial {cpus:g}: the Ray cluster has only {have_cpus:g} CPUs")
    return Slots(n=n, gpus=0.0, cpus=cpus, threads=max(1, int(cpus)))


