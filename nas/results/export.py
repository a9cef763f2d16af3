"""Export a network so it can be used without ``nas``: code, TorchScript, ONNX, checkpoint.

* ``code``: a standalone source file (torch only; see :mod:`nas.codegen`) with a ``load()``
  function, plus ``<name>.weights.pt`` (a plain ``state_dict``) when there are weights;
* ``torchscript``: ``torch.jit.script`` of the model, loadable with ``torch.jit.load``;
* ``onnx``: opset :data:`ONNX_OPSET`, dynamic batch dimension, checked with ``onnx.checker``;
* ``checkpoint``: a nas checkpoint (:mod:`nas.training.checkpoint`, ``docs/checkpoints.md``):
  weights, genome, space options, input shape, classes, dataset, recipe and metrics, loadable
  with ``torch.load(path, weights_only=True)`` and by ``nas export`` itself.

Every file is written to a temporary name and renamed, so an interrupted export never leaves a
half-written file behind.

What to export is often a trial of a search: :func:`open_run`, :func:`ranked_trials` and
:func:`find_trial` resolve a run (by name or directory) and its children for ``nas export``,
``nas compare`` and ``nas report``; :func:`run_input` gives a run's input shape and classes
without loading its data.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nas.core.codegen import module_file
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.netgraph import NetGraph
from nas.core.statefile import write_atomic
from nas.training.checkpoint import save_checkpoint

if TYPE_CHECKING:  # nas.store imports Optuna: only the functions that read runs need it
    pass

FORMATS = ("code", "torchscript", "onnx", "checkpoint")
#: What ``nas export --format`` also accepts: ``diagram``, a PNG of the searched cells
#: (:mod:`nas.results.diagrams`) for spaces that have them.
ARTIFACTS = (*FORMATS, "diagram")
ONNX_OPSET = 17


def parse_formats(text: str, allowed: Sequence[str] = FORMATS) -> list[str]:
    """``"code, onnx"`` -> ["code", "onnx"]; anything not in ``allowed`` is a NasError."""
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in allowed]
    if unknown or not formats:
        raise NasError(f"--format {text!r}: choose from {', '.join(allowed)}")
    return formats


#: Formats that need an optional extra, with the packages they import.
EXTRAS = {"onnx": ("onnx", "onnxscript")}


def missing_extra(fmt: str) -> str | None:
    """How to get what format ``fmt`` needs, if some package of its extra is not installed
    (None: it can be written)."""
    missing = [m for m in EXTRAS.get(fmt, ()) if not _importable(m)]
    if not missing:
        return None
    return (f"{fmt} needs {', '.join(missing)} (not installed): pip install 'nas[export]' "
            "or install them")


def _importable(module: str) -> bool:
    try:  # imported, not only found: a broken install counts as missing too
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def export_network(model: nn.Module, net: NetGraph, genome: Genome, out_dir: str | Path, *,
                   name: str, formats: Sequence[str] = FORMATS, has_weights: bool = True,
                   space_options: Mapping[str, Any] | None = None,
                   recipe: Mapping[str, Any] | None = None,
                   metrics: Mapping[str, Any] | None = None,
                   dataset: Mapping[str, Any] | None = None,
                   result: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``model`` (built from ``net``) in each of ``formats``; return format -> path.

    ``recipe``, ``metrics``, ``dataset`` and ``result`` go into the checkpoint as they are
    (those of the checkpoint the model came from, if any: see docs/checkpoints.md).
    """
    out = Path(out_dir)
    model = model.cpu().eval()
    example = torch.randn(2, *net.input_shape)
    files: dict[str, Path] = {}
    for fmt in formats:
        if fmt == "code":
            weights = f"{name}.weights.pt" if has_weights else None
            src = module_file(net, genome.to_dict(), weights, class_name="Net")
            files["code"] = write_atomic(out / f"{name}.py", partial(_write_text, src))
            if weights:
                state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
                files["weights"] = write_atomic(out / weights, partial(_torch_save, state))
        elif fmt == "torchscript":
            with warnings.catch_warnings():  # jit.script's deprecation and typing notes
                warnings.simplefilter("ignore")
                scripted = torch.jit.script(model)
            files["torchscript"] = write_atomic(out / f"{name}.torchscript.pt",
                                                partial(_jit_save, scripted))
        elif fmt == "onnx":
            files["onnx"] = write_atomic(out / f"{name}.onnx", partial(_write_onnx, model, example))
        elif fmt == "checkpoint":
            files["checkpoint"] = save_checkpoint(
                out / f"{name}.ckpt.pt", model, genome, recipe, result,
                space_options=space_options, input_shape=net.input_shape,
                num_classes=int(net.output_shape[0]), dataset=dataset, metrics=metrics or {})
        else:
            raise NasError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    return files


def _write_text(text: str, path: Path) -> None:
    path.write_text(text)


def _torch_save(obj: Any, path: Path) -> None:
    torch.save(obj, path)


def _jit_save(module: Any, path: Path) -> None:
    torch.jit.save(module, str(path))


def _write_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    import onnx

    torch.onnx.export(model, (example,), str(path), opset_version=ONNX_OPSET, dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)))
