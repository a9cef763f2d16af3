"""The proxy evaluator and proxy-prefiltered search (issue 12): fast, on digits and tiny cells.

The proxy evaluator passes the evaluator conformance suite and records a proxy's score as what
it is; a prefiltered search scores its candidates, judges the best first with the run's real
evaluator (the NAS-Bench-201 table here), records both stages in the study, and resumes after
a SIGKILL in stage one or a stop in stage two without losing or repeating anything.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from nas.core.errors import NasError
from nas.core.space import create_space
from nas.evaluators import proxies as px
from nas.evaluators.base import Context, create_evaluator
from nas.evaluators.table import Table, shipped_table
from nas.search.config import SearchConfig
from nas.search.loop import run_search, search_in_memory
from nas.search.prefilter import SCORE_FILE, Prefilter
from nas.search.store import RunDir, RunStudy, run_status
from nas.testing.evaluators import EvaluatorConformance, judge

ROOT = Path(__file__).resolve().parents[1]
TINY = {"channels": 4, "cells_per_stage": 1}  # a NAS-Bench-201 network in milliseconds


def tiny_context(seed: int = 0) -> Context:
    return Context(space=create_space("nasbench201", **TINY), dataset="digits", seed=seed)


class TestProxyEvaluator(EvaluatorConformance):
    evaluator = "proxy"
    options: ClassVar[dict[str, Any]] = {"proxy": "synflow", "batch_size": 16, "at_once": 2}
    genomes = 3

    def make_context(self) -> Context:
        return tiny_context()


def test_the_score_is_the_library_s_and_is_not_called_an_accuracy() -> None:
    context = tiny_context(seed=3)
    evaluator = create_evaluator("proxy", context, proxy="naswot", batch_size=16)
    evaluator.open()
    evaluator.start()
    genome = context.space.sample(__import__("random").Random(1))
    (e,) = judge(evaluator, [genome])
    batch = px.sample_batch(context.data(), 16, seed=3)
    expected = px.score_genome(context.space, genome, batch, ["naswot"],
                               context.data().num_classes, seed=3)["naswot"]
    assert e.measure == evaluator.measure == "naswot"
    assert e.metrics == {"naswot": expected} and "accuracy" not in e.metrics
    assert e.detail == {"proxy": "naswot", "batch_size": 16, "seed": 3}


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(NasError, match="nope"):
        create_evaluator("proxy", tiny_context(), proxy="nope")
    with pytest.raises(NasError, match="batch_size must be at least 2"):
        create_evaluator("proxy", tiny_context(), batch_size=1)


def test_a_proxy_search_is_ranked_by_the_score(tmp_path: Path) -> None:
    config = SearchConfig(space="nasbench201", space_options=TINY, evaluator="proxy",
                          evaluator_options={"proxy": "synflow", "batch_size": 16},
                          dataset="digits", trials=6, seed=0)
    result = run_search(config, name="p", runs_dir=tmp_path)
    records = result.study.records()
    assert len(records) == 6 and all(r.state == "COMPLETE" for r in records)
    for r in records:  # the trial's value is the score; no accuracy is made up
        assert r.attrs["measure"] == "synflow" and r.reward == r.attrs["synflow"]
        assert r.accuracy is None and "accuracy" not in r.attrs
    status = run_status(tmp_path, "p")
    assert [b["reward"] for b in status["best"]] == sorted(
        (r.reward for r in records), reverse=True)[:5]
    assert result.best is not None and result.best.shown.startswith("synflow ")
    assert result.study.study.user_attrs["objective"]["metric"] == "synflow"
    with pytest.raises(NasError, match="not an accuracy: drop --cost"):
        search_in_memory(SearchConfig(space="nasbench201", space_options=TINY,
                                      evaluator="proxy", dataset="digits", trials=1,
                                      cost="params", cost_target=1e4))


def prefiltered(**kw: object) -> SearchConfig:
    fields = {"space": "nasbench201", "space_options": TINY, "evaluator": "table",
              "dataset": "digits", "trials": 5, "seed": 1, "prefilter": "synflow",
              "prefilter_cells": 12, "prefilter_top": 3, "prefilter_batch_size": 16, **kw}
    return SearchConfig(**fields)  # type: ignore[arg-type]


def test_prefilter_options_are_checked() -> None:
    for kw, message in [({"prefilter": "nope"}, "nope"),
                        ({"prefilter_top": 13}, "--prefilter-top must be between 1"),
                        ({"prefilter_cells": 0}, "--prefilter-cells must be at least 1"),
                        ({"prefilter_batch_size": 1}, "--prefilter-batch-size"),
                        ({"evaluator": "proxy"}, "nothing to prefilter")]:
        with pytest.raises(NasError, match=message):
            prefiltered(**kw).check()


def test_stage_one_s_data_are_checked_before_the_run_exists(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="batch size 5000 is more than"):
        run_search(prefiltered(prefilter_batch_size=5000), name="x", runs_dir=tmp_path)
    assert not (tmp_path / "x").exists()


def test_the_best_candidates_go_first_and_the_study_records_both_stages(
        tmp_path: Path) -> None:
    result = run_search(prefiltered(), name="pf", runs_dir=tmp_path)
    run = RunDir.open(tmp_path, "pf")
    stage_one = result.study.study.user_attrs["prefilter"]
    candidates = stage_one["candidates"]
    assert stage_one["name"] == "synflow" and len(candidates) == 12
    assert [c["rank"] for c in candidates] == list(range(1, 13))
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True)
    _, rows = px.read_scores(run.path / SCORE_FILE)  # every candidate's score, on disk
    assert {g.id for g in rows} == {c["genome_id"] for c in candidates}

    records = result.study.records()
    assert len(records) == 5  # stage one's scores are not trials
    for r in records[:3]:  # the top 3, in rank order, judged by the table
        assert r.attrs["prefilter"]["rank"] == r.number + 1
        assert r.genome.id == candidates[r.number]["genome_id"]
    table = Table(shipped_table("nasbench201"))
    assert all(r.accuracy == table.accuracy(r.genome) for r in records)
    assert all("prefilter" not in r.attrs for r in records[3:])  # the controller's own
    best = run_status(tmp_path, "pf")["best"]  # ranked by the table's accuracy
    assert [b["accuracy"] for b in best] == sorted((r.accuracy for r in records),
                                                   reverse=True)


def test_a_stop_in_stage_two_resumes_with_the_rest_of_the_top(tmp_path: Path) -> None:
    first = run_search(prefiltered(trials=2), name="r", runs_dir=tmp_path)
    lines = (tmp_path / "r" / SCORE_FILE).read_text().splitlines()
    assert [r.attrs["prefilter"]["rank"] for r in first.study.records()] == [1, 2]
    result = run_search(resume="r", runs_dir=tmp_path, overrides={"trials": 6})
    assert (tmp_path / "r" / SCORE_FILE).read_text().splitlines() == lines  # not rescored
    records = result.study.records()
    assert len(records) == 6 and len({r.genome for r in records}) == 6
    assert [r.attrs.get("prefilter", {}).get("rank") for r in records[:3]] == [1, 2, 3]


@pytest.mark.slow
def test_a_sigkill_in_stage_one_loses_no_score(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "nas", "search", "--space", "nasbench201",
            "--space-option", "channels=8", "--space-option", "cells_per_stage=1",
            "--evaluator", "table", "--dataset", "digits", "--seed", "1",
            "--prefilter", "naswot", "--prefilter-cells", "30", "--prefilter-top", "3",
            "--trials", "4", "--name", "k", "--runs-dir", str(tmp_path), "--plain"]
    search = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    scores = tmp_path / "k" / SCORE_FILE
    deadline = time.time() + 240
    while time.time() < deadline and search.poll() is None:
        if scores.exists() and len(scores.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    search.send_signal(signal.SIGKILL)
    search.wait()
    before = scores.read_text().splitlines()
    if len(before) > 30:
        pytest.skip("stage one finished before it could be killed")
    assert len(before) >= 4

    result = run_search(resume="k", runs_dir=tmp_path)
    after = scores.read_text().splitlines()
    complete = [line for line in before if line.endswith("}")]
    assert after[:len(complete)] == complete  # kept, and not scored again
    genomes = [json.dumps(json.loads(line)["genome"], sort_keys=True) for line in after[1:]]
    assert len(genomes) == len(set(genomes)) == 30
    records = result.study.records()
    assert len(records) == 4
    assert [r.attrs.get("prefilter", {}).get("rank") for r in records[:3]] == [1, 2, 3]
    stage_one = RunStudy.open(RunDir.open(tmp_path, "k").storage_url, "k",
                              None).study.user_attrs["prefilter"]
    assert len(stage_one["candidates"]) == 30


def test_stage_one_takes_given_scores_and_a_pool() -> None:
    """The benchmark's way: scores computed before, candidates drawn from the scored cells."""
    table = Table(shipped_table("nasbench201"))
    pool = sorted(table, key=lambda g: g.id)[:50]
    scores = {g: {"params": table.costs(g)["params"]} for g in pool}
    stage_one = Prefilter({"params": 1.0}, cells=20, top=4, scores=scores, pool=pool)
    chosen = stage_one.run(Context(space=table.space), seed=2)
    assert {c.genome for c in stage_one.ranked} <= set(pool) and len(stage_one.ranked) == 20
    biggest = sorted((scores[c.genome]["params"] for c in stage_one.ranked), reverse=True)
    assert [scores[c.genome]["params"] for c in chosen] == biggest[:4]
    again = Prefilter({"params": 1.0}, cells=20, top=4, scores=scores, pool=pool)
    assert again.run(Context(space=table.space), seed=2) == chosen  # same seed, same cells
    assert math.isfinite(chosen[0].score)
