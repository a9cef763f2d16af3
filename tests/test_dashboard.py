"""The run's study as optuna-dashboard sees it: what the run is, integer counts, failed
children without a value, each child's picture as an artifact, served over HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from nas.core.genome import Genome
from nas.evaluators.base import Evaluation
from nas.evaluators.table import Table, TableEvaluator, shipped_table
from nas.results.artifacts import trial_pictures
from nas.search.config import SearchConfig
from nas.search.loop import make_context, run_search
from nas.search.store import RunDir, RunStudy

ROOT = Path(__file__).resolve().parents[1]


class SlowTableEvaluator(TableEvaluator):
    """The real table evaluator (NAS-Bench-201's accuracies, exact costs) made to look like a
    training: each batch takes ``pause`` seconds, a child gets a two-epoch curve and a step
    count, and genomes whose first edge is ``none`` fail, as a child that cannot be trained
    would. Not registered: the test hands it to the search."""

    name = "slow-table"
    pause = 0.5

    def evaluate(self, genomes: Sequence[Genome]) -> list[Evaluation]:
        time.sleep(self.pause)
        out = []
        for g, looked_up in zip(genomes, super().evaluate(genomes), strict=True):
            if g["edge_0_1"] == "none":
                out.append(Evaluation.failed("the first edge is cut"))
                continue
            accuracy = looked_up.metrics["accuracy"]
            looked_up.metrics["steps"] = 40.0
            looked_up.curve = [accuracy - 5.0, accuracy]
            out.append(looked_up)
        return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    config = SearchConfig(space="nasbench201", controller="random", trials=8, seed=4,
                          space_options={"channels": 8, "cells_per_stage": 1})
    # the run needs no costs; the evaluator is told to look them up all the same
    context = dataclasses.replace(make_context(config), metrics=("macs", "params"))
    evaluator = SlowTableEvaluator(context)
    result = run_search(config, name="dash", runs_dir=tmp_path_factory.mktemp("runs"),
                        evaluator=evaluator, pictures=trial_pictures)
    assert result.run is not None and result.done == 8
    return result.run


def _study(run: RunDir) -> Any:
    return RunStudy.open(run.storage_url, run.name, None).study


def test_the_study_says_what_the_run_is(run: RunDir) -> None:
    attrs = _study(run).user_attrs
    assert attrs["config"]["space"] == "nasbench201" and attrs["config"]["trials"] == 8
    assert isinstance(attrs["config"]["trials"], int)
    assert attrs["evaluator"] == {"name": "slow-table", "options": {"table": None},
                                  "table": str(shipped_table("nasbench201"))}
    assert attrs["objective"]["cost"] is None


def test_counts_are_integers_and_failures_have_no_value(run: RunDir) -> None:
    trials = _study(run).trials
    failed = [t for t in trials if t.state.name == "FAIL"]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert failed and done, "seed 4 draws both kinds"
    for t in failed:
        assert t.value is None and t.values is None and t.user_attrs["status"] == "error"
        assert t.user_attrs["metrics"] is None and t.user_attrs["reward"] is None
    table = Table(shipped_table("nasbench201"))
    for t in done:
        for key in ("params", "macs", "steps"):
            assert type(t.user_attrs[key]) is int, key
        assert t.user_attrs["accuracy"] == table.accuracy(
            Genome.from_dict(t.user_attrs["genome"]))
        assert list(t.intermediate_values) == [1, 2]
        assert t.value == pytest.approx(t.user_attrs["accuracy"])


def test_children_have_their_layer_table_as_an_artifact(run: RunDir) -> None:
    from optuna.artifacts import get_all_artifact_meta

    study = _study(run)
    with_pictures = [t for t in study.trials
                     if get_all_artifact_meta(t, storage=study._storage)]
    assert with_pictures, "children that last 0.5 s get their picture"
    trial = with_pictures[0]
    (meta,) = get_all_artifact_meta(trial, storage=study._storage)
    assert meta.filename == f"{Genome.from_dict(trial.user_attrs['genome']).id}.layers.txt"
    with run.artifact_store().open_reader(meta.artifact_id) as f:
        assert "multiply-adds" in f.read().decode()
    assert not (run.path / "pictures").exists()  # drawings are moved into the store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def dashboard(run: RunDir) -> Iterator[str]:
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed "
                        "(pip install 'nas[dashboard]')")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "nas", "dashboard", run.name,
                               "--runs-dir", str(run.path.parent), "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/studies", timeout=5).read()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _get(url: str) -> Any:
    return json.loads(urllib.request.urlopen(url, timeout=30).read())


def test_dashboard_serves_params_curves_and_artifacts(dashboard: str) -> None:
    (summary,) = _get(f"{dashboard}/api/studies")["study_summaries"]
    assert summary["study_name"] == "dash"
    study = _get(f"{dashboard}/api/studies/{summary['study_id']}")
    finished = [t for t in study["trials"] if t["state"] == "Complete" and t["artifacts"]]
    assert finished
    trial = finished[0]
    assert {p["name"] for p in trial["params"]} == {
        "edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"}
    assert [v["step"] for v in trial["intermediate_values"]] == [1, 2]
    attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
    assert attrs["params"].isdigit()  # an integer count
    artifact = trial["artifacts"][0]
    body = urllib.request.urlopen(
        f"{dashboard}/artifacts/{summary['study_id']}/{trial['trial_id']}/"
        f"{artifact['artifact_id']}", timeout=30).read()
    assert b"multiply-adds" in body


def test_dashboard_without_optuna_dashboard_says_how_to_install(run: RunDir) -> None:
    code = ("import importlib.abc, sys\n"
            "class No(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'optuna_dashboard': raise ImportError(name)\n"
            "sys.meta_path.insert(0, No())\n"
            "from nas.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", code, "dashboard", run.name, "--runs-dir",
                           str(run.path.parent)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip() == ("nas dashboard: error: nas dashboard needs optuna-dashboard, "
                                   "which is not installed: pip install 'nas[dashboard]'")
