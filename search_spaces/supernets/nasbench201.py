"""The NAS-Bench-201 supernet: every one of the 5 ops on each of the 6 edges of every cell.

This is xautodl's ``TinyNetworkDARTS`` / ``TinyNetworkGDAS`` search network (Dong & Yang 2020)
built from our fixed network's descriptions: the stem, the residual reduction blocks and the
head are the fixed network's (:func:`search_spaces.nasbench201.stem`, ``reduction_block``,
``head``); each edge ``edges.{k}`` of a cell is a :class:`~nas.core.supernet.MixedEdge` whose
candidates are compiled from :data:`search_spaces.nasbench201.OPS`. Edges are numbered as the
fixed cell numbers its ``layers.{k}`` and the arch string lists them (``1<-0, 2<-0, 2<-1,
3<-0, 3<-1, 3<-2``); the arch weights are one group, ``"cell"``, shared by all 15 cells.

A single path is the fixed network of that genome, weight for weight: ``none`` edges are left
out of their node's sum and a node with no incoming edge is zeros, as in
:meth:`NasBench201Space.describe`. Unlike xautodl's search network, its batch norms are affine
(the fixed network's), so that a path's weights are a trained fixed network's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.supernet import (
    Arch,
    MixedCell,
    MixedEdge,
    OpFactory,
    Piece,
    Supernet,
    op_piece,
    prefixed,
    register_supernet,
    run_edge,
    sum_terms,
)
from search_spaces.nasbench201 import (
    DECISIONS,
    EDGES,
    NODES,
    OPS,
    PRIMITIVES,
    NasBench201Space,
    OpFn,
    head,
    reduction_block,
    stem,
)

GROUP = "cell"  # the one group of arch weights: every cell shares the genome's cell


def _factory(fn: OpFn | None) -> OpFactory | None:
    """A NAS-Bench-201 op ``fn(nb, x, C, scope)`` as the op factory a supernet compiles
    (its ops have stride 1); None stays None (``none``)."""
    return None if fn is None else lambda scope, nb, x, c, stride: fn(nb, x, c, scope)


class SearchCell(MixedCell):
    """One cell with a mixed edge per (i, j): node j = sum over i < j of edge (i, j)."""

    def __init__(self, channels: int, shape: tuple[int, ...], partial: int,
                 where: str) -> None:
        super().__init__()
        narrow = (channels // partial, *shape[1:])
        for k in range(len(EDGES)):
            candidates = {name: op_piece(_factory(fn), narrow, 1, f"{where}.edges.{k} {name}")
                          for name, fn in OPS.items()}
            self.edges.append(MixedEdge(candidates, stride=1, partial_channels=partial))

    def forward(self, x: Tensor, arch: Arch, path: tuple[tuple[int, ...], ...] = ()) -> Tensor:
        nodes = [x]
        for j in range(1, NODES):
            terms = []
            for i in range(j):
                k = EDGES.index((i, j))
                y = run_edge(self.edge(k), nodes[i], arch, GROUP, k, path[k] if path else ())
                if y is not None:
                    terms.append(y)
            nodes.append(sum_terms(terms) if terms else torch.zeros_like(x))
        return nodes[-1]


@register_supernet
class NasBench201Supernet(Supernet):
    """Mixed edges in NAS-Bench-201's network; see the module docstring."""

    space_name = "nasbench201"

    def __init__(self, space: NasBench201Space, input_shape: tuple[int, ...] = (3, 32, 32),
                 num_classes: int = 10, partial_channels: int = 1) -> None:
        super().__init__(space, input_shape, num_classes, partial_channels)
        plan = space.plan()
        self._check_partial(w for _, w in plan)
        channels = int(space.options["channels"])
        self.stem = Piece(lambda nb, x: stem(nb, x, channels), input_shape, "stem",
                          where="nasbench201 supernet stem")
        shape = self.stem.out_shape
        self.cells = nn.ModuleList()
        for index, (kind, width) in enumerate(plan):
            where = f"nasbench201 supernet cells.{index}"
            if kind == "reduction":
                block = Piece(_reduction(width), shape, "block", where=where)
                shape = block.out_shape
                self.cells.append(block)
            else:
                self.cells.append(SearchCell(width, shape, partial_channels, where))
        self.head = Piece(lambda nb, x: head(nb, x, num_classes), shape,
                          where="nasbench201 supernet head")

    @property
    def groups(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        return {GROUP: (len(EDGES), PRIMITIVES)}

    def path(self, genome: Genome) -> dict[str, tuple[tuple[int, ...], ...]]:
        g = self.space.validate(genome)
        return {GROUP: tuple((PRIMITIVES.index(str(g[d.name])),) for d in DECISIONS)}

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        self.check_arch(arch)
        path = self.path(arch)[GROUP] if isinstance(arch, Genome) else ()
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, arch, path) if isinstance(cell, SearchCell) else cell(x)
        return self.head(x)

    def fixed_state_dict(self, genome: Genome) -> dict[str, Tensor]:
        self._require_full_width()
        path = self.path(genome)[GROUP]
        out = prefixed("stem", self.stem.state_dict())
        for index, cell in enumerate(self.cells):
            if not isinstance(cell, SearchCell):
                out.update(prefixed(f"cells.{index}", cell.state_dict()))
                continue
            for k, (op,) in enumerate(path):
                piece = cell.edge(k).candidate(op)
                if piece is not None:  # "none": no layer in the fixed cell
                    out.update(prefixed(f"cells.{index}.layers.{k}", piece.state_dict()))
        out.update(self.head.state_dict())
        return out

    def genome_from_weights(self, weights: Mapping[str, Tensor]) -> Genome:
        """xautodl's genotype for NAS-Bench-201: the strongest op on each edge (``none``
        included: a cut edge is a valid cell of the benchmark)."""
        w = weights[GROUP]
        return Genome(self.space_name, tuple(
            (d.name, PRIMITIVES[int(w[k].argmax())]) for k, d in enumerate(DECISIONS)))


def _reduction(width: int) -> Callable[[NetBuilder, T], T]:
    """The residual reduction block's description, its layers under ``block``."""

    def describe(nb: NetBuilder, x: T) -> T:
        with nb.scope("block"):  # the piece drops the scope: keys as under cells.{index}
            return reduction_block(nb, x, width)

    return describe


__all__ = ["GROUP", "NasBench201Supernet", "SearchCell"]
