"""The NASNet supernet: every one of the 13 ops on each of the 20 possible edges of every cell.

Block ``j`` of a ``nasnet`` cell reads two of its ``2 + j`` possible sources; the supernet holds
a :class:`~nas.core.supernet.MixedEdge` for every (source, block) pair, numbered as DARTS
numbers them (:func:`~nas.core.supernet.edge_index`), with candidates compiled from
:data:`search_spaces.nasnet.OPS`; the arch weights are two groups, ``"normal"`` and
``"reduce"``, each (20, 13) in :data:`~search_spaces.nasnet.PRIMITIVES` order. The
preprocessings (:func:`~search_spaces.nasnet.relu_conv_bn`,
:func:`~search_spaces.nasnet.factorized_reduce`) are the space's own.

The hard part is the width. A fixed NASNet cell outputs only its unused blocks, so the width
of the next cell's input depends on the genome (``u * C`` channels). As ENAS does, the
preprocessings that read a cell's output (and the classifier that reads the last one) are
built for all ``BLOCKS * C`` channels, and a single path slices their input weights to the
blocks it concatenates (:class:`~nas.core.supernet.WidePiece`): the fixed network's 1x1 conv
over ``u * C`` channels is exactly the supernet's conv restricted to those channels. Cells the
genome's logits do not read are skipped, and unread inputs are not preprocessed, exactly as
:meth:`NasNetSpace.describe` leaves them out. In the all-paths and hard-path modes every
block sums all its incoming edges, every cell concatenates all its blocks (``BLOCKS * C``,
the full width) and every cell runs.

Only the CIFAR skeleton of :class:`NasNetSpace` is built here (its stem and head are
described below, mirroring ``describe``); a space option this module does not know, set to
a value other than its default, is refused with a clear error rather than built wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.supernet import (
    Arch,
    Piece,
    Supernet,
    SupernetError,
    TwoInputCell,
    WidePiece,
    edge_index,
    prefixed,
    register_supernet,
    strongest_pairs,
    sum_terms,
)
from search_spaces.nasnet import (
    BLOCKS,
    CELLS,
    OPS,
    PRIMITIVES,
    NasNetSpace,
    cell_blocks,
    cell_reads,
    factorized_reduce,
    genome_from_pairs,
    live_cells,
    relu_conv_bn,
    unused_blocks,
)

EDGES = edge_index(BLOCKS, 0)  # 20 edges per cell: 2 + 3 + 4 + 5 + 6
_OPTIONS = ("cells", "width", "reductions", "stem_multiplier")  # the skeleton built here


# --- the fixed parts, as NasNetSpace.describe writes them ------------------------------------


def _stem(nb: NetBuilder, x: T, channels: int) -> T:
    with nb.scope("stem"):  # (3, H, W) -> (channels, H, W)
        x = nb.conv(x, channels, 3, 1, 1, bias=False, name="conv")
        return nb.bn(x, name="bn")


def _head(nb: NetBuilder, x: T, num_classes: int) -> T:
    x = nb.flatten(nb.global_avgpool(x, name="global_pool"), name="flatten")  # (u C,)
    return nb.linear(x, num_classes, name="classifier")


def _preprocess(scope: str, channels: int, reduce: bool) -> Callable[[NetBuilder, T], T]:
    """``pre0`` / ``pre1`` of a cell: ReLU-conv1x1-BN, or a factorized reduction."""

    def describe(nb: NetBuilder, x: T) -> T:
        with nb.scope(scope):
            return factorized_reduce(nb, x, channels) if reduce else relu_conv_bn(
                nb, x, channels, 1)

    return describe


# --- paths -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellPlan:
    """What a genome does with one kind of cell."""

    path: tuple[tuple[int, ...], ...]  # per edge, the op indices run on it (slot order)
    reads: frozenset[int]  # which cell inputs (0, 1) some block reads
    unused: tuple[int, ...]  # the blocks concatenated into the output


def cell_plan(genome: Genome, cell: str) -> CellPlan:
    blocks = cell_blocks(genome, cell)
    ops: list[list[int]] = [[] for _ in range(EDGES)]
    for j, b in enumerate(blocks):
        for source, op in ((b.in_a, b.op_a), (b.in_b, b.op_b)):
            ops[edge_index(j, source)].append(PRIMITIVES.index(op))
    return CellPlan(tuple(tuple(o) for o in ops), frozenset(cell_reads(blocks)),
                    unused_blocks(blocks))


@dataclass(frozen=True)
class State:
    """A cell's output on its way to the next cells: the tensor and which of the producing
    cell's blocks it concatenates (None: all its channels, e.g. the stem's)."""

    x: Tensor
    blocks: tuple[int, ...] | None = None
    channels: int = 0  # C of the producing cell (the width of one block)

    def index(self) -> Tensor | None:
        """Input channels of the full-width output this state holds (None: all of them)."""
        index = _index(self.blocks, self.channels)
        return None if index is None else index.to(self.x.device)


# --- the supernet ----------------------------------------------------------------------------


class SearchCell(TwoInputCell):
    """One NASNet cell with a mixed edge for every (source, block) pair."""

    def __init__(self, s0: tuple[int, ...], s1: tuple[int, ...], channels: int,
                 reduction: bool, reduction_prev: bool, partial: int, where: str) -> None:
        super().__init__(reduction)
        self.channels = channels
        self.pre0 = WidePiece(Piece(_preprocess("pre0", channels, reduction_prev), s0, "pre0",
                                    where=f"{where}.pre0"))
        self.pre1 = WidePiece(Piece(_preprocess("pre1", channels, False), s1, "pre1",
                                    where=f"{where}.pre1"))
        h, w = self.pre1.piece.out_shape[1:]
        out_hw = self.add_edges(OPS, BLOCKS, channels, (h, w), partial, where)
        self.out_shape = (BLOCKS * channels, *out_hw)

    def forward(self, s0: State | None, s1: State | None, arch: Arch,
                plan: CellPlan | None = None) -> State:
        reads = plan.reads if plan is not None else frozenset((0, 1))
        states: list[Tensor | None] = [None, None]  # the preprocessed inputs, (N, C, H, W)
        for i, (pre, s) in enumerate(((self.pre0, s0), (self.pre1, s1))):
            if i in reads:
                assert s is not None  # a read input comes from a cell that ran
                states[i] = pre(s.x, s.index())
        path = plan.path if plan is not None else ()
        for j in range(BLOCKS):  # an input the path does not read (None) adds no term
            terms = self.node_terms(j, states, arch, path)
            states.append(sum_terms(terms))  # (N, C, H', W'): every block reads something
        blocks = plan.unused if plan is not None else tuple(range(BLOCKS))
        outs = [t for t in (states[2 + b] for b in blocks) if t is not None]
        x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)  # (N, u C, H', W')
        return State(x, blocks, self.channels)


@register_supernet
class NasNetSupernet(Supernet):
    """Mixed edges in the NASNet skeleton; see the module docstring."""

    space_name = "nasnet"

    def __init__(self, space: NasNetSpace, input_shape: tuple[int, ...] = (3, 32, 32),
                 num_classes: int = 10, partial_channels: int = 1) -> None:
        super().__init__(space, input_shape, num_classes, partial_channels)
        if space.options["se"]:  # an SE gate's width is the cell's concat, which is per path
            raise SupernetError("the nasnet supernet has no squeeze-and-excitation (space "
                                "option se=true): search SE cells with --evaluator train or "
                                "proxy")
        defaults = type(space).default_options()
        other = {k: v for k, v in space.options.items()
                 if k not in _OPTIONS and v != defaults.get(k)}
        if other:
            raise SupernetError(f"the nasnet supernet builds the CIFAR skeleton (options "
                                f"{', '.join(_OPTIONS)}); it cannot build {other}")
        self.plan = space.plan()
        width = int(space.options["width"])
        widths = [width * 2 ** sum(self.plan[: i + 1]) for i in range(len(self.plan))]
        self._check_partial(iter(widths), even=True)  # identity at stride 2 halves C / K
        self.stem = Piece(lambda nb, x: _stem(nb, x, space.options["stem_multiplier"] * width),
                          input_shape, "stem", where="nasnet supernet stem")
        s0 = s1 = self.stem.out_shape
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i, (reduction, channels) in enumerate(zip(self.plan, widths, strict=True)):
            if reduction and min(s1[1:]) < 2:
                raise SupernetError(f"nasnet supernet: reduction cell cells.{i} cannot halve a "
                                    f"{s1[1]}x{s1[2]} map; use fewer reductions or a larger "
                                    f"input")
            cell = SearchCell(s0, s1, channels, reduction, reduction_prev, partial_channels,
                              where=f"nasnet supernet cells.{i}")
            self.cells.append(cell)
            s0, s1 = s1, cell.out_shape
            reduction_prev = reduction
        self.head = WidePiece(Piece(lambda nb, x: _head(nb, x, num_classes), s1,
                                    where="nasnet supernet head"))

    def search_cells(self) -> list[SearchCell]:
        return cast(list[SearchCell], list(self.cells))

    @property
    def groups(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        return {cell: (EDGES, PRIMITIVES) for cell in CELLS}

    def _plans(self, genome: Genome) -> tuple[dict[str, CellPlan], list[bool]]:
        genome = self.space.validate(genome)
        plans = {cell: cell_plan(genome, cell) for cell in CELLS}
        live = live_cells(self.plan, cell_blocks(genome, "normal"),
                          cell_blocks(genome, "reduce"))
        return plans, live

    def path(self, genome: Genome) -> dict[str, tuple[tuple[int, ...], ...]]:
        plans, _ = self._plans(genome)
        return {cell: plan.path for cell, plan in plans.items()}

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        self.check_arch(arch)
        plans: dict[str, CellPlan] = {}
        live = [True] * len(self.cells)
        if isinstance(arch, Genome):
            plans, live = self._plans(arch)
        stem = State(self.stem(x))
        s0: State | None = stem
        s1: State | None = stem
        for cell, alive in zip(self.search_cells(), live, strict=True):
            out = cell(s0, s1, arch, plans.get(cell.group)) if alive else None
            s0, s1 = s1, out
        assert s1 is not None  # the last cell always runs
        return self.head(s1.x, s1.index())

    def fixed_state_dict(self, genome: Genome) -> dict[str, Tensor]:
        self._require_full_width()
        plans, live = self._plans(genome)
        genome = self.space.validate(genome)
        out = prefixed("stem", self.stem.state_dict())
        # the blocks each cell's output concatenates, to slice the weights that read it
        blocks: list[tuple[tuple[int, ...] | None, int]] = [(None, 0), (None, 0)]
        for i, (cell, alive) in enumerate(zip(self.search_cells(), live, strict=True)):
            plan = plans[cell.group]
            if alive:
                for k, pre in ((0, cell.pre0), (1, cell.pre1)):
                    if k in plan.reads:
                        index = _index(*blocks[k])
                        out.update(prefixed(f"cells.{i}.pre{k}", pre.state_dict_for(index)))
                for j, b in enumerate(cell_blocks(genome, cell.group)):
                    for slot, source, op in (("op_a", b.in_a, b.op_a), ("op_b", b.in_b, b.op_b)):
                        piece = cell.edge(edge_index(j, source)).candidate(
                            PRIMITIVES.index(op))
                        assert piece is not None
                        out.update(prefixed(f"cells.{i}.b{j}.{slot}", piece.state_dict()))
            blocks = [blocks[1], (plan.unused, cell.channels)]
        out.update(self.head.state_dict_for(_index(*blocks[1])))
        return out

    def genome_from_weights(self, weights: Mapping[str, Tensor]) -> Genome:
        """DARTS's rule on NASNet's blocks: for each block, the two incoming edges whose best
        op is strongest (strongest first), each with that op; combine is ``add``."""
        normal, reduce = (strongest_pairs(weights[cell], BLOCKS, PRIMITIVES) for cell in CELLS)
        return genome_from_pairs(normal, reduce)


def _index(blocks: Sequence[int] | None, channels: int) -> Tensor | None:
    if blocks is None or len(blocks) == BLOCKS:
        return None
    return torch.cat([torch.arange(b * channels, (b + 1) * channels) for b in blocks])


__all__ = ["EDGES", "NasNetSupernet", "SearchCell", "cell_plan"]
