"""End-to-end searches on digits with every controller, failures, early stopping, bad input.

One local Ray (2 CPUs) serves the whole module; children are tiny (300 digits, one epoch).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import ray

from controllers import create_controller, list_controllers
from nas.cli import main
from nas.core.errors import NasError
from nas.core.space import create_space
from nas.evaluators.cluster import plan_slots
from nas.evaluators.early_stop import EarlyStopper
from nas.search.config import REVISIT_LIMIT, SearchConfig, parse_duration
from nas.search.live import LineView, Progress
from nas.search.loop import Search, make_controller, make_evaluator, run_search
from nas.search.store import RunDir, RunStudy

SMALL = dict(dataset="digits", limit=300, epochs=1.0, space="nasbench201",
             space_options={"channels": 8, "cells_per_stage": 1})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # The worker-death hook: the first child on this cluster kills its worker process once
    # (see nas.worker); every search below must still finish all its children.
    marker = tmp_path_factory.mktemp("hook") / "worker-exited"
    os.environ["NAS_TEST_WORKER_EXIT"] = str(marker)
    if ray.is_initialized():  # left running by another module: start ours cleanly
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield marker
    ray.shutdown()
    os.environ.pop("NAS_TEST_WORKER_EXIT", None)


def _trials(run: RunDir) -> list[Any]:
    return RunStudy.open(run.storage_url, run.name, None).records()


#: optuna's search also stops weak children early (its pruner option: asynchronous successive
#: halving); rl's and random's trade accuracy against MACs (random ignores it; the reward is
#: still recorded)
COST = {"cost": "macs", "cost_target": 1e5}
EXTRA: dict[str, dict[str, Any]] = {
    "optuna": {"controller_options": {"pruner": "sha"}, "epochs": 3.0},
    "rl": COST, "random": COST}


@pytest.mark.parametrize("controller", list_controllers())
def test_small_search_with_each_controller(cluster: Path, tmp_path: Path,
                                           controller: str) -> None:
    config = SearchConfig(controller=controller, trials=3, seed=1,
                          **{**SMALL, **EXTRA.get(controller, {})})  # type: ignore[arg-type]
    result = run_search(config, name="s", runs_dir=tmp_path)
    assert result.stop_reason == "budget" and result.done == 3
    study = RunStudy.open(result.run.storage_url, "s", None)
    records = study.records()
    assert len(records) == 3 and all(r.finished for r in records)
    assert cluster.exists()  # the first child of the module killed its worker; Ray re-ran it
    space = create_space("nasbench201", **SMALL["space_options"])  # type: ignore[arg-type]
    for r in records:
        assert r.status in ("ok", "pruned"), r.message
        assert r.state == ("COMPLETE" if r.status == "ok" else "PRUNED")
        assert space.validate(r.genome) == r.genome
        assert r.attrs["params"] > 0 and r.attrs["result"]["status"] == r.status
        assert r.attrs["device"] == "cpu" and r.attrs["seconds"] > 0
        curve = r.attrs["result"]["val_top1"]  # one evaluation per epoch, unless pruned
        assert len(curve) == config.epochs if r.status == "ok" else 1 <= len(curve) < 3
        # the learning curve is in the study too, for optuna-dashboard's plots
        frozen = study.study.trials[r.number]
        assert list(frozen.intermediate_values.values()) == pytest.approx(curve)
        if r.status == "ok":
            assert r.attrs["accuracy"] == r.accuracy and 0 <= r.accuracy <= 100
            shaped = (r.attrs["macs"] / 1e5) ** -0.07 if config.cost else 1.0
            assert r.reward == r.attrs["reward"] == pytest.approx(r.accuracy * shaped)
    state = result.run.load_state()
    assert state is not None
    assert state["told"] == [0, 1, 2] and state["pending"] == []
    fresh = make_controller(config, space)
    fresh.load_state_dict(state["controller"])  # the saved state is complete and loadable
    summary = result.run.summary()
    assert summary["state"] == "finished" and summary["done"] == 3
    assert "trial 2: " in (result.run.path / "search.log").read_text()
    # the run records the early stopping it used, whoever chose it
    assert result.run.config["early_stop"] == ("sha" if controller == "optuna" else None)


def test_raising_and_diverging_children_are_recorded(cluster: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Real failures: DenseNet genomes with too many transitions for 8x8 digits raise
    ShapeError when built, and a learning rate of 1e9 makes the buildable ones diverge."""
    config = SearchConfig(space="densenet", controller="random", dataset="digits", limit=300,
                          epochs=1.0, trials=4, seed=2, recipe={"lr": 1e9})
    result = run_search(config, name="bad", runs_dir=tmp_path, view=LineView())
    assert result.done == 4 and result.stop_reason == "budget"
    records = _trials(result.run)
    statuses = {r.status for r in records}
    assert {"error", "diverged"} <= statuses, [(r.status, r.message) for r in records]
    for r in records:
        if r.status in ("error", "diverged"):
            assert r.state == "FAIL" and r.accuracy is None and r.metrics() is None
        assert r.status != "error" or "ShapeError" in r.message
        assert r.status != "diverged" or "nan" in r.message.lower()
    out = capsys.readouterr().out
    assert out.count(" trial ") == 4  # one plain line per child (no TTY)

    assert main(["status", "bad", "--runs-dir", str(tmp_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["failed"] == sum(r.state == "FAIL" for r in records)
    assert {f["status"] for f in status["failures"]} >= {"error", "diverged"}
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["done"], r["state"]) for r in rows] == [("bad", 4, "finished")]
    assert main(["status", "bad", "--runs-dir", str(tmp_path)]) == 0
    assert "failures" in capsys.readouterr().out


def test_early_stopper_is_optunas_successive_halving() -> None:
    stopper = EarlyStopper(min_resource=1, reduction_factor=2)
    assert stopper.report(0, 1, 50.0) is False  # the first at a rung always goes on
    assert stopper.report(1, 1, 40.0) is True  # not in the top half of {50, 40}
    assert stopper.report(2, 1, 90.0) is False
    assert stopper.report(1, 1, 40.0) is True  # a retried child asks again: same answer
    replayed = EarlyStopper(min_resource=1, reduction_factor=2,
                            history=[([50.0], "ok"), ([90.0], "ok")])
    assert replayed.report(7, 1, 60.0) is True  # the rung remembers earlier sessions


def test_early_stopper_median_compares_with_finished_children() -> None:
    stopper = EarlyStopper("median")
    for trial in range(5):  # finished children whose accuracy climbs to 90 %
        for epoch in range(1, 5):
            assert stopper.report(trial, epoch, 50.0 + 10 * epoch) is False
        stopper.finish(trial, "ok", 90.0)
    assert stopper.report(5, 1, 65.0) is False  # above the median (60) at epoch 1
    assert stopper.report(6, 1, 65.0) is False
    assert stopper.report(6, 2, 75.0) is False  # above the median (70) at epoch 2
    assert stopper.report(5, 2, 20.0) is True  # far below it
    stopper.finish(5, "pruned", 20.0)
    states = [t.state.name for t in stopper.study.trials]
    assert states == ["COMPLETE"] * 5 + ["PRUNED", "RUNNING"]
    # a resumed search replays the finished curves: the median is there at once
    replayed = EarlyStopper("median", history=[([60.0, 70.0, 80.0], "ok")] * 5
                            + [([10.0], "pruned")])
    assert [t.state.name for t in replayed.study.trials] == ["COMPLETE"] * 5 + ["PRUNED"]
    assert replayed.report(0, 2, 20.0) is True


def test_early_stopper_hyperband_stops_some_children_by_rungs() -> None:
    stopper = EarlyStopper("hyperband", max_resource=27)
    stopped = 0
    for trial in range(24):  # children of fixed quality, learning one point per epoch
        quality, epoch = 40 + (trial * 37) % 50, 1
        while epoch < 27 and not stopper.report(trial, epoch, quality + epoch):
            epoch += 1
        stopped += epoch < 27
        stopper.finish(trial, "pruned" if epoch < 27 else "ok", quality + epoch)
    assert 0 < stopped < 24
    with pytest.raises(NasError, match="unknown early stopping 'asha'; known: sha, median"):
        EarlyStopper("asha")


def test_early_stopping_comes_from_the_flag_or_the_controller(tmp_path: Path) -> None:
    from nas.search.loop import early_stopping, make_controller

    def resolved(**fields: Any) -> str | None:
        config = SearchConfig(**{**SMALL, **fields})  # type: ignore[arg-type]
        return early_stopping(config, make_controller(config, create_space("nasbench201")))

    assert resolved(controller="evolution") is None
    assert resolved(controller="evolution", early_stop="median") == "median"
    assert resolved(controller="optuna", controller_options={"pruner": "hyperband"}) \
        == "hyperband"
    assert resolved(controller="optuna", controller_options={"pruner": "sha"},
                    early_stop="sha") == "sha"
    with pytest.raises(NasError, match="--early-stop median and the controller's pruner 'sha' "
                                       "disagree"):
        resolved(controller="optuna", controller_options={"pruner": "sha"},
                 early_stop="median")
    assert SearchConfig.from_dict({"early_stop": True}).early_stop == "sha"  # older runs
    assert SearchConfig.from_dict({"early_stop": False}).early_stop is None
    with pytest.raises(NasError, match="--early-stop asha: unknown; known: sha, median"):
        SearchConfig(early_stop="asha", trials=1).check()


def test_revisits_are_answered_from_known_results(cluster: Path, tmp_path: Path) -> None:
    """A genome proposed again is told its known result; no child, no trial, no budget."""
    config = SearchConfig(controller="random", trials=2, **SMALL)
    space = create_space(config.space, **config.space_options)
    run = RunDir.create(tmp_path, "rv", config.to_dict())
    study = RunStudy.open(run.storage_url, run.name, space, create=True)
    controller = create_controller("random", space)
    progress = Progress(run="rv", space=config.space, controller="random",
                        dataset="digits", trials=2, time_budget=None)
    evaluator = make_evaluator(config, space, controller)
    search = Search(run, config, controller, evaluator, study, LineView(), progress)
    genome = search.propose()  # pending: [genome]
    search.results[genome] = {"accuracy": 50.0}
    for i in range(REVISIT_LIMIT):
        if i:
            search.pending.append(genome)  # as a new propose() of the same genome would
        search.revisit(genome)
    assert search.pending == [] and search.stop_reason == "exhausted"
    assert not search.may_start()
    search.flush()
    assert study.records() == [] and run.load_state()["pending"] == []  # type: ignore[index]


def test_time_budget_counts_the_whole_run(cluster: Path, tmp_path: Path) -> None:
    config = SearchConfig(trials=None, time_budget=1e-3, **SMALL)
    result = run_search(config, name="t", runs_dir=tmp_path)
    assert (result.stop_reason, result.done) == ("time", 0)  # spent before any child started
    assert result.run.summary()["state"] == "finished"
    again = run_search(resume="t", runs_dir=tmp_path)  # the time is over the whole run
    assert (again.stop_reason, again.done) == ("time", 0)
    assert result.run.load_state()["elapsed"] > 1e-3  # type: ignore[index]


@pytest.mark.slow
def test_median_early_stopping_goes_on_after_a_resume(cluster: Path, tmp_path: Path) -> None:
    """A resumed run replays its finished curves into a new stopper: with the median rule
    and 5 finished children, the children of the second session can be stopped at once (a
    stopper that forgot them would let its first 5 children run to the end)."""
    config = SearchConfig(controller="random", trials=5, early_stop="median",
                          **{**SMALL, "epochs": 2.0})  # type: ignore[arg-type]
    first = run_search(config, name="m", runs_dir=tmp_path)
    assert first.done == 5 and {r.status for r in _trials(first.run)} == {"ok"}  # warm-up
    again = run_search(resume="m", runs_dir=tmp_path, overrides={"trials": 9})
    assert again.done == 9 and again.run.config["early_stop"] == "median"
    later = [r for r in _trials(again.run) if r.number >= 5]
    assert all(r.status in ("ok", "pruned") for r in later)
    assert any(r.status == "pruned" for r in later)  # below the first five's median


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "30m", "2h", "1h30m", "0.5h")] == [
        90, 90, 1800, 7200, 5400, 1800]
    with pytest.raises(Exception, match="bad duration"):
        parse_duration("soon")


def test_plan_slots() -> None:
    cpu = {"CPU": 8.0}
    assert plan_slots(SearchConfig(), cpu).n == 8
    assert plan_slots(SearchConfig(cpus_per_trial=2), cpu).n == 4
    gpus = {"CPU": 2.0, "GPU": 8.0}
    s = plan_slots(SearchConfig(gpus=8), gpus)
    assert (s.n, s.gpus, s.cpus, s.threads) == (8, 1.0, 0.25, 1)
    assert plan_slots(SearchConfig(gpus=4, gpus_per_trial=0.5), gpus).n == 8
    assert plan_slots(SearchConfig(), gpus).n == 8  # every GPU Ray sees by default
    for bad, match in ((SearchConfig(gpus=9), "has 8 GPU"),
                       (SearchConfig(gpus=8, cpus_per_trial=1), "need 8 CPUs"),
                       (SearchConfig(cpus_per_trial=16), "only 8 CPUs")):
        with pytest.raises(Exception, match=match):
            plan_slots(bad, gpus if bad.gpus else cpu)


@pytest.mark.parametrize("argv, message", [
    (["--space", "nope"], "unknown space 'nope'"),
    (["--controller", "nope"], "unknown controller 'nope'"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--gpus", "8"], "--gpus 8"),
    (["--trials", "0"], "--trials must be at least 1"),
    (["--option", "nope=1"], "has no option"),
    (["--early-stop", "asha"], "--early-stop asha: unknown; known: sha, median, hyperband"),
    (["--controller", "optuna", "--option", "pruner=sha", "--early-stop", "median"],
     "--early-stop median and the controller's pruner 'sha' disagree"),
    (["--recipe", '{"nope": 1}'], "recipe has no option(s) nope"),
    (["--recipe", '{"lr": "x"}'], "recipe lr cannot be 'x'"),
    (["--name", "taken"], "run 'taken' already exists"),
    (["--storage", "nope://x"], "cannot open the study storage nope://x"),
    (["--time-budget", "soon"], "bad duration 'soon'"),
    (["--resume", "missing"], "no run 'missing'"),
    (["--resume", "taken", "--space", "vgg"], "--space cannot change"),
    (["--resume", "locked"], "run 'locked' is being written by pid"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    RunDir.create(tmp_path, "taken", SearchConfig().to_dict())
    locked = RunDir.create(tmp_path, "locked", SearchConfig().to_dict())
    with locked.lock():
        code = main(["search", "--runs-dir", str(tmp_path), "--plain", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked", "taken"]  # nothing made


def test_rays_token_notice_is_dropped_and_its_other_warnings_kept() -> None:
    from nas.evaluators.cluster import _quiet_token_notice

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage()[:33])

    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    seen, level = Keep(), logger.level
    logger.addHandler(seen)  # ray's loggers do not propagate to the root logger
    logger.setLevel(logging.WARNING)  # whatever an earlier ray.init(logging_level=...) set
    try:
        with _quiet_token_notice():
            logger.warning("Token authentication is enabled for this Ray cluster. Set ...")
            logger.warning("Token authentication is disabled for this Ray cluster. Anyone ...")
        logger.warning("Token authentication is enabled (after ray.init: shown)")
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    assert seen.messages == ["Token authentication is disabled ",
                             "Token authentication is enabled ("]


@pytest.mark.parametrize(("flag", "metric"), [("macs", "macs"), ("flops", "macs"),
                                              ("latency", "latency_ms"), ("params", "params")])
def test_cost_flag_names_multiply_adds_macs(flag: str, metric: str) -> None:
    """--cost macs is multiply-adds per image; flops, its old name, is accepted."""
    from nas.cli import build_parser
    from nas.commands.search import flags

    parser = build_parser()
    args = parser.parse_args(["search", "--cost", flag, "--cost-target", "1e6"])
    assert flags(args)["cost"] == metric
