"""``nas report``: valid HTML and Markdown whose images all exist; report and export of a run
whose data are gone; the cell-diagram hook; the rl controller's entropy record; the Pareto
front."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from controllers import create_controller
from nas.cli import main
from nas.core.errors import NasError
from nas.core.space import create_space, get_baseline
from nas.results.plots import pareto_front
from nas.results.report import max_entropy
from nas.results.runs import ranked_trials, run_records
from nas.search.config import SearchConfig, load_data
from nas.search.loop import run_search
from nas.search.store import RunDir, RunStudy
from nas.training.checkpoint import load_checkpoint
from search_spaces.nasnet import BLOCKS, cell_blocks, unused_blocks

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Checker(HTMLParser):
    """Strict nesting: every non-void element closed, in order; collects image sources."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.images: list[str] = []
        self.headings: list[str] = []
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        if tag not in VOID:
            self.stack.append(tag)
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = ""

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading += data


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A local Ray for a search of this module's own (the shared run starts its own)."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    # the same tiny rl search as tests/test_compare.py (searched once per session)
    from test_compare import shared_run

    return shared_run(tmp_path_factory)


def _png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_report_is_valid_html_and_markdown_with_its_images(
        run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["report", str(run.path), "--out", str(out), "--top", "2", "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    html = Path(written["files"]["html"]).read_text()
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert checker.stack == [] and html.startswith("<!DOCTYPE html>")
    sources = [(out / src).resolve() for src in checker.images]
    assert sources and all(_png(p) for p in sources)

    best = ranked_trials(run_records(run))[:2]
    expected = {"best_so_far_trials.png", "best_so_far_time.png", "accuracy_vs_params.png",
                "accuracy_vs_macs.png", "controller_entropy.png",
                *(f"trial_{r.number}.cells.png" for r in best)}
    assert expected <= {p.name for p in sources}
    for heading in ("Run", "Search progress", "Accuracy and cost", "Controller entropy",
                    "Best 2 architectures"):
        assert heading in checker.headings
    assert any(h.startswith(f"1. trial {best[0].number}") for h in checker.headings)

    markdown = Path(written["files"]["md"]).read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert {(out / link).resolve() for link in links} == set(sources)
    assert markdown.startswith(f"# nas report: {run.name}")
    assert "## Controller entropy" in markdown and "| rank | trial |" in markdown


def test_report_of_a_missing_run_is_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "nope", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no run 'nope'" in err and "\n" not in err


def test_the_search_records_its_input_shape(run: RunDir) -> None:
    assert (run.config["input_shape"], run.config["num_classes"]) == ([1, 8, 8], 10)


def _report_and_export_without_data(run: RunDir, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``nas report`` and ``nas export`` of ``run``, whose data directory does not exist."""
    config = run.config
    with pytest.raises(NasError, match="image folder not found"):
        load_data(SearchConfig.from_dict(config))  # what report and export used to do
    capsys.readouterr()
    runs = ["--runs-dir", str(run.path.parent)]
    assert main(["report", run.name, *runs, "--format", "md", "--json"]) == 0
    markdown = Path(json.loads(capsys.readouterr().out)["files"]["md"]).read_text()
    # the layer table: its first layer reads C x H images, its last gives the classes
    table = markdown.split("**layers (", 1)[1].split("\n\n", 2)[1].splitlines()
    first, last = ([c.strip() for c in row.strip("|").split("|")] for row in (table[2], table[-1]))
    c, h, _ = config["input_shape"]
    assert (first[1], first[2]) == (str(c), str(h)) and last[5] == str(config["num_classes"])
    assert main(["export", run.name, *runs, "--format", "checkpoint,code", "--out",
                 str(tmp_path / "exports"), "--json"]) == 0
    (exported,) = json.loads(capsys.readouterr().out)
    ckpt = load_checkpoint(exported["files"]["checkpoint"])
    assert ckpt["input_shape"] == config["input_shape"]
    assert ckpt["num_classes"] == config["num_classes"]


def test_report_and_export_of_a_run_whose_data_are_gone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run on an image folder that no longer exists, its study written through the
    driver's own API: report and export read the input shape and classes from config.json."""
    config = SearchConfig(space="resnet", dataset="imagefolder", data_dir=str(tmp_path / "gone"),
                          trials=1, input_shape=[3, 32, 32], num_classes=3)
    run = RunDir.create(tmp_path / "runs", "gone", config.to_dict())
    space = create_space("resnet")
    study = RunStudy.open(run.storage_url, run.name, space, create=True, load=False)
    number = study.start(get_baseline("resnet18").genome, {})
    study.finish(number, state=TrialState.COMPLETE, value=41.0,
                 attrs={"status": "ok", "accuracy": 41.0, "metrics": {"accuracy": 41.0}})
    _report_and_export_without_data(run, tmp_path, capsys)


@pytest.mark.slow  # a real search: ~40 s on a loaded 2-core machine
@pytest.mark.skipif(not CIFAR.is_dir(), reason="needs the shared CIFAR-10 images")
def test_report_and_export_after_a_real_search_whose_data_are_deleted(
        cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The same end to end: a search on an image folder, which is then deleted."""
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "images"
    for split, n in (("train", 12), ("test", 3)):
        for name in ("cat", "dog", "ship"):
            (data / split / name).mkdir(parents=True)
            for image in sorted((CIFAR / split / name).iterdir())[:n]:
                shutil.copy(image, data / split / name / image.name)
    config = SearchConfig(space="resnet", controller="random", dataset="imagefolder",
                          data_dir=str(data), trials=1, epochs=1.0, recipe={"batch_size": 16})
    result = run_search(config, name="gone", runs_dir=tmp_path / "runs")
    assert result.done == 1 and ranked_trials(run_records(result.run)), "the child failed"
    shutil.rmtree(data)
    saved = result.run.config
    assert (saved["input_shape"], saved["num_classes"]) == ([3, 32, 32], 3)
    _report_and_export_without_data(result.run, tmp_path, capsys)


def test_rl_records_entropy_per_update_and_keeps_it_in_its_state() -> None:
    space = create_space("nasnet")
    rl = create_controller("rl", space, seed=0, batch_size=2)
    for i in range(6):
        rl.tell(rl.propose(), 50.0 + i, {"accuracy": 50.0 + i})
    history = rl.state_dict()["history"]
    assert [h["update"] for h in history] == [1, 2, 3]
    uniform = max_entropy(space)  # 50 decisions: sum of log(option counts)
    assert all(0 < h["entropy"] <= uniform + 1e-4 for h in history)
    restored = create_controller("rl", space, seed=0, batch_size=2)
    restored.load_state_dict(rl.state_dict())
    assert restored.state_dict()["history"] == history


def test_nasnet_cells_hook_draws_every_op_and_the_concatenation(tmp_path: Path) -> None:
    space = create_space("nasnet")
    genome = space.sample(random.Random(7))
    cells = space.cells(genome)
    assert set(cells) == {"normal", "reduce"}
    for name, g in cells.items():
        blocks = cell_blocks(genome, name)
        ops = [n for n, kind in g.nodes(data="kind") if kind == "op"]
        assert len(ops) == 2 * BLOCKS and g.number_of_nodes() == 2 + 3 * BLOCKS + 1
        assert sorted(g.predecessors("out")) == sorted(f"b{j}" for j in unused_blocks(blocks))
        for u, v in g.edges:  # columns go left to right
            assert g.nodes[u]["layer"] < g.nodes[v]["layer"]
        strided = [n for n in ops if "stride 2" in g.nodes[n]["label"]]
        reads_input = [n for n in ops if next(iter(g.predecessors(n))).startswith("in")]
        assert strided == (reads_input if name == "reduce" else [])
    assert get_baseline("resnet18").space().cells(get_baseline("resnet18").genome) == {}

    from nas.results.diagrams import draw_genome

    assert _png(draw_genome(genome, tmp_path / "cells.png") or tmp_path / "none")
    assert draw_genome(get_baseline("resnet18").genome, tmp_path / "r.png") is None


def test_pareto_front() -> None:
    points = [(10.0, 50.0), (5.0, 40.0), (20.0, 50.0), (5.0, 45.0), (30.0, 70.0),
              (1.0, math.nan), (25.0, 60.0)]
    # (5, 45) beats (5, 40); (10, 50) beats (20, 50); each kept point is better than all cheaper
    assert pareto_front(points) == [3, 0, 6, 4]

