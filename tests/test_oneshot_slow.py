"""Weight-sharing search under faults and on several workers (slow: Ray Train, subprocesses).

- Ray Train with two gloo workers on the CPU: both ranks hold bit-identical weights and
  architecture parameters after training, and derive the same genome, which is the one the
  run records.
- ``kill -9`` of ``nas search`` during supernet training, then ``--resume``: training continues
  from the last epoch and the run ends exactly as an uninterrupted run of the same seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import torch

from nas.evaluators.supernet.trainer import digest
from nas.search.config import SearchConfig
from nas.search.loop import run_search
from nas.search.store import RunDir, RunStudy

pytestmark = pytest.mark.slow

TINY = {"channels": 4, "cells_per_stage": 1}
FAST = {"batch_size": 32, "bn_batches": 1, "val_batches": 1, "score_batch_size": 64}


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def records(tmp_path: Path, name: str) -> list[Any]:
    run = RunDir.open(tmp_path, name)
    return RunStudy.open(run.storage_url, run.name, None).records()


def test_two_gloo_workers_agree_on_weights_and_genome(address: str, tmp_path: Path) -> None:
    config = SearchConfig(space="nasbench201", space_options=dict(TINY), controller="random",
                          evaluator="supernet",
                          evaluator_options={"method": "gdas", "epochs": 2, "workers": 2,
                                             "candidates": 0, **FAST},
                          dataset="digits", limit=300, trials=1, seed=0)
    result = run_search(config, name="ddp", runs_dir=tmp_path)
    assert result.done == 1
    folder = tmp_path / "ddp" / "evaluator" / "gdas"
    ranks = [json.loads((folder / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["epoch"] == ranks[1]["epoch"] == 2
    assert ranks[0]["weights"] == ranks[1]["weights"]  # bit-identical weights and alphas
    assert ranks[0]["genome"] == ranks[1]["genome"] is not None
    ckpt = torch.load(folder / "supernet.pt", weights_only=True)  # rank 0's, read back
    saved = {**ckpt["state_dict"], **{f"alpha.{g}": a
                                      for g, a in ckpt["arch_parameters"].items()}}
    assert digest(saved) == ranks[0]["weights"]
    derived = records(tmp_path, "ddp")[0]
    assert derived.attrs["result"]["derived"] and derived.genome.to_dict() == ranks[0]["genome"]
    assert "2 data-parallel workers" in (tmp_path / "ddp" / "search.log").read_text()


def test_kill_9_during_supernet_training_then_resume(tmp_path: Path) -> None:
    options = {"epochs": 5, **FAST}
    argv = [sys.executable, "-m", "nas", "search", "--space", "nasbench201", "--method", "spos",
            "--space-option", "channels=4", "--space-option", "cells_per_stage=1",
            "--controller", "evolution", "--trials", "4", "--limit", "300", "--name", "k",
            "--runs-dir", str(tmp_path), "--plain"]
    for key, value in options.items():
        argv += ["--evaluator-option", f"{key}={value}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the thread count of this process's tests
    search = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
    progress = tmp_path / "k" / "evaluator" / "spos" / "progress.json"
    deadline = time.time() + 300
    while time.time() < deadline and search.poll() is None:
        if progress.is_file() and json.loads(progress.read_text())["epoch"] >= 2:
            break
        time.sleep(0.05)
    search.send_signal(signal.SIGKILL)  # mid-training: no cleanup at all
    search.wait()
    epoch = torch.load(progress.with_name("supernet.pt"), weights_only=True)["epoch"]
    assert 2 <= epoch < 5, "the search was not killed during supernet training"
    assert records(tmp_path, "k") == []  # no child judged yet

    result = run_search(resume="k", runs_dir=tmp_path)
    assert result.stop_reason == "budget" and result.done == 4
    log = (tmp_path / "k" / "search.log").read_text()
    assert f"resumed from epoch {epoch}/5" in log

    config = SearchConfig.from_dict(RunDir.open(tmp_path, "k").config)
    run_search(config, name="whole", runs_dir=tmp_path)
    killed, whole = records(tmp_path, "k"), records(tmp_path, "whole")
    assert [(r.genome, r.accuracy) for r in killed] == [(r.genome, r.accuracy) for r in whole]
    weights = [torch.load(tmp_path / n / "evaluator" / "spos" / "supernet.pt",
                          weights_only=True)["state_dict"] for n in ("k", "whole")]
    assert digest(weights[0]) == digest(weights[1])
