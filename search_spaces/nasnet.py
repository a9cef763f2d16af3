"""The ``nasnet`` search space: two searched cells stacked into a fixed skeleton (Zoph et al.
2018, "Learning Transferable Architectures for Scalable Image Recognition").

Only the cells are searched. A *normal* cell keeps the resolution, a *reduction* cell halves it;
each is ``B = 5`` blocks, and block ``j`` makes five decisions, so a genome is a flat list of
50 categorical values in this order::

    normal_b0_in_a, normal_b0_in_b, normal_b0_op_a, normal_b0_op_b, normal_b0_combine,
    normal_b1_in_a, ...                                        ..., reduce_b4_combine

``in_a`` / ``in_b`` pick the block's inputs among the indices available to it: ``0`` the
previous-previous cell's output, ``1`` the previous cell's output, ``2 .. j + 1`` the outputs
of blocks ``0 .. j - 1`` of the same cell (DARTS's numbering). ``op_a`` / ``op_b`` pick an op
from :data:`PRIMITIVES`, the paper's 13 operations, for each input, and ``combine`` how the two
results are merged. Every block output that no later block reads is concatenated along
channels into the cell's output (so a cell with ``u`` unused blocks outputs ``u * C``
channels).

The network is not part of the genome: ``cells`` (the paper's N), ``width`` (F),
``reductions`` and ``stem_multiplier`` are space options (:meth:`NasNetSpace.default_options`),
so ``create_space("nasnet", cells=6, width=32)`` evaluates the same genomes in a bigger net.
The skeleton is the paper's CIFAR one, as DARTS's ``NetworkCIFAR`` builds it::

    stem: 3x3 conv (stem_multiplier * F channels) + BN
    [N normal cells] ( reduction cell, [N normal cells] ) x reductions   # C = F, 2F, 4F ...
    global average pooling, linear classifier

With ``skeleton="imagenet"`` it is the paper's ImageNet one, as TF-slim's ``nasnet.py`` builds
it: a 3x3 stride-2 VALID conv of ``32 * stem_multiplier`` channels (224 -> 111; the row and
column of an even input that VALID padding never reads are cropped first) and BN, then two
*stem cells* -- reduction cells with F/4 and F/2 channels (111 -> 56 -> 28) -- before the
same stack at F, 2F, 4F, and a ReLU before the global pool. NASNet-A Mobile (N=4, F=44) and
Large (N=6, F=168, stem_multiplier=3) are this skeleton.

Squeeze-and-excitation (Hu et al. 2018) fits a cell where SENet puts it in a residual block:
on the cell's output, gating the concatenated channels (``u C -> max(8, u C / 16) -> u C``,
:func:`search_spaces.blocks.se_gate`). It is not in the paper's space, so it is off by default;
the space option ``se=True`` adds two decisions after the fifty, ``normal_se`` and ``reduce_se``
(whether each cell type ends in SE), and a cell diagram says ``concat + SE``. Genomes of the
default space (every published cell) do not change.

``extra_concat`` names cell states concatenated into a cell's output besides the unused blocks
(``{"normal": [0], "reduce": [3]}``: state 0 is the cell's previous-previous input, 1 the
previous one, ``2 + j`` block j; an input state in a reduction cell is halved first, like a
stride-2 identity). The paper's reference code lists a cell's concatenated states by hand, and
for NASNet-A its lists are wider than "the unused blocks"; see
:mod:`search_spaces.classics.nasnets`. A cell's description -- :func:`describe_cell` on the
decoded :class:`Block` s -- does not depend on the skeleton, so other networks (a supernet)
can reuse it.

Conventions, from the paper and DARTS's ``cnn/operations.py`` / ``cnn/model.py``:

* every op maps ``C`` channels to ``C`` channels, in ReLU -> conv -> BN order (no conv bias);
* a separable conv is applied twice: (ReLU, depthwise kxk, pointwise 1x1, BN) x 2, the stride
  in the first depthwise conv;
* each cell first maps its two inputs to ``C`` channels with ReLU-conv1x1-BN; the previous-
  previous input of the cell after a reduction has twice the resolution and goes through a
  *factorized reduction* instead, as does ``identity`` at stride 2: ReLU, then two 1x1 stride-2
  convs to ``C / 2`` channels each, one on the input and one on the input shifted by a pixel
  (so together they read every pixel), concatenated and batch-normalised. The shift is TF's and
  timm's pad-and-crop, ``ZeroPad2d((-1, 1, -1, 1))``, which unlike DARTS's ``x[:, :, 1:, 1:]``
  also works on odd sizes;
* in a reduction cell every op that reads a cell input has stride 2; ops reading blocks have
  stride 1 (those are already reduced);
* pools keep the size (padding ``k // 2``); average pooling does not count the padding (DARTS);
* the 1x3-then-3x1 and 1x7-then-7x1 convs are one ReLU, two convs and one BN (DARTS's
  ``conv_7x1_1x7``). NetBuilder convs have one stride for both axes, so at stride 2 the first
  conv strides both ways (DARTS strides each conv along its long axis; same output size and
  parameters, a slightly different sampling grid);
* ``dil_conv_3x3`` is the paper's "3x3 dilated convolution": a full 3x3 conv with dilation 2.
  (DARTS's op of that name is a dilated *separable* conv, a different op.)

Left out on purpose: the paper also lets a block *concatenate* its two results, but NASNet-A
and every published NASNet-space cell add them, and concatenation makes block widths vary, so
``combine`` has the single option ``"add"`` (kept as a decision so that a genome and a
controller's token sequence have the paper's five tokens per block). Drop-path and the
auxiliary head are training-recipe choices, not architecture, and are not built.

Cells that cannot affect the logits are not built: if no block of a normal cell reads input 1,
each such cell skips its predecessor, and a cell that no later cell reads is dead weight (no
gradient reaches it); likewise the preprocessing of a cell input no block reads. Leaving them
out keeps the cost model and the compiled module to what actually computes the output. A
reduction cell needs at least a 2x2 input; more ``reductions`` than the input can halve is a
:class:`~nas.core.errors.ShapeError` naming the cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import networkx as nx

from nas.core.errors import GenomeError, ShapeError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, register_space
from search_spaces.blocks import se_gate

SKELETONS = ("cifar", "imagenet")  # the network around the cells; see the module docstring
BLOCKS = 5  # B: blocks per cell (the paper's choice for NASNet-A)
CELLS = ("normal", "reduce")  # the two searched cells, in genome order
COMBINES = ("add",)  # how a block merges its two op outputs; see the module docstring

# The op vocabulary: the paper's 13 operations, in the paper's order.
PRIMITIVES = (
    "identity",  # stride 2: factorized reduction (DARTS's "skip_connect")
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "dil_conv_3x3",  # full 3x3 conv, dilation 2
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)

# An op factory describes one op into the builder: (scope name, builder, input with C
# channels, C, stride) -> output with C channels at 1 / stride of the input's resolution.
OpFactory = Callable[[str, NetBuilder, T, int, int], T]


# --- helpers: the pieces of an op ------------------------------------------------------------


def relu_conv_bn(nb: NetBuilder, x: T, out_channels: int, kernel: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1) -> T:
    """ReLU, conv (no bias), BN: ``relu``, ``conv``, ``bn`` in the current scope."""
    x = nb.act(x, name="relu")
    x = nb.conv(x, out_channels, kernel, stride, padding, dilation=dilation, bias=False,
                name="conv")
    return nb.bn(x, name="bn")


def factorized_reduce(nb: NetBuilder, x: T, out_channels: int) -> T:
    """Halve the resolution without losing pixels: (C_in, H, W) -> (out, ceil(H/2), ceil(W/2)).

    Two 1x1 stride-2 convs with ``out / 2`` filters each (an odd ``out`` gives the odd pixels
    the extra one), one reading the even pixels and one the odd ones (the input shifted
    up-left by one pixel), concatenated, then BN.
    """
    half = out_channels // 2
    x = nb.act(x, name="relu")
    even = nb.conv(x, half, 1, 2, bias=False, name="conv_1")  # pixels (2i, 2j)
    shifted = nb.pad(x, (-1, 1, -1, 1), name="shift")  # x[1:, 1:] padded back to (H, W)
    odd = nb.conv(shifted, out_channels - half, 1, 2, bias=False, name="conv_2")  # (2i+1, 2j+1)
    return nb.bn(nb.concat([even, odd], name="cat"), name="bn")


# --- the op vocabulary -----------------------------------------------------------------------


def identity(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
    """The input itself (no layer); at stride 2 a factorized reduction under ``name``."""
    if stride == 1:
        return x
    with nb.scope(name):
        return factorized_reduce(nb, x, channels)


def _conv(kernel: int, dilation: int = 1) -> OpFactory:
    """ReLU-conv-BN with a square ``kernel``: 1x1, 3x3, or the dilated 3x3."""

    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name):  # padding keeps the size: dilation * (k - 1) / 2
            return relu_conv_bn(nb, x, channels, kernel, stride, dilation * (kernel - 1) // 2,
                                dilation)

    return op


def _conv_1xk_kx1(k: int) -> OpFactory:
    """ReLU, a 1xk conv (with the stride), a kx1 conv, BN: a kxk field for 2kC^2 params."""

    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name):
            x = nb.act(x, name="relu")
            x = nb.conv(x, channels, (1, k), stride, (0, k // 2), bias=False, name=f"conv_1x{k}")
            x = nb.conv(x, channels, (k, 1), 1, (k // 2, 0), bias=False, name=f"conv_{k}x1")
            return nb.bn(x, name="bn")

    return op


def _sep_conv(k: int) -> OpFactory:
    """A depthwise-separable kxk conv applied twice: ``sep.0`` (with the stride), ``sep.1``.

    Each half is ReLU, depthwise kxk, pointwise 1x1, BN: ``k*k*C + C*C`` weights + 2C BN.
    """

    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name), nb.scope("sep"):
            for i, s in enumerate((stride, 1)):
                with nb.scope(str(i)):
                    x = nb.act(x, name="relu")
                    x = nb.conv(x, channels, k, s, k // 2, groups=channels, bias=False,
                                name="dw")
                    x = nb.conv(x, channels, 1, bias=False, name="pw")
                    x = nb.bn(x, name="bn")
        return x

    return op


def _max_pool(k: int) -> OpFactory:
    def op(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
        with nb.scope(name):
            return nb.maxpool(x, k, stride, k // 2, name="pool")

    return op


def avg_pool_3x3(name: str, nb: NetBuilder, x: T, channels: int, stride: int) -> T:
    with nb.scope(name):
        return nb.avgpool(x, 3, stride, 1, count_include_pad=False, name="pool")


OPS: dict[str, OpFactory] = {
    "identity": identity,
    "conv_1x3_3x1": _conv_1xk_kx1(3),
    "conv_1x7_7x1": _conv_1xk_kx1(7),
    "dil_conv_3x3": _conv(3, dilation=2),
    "avg_pool_3x3": avg_pool_3x3,
    "max_pool_3x3": _max_pool(3),
    "max_pool_5x5": _max_pool(5),
    "max_pool_7x7": _max_pool(7),
    "conv_1x1": _conv(1),
    "conv_3x3": _conv(3),
    "sep_conv_3x3": _sep_conv(3),
    "sep_conv_5x5": _sep_conv(5),
    "sep_conv_7x7": _sep_conv(7),
}
assert tuple(OPS) == PRIMITIVES


# --- cells -----------------------------------------------------------------------------------


class Block(NamedTuple):
    """One block of a cell as the genome gives it."""

    in_a: int  # 0: previous-previous cell, 1: previous cell, 2 + k: block k of this cell
    in_b: int
    op_a: str  # a name in PRIMITIVES, applied to in_a
    op_b: str
    combine: str  # a name in COMBINES


def cell_blocks(genome: Genome, cell: str) -> tuple[Block, ...]:
    """The ``B`` blocks of the ``"normal"`` or ``"reduce"`` cell of a (validated) genome."""
    return tuple(
        Block(int(genome[f"{cell}_b{j}_in_a"]), int(genome[f"{cell}_b{j}_in_b"]),
              str(genome[f"{cell}_b{j}_op_a"]), str(genome[f"{cell}_b{j}_op_b"]),
              str(genome[f"{cell}_b{j}_combine"]))
        for j in range(BLOCKS))


def unused_blocks(blocks: Sequence[Block]) -> tuple[int, ...]:
    """Indices of the blocks no other block reads: the ones concatenated into the output."""
    read = {i for b in blocks for i in (b.in_a, b.in_b)}
    return tuple(j for j in range(len(blocks)) if 2 + j not in read)


def cell_reads(blocks: Sequence[Block], extra: Sequence[int] = ()) -> set[int]:
    """Which of the cell's inputs (0: previous-previous, 1: previous) some block reads, or the
    output concatenates (``extra``, see :func:`concatenated`)."""
    return {i for b in blocks for i in (b.in_a, b.in_b) if i < 2} | {i for i in extra if i < 2}


def concatenated(blocks: Sequence[Block], extra: Sequence[int] = ()) -> list[int]:
    """The states (0, 1: the cell's inputs; 2 + j: block j) its output concatenates, in order:
    the unused blocks, and the ``extra`` states a reference implementation adds."""
    return sorted({2 + j for j in unused_blocks(blocks)} | set(extra))


def describe_cell(nb: NetBuilder, blocks: Sequence[Block], s0: T | None, s1: T | None,
                  channels: int, reduction: bool, reduction_prev: bool,
                  extra: Sequence[int] = (), se: bool = False) -> T:
    """One cell on inputs ``s0`` (previous-previous) and ``s1`` (previous); C = ``channels``.

    Output: ``(len(concatenated(blocks, extra)) * C, H', W')``, with ``H' = ceil(H / 2)`` in a
    reduction cell, where ``H`` is ``s1``'s height. An input no block reads may be None. An
    input state in ``extra`` is concatenated as preprocessed; in a reduction cell it is
    first halved like an identity op (a factorized reduction). ``se``: the concatenation goes
    through squeeze-and-excitation (scope ``se``).
    """
    reads = cell_reads(blocks, extra)
    states: list[T | None] = [None, None]  # 0, 1: the preprocessed inputs, (C, H, W) each
    if 0 in reads:
        assert s0 is not None
        with nb.scope("pre0"):  # after a reduction s0 has twice s1's size: halve it too
            states[0] = (factorized_reduce(nb, s0, channels) if reduction_prev
                         else relu_conv_bn(nb, s0, channels, 1))
    if 1 in reads:
        assert s1 is not None
        with nb.scope("pre1"):
            states[1] = relu_conv_bn(nb, s1, channels, 1)
    for j, block in enumerate(blocks):
        with nb.scope(f"b{j}"):
            outs = []
            for slot, index, op in (("op_a", block.in_a, block.op_a),
                                    ("op_b", block.in_b, block.op_b)):
                h = states[index]
                assert h is not None  # read inputs were preprocessed; blocks come in order
                stride = 2 if reduction and index < 2 else 1
                outs.append(OPS[op](slot, nb, h, channels, stride))
            states.append(nb.add(*outs, name=block.combine))  # (C, H', W')
    out = []
    for i in concatenated(blocks, extra):
        state = states[i]
        assert state is not None
        if i < 2 and reduction:  # an input joins the reduced blocks at their resolution
            state = identity(f"concat_in{i}", nb, state, channels, 2)
        out.append(state)
    y = nb.concat(out, name="concat")  # (u C, H', W')
    return se_gate(nb, y) if se else y


def live_cells(reduction: Sequence[bool], normal: Sequence[Block],
               reduce: Sequence[Block], extra: Mapping[str, Sequence[int]] | None = None
               ) -> list[bool]:
    """Which cells of the stack the logits depend on (the last one, and what it reads)."""
    extra = extra or {}
    live = [False] * len(reduction)
    live[-1] = True
    for i in reversed(range(len(reduction))):
        if live[i]:
            cell = "reduce" if reduction[i] else "normal"
            reads = cell_reads(reduce if reduction[i] else normal, extra.get(cell, ()))
            for back in (1, 2):  # input 1 is cell i - 1, input 0 is cell i - 2 (< 0: stem)
                if 2 - back in reads and i - back >= 0:
                    live[i - back] = True
    return live


def cell_graph(blocks: Sequence[Block], reduction: bool, extra: Sequence[int] = (),
               se: bool = False) -> nx.DiGraph:
    """A cell as a graph to draw: its inputs, each block's two ops and its combine, the output.

    Nodes: ``in0`` (c_{k-2}) and ``in1`` (c_{k-1}); ``b{j}.op_a`` / ``b{j}.op_b`` (an op on
    one input, labelled with its name and, in a reduction cell, its stride); ``b{j}`` (the
    combine); ``out`` (the concatenation of the unused blocks and the ``extra`` states,
    c_{k}; ``concat + SE`` when the cell ends in squeeze-and-excitation). Each node has the
    ``label``, ``kind`` and ``layer`` that :meth:`nas.space.Space.cells` promises; ``layer``
    is the node's depth, so a left-to-right drawing never points an edge backwards.
    """
    g = nx.DiGraph()
    g.add_node("in0", label="c_{k-2}", kind="input", layer=0)
    g.add_node("in1", label="c_{k-1}", kind="input", layer=0)

    def source(index: int) -> str:
        return f"in{index}" if index < 2 else f"b{index - 2}"

    for j, block in enumerate(blocks):
        ops = []
        for slot, index, op in (("op_a", block.in_a, block.op_a),
                                ("op_b", block.in_b, block.op_b)):
            node, src = f"b{j}.{slot}", source(index)
            stride = 2 if reduction and index < 2 else 1
            label = op if stride == 1 else f"{op}\nstride 2"
            g.add_node(node, label=label, kind="op", layer=g.nodes[src]["layer"] + 1)
            g.add_edge(src, node)
            ops.append(node)
        g.add_node(f"b{j}", label=f"{block.combine} ({j})", kind="combine",
                   layer=max(g.nodes[o]["layer"] for o in ops) + 1)
        for o in ops:
            g.add_edge(o, f"b{j}")
    joined = [source(i) for i in concatenated(blocks, extra)]
    g.add_node("out", label=f"concat{' + SE' if se else ''} = c_{{k}}", kind="output",
               layer=max(g.nodes[n]["layer"] for n in joined) + 1)
    for n in joined:
        g.add_edge(n, "out")
    return g


# --- the space -------------------------------------------------------------------------------


@register_space
class NasNetSpace(Space):
    """Searched normal and reduction cells in the NASNet skeleton; see the module docstring."""

    name = "nasnet"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for key, low in (("cells", 1), ("width", 4), ("reductions", 0), ("stem_multiplier", 1)):
            value = self.options[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise GenomeError(f"space 'nasnet' option {key} must be an integer >= {low}, "
                                  f"got {value!r}")
        if self.options["skeleton"] not in SKELETONS:
            raise GenomeError(f"space 'nasnet' option skeleton cannot be "
                              f"{self.options['skeleton']!r}; allowed: {', '.join(SKELETONS)}")
        if not isinstance(self.options["se"], bool):
            raise GenomeError(f"space 'nasnet' option se must be true or false, got "
                              f"{self.options['se']!r}")
        extra = self.options["extra_concat"]
        if not isinstance(extra, Mapping) or set(extra) - set(CELLS) or not all(
                isinstance(v, list | tuple) and all(
                    isinstance(i, int) and 0 <= i < 2 + BLOCKS for i in v)
                for v in extra.values()):
            raise GenomeError(f"space 'nasnet' option extra_concat must map 'normal' and/or "
                              f"'reduce' to lists of states 0..{1 + BLOCKS}, got {extra!r}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        # A small search setting: 5 cells at 16/32/64 channels. A sampled child has ~220
        # layers and builds, runs and backprops a CIFAR batch in about a quarter of a CPU
        # second; DARTS's 8-cell search net (cells=2) costs 1.6x that, and NASNet-A's CIFAR
        # net is cells=6, width=32 (see search_spaces/classics/nasnets.py).
        return {
            "cells": 1,  # N: normal cells in each stage (between reductions)
            "width": 16,  # F: channels C of the first stage's cells; doubled by each reduction
            "reductions": 2,  # reduction cells, i.e. stages - 1 (CIFAR: 2)
            "stem_multiplier": 3,  # CIFAR stem: stem_multiplier * F channels; ImageNet: x 32
            "skeleton": "cifar",  # "cifar" or "imagenet" (two reduction cells in the stem)
            "extra_concat": {},  # {"normal": [0], ...}: states concatenated besides the unused
            "se": False,  # True: decisions normal_se / reduce_se (SE on a cell's output)
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS + _SE_DECISIONS if self.options["se"] else _DECISIONS

    def se_cells(self, genome: Genome) -> dict[str, bool]:
        """Whether the normal and the reduction cell of a (validated) genome end in SE."""
        return {cell: bool(self.options["se"] and genome[f"{cell}_se"]) for cell in CELLS}

    def stem_cells(self) -> int:
        """Reduction cells in the stem: 2 in the ImageNet skeleton, none for CIFAR."""
        return 2 if self.options["skeleton"] == "imagenet" else 0

    def plan(self) -> list[bool]:
        """Whether each cell of the stack is a reduction cell (N normal cells per stage),
        the ImageNet skeleton's two stem cells first."""
        n, reductions = self.options["cells"], self.options["reductions"]
        stage = [False] * n
        return ([True] * self.stem_cells() + stage
                + [flag for _ in range(reductions) for flag in (True, *stage)])

    def cell_channels(self) -> list[int]:
        """C of every cell: F in the first stage, doubled by each reduction; the ImageNet stem
        cells have F/4 and F/2 (TF's ``filter_scaling`` 1/4, then 1/2)."""
        width, stem = self.options["width"], self.stem_cells()
        out = [width // 2 ** (stem - i) for i in range(stem)]
        for reduction in self.plan()[stem:]:
            width *= 2 if reduction else 1
            out.append(width)
        return out

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        normal, reduce = cell_blocks(genome, "normal"), cell_blocks(genome, "reduce")
        extra, se = self.options["extra_concat"], self.se_cells(genome)
        plan = self.plan()
        live = live_cells(plan, normal, reduce, extra)

        with nb.scope("stem"):
            if self.stem_cells():  # TF's ImageNet stem: (3, 224, 224) -> (32 m, 111, 111)
                h, w = x.hw  # TF's VALID 3x3/2 conv never reads an even input's last row and
                if (h - 3) % 2 or (w - 3) % 2:  # column; crop them so the stride fits
                    x = nb.pad(x, (0, -((w - 3) % 2), 0, -((h - 3) % 2)), name="crop")
                x = nb.conv(x, 32 * self.options["stem_multiplier"], 3, 2, bias=False,
                            name="conv")
            else:  # (3, 32, 32) -> (m F, 32, 32)
                x = nb.conv(x, self.options["stem_multiplier"] * self.options["width"], 3, 1,
                            1, bias=False, name="conv")
            x = nb.bn(x, name="bn")
        s0: T | None = x  # the previous-previous and previous cells' outputs (None: not built)
        s1: T | None = x
        h, w = x.hw  # resolution of s1, tracked even where a cell is not built
        reduction_prev = False
        with nb.scope("cells"):
            for i, (reduction, channels) in enumerate(zip(plan, self.cell_channels(),
                                                          strict=True)):
                if reduction:
                    if min(h, w) < 2:
                        raise ShapeError(
                            f"{nb.where}: reduction cell cells.{i} cannot halve a "
                            f"{h}x{w} map (the image would shrink below 1x1); use fewer "
                            f"reductions than {self.options['reductions']} or a larger input")
                    h, w = (h + 1) // 2, (w + 1) // 2
                out = None
                cell = "reduce" if reduction else "normal"
                if live[i]:
                    with nb.scope(str(i)):
                        out = describe_cell(nb, reduce if reduction else normal, s0, s1,
                                            channels, reduction, reduction_prev,
                                            extra.get(cell, ()), se[cell])
                s0, s1 = s1, out
                reduction_prev = reduction
        assert s1 is not None  # the last cell is always live
        if self.stem_cells():  # TF's ImageNet network: ReLU before the global pool
            s1 = nb.act(s1, name="relu")
        x = nb.flatten(nb.global_avgpool(s1, name="global_pool"), name="flatten")  # (u C,)
        return nb.linear(x, num_classes, name="classifier")

    def cells(self, genome: Genome) -> dict[str, nx.DiGraph]:
        """The normal and the reduction cell of ``genome`` (see :func:`cell_graph`)."""
        genome = self.validate(genome)
        extra, se = self.options["extra_concat"], self.se_cells(genome)
        return {cell: cell_graph(cell_blocks(genome, cell), reduction=cell == "reduce",
                                 extra=extra.get(cell, ()), se=se[cell])
                for cell in CELLS}


# --- cells as DARTS writes them: decisions and values (the darts space's too) ---------------


def pair_decisions(cell: str, j: int, unit: str, word: str,
                   ops: Sequence[str]) -> tuple[Decision, ...]:
    """The four decisions of node ``j`` of ``cell`` (``word``: "block" or "node", ``unit`` its
    letter in the names): ``{cell}_{unit}{j}_in_a``, ``_in_b`` (one of the ``2 + j`` states
    before it) and ``_op_a``, ``_op_b`` (one of ``ops``)."""
    where = f"{cell} cell, {word} {j}"
    inputs = tuple(range(2 + j))  # 0, 1: the cell's inputs; 2 .. j + 1: nodes 0 .. j - 1
    meaning = "0 = previous-previous cell, 1 = previous cell" + (
        f", 2..{j + 1} = {word} 0..{j - 1}" if j else "")
    key = f"{cell}_{unit}{j}"
    return (
        Decision(f"{key}_in_a", inputs, f"{where}: first input ({meaning})"),
        Decision(f"{key}_in_b", inputs, f"{where}: second input ({meaning})"),
        Decision(f"{key}_op_a", tuple(ops), f"{where}: op on the first input"),
        Decision(f"{key}_op_b", tuple(ops), f"{where}: op on the second input"),
    )


def pair_values(space: str, unit: str, count: int,
                cells: Mapping[str, Sequence[tuple[str, int]]]) -> dict[str, str | int]:
    """The decision values of cells written as DARTS writes genotypes, ``(op, input)`` pairs,
    two per node in node order (``cells["normal"]``, ...): ``{cell}_{unit}{j}_in_a`` ...
    ``_op_b`` for nodes ``j < count`` (``unit``: ``"b"`` for NASNet's blocks, ``"n"`` for
    DARTS's nodes). A cell of the wrong length is a GenomeError naming ``space``."""
    values: dict[str, str | int] = {}
    for cell, pairs in cells.items():
        if len(pairs) != 2 * count:
            raise GenomeError(f"a {space} {cell} cell is {2 * count} (op, input) pairs, "
                              f"got {len(pairs)}")
        for j in range(count):
            (op_a, in_a), (op_b, in_b) = pairs[2 * j], pairs[2 * j + 1]
            key = f"{cell}_{unit}{j}"
            values.update({f"{key}_in_a": in_a, f"{key}_in_b": in_b, f"{key}_op_a": op_a,
                           f"{key}_op_b": op_b})
    return values


def _block_decisions(cell: str, j: int) -> tuple[Decision, ...]:
    return (*pair_decisions(cell, j, "b", "block", PRIMITIVES),
            Decision(f"{cell}_b{j}_combine", COMBINES,
                     f"{cell} cell, block {j}: how the two results merge"))


_DECISIONS = tuple(d for cell in CELLS for j in range(BLOCKS) for d in _block_decisions(cell, j))
_SE_DECISIONS = tuple(  # only with the space option se=True
    Decision(f"{cell}_se", (False, True),
             f"{cell} cell: squeeze-and-excitation on its concatenated output")
    for cell in CELLS)


def genome_from_pairs(normal: Sequence[tuple[str, int]],
                      reduce: Sequence[tuple[str, int]]) -> Genome:
    """A genome from two cells written as DARTS writes genotypes: ``(op, input)`` pairs, two
    per block in block order, e.g. ``[("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ...]``.

    The concatenated blocks need not be given: they are always the unused ones.
    """
    values = pair_values("nasnet", "b", BLOCKS, {"normal": normal, "reduce": reduce})
    values.update({f"{cell}_b{j}_combine": "add" for cell in CELLS for j in range(BLOCKS)})
    return NasNetSpace().genome(values)
