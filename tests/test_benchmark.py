"""The tabular evaluator, the benchmark's query counting, and ``nas benchmark``."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from rich.console import Console

from nas import Genome, NasError, get_space
from nas.cli import main
from nas.commands._common import counting_bar
from nas.evaluators.base import Evaluation
from nas.evaluators.table import Table, TableEvaluator, shipped_table
from nas.search.benchmark import (
    Benchmark,
    ControllerSpec,
    Run,
    interval,
    parse_specs,
    plot,
    run_benchmark,
    run_controller,
)

SPACE = get_space("nasbench201")
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")  # the table's optimum, 94.37 %


@pytest.fixture(scope="module")
def evaluator() -> Table:
    return Table(shipped_table("nasbench201"), SPACE)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(text)
    return path


# --- the tabular evaluator -----------------------------------------------------------------

def test_shipped_table_answers_like_a_trainer(evaluator: Table) -> None:
    assert len(evaluator) == 15625
    best, accuracy = evaluator.best()
    assert SPACE.to_arch_str(best) == BEST and accuracy == pytest.approx(94.3733, abs=1e-3)
    metrics = evaluator.metrics(best, costs=True)
    assert metrics["accuracy"] == accuracy
    assert metrics["params"] == 1_073_466 and metrics["macs"] > 1e8


@pytest.mark.parametrize(("text", "message"), [
    ("", "has columns none"),
    ("arch,valid_accuracy\n" + BEST + ",94.0\n", "has columns arch,valid_accuracy; expected"),
    ("arch,test_accuracy\n|conv~0|+|x|,94.0\n", "line 2: not a NAS-Bench-201 arch string"),
    ("arch,test_accuracy\n" + BEST + ",high\n", "line 2: test_accuracy 'high' is not a number"),
    ("arch,test_accuracy\n" + BEST + ",94\n" + BEST + ",93\n",
     r"line 3: .* listed again \(first on line 2\)"),
    ("arch,test_accuracy\n", "has no rows"),
])
def test_malformed_tables_raise_one_clear_error(tmp_path: Path, text: str,
                                                 message: str) -> None:
    with pytest.raises(NasError, match=message):
        Table(write(tmp_path, text), SPACE)


def test_missing_table_and_missing_arch(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="table file not found"):
        Table(tmp_path / "nope.csv", SPACE)
    small = Table(write(tmp_path, f"arch,test_accuracy\n{BEST},94.37\n"), SPACE)
    other = SPACE.from_arch_str(BEST.replace("skip_connect", "none"))
    with pytest.raises(NasError, match=r"arch \|nor_conv_3x3~0\|.* is not in table .*1 archs"):
        small.accuracy(other)
    with pytest.raises(NasError, match="no table ships for space 'vgg'"):
        shipped_table("vgg")
    with pytest.raises(NasError, match="space 'vgg' has no arch strings"):
        Table(shipped_table("nasbench201"), "vgg")


# --- counting queries ----------------------------------------------------------------------

class CountingEvaluator(TableEvaluator):
    """Records every look-up, to check what the benchmark counts."""

    looked_up: ClassVar[list[Genome]] = []  # every instance's look-ups (one per run)

    def evaluate(self, genomes: Sequence[Genome]) -> list[Evaluation]:
        self.looked_up.extend(genomes)
        return super().evaluate(genomes)


def test_a_query_is_a_distinct_architecture() -> None:
    # evolution with a population of one walks from genome to neighbour and often steps back
    table = Table(shipped_table("nasbench201"), SPACE)
    CountingEvaluator.looked_up = []
    run = run_controller(ControllerSpec.parse("evolution:population_size=1:sample_size=1"),
                         table, seed=0, queries=40, evaluator=CountingEvaluator)
    looked_up = CountingEvaluator.looked_up
    assert run.revisits > 0  # stepping back is answered from the cache ...
    assert len(looked_up) == len(set(looked_up)) == 40 == run.distinct
    assert run.curve.shape == (40,) and np.all(np.diff(run.curve) >= 0)
    assert run.curve[-1] == max(table.table[g] for g in looked_up)
    assert table.table[run.best] == run.curve[-1]


def test_a_controller_stuck_on_known_archs_is_charged_after_the_cap() -> None:
    # RL with a tiny temperature, no clipping and a huge step collapses onto one genome
    spec = ControllerSpec.parse("rl:temperature=0.01:tanh_constant=none:learning_rate=1")
    run = run_controller(spec, Table(shipped_table("nasbench201"), SPACE), seed=0, queries=10,
                         max_revisits=5)
    assert run.curve.shape == (10,)
    assert run.distinct < 10 and run.revisits >= 5  # charged revisits ended the run


def test_specs_are_checked_before_running() -> None:
    assert ControllerSpec.parse("optuna:sampler=gp:n_startup_trials=5").options == {
        "sampler": "gp", "n_startup_trials": 5}
    with pytest.raises(NasError, match="unknown controller 'bogus'; known: evolution, optuna"):
        parse_specs("rl,bogus", SPACE)
    with pytest.raises(NasError, match=r"no option\(s\) temp; known: .*temperature"):
        parse_specs("rl:temp=2", SPACE)
    with pytest.raises(NasError, match="expected option=value"):
        parse_specs("rl:2", SPACE)
    with pytest.raises(NasError, match="listed twice"):
        parse_specs("rl,rl", SPACE)


# --- the learning controllers beat random search ------------------------------------------

def test_learning_controllers_beat_random_search(evaluator: Table) -> None:
    """The issue's claim, small enough for every run: 50 queries, 6 seeds, defaults.

    Two measures, with margins set from 48 seeds (8 disjoint blocks of 6):

    * what a controller proposes once it has learned: the median accuracy of queries 26-50,
      mean over seeds: random 90.6, rl 92.6, evolution 93.0, optuna 93.2 (sd over seeds 0.3-
      0.8, so a 6-seed difference has a standard error of ~0.45 and the 1.0 asked leaves rl
      2.5 of them);
    * the best accuracy found after 50 queries: random 93.64, evolution 94.05, optuna 94.20
      (6-seed block margins over random 0.18-0.79). rl's lead there (93.82, +0.18) is within
      what 6 seeds can resolve; it is asserted at the full budget in the slow test below.
    """
    specs = [ControllerSpec.parse(s) for s in ("random", "rl", "optuna", "evolution")]
    bench = run_benchmark(specs, evaluator, queries=50, seeds=6)
    learned = {label: float(np.mean([np.median(r.accuracies[25:]) for r in runs]))
               for label, runs in bench.runs.items()}
    best = {label: v["50"]["mean"] for label, v in bench.summary().items()}
    for label in ("rl", "optuna", "evolution"):
        assert learned[label] > learned["random"] + 1.0, learned
    for label in ("optuna", "evolution"):
        assert best[label] > best["random"] + 0.1, best


@pytest.mark.slow
def test_issue_targets_at_100_queries_and_20_seeds(evaluator: Table) -> None:
    """The issue's targets in full (about a minute and a half on one core)."""
    specs = [ControllerSpec.parse(s) for s in ("random", "rl", "optuna", "evolution")]
    summary = run_benchmark(specs, evaluator, queries=100, seeds=20).summary()
    mean = {label: v["100"]["mean"] for label, v in summary.items()}
    assert mean["random"] == pytest.approx(93.85, abs=0.15)  # the published reference
    for label in ("rl", "optuna", "evolution"):
        assert mean[label] > mean["random"], mean
    assert max(mean.values()) >= 94.2, mean
    # rl with self-imitation (controllers/rl.py): 94.34; as it was (elite=0, entropy 1e-4) 94.25
    assert mean["rl"] >= 94.32, mean


# --- the summary: spread, interval, regret -------------------------------------------------

def fake_run(curve: Sequence[float]) -> Run:
    values = np.array(curve, dtype=float)
    return Run(values, np.maximum.accumulate(values), 0, len(values), SPACE.from_arch_str(BEST))


def test_summary_reports_mean_std_and_a_95_percent_interval() -> None:
    # final bests 1, 2, 3 over three seeds: mean 2, std 1, t(0.975, 2) = 4.3027
    runs = {"a": [fake_run([0.0, 1.0]), fake_run([2.0, 1.0]), fake_run([1.0, 3.0])]}
    bench = Benchmark(queries=2, seeds=3, optimum=3.0, runs=runs)
    at = bench.summary()["a"]["2"]
    half = 4.302653 / 3**0.5
    assert at["mean"] == pytest.approx(2.0) and at["std"] == pytest.approx(1.0)
    assert at["ci95"] == pytest.approx([2.0 - half, 2.0 + half], abs=1e-5)
    assert interval(np.array([5.0])) == (5.0, 5.0)  # one seed: no spread to speak of
    # regret: the optimum minus the best so far, per seed and query
    assert bench.regret("a").tolist() == [[3.0, 2.0], [1.0, 1.0], [2.0, 0.0]]


def test_fresh_seeds_and_the_regret_plot(evaluator: Table, tmp_path: Path) -> None:
    specs = [ControllerSpec.parse("random")]
    usual = run_benchmark(specs, evaluator, queries=12, seeds=3)
    fresh = run_benchmark(specs, evaluator, queries=12, seeds=2, first_seed=1)
    assert fresh.first_seed == 1
    assert [r.curve.tolist() for r in fresh.runs["random"]] == [
        r.curve.tolist() for r in usual.runs["random"][1:]]  # seeds 1 and 2 again
    png = plot(usual, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(NasError, match="first seed at least 0"):
        run_benchmark(specs, evaluator, queries=12, seeds=2, first_seed=-1)


# --- the command ---------------------------------------------------------------------------

def test_command_prints_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "curves.png"
    code = main(["benchmark", "--controller", "random,evolution", "--queries", "30",
                 "--seeds", "2", "--first-seed", "5", "--json", "--plot", str(png)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"random", "evolution"}
    assert set(out["random"]) == {"10", "25", "30"}
    at = out["random"]["30"]
    assert set(at) == {"mean", "std", "ci95"}
    assert at["ci95"][0] <= at["mean"] <= at["ci95"][1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_commands_bar_pads_its_description_counts_and_goes_away() -> None:
    """The bar ``nas benchmark`` and ``nas proxies`` draw on stderr (``counting_bar``)."""
    out = io.StringIO()
    bar = counting_bar(Console(file=out, force_terminal=True, color_system=None, width=80), 12)
    with bar:
        task = bar.add_task("random", total=5)
        bar.update(task, advance=2)
        bar.refresh()
    drawn = out.getvalue().split("\r\x1b[2K")  # each redraw clears the line
    assert drawn[-2].startswith("random       ━")  # padded to 12 characters, then the bar
    # done/total, time elapsed, time left (unknown yet)
    assert re.search(r" 2/5 \d+:\d\d:\d\d -:--:--$", drawn[-2].rstrip("\n"))
    assert out.getvalue().endswith("\x1b[1A\x1b[2K")  # transient: the bar is erased


@pytest.mark.parametrize(("argv", "message"), [
    (["--controller", "rl,annealing"], "unknown controller 'annealing'"),
    (["--table", "/no/such/table.csv"], "table file not found: /no/such/table.csv"),
    (["--controller", "optuna:sampler=bohb"], "unknown sampler 'bohb'"),
    (["--queries", "0"], "--queries and --seeds must be at least 1"),
    (["--first-seed", "-3"], "--first-seed at least 0"),
])
def test_command_bad_input_is_one_line_and_exit_2(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_command_rejects_a_malformed_table(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    table = write(tmp_path, "arch,accuracy\n" + BEST + ",94.0\n")
    assert main(["benchmark", "--table", str(table), "--controller", "random"]) == 2
    assert "has columns arch,accuracy; expected arch,test_accuracy" in capsys.readouterr().err
