"""``nas compare`` on a tiny real search: the table, the plots, the stored retrainings (and
resuming from them), exporting the retrained weights, and bad input.

One local Ray (2 CPUs) serves the module: it runs a 2-child NASNet search with the rl
controller on 100 digits (the run ``tests/test_report.py`` reads too, see ``shared_run``) and
then the retrainings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from nas.cli import main  # noqa: E402
from nas.core.cost import totals  # noqa: E402
from nas.core.space import create_space, get_baseline, get_space, load_genome  # noqa: E402
from nas.results.runs import (  # noqa: E402
    COMPARE_DIR,
    ranked_trials,
    run_records,
)
from nas.search.config import SearchConfig  # noqa: E402
from nas.search.loop import run_search  # noqa: E402
from nas.search.store import RunDir  # noqa: E402

#: The shared tiny run: NASNet at width 8 on 100 digits, one epoch (2 steps) per child.
TINY = dict(space="nasnet", space_options={"width": 8}, controller="rl", dataset="digits",
            limit=100, epochs=1.0, trials=2, seed=0)


def shared_run(factory: pytest.TempPathFactory) -> RunDir:
    """The tiny run, searched once per pytest session (the first module to ask searches)."""
    root = factory.getbasetemp() / "shared-runs"
    path = root / "tiny"
    if path.is_dir() and RunDir(path).summary().get("state") == "finished":
        return RunDir(path)
    shutil.rmtree(root, ignore_errors=True)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    try:
        result = run_search(SearchConfig(**TINY), name="tiny", runs_dir=root)  # type: ignore[arg-type]
    finally:
        if started:
            ray.shutdown()
    assert result.done == TINY["trials"]
    return result.run


@pytest.fixture(scope="module")
def cluster() -> Any:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def run(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return shared_run(tmp_path_factory)


def _tiny_resnet(path: Path) -> Path:
    """A ResNet genome small enough for 8x8 digits: a baseline given as a genome file."""
    genome = get_space("resnet").genome(stem="cifar", block="basic", blocks1=1, blocks2=1,
                                        blocks3=1, blocks4=1, width=8, shortcut="projection",
                                        groups=1, inner=0.25, se=False)
    genome.save(path)
    return path


def _png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_compare_writes_table_and_plots_and_resumes(
        run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = _tiny_resnet(tmp_path / "tiny_resnet.json")
    argv = ["compare", str(run.path), "--baselines", f"resnet18,{tiny}", "--top", "1",
            "--seeds", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trained"] == 6 and out["reused"] == 0 and out["lost"] == []

    best = ranked_trials(run_records(run))[0]
    rows = {r["label"]: r for r in out["rows"]}
    assert set(rows) == {f"trial-{best.number}", "resnet18", "tiny_resnet"}
    found = rows[f"trial-{best.number}"]
    assert not found["baseline"] and found["trial"] == best.number
    assert found["search_accuracy"] == best.accuracy  # search-time beside final accuracy
    for label, row in rows.items():
        assert row["seeds"] == 2 and row["ok"] == 2, row["failures"]
        assert 0 <= row["test_mean"] <= 100 and row["test_std"] is not None
        assert len(row["curves"]) == 2 and row["latency_ms"] > 0
        genome = best.genome if label.startswith("trial") else None
        space_options = {"width": 8} if genome is not None else {}
        if label == "resnet18":
            from nas.core.space import get_baseline

            genome = get_baseline("resnet18").genome
        elif label == "tiny_resnet":

            genome = load_genome(tiny)
        assert genome is not None
        exact = totals(create_space(genome.space, **space_options).graph(genome, (1, 8, 8), 10))
        assert (row["params"], row["macs"]) == (exact.params, exact.macs)
    means = [r["test_mean"] for r in out["rows"]]
    assert means == sorted(means, reverse=True)  # best first

    directory = run.path / COMPARE_DIR
    markdown = (directory / "compare.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 3 and "search val %" in table[0]
    for label in rows:
        assert sum(line.startswith(f"| {label} |") for line in table) == 1
    for name in ("accuracy_vs_params.png", "accuracy_vs_macs.png", "learning_curves.png"):
        assert f"]({name})" in markdown and _png(directory / name)
    results = sorted((directory / "results").glob("*.json"))
    assert len(results) == 6 and len(list((directory / "checkpoints").glob("*.pt"))) == 6

    # run again (as after an interruption): each finished retraining is read back from its
    # file rather than trained again (a missing file is simply not among them), same table
    stamps = {p: p.stat().st_mtime_ns for p in results}
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["trained"], again["reused"]) == (0, 6)
    assert again["rows"] == out["rows"] and {p: p.stat().st_mtime_ns for p in results} == stamps

    # results stored by the nas that called multiply-adds flops are reused just the same
    for path in results:
        record = json.loads(path.read_text())
        record["result"] = {("flops" if k == "macs" else k): v
                            for k, v in record["result"].items()}
        path.write_text(json.dumps(record))
    assert main(argv) == 0
    old = json.loads(capsys.readouterr().out)
    assert (old["trained"], old["reused"]) == (0, 6) and old["rows"] == out["rows"]

    # the retrained weights are what `nas export` now exports for that trial
    assert main(["export", str(run.path), "--trial", str(best.number), "--format",
                 "checkpoint", "--out", str(tmp_path / "exports"), "--json"]) == 0
    (exported,) = json.loads(capsys.readouterr().out)
    assert exported["trained"] and "retrained by nas compare" in exported["weights"]


def test_budgets_give_equal_compute_or_equal_time(
        run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--budget macs=M: every network trains on M multiply-adds x images (its steps are
    M / (its MACs per image x batch)); --budget seconds=S: every one for S seconds."""
    tiny = _tiny_resnet(tmp_path / "tiny_resnet.json")
    best = ranked_trials(run_records(run))[0]
    macs = {"found": totals(create_space("nasnet", width=8).graph(best.genome, (1, 8, 8),
                                                                   10)).macs,
             "tiny_resnet": totals(create_space("resnet").graph(load_genome(tiny), (1, 8, 8),
                                                                10)).macs}
    batch = 32  # digits' default recipe
    budget = 3 * batch * max(macs.values())  # the costlier network gets 3 steps
    assert main(["compare", str(run.path), "--baselines", str(tiny), "--top", "1", "--seeds",
                 "1", "--budget", f"macs={budget}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["budget"]["kind"] == "macs" and out["settings"]["epochs"] is None
    rows = {("found" if r["trial"] is not None else r["label"]): r for r in out["rows"]}
    for label, row in rows.items():
        steps = budget // (macs[label] * batch)
        assert row["ok"] == 1, row["failures"]
        assert row["train_macs"] == macs[label] * batch * steps  # equal compute, to a step
        assert budget - macs[label] * batch < row["train_macs"] <= budget
        assert row["accuracy_per_tmac"] == pytest.approx(row["test_mean"] / (
            row["train_macs"] / 1e12))
    directory = run.path / COMPARE_DIR
    records = [json.loads(p.read_text()) for p in (directory / "results").glob("*.json")]
    assert {r["budget"]["steps"] for r in records if "steps" in r["budget"]} == {
        budget // (f * batch) for f in macs.values()}
    for name in ("accuracy_vs_training_cost.png", "accuracy_vs_latency.png"):
        assert _png(directory / name)
    markdown = (directory / "compare.md").read_text()
    assert "multiply-adds x images of training" in markdown and "test %/TMAC" in markdown

    assert main(["compare", str(run.path), "--baselines", str(tiny), "--top", "1", "--seeds",
                 "1", "--budget", "seconds=1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["budget"]["text"] == "1 s of training"
    assert all(r["ok"] == 1 and r["train_seconds"] > 0 for r in out["rows"])
    seconds = [json.loads(p.read_text()) for p in (directory / "results").glob("*.json")]
    assert sum(r["budget"] == {"seconds": 1.0} for r in seconds) == 2


def test_baselines_of_the_runs_space_are_built_at_the_size_asked(
        run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--baseline-option: a published cell of the run's space (NASNet-A here) is built with
    the options on top of its own (the found cells' size); a baseline of another space is left
    as it is; options that fit no baseline are one line."""
    tiny = _tiny_resnet(tmp_path / "tiny_resnet.json")
    assert main(["compare", str(run.path), "--baselines", f"nasnet_a,{tiny}", "--top", "1",
                 "--seeds", "1", "--epochs", "1", "--baseline-option", "cells=1",
                 "--baseline-option", "width=8", "--json"]) == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    nasnet_a = get_baseline("nasnet_a")
    small = {**nasnet_a.space_options, "cells": 1, "width": 8}
    assert rows["nasnet_a"]["ok"] == 1, rows["nasnet_a"]["failures"]
    assert rows["nasnet_a"]["params"] == totals(create_space("nasnet", **small).graph(
        nasnet_a.genome, (1, 8, 8), 10)).params
    assert rows["tiny_resnet"]["params"] == totals(create_space("resnet").graph(
        load_genome(tiny), (1, 8, 8), 10)).params

    assert main(["compare", str(run.path), "--baselines", str(tiny),
                 "--baseline-option", "width=8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no baseline of the run's space (nasnet)" in err and "\n" not in err, err


@pytest.mark.parametrize("argv, message", [
    (["--budget", "flops=3"], "give epochs=E, seconds=S or macs=M"),
    (["--budget", "seconds=-1"], "give epochs=E, seconds=S or macs=M"),
    (["--epochs", "1", "--budget", "seconds=1"], "not both"),
    (["--baselines", "resnet999"], "neither a baseline nor a genome"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--top", "0"], "--top must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(run: RunDir, argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(run.path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas compare: error:") and "\n" not in err and message in err, err


def test_other_runs_of_the_same_data_join_the_comparison(
        run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`nas compare RUN OTHER`: OTHER's best joins as OTHER/trial-N, retrained with RUN's
    recipe into RUN's compare directory; a run of other data is refused in one line."""
    twin = tmp_path / "copy" / run.path.name  # a copy of the run (its study keeps the name)
    shutil.copytree(run.path, twin, ignore=shutil.ignore_patterns(COMPARE_DIR, "lock"))
    assert main(["compare", str(run.path), str(twin), "--baselines", "", "--top", "1",
                 "--seeds", "1", "--epochs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    best = ranked_trials(run_records(run))[0].number
    assert {r["label"] for r in out["rows"]} == {f"trial-{best}", f"{twin.name}/trial-{best}"}
    assert all(r["ok"] == 1 and not r["baseline"] for r in out["rows"])
    assert out["settings"]["other_runs"] == [twin.name]
    assert out["directory"] == str(run.path / COMPARE_DIR)

    config = json.loads((twin / "config.json").read_text())
    (twin / "config.json").write_text(json.dumps({**config, "limit": 50}))
    assert main(["compare", str(run.path), str(twin), "--baselines", "", "--top", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"run {twin.name!r} searched other data than" in err and "(limit 50, not 100)" in err
    assert "\n" not in err


def test_missing_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "nope", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no run 'nope'" in err and "\n" not in err


def test_progress_is_a_line_per_retraining_when_stderr_is_not_a_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from nas.commands.compare import _Bar

    job = SimpleNamespace(contender=SimpleNamespace(label="trial-3"), seed=1)
    with _Bar(enabled=True) as bar:
        bar.plan(2, 1)
        bar.done(job, {"result": {"test_top1": 51.25, "status": "ok"}})
        bar.done(job, {"error": "worker lost [node 2]"})
    assert capsys.readouterr().err.splitlines() == [
        "retraining 2 (network, seed) pair(s) (1 finished earlier, reused)",
        "[1/2] trial-3 seed 1: test 51.25%", "[2/2] trial-3 seed 1: worker lost [node 2]"]
