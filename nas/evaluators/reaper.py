"""Stop the Ray processes a driver started when the driver dies without stopping them.

A search that starts Ray on this machine (no ``--address``) owns its GCS, raylet, agents and
workers. Ctrl-C, SIGTERM and errors stop them (``ray.shutdown``), but a ``kill -9`` of the
driver leaves them running until they notice on their own (60-90 s measured, holding the CPU
slots and memory meanwhile). The reaper is a tiny separate process, started right after
``ray.init``, that holds the read end of a pipe whose write end only the driver has: the
kernel closes it when the driver dies, however it dies, and the reaper wakes at once (no
polling). If the driver said goodbye first (a clean ``ray.shutdown``), the reaper just exits;
otherwise it sends SIGTERM to the process trees it was given (the Ray processes the driver
started: their pids and start times, so that a recycled pid is never hit), then SIGKILL to
what is left a few seconds later.

It kills only the processes it was given and their descendants, never by name. It runs as a
script (``python -I reaper.py``), with the standard library only, so it starts in
milliseconds and needs none of nas's imports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BYE = b"bye\n"  # what the driver writes before a clean shutdown
GRACE = 3.0  # seconds between SIGTERM and SIGKILL


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them, parents first."""
    kids = _children()
    out: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop(0)
        if pid not in out:
            out.append(pid)
            todo += kids.get(pid, [])
    return out


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` now (the Ray processes ``ray.init`` started)."""
    return sorted(_children().get(pid, []))


def workers_of(raylets: list[int]) -> list[int]:
    """Ray's worker processes whose raylet is one of ``raylets``: Ray tells each worker its
    raylet's pid in the environment (``RAY_RAYLET_PID``), and some workers are not the
    raylet's descendants (re-parented to init)."""
    wanted = {f"RAY_RAYLET_PID={p}".encode() for p in raylets}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted.intersection(environ):
            found.append(int(entry))
    return found


def reap(targets: dict[int, str]) -> int:
    """SIGTERM the trees of ``targets`` (pid -> start time) and their Ray workers, then
    SIGKILL what is left."""
    alive = [p for p, t in targets.items() if start_time(p) == t]
    # a raylet that died first has left its agents and workers to init: found by its pid
    tree = {p: start_time(p) for p in descendants([*alive, *workers_of(list(targets))])}
    for pid in tree:
        with contextlib.suppress(OSError):  # gone meanwhile
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and any(start_time(p) == t for p, t in tree.items()):
        time.sleep(0.1)
    for pid, t in tree.items():
        if t is not None and start_time(pid) == t:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return len(tree)


class Reaper:
    """The driver's side: start the reaper for ``pids``; :meth:`close` before a clean
    shutdown (or the reaper stops them when this process dies)."""

    def __init__(self, pids: list[int]) -> None:
        # the whole tree now: the raylet's agents are orphaned if the raylet dies first
        times = {p: start_time(p) for p in descendants(pids)}
        targets = [f"{p}:{t}" for p, t in times.items() if t is not None]
        read, self._write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", __file__, *targets], stdin=read, close_fds=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # Ctrl-C in the terminal is the driver's, not its
        os.close(read)
        os.set_inheritable(self._write, False)  # Ray's processes must not hold it open

    def close(self) -> None:
        """Say goodbye: the driver stops Ray itself."""
        if self._write < 0:
            return
        try:
            os.write(self._write, BYE)
        finally:
            os.close(self._write)
            self._write = -1
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end decides
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    targets = {int(p): t for p, t in (a.split(":", 1) for a in argv)}
    said = b""
    while True:  # returns at EOF: the driver closed the pipe, or died
        chunk = os.read(0, 64)
        if not chunk:
            break
        said += chunk
    if said.startswith(BYE):
        return 0
    reap(targets)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
