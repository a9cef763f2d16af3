"""Load (issue 13): 8 logical GPUs, 200 one-second children, and readers in a loop beside them.

``nas search`` runs in a subprocess on this module's Ray cluster (8 logical GPUs, so 8 workers
run children at once; ``--address`` joins it), with children that sleep 1 s instead of
training (``NAS_TEST_CHILD_SECONDS``, :func:`nas.evaluators.scratch.sleeping_child`): the
driver, the controller, the Optuna study on SQLite and the state file are the real ones, and
the driver writes about 8 trials a second. Meanwhile this process runs ``nas runs``, ``nas
status RUN`` and ``nas report RUN`` (in-process, through the CLI's ``main``) in a loop, and
reads the run's JSON files (config.json, summary.json, state.json) directly, until the search
ends. Asserted:

- no lock error: every reader call succeeds (only before the run has a study may ``status``
  and ``report`` refuse, in one known line), and the search ends normally;
- no torn read: every JSON read parses, and the count of finished children a reader sees
  never goes down;
- no lost trial: the study has exactly 200 finished trials, numbered 0-199, each ``ok``, each
  genome in one trial only, and the saved state has told every one of them.

Measured on the 2-core development machine, shared with other jobs: the search took 77 s
(the ideal is 25 s of children, plus the start of Ray's 8 worker processes) with 117 reader
rounds beside it, and the whole test 87 s; under a load average of 10, 126 s and 141 s. The
full 200 children fit, so nothing is scaled down (see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from runfolder import cli, sleeping_ray

from nas.search.store import RunDir, RunStudy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 200
GPUS = 8
SECONDS = "1"  # each child's sleep
#: What a reader may say while the run exists but has no study yet (the driver is creating it).
MID_CREATION = ("has no trials yet", "has no study")


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    with sleeping_ray(GPUS, SECONDS) as gcs:
        yield gcs


def _read_json(path: Path) -> object | None:
    """The file's JSON, None when it does not exist (yet); a torn file fails the test."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return json.loads(text)  # every file nas writes is replaced atomically: never half


def test_readers_beside_a_search_of_200_children_on_8_gpus(address: str,
                                                            tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}", "RAY_USAGE_STATS_ENABLED": "0",
           "NAS_TEST_CHILD_SECONDS": SECONDS}
    argv = [sys.executable, "-m", "nas", "search", "--space", "nasbench201",
            "--space-option", "channels=8", "--space-option", "cells_per_stage=1",
            "--controller", "random", "--dataset", "digits", "--limit", "100",
            "--epochs", "1", "--trials", str(TRIALS), "--gpus", str(GPUS), "--name", "load",
            "--runs-dir", str(runs), "--address", address, "--plain"]
    out_file, err_file = tmp_path / "search.out", tmp_path / "search.err"
    t0 = time.monotonic()
    with out_file.open("w") as out, err_file.open("w") as err:
        search = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
    calls: Counter[str] = Counter()  # successful reader calls, per reader
    refused: list[str] = []  # one-line refusals while the run was being created
    seen_done = {"runs": 0, "status": 0, "summary": 0}  # the most children each has seen
    rounds = 0

    def saw(reader: str, done: int) -> None:
        assert done >= seen_done[reader], f"{reader}: {done} children after {seen_done[reader]}"
        seen_done[reader] = done

    try:
        while search.poll() is None:
            rounds += 1
            code, text, err = cli(["runs", "--runs-dir", str(runs), "--json"])
            assert code == 0 and not err, err
            rows = json.loads(text)
            calls["runs"] += 1
            for row in rows:
                assert row["state"] != "damaged", row
                saw("runs", row["done"])
            if not rows:
                time.sleep(0.2)
                continue
            for argv_ in (["status", "load", "--runs-dir", str(runs), "--json"],
                          ["report", "load", "--runs-dir", str(runs), "--out",
                           str(tmp_path / "report"), "--json"]):
                code, text, err = cli(argv_)
                if code != 0:  # only while the driver creates the run, in one known line
                    assert not calls["status"], f"nas {argv_[0]} after a success: {err}"
                    assert len(err.strip().splitlines()) == 1, err
                    assert any(m in err for m in MID_CREATION), err
                    refused.append(err.strip())
                    continue
                assert not err, err
                answer = json.loads(text)
                calls[argv_[0]] += 1
                if argv_[0] == "status":
                    saw("status", answer["done"])
            run = runs / "load"
            for name in ("config.json", "summary.json", "state.json"):
                value = _read_json(run / name)
                if value is not None:
                    calls[name] += 1
                    if name == "summary.json":
                        saw("summary", value["done"])  # type: ignore[index]
        search.wait()
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    seconds = time.monotonic() - t0
    err_text = err_file.read_text()
    assert search.returncode == 0, err_text
    assert "locked" not in err_text.lower() and "Traceback" not in err_text, err_text
    print(f"\nload: {TRIALS} children of {SECONDS} s on {GPUS} GPUs in {seconds:.1f} s; "
          f"{rounds} reader rounds: {dict(calls)}; {len(refused)} refusal(s) while the run "
          f"was created: {sorted(set(refused))}")
    assert calls["status"] >= 3 and calls["report"] >= 3  # the readers ran beside the search

    run_dir = RunDir.open(runs, "load")
    records = RunStudy.open(run_dir.storage_url, "load", None).records()
    assert [r.number for r in records] == list(range(TRIALS))  # no lost trial, none extra
    assert all(r.state == "COMPLETE" and r.status == "ok" for r in records)
    genomes = [r.genome.to_json() for r in records]
    assert len(set(genomes)) == TRIALS  # each genome judged in one trial only
    assert len({r.attrs["gpu_ids"][0] for r in records}) == GPUS  # every GPU had children
    state = run_dir.load_state()
    assert state is not None and state["told"] == list(range(TRIALS))
    assert state["pending"] == []
    summary = run_dir.summary()
    assert summary["state"] == "finished" and summary["done"] == TRIALS
    code, text, err = cli(["status", "load", "--runs-dir", str(runs), "--json"])
    assert code == 0 and json.loads(text)["done"] == TRIALS
