"""Cell diagrams: a space's searched cells drawn as boxes and arrows, one PNG per genome.

A space that repeats searched cells describes them with :meth:`nas.space.Space.cells` as small
networkx graphs whose nodes say what to print (``label``), what they are (``kind``: ``input``,
``op``, ``combine``, ``output``) and in which column they go (``layer``). This module only
draws such graphs, so it knows nothing about any one space: NASNet's normal and reduction
cells come out as the paper draws them, inputs on the left, the concatenated output on the
right, and every op a box of its own (so a block that applies two ops to the same input shows
both).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nas.core.genome import Genome
from nas.core.space import create_space

#: Box colours per node kind (inputs and the output stand out; ops are light).
COLOURS = {"input": "#9ecae1", "op": "#f7f7f7", "combine": "#fdd49e", "output": "#a1d99b"}
DPI = 120


def genome_cells(genome: Genome, space_options: Mapping[str, Any] | None = None
                 ) -> dict[str, nx.DiGraph]:
    """The cells of ``genome``'s space for it (``{}`` when the space has none)."""
    return create_space(genome.space, **dict(space_options or {})).cells(genome)


def layout(g: nx.DiGraph, sweeps: int = 4) -> dict[Any, tuple[float, float]]:
    """Positions: x is the node's ``layer``; within a column, nodes are ordered to cross few
    edges (the barycenter heuristic of layered drawing, Sugiyama et al. 1981: sweep right,
    sorting each column by the mean height of what it reads, then left by what reads it)."""
    columns: dict[int, list[Any]] = {}
    for node, layer in g.nodes(data="layer", default=0):
        columns.setdefault(int(layer), []).append(node)
    y: dict[Any, float] = {}

    def place(nodes: list[Any]) -> None:
        for i, node in enumerate(nodes):
            y[node] = (len(nodes) - 1) / 2 - i  # centred, one unit apart, top to bottom

    for nodes in columns.values():
        place(nodes)
    order = sorted(columns)
    for _ in range(sweeps):
        for layers, neighbours in ((order[1:], g.predecessors), (order[-2::-1], g.successors)):
            for layer in layers:
                def centre(node: Any, near: Any = neighbours) -> float:
                    ys = [y[n] for n in near(node)]
                    return -sum(ys) / len(ys) if ys else -y[node]  # higher y first
                columns[layer].sort(key=centre)
                place(columns[layer])
    return {node: (float(g.nodes[node].get("layer", 0)), y[node]) for node in g.nodes}


def draw_cell(ax: Axes, g: nx.DiGraph, title: str) -> None:
    """Draw one cell graph on ``ax``: a box per node, an arrow per edge, left to right."""
    pos = layout(g)
    boxes = {}
    for node, (x, y) in pos.items():
        a = g.nodes[node]
        boxes[node] = ax.text(
            x, y, str(a.get("label", node)), ha="center", va="center", fontsize=7, zorder=2,
            bbox={"boxstyle": "round,pad=0.35", "linewidth": 0.8, "edgecolor": "0.3",
                  "facecolor": COLOURS.get(a.get("kind", "op"), "white")})
    for u, v in g.edges:
        # patchA/patchB clip the arrow at the two boxes' borders when the figure is drawn
        ax.annotate("", xy=pos[v], xytext=pos[u], zorder=3, arrowprops={
            "arrowstyle": "-|>", "color": "0.35", "linewidth": 0.9, "shrinkA": 1,
            "shrinkB": 1, "patchA": boxes[u].get_bbox_patch(),
            "patchB": boxes[v].get_bbox_patch()})
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def draw_cells(cells: Mapping[str, nx.DiGraph], path: str | Path, *, title: str = "") -> Path:
    """Write all ``cells`` side by side, one panel per cell, to the PNG ``path``."""
    if not cells:
        raise ValueError("no cells to draw")
    columns = [1 + max(nx.get_node_attributes(g, "layer").values(), default=0)
               for g in cells.values()]
    rows = [max(list(_column_sizes(g).values()) or [1]) for g in cells.values()]
    width = sum(1.35 * c + 0.6 for c in columns)
    height = 0.75 * max(rows) + 1.0
    fig = Figure(figsize=(max(width, 6.0), max(height, 3.0)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(cells), squeeze=False,
                        gridspec_kw={"width_ratios": columns})[0]
    for ax, (name, g) in zip(axes, cells.items(), strict=True):
        draw_cell(ax, g, f"{name} cell")
    if title:
        fig.suptitle(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def draw_genome(genome: Genome, path: str | Path, *,
                space_options: Mapping[str, Any] | None = None, title: str = "") -> Path | None:
    """The cell diagram of ``genome`` at ``path``, or None when its space has no cells."""
    cells = genome_cells(genome, space_options)
    if not cells:
        return None
    return draw_cells(cells, path, title=title or f"{genome.space} {genome.id}")


def _column_sizes(g: nx.DiGraph) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for _, layer in g.nodes(data="layer", default=0):
        sizes[int(layer)] = sizes.get(int(layer), 0) + 1
    return sizes
