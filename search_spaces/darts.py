"""The ``darts`` search space: the cell space of DARTS (Liu et al. 2019, "DARTS: Differentiable
Architecture Search"), also searched by ENAS's micro space, GDAS and PC-DARTS.

A *normal* cell keeps the resolution, a *reduction* cell halves it. Each cell has two inputs
(the outputs of the previous-previous and the previous cell) and ``NODES = 4`` intermediate
nodes; node ``j`` picks two earlier nodes and an operation for each, and sums the two results.
A genome is a flat list of 32 categorical values in this order::

    normal_n0_in_a, normal_n0_in_b, normal_n0_op_a, normal_n0_op_b,
    normal_n1_in_a, ...                                    ..., reduce_n3_op_b

``in_a`` / ``in_b`` pick among the indices available to node ``j``: ``0`` the previous-previous
cell, ``1`` the previous cell, ``2 .. j + 1`` nodes ``0 .. j - 1`` of the same cell (DARTS's
numbering; the two may be equal, as in ENAS). ``op_a`` / ``op_b`` pick from
:data:`PRIMITIVES`, DARTS's eight operations. The cell's output concatenates all four nodes
(``4 C`` channels), whatever reads them. A published genotype, written as DARTS writes it,
becomes a genome with :func:`genome_from_genotype`.

The network is DARTS's ``NetworkCIFAR`` (``cnn/model.py``) without the auxiliary head::

    stem: 3x3 conv (stem_multiplier * C channels) + BN
    `cells` cells; those at cells // 3 and 2 * cells // 3 are reduction cells (C doubles)
    global average pooling, linear classifier

``channels`` (C), ``cells`` and ``stem_multiplier`` are space options; the defaults are the
published CIFAR-10 networks (C = 36, 20 cells), so ``create_space("darts")`` builds DARTS V2
at its 3,349,342 parameters, and ``create_space("darts", channels=8, cells=5)`` is a net the
size of a CPU experiment.

Conventions, from DARTS's ``cnn/operations.py`` (module names are DARTS's, so a state dict of
its ``NetworkCIFAR`` loads by key: ``cells.3._ops.5.op.1.weight``, ``cells.0.preprocess1.op.1
.weight``, ``stem.0.weight``, ``classifier.weight``):

* every op maps ``C`` channels to ``C`` channels in ReLU -> conv -> BN order, without conv bias;
* ``sep_conv_kxk`` is applied twice: (ReLU, depthwise kxk, pointwise 1x1, BN) x 2, the stride in
  the first depthwise conv; ``dil_conv_kxk`` is ReLU, a depthwise kxk conv with dilation 2,
  pointwise 1x1, BN (a dilated *separable* conv: DARTS's op, not NASNet's full dilated conv);
* ``skip_connect`` is the input itself, and at stride 2 a factorized reduction (two 1x1 stride-2
  convs on the even and the odd pixels, concatenated, BN; see
  :func:`search_spaces.nasnet.factorized_reduce`); pools pad by 1 and average pooling does not
  count the padding; ``none`` is the zero op: the result is left out of the node's sum, and a
  node whose two ops are both ``none`` is zeros;
* each cell maps its inputs to C channels with ReLU-conv1x1-BN (``preprocess0``,
  ``preprocess1``); after a reduction the previous-previous input has twice the resolution and
  goes through a factorized reduction instead. In a reduction cell every op reading a cell
  input has stride 2.

Like ``NetworkCIFAR``, every cell and both preprocessings are built even when a genome reads
none of their outputs (the ``nasnet`` space leaves such dead cells out). Published genotypes
read everything, so their parameter counts are the papers'; a sampled genome can leave a few
layers that get no gradient. Drop-path and the auxiliary head are training choices and not
built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import networkx as nx

from nas.core.errors import GenomeError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, register_space
from search_spaces.nasnet import factorized_reduce, pair_decisions, pair_values

NODES = 4  # intermediate nodes per cell (DARTS's "steps")
CELLS = ("normal", "reduce")  # the two searched cells, in genome order

# The op vocabulary: DARTS's PRIMITIVES, in DARTS's order (the order of its alphas' columns).
PRIMITIVES = (
    "none",  # the zero op: cuts the edge
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",  # identity; at stride 2 a factorized reduction
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

# An op factory describes one op into the builder: (scope name, builder, input with C
# channels, C, stride) -> output with C channels at 1 / stride of the input's resolution.
# "none" has no description (its entry is None): it contributes nothing.
OpFactory = Callable[[str, NetBuilder, T, int, int], T]


# --- the op vocabulary -----------------------------------------------------------------------


def relu_conv_bn(nb: NetBuilder, x: T, out_channels: int) -> T:
    """DARTS's ``ReLUConvBN`` with a 1x1 kernel: ``op.0`` ReLU, ``op.1`` conv, ``op.2`` BN."""
    with nb.scope("op"):
        x = nb.act(x, name="0")
        x = nb.conv(x, out_channels, 1, bias=False, name="1")
        return nb.bn(x, name="2")


def _pool(kind: str) -> OpFactory:
    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name):  # DARTS: the bare nn.MaxPool2d / nn.AvgPool2d (no parameters)
            if kind == "max":
                return nb.maxpool(x, 3, stride, 1, name="pool")
            return nb.avgpool(x, 3, stride, 1, count_include_pad=False, name="pool")

    return op


def skip_connect(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
    """The input itself (no layer); at stride 2 a factorized reduction under ``name``."""
    if stride == 1:
        return x
    with nb.scope(name):
        return factorized_reduce(nb, x, channels)


def _sep_conv(k: int) -> OpFactory:
    """DARTS's ``SepConv``: ``op.0-3`` ReLU, depthwise kxk (stride), pointwise, BN; ``op.4-7``
    the same at stride 1. Weights ``2 (k*k*C + C*C)`` + two BNs."""

    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name), nb.scope("op"):
            for half, s in enumerate((stride, 1)):
                x = nb.act(x, name=str(4 * half))
                x = nb.conv(x, channels, k, s, k // 2, groups=channels, bias=False,
                            name=str(4 * half + 1))
                x = nb.conv(x, channels, 1, bias=False, name=str(4 * half + 2))
                x = nb.bn(x, name=str(4 * half + 3))
        return x

    return op


def _dil_conv(k: int) -> OpFactory:
    """DARTS's ``DilConv``: ``op.0`` ReLU, ``op.1`` depthwise kxk with dilation 2 (padding
    k - 1 keeps the size), ``op.2`` pointwise 1x1, ``op.3`` BN."""

    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name), nb.scope("op"):
            x = nb.act(x, name="0")
            x = nb.conv(x, channels, k, stride, k - 1, groups=channels, dilation=2, bias=False,
                        name="1")
            x = nb.conv(x, channels, 1, bias=False, name="2")
            return nb.bn(x, name="3")

    return op


OPS: dict[str, OpFactory | None] = {
    "none": None,
    "max_pool_3x3": _pool("max"),
    "avg_pool_3x3": _pool("avg"),
    "skip_connect": skip_connect,
    "sep_conv_3x3": _sep_conv(3),
    "sep_conv_5x5": _sep_conv(5),
    "dil_conv_3x3": _dil_conv(3),
    "dil_conv_5x5": _dil_conv(5),
}
assert tuple(OPS) == PRIMITIVES


# --- cells -----------------------------------------------------------------------------------


class Node(NamedTuple):
    """One intermediate node of a cell as the genome gives it."""

    in_a: int  # 0: previous-previous cell, 1: previous cell, 2 + k: node k of this cell
    in_b: int
    op_a: str  # a name in PRIMITIVES, applied to in_a
    op_b: str


def cell_nodes(genome: Genome, cell: str) -> tuple[Node, ...]:
    """The ``NODES`` nodes of the ``"normal"`` or ``"reduce"`` cell of a (validated) genome."""
    return tuple(
        Node(int(genome[f"{cell}_n{j}_in_a"]), int(genome[f"{cell}_n{j}_in_b"]),
             str(genome[f"{cell}_n{j}_op_a"]), str(genome[f"{cell}_n{j}_op_b"]))
        for j in range(NODES))


def preprocess0(nb: NetBuilder, s0: T, channels: int, reduction_prev: bool) -> T:
    """``preprocess0``: the previous-previous cell to (C, H, W); halved after a reduction."""
    with nb.scope("preprocess0"):
        if reduction_prev:
            return factorized_reduce(nb, s0, channels)
        return relu_conv_bn(nb, s0, channels)


def preprocess1(nb: NetBuilder, s1: T, channels: int) -> T:
    """``preprocess1``: the previous cell to (C, H, W)."""
    with nb.scope("preprocess1"):
        return relu_conv_bn(nb, s1, channels)


def describe_cell(nb: NetBuilder, nodes: Sequence[Node], s0: T, s1: T, channels: int,
                  reduction: bool, reduction_prev: bool) -> T:
    """One cell on ``s0`` (previous-previous) and ``s1`` (previous): ``(4 C, H', W')``, with
    ``H' = ceil(H / 2)`` in a reduction cell (``H``: ``s1``'s height). Op ``2 j + slot`` of
    the cell is ``_ops.{2 j + slot}``, as in DARTS."""
    states = [preprocess0(nb, s0, channels, reduction_prev), preprocess1(nb, s1, channels)]
    for j, node in enumerate(nodes):
        terms = []
        for slot, (index, op) in enumerate(((node.in_a, node.op_a), (node.in_b, node.op_b))):
            factory = OPS[op]
            if factory is not None:  # "none" adds nothing to the sum
                stride = 2 if reduction and index < 2 else 1
                terms.append(factory(f"_ops.{2 * j + slot}", nb, states[index], channels, stride))
        if terms:
            states.append(nb.add(*terms, name=f"node{j}"))  # (C, H', W')
        else:  # both ops "none": zeros of the node's shape, (C, H', W')
            shape = nb.maxpool(states[1], 1, 2, name=f"node{j}_grid") if reduction else states[1]
            states.append(nb.zero(shape, name=f"node{j}"))
    return nb.concat(states[2:], name="concat")  # (4 C, H', W')


def cell_graph(nodes: Sequence[Node], reduction: bool) -> nx.DiGraph:
    """A cell as a graph to draw: its inputs, each node's ops and sum, the concatenation.

    Nodes: ``in0`` (c_{k-2}), ``in1`` (c_{k-1}), ``n{j}.op_a`` / ``n{j}.op_b`` (an op, with
    its stride in a reduction cell; a ``none`` op is not drawn), ``n{j}`` (the sum),
    ``out`` (the concatenation of the four nodes, c_{k}); each with the ``label``, ``kind``
    and ``layer`` of :meth:`nas.core.space.Space.cells`.
    """
    g = nx.DiGraph()
    g.add_node("in0", label="c_{k-2}", kind="input", layer=0)
    g.add_node("in1", label="c_{k-1}", kind="input", layer=0)

    def source(index: int) -> str:
        return f"in{index}" if index < 2 else f"n{index - 2}"

    for j, node in enumerate(nodes):
        ops = []
        for slot, index, op in (("op_a", node.in_a, node.op_a), ("op_b", node.in_b, node.op_b)):
            if op == "none":
                continue
            name, src = f"n{j}.{slot}", source(index)
            stride = 2 if reduction and index < 2 else 1
            g.add_node(name, label=op if stride == 1 else f"{op}\nstride 2", kind="op",
                       layer=g.nodes[src]["layer"] + 1)
            g.add_edge(src, name)
            ops.append(name)
        g.add_node(f"n{j}", label=f"add ({j})" if ops else f"zero ({j})", kind="combine",
                   layer=max((g.nodes[o]["layer"] for o in ops), default=0) + 1)
        for o in ops:
            g.add_edge(o, f"n{j}")
    g.add_node("out", label="concat = c_{k}", kind="output",
               layer=max(g.nodes[f"n{j}"]["layer"] for j in range(len(nodes))) + 1)
    for j in range(len(nodes)):
        g.add_edge(f"n{j}", "out")
    return g


# --- the space -------------------------------------------------------------------------------


@register_space
class DartsSpace(Space):
    """DARTS's normal and reduction cells in ``NetworkCIFAR``; see the module docstring."""

    name = "darts"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for key, low in (("channels", 2), ("cells", 1), ("stem_multiplier", 1)):
            value = self.options[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise GenomeError(f"space 'darts' option {key} must be an integer >= {low}, "
                                  f"got {value!r}")
        if self.options["channels"] % 2:
            raise GenomeError(f"space 'darts' option channels must be even (factorized "
                              f"reductions split channels in halves), got "
                              f"{self.options['channels']}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        # The published CIFAR-10 network of every genotype of this space (DARTS, GDAS,
        # PC-DARTS: 3.3-3.6M parameters, ~0.5 GFLOP). For a search on a CPU use
        # channels=8, cells=5 (~0.1M parameters); DARTS's own search net is channels=16, cells=8.
        return {
            "channels": 36,  # C: channels of the first stage's cells; doubled at each reduction
            "cells": 20,  # cells in the stack; those at cells//3 and 2*cells//3 reduce
            "stem_multiplier": 3,  # the stem conv outputs stem_multiplier * C channels
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS

    def plan(self) -> list[bool]:
        """Whether each cell of the stack is a reduction cell (DARTS: cells // 3, 2 cells // 3)."""
        n = self.options["cells"]
        return [i in (n // 3, 2 * n // 3) for i in range(n)]

    def stem(self, nb: NetBuilder, x: T) -> T:
        """``stem``: 3x3 conv to stem_multiplier * C channels, BN: (3, H, W) -> (3C, H, W)."""
        with nb.scope("stem"):
            x = nb.conv(x, self.options["stem_multiplier"] * self.options["channels"], 3, 1, 1,
                        bias=False, name="0")
            return nb.bn(x, name="1")

    @staticmethod
    def head(nb: NetBuilder, x: T, num_classes: int) -> T:
        """Global average pooling and the linear classifier: (4C', H, W) -> (num_classes,)."""
        x = nb.flatten(nb.global_avgpool(x, name="global_pooling"), name="flatten")
        return nb.linear(x, num_classes, name="classifier")

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        normal, reduce = cell_nodes(genome, "normal"), cell_nodes(genome, "reduce")
        channels = self.options["channels"]
        s0 = s1 = self.stem(nb, x)  # (3C, H, W)
        reduction_prev = False
        with nb.scope("cells"):
            for i, reduction in enumerate(self.plan()):
                channels *= 2 if reduction else 1
                with nb.scope(str(i)):
                    out = describe_cell(nb, reduce if reduction else normal, s0, s1, channels,
                                        reduction, reduction_prev)
                s0, s1 = s1, out
                reduction_prev = reduction
        return self.head(nb, s1, num_classes)

    def cells(self, genome: Genome) -> dict[str, nx.DiGraph]:
        """The normal and the reduction cell of ``genome`` (see :func:`cell_graph`)."""
        genome = self.validate(genome)
        return {cell: cell_graph(cell_nodes(genome, cell), reduction=cell == "reduce")
                for cell in CELLS}


_DECISIONS = tuple(d for cell in CELLS for j in range(NODES)
                   for d in pair_decisions(cell, j, "n", "node", PRIMITIVES))


def genome_from_genotype(normal: Sequence[tuple[str, int]],
                         reduce: Sequence[tuple[str, int]]) -> Genome:
    """A genome from a DARTS ``Genotype``'s two cells: ``(op, input)`` pairs, two per node in
    node order, e.g. ``[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ...]`` (the concat is always
    the four nodes)."""
    return DartsSpace().genome(pair_values("darts", "n", NODES,
                                           {"normal": normal, "reduce": reduce}))


def genotype(genome: Genome) -> dict[str, list[tuple[str, int]]]:
    """The inverse of :func:`genome_from_genotype`: ``{"normal": [(op, input), ...], ...}``."""
    return {cell: [pair for n in cell_nodes(genome, cell)
                   for pair in ((n.op_a, n.in_a), (n.op_b, n.in_b))] for cell in CELLS}
