"""nas: neural architecture search for PyTorch.

The public names below are imported on first use (PEP 562), so that ``import nas`` (and the
``nas`` command's ``--help``) does not pay for torch, Ray and Optuna until something needs
them: measured, importing torch alone takes about a second on a warm machine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and readers
    from nas.api import Run, Training, create_model, list_models, load_run, search, train
    from nas.core.cost import Row, Totals, layer_table, table_dict, totals
    from nas.core.errors import GenomeError, NasError, ShapeError, UnknownNameError
    from nas.core.genome import Genome, GenomeFile
    from nas.core.netgraph import NetBuilder, NetGraph
    from nas.core.objective import Objective
    from nas.core.space import (
        Baseline,
        Decision,
        Space,
        create_space,
        get_baseline,
        get_space,
        list_baselines,
        list_spaces,
        load_genome,
        register_baseline,
        register_space,
        validate_genome,
    )

#: public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("Run", "Training", "create_model", "list_models", "load_run", "search",
                     "train"), "nas.api"),
    **dict.fromkeys(("Row", "Totals", "layer_table", "table_dict", "totals"), "nas.core.cost"),
    **dict.fromkeys(("GenomeError", "NasError", "ShapeError", "UnknownNameError"),
                    "nas.core.errors"),
    **dict.fromkeys(("Genome", "GenomeFile"), "nas.core.genome"),
    **dict.fromkeys(("NetBuilder", "NetGraph"), "nas.core.netgraph"),
    "Objective": "nas.core.objective",
    **dict.fromkeys(("Baseline", "Decision", "Space", "create_space", "get_baseline",
                     "get_space", "list_baselines", "list_spaces", "load_genome",
                     "register_baseline", "register_space", "validate_genome"),
                    "nas.core.space"),
}

__all__ = [
    "Baseline",
    "Decision",
    "Genome",
    "GenomeError",
    "GenomeFile",
    "NasError",
    "NetBuilder",
    "NetGraph",
    "Objective",
    "Row",
    "Run",
    "ShapeError",
    "Space",
    "Totals",
    "Training",
    "UnknownNameError",
    "create_model",
    "create_space",
    "get_baseline",
    "get_space",
    "layer_table",
    "list_baselines",
    "list_models",
    "list_spaces",
    "load_genome",
    "load_run",
    "register_baseline",
    "register_space",
    "search",
    "table_dict",
    "totals",
    "train",
    "validate_genome",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
