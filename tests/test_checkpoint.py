"""One checkpoint format (docs/checkpoints.md): every writer's file is read by every reader.

Writers: ``nas train``, the retraining ``nas compare`` runs on its workers, ``nas export
--format checkpoint`` (fresh weights, and a trained checkpoint exported again), a training
resume state, and the two older formats (version 1 and the unversioned first export), written
here as those versions wrote them. Readers: ``torch.load(weights_only=True)`` in a process
where nas cannot be imported, :func:`load_network`, ``nas export CKPT``, ``nas export RUN
--trial N`` (the file as a run's ``nas compare`` checkpoint) and :func:`run_input` (the input
shape of a run that did not record it). Every reader must give the writer's network exactly.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from optuna.trial import TrialState
from torch import nn

from nas.cli import main
from nas.core.errors import NasError
from nas.core.space import get_space
from nas.core.statefile import write_json
from nas.evaluators.scratch import ChildJob
from nas.results.compare import (
    COMPARE_DIR,
    RetrainChild,
    found_contenders,
    plan,
    result_record,
)
from nas.results.runs import open_run, run_input, run_records
from nas.search.config import SearchConfig
from nas.search.store import RunDir, RunStudy
from nas.training.checkpoint import (
    CHECKPOINT_FORMAT,
    FIELDS,
    FORMAT_V1,
    NETWORK,
    RESUME,
    build_network,
    dataset_info,
    load_checkpoint,
    load_network,
    make_checkpoint,
    restore_resume_state,
    rng_state,
    save_resume_state,
    write_checkpoint,
)
from nas.training.data import DataSplits, load_dataset
from nas.training.loop import train_genome
from nas.training.recipe import Budget, Recipe

#: A ResNet small enough for 8x8 digits: every writer writes this genome.
GENOME = get_space("resnet").genome(stem="cifar", block="basic", blocks1=1, blocks2=1,
                                    blocks3=1, blocks4=1, width=8, shortcut="projection",
                                    groups=1, inner=0.25, se=False)
SHAPE, CLASSES = (1, 8, 8), 10
WRITERS = ("nas train", "nas compare", "nas export (fresh)", "nas export (trained)",
           "resume state", "version 1", "unversioned export")


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits", limit=100)


def _tiny(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return get_space("resnet").build(GENOME, SHAPE, CLASSES)


def _step(model: nn.Module, opt: torch.optim.Optimizer, data: DataSplits, n: int = 1) -> None:
    """``n`` SGD steps on random batches drawn from the global generators (as a trainer's
    data order and dropout would be)."""
    model.train()
    for _ in range(n):
        idx = torch.randint(0, len(data.train), (16,))
        loss = nn.functional.cross_entropy(model(data.train.x[idx]), data.train.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def _legacy(path: Path, model: nn.Module, data: DataSplits, versioned: bool) -> Path:
    """A checkpoint as nas wrote them before version 2: the trainer's ``nas.checkpoint/1``, or
    the first ``nas export --format checkpoint`` (no format key, no dataset, no result)."""
    ckpt: dict[str, Any] = {
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "genome": GENOME.to_dict(), "space_options": {}, "input_shape": list(SHAPE),
        "num_classes": CLASSES, "recipe": Recipe().to_dict(), "metrics": {"accuracy": 12.5},
    }
    if versioned:
        ckpt.update(format=FORMAT_V1, dataset=dataset_info(data),
                    result={"status": "ok", "best_val_top1": 12.5, "test_top1": 11.0})
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, digits: DataSplits) -> dict[str, Path]:
    """Each writer's checkpoint of :data:`GENOME`, by writer."""
    root = tmp_path_factory.mktemp("writers")
    genome_file = root / "tiny.json"
    GENOME.save(genome_file)
    files: dict[str, Path] = {}
    assert main(["train", str(genome_file), "--dataset", "digits", "--limit", "100",
                 "--steps", "2", "--batch-size", "32", "--out", str(root / "train"),
                 "--json"]) == 0
    files["nas train"] = root / "train" / "checkpoint.pt"
    # what nas compare's Ray workers run for one retraining (the data as the search loads it)
    retrain = RetrainChild({0: str(root / "compare.pt")})
    result = retrain(ChildJob(trial=0, genome=GENOME, recipe=Recipe(batch_size=32).to_dict(),
                              epochs=1.0), digits, None)
    assert result.status == "ok" and result.test_top1 is not None
    files["nas compare"] = root / "compare.pt"
    assert main(["export", str(genome_file), "--input", "1x8x8", "--classes", "10",
                 "--format", "checkpoint", "--out", str(root / "fresh"), "--json"]) == 0
    files["nas export (fresh)"] = root / "fresh" / "tiny" / "tiny.ckpt.pt"
    assert main(["export", str(files["nas train"]), "--format", "checkpoint", "--out",
                 str(root / "exported"), "--json"]) == 0
    files["nas export (trained)"] = root / "exported" / "train" / "train.ckpt.pt"
    model = _tiny(5)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    _step(model, opt, digits, 2)
    files["resume state"] = save_resume_state(
        root / "resume.pt", model, space=GENOME.space, genome=GENOME, input_shape=SHAPE,
        num_classes=CLASSES, dataset=dataset_info(digits), recipe=Recipe(),
        optimizers={"weights": opt}, epoch=1, step=2, extra={"note": "half way"})
    files["version 1"] = _legacy(root / "v1.pt", _tiny(6), digits, versioned=True)
    files["unversioned export"] = _legacy(root / "v0.ckpt.pt", _tiny(7), digits,
                                          versioned=False)
    assert set(files) == set(WRITERS) and all(p.is_file() for p in files.values())
    return files


def _reference(path: Path) -> nn.Module:
    """The writer's network rebuilt by hand from the raw file (no nas checkpoint code)."""
    raw = torch.load(path, weights_only=True)
    model = get_space("resnet").build(GENOME, SHAPE, CLASSES)
    model.load_state_dict(raw["state_dict"])
    return model.eval()


def _same_network(a: nn.Module, b: nn.Module) -> None:
    x = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x), atol=0, rtol=0)


def _old_run(root: Path) -> RunDir:
    """A run as an older nas left it: config.json without input_shape / num_classes, and a
    study (written through the driver's own API) with one completed child of GENOME."""
    config = SearchConfig(space="resnet", dataset="digits", limit=100, trials=1).to_dict()
    del config["input_shape"], config["num_classes"]
    run = RunDir.create(root, "old", config)
    study = RunStudy.open(run.storage_url, run.name, get_space("resnet"), create=True,
                          load=False)
    number = study.start(GENOME, {})
    study.finish(number, state=TrialState.COMPLETE, value=40.0,
                 attrs={"status": "ok", "accuracy": 40.0, "metrics": {"accuracy": 40.0}})
    return run


def _as_compare_checkpoint(run: RunDir, path: Path) -> Path:
    """Put ``path`` where ``nas compare`` keeps the retrained weights of trial 0, with the
    result record compare writes beside it."""
    recipe, budget, data = Recipe().to_dict(), {"epochs": 1.0}, {"dataset": "digits"}
    (contender,) = found_contenders(run_records(run), 1, {})
    (job,) = plan(run.path / COMPARE_DIR, [contender], recipe, budget, data, [0])
    job.checkpoint_path.parent.mkdir(parents=True)
    shutil.copy(path, job.checkpoint_path)
    out = {"result": {"status": "ok", "best_val_top1": 40.0, "test_top1": 38.0}}
    job.result_path.parent.mkdir(parents=True)
    write_json(job.result_path, result_record(job, out, recipe, budget, data))
    return job.checkpoint_path


@pytest.mark.parametrize("writer", WRITERS)
def test_every_reader_reads_every_writer(writer: str, written: dict[str, Path],
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = written[writer]
    reference = _reference(path)

    # plain torch, weights_only: the raw file (the subprocess test below does it without nas)
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw["state_dict"], dict) and raw["genome"] == GENOME.to_dict()

    # the API: every version comes back as a version-2 dict with every field
    model, ckpt = load_network(path)
    _same_network(model, reference)
    assert ckpt["format"] == CHECKPOINT_FORMAT and set(FIELDS) <= set(ckpt)
    assert ckpt["kind"] == (RESUME if writer == "resume state" else NETWORK)
    assert ckpt["input_shape"] == list(SHAPE) and ckpt["num_classes"] == CLASSES
    assert ckpt["space"] == "resnet" and ckpt["genome"] == GENOME.to_dict()

    # nas export CKPT: a checkpoint again (same network, same metadata) and code
    assert main(["export", str(path), "--format", "checkpoint,code", "--out",
                 str(tmp_path / "out"), "--json"]) == 0
    (exported,) = json.loads(capsys.readouterr().out)
    assert exported["trained"]
    again, copy = load_network(exported["files"]["checkpoint"])
    _same_network(again, reference)
    assert copy["kind"] == NETWORK
    for key in ("genome", "space_options", "input_shape", "num_classes", "dataset", "recipe",
                "result"):
        assert copy[key] == ckpt[key], key
    assert ckpt["metrics"].items() <= copy["metrics"].items()

    # nas export RUN --trial N, with this file as the run's nas compare checkpoint
    run = _old_run(tmp_path / "runs")
    _as_compare_checkpoint(run, path)
    assert main(["export", "old", "--runs-dir", str(tmp_path / "runs"), "--trial", "0",
                 "--format", "checkpoint", "--out", str(tmp_path / "from-run"),
                 "--json"]) == 0
    (from_run,) = json.loads(capsys.readouterr().out)
    assert from_run["trained"] and "retrained by nas compare" in from_run["weights"]
    _same_network(load_network(from_run["files"]["checkpoint"])[0], reference)

    # nas report / export of an old run learn its input shape from the checkpoint
    assert run_input(open_run(run.path)) == (SHAPE, CLASSES)


def test_every_writer_loads_in_plain_torch_without_nas(written: dict[str, Path],
                                                       tmp_path: Path) -> None:
    """docs/checkpoints.md's recipe: torch.load(weights_only=True) and the exported code's
    ``Net``, in an interpreter where nas cannot be imported."""
    code_dir = tmp_path / "code"
    genome_file = tmp_path / "tiny.json"
    GENOME.save(genome_file)
    assert main(["export", str(genome_file), "--input", "1x8x8", "--classes", "10",
                 "--format", "code", "--out", str(code_dir), "--json"]) == 0
    x = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "x.pt")
    loader = r"""
import importlib.util, json, sys
for blocked in ("nas", "search_spaces", "controllers"):
    sys.modules[blocked] = None
import torch
files, code, x = json.loads(sys.argv[1]), sys.argv[2], torch.load(sys.argv[3], weights_only=True)
spec = importlib.util.spec_from_file_location("tiny", code)
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
outs = {}
for writer, path in files.items():
    ckpt = torch.load(path, weights_only=True)
    net = mod.Net().eval(); net.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        outs[writer] = net(x)
torch.save(outs, sys.argv[4])
"""
    proc = subprocess.run(
        [sys.executable, "-c", loader, json.dumps({k: str(v) for k, v in written.items()}),
         str(code_dir / "tiny" / "tiny.py"), str(tmp_path / "x.pt"), str(tmp_path / "o.pt")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    outs = torch.load(tmp_path / "o.pt", weights_only=True)
    assert set(outs) == set(WRITERS)
    for writer, y in outs.items():
        with torch.no_grad():
            torch.testing.assert_close(y, _reference(written[writer])(x), atol=1e-6,
                                       rtol=1e-6, msg=writer)


def test_trainer_checkpoint_carries_what_every_reader_needs(written: dict[str, Path],
                                                            digits: DataSplits) -> None:
    ckpt = load_checkpoint(written["nas train"], NETWORK)
    result = json.loads((written["nas train"].parent / "result.json").read_text())
    assert ckpt["dataset"] == dataset_info(digits)
    assert ckpt["result"] == result["result"] and ckpt["metrics"] == result["metrics"]
    assert ckpt["recipe"] == result["recipe"] and ckpt["recipe"]["batch_size"] == 32
    assert ckpt["optimizers"] == {} and ckpt["rng"] is None and ckpt["epoch"] is None
    # exported again, the test accuracy joins the metrics and the result travels along
    exported = load_checkpoint(written["nas export (trained)"])
    assert exported["result"] == ckpt["result"] and exported["dataset"] == ckpt["dataset"]
    assert exported["metrics"]["test_top1"] == ckpt["result"]["test_top1"]


def test_resume_state_continues_exactly(digits: DataSplits, tmp_path: Path) -> None:
    """Train 2 steps, save, train 3 more; restore the save into fresh objects and train the
    same 3 steps: weights, optimiser, architecture parameters and every RNG agree exactly."""
    model = _tiny(1)
    alpha = torch.zeros(3, 4, requires_grad=True)  # architecture parameters outside the model
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    arch_opt = torch.optim.Adam([alpha], lr=3e-4, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    order = torch.Generator().manual_seed(11)  # an explicit generator (batch order)
    _step(model, opt, digits, 2)
    alpha.sum().backward()
    arch_opt.step()
    sched.step()
    random.seed(3)
    np.random.seed(4)
    save_resume_state(tmp_path / "r.pt", model, space="resnet", genome=GENOME,
                      input_shape=SHAPE, num_classes=CLASSES,
                      optimizers={"weights": opt, "arch": arch_opt},
                      schedulers={"weights": sched}, arch_parameters={"alpha": alpha},
                      generators={"order": order}, epoch=0, step=2, extra={"seen": [1, 2]})

    def rest(m: nn.Module, o: torch.optim.Optimizer, s: Any, g: torch.Generator) -> list[Any]:
        _step(m, o, digits, 3)
        s.step()
        return [torch.randperm(10, generator=g), torch.rand(3), np.random.rand(2).tolist(),
                random.random()]

    first = rest(model, opt, sched, order)
    torch.manual_seed(99)  # the global generators moved on: the restore must undo it
    np.random.seed(99)
    random.seed(99)

    fresh = _tiny(2)
    alpha2 = torch.ones(3, 4, requires_grad=True)
    opt2 = torch.optim.SGD(fresh.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    arch2 = torch.optim.Adam([alpha2], lr=3e-4, betas=(0.5, 0.999))
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    order2 = torch.Generator()
    ckpt = load_checkpoint(tmp_path / "r.pt", RESUME)
    assert (ckpt["epoch"], ckpt["step"], ckpt["extra"]) == (0, 2, {"seen": [1, 2]})
    restore_resume_state(ckpt, fresh, optimizers={"weights": opt2, "arch": arch2},
                         schedulers={"weights": sched2}, arch_parameters={"alpha": alpha2},
                         generators={"order": order2})
    assert torch.equal(alpha2.detach(), alpha.detach())
    assert arch2.state_dict()["state"][0]["step"] == 1
    second = rest(fresh, opt2, sched2, order2)
    for a, b in zip(first, second, strict=True):
        assert (torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b)
    for (k, v), w in zip(model.state_dict().items(), fresh.state_dict().values(),
                         strict=True):
        assert torch.equal(v, w), k
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_a_supernet_resume_state_loads_but_is_no_network(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    supernet = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    supernet(torch.zeros(1, 3, 8, 8))
    opt = torch.optim.SGD(supernet.parameters(), lr=0.1)
    path = save_resume_state(tmp_path / "supernet.pt", supernet, space="nasbench201",
                             input_shape=(3, 8, 8), num_classes=10,
                             optimizers={"weights": opt}, epoch=3, step=30)
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == RESUME and raw["genome"] is None and raw["epoch"] == 3
    assert isinstance(raw["rng"]["torch"], torch.Tensor)
    with pytest.raises(NasError, match="supernet: it holds no single network"):
        build_network(load_checkpoint(path), path)
    assert main(["export", str(path), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no single network" in err


def test_foreign_or_newer_files_are_one_line_errors(tmp_path: Path, written: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(nn.Linear(2, 2), tmp_path / "pickled.pt")  # a whole module: unpickling code
    raw = torch.load(written["nas train"], weights_only=True)
    torch.save({**raw, "format": "nas.checkpoint/3"}, tmp_path / "newer.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    torch.save({k: v for k, v in raw.items() if k != "extra"}, tmp_path / "damaged.pt")
    cases = {"pickled.pt": "weights_only=True failed", "newer.pt": "written by a newer nas",
             "foreign.pt": "is not a nas checkpoint", "damaged.pt": "damaged nas checkpoint"}
    for name, message in cases.items():
        with pytest.raises(NasError, match=message):
            load_checkpoint(tmp_path / name)
        assert main(["export", str(tmp_path / name), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    with pytest.raises(NasError, match="is a network checkpoint, not a resume one"):
        load_checkpoint(written["nas train"], RESUME)


def test_only_weights_only_values_are_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"extra\.when"):
        make_checkpoint(NETWORK, {}, space="resnet", genome=GENOME, input_shape=SHAPE,
                        num_classes=CLASSES, extra={"when": {1, 2}})
    with pytest.raises(TypeError, match=r"rng\.gen"):
        write_checkpoint(tmp_path / "x.pt", {"rng": {"gen": torch.Generator()}})
    assert not (tmp_path / "x.pt").exists()
    state = rng_state({"g": torch.Generator()})
    write_checkpoint(tmp_path / "rng.pt", {"rng": state})  # plain: tensors and numbers
    assert torch.load(tmp_path / "rng.pt", weights_only=True)["rng"]["python"]["version"] == 3


def test_an_old_run_without_input_shape_or_checkpoint_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _old_run(tmp_path)
    for argv, fix in ((["report", "old"], "config.json"),
                      (["export", "old", "--format", "checkpoint"], "--input CxHxW")):
        assert main([*argv, "--runs-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()  # (report's transient progress bar: a blank line)
        assert "\n" not in err and "does not record its input shape" in err, err
        assert fix in err


def test_train_genome_checkpoint_matches_save_checkpoint_fields(digits: DataSplits,
                                                                tmp_path: Path) -> None:
    result = train_genome(GENOME, digits, Recipe(batch_size=32), Budget(steps=1),
                          checkpoint=tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert list(ckpt) == list(FIELDS) and ckpt["metrics"] == result.metrics()
