"""The ``nasbench201`` space: the NAS-Bench-201 cell (Dong & Yang, ICLR 2020).

A cell is a DAG of 4 nodes: node 0 is the cell's input, node ``j`` sums one operation applied
to every earlier node ``i < j``, and node 3 is the output. Each of the 6 edges picks one of 5
operations, so the space has 5**6 = 15,625 cells, every one of them trained and tabulated by
the benchmark; a controller can therefore be measured against it in seconds
(:mod:`nas.evaluators.table`).

A genome is written in the benchmark's standard arch string, one ``|op~i|`` per edge into node
``j``, nodes separated by ``+``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

(:meth:`NasBench201Space.to_arch_str` / :meth:`~NasBench201Space.from_arch_str`). Decisions
are the edges in that order: ``edge_0_1``, ``edge_0_2``, ``edge_1_2``, ``edge_0_3``,
``edge_1_3``, ``edge_2_3``.

The network is the benchmark's (xautodl's ``TinyNetwork`` with ``InferCell``), so a cell can
also be trained for real: a 3x3 conv stem with 16 channels and batch norm; three stages of 5
cells with 16, 32 and 64 channels; between stages a residual reduction block (ReLU-conv3x3/2-BN,
ReLU-conv3x3-BN, plus a 2x2 average pool and 1x1 conv shortcut); then BN-ReLU, global average
pooling and a linear classifier. Convolutions are ReLU-conv-BN; the 3x3 average pool does not
count padding. Module names are xautodl's (``cells.7.layers.3.op.1.weight``), so the
benchmark's released weights load by key.

``none`` cuts an edge: it is left out of its node's sum (adding zeros changes nothing). A node
all of whose incoming edges are cut is a tensor of zeros, and the operations on its outgoing
edges still exist and read those zeros, exactly as in the benchmark's network; a cell whose
every path from input to output is cut therefore outputs zeros (or the constant its last
batch norms learn), and such a network trains to chance accuracy, as the table records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nas.core.errors import GenomeError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, register_space

NODES = 4  # node 0 = cell input, node 3 = cell output

# The ordered vocabulary (the benchmark's order) and how each op is described on a builder.
# An op maps (builder, input, channels, name) to its output; "none" has no description.
OpFn = Callable[[NetBuilder, T, int, str], T]


def _relu_conv_bn(kernel: int) -> OpFn:
    def op(nb: NetBuilder, x: T, channels: int, name: str) -> T:
        with nb.scope(name), nb.scope("op"):  # xautodl: ReLUConvBN.op = Sequential(...)
            x = nb.act(x, "relu", name="0")
            x = nb.conv(x, channels, kernel, 1, kernel // 2, bias=False, name="1")
            return nb.bn(x, name="2")

    return op


def _avg_pool(nb: NetBuilder, x: T, channels: int, name: str) -> T:
    with nb.scope(name):  # xautodl: POOLING.op = AvgPool2d(3, 1, 1, count_include_pad=False)
        return nb.avgpool(x, 3, 1, 1, count_include_pad=False, name="op")


def _skip(nb: NetBuilder, x: T, channels: int, name: str) -> T:
    return x


OPS: dict[str, OpFn | None] = {
    "none": None,  # the edge is cut
    "skip_connect": _skip,
    "nor_conv_1x1": _relu_conv_bn(1),
    "nor_conv_3x3": _relu_conv_bn(3),
    "avg_pool_3x3": _avg_pool,
}
PRIMITIVES: tuple[str, ...] = tuple(OPS)

EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for j in range(1, NODES) for i in range(j))

DECISIONS: tuple[Decision, ...] = tuple(
    Decision(f"edge_{i}_{j}", PRIMITIVES,
             f"the op from node {i} to node {j} ('op~{i}' in node {j}'s group of the arch "
             f"string); node 0 is the cell input, node {NODES - 1} its output")
    for i, j in EDGES)

_EXAMPLE = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
            "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")


@register_space
class NasBench201Space(Space):
    """The NAS-Bench-201 cell: 6 edges, 5 ops each; the benchmark's network around it."""

    name = "nasbench201"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {
            "channels": 16,  # the first stage's width; it doubles at each reduction
            "cells_per_stage": 5,  # N: cells in each of the 3 stages
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return DECISIONS

    # --- the arch string -----------------------------------------------------------------

    def to_arch_str(self, genome: Genome) -> str:
        """The benchmark's string for ``genome``, e.g. ``|nor_conv_3x3~0|+|...~0|...~1|+...|``."""
        g = self.validate(genome)
        groups = ("|".join(f"{g[f'edge_{i}_{j}']}~{i}" for i in range(j))
                  for j in range(1, NODES))
        return "|" + "|+|".join(groups) + "|"

    def from_arch_str(self, text: str) -> Genome:
        """The genome of a benchmark arch string; a malformed string raises GenomeError."""
        text = text.strip()

        def bad(why: str) -> GenomeError:
            return GenomeError(f"not a NAS-Bench-201 arch string: {text!r}: {why} "
                               f"(expected e.g. {_EXAMPLE})")

        groups = text.split("+")
        if len(groups) != NODES - 1:
            raise bad(f"{len(groups)} node group(s) separated by '+', expected {NODES - 1}")
        values: dict[str, str] = {}
        for j, group in enumerate(groups, start=1):
            if len(group) < 2 or group[0] != "|" or group[-1] != "|":
                raise bad(f"node {j}'s group {group!r} must start and end with '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != j:
                raise bad(f"node {j} must have {j} incoming edge(s) 'op~i', got {len(tokens)}")
            for i, token in enumerate(tokens):
                op, sep, source = token.partition("~")
                if not sep or source != str(i):
                    raise bad(f"node {j}'s edge {i + 1} is {token!r}, expected 'op~{i}'")
                if op not in OPS:
                    raise bad(f"unknown op {op!r}; ops: {', '.join(PRIMITIVES)}")
                values[f"edge_{i}_{j}"] = op
        # every op was checked above: the genome is valid by construction
        return Genome(self.name, tuple((d.name, values[d.name]) for d in DECISIONS))

    # --- the network ---------------------------------------------------------------------

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        g = self.validate(genome)
        ops = [str(g[d.name]) for d in DECISIONS]
        x = stem(nb, x, int(self.options["channels"]))
        for index, (kind, width) in enumerate(self.plan()):
            with nb.scope(f"cells.{index}"):
                x = reduction_block(nb, x, width) if kind == "reduction" else _cell(
                    nb, x, ops, width)
        return head(nb, x, num_classes)

    def plan(self) -> list[tuple[str, int]]:
        """The stack after the stem: ``("cell" | "reduction", width)`` per entry of xautodl's
        ``cells`` list (it numbers the reduction blocks too): N cells per stage, a residual
        reduction block before stages 2 and 3, widths C, 2C, 4C."""
        c, n = int(self.options["channels"]), int(self.options["cells_per_stage"])
        out: list[tuple[str, int]] = []
        for stage in range(3):
            if stage > 0:
                out.append(("reduction", c * 2**stage))
            out += [("cell", c * 2**stage)] * n
        return out


def stem(nb: NetBuilder, x: T, channels: int) -> T:
    """``stem``: 3x3 conv and BN, (3, H, W) -> (C, H, W)."""
    with nb.scope("stem"):
        x = nb.conv(x, channels, 3, 1, 1, bias=False, name="0")
        return nb.bn(x, name="1")


def head(nb: NetBuilder, x: T, num_classes: int) -> T:
    """``lastact`` (BN, ReLU), global average pooling, the classifier: (C, H, W) -> (classes,)."""
    with nb.scope("lastact"):
        x = nb.bn(x, name="0")
        x = nb.act(x, "relu", name="1")
    x = nb.global_avgpool(x, name="global_pooling")  # (C, H, W) -> (C, 1, 1)
    x = nb.flatten(x, name="flatten")  # (C,)
    return nb.linear(x, num_classes, name="classifier")


def _cell(nb: NetBuilder, x: T, ops: list[str], channels: int) -> T:
    """One cell: node j = sum over i < j of ops[edge (i, j)](node i); returns node 3."""
    nodes = [x]
    for j in range(1, NODES):
        terms = []
        for i in range(j):
            k = EDGES.index((i, j))
            fn = OPS[ops[k]]
            if fn is not None:  # "none": the edge is left out of the sum
                terms.append(fn(nb, nodes[i], channels, f"layers.{k}"))
        if terms:
            nodes.append(nb.add(*terms, name=f"node{j}"))
        else:  # every input cut: a tensor of zeros, still read by the later ops
            nodes.append(nb.zero(x, name=f"node{j}"))
    return nodes[-1]


def reduction_block(nb: NetBuilder, x: T, channels: int) -> T:
    """xautodl's ResNetBasicblock with stride 2: halves the size, sets the width."""
    with nb.scope("conv_a"), nb.scope("op"):
        y = nb.act(x, "relu", name="0")
        y = nb.conv(y, channels, 3, 2, 1, bias=False, name="1")
        y = nb.bn(y, name="2")
    with nb.scope("conv_b"), nb.scope("op"):
        y = nb.act(y, "relu", name="0")
        y = nb.conv(y, channels, 3, 1, 1, bias=False, name="1")
        y = nb.bn(y, name="2")
    with nb.scope("downsample"):
        s = nb.avgpool(x, 2, 2, 0, name="0")
        s = nb.conv(s, channels, 1, 1, 0, bias=False, name="1")
    return nb.add(s, y, name="add")
