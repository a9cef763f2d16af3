"""Export a network so it can be used without ``nas``: code, TorchScript, ONNX, checkpoint.

* ``code``: a standalone source file (torch only; see :mod:`nas.codegen`) with a ``load()``
  function, plus ``<name>.weights.pt`` (a plain ``state_dict``) when there are weights;
* ``torchscript``: ``torch.jit.script`` of the model, loadable with ``torch.jit.load``;
* ``onnx``: opset :data:`ONNX_OPSET`, dynamic batch dimension, checked with ``onnx.checker``;
* ``checkpoint``: weights, genome, space options, input shape, classes, recipe and metrics,
  loadable with ``torch.load(path, weights_only=True)``.

Every file is written to a temporary name and renamed, so an interrupted export never leaves a
half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.codegen import module_file
from nas.errors import NasError
from nas.genome import Genome
from nas.netgraph import NetGraph

FORMATS = ("code", "torchscript", "onnx", "checkpoint")
ONNX_OPSET = 17


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise NasError(f"--format {text!r}: choose from {', '.join(FORMATS)}")
    return formats


def checkpoint_dict(model: nn.Module, genome: Genome, net: NetGraph,
                    space_options: Mapping[str, Any] | None = None,
                    recipe: Mapping[str, Any] | None = None,
                    metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to rebuild and judge the model, in ``weights_only``-safe types."""
    return {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "genome": genome.to_dict(),
        "space_options": dict(space_options or {}),
        "input_shape": list(net.input_shape),
        "num_classes": int(net.output_shape[0]),
        "recipe": dict(recipe or {}),
        "metrics": dict(metrics or {}),
    }


def export_network(model: nn.Module, net: NetGraph, genome: Genome, out_dir: str | Path, *,
                   name: str, formats: Sequence[str] = FORMATS, has_weights: bool = True,
                   space_options: Mapping[str, Any] | None = None,
                   recipe: Mapping[str, Any] | None = None,
                   metrics: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``model`` (built from ``net``) in each of ``formats``; return format -> path."""
    out = Path(out_dir)
    model = model.cpu().eval()
    example = torch.randn(2, *net.input_shape)
    files: dict[str, Path] = {}
    for fmt in formats:
        if fmt == "code":
            weights = f"{name}.weights.pt" if has_weights else None
            src = module_file(net, genome.to_dict(), weights, class_name="Net")
            files["code"] = _atomic(out / f"{name}.py", lambda p, s=src: p.write_text(s))
            if weights:
                state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
                files["weights"] = _atomic(out / weights, lambda p, s=state: torch.save(s, p))
        elif fmt == "torchscript":
            with warnings.catch_warnings():  # jit.script's deprecation and typing notes
                warnings.simplefilter("ignore")
                scripted = torch.jit.script(model)
            files["torchscript"] = _atomic(out / f"{name}.torchscript.pt",
                                           lambda p, m=scripted: torch.jit.save(m, str(p)))
        elif fmt == "onnx":
            files["onnx"] = _atomic(out / f"{name}.onnx",
                                    lambda p: _write_onnx(model, example, p))
        elif fmt == "checkpoint":
            ckpt = checkpoint_dict(model, genome, net, space_options, recipe, metrics)
            files["checkpoint"] = _atomic(out / f"{name}.ckpt.pt",
                                          lambda p, c=ckpt: torch.save(c, p))
        else:
            raise NasError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    return files


def _write_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    import onnx

    torch.onnx.export(model, (example,), str(path), opset_version=ONNX_OPSET, dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)))
