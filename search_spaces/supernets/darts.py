"""The DARTS supernet: every one of the 8 ops on each of the 14 edges of every cell.

DARTS's search network (``cnn/model_search.py``: ``Network``, ``Cell``, ``MixedOp``) built
from the ``darts`` space's own descriptions: the stem, ``preprocess0`` / ``preprocess1`` and
the head are :class:`~search_spaces.darts.DartsSpace`'s, and each edge is a
:class:`~nas.core.supernet.MixedEdge` of the ops compiled from :data:`search_spaces.darts.OPS`.
Node ``j`` of a cell sums its ``2 + j`` incoming edges, numbered as DARTS numbers them
(:func:`~nas.core.supernet.edge_index`), and the cell concatenates its four nodes; the arch
weights are two groups, ``"normal"`` and ``"reduce"``, each (14, 8) in DARTS's
``PRIMITIVES`` order.

Its network is the space's (``channels``, ``cells``, ``stem_multiplier``), so DARTS's own
search setting is ``create_supernet("darts", channels=16, cells=8)``. Unlike DARTS's search
network, batch norms are affine and pools have no extra batch norm: the ops are the fixed
network's, so that a single path *is* the fixed network of its genome. A path runs, for each
node, only the two edges its genome picks (both ops on one edge when the two inputs are the
same node), and leaves ``none`` out of the sum, as :func:`search_spaces.darts.describe_cell`
does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from nas.core.genome import Genome
from nas.core.supernet import (
    Arch,
    Piece,
    Supernet,
    TwoInputCell,
    edge_index,
    prefixed,
    register_supernet,
    strongest_pairs,
    sum_terms,
)
from search_spaces.darts import (
    CELLS,
    NODES,
    OPS,
    PRIMITIVES,
    DartsSpace,
    cell_nodes,
    genome_from_genotype,
    preprocess0,
    preprocess1,
)

EDGES = edge_index(NODES, 0)  # 14 edges per cell: 2 + 3 + 4 + 5

# One cell's path: per edge, the op indices the genome runs on it, in slot order.
CellPath = tuple[tuple[int, ...], ...]


def cell_path(genome: Genome, cell: str) -> CellPath:
    """The edges and ops the genome's ``cell`` uses (``()`` for an unused edge)."""
    ops: list[list[int]] = [[] for _ in range(EDGES)]
    for j, node in enumerate(cell_nodes(genome, cell)):
        for source, op in ((node.in_a, node.op_a), (node.in_b, node.op_b)):
            ops[edge_index(j, source)].append(PRIMITIVES.index(op))
    return tuple(tuple(o) for o in ops)


class SearchCell(TwoInputCell):
    """One DARTS cell with a mixed edge for every (source, node) pair."""

    def __init__(self, s0: tuple[int, ...], s1: tuple[int, ...], channels: int,
                 reduction: bool, reduction_prev: bool, partial: int, where: str) -> None:
        super().__init__(reduction)
        self.preprocess0 = Piece(lambda nb, x: preprocess0(nb, x, channels, reduction_prev),
                                 s0, "preprocess0", where=f"{where}.preprocess0")
        self.preprocess1 = Piece(lambda nb, x: preprocess1(nb, x, channels), s1,
                                 "preprocess1", where=f"{where}.preprocess1")
        h, w = self.preprocess1.out_shape[1:]
        out_hw = self.add_edges(OPS, NODES, channels, (h, w), partial, where)
        self.out_shape = (NODES * channels, *out_hw)

    def forward(self, s0: Tensor, s1: Tensor, arch: Arch, path: CellPath = ()) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # (N, C, H, W) each
        for j in range(NODES):
            terms = self.node_terms(j, states, arch, path)
            if terms:
                states.append(sum_terms(terms))  # (N, C, H', W')
            else:  # a path whose node j has two "none" ops: zeros, as in the fixed cell
                s = 2 if self.reduction else 1
                states.append(torch.zeros_like(states[1][:, :, ::s, ::s]))
        return torch.cat(states[2:], dim=1)  # (N, 4C, H', W')


@register_supernet
class DartsSupernet(Supernet):
    """Mixed edges in DARTS's ``NetworkCIFAR``; see the module docstring."""

    space_name = "darts"

    def __init__(self, space: DartsSpace, input_shape: tuple[int, ...] = (3, 32, 32),
                 num_classes: int = 10, partial_channels: int = 1) -> None:
        super().__init__(space, input_shape, num_classes, partial_channels)
        plan = space.plan()
        channels = int(space.options["channels"])
        widths = [channels * 2 ** sum(plan[: i + 1]) for i in range(len(plan))]
        self._check_partial(iter(widths), even=True)  # skip_connect at stride 2 halves C / K
        self.stem = Piece(space.stem, input_shape, "stem", where="darts supernet stem")
        s0 = s1 = self.stem.out_shape
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i, (reduction, width) in enumerate(zip(plan, widths, strict=True)):
            cell = SearchCell(s0, s1, width, reduction, reduction_prev, partial_channels,
                              where=f"darts supernet cells.{i}")
            self.cells.append(cell)
            s0, s1 = s1, cell.out_shape
            reduction_prev = reduction
        self.head = Piece(lambda nb, x: DartsSpace.head(nb, x, num_classes), s1,
                          where="darts supernet head")

    def search_cells(self) -> list[SearchCell]:
        return cast(list[SearchCell], list(self.cells))

    @property
    def groups(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        return {cell: (EDGES, PRIMITIVES) for cell in CELLS}

    def path(self, genome: Genome) -> dict[str, CellPath]:
        genome = self.space.validate(genome)
        return {cell: cell_path(genome, cell) for cell in CELLS}

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        self.check_arch(arch)
        paths = self.path(arch) if isinstance(arch, Genome) else {}
        s0 = s1 = self.stem(x)
        for cell in self.search_cells():
            s0, s1 = s1, cell(s0, s1, arch, paths.get(cell.group, ()))
        return self.head(s1)

    def fixed_state_dict(self, genome: Genome) -> dict[str, Tensor]:
        self._require_full_width()
        genome = self.space.validate(genome)
        out = prefixed("stem", self.stem.state_dict())
        for i, cell in enumerate(self.search_cells()):
            out.update(prefixed(f"cells.{i}.preprocess0", cell.preprocess0.state_dict()))
            out.update(prefixed(f"cells.{i}.preprocess1", cell.preprocess1.state_dict()))
            for j, node in enumerate(cell_nodes(genome, cell.group)):
                for slot, (source, op) in enumerate(((node.in_a, node.op_a),
                                                     (node.in_b, node.op_b))):
                    piece = cell.edge(edge_index(j, source)).candidate(PRIMITIVES.index(op))
                    if piece is not None:  # "none" has no layer in the fixed cell
                        out.update(prefixed(f"cells.{i}._ops.{2 * j + slot}",
                                            piece.state_dict()))
        out.update(self.head.state_dict())
        return out

    def genome_from_weights(self, weights: Mapping[str, Tensor]) -> Genome:
        """DARTS's ``genotype()``: for each node the two incoming edges whose best op other
        than ``none`` is strongest (strongest first), each with that op."""
        normal, reduce = (strongest_pairs(weights[cell], NODES, PRIMITIVES, exclude="none")
                          for cell in CELLS)
        return genome_from_genotype(normal, reduce)


__all__ = ["EDGES", "DartsSupernet", "SearchCell", "cell_path"]
