"""Runs written before multiply-adds were stored as ``macs`` (issue 15) still read.

Until then nas stored a network's multiply-adds per image under ``flops``: in its trials' user
attributes (flat and in ``metrics``), ``summary.json``, ``config.json``'s ``cost``, ``nas
compare``'s results, checkpoints and summary rows. The fixture makes a real small run (the
``table`` evaluator with a MACs cost: no Ray, no training) and rewrites every one of those keys
back to ``flops``, as the old code wrote them; each reader must then see what it saw before
the rewrite, under ``macs`` (:func:`nas.core.metrics.current`). ``nas compare`` reusing an old
retraining is checked on a real one in tests/test_compare.py.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import torch
from runfolder import cli

from nas.api import load_run
from nas.core.cost import layer_table, table_dict, totals
from nas.core.fmt import count, human
from nas.core.metrics import current
from nas.core.space import create_space
from nas.core.statefile import read_json, write_json
from nas.results.compare import (
    COMPARE_DIR,
    RESULT_FORMAT,
    Contender,
    Row,
    contender_budget,
    load_result,
    retraining_key,
)
from nas.search.config import SearchConfig
from nas.search.loop import QuietView, run_search
from nas.search.store import RunDir, RunStudy
from nas.training.checkpoint import load_checkpoint, save_checkpoint

CONFIG = SearchConfig(space="nasbench201", evaluator="table", controller="random", trials=4,
                      seed=0, cost="macs", cost_target=1e8)


def _old_study(file: Path) -> None:
    """Rename the key ``macs`` to ``flops`` in every trial's user attributes, flat and inside
    ``metrics`` and ``result`` (as a trained child's Result.to_dict() had it)."""
    with sqlite3.connect(file) as db:
        db.execute("UPDATE trial_user_attributes SET key = 'flops' WHERE key = 'macs'")
        rows = db.execute("SELECT trial_user_attribute_id, trial_id, key, value_json FROM "
                          "trial_user_attributes WHERE key IN ('metrics', 'result')").fetchall()
        macs = dict(db.execute("SELECT trial_id, value_json FROM trial_user_attributes "
                               "WHERE key = 'flops'").fetchall())
        for row_id, trial, key, value in rows:
            value = json.loads(value)
            if key == "result":  # the table's detail: given a trained Result's key
                value["macs"] = json.loads(macs[trial])
            value = {("flops" if k == "macs" else k): v for k, v in value.items()}
            db.execute("UPDATE trial_user_attributes SET value_json = ? WHERE "
                       "trial_user_attribute_id = ?", (json.dumps(value), row_id))
        left = db.execute("SELECT COUNT(*) FROM trial_user_attributes WHERE key = 'macs' OR "
                          "value_json LIKE '%\"macs\"%'").fetchone()[0]
    assert left == 0


def _old_compare(run: RunDir, trial: int, macs: int) -> None:
    """A ``nas compare`` retraining of ``trial`` with its checkpoint, and the comparison's
    summary.json, as the old nas wrote them (``flops`` in the result, metrics and rows)."""
    record = RunStudy.open(run.storage_url, run.name, None).records()[trial]
    torch.manual_seed(0)
    model = create_space("nasbench201").build(record.genome, (3, 32, 32), 10)
    result = {"status": "ok", "best_val_top1": 50.0, "final_val_top1": 50.0, "test_top1": 49.0,
              "val_top1": [50.0], "epochs": 1.0, "steps": 3, "params": 1, "flops": macs,
              "train_seconds": 1.0, "latency_ms_b1": 0.5}
    directory = run.path / COMPARE_DIR
    save_checkpoint(directory / "checkpoints" / "old.pt", model, record.genome, result=result,
                    input_shape=(3, 32, 32), num_classes=10,
                    metrics={"accuracy": 50.0, "flops": float(macs)})
    write_json(directory / "results" / "old.json", {
        "format": RESULT_FORMAT, "label": f"trial-{trial}", "baseline": False, "trial": trial,
        "search_accuracy": record.accuracy, "genome": record.genome.to_dict(),
        "genome_id": record.genome.id, "space_options": {}, "seed": 0, "key": "old",
        "recipe": {"batch_size": 32}, "budget": {"epochs": 1.0}, "data": {}, "result": result,
        "checkpoint": "checkpoints/old.pt", "where": {}, "seconds": 1.0})
    row = asdict(Row(f"trial-{trial}", False, record.genome.id, trial, record.accuracy,
                     seeds=1, ok=1, test_mean=49.0, val_mean=50.0, params=1, macs=macs))
    write_json(directory / "summary.json", {
        "settings": {"run": run.name, "budget": None, "epochs": 1.0, "seeds": [0],
                     "data": {"summary": "old data"}},
        "rows": [{("flops" if k == "macs" else k): v for k, v in row.items()}]})


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunDir, dict[int, Any]]:
    """The old-format run and what the current nas read from it before the rewrite (trial
    number -> its MACs)."""
    result = run_search(CONFIG, name="old", runs_dir=tmp_path_factory.mktemp("runs"),
                        view=QuietView())
    run = result.run
    assert run is not None and result.done == 4
    records = RunStudy.open(run.storage_url, run.name, None).records()
    macs = {r.number: r.attrs["macs"] for r in records}
    assert all(isinstance(m, int) and m > 0 for m in macs.values())
    assert all((r.metrics() or {})["macs"] == macs[r.number] for r in records)

    _old_study(run.path / "study.db")
    config = read_json(run.path / "config.json")
    assert config["cost"] == "macs"
    write_json(run.path / "config.json", {**config, "cost": "flops"})
    summary = read_json(run.path / "summary.json")
    summary["best"] = {("flops" if k == "macs" else k): v for k, v in summary["best"].items()}
    write_json(run.path / "summary.json", summary)
    best = max(records, key=lambda r: r.reward or 0.0).number
    _old_compare(run, best, macs[best])
    return run, macs


def test_current_renames_old_keys_in_place() -> None:
    assert list(current({"accuracy": 1.0, "flops": 2.0, "params": 3.0}).items()) == [
        ("accuracy", 1.0), ("macs", 2.0), ("params", 3.0)]
    assert current({"flops": 1.0, "macs": 2.0}) == {"macs": 2.0}  # the current key wins
    assert current({"search_flops": 1.0}) == {"search_macs": 1.0}
    assert current({"macs": 2.0, "flops_budget": 1}) == {"macs": 2.0, "flops_budget": 1}


def test_the_cost_models_old_attribute_still_reads_with_a_warning() -> None:
    """Row and Totals are public (``nas.totals``, ``nas.layer_table``): a script that reads
    ``.flops`` gets the multiply-adds and a DeprecationWarning naming ``macs``."""
    graph = create_space("nasbench201").graph(create_space("nasbench201").sample(
        random.Random(0)), (3, 32, 32), 10)
    t = totals(graph)
    with pytest.warns(DeprecationWarning, match=r"Totals.flops is renamed Totals.macs"):
        assert t.flops == t.macs > 0
    row = layer_table(graph)[0]
    with pytest.warns(DeprecationWarning, match=r"Row.flops is renamed Row.macs"):
        assert row.flops == row.macs
    assert "flops" not in t.as_dict() and "flops" not in table_dict(graph)["layers"][0]


def test_trials_and_best_of_an_old_run(old: tuple[RunDir, dict[int, Any]]) -> None:
    run, macs = old
    loaded = load_run(run.path)
    trials = loaded.trials
    assert {t.number: t.attrs["macs"] for t in trials} == macs
    for t in trials:
        assert "flops" not in t.attrs and "flops" not in t.attrs["result"]
        assert (t.metrics() or {})["macs"] == float(macs[t.number])
        assert t.attrs["result"]["macs"] == macs[t.number]
    (best,) = loaded.best()
    assert best.attrs["macs"] == macs[best.number] and best.metrics() is not None
    assert best.reward == pytest.approx(
        best.accuracy * (macs[best.number] / 1e8) ** -0.07)  # the run's MACs objective


def test_nas_status_of_an_old_run(old: tuple[RunDir, dict[int, Any]]) -> None:
    run, macs = old
    code, out, err = cli(["status", run.name, "--runs-dir", str(run.path.parent), "--json"])
    assert code == 0, err
    status = json.loads(out)
    assert status["config"]["cost"] == "macs"  # config.json said flops
    assert status["best"] and all(b["macs"] == macs[b["trial"]] for b in status["best"])
    code, out, err = cli(["status", run.name, "--runs-dir", str(run.path.parent)])
    assert code == 0 and human(macs[status["best"][0]["trial"]]) in out, err


def test_nas_report_of_an_old_run(old: tuple[RunDir, dict[int, Any]], tmp_path: Path) -> None:
    run, macs = old
    code, out, err = cli(["report", str(run.path), "--out", str(tmp_path), "--format", "md",
                          "--top", "2", "--json"])
    assert code == 0, err
    markdown = Path(json.loads(out)["files"]["md"]).read_text()
    assert (tmp_path / "accuracy_vs_macs.png").is_file()  # every child's MACs, plotted
    best = [line for line in markdown.splitlines() if line.startswith("| 1 |")]
    assert best and any(f"| {count(m)} |" in best[0] for m in macs.values())
    compared = [line for line in markdown.splitlines() if line.startswith("| trial-")]
    assert compared and any(f"| {human(m)} |" in compared[0] for m in macs.values())


def test_nas_export_of_an_old_retraining(old: tuple[RunDir, dict[int, Any]],
                                         tmp_path: Path) -> None:
    run, macs = old
    (path,) = (run.path / COMPARE_DIR / "results").glob("*.json")
    stored = load_result(path)
    assert stored is not None and stored["result"]["macs"] == macs[stored["trial"]]
    assert "flops" not in stored["result"]
    code, out, err = cli(["export", str(run.path), "--trial", str(stored["trial"]), "--format",
                          "checkpoint", "--out", str(tmp_path), "--json"])
    assert code == 0, err
    (exported,) = json.loads(out)
    assert exported["trained"], exported  # the old retraining's weights
    ckpt = load_checkpoint(exported["files"]["checkpoint"])
    assert ckpt["metrics"]["macs"] == ckpt["metrics"]["search_macs"] == macs[stored["trial"]]
    assert not {"flops", "search_flops"} & set(ckpt["metrics"])
    assert ckpt["result"]["macs"] == macs[stored["trial"]]


def test_an_old_run_resumes_with_its_macs_cost(old: tuple[RunDir, dict[int, Any]],
                                               tmp_path: Path) -> None:
    run, macs = old
    copy = tmp_path / "runs" / run.name
    shutil.copytree(run.path, copy)
    result = run_search(resume=run.name, runs_dir=copy.parent, view=QuietView(),
                        overrides={"trials": 6})
    assert result.done == 6
    trials = load_run(copy).trials
    assert [t.number for t in trials] == list(range(6))
    assert {t.number: t.attrs["macs"] for t in trials[:4]} == macs  # the old ones, as read
    for t in trials:
        space = create_space("nasbench201")
        exact = totals(space.graph(t.genome, (3, 32, 32), 10)).macs
        assert t.attrs["macs"] == exact and t.reward == pytest.approx(
            (t.accuracy or 0.0) * (exact / 1e8) ** -0.07)


def test_retraining_keys_are_those_of_before_the_rename() -> None:
    """The key in a stored retraining's file name hashes its genome, recipe, budget and data;
    none holds a multiply-adds name (``--budget macs=M`` is hashed as the steps it gives), so
    the rename changes no key and every old result is found and reused. The key below is
    what the code before the rename computed for the same retraining."""
    genome = create_space("nasbench201").sample(random.Random(0))
    budget = contender_budget("macs", 2e13, 1_000_000, 32)
    assert budget == {"steps": 625_000}
    key = retraining_key(Contender("trial-0", genome), {"batch_size": 32, "seed": 0}, budget,
                         {"dataset": "digits", "data_dir": None, "limit": 100})
    assert key == "ff64768113"
