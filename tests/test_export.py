"""Exports load in a fresh interpreter where ``nas`` cannot be imported, and agree to 1e-5."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas import get_baseline
from nas.core.errors import NasError
from nas.results.export import FORMATS, export_network, parse_formats
from nas.training.checkpoint import CHECKPOINT_FORMAT, NETWORK, load_network

# Runs in a subprocess: `nas` and its sibling packages are made unimportable first.
_LOADER = r"""
import json, sys
for blocked in ("nas", "search_spaces", "controllers"):
    sys.modules[blocked] = None
import importlib.util, numpy as np, torch
files, x_path = json.loads(sys.argv[1]), sys.argv[2]
x = torch.load(x_path, weights_only=True)
outs = {}
spec = importlib.util.spec_from_file_location("exported", files["code"])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
outs["code"] = mod.load().eval()(x)
outs["torchscript"] = torch.jit.load(files["torchscript"]).eval()(x)
import onnxruntime as ort
sess = ort.InferenceSession(files["onnx"], providers=["CPUExecutionProvider"])
outs["onnx"] = torch.from_numpy(sess.run(None, {"input": x.numpy()})[0])
ckpt = torch.load(files["checkpoint"], weights_only=True)
m2 = mod.Net().eval(); m2.load_state_dict(ckpt["state_dict"])
outs["checkpoint"] = m2(x)
try:
    import nas  # noqa
    raise SystemExit("nas was importable")
except ImportError:
    pass
torch.save({k: v.detach() for k, v in outs.items()}, sys.argv[3])
"""


def _reload_without_nas(files: dict[str, Path], x: torch.Tensor, tmp: Path) -> dict:
    torch.save(x, tmp / "x.pt")
    cmd = [sys.executable, "-c", _LOADER, json.dumps({k: str(v) for k, v in files.items()}),
           str(tmp / "x.pt"), str(tmp / "outs.pt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return torch.load(tmp / "outs.pt", weights_only=True)


@pytest.mark.parametrize("name", ["mobilenet_v2", pytest.param("vgg11_bn", marks=pytest.mark.slow)])
def test_baseline_exports_reproduce_outputs_without_nas(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    baseline = get_baseline(name)
    shape = (3, 32, 32)
    graph = baseline.graph(shape, 10)
    model = baseline.build(shape, 10).eval()
    with torch.no_grad():  # non-trivial BN statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    files = export_network(model, graph, baseline.genome, tmp_path, name=name)
    assert set(FORMATS) <= set(files)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        ref = model(x)
    outs = _reload_without_nas(files, x, tmp_path)
    for fmt, y in outs.items():
        torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5, msg=f"{name} {fmt}")
    source = files["code"].read_text()
    assert "import nas" not in source and "class Net(nn.Module)" in source
    ckpt = torch.load(files["checkpoint"], weights_only=True)
    assert ckpt["genome"] == baseline.genome.to_dict() and ckpt["num_classes"] == 10
    assert (ckpt["format"], ckpt["kind"]) == (CHECKPOINT_FORMAT, NETWORK)  # nas's one format
    rebuilt, _ = load_network(files["checkpoint"])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), ref, atol=0, rtol=0)


def test_unknown_format_is_a_clear_error() -> None:
    assert parse_formats("code, onnx") == ["code", "onnx"]
    with pytest.raises(NasError, match="choose from code, torchscript"):
        parse_formats("code,pickle")
