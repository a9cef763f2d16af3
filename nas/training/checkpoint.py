"""Checkpoints: nas's one file format for weights, versioned as :data:`CHECKPOINT_FORMAT`.

Every checkpoint nas writes goes through this module: the trainer's (``nas train``, the
retrainings of ``nas compare``), ``nas export --format checkpoint``, and the resume states of a
training that stops and continues later (a supernet's weights, optimisers, architecture
parameters, RNG states and epoch). A checkpoint is a ``torch.save`` file of one dict holding
only tensors and plain containers of str/int/float/bool/None, so it loads with
``torch.load(path, weights_only=True)`` (no pickled classes, no code runs) in any Python
that has torch, with or without nas.

Two kinds share the format: :data:`NETWORK` (a network and its weights: what ``nas export``
exports) and :data:`RESUME` (a training's whole state, to continue it). Every field, the
versions and how to read a checkpoint in plain torch are documented in ``docs/checkpoints.md``;
:func:`load_checkpoint` reads every version (older ones are upgraded in memory).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.metrics import current
from nas.core.space import create_space, validate_genome
from nas.core.statefile import write_atomic
from nas.training.data import DataSplits
from nas.training.recipe import Recipe
from nas.training.result import Result

CHECKPOINT_FORMAT = "nas.checkpoint/2"
#: The format of nas's first checkpoints (the trainer's, before the kinds and resume fields).
FORMAT_V1 = "nas.checkpoint/1"
NETWORK = "network"  # a network and its weights
RESUME = "resume"  # a training's whole state, to continue it
KINDS = (NETWORK, RESUME)

#: The keys of every version-2 checkpoint, whatever its kind (see docs/checkpoints.md).
FIELDS = ("format", "kind", "space", "genome", "space_options", "input_shape", "num_classes",
          "dataset", "recipe", "metrics", "result", "state_dict", "optimizers", "schedulers",
          "arch_parameters", "rng", "epoch", "step", "extra")


# --- plain values ----------------------------------------------------------------------------


def _plain(obj: Any, where: str = "value") -> Any:
    """``obj`` as JSON-like data (tuples become lists); raises for anything else."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {where} in a checkpoint: {obj!r}")


def _check_loadable(obj: Any, where: str) -> None:
    """Raise unless ``torch.load(weights_only=True)`` reads ``obj`` back as it is: tensors,
    str/int/float/bool/None, and lists, tuples and dicts of them (an optimiser's state dict
    has int keys and tuples, which are kept)."""
    if isinstance(obj, Tensor) or obj is None or isinstance(obj, (str, int, float, bool)):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"cannot store the key {k!r} at {where} in a checkpoint")
            _check_loadable(v, f"{where}.{k}")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_loadable(v, f"{where}[{i}]")
        return
    raise TypeError(f"cannot store {type(obj).__name__} at {where} in a checkpoint: {obj!r}")


def _tensors(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached, contiguous CPU copies: a checkpoint never depends on the device it came from."""
    return {str(k): v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def _on_cpu(obj: Any) -> Any:
    """``obj`` (an optimiser's or scheduler's state dict) with every tensor moved to the CPU,
    so that the file loads on a machine without the GPU it was written on."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


def dataset_info(data: DataSplits) -> dict[str, Any]:
    """The ``dataset`` field: what a user of the weights needs to prepare inputs."""
    return {"name": data.name, "classes": list(data.classes), "mean": list(data.mean),
            "std": list(data.std)}


# --- random number generators -----------------------------------------------------------------


def rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """The ``rng`` field: torch's (CPU and every CUDA device), numpy's and Python's global
    generators, and the explicit ``generators`` by name, as tensors and plain values."""
    legacy = np.random.get_state(legacy=True)
    assert isinstance(legacy, tuple)  # legacy=True: (name, keys, pos, has_gauss, cached)
    name, keys, pos, has_gauss, cached = legacy
    version, mt, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"bit_generator": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }


def restore_rng(state: Mapping[str, Any],
                generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Put every generator back where :func:`rng_state` found it (CUDA ones if this machine
    has as many devices; an explicit generator missing from ``state`` is an error)."""
    torch.set_rng_state(state["torch"])
    cuda = list(state.get("cuda") or [])
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy"]
    np.random.set_state((n["bit_generator"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    saved = state.get("generators", {})
    for key, generator in (generators or {}).items():
        if key not in saved:
            raise NasError(f"the checkpoint has no state for the generator {key!r} "
                           f"(it has {', '.join(saved) or 'none'})")
        generator.set_state(saved[key])


# --- building and writing --------------------------------------------------------------------


def make_checkpoint(kind: str, state_dict: Mapping[str, Tensor], *, space: str,
                    input_shape: Sequence[int], num_classes: int,
                    genome: Genome | None = None,
                    space_options: Mapping[str, Any] | None = None,
                    dataset: Mapping[str, Any] | None = None,
                    recipe: Mapping[str, Any] | None = None,
                    metrics: Mapping[str, Any] | None = None,
                    result: Mapping[str, Any] | None = None,
                    optimizers: Mapping[str, Mapping[str, Any]] | None = None,
                    schedulers: Mapping[str, Mapping[str, Any]] | None = None,
                    arch_parameters: Mapping[str, Tensor] | None = None,
                    rng: Mapping[str, Any] | None = None, epoch: int | None = None,
                    step: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A version-2 checkpoint dict with every field of :data:`FIELDS` (docs/checkpoints.md).

    Raises ``TypeError`` for a value ``torch.load(weights_only=True)`` would refuse (a bug of
    the caller, never the user's), and ``ValueError`` for an inconsistent one.
    """
    if kind not in KINDS:
        raise ValueError(f"checkpoint kind {kind!r}: one of {', '.join(KINDS)}")
    if genome is not None and genome.space != space:
        raise ValueError(f"genome of space {genome.space!r} in a {space!r} checkpoint")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {list(input_shape)}")
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "kind": kind,
        "space": space,
        "genome": None if genome is None else genome.to_dict(),
        "space_options": _plain(dict(space_options or {}), "space_options"),
        "input_shape": [int(v) for v in input_shape],
        "num_classes": int(num_classes),
        "dataset": None if dataset is None else _plain(dict(dataset), "dataset"),
        "recipe": _plain(dict(recipe or {}), "recipe"),
        "metrics": _plain(dict(metrics or {}), "metrics"),
        "result": None if result is None else _plain(dict(result), "result"),
        "state_dict": _tensors(state_dict),
        "optimizers": {str(k): _on_cpu(dict(v)) for k, v in (optimizers or {}).items()},
        "schedulers": {str(k): _on_cpu(dict(v)) for k, v in (schedulers or {}).items()},
        "arch_parameters": _tensors(arch_parameters or {}),
        "rng": None if rng is None else _on_cpu(dict(rng)),
        "epoch": None if epoch is None else int(epoch),
        "step": None if step is None else int(step),
        "extra": _plain(dict(extra or {}), "extra"),
    }
    _check_loadable(ckpt, "checkpoint")
    return ckpt


def write_checkpoint(path: str | Path, ckpt: Mapping[str, Any]) -> Path:
    """Write a checkpoint dict (from :func:`make_checkpoint`) to ``path``: to a temporary file
    first, then renamed, so a crash never leaves half a checkpoint."""
    _check_loadable(dict(ckpt), "checkpoint")
    return write_atomic(path, partial(_torch_save, dict(ckpt)))


def _torch_save(obj: Any, path: Path) -> None:
    torch.save(obj, path)


def save_checkpoint(path: str | Path, model: nn.Module, genome: Genome,
                    recipe: Recipe | Mapping[str, Any] | None = None,
                    result: Result | Mapping[str, Any] | None = None,
                    data: DataSplits | None = None,
                    space_options: Mapping[str, Any] | None = None, *,
                    input_shape: Sequence[int] | None = None, num_classes: int | None = None,
                    dataset: Mapping[str, Any] | None = None,
                    metrics: Mapping[str, Any] | None = None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` (built from ``genome``) as a :data:`NETWORK` checkpoint to ``path``.

    The trainer passes its ``data``, which gives the input shape, classes and the dataset's
    normalisation; an export passes ``input_shape`` and ``num_classes`` (and the ``dataset``
    of the checkpoint it came from, if any) instead. ``metrics`` default to the result's.
    """
    if data is not None:
        input_shape = input_shape or data.input_shape
        num_classes = num_classes if num_classes is not None else data.num_classes
        dataset = dataset if dataset is not None else dataset_info(data)
    if input_shape is None or num_classes is None:
        raise ValueError("save_checkpoint needs data, or input_shape and num_classes")
    if isinstance(result, Result):
        metrics = result.metrics() if metrics is None else metrics
        result = result.to_dict()
    ckpt = make_checkpoint(
        NETWORK, model.state_dict(), space=genome.space, genome=genome,
        space_options=space_options, input_shape=input_shape, num_classes=num_classes,
        dataset=dataset, recipe=recipe.to_dict() if isinstance(recipe, Recipe) else recipe,
        metrics=metrics, result=result, extra=extra)
    return write_checkpoint(path, ckpt)


def save_resume_state(path: str | Path, model: nn.Module, *, space: str,
                      input_shape: Sequence[int], num_classes: int,
                      optimizers: Mapping[str, torch.optim.Optimizer], epoch: int, step: int,
                      genome: Genome | None = None,
                      space_options: Mapping[str, Any] | None = None,
                      dataset: Mapping[str, Any] | None = None,
                      recipe: Recipe | Mapping[str, Any] | None = None,
                      schedulers: Mapping[str, Any] | None = None,
                      arch_parameters: Mapping[str, Tensor] | None = None,
                      generators: Mapping[str, torch.Generator] | None = None,
                      metrics: Mapping[str, Any] | None = None,
                      extra: Mapping[str, Any] | None = None) -> Path:
    """Write a training's whole state as a :data:`RESUME` checkpoint to ``path``.

    ``model`` is what trains (a supernet has no single ``genome``: leave it None), and
    ``optimizers`` and ``schedulers`` (``torch.optim.lr_scheduler`` objects) are named, e.g.
    ``{"weights": w_opt, "arch": a_opt}`` for DARTS. ``arch_parameters`` are tensors kept
    outside the module's state dict; every global RNG and the named ``generators`` are saved.
    ``epoch`` and ``step`` count what is done; ``extra`` is any JSON the trainer needs.
    :func:`restore_resume_state` puts it all back.
    """
    ckpt = make_checkpoint(
        RESUME, model.state_dict(), space=space, genome=genome, space_options=space_options,
        input_shape=input_shape, num_classes=num_classes, dataset=dataset,
        recipe=recipe.to_dict() if isinstance(recipe, Recipe) else recipe, metrics=metrics,
        optimizers={k: o.state_dict() for k, o in optimizers.items()},
        schedulers={k: s.state_dict() for k, s in (schedulers or {}).items()},
        arch_parameters=arch_parameters, rng=rng_state(generators), epoch=epoch, step=step,
        extra=extra)
    return write_checkpoint(path, ckpt)


# --- reading ---------------------------------------------------------------------------------


def load_checkpoint(path: str | Path, kind: str | None = None, *,
                    mmap: bool = False) -> dict[str, Any]:
    """The checkpoint at ``path`` as a version-2 dict (older versions upgraded in memory).

    ``kind`` (:data:`NETWORK` or :data:`RESUME`), if given, must match. ``mmap`` maps the
    tensors instead of reading them (cheap when only the metadata is wanted). Anything that
    is not a readable nas checkpoint is a one-line :class:`NasError`.
    """
    path = Path(path)
    if not path.is_file():
        raise NasError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # pickled classes (unsafe), a truncated or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NasError(f"{path} is not a nas checkpoint (torch.load with weights_only=True "
                       f"failed: {first[:200]})") from None
    ckpt = upgrade(raw, path)
    if kind is not None and ckpt["kind"] != kind:
        raise NasError(f"{path} is a {ckpt['kind']} checkpoint, not a {kind} one")
    return ckpt


def upgrade(raw: Any, path: str | Path = "checkpoint") -> dict[str, Any]:
    """A loaded checkpoint of any version as a version-2 dict; one-line NasError otherwise.

    Version 1 (the trainer's first checkpoints) and the unversioned files of the first
    ``nas export --format checkpoint`` are networks: they get ``kind`` network, ``space``
    from the genome and empty resume fields.
    """
    if not isinstance(raw, dict):
        raise NasError(f"{path} is not a nas checkpoint (it holds a {type(raw).__name__}, "
                       f"not a dict with format {CHECKPOINT_FORMAT!r})")
    fmt = raw.get("format")
    if fmt == CHECKPOINT_FORMAT:
        ckpt = dict(raw)
    elif fmt == FORMAT_V1 or (fmt is None and _old_export(raw)):
        ckpt = _from_v1(raw)
    else:
        match = re.fullmatch(r"nas\.checkpoint/(\d+)", str(fmt))
        if match and int(match.group(1)) > 2:
            raise NasError(f"{path} was written by a newer nas (format {fmt}); this nas reads "
                           f"{FORMAT_V1} and {CHECKPOINT_FORMAT}: upgrade nas")
        raise NasError(f"{path} is not a nas checkpoint (format {fmt!r}, expected "
                       f"{CHECKPOINT_FORMAT!r})")
    missing = [k for k in FIELDS if k not in ckpt]
    if not missing and ckpt["kind"] == NETWORK and ckpt["genome"] is None:
        missing = ["genome"]
    if missing or ckpt["kind"] not in KINDS:
        what = f"no {', '.join(missing)}" if missing else f"kind {ckpt['kind']!r}"
        raise NasError(f"{path} is a damaged nas checkpoint ({what})")
    return current(ckpt, nested=("metrics", "result"))  # an older nas's keys renamed


def _old_export(raw: Mapping[str, Any]) -> bool:
    """An unversioned checkpoint of the first ``nas export`` (it had no ``format`` key)."""
    return {"state_dict", "genome", "input_shape", "num_classes"} <= set(raw)


def _from_v1(raw: Mapping[str, Any]) -> dict[str, Any]:
    genome = raw.get("genome")
    return {
        "format": CHECKPOINT_FORMAT, "kind": NETWORK,
        "space": genome.get("space") if isinstance(genome, dict) else None,
        "genome": genome, "space_options": dict(raw.get("space_options") or {}),
        "input_shape": raw.get("input_shape"), "num_classes": raw.get("num_classes"),
        "dataset": raw.get("dataset"), "recipe": dict(raw.get("recipe") or {}),
        "metrics": dict(raw.get("metrics") or {}), "result": raw.get("result"),
        "state_dict": raw.get("state_dict"), "optimizers": {}, "schedulers": {},
        "arch_parameters": {}, "rng": None, "epoch": None, "step": None, "extra": {},
    }


def checkpoint_genome(ckpt: Mapping[str, Any], path: str | Path = "checkpoint") -> Genome:
    """The network's genome; a supernet's resume state has none (a one-line NasError)."""
    if ckpt.get("genome") is None:
        raise NasError(f"{path} is a {ckpt.get('kind')} checkpoint of a {ckpt.get('space')} "
                       "supernet: it holds no single network (no genome) to rebuild")
    return validate_genome(Genome.from_dict(ckpt["genome"]))  # a genome entering from a file


def build_network(ckpt: Mapping[str, Any], path: str | Path = "checkpoint") -> nn.Module:
    """The checkpoint's network, rebuilt from its genome and space options, weights loaded,
    in eval mode."""
    genome = checkpoint_genome(ckpt, path)
    space = create_space(genome.space, **ckpt["space_options"])
    model = space.build(genome, tuple(ckpt["input_shape"]), int(ckpt["num_classes"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def load_network(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The network of any checkpoint with a genome (rebuilt, weights loaded) and the dict."""
    ckpt = load_checkpoint(path)
    return build_network(ckpt, path), ckpt


def restore_resume_state(ckpt: Mapping[str, Any], model: nn.Module, *,
                         optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                         schedulers: Mapping[str, Any] | None = None,
                         arch_parameters: Mapping[str, Tensor] | None = None,
                         generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Load a :data:`RESUME` checkpoint into freshly built objects: the weights, each named
    optimiser, scheduler and architecture parameter (copied in place), and every RNG. The
    caller continues from ``ckpt["epoch"]`` / ``ckpt["step"]`` with ``ckpt["extra"]``."""
    if ckpt["kind"] != RESUME:
        raise NasError(f"a {ckpt['kind']} checkpoint is not a training resume state")
    model.load_state_dict(ckpt["state_dict"])
    for field, objects in (("optimizers", optimizers), ("schedulers", schedulers)):
        for key, obj in (objects or {}).items():
            if key not in ckpt[field]:
                raise NasError(f"the resume state has no {field[:-1]} {key!r} (it has "
                               f"{', '.join(ckpt[field]) or 'none'})")
            obj.load_state_dict(ckpt[field][key])
    with torch.no_grad():
        for key, tensor in (arch_parameters or {}).items():
            if key not in ckpt["arch_parameters"]:
                raise NasError(f"the resume state has no architecture parameter {key!r}")
            tensor.copy_(ckpt["arch_parameters"][key])
    if ckpt["rng"] is not None:
        restore_rng(ckpt["rng"], generators)
