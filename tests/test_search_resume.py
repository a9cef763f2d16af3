"""Kill a search with SIGKILL mid-run, resume it: nothing lost, nothing told twice, same budget.

The search runs as ``nas search`` in a subprocess on this module's Ray cluster (joined with
``--address``, which also saves a Ray start); the resume runs in this process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ray

from nas.search.loop import run_search
from nas.search.store import INTERRUPTED, RunDir, RunStudy

TRIALS = 8


@pytest.fixture(scope="module")
def address() -> Any:
    if ray.is_initialized():  # left running by another module: start ours cleanly
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _snapshot(run: RunDir) -> dict[int, tuple[str, str, float | None, str]]:
    records = RunStudy.open(run.storage_url, run.name, None).records()
    return {r.number: (r.state, r.status, r.accuracy, r.genome.to_json()) for r in records}


def test_sigkill_mid_run_then_resume(address: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "nas", "search", "--space", "nasbench201",
            "--space-option", "channels=8", "--space-option", "cells_per_stage=1",
            "--controller", "rl", "--option", "batch_size=2", "--trials", str(TRIALS),
            "--epochs", "1", "--limit", "300", "--name", "k", "--runs-dir", str(tmp_path),
            "--address", address, "--plain"]
    search = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    finished_lines = 0
    assert search.stdout is not None
    for line in search.stdout:  # one line per finished child
        finished_lines += " trial " in line
        if finished_lines == 3:
            break
    search.send_signal(signal.SIGKILL)  # no cleanup: children in flight, study half-written
    search.wait()
    assert finished_lines == 3, "the search ended before it could be killed"

    run = RunDir.open(tmp_path, "k")
    before = _snapshot(run)
    finished_before = {n: t for n, t in before.items() if t[0] != "RUNNING"}
    running_before = {n: t for n, t in before.items() if t[0] == "RUNNING"}
    assert 3 <= len(finished_before) < TRIALS
    assert running_before  # in flight: a round's lines are printed after its new trials are written
    elapsed_before = run.load_state()["elapsed"]  # type: ignore[index]

    result = run_search(resume="k", runs_dir=tmp_path)  # joins this process's Ray
    assert result.stop_reason == "budget"

    after = _snapshot(run)
    for n, trial in finished_before.items():  # no finished trial lost or changed
        assert after[n] == trial
    for n in running_before:  # cut off by the kill: marked, and not counted
        assert after[n][:2] == ("FAIL", INTERRUPTED)
    finished = {n: t for n, t in after.items() if t[1] != INTERRUPTED}
    assert len(finished) == TRIALS  # the budget is over the whole run
    assert all(t[0] != "RUNNING" for t in after.values())
    genomes = [t[3] for t in finished.values()]
    assert len(set(genomes)) == TRIALS  # no child trained twice
    for t in running_before.values():  # the interrupted genomes were trained again
        assert t[3] in genomes

    state = run.load_state()
    assert state is not None
    assert state["told"] == sorted(finished) and state["pending"] == []
    assert state["elapsed"] >= elapsed_before  # time is counted over both sessions
    # rl learns every batch_size=2 results: every result told exactly once (+ revisits)
    controller = state["controller"]
    revisits = (run.path / "search.log").read_text().count("proposed again")
    assert controller["updates"] * 2 + len(controller["buffer"]) == TRIALS + revisits
    summary = run.summary()
    assert summary["state"] == "finished" and summary["done"] == TRIALS
    assert "resume:" in (run.path / "search.log").read_text()
