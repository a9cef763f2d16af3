"""``nas export`` end to end: a trained NASNet child and a ResNet baseline, in every format,
reloaded in a fresh interpreter where ``nas`` cannot be imported; and bad input."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from nas.cli import main
from nas.core.genome import Genome
from nas.core.space import create_space, get_baseline
from nas.search.store import RunDir, RunStudy
from nas.training.checkpoint import load_network
from nas.training.data import load_dataset
from nas.training.loop import train_genome
from nas.training.recipe import Budget, Recipe

# Runs in a subprocess: `nas` and its sibling packages are made unimportable first. For each
# export set it runs the code (load()), TorchScript, ONNX and checkpoint files on one input.
_LOADER = r"""
import importlib.util, json, sys
for blocked in ("nas", "search_spaces", "controllers"):
    sys.modules[blocked] = None
import torch, onnxruntime as ort
torch.set_num_threads(1)
sets, x = json.loads(sys.argv[1]), torch.load(sys.argv[2], weights_only=True)
outs = {}
for name, files in sets.items():
    spec = importlib.util.spec_from_file_location(name, files["code"])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    with torch.no_grad():
        outs[f"{name}/code"] = mod.load().eval()(x)
        outs[f"{name}/torchscript"] = torch.jit.load(files["torchscript"]).eval()(x)
        session = ort.InferenceSession(files["onnx"], providers=["CPUExecutionProvider"])
        outs[f"{name}/onnx"] = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        ckpt = torch.load(files["checkpoint"], weights_only=True)
        net = mod.Net().eval(); net.load_state_dict(ckpt["state_dict"])
        outs[f"{name}/checkpoint"] = net(x)
try:
    import nas  # noqa: F401
    raise SystemExit("nas was importable")
except ImportError:
    pass
torch.save(outs, sys.argv[3])
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: on a shared 2-core machine, two threads per process oversubscribe
    the cores and small models train several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_nasnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NASNet child trained for two steps on digits, saved by the trainer's checkpoint."""
    path = tmp_path_factory.mktemp("trained") / "checkpoint.pt"
    data = load_dataset("digits", limit=100)
    space = create_space("nasnet", width=8)
    genome = space.sample(random.Random(3))
    result = train_genome(genome, data, Recipe(batch_size=32), Budget(steps=2),
                          space_options={"width": 8}, checkpoint=path)
    assert result.status == "ok", result.message
    return path


def _export(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["export", *argv, "--json"]) == 0
    exported: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return exported


def test_trained_nasnet_and_resnet18_reload_without_nas(
        trained_nasnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (nasnet,) = _export([str(trained_nasnet), "--out", str(tmp_path)], capsys)
    (resnet,) = _export(["resnet18", "--input", "1x8x8", "--classes", "10", "--out",
                         str(tmp_path)], capsys)
    assert nasnet["trained"] and not resnet["trained"]
    assert "untrained" in resnet["weights"]

    # the references: nas's own modules with the exported weights
    trained, ckpt = load_network(trained_nasnet)
    baseline = get_baseline("resnet18").build((1, 8, 8), 10).eval()
    exported_ckpt = torch.load(resnet["files"]["checkpoint"], weights_only=True)
    baseline.load_state_dict(exported_ckpt["state_dict"])
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        refs = {"trained": trained(x), "resnet18": baseline(x)}

    torch.save(x, tmp_path / "x.pt")
    sets = {"trained": nasnet["files"], "resnet18": resnet["files"]}
    proc = subprocess.run([sys.executable, "-c", _LOADER, json.dumps(sets),
                           str(tmp_path / "x.pt"), str(tmp_path / "outs.pt")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    outs = torch.load(tmp_path / "outs.pt", weights_only=True)
    assert len(outs) == 8
    for key, y in outs.items():
        torch.testing.assert_close(y, refs[key.split("/")[0]], atol=1e-5, rtol=1e-5, msg=key)

    # the checkpoint carries the trained weights, genome, recipe and metrics
    exported = torch.load(nasnet["files"]["checkpoint"], weights_only=True)
    for k, v in ckpt["state_dict"].items():
        torch.testing.assert_close(exported["state_dict"][k], v, atol=0, rtol=0)
    assert exported["genome"] == ckpt["genome"] and exported["space_options"] == {"width": 8}
    assert exported["recipe"]["batch_size"] == 32 and "accuracy" in exported["metrics"]
    # the genome leaves as JSON too; NASNet cells as a diagram, ResNets have none
    # (with what it was built for, so that nas.create_model needs no argument; still a genome)
    written = json.loads(Path(nasnet["files"]["genome"]).read_text())
    assert written == {**ckpt["genome"], "input_shape": [1, 8, 8], "num_classes": 10,
                       "space_options": {"width": 8}}
    assert Genome.from_dict(written).to_dict() == ckpt["genome"]
    png = Path(nasnet["files"]["diagram"]).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "diagram" not in resnet["files"]
    assert set(nasnet["files"]) == {"genome", "code", "weights", "torchscript", "onnx",
                                    "checkpoint", "diagram", "hubconf"}

    import onnx

    assert onnx.load(resnet["files"]["onnx"]).opset_import[0].version == 17


@pytest.fixture(scope="module")
def empty_run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """A run whose study exists but has no trials yet (a search that just started)."""
    run = RunDir.create(tmp_path_factory.mktemp("runs"), "empty",
                        {"space": "nasnet", "dataset": "digits"})
    RunStudy.open(run.storage_url, run.name, None, create=True, load=False)
    return run


@pytest.mark.parametrize("argv, message", [
    (["no-such-thing"], "is not a baseline"),
    (["runs/no-such-run"], "not a run directory"),
    (["resnet18", "--format", "code,pickle"], "choose from code, torchscript"),
    (["resnet18", "--trial", "3"], "choose trials of a run"),
    (["missing.pt"], "checkpoint not found"),
    (["missing.json"], "genome file not found"),
    (["empty", "--trial", "5"], "has no trial 5"),
    (["empty"], "no completed child"),
])
def test_bad_input_is_one_line_and_exit_2(empty_run: RunDir, argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", *argv, "--runs-dir", str(empty_run.path.parent)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas export: error:") and "\n" not in err, err
    assert message in err


def test_space_options_reach_an_exported_baseline_but_not_a_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["export", "nasnet_a", "--space-option", "cells=1", "--space-option", "width=8",
                 "--input", "32", "--classes", "10", "--format", "checkpoint", "--out",
                 str(out)])
    assert code == 0, capsys.readouterr().err
    ckpt = out / "nasnet_a" / "nasnet_a.ckpt.pt"
    saved = torch.load(ckpt, weights_only=True)
    assert saved["space_options"]["cells"] == 1 and saved["space_options"]["width"] == 8
    capsys.readouterr()
    code = main(["export", str(ckpt), "--space-option", "cells=2", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--space-option cannot change a checkpoint's network" in err
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()
