"""Faults (issue 13): kill -9 of child workers and of the driver, several times in one run.

One run of ``nas search`` (rl controller, 40 children that sleep 1 s instead of training:
``NAS_TEST_CHILD_SECONDS``; 4 logical GPUs of this module's Ray cluster, joined with
``--address``) is driven by subprocesses: the first session, then ``nas search --resume RUN``
after each driver kill. At moments drawn from a generator seeded with ``SEED``:

- in two of the first three sessions, SIGKILL to one or two Ray worker processes that are
  running a child (``ray::ChildWorker.run``), each after a drawn number of finished children
  plus a drawn fraction of a second, then to the driver likewise (anywhere in its loop: a
  study write, a state save, a dispatch);
- in the other (a resume), SIGKILL to the driver a drawn 0-4 s after it logged its resume,
  while it restores the run and its workers start;
- the fourth session runs to the end, with one more worker killed, whose child Ray runs again
  on the restarted worker.

Asserted: the finished search has exactly its budget of finished children, each ``ok`` (a
killed worker's child is run again, never lost), each genome judged in one trial only, every
trial cut off by a driver kill marked interrupted and its genome judged again, no trial left
running, the saved state has told every finished trial, and the controller learned from every
result exactly once (plus the revisits it was told). ``NAS_FAULTS_SEED=N`` draws other
moments: ``bench/fault_soak.py`` runs many seeds.

Measured on the 2-core development machine, shared with other jobs: 104-163 s
(see docs/reliability.md).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest
from runfolder import sleeping_ray

from nas.search.store import INTERRUPTED, RunDir, RunStudy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("NAS_FAULTS_SEED", "13"))  # the moments of the kills
TRIALS = 40
GPUS = 4
DRIVER_KILLS = 3
SECONDS = "1"  # each child's sleep


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    with sleeping_ray(GPUS, SECONDS) as gcs:
        yield gcs


def child_workers() -> list[int]:
    """Pids of the Ray worker processes running a child now (Ray titles them by the call)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::ChildWorker.run"):
            pids.append(int(proc.name))
    return sorted(pids)


class Driver:
    """One ``nas search`` session in a subprocess; its finished-child lines are counted."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        self.finished = 0  # children finished in this session (one line each)
        self.lines: Queue[str | None] = Queue()
        self.err = ""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err = self.proc.stderr.read()

    def wait_children(self, n: int, timeout: float = 180.0) -> bool:
        """Until ``n`` children have finished in this session; False if it ended first."""
        deadline = time.monotonic() + timeout
        while self.finished < n:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                raise AssertionError(f"no child finished in {timeout:.0f} s") from None
            if line is None:
                return False
            self.finished += " trial " in line
        return True

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def session_workers(log: Path) -> set[int]:
    """Pids of the workers the current session of the run started (its "ready" lines, after
    its resume line): a dead driver's workers may still be running its children for a while,
    until Ray stops them, and are not this session's to kill."""
    text = log.read_text()
    current = text.rsplit("INFO resume f:", 1)[-1]
    return {int(pid) for pid in re.findall(r" ready on node .*, pid (\d+)\)", current)}


def kill_a_worker(rng: random.Random, log: Path, timeout: float = 30.0) -> int:
    """SIGKILL one worker of the current session that is running a child (drawn with
    ``rng``); its pid."""
    deadline = time.monotonic() + timeout
    while not (pids := sorted(set(child_workers()) & session_workers(log))):
        assert time.monotonic() < deadline, "no worker of this session was running a child"
        time.sleep(0.05)
    pid = rng.choice(pids)
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_for_line(path: Path, text: str, count: int, timeout: float = 120.0) -> None:
    """Until ``path`` holds ``text`` more than ``count`` times."""
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.read_text().count(text) > count):
        assert time.monotonic() < deadline, f"{path} never had {text!r} {count + 1} times"
        time.sleep(0.05)


def test_kill_workers_and_the_driver_at_random_moments(address: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}", "RAY_USAGE_STATS_ENABLED": "0",
           "NAS_TEST_CHILD_SECONDS": SECONDS}
    common = ["--runs-dir", str(tmp_path), "--address", address, "--plain"]
    first = [sys.executable, "-m", "nas", "search", "--space", "nasbench201",
             "--space-option", "channels=8", "--space-option", "cells_per_stage=1",
             "--controller", "rl", "--option", "batch_size=2", "--dataset", "digits",
             "--limit", "100", "--epochs", "1", "--trials", str(TRIALS), "--gpus", str(GPUS),
             "--seed", str(SEED), "--name", "f", *common]
    resume = [sys.executable, "-m", "nas", "search", "--resume", "f", *common]
    log_path = tmp_path / "f" / "search.log"
    t0 = time.monotonic()
    killed_workers: list[int] = []
    early = rng.randrange(1, DRIVER_KILLS)  # the resume whose driver dies as it starts
    for session in range(DRIVER_KILLS):
        driver = Driver(first if session == 0 else resume, env)
        if session == early:  # while it restores the run and starts its workers
            wait_for_line(log_path, "INFO resume f:", session - 1)
            time.sleep(rng.uniform(0.0, 4.0))
        else:
            at = 0
            for _ in range(rng.randint(1, 2)):  # worker kills, each while a child runs
                at += rng.randint(1, 3)
                assert driver.wait_children(at), f"session {session} ended: {driver.err}"
                time.sleep(rng.uniform(0.0, 0.9))
                killed_workers.append(kill_a_worker(rng, log_path))
            assert driver.wait_children(at + rng.randint(1, 4)), driver.err
            time.sleep(rng.uniform(0.0, 0.9))  # anywhere in the loop: a save, a study write
        assert driver.proc.poll() is None, f"session {session} ended: {driver.err}"
        driver.kill()
        assert driver.proc.returncode == -signal.SIGKILL
    last = Driver(resume, env)  # to the end, with one more worker killed: its child retried
    assert last.wait_children(rng.randint(1, 3)), last.err
    time.sleep(rng.uniform(0.0, 0.9))
    killed_workers.append(kill_a_worker(rng, log_path))
    last.proc.wait(timeout=600)
    seconds = time.monotonic() - t0
    assert last.proc.returncode == 0, last.err
    assert "Traceback" not in last.err, last.err

    run = RunDir.open(tmp_path, "f")
    log = (run.path / "search.log").read_text()
    records = RunStudy.open(run.storage_url, "f", None).records()
    finished = [r for r in records if r.status != INTERRUPTED]
    interrupted = [r for r in records if r.status == INTERRUPTED]
    print(f"\nfaults: {DRIVER_KILLS} driver kills, {len(killed_workers)} worker kills, "
          f"{len(interrupted)} trial(s) interrupted, {len(records)} trials in all, "
          f"{seconds:.1f} s")
    assert len(killed_workers) >= DRIVER_KILLS - 1  # 1-2 in each session but the early one
    assert all(r.state != "RUNNING" for r in records)
    assert len(finished) == TRIALS  # exactly the budget, over the whole run
    assert all(r.state == "COMPLETE" and r.status == "ok" for r in finished), \
        [(r.number, r.status, r.message) for r in finished if r.status != "ok"]
    genomes = [r.genome.to_json() for r in finished]
    assert len(set(genomes)) == TRIALS  # each genome in one trial only
    assert {r.genome.to_json() for r in interrupted} <= set(genomes)  # judged again
    assert "was retried there" in log  # a killed worker's child was run again
    state = run.load_state()
    assert state is not None
    assert state["told"] == sorted(r.number for r in finished) and state["pending"] == []
    # rl learns every batch_size=2 results: every result told exactly once, plus the
    # revisits (a known genome proposed again is told its result, without a trial). Those of
    # the last session are all in its saved state; one in a killed session is lost with the
    # state when it came after the last save (as a proposal is), yet search.log has its line.
    controller = state["controller"]
    told = controller["updates"] * 2 + len(controller["buffer"])
    last_session = log.rsplit("INFO resume f:", 1)[1]
    assert TRIALS + last_session.count("proposed again") <= told
    assert told <= TRIALS + log.count("proposed again")
    summary = run.summary()
    assert summary["state"] == "finished" and summary["done"] == TRIALS
    assert log.count("resume:") >= DRIVER_KILLS - 1  # the early kill may precede its line
