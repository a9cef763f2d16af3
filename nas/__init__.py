"""nas: neural architecture search for PyTorch."""

from nas.core.cost import Row, Totals, layer_table, table_dict, totals
from nas.core.errors import GenomeError, NasError, ShapeError, UnknownNameError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, NetGraph
from nas.core.space import (
    Baseline,
    Decision,
    Space,
    create_space,
    get_baseline,
    get_space,
    list_baselines,
    list_spaces,
    register_baseline,
    register_space,
)

__all__ = [
    "Baseline",
    "Decision",
    "Genome",
    "GenomeError",
    "NasError",
    "NetBuilder",
    "NetGraph",
    "Row",
    "ShapeError",
    "Space",
    "Totals",
    "UnknownNameError",
    "create_space",
    "get_baseline",
    "get_space",
    "layer_table",
    "list_baselines",
    "list_spaces",
    "register_baseline",
    "register_space",
    "table_dict",
    "totals",
]
__version__ = "0.1.0"
