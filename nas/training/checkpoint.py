"""Checkpoints: a trained network with everything needed to rebuild it, in one file that loads
with ``torch.load(path, weights_only=True)``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import create_space
from nas.core.statefile import write_atomic
from nas.training.data import DataSplits
from nas.training.recipe import Recipe
from nas.training.result import Result

CHECKPOINT_FORMAT = "nas.checkpoint/1"


def save_checkpoint(path: str | Path, model: nn.Module, genome: Genome, recipe: Recipe,
                    result: Result, data: DataSplits,
                    space_options: Mapping[str, Any] | None = None) -> Path:
    """Write weights, genome, recipe, metrics and the data's normalisation to ``path``.

    Only tensors and plain containers of str/int/float/bool/None go in, so the file loads with
    ``torch.load(path, weights_only=True)`` (no pickled classes, no code execution). Written
    to a temporary file and renamed, so a crash never leaves half a checkpoint.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().to("cpu").contiguous()
                       for k, v in model.state_dict().items()},
        "genome": genome.to_dict(),
        "space_options": _plain(dict(space_options or {})),
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "dataset": {"name": data.name, "classes": list(data.classes),
                    "mean": list(data.mean), "std": list(data.std)},
        "recipe": recipe.to_dict(),
        "metrics": result.metrics(),
        "result": result.to_dict(),
    }
    return write_atomic(path, partial(torch.save, payload))


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained module (rebuilt from its genome, weights loaded) and the checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise NasError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise NasError(f"{path} is not a nas checkpoint (format {CHECKPOINT_FORMAT})")
    genome = Genome.from_dict(ckpt["genome"])
    space = create_space(genome.space, **ckpt["space_options"])
    model = space.build(genome, tuple(ckpt["input_shape"]), ckpt["num_classes"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


def _plain(obj: Any) -> Any:
    """``obj`` with tuples as lists; raises for anything weights_only loading would refuse."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint: {obj!r}")
