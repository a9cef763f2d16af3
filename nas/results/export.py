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

An exported network is an :class:`Item` (from a checkpoint, a run's trial or a fresh genome),
written by :func:`write_item` to a folder of its own that is also a ``torch.hub`` repository:
``<name>.genome.json`` (the genome with the input shape, classes and space options it was
built for: a :class:`~nas.core.genome.GenomeFile`), the formats asked for and, with ``code``,
a ``hubconf.py`` whose ``model()`` entry point builds the network from the exported code and
loads the exported weights, so ``torch.hub.load(folder, "model", source="local")`` works in an
interpreter that has torch and no nas. A run's trials are resolved by
:mod:`nas.results.runs` (:func:`run_items`).
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.core.codegen import module_file
from nas.core.errors import NasError, ShapeError
from nas.core.genome import Genome, GenomeFile
from nas.core.netgraph import NetGraph, Shape
from nas.core.space import create_space
from nas.core.statefile import write_atomic
from nas.results.compare import trained_checkpoints
from nas.results.runs import (  # re-exported: where export's callers found them first
    find_trial,
    open_run,
    ranked_trials,
    run_input,
    run_records,
)
from nas.search.store import RunDir, TrialRecord
from nas.training.checkpoint import (
    RESUME,
    build_network,
    checkpoint_genome,
    load_checkpoint,
    save_checkpoint,
)

__all__ = ["ARTIFACTS", "FORMATS", "ONNX_OPSET", "Item", "checkpoint_item", "export_network",
           "find_trial", "fresh_item", "open_run", "parse_formats", "ranked_trials",
           "run_input", "run_items", "run_records", "write_item"]

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
    # imports onnx: loaded here, where used, for start-up time
    import onnx

    torch.onnx.export(model, (example,), str(path), opset_version=ONNX_OPSET, dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)))




# --- what to export: items ------------------------------------------------------------------


@dataclass
class Item:
    """One network to export, built and with its weights loaded."""

    name: str  # file stem: a Python identifier, so that `import <name>` works
    genome: Genome
    space_options: dict[str, Any]
    model: nn.Module
    graph: NetGraph
    weights: str  # where the weights come from, for the user
    trained: bool
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] | None = None  # name, classes, mean, std (from a checkpoint)
    result: dict[str, Any] | None = None  # the training's Result (from a checkpoint)

    def genome_file(self) -> GenomeFile:
        """The genome with what its network is built for (the exported genome JSON)."""
        shape = self.graph.input_shape
        return GenomeFile(self.genome, (shape[0], shape[1], shape[2]),
                          int(self.graph.output_shape[0]), self.space_options)


def identifier(label: str) -> str:
    """``trial-12`` -> ``trial_12``; ``3x`` -> ``net_3x``: a name Python can import."""
    name = re.sub(r"\W+", "_", label).strip("_") or "net"
    return name if name[0].isalpha() else f"net_{name}"


def checkpoint_item(path: Path, name: str | None = None) -> Item:
    """A checkpoint of any kind and version that holds one network (docs/checkpoints.md)."""
    ckpt = load_checkpoint(path)
    genome = checkpoint_genome(ckpt, path)
    model = build_network(ckpt, path)
    options = dict(ckpt["space_options"])
    graph = create_space(genome.space, **options).graph(
        genome, tuple(ckpt["input_shape"]), int(ckpt["num_classes"]))
    stem = re.sub(r"(\.ckpt)?\.(pt|pth|ckpt)$", "", path.name)
    stem = path.parent.name if stem in ("checkpoint", "model") else stem
    metrics = dict(ckpt["metrics"])
    result = ckpt["result"]
    if result is not None and result.get("test_top1") is not None:
        metrics["test_top1"] = result["test_top1"]
    where = (f"training resume state, epoch {ckpt['epoch']}, " if ckpt["kind"] == RESUME
             else "")
    return Item(name or identifier(stem), genome, options, model, graph,
                f"trained ({where}{path})", True, dict(ckpt["recipe"]), metrics,
                ckpt["dataset"], result)


def fresh_item(name: str, genome: Genome, options: Mapping[str, Any], shape: Shape,
               classes: int, seed: int = 0) -> Item:
    """``genome`` with freshly initialised weights (from ``seed``)."""
    space = create_space(genome.space, **options)
    try:
        graph = space.graph(genome, shape, classes)
    except ShapeError as e:
        raise NasError(f"{name} does not fit {'x'.join(map(str, shape))} inputs: {e}") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.module(graph)
    return Item(name, genome, dict(options), model.eval(), graph,
                f"untrained (fresh initialisation, seed {seed})", False)


def run_items(run: RunDir, chosen: Sequence[TrialRecord], *,
              space_options: Mapping[str, Any] | None = None,
              shape: tuple[Shape, int] | None = None, seed: int = 0
              ) -> tuple[list[Item], list[str]]:
    """The trials ``chosen`` of ``run`` as items, and notes for the user.

    A trial that ``nas compare`` retrained leaves with its best checkpoint's weights; any
    other with fresh ones (a search keeps no child's weights), and a note says so.
    ``space_options`` change the network (then no checkpoint fits); ``shape`` is the input
    shape and classes to build for (default: the run's, read without loading its data).
    """
    options = dict(space_options or {})
    trained = trained_checkpoints(run)
    merged = {**run.config.get("space_options", {}), **options}
    items, fresh, refit = [], [], []
    for record in chosen:
        if record.number in trained and options:
            refit.append(record.number)  # other options, another network: weights do not fit
        if record.number in trained and not options:
            ckpt, rec = trained[record.number]
            item = checkpoint_item(ckpt, name=f"trial_{record.number}")
            test = rec["result"].get("test_top1")
            item.weights = (f"retrained by nas compare (seed {rec['seed']}, "
                            f"{rec['budget'].get('epochs', 0):g} epochs, val "
                            f"{rec['result']['best_val_top1']:.2f}%"
                            + (f", test {test:.2f}%" if test is not None else "") + ")")
            item.metrics = {**search_metrics(record), **item.metrics}
        else:
            shape = shape or run_input(run, fix="give --input CxHxW and --classes N")
            item = fresh_item(f"trial_{record.number}", record.genome, merged, *shape, seed)
            item.metrics = search_metrics(record)
            fresh.append(record.number)
        items.append(item)
    notes = []
    if refit:
        notes.append(f"trial(s) {', '.join(map(str, refit))}: --space-option changes the "
                     "network, so its nas compare checkpoint does not fit; exported with fresh "
                     "weights")
        fresh = [n for n in fresh if n not in refit]
    if fresh:
        which = ", ".join(map(str, fresh))
        notes.append(f"trial(s) {which}: untrained weights (a search keeps no child's "
                     f"weights); `nas compare {run.name}` retrains the best and keeps their "
                     "checkpoints, which `nas export` then uses")
    return items, notes


def search_metrics(record: TrialRecord) -> dict[str, Any]:
    """A trial's search-time metrics, prefixed ``search_`` (they travel in its checkpoint)."""
    metrics = record.metrics() or {}
    return {"search_trial": record.number, **{f"search_{k}": v for k, v in metrics.items()}}


# --- writing an item --------------------------------------------------------------------------


def write_item(item: Item, formats: Sequence[str], out: str | Path,
               notes: list[str] | None = None,
               step: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write ``item`` to ``out/<name>/``: its genome file, each of ``formats`` (and
    ``diagram``), and ``hubconf.py`` when its code is written. Returns name -> path; adds to
    ``notes`` what could not be written. ``step(fmt)`` is called before each format."""
    directory = Path(out) / item.name
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"genome": item.genome_file().save(
        directory / f"{item.name}.genome.json")}
    for fmt in formats:
        if step is not None:
            step(fmt)
        if fmt == "diagram":
            from nas.results.diagrams import draw_genome  # matplotlib: only when asked

            png = draw_genome(item.genome, directory / f"{item.name}.cells.png",
                              space_options=item.space_options,
                              title=f"{item.name} ({item.genome.space} {item.genome.id})")
            if png is None and notes is not None:
                notes.append(f"{item.name}: no cell diagram (space {item.genome.space!r} has "
                             "no searched cells)")
            files.update({"diagram": png} if png is not None else {})
            continue
        files.update(export_network(item.model, item.graph, item.genome, directory,
                                    name=item.name, formats=[fmt], has_weights=True,
                                    space_options=item.space_options, recipe=item.recipe,
                                    metrics=item.metrics, dataset=item.dataset,
                                    result=item.result))
        if fmt == "code":
            files["hubconf"] = write_hubconf(item, directory)
    return files


def write_hubconf(item: Item, directory: Path) -> Path:
    """``hubconf.py`` beside ``<name>.py``: the folder becomes a ``torch.hub`` repository."""
    shape = "x".join(map(str, item.graph.input_shape))
    classes = int(item.graph.output_shape[0])
    accuracy = item.metrics.get("accuracy")
    about = (f"{item.genome.space} genome {item.genome.id} for {shape} inputs and {classes} "
             f"classes; weights: {item.weights}"
             + (f"; validation accuracy {accuracy:.2f}%" if accuracy is not None else ""))
    src = f'''"""torch.hub entry points of {item.name} (written by nas export; needs only torch).

    # imports torch: loaded here, where used, for start-up time
    import torch
    model = torch.hub.load("path/to/this/folder", "model", source="local")

{about}.
"""

import importlib.util
import os

dependencies = ["torch"]

_HERE = os.path.dirname(os.path.abspath(__file__))
TRAINED = {item.trained!r}  # whether the weights beside this file were trained


def _code():
    """The exported code, {item.name}.py, loaded from this folder under a private name."""
    path = os.path.join(_HERE, "{item.name}.py")
    spec = importlib.util.spec_from_file_location("_nas_hub_{item.name}_{item.genome.id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model(pretrained=True):
    """{item.name}: {about}.

    ``pretrained`` loads the exported weights ({item.name}.weights.pt); False gives freshly
    initialised ones. The network is returned in eval mode; it reads images normalised as its
    training data were (``dataset`` in {item.name}.ckpt.pt, when exported, has the mean and std).
    """
    code = _code()
    net = code.load() if pretrained else code.load(None)
    return net.eval()


{item.name} = model
'''
    return write_atomic(directory / "hubconf.py", partial(_write_text, src))
