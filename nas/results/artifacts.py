"""A trial's pictures for optuna-dashboard: its cell diagram, or its layer table.

The search stores them as Optuna artifacts of the trial (:mod:`nas.search.store`), so the
dashboard shows every child's architecture next to its learning curve. A space with searched
cells (NASNet) gets the PNG of :mod:`nas.results.diagrams`; any other space the lecture's
layer table as text (a millisecond to make).

Drawing a NASNet genome's two cells takes 0.5-1.5 s of matplotlib (measured on the project's
2-core machine, loaded), a tenth of a fast digits child, so the search draws in a background
thread at low priority while the child trains, and never waits for it (see
:class:`nas.search.loop.Search`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from nas.core.cost import layer_table, totals
from nas.core.genome import Genome
from nas.core.space import create_space


def layer_text(genome: Genome, space_options: Mapping[str, Any],
               input_shape: tuple[int, int, int], num_classes: int) -> str:
    """The genome's layer table (``nas show``'s) as fixed-width text."""

    graph = create_space(genome.space, **space_options).graph(genome, input_shape, num_classes)
    table = Table(title=f"{genome.space} {genome.id} at {'x'.join(map(str, input_shape))}, "
                        f"{num_classes} classes", box=None)
    for col in ("layer", "C", "H/W", "filters", "kernel", "stride", "pad", "C out",
                "H/W out", "params", "multiply-adds"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for r in layer_table(graph):
        table.add_row(r.layer, str(r.in_c), r.in_hw, "" if r.filters is None else str(r.filters),
                      r.kernel, "" if r.stride is None else str(r.stride), r.pad, str(r.out_c),
                      r.out_hw, f"{r.params:,}", f"{r.macs:,}")
    t = totals(graph)
    table.add_row("total", *[""] * 8, f"{t.params:,}", f"{t.macs:,}")
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(table)
    return out.getvalue()


def trial_pictures(genome: Genome, config: Mapping[str, Any], directory: Path) -> list[Path]:
    """Draw ``genome`` (a child of the search whose config is ``config``) into ``directory``:
    ``<id>.cells.png`` for a space with cells, else ``<id>.layers.txt``."""
    # imports PIL, matplotlib, networkx: loaded here, where used, for start-up time
    from nas.results.diagrams import draw_genome

    options = dict(config.get("space_options") or {})
    directory.mkdir(parents=True, exist_ok=True)
    png = draw_genome(genome, directory / f"{genome.id}.cells.png", space_options=options,
                      title=f"{genome.space} {genome.id}")
    if png is not None:
        return [png]
    shape, classes = config.get("input_shape") or (3, 32, 32), config.get("num_classes") or 10
    path = directory / f"{genome.id}.layers.txt"
    path.write_text(layer_text(genome, options, (shape[0], shape[1], shape[2]), int(classes)))
    return [path]
