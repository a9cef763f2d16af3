"""Weight-sharing search (the ``supernet`` evaluator): conformance, every method end to end
through the search loop, the bad-input lines, the NaN stop, resume, collapse, the CLI.

Everything runs the NAS-Bench-201 supernet at channels=4, one cell per stage, on a few
hundred digits: a supernet epoch takes about a second on one thread.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from nas.cli import main
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import create_space
from nas.core.supernet import SUPERNETS, create_supernet
from nas.evaluators.base import Context, create_evaluator, list_evaluators
from nas.evaluators.supernet import METHODS, SupernetConfig, collapse_lines
from nas.evaluators.supernet.scoring import (
    collapse,
    op_histogram,
    parameter_free_ops,
    ranked_genomes,
)
from nas.evaluators.supernet.trainer import SupernetDiverged
from nas.search.config import SearchConfig
from nas.search.loop import run_search
from nas.search.store import RunDir, RunStudy
from nas.testing.evaluators import EvaluatorConformance

TINY = {"channels": 4, "cells_per_stage": 1}
FAST = {"epochs": 2, "batch_size": 32, "bn_batches": 1, "val_batches": 1,
        "score_batch_size": 64}


def tiny_context(**kw: Any) -> Context:
    return Context(space=create_space("nasbench201", **TINY), dataset="digits", limit=300,
                   **kw)


def tiny_config(method: str, controller: str = "random", trials: int = 3,
                **options: Any) -> SearchConfig:
    return SearchConfig(space="nasbench201", space_options=dict(TINY), controller=controller,
                        evaluator="supernet",
                        evaluator_options={"method": method, **FAST, **options},
                        dataset="digits", limit=300, trials=trials, seed=0)


def study_of(tmp_path: Path, name: str) -> list[Any]:
    run = RunDir.open(tmp_path, name)
    return RunStudy.open(run.storage_url, run.name, None).records()


# --- conformance -------------------------------------------------------------------------------


class TestSposEvaluator(EvaluatorConformance):
    evaluator = "supernet"
    options: ClassVar[dict[str, Any]] = {"method": "spos", **FAST, "epochs": 1}

    def make_context(self) -> Context:
        return tiny_context()


class TestEnasEvaluator(EvaluatorConformance):
    evaluator = "supernet"
    options: ClassVar[dict[str, Any]] = {"method": "enas", "enas_batch": 2, "enas_steps": 2,
                                         "batch_size": 32}
    deterministic = False  # each round trains the supernet before it scores

    def make_context(self) -> Context:
        return tiny_context()


def test_the_supernet_evaluator_is_registered_with_its_methods(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert "supernet" in list_evaluators()
    assert main(["evaluators", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert all(m in rows["supernet"]["summary"] for m in METHODS)
    options = {o["name"]: o for o in rows["supernet"]["options"]}
    assert options["method"]["default"] == "spos" and options["method"]["help"]
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--method M" in help_text
    assert all(m in help_text for m in METHODS)  # the flag's help lists every method


# --- every method end to end -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["spos", "darts", "gdas"])
def test_each_method_runs_a_search_end_to_end(method: str, tmp_path: Path) -> None:
    config = tiny_config(method, trials=3, candidates=1)
    result = run_search(config, name=method, runs_dir=tmp_path)
    assert result.stop_reason == "budget" and result.done == 3
    records = study_of(tmp_path, method)
    assert [r.state for r in records] == ["COMPLETE"] * 3
    for r in records:
        detail = r.attrs["result"]
        assert detail["score"] == "supernet" and detail["method"] == method
        assert "validation" in detail["what"] and "test" not in detail["what"]
        assert 0 <= r.accuracy <= 100 and r.attrs["params"] > 0
        assert sum(detail["ops"].values()) == 6  # every edge's op
    folder = tmp_path / method / "evaluator" / method
    assert (folder / "supernet.pt").is_file()
    state = RunDir.open(tmp_path, method).load_state()
    assert state is not None
    evaluator_state = state["evaluator"]
    assert evaluator_state["checkpoint"] == f"{method}/supernet.pt"
    assert evaluator_state["epoch"] == 2 and evaluator_state["trained"]
    log = (tmp_path / method / "search.log").read_text()
    assert f"{method} supernet epoch 2/2" in log
    if method == "spos":  # the controller's genomes; nothing derived
        assert not any(r.attrs["result"].get("derived") for r in records)
        return
    derived = [r for r in records if r.attrs["result"].get("derived")]
    assert [r.attrs["result"]["rank"] for r in derived] == [0, 1]  # derived, 1 candidate
    assert "collapse" in derived[0].attrs["result"]  # checked ("" when not degenerate)
    assert [g["values"] for g in evaluator_state["derived"]] == [
        r.genome.as_dict() for r in derived]
    assert f"{method} derived {derived[0].genome.id}: ops" in log


def test_enas_alternates_supernet_steps_and_rl_updates(tmp_path: Path) -> None:
    config = tiny_config("enas", controller="rl", trials=4, enas_batch=2, enas_steps=2)
    config.controller_options = {"batch_size": 2}
    result = run_search(config, name="enas", runs_dir=tmp_path)
    assert result.done == 4
    records = study_of(tmp_path, "enas")
    whats = [r.attrs["result"]["what"] for r in records]
    assert "ENAS round 1 (2 supernet steps)" in whats[0]
    assert "ENAS round 2 (4 supernet steps)" in whats[-1]  # the supernet trained in between
    state = RunDir.open(tmp_path, "enas").load_state()
    assert state is not None
    assert state["controller"]["updates"] == 2  # one policy update per round of 2
    assert state["evaluator"]["checkpoint"] == "enas/round-000002.pt"
    # the saved state restores the supernet it points at, bit for bit
    context = tiny_context(workdir=tmp_path / "enas" / "evaluator")
    again = create_evaluator("supernet", context, **config.evaluator_options)
    again.load_state_dict(state["evaluator"])
    again.open()
    again.start()
    ours = torch.load(tmp_path / "enas" / "evaluator" / "enas" / "round-000002.pt",
                      weights_only=True)["state_dict"]
    assert again.trainer is not None
    assert all(torch.equal(v, again.trainer.net.state_dict()[k]) for k, v in ours.items())
    again.close()


# --- bad input ---------------------------------------------------------------------------------


def test_a_space_without_a_supernet_is_one_line(tmp_path: Path) -> None:
    config = SearchConfig(space="vgg", evaluator="supernet", trials=1)
    with pytest.raises(NasError, match=r"space 'vgg' has no supernet; spaces with one: "
                                       r"darts, nasbench201, nasnet$"):
        run_search(config, name="x", runs_dir=tmp_path)
    assert not (tmp_path / "x").exists()  # refused before the run directory exists


def test_a_method_that_weights_every_path_needs_a_supernet_that_can(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(SUPERNETS.get("nasbench201"), "weighted", False)
    with pytest.raises(NasError, match=r"method darts weights every path .* the nasbench201 "
                                       r"supernet cannot do .* spaces whose supernet can: "
                                       r"darts, nasnet"):
        run_search(tiny_config("darts"), name="x", runs_dir=tmp_path)
    evaluator = create_evaluator("supernet", tiny_context(), method="spos", **FAST)
    evaluator.open()  # single paths are fine
    evaluator.close()


@pytest.mark.parametrize(("options", "controller", "message"), [
    ({"method": "enas"}, "evolution", r"method enas needs --controller rl .* use --method spos"),
    ({"method": "nope"}, "random", r"unknown method 'nope'; known: spos, enas, darts, gdas"),
    ({"method": "spos", "partial_channels": 2}, "random", r"partial_channels is PC-DARTS's"),
    ({"method": "darts", "partial_channels": 3}, "random", r"partial_channels=3 does not divide"),
    ({"method": "spos", "workers": 3, "batch_size": 32}, "random", r"batch_size 32 does not "
                                                                    r"split evenly over 3"),
    ({"method": "spos", "epochs": 0}, "random", r"epochs must be positive"),
])
def test_bad_options_are_one_line(options: dict[str, Any], controller: str, message: str,
                                  tmp_path: Path) -> None:
    config = SearchConfig(space="nasbench201", space_options=dict(TINY),
                          controller=controller, evaluator="supernet",
                          evaluator_options=options, dataset="digits", limit=300, trials=1)
    with pytest.raises(NasError, match=message):
        run_search(config, name="x", runs_dir=tmp_path)
    assert not (tmp_path / "x").exists()


def test_the_method_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["search", "--space", "nasbench201", "--runs-dir", str(tmp_path), "--trials", "1"]
    assert main([*argv, "--method", "spos", "--evaluator", "table"]) == 2
    assert "--method spos is a method of the supernet evaluator" in capsys.readouterr().err
    assert main([*argv, "--method", "spos", "--evaluator-option", "method=darts"]) == 2
    assert "disagree" in capsys.readouterr().err
    assert main([*argv, "--space", "vgg", "--method", "gdas"]) == 2
    assert "space 'vgg' has no supernet" in capsys.readouterr().err


# --- faults ------------------------------------------------------------------------------------


def test_a_nan_loss_stops_the_run_and_resume_ends_as_an_uninterrupted_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Epoch 2's loss turns NaN: the run stops with a one-line reason, epoch 1's checkpoint
    kept. Resumed (no NaN now), it continues from epoch 1 and ends exactly as a run that never
    stopped (single process, CPU: bitwise)."""
    config = tiny_config("spos", trials=3, epochs=3)
    monkeypatch.setenv("NAS_TEST_SUPERNET_NAN", "2")
    with pytest.raises(SupernetDiverged, match=r"spos supernet training diverged at epoch 2, "
                                               r"step 1 \(loss nan\); the last good checkpoint "
                                               r"\(epoch 1\) is kept"):
        run_search(config, name="cut", runs_dir=tmp_path)
    folder = tmp_path / "cut" / "evaluator" / "spos"
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "diverged" and "loss nan" in status["message"]
    assert torch.load(folder / "supernet.pt", weights_only=True)["epoch"] == 1
    assert "diverged at epoch 2" in (tmp_path / "cut" / "search.log").read_text()
    assert RunDir.open(tmp_path, "cut").summary()["state"] == "interrupted"

    monkeypatch.delenv("NAS_TEST_SUPERNET_NAN")
    resumed = run_search(resume="cut", runs_dir=tmp_path)
    assert resumed.stop_reason == "budget"
    assert "resumed from epoch 1/3" in (tmp_path / "cut" / "search.log").read_text()
    run_search(config, name="whole", runs_dir=tmp_path)
    cut, whole = study_of(tmp_path, "cut"), study_of(tmp_path, "whole")
    assert [(r.genome, r.accuracy) for r in cut] == [(r.genome, r.accuracy) for r in whole]
    ckpt = {name: torch.load(tmp_path / name / "evaluator" / "spos" / "supernet.pt",
                             weights_only=True) for name in ("cut", "whole")}
    for key, value in ckpt["whole"]["state_dict"].items():
        assert torch.equal(value, ckpt["cut"]["state_dict"][key]), key


def test_a_checkpoint_of_another_training_is_refused(tmp_path: Path) -> None:
    run_search(tiny_config("spos", trials=1, epochs=1), name="a", runs_dir=tmp_path)
    context = tiny_context(workdir=tmp_path / "a" / "evaluator", seed=1)  # another seed
    evaluator = create_evaluator("supernet", context, method="spos", **{**FAST, "epochs": 1})
    evaluator.open()
    with pytest.raises(NasError, match="checkpoint of another training"):
        evaluator.start()
    evaluator.close()


# --- reading the supernet ----------------------------------------------------------------------


def test_scores_do_not_depend_on_what_was_scored_before() -> None:
    evaluator = create_evaluator("supernet", tiny_context(), method="spos",
                                 **{**FAST, "epochs": 1, "bn_batches": 2})
    evaluator.open()
    evaluator.start()
    space = evaluator.context.space
    rng = random.Random(3)
    genomes = [space.sample(rng) for _ in range(4)]
    first = [e.metrics["accuracy"] for e in evaluator.evaluate(genomes)]
    backwards = [e.metrics["accuracy"] for e in evaluator.evaluate(genomes[::-1])][::-1]
    assert first == backwards
    assert "recalibrated on 128 training images" in evaluator.evaluate(genomes[:1])[0].detail[
        "what"]
    evaluator.close()


def test_ranked_genomes_start_with_the_argmax_and_change_one_uncertain_edge() -> None:
    space = create_space("nasbench201", **TINY)
    net = create_supernet(space, (1, 8, 8), 10, seed=0)
    alpha = {"cell": torch.tensor([[0.0, 3.0, 0.0, 0.0, 0.0]] * 6)}
    alpha["cell"][4] = torch.tensor([0.0, 1.0, 0.9, 0.0, 0.0])  # edge 4: nearly a tie
    ranked = ranked_genomes(net, alpha, 3)
    assert ranked[0][0] == Genome("nasbench201", tuple(
        (d.name, "skip_connect") for d in space.decisions))
    assert ranked[1][0] == ranked[0][0].replace(edge_1_3="nor_conv_1x1")  # the near tie first
    assert "edge 4" in ranked[1][1]
    assert len({g for g, _ in ranked}) == 4
    for genome, _ in ranked[1:]:  # one decision changed each
        assert sum(a != b for a, b in zip(genome.values, ranked[0][0].values, strict=True)) == 1


def test_collapse_is_named() -> None:
    space = create_space("nasbench201", **TINY)
    net = create_supernet(space, (1, 8, 8), 10, seed=0)
    free = parameter_free_ops(net)
    assert free == {"none", "skip_connect", "avg_pool_3x3"}
    skips = space.genome({d.name: "skip_connect" for d in space.decisions})
    histogram = op_histogram(net, skips)
    assert histogram == {"skip_connect": 6}
    assert collapse(histogram, free).startswith("parameter-free")
    mostly = skips.replace(edge_0_1="nor_conv_3x3", edge_0_2="nor_conv_3x3")
    assert collapse(op_histogram(net, mostly), free).startswith(
        "mostly skip connections: 4 of 6")
    good = skips.replace(edge_0_1="nor_conv_3x3", edge_0_2="nor_conv_3x3",
                         edge_0_3="nor_conv_1x1")
    assert collapse(op_histogram(net, good), free) == ""


def test_a_degenerate_derived_cell_is_warned_about(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """DARTS on the digits collapses to parameter-free ops (as it does on NAS-Bench-201's
    CIFAR-10): here, one epoch with a fast arch lr derives six 3x3 average pools. The
    warning reaches search.log, the trial's attributes and the console."""
    argv = ["search", "--space", "nasbench201", "--space-option", "channels=4",
            "--space-option", "cells_per_stage=1", "--method", "darts", "--controller",
            "random", "--trials", "1", "--plain", "--name", "collapse",
            "--runs-dir", str(tmp_path)]
    for key, value in {**FAST, "epochs": 1, "batch_size": 32, "arch_lr": 3e-3}.items():
        argv += ["--evaluator-option", f"{key}={value}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    record = study_of(tmp_path, "collapse")[0]
    why = record.attrs["result"]["collapse"]
    assert why, f"expected a collapse, got ops {record.attrs['result']['ops']}"
    assert f"warning: trial 0 ({record.genome.id}), derived by darts, is a degenerate cell: " \
           f"{why}" in " ".join(out.split())
    assert collapse_lines([record]) and "54.30%" in (
        tmp_path / "collapse" / "search.log").read_text()


def test_config_defaults_are_documented() -> None:
    source = Path(SupernetConfig.__module__.replace(".", "/") + ".py")
    text = (Path(__file__).parents[1] / source).read_text()
    for name in SupernetConfig.__dataclass_fields__:
        line = next(x for x in text.splitlines() if x.strip().startswith(f"{name}:"))
        assert "#" in line, f"{name} has no comment"
