"""Ray: join a cluster or start one here, and plan how many children run at once on it."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO

import ray
import ray._private.ray_constants as ray_constants  # see _bind: Ray's switch for binding
import torch

from nas.core.errors import NasError
from nas.evaluators.reaper import Reaper, children_of


@dataclass(frozen=True)
class Resources:
    """Where children run: the resource flags of ``nas search`` and ``nas compare``."""

    gpus: float | None = None  # GPUs to use; None: every GPU Ray sees (none: CPU workers)
    gpus_per_trial: float = 1.0  # a share < 1 packs several small children per GPU
    cpus_per_trial: float | None = None  # None: 1 per CPU child, <= 1 per GPU child
    address: str | None = None  # an existing Ray cluster ("auto" or HOST:PORT)
    max_retries: int = 2  # times a child is run again when its worker or node dies
    listen_all: bool = False  # a Ray started here listens on every interface, not localhost


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
    it is. No address starts Ray on this machine unless ``RAY_ADDRESS`` names a cluster (Ray's
    convention); ``"local"`` starts it here whatever ``RAY_ADDRESS`` says. Asking for more GPUs
    than this machine has fails here, before Ray starts.

    A Ray started here listens on localhost only (its GCS, raylet, agents and workers): nobody
    else on the network can reach it. ``config.listen_all`` opens it to every interface, for
    workers on other machines to join. An address that cannot be reached fails in one line,
    without Ray's warnings; a Ray started here is stopped by a reaper process
    (:mod:`nas.evaluators.reaper`) if this driver is killed with ``kill -9``.
    """
    global _reaper
    if ray.is_initialized():
        return False
    env = os.environ.get("RAY_ADDRESS") or None
    address = config.address or env
    if address == "local":
        address = None
    if address is None and config.gpus:
        have = _local_gpus()
        if config.gpus > have:
            raise NasError(f"--gpus {config.gpus:g}: this machine has {have} GPU(s); use "
                           f"--gpus {have} or fewer, or --address for a Ray cluster")
    previous = signal.getsignal(signal.SIGTERM)  # ray.init replaces it with its own
    if address is not None:
        source = "--address" if config.address else "RAY_ADDRESS (from the environment)"
        _check_reachable(address, source)
        with _stderr_to(tempfile.TemporaryFile()) as captured:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as e:
                said = _last_line(captured) or first_line(e)
                raise NasError(f"cannot connect to the Ray cluster at {address} ({source}): "
                               f"{said}") from None
    else:
        with _quiet_token_notice(), _bind(localhost=not config.listen_all):
            ray.init(address="local", include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        _reaper = Reaper(children_of(os.getpid()))
    if callable(previous):  # the command's own handler (SIGTERM stops like Ctrl-C) stays
        signal.signal(signal.SIGTERM, previous)
    return address is None


def disconnect_ray() -> None:
    """Stop the Ray that :func:`connect_ray` started here (and dismiss its reaper)."""
    global _reaper
    if _reaper is not None:
        _reaper.close()
        _reaper = None
    ray.shutdown()


_reaper: Reaper | None = None  # watches the Ray this process started (see connect_ray)


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _check_reachable(address: str, source: str) -> None:
    """Fail in one line, before ``ray.init`` prints a page of warnings over half a minute,
    when nothing listens at ``HOST:PORT`` (``auto`` and ``ray://`` addresses are Ray's)."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise NasError(f"{source} {address!r}: expected auto, local or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise NasError(f"cannot reach the Ray cluster at {address} ({source}): {reason}; is "
                       "`ray start --head` running there? (--address local starts Ray here)") \
            from None


@contextlib.contextmanager
def _stderr_to(file: IO[bytes]) -> Iterator[IO[bytes]]:
    """Send file descriptor 2 (where Ray's C++ core writes its warnings) to ``file`` while
    the block runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield file
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _last_line(file: IO[bytes]) -> str:
    """The last line Ray wrote to ``file``, without its log prefix."""
    file.seek(0)
    lines = [line.strip() for line in file.read().decode(errors="replace").splitlines()
             if line.strip()]
    return lines[-1].split("] ", 1)[-1][:200] if lines else ""


@contextlib.contextmanager
def _bind(localhost: bool) -> Iterator[None]:
    """Make the Ray that ``ray.init`` starts listen on localhost only (``localhost``).

    Ray 2.60 binds its gRPC servers to localhost when the node's address is a loopback one,
    and to every interface otherwise; ``ray.init(_node_ip_address="127.0.0.1")`` is turned
    into the machine's address, but Ray's own switch for machines that are no cluster
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read once when Ray is imported, hence the
    module constant) makes the node's address 127.0.0.1. Checked by tests/test_reliability.py
    on the sockets of the processes Ray starts.
    """
    if not localhost:
        yield
        return
    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


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


