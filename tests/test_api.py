"""The Python API (nas.api) on digits and on the NAS-Bench-201 table: models, training,
searches and runs, exports that torch.hub loads without nas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nas
from nas.cli import main
from nas.core.errors import NasError
from nas.core.genome import Genome, GenomeFile

ROOT = Path(__file__).resolve().parents[1]
TINY = {"space": "nasbench201", "values": {
    "edge_0_1": "nor_conv_3x3", "edge_0_2": "skip_connect", "edge_1_2": "nor_conv_1x1",
    "edge_0_3": "avg_pool_3x3", "edge_1_3": "none", "edge_2_3": "nor_conv_3x3"}}
SMALL = {"channels": 8, "cells_per_stage": 1}


def test_list_and_create_models_like_timm() -> None:
    assert "resnet18" in nas.list_models() and nas.list_models("resnet1*") == [
        "resnet18", "resnet101", "resnet152", "resnet110"]
    model = nas.create_model("resnet18", num_classes=10, input_shape=32, seed=0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    again = nas.create_model("resnet18", num_classes=10, input_shape=(3, 32, 32), seed=0)
    assert torch.equal(model.fc.weight, again.fc.weight)  # seeded: the same weights
    imagenet = nas.create_model("alexnet")  # a baseline's own size: 3x224x224, 1000 classes
    assert imagenet(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    genome = Genome.from_dict(TINY)
    assert nas.create_model(genome, space_options=SMALL)(torch.randn(1, 3, 32, 32)).shape == (
        1, 10)  # a bare genome: 3x32x32, 10 classes
    with pytest.raises(NasError, match="did you mean resnet18"):
        nas.create_model("resnet19")
    with pytest.raises(NasError, match=r"alexnet does not fit 1x4x4 inputs"):
        nas.create_model("alexnet", input_shape=(1, 4, 4))


def test_genome_file_records_what_its_network_is_built_for(tmp_path: Path) -> None:
    """A digits genome built with the defaults fails at its first forward; the genome file
    records 1x8x8 and 10 classes, so create_model of it needs no argument."""
    genome = Genome.from_dict(TINY)
    path = GenomeFile(genome, (1, 8, 8), 10, SMALL).save(tmp_path / "g.json")
    assert json.loads(path.read_text())["input_shape"] == [1, 8, 8]
    assert Genome.load(path) == genome and nas.load_genome(path) == genome  # still a genome
    model = nas.create_model(path)
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    bigger = nas.create_model(path, input_shape=(1, 16, 16), num_classes=3)  # given wins
    assert bigger(torch.randn(1, 1, 16, 16)).shape == (1, 3)
    old = tmp_path / "old.json"  # a file from before: a bare genome
    genome.save(old)
    assert GenomeFile.load(old) == GenomeFile(genome)
    with pytest.raises(nas.GenomeError, match="input_shape must be"):
        GenomeFile.from_dict({**TINY, "input_shape": [8, 8]})


def test_train_returns_what_nas_train_writes(tmp_path: Path) -> None:
    genome = Genome.from_dict(TINY)
    training = nas.train(GenomeFile(genome, space_options=SMALL), dataset="digits", limit=300,
                         epochs=1, out=tmp_path / "out")
    assert training.result.status == "ok" and training.accuracy > 0
    assert training.test_accuracy is not None
    written = json.loads((tmp_path / "out" / "result.json").read_text())
    assert written == json.loads(json.dumps(training.to_dict()))
    assert written["recipe"]["batch_size"] == 32  # digits' default recipe
    assert written["checkpoint"] == "checkpoint.pt"
    # the checkpoint is a model again, trained weights in; a module create_model built trains
    model = nas.create_model(tmp_path / "out" / "checkpoint.pt")
    torch.testing.assert_close(model.state_dict()["classifier.weight"],
                               training.model.state_dict()["classifier.weight"])
    tuned = nas.train(model, dataset="digits", limit=300, steps=2, evaluate_test=False)
    assert tuned.result.steps == 2 and tuned.genome == genome
    with pytest.raises(NasError, match=r"built by nas\.create_model"):
        nas.train(torch.nn.Linear(2, 2))
    with pytest.raises(NasError, match="does not fit digits images"):
        nas.train("densenet121", dataset="digits", epochs=1)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> nas.Run:
    runs = tmp_path_factory.mktemp("runs")
    return nas.search(space="nasbench201", evaluator="table", controller="random", trials=6,
                      seed=3, name="t", runs_dir=runs)


def test_search_returns_a_run(table_run: nas.Run) -> None:
    run = table_run
    assert run.stop_reason == "budget" and run.name == "t"
    assert len(run.trials) == 6 and all(r.state == "COMPLETE" for r in run.trials)
    best = run.best(3)
    assert [r.reward for r in best] == sorted((r.reward for r in run.trials), reverse=True)[:3]
    assert run.study.best_trial.number == best[0].number  # the Optuna study itself
    frame = run.trials_dataframe()
    assert len(frame) == 6 and "params_edge_0_1" in frame.columns
    loaded = nas.load_run(run.path)
    assert [r.number for r in loaded.best(3)] == [r.number for r in best]
    assert nas.load_run("t", runs_dir=run.path.parent).config["evaluator"] == "table"
    with pytest.raises(NasError, match="unknown option"):
        nas.search(space="nasbench201", evaluater="table")
    with pytest.raises(NasError, match="no run 'nope'"):
        nas.load_run("nope", runs_dir=run.path.parent)


def test_run_model_is_trained_or_says_it_is_not(table_run: nas.Run) -> None:
    run = table_run
    best = run.best(1)[0]
    assert run.checkpoint() is None
    with pytest.raises(NasError, match=r"no trained weights.*nas compare"):
        run.model()
    with pytest.warns(UserWarning, match="untrained network"):
        model = run.model(best.number, untrained=True)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert run.genome_file(best).input_shape == (3, 32, 32)


def test_search_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--space", "nasbench201", "--evaluator", "table", "--trials", "3",
                 "--runs-dir", str(tmp_path), "--name", "j", "--json", "--top", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["run"] == "j" and summary["done"] == 3 and len(summary["best"]) == 2
    first = summary["best"][0]
    assert first["genome"]["input_shape"] == [3, 32, 32] and first["accuracy"] > 0
    assert nas.create_model(GenomeFile.from_dict(first["genome"]))  # buildable as it is
    assert Path(summary["path"]).is_dir() and summary["storage"].startswith("sqlite:///")


BLOCK_NAS = """
import importlib.abc, json, sys

class NoNas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("nas", "search_spaces", "controllers"):
            raise ImportError(f"{name} is not importable here")
        return None

sys.meta_path.insert(0, NoNas())
try:
    import nas  # noqa: F401
    raise SystemExit("nas is importable")
except ImportError:
    pass
import torch

folder, x_path, out_path = sys.argv[1:4]
model = torch.hub.load(folder, "model", source="local")
with torch.no_grad():
    torch.save(model(torch.load(x_path, weights_only=True)), out_path)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "nas")))
"""


def test_export_is_a_torch_hub_repository(table_run: nas.Run, tmp_path: Path) -> None:
    """torch.hub.load(folder, "model", source="local") in a fresh interpreter where nas is
    not importable gives the exported network with its weights."""
    run = table_run
    with pytest.warns(UserWarning, match="untrained weights"):
        written = run.export(tmp_path / "exports", top=2)
    assert len(written) == 2
    files = next(iter(written.values()))
    assert {"genome", "code", "weights", "hubconf", "checkpoint"} <= set(files)
    folder = files["hubconf"].parent
    assert GenomeFile.load(files["genome"]).input_shape == (3, 32, 32)
    x = torch.randn(2, 3, 32, 32)
    torch.save(x, tmp_path / "x.pt")
    reference = nas.create_model(files["checkpoint"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(elsewhere), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", BLOCK_NAS, str(folder), str(tmp_path / "x.pt"),
                           str(tmp_path / "y.pt")], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    with torch.no_grad():
        expected = reference(x)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt", weights_only=True), expected)


def test_controllers_and_datasets_list_their_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["controllers", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"rl", "optuna", "evolution", "random"} <= set(rows)
    options = {o["name"]: o for o in rows["evolution"]["options"]}
    assert options["population_size"] == {
        "name": "population_size", "type": "int", "default": 20,
        "help": "P: results kept alive; the first P children are random"}
    assert rows["random"]["options"] == []
    assert main(["controllers"]) == 0
    assert "population_size=20 (int): P: results kept alive" in capsys.readouterr().out
    assert main(["datasets", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in listing["datasets"]} >= {"digits", "cifar10", "imagefolder"}
    assert {"name": "limit", "type": "int | None", "default": None, "flag": "--limit"} in \
        listing["options"]
    assert main(["datasets"]) == 0
    assert "imagefolder" in capsys.readouterr().out
