"""The evaluator seam: every evaluator's conformance, one reward, and the table search."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import ray

from controllers import CONTROLLERS, list_controllers
from nas.cli import main
from nas.core.genome import Genome
from nas.core.space import create_space
from nas.evaluators.base import Context, list_evaluators
from nas.search.config import SearchConfig
from nas.search.loop import search_in_memory
from nas.search.store import RunDir, RunStudy
from nas.testing.evaluators import EvaluatorConformance

TINY_NB201 = {"channels": 8, "cells_per_stage": 1}


class TestTableEvaluator(EvaluatorConformance):
    evaluator = "table"
    genomes = 5

    def make_context(self) -> Context:
        return Context(space=create_space("nasbench201"), metrics=("macs", "params"))


class TestTrainEvaluator(EvaluatorConformance):
    evaluator = "train"
    genomes = 2

    def make_context(self) -> Context:
        return Context(space=create_space("nasbench201", **TINY_NB201), dataset="digits",
                       limit=300, epochs=1.0, recipe={"batch_size": 32, "seed": 0})


def test_the_builtin_evaluators_are_registered() -> None:
    assert {"train", "table"} <= set(list_evaluators())


# --- one reward ------------------------------------------------------------------------------

@pytest.mark.parametrize("controller", list_controllers())
def test_the_study_records_the_rewards_the_controller_was_told(
        controller: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cost in the objective the reward is not the accuracy; whatever the controller,
    the value each trial records is exactly the reward its controller was told."""
    told: list[tuple[Genome, float | None]] = []
    cls = CONTROLLERS.get(controller)
    original: Callable[..., None] = cls.tell

    def tell(self: Any, genome: Genome, reward: float | None,
             metrics: Mapping[str, float] | None = None) -> None:
        told.append((genome, reward))
        original(self, genome, reward, metrics)

    monkeypatch.setattr(cls, "tell", tell)
    config = SearchConfig(space="nasbench201", controller=controller, evaluator="table",
                          trials=12, seed=3, cost="macs", cost_target=5e7)
    result = search_in_memory(config)
    records = result.study.records()
    assert len(records) == 12 and told
    value_of = {r.genome: r.reward for r in records}
    for genome, reward in told:
        assert reward == value_of[genome]
    for r in records:
        assert r.reward == r.attrs["reward"] != r.accuracy  # the cost moved it
        assert r.reward == pytest.approx(r.accuracy * (r.attrs["macs"] / 5e7) ** -0.07)


# --- the table evaluator in a search --------------------------------------------------------

def test_a_table_search_starts_no_ray_and_records_the_evaluator(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    was_running = ray.is_initialized()
    code = main(["search", "--space", "nasbench201", "--evaluator", "table", "--controller",
                 "random", "--trials", "6", "--runs-dir", str(tmp_path), "--name", "t",
                 "--plain"])
    assert code == 0
    assert ray.is_initialized() == was_running  # a table needs no cluster
    run = RunDir.open(tmp_path, "t")
    assert run.config["evaluator"] == "table"
    assert run.config["input_shape"] == [3, 32, 32] and run.config["num_classes"] == 10
    study = RunStudy.open(run.storage_url, "t", None)
    records = study.records()
    assert len(records) == 6 and all(r.status == "ok" for r in records)
    attrs = study.study.user_attrs
    assert attrs["evaluator"]["name"] == "table" and attrs["config"]["controller"] == "random"
    assert attrs["objective"]["cost"] is None
    capsys.readouterr()
    assert main(["status", "t", "--runs-dir", str(tmp_path)]) == 0
    assert "judged by the table evaluator" in capsys.readouterr().out


def test_evaluators_command_lists_them_with_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluators", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"train", "table"} <= set(rows)
    assert rows["table"]["options"] == [  # each option's help is its comment in TableConfig
        {"name": "table", "type": "str | None", "default": None,
         "help": "a CSV with columns arch,test_accuracy; None: the one that ships"}]
    assert main(["evaluators"]) == 0
    assert "table" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--evaluator", "bogus"], "unknown evaluator 'bogus'; known: "),
    (["--evaluator", "table", "--evaluator-option", "rows=3"],
     "evaluator 'table' has no option(s) rows; known: table"),
    (["--evaluator", "table", "--space", "vgg"], "no table ships for space 'vgg'"),
    (["--evaluator", "table", "--evaluator-option", "table=/no/such.csv"],
     "table file not found: /no/such.csv"),
])
def test_bad_evaluator_input_is_one_line(argv: list[str], message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "--space", "nasbench201", *argv, "--runs-dir", str(tmp_path),
                 "--plain"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not any(tmp_path.iterdir()), "nothing is written for a search that cannot start"


def test_test_hook_makes_train_children_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``NAS_TEST_CHILD_SECONDS`` (the load and fault tests' hook) swaps the trainer for the
    sleeping child; without it, or with a child_fn given, nothing changes."""
    from nas.evaluators.scratch import ChildJob, TrainEvaluator, sleeping_child, train_child
    from nas.testing.children import sleeping_child as named

    context = Context(space=create_space("nasbench201", channels=8), dataset="digits")
    monkeypatch.delenv("NAS_TEST_CHILD_SECONDS", raising=False)
    assert TrainEvaluator(context).child_fn is train_child
    monkeypatch.setenv("NAS_TEST_CHILD_SECONDS", "0.01")
    assert TrainEvaluator(context).child_fn is sleeping_child is named
    assert TrainEvaluator(context, child_fn=len).child_fn is len  # type: ignore[arg-type]
    job = ChildJob(trial=0, genome=context.space.sample(random.Random(0)), recipe={},
                   epochs=1.0)
    result = sleeping_child(job, None, None)  # type: ignore[arg-type]
    assert result.status == "ok" and 50.0 <= result.final_val_top1 <= 99.0
    assert sleeping_child(job, None, None).final_val_top1 == result.final_val_top1  # type: ignore[arg-type]
