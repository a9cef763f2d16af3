"""The run directory and its study: names, the lock, atomic state, trials in and out (no Ray)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from nas.core import statefile
from nas.core.errors import NasError
from nas.core.space import create_space
from nas.core.statefile import write_atomic
from nas.search.store import (
    INTERRUPTED,
    RunDir,
    RunLock,
    RunStudy,
    list_runs,
    run_status,
)


@pytest.fixture()
def run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, "r1", {"space": "nasbench201", "controller": "random",
                                          "dataset": "digits", "trials": 4, "epochs": 1.0})


def test_create_and_open(tmp_path: Path, run: RunDir) -> None:
    assert RunDir.open(tmp_path, "r1").config["space"] == "nasbench201"
    with pytest.raises(NasError, match=r"already exists.*--resume r1"):
        RunDir.create(tmp_path, "r1", {})
    with pytest.raises(NasError, match=r"no run 'nope'.*runs there: r1"):
        RunDir.open(tmp_path, "nope")
    for bad in ("", "..", "a/b", ".hidden"):
        with pytest.raises(NasError, match="bad run name"):
            RunDir.create(tmp_path, bad, {})


def test_state_is_replaced_atomically(run: RunDir) -> None:
    assert run.load_state() is None
    run.save_state({"told": [0, 1], "pending": []})
    run.save_state({"told": [0, 1, 2], "pending": [], "w": torch.ones(3)})
    state = run.load_state()
    assert state is not None and state["told"] == [0, 1, 2] and torch.equal(state["w"],
                                                                              torch.ones(3))
    tensors = safetensors.torch.save({"w": torch.ones(3)})
    assert {p.name for p in run.path.iterdir() if p.name.startswith("state")} == {
        "state.json", statefile.tensor_file_name(run.path / "state.json", tensors)}
    assert [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")] == []
    write_atomic(run.path / "x", b"abc")
    assert (run.path / "x").read_bytes() == b"abc"


def test_an_old_pickled_state_is_refused_unopened(run: RunDir) -> None:
    (run.path / "state.pkl").mkdir()  # reading it would raise IsADirectoryError
    with pytest.raises(NasError) as e:
        run.load_state()
    assert str(e.value) == ("run 'r1' has state.pkl (a pickle, from an older nas); nas never "
                            "unpickles run files: start a new run")
    run.save_state({"told": []})  # a new state is what counts once there is one
    assert run.load_state() == {"told": []}


@pytest.mark.parametrize("content", [b"", b"\x80\x04garbage", b"[1, 2]", b'{"format": 1}'])
def test_a_damaged_state_is_one_line_naming_the_file(run: RunDir, content: bytes) -> None:
    (run.path / "state.json").write_bytes(content)
    with pytest.raises(NasError, match=str(run.path / "state.json")) as e:
        run.load_state()
    assert "\n" not in str(e.value)


def test_run_json_files_that_are_not_json_are_one_line(run: RunDir) -> None:
    (run.path / "summary.json").write_bytes(b"\xff\x00")
    with pytest.raises(NasError, match=r"summary.json is damaged \(not JSON"):
        run.summary()


def test_lock_names_the_holder_and_is_released(run: RunDir) -> None:
    lock = run.lock()
    assert run.is_active()
    with pytest.raises(NasError, match=rf"run 'r1' is being written by pid {os.getpid()}"):
        run.lock()
    lock.release()
    assert not run.is_active()
    with run.lock():
        assert RunLock.is_held(run.path / "lock")


def test_lock_of_a_killed_process_is_not_stale(run: RunDir) -> None:
    """kill -9 of the holder frees the lock at once: a resume is never blocked by a corpse."""
    code = ("import sys, time; from pathlib import Path; from nas.search.store import RunDir; "
            f"RunDir(Path({str(run.path)!r})).lock(); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(NasError, match=f"pid {holder.pid}"):
            run.lock()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    run.lock().release()  # the kernel dropped the dead holder's flock


def _study(run: RunDir) -> RunStudy:
    return RunStudy.open(run.storage_url, run.name, create_space("nasbench201"), create=True)


def test_trials_carry_the_genome_metrics_and_status(run: RunDir) -> None:
    space = create_space("nasbench201")
    study = _study(run)
    g0, g1, g2 = (space.from_indices([i] * len(space.decisions)) for i in range(3))
    n0 = study.start(g0, {"node": "n0", "device": "gpu 3"})
    n1 = study.start(g1, {})
    n2 = study.start(g2, {})
    assert (n0, n1, n2) == (0, 1, 2)
    metrics = {"accuracy": 91.5, "params": 1000.0, "macs": 2e6}
    study.finish(n0, state=TrialState.COMPLETE, value=91.5,
                 attrs={"status": "ok", "metrics": metrics, **metrics,
                        "latency_ms": math.nan}, curve=[80.0, 91.5])
    study.finish(n1, state=TrialState.FAIL, value=None,
                 attrs={"status": "error", "message": "ShapeError: too small"})

    frozen = study.study.trials
    assert frozen[0].state == TrialState.COMPLETE and frozen[0].value == 91.5
    assert frozen[0].params == g0.as_dict()  # one categorical param per decision
    assert frozen[0].distributions == {d.name: CategoricalDistribution(d.options)
                                       for d in space.decisions}
    assert frozen[0].user_attrs["genome"] == g0.to_dict()
    assert frozen[0].user_attrs["latency_ms"] is None  # NaN is not JSON
    assert frozen[0].user_attrs["device"] == "gpu 3"
    assert frozen[1].state == TrialState.FAIL and frozen[2].state == TrialState.RUNNING

    interrupted = study.mark_interrupted("cut off")
    assert [r.number for r in interrupted] == [2]
    records = RunStudy.open(run.storage_url, run.name, None).records()  # a reader: no space
    assert [(r.state, r.status, r.finished) for r in records] == [
        ("COMPLETE", "ok", True), ("FAIL", "error", True), ("FAIL", INTERRUPTED, False)]
    assert records[0].metrics() == metrics and records[0].genome == g0
    assert records[1].metrics() is None and records[1].message == "ShapeError: too small"
    assert records[2].genome == g2


def test_list_runs_and_status(tmp_path: Path, run: RunDir) -> None:
    space = create_space("nasbench201")
    study = _study(run)
    for i, acc in enumerate([70.0, 95.0, None]):
        n = study.start(space.from_indices([i] * len(space.decisions)), {})
        if acc is None:
            study.finish(n, state=TrialState.FAIL, value=None,
                         attrs={"status": "diverged", "message": "loss became nan"})
        else:
            study.finish(n, state=TrialState.COMPLETE, value=acc,
                         attrs={"status": "ok", "params": 10.0 * i, "macs": 1e6})
    run.write_summary({"state": "running", "done": 3, "failed": 1, "elapsed": 12.0,
                       "best": {"accuracy": 95.0, "genome_id": "x"}})
    rows = list_runs(tmp_path)
    assert [(r["name"], r["done"], r["best_accuracy"]) for r in rows] == [("r1", 3, 95.0)]
    assert rows[0]["state"] == "interrupted"  # says running, but no process holds the lock
    with run.lock():
        assert list_runs(tmp_path)[0]["state"] == "running"
    status = run_status(tmp_path, "r1", top=1)
    assert status["done"] == 3 and status["failed"] == 1
    assert [b["accuracy"] for b in status["best"]] == [95.0]
    assert status["best"][0]["params"] == 10.0
    assert status["failures"][0]["status"] == "diverged"
    assert list_runs(tmp_path / "missing") == []


def test_a_second_study_of_the_same_name_is_refused(run: RunDir) -> None:
    _study(run)
    with pytest.raises(NasError, match="already has a study 'r1'"):
        RunStudy.open(run.storage_url, run.name, create_space("nasbench201"), create=True,
                      load=False)
    with pytest.raises(NasError, match="has no study 'other'"):
        RunStudy.open(run.storage_url, "other", None)
    resumed = RunStudy.open(run.storage_url, run.name, None, create=True, load=True)
    assert resumed.records() == []
