"""Weight sharing: a supernet holds every candidate op on every edge of a space's cell DAG.

One-shot methods (ENAS, Pham et al. 2018; SPOS, Guo et al. 2019; DARTS, Liu et al. 2019;
GDAS, Dong & Yang 2019; PC-DARTS, Xu et al. 2020) train one network whose edges are
*mixed*: an edge holds one module per candidate op (DARTS's ``MixedOp`` over its ``OPS``
table), and a forward pass picks how to combine them. This module is the machinery every
space shares; each space's supernet (``search_spaces/supernets/``) lays its cells out with it.

* :class:`Piece`: a fragment described on a :class:`~nas.core.netgraph.NetBuilder` with the
  space's own description (an op, a stem, a preprocessing, a head) and compiled by
  :meth:`~nas.core.netgraph.NetGraph.to_module`. Candidate ops are never written a second
  time: the supernet's ``sep_conv_3x3`` is the fixed network's, so a single path through the
  supernet *is* the fixed network of that genome (``tests/test_supernets.py`` checks logits).
* :class:`MixedEdge`: the candidates of one edge side by side, in the space's op order.
* :class:`TwoInputCell`: the edges of a cell of DARTS's kind (``darts``, ``nasnet``), each
  candidate compiled from the space's op factory (:func:`op_piece`), and what a node sums;
  :func:`strongest_pairs` reads such a cell back from arch weights (DARTS's ``genotype()``).
* Forward modes, chosen by what is passed as ``arch`` to :meth:`Supernet.forward`:

  - a :class:`~nas.core.genome.Genome`: the single path of that genome (SPOS, ENAS);
  - :class:`AllPaths`: every op of every edge, weighted (DARTS: ``softmax(alpha)`` rows;
    PC-DARTS's edge normalisation as optional per-edge weights);
  - :class:`HardPath`: one op per edge, from one-hot weights that carry soft gradients
    (GDAS's straight-through Gumbel-softmax, :func:`gumbel_hard`).

* Partial channels (PC-DARTS): a supernet built with ``partial_channels=K`` runs its edges on
  the first ``C / K`` channels only (its candidate ops are built ``C / K`` wide), passes the
  rest by (max-pooled at stride 2), and shuffles channels after; that divides the memory of
  all-paths training by about K. Its paths are not fixed networks of the space.

Architecture parameters are not part of a supernet's weights: the method owns them
(:meth:`Supernet.arch_parameters` makes DARTS's initial ones) and passes weights in, so the
supernet's ``state_dict`` and optimizer hold network weights only. Arch weights are keyed by
*group* (``"normal"`` / ``"reduce"`` for two-cell spaces, ``"cell"`` for NAS-Bench-201), one
row per edge, one column per candidate op (:attr:`Supernet.groups`); edges of a two-input
cell are numbered as DARTS numbers them (:func:`edge_index`).

Spaces register their supernet class by space name (:func:`register_supernet`), like spaces
and baselines; :func:`create_supernet` builds one, deterministically for a ``seed``::

    net = create_supernet("darts", channels=8, cells=5, seed=0)
    alpha = net.arch_parameters(generator)  # {"normal": (14, 8), "reduce": (14, 8)}, the method's
    net(x, space.sample(rng))  # SPOS / ENAS: one path
    net(x, AllPaths({g: a.softmax(-1) for g, a in alpha.items()}))  # DARTS
    net(x, HardPath({g: gumbel_hard(a, tau, generator) for g, a in alpha.items()}))  # GDAS
    genome = net.genome_from_weights(alpha)  # the derived cell
    space.build(genome).load_state_dict(net.fixed_state_dict(genome))  # its inherited weights
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.registry import Registry
from nas.core.space import Space, create_space

Shape = tuple[int, ...]


class SupernetError(NasError):
    """A supernet asked of a space that has none, or built or driven with bad settings."""


# --- pieces: compiled fragments of a space's own description ---------------------------------


class Piece(nn.Module):
    """A fragment of a network, described on a fresh :class:`NetBuilder` by ``describe(nb, x)``
    and compiled with :meth:`NetGraph.to_module`.

    With ``scope``, every layer of the fragment must sit under that scope (op factories take
    the scope as their name) and the piece's own keys drop it: a DARTS ``sep_conv_3x3``
    described under ``"c"`` has keys ``op.1.weight`` ... exactly as under ``_ops.5`` of the
    fixed cell. The piece shares its children dict with the compiled module's scope container
    (so the compiled ``forward`` and the piece always see the same layers, even after a layer
    is swapped, e.g. by ``SyncBatchNorm.convert_sync_batchnorm``), and holds the compiled module
    outside its registered children.
    """

    def __init__(self, describe: Callable[[NetBuilder, T], T], input_shape: Sequence[int],
                 scope: str | None = None, where: str = "") -> None:
        super().__init__()
        nb = NetBuilder(input_shape, where=where)
        graph = nb.build(describe(nb, nb.input()))
        compiled = graph.to_module()
        self.in_shape: Shape = tuple(int(s) for s in input_shape)
        self.out_shape: Shape = graph.output_shape
        if scope is None:
            self._modules = compiled._modules  # the compiled module's layers are ours
        else:
            top = dict(compiled.named_children())
            if set(top) - {scope}:
                raise AssertionError(f"{where}: layers {sorted(set(top) - {scope})} are outside "
                                     f"the piece's scope {scope!r}")
            if scope in top:
                inner = top[scope]
                if any(True for _ in inner.parameters(recurse=False)) or any(
                        True for _ in inner.buffers(recurse=False)):
                    raise AssertionError(f"{where}: a layer sits at the scope {scope!r} itself; "
                                         f"describe it under a name inside the scope")
                self._modules = inner._modules
        self._compiled = (compiled,)  # a tuple: not a registered child; its layers are ours

    def forward(self, x: Tensor) -> Tensor:
        return self._compiled[0](x)


def _sliced(piece: Piece, in_channels: int) -> tuple[str, ...]:
    """Names of ``piece``'s weights that read its input channels (dim 1 == ``in_channels``):
    the 1x1 convs of a preprocessing, the classifier's matrix."""
    return tuple(n for n, p in piece.named_parameters()
                 if p.ndim in (2, 4) and p.shape[1] == in_channels)


class WidePiece(nn.Module):
    """A :class:`Piece` that reads a variable subset of its input channels (ENAS's answer to
    cell outputs whose width depends on the genome: NASNet concatenates the unused blocks).

    It is built for the widest input; :meth:`forward` with ``index`` runs it on those input
    channels only by slicing the weights that read them, so its result is exactly a piece
    built for the narrower input with the sliced weights (:meth:`state_dict_for`).
    """

    def __init__(self, piece: Piece) -> None:
        super().__init__()
        self.piece = piece
        self.in_channels = piece.in_shape[0]
        self.sliced = _sliced(piece, self.in_channels)
        if not self.sliced:
            raise AssertionError("a wide piece needs a weight that reads its input channels")

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        if index is None:
            return self.piece(x)
        weights = dict(self.piece.named_parameters())
        narrow = {n: weights[n].index_select(1, index) for n in self.sliced}
        return functional_call(self.piece, narrow, (x,))

    def state_dict_for(self, index: Tensor | None) -> dict[str, Tensor]:
        """The piece's state with the input-reading weights restricted to ``index``."""
        state = self.piece.state_dict()
        if index is not None:
            for n in self.sliced:
                state[n] = state[n].index_select(1, index)
        return state


# --- the mixed edge --------------------------------------------------------------------------


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's shuffle: (N, g * c, H, W) -> the channels interleaved across the g groups."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


#: A cell space's op factory (``darts``, ``nasnet``): (scope, builder, input with C channels, C,
#: stride) -> output with C channels at 1 / stride of the input's resolution, its layers under
#: the scope. None stands for the zero op ``none``.
OpFactory = Callable[[str, NetBuilder, T, int, int], T]
_OP_SCOPE = "c"  # the scope candidate ops are described under (it does not appear in keys)


def op_piece(factory: OpFactory | None, shape: Shape, stride: int, where: str) -> Piece | None:
    """A candidate op: ``factory`` described for inputs of ``shape`` (C = ``shape[0]``) at
    ``stride`` and compiled, its keys without the scope (``op.1.weight``, as under ``_ops.5``
    of the fixed cell); None for the zero op."""
    if factory is None:
        return None
    return Piece(lambda nb, x: factory(_OP_SCOPE, nb, x, shape[0], stride), shape, _OP_SCOPE,
                 where=where)


class MixedEdge(nn.Module):
    """Every candidate op of one edge, side by side (DARTS's ``MixedOp``).

    ``candidates`` maps op names, in the space's order (the columns of the arch weights), to
    their :class:`Piece` (registered under the op's name), or to None for the zero op
    ``none``. Every candidate maps C channels to C channels at 1 / ``stride`` resolution.
    With ``partial_channels = K`` the candidates are built for ``C / K`` channels and the
    edge mixes only those (PC-DARTS); see the module docstring.
    """

    def __init__(self, candidates: Mapping[str, Piece | None], stride: int,
                 partial_channels: int = 1) -> None:
        super().__init__()
        self.names = tuple(candidates)
        self.stride = stride
        self.partial_channels = partial_channels
        self._ops: list[Piece | None] = []
        for name, piece in candidates.items():
            if piece is not None:
                self.add_module(name, piece)
            self._ops.append(piece)

    def candidate(self, k: int) -> Piece | None:
        return self._ops[k]

    def zero(self, x: Tensor) -> Tensor:
        """DARTS's ``Zero(stride)``: zeros at the edge's output resolution."""
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def _run(self, k: int, x: Tensor) -> Tensor:
        op = self._ops[k]
        return self.zero(x) if op is None else op(x)

    # The three modes on the (partial) input; each returns the edge's output.

    def forward_path(self, x: Tensor, ops: Sequence[int]) -> Tensor | None:
        """The sum of the ops ``ops`` (in that order; ``none`` adds nothing); None when every
        one of them is ``none`` (the caller adds nothing, as the fixed network does)."""

        def mix(x: Tensor) -> Tensor | None:
            out = None
            for k in ops:
                op = self._ops[k]
                if op is not None:
                    y = op(x)
                    out = y if out is None else out + y
            return out

        return self._partial(x, mix)

    def forward_weighted(self, x: Tensor, weights: Tensor) -> Tensor:
        """``sum_k weights[k] * op_k(x)`` over every candidate (``none`` contributes zeros)."""

        def mix(x: Tensor) -> Tensor | None:
            out = None
            for k, op in enumerate(self._ops):
                if op is not None:
                    y = weights[k] * op(x)
                    out = y if out is None else out + y
            return out if out is not None else self.zero(x) * weights.sum()

        out = self._partial(x, mix)
        assert out is not None
        return out

    def forward_hard(self, x: Tensor, weights: Tensor) -> Tensor:
        """GDAS: run only the op ``k = argmax(weights)``, as ``weights[k] * op_k(x)`` plus the
        other (zero-valued) weights, so every weight gets a gradient while one op computes."""
        k = int(weights.argmax())
        others = torch.cat([weights[:k], weights[k + 1:]]).sum()

        def mix(x: Tensor) -> Tensor | None:
            return weights[k] * self._run(k, x) + others

        out = self._partial(x, mix)
        assert out is not None
        return out

    def _partial(self, x: Tensor, mix: Callable[[Tensor], Tensor | None]) -> Tensor | None:
        k = self.partial_channels
        if k == 1:
            return mix(x)
        c = x.shape[1] // k
        head, rest = x[:, :c], x[:, c:]  # (N, C/K, H, W) mixed, (N, C - C/K, H, W) passed by
        y = mix(head)
        if y is None:
            y = self.zero(head)
        if self.stride > 1:  # PC-DARTS: the bypassed channels are max-pooled to the new size
            rest = F.max_pool2d(rest, self.stride, self.stride, ceil_mode=True)
        return channel_shuffle(torch.cat([y, rest], dim=1), k)


class MixedCell(nn.Module):
    """Base of a search cell: its mixed edges, in the order of the arch weights' rows."""

    def __init__(self) -> None:
        super().__init__()
        self.edges = nn.ModuleList()

    def edge(self, e: int) -> MixedEdge:
        return cast(MixedEdge, self.edges[e])


# --- forward modes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AllPaths:
    """Every op of every edge, weighted (DARTS). ``weights[group]`` is (edges, ops), usually
    ``softmax(alpha, -1)``; ``edge_weights[group]`` (edges,) optionally scales each edge's
    output (PC-DARTS's edge normalisation, a softmax over each node's incoming edges)."""

    weights: Mapping[str, Tensor]
    edge_weights: Mapping[str, Tensor] | None = None


@dataclass(frozen=True)
class HardPath:
    """One op per edge (GDAS): ``weights[group]`` is (edges, ops), one-hot in value, with the
    gradient of a softmax (:func:`gumbel_hard`). Every edge of the cell is used."""

    weights: Mapping[str, Tensor]


Arch = Genome | AllPaths | HardPath


def gumbel_hard(alpha: Tensor, tau: float, generator: torch.Generator | None = None) -> Tensor:
    """GDAS's sample (Dong & Yang 2019): per row, ``h = one_hot(argmax(y)) - y.detach() + y``
    with ``y = softmax((log_softmax(alpha) + g) / tau)`` and Gumbel noise ``g`` drawn from
    ``generator``: one op per edge in the forward pass, soft gradients in the backward."""
    while True:
        gumbels = -torch.empty_like(alpha).exponential_(generator=generator).log()
        probs = F.softmax((alpha.log_softmax(-1) + gumbels) / tau, dim=-1)
        if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
            break
    one_hot = torch.zeros_like(probs).scatter_(-1, probs.argmax(-1, keepdim=True), 1.0)
    return one_hot - probs.detach() + probs


def edge_index(node: int, source: int) -> int:
    """DARTS's edge numbering in a two-input cell: node ``j`` reads ``2 + j`` sources (0, 1 the
    cell inputs, 2 + k node k), so its edges start at ``sum_{i<j} (2 + i) = j (j + 3) / 2``."""
    return node * (node + 3) // 2 + source


def strongest_inputs(weights: Tensor, exclude: int | None = None) -> list[tuple[int, int]]:
    """DARTS's genotype rule for one node: from its (sources, ops) weights, the two sources
    whose best op (``exclude``, e.g. ``none``, left out) is strongest, strongest first, each
    with that op: ``[(source, op), (source, op)]``. Ties go to the lower index."""
    w = weights.detach().float().clone()
    if exclude is not None:
        w[:, exclude] = -math.inf
    best, ops = w.max(dim=1)
    order = sorted(range(w.shape[0]), key=lambda i: (-float(best[i]), i))[:2]
    return [(i, int(ops[i])) for i in order]


def strongest_pairs(weights: Tensor, nodes: int, ops: Sequence[str],
                    exclude: str | None = None) -> list[tuple[str, int]]:
    """DARTS's ``genotype()`` of one two-input cell from its (edges, ops) arch weights: for
    each node in order, :func:`strongest_inputs` (op ``exclude`` left out) as ``(op, source)``
    pairs, as a DARTS ``Genotype`` writes a cell."""
    none = None if exclude is None else ops.index(exclude)
    pairs = []
    for j in range(nodes):
        rows = weights[edge_index(j, 0): edge_index(j + 1, 0)]  # (2 + j, ops)
        pairs += [(ops[op], source) for source, op in strongest_inputs(rows, exclude=none)]
    return pairs


# --- the supernet ----------------------------------------------------------------------------


class Supernet(nn.Module, ABC):
    """A space's supernet: see the module docstring. Subclasses build their cells in
    ``__init__`` from the space's descriptions and implement :attr:`groups`, :meth:`forward`,
    :meth:`path`, :meth:`fixed_state_dict` and :meth:`genome_from_weights`."""

    space_name: ClassVar[str]  # the space this supernet is for
    #: whether :meth:`forward` takes :class:`AllPaths` and :class:`HardPath` weights (what
    #: DARTS and GDAS need); a supernet that runs single paths only sets it False
    weighted: ClassVar[bool] = True

    def __init__(self, space: Space, input_shape: Sequence[int] = (3, 32, 32),
                 num_classes: int = 10, partial_channels: int = 1) -> None:
        super().__init__()
        if space.name != self.space_name:
            raise SupernetError(f"{type(self).__name__} is for space {self.space_name!r}, "
                                f"not {space.name!r}")
        if not isinstance(partial_channels, int) or partial_channels < 1:
            raise SupernetError(f"partial_channels must be an integer >= 1, got "
                                f"{partial_channels!r}")
        self.space = space
        self.input_shape: Shape = tuple(int(s) for s in input_shape)
        self.num_classes = num_classes
        self.partial_channels = partial_channels

    # --- what a method needs to know -------------------------------------------------------

    @property
    @abstractmethod
    def groups(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        """Per group of arch weights: (number of edges, candidate op names in column order)."""

    def arch_parameters(self, generator: torch.Generator | None = None,
                        scale: float = 1e-3) -> dict[str, Tensor]:
        """Fresh architecture parameters, DARTS's initialisation ``scale * N(0, 1)``: one
        (edges, ops) leaf tensor per group, requiring grad, owned by the caller."""
        return {g: (scale * torch.randn(n, len(ops), generator=generator)).requires_grad_()
                for g, (n, ops) in self.groups.items()}

    def check_arch(self, arch: Arch) -> None:
        """A clear error for weights of the wrong groups or shapes."""
        if isinstance(arch, Genome):
            if arch.space != self.space_name:
                raise SupernetError(f"genome of space {arch.space!r} given to the "
                                    f"{self.space_name} supernet")
            return
        tables = [("weights", arch.weights, 2)]
        if isinstance(arch, AllPaths) and arch.edge_weights is not None:
            tables.append(("edge_weights", arch.edge_weights, 1))
        for what, table, ndim in tables:
            if set(table) != set(self.groups):
                raise SupernetError(f"{self.space_name} supernet {what} must have groups "
                                    f"{sorted(self.groups)}, got {sorted(table)}")
            for g, (n, ops) in self.groups.items():
                want = (n, len(ops))[:ndim]
                if tuple(table[g].shape) != want:
                    raise SupernetError(f"{self.space_name} supernet {what}[{g!r}] must be "
                                        f"{want}, got {tuple(table[g].shape)}")

    # --- the three things a space implements -----------------------------------------------

    @abstractmethod
    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        """Logits for images ``x`` (N, C, H, W) along ``arch`` (see the module docstring)."""

    @abstractmethod
    def path(self, genome: Genome) -> dict[str, tuple[tuple[int, ...], ...]]:
        """The edges and ops ``genome`` runs: per group, per edge, the indices of the ops
        its single path runs on that edge (``()`` when the path does not use the edge)."""

    @abstractmethod
    def fixed_state_dict(self, genome: Genome) -> dict[str, Tensor]:
        """The weights of ``genome``'s path, keyed as the space's fixed network for that
        genome (``space.build(genome, input_shape, num_classes)``) names them, so that
        network loads them with ``strict=True`` and computes the same logits."""

    @abstractmethod
    def genome_from_weights(self, weights: Mapping[str, Tensor]) -> Genome:
        """The genome that arch weights (or parameters) select: the bridge from a
        differentiable search back to a plain genome (DARTS's ``genotype()``)."""

    # --- helpers for subclasses ------------------------------------------------------------

    def _check_partial(self, channels: Iterator[int], even: bool = False) -> None:
        k = self.partial_channels
        for c in channels:
            if c % k or (even and (c // k) % 2):
                need = "an even number of" if even else "whole"
                raise SupernetError(
                    f"partial_channels={k} does not divide the {c}-channel cells of this "
                    f"{self.space_name} supernet into {need} channels; pick a divisor")

    def _require_full_width(self) -> None:
        if self.partial_channels != 1:
            raise SupernetError(f"a supernet with partial_channels={self.partial_channels} "
                                f"runs its ops on 1/{self.partial_channels} of the channels; "
                                f"its paths are not fixed networks (build it with "
                                f"partial_channels=1)")


def run_edge(edge: MixedEdge, x: Tensor, arch: Arch, group: str, e: int,
             ops: Sequence[int] = ()) -> Tensor | None:
    """Edge ``e`` of ``group`` on ``x`` in the mode ``arch`` selects; ``ops`` are the path's op
    indices on this edge in single-path mode (empty: the path does not use the edge, None)."""
    if isinstance(arch, AllPaths):
        y = edge.forward_weighted(x, arch.weights[group][e])
        if arch.edge_weights is not None:
            y = arch.edge_weights[group][e] * y
        return y
    if isinstance(arch, HardPath):
        return edge.forward_hard(x, arch.weights[group][e])
    return edge.forward_path(x, ops) if ops else None


class TwoInputCell(MixedCell):
    """Base of a search cell of DARTS's kind (the ``darts`` and ``nasnet`` spaces).

    States 0 and 1 are the cell's (preprocessed) inputs, the previous-previous and the previous
    cell's outputs; node ``j`` is state ``2 + j`` and may read any of the ``2 + j`` states
    before it, so the cell has a mixed edge per (source, node) pair, numbered by
    :func:`edge_index`. In a reduction cell the edges from the inputs have stride 2. The arch
    weights of the cell are the group ``"reduce"`` or ``"normal"``. Subclasses build their
    preprocessings, then :meth:`add_edges`; their forward sums :meth:`node_terms`.
    """

    def __init__(self, reduction: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.group = "reduce" if reduction else "normal"

    def add_edges(self, ops: Mapping[str, OpFactory | None], nodes: int, channels: int,
                  hw: tuple[int, int], partial: int, where: str) -> tuple[int, int]:
        """Add the mixed edges of ``nodes`` nodes, each with every op of ``ops`` (in order:
        the arch weights' columns), for inputs of ``channels`` channels at resolution ``hw``
        (``channels / partial`` wide, see :class:`MixedEdge`). Returns the nodes' resolution:
        ``hw``, halved (rounded up) in a reduction cell."""
        h, w = hw
        out_hw = ((h + 1) // 2, (w + 1) // 2) if self.reduction else (h, w)
        for j in range(nodes):
            for source in range(2 + j):
                stride = 2 if self.reduction and source < 2 else 1
                narrow = (channels // partial, *((h, w) if source < 2 else out_hw))
                at = f"{where}.edges.{edge_index(j, source)}"
                candidates = {name: op_piece(factory, narrow, stride, f"{at} {name}")
                              for name, factory in ops.items()}
                self.edges.append(MixedEdge(candidates, stride, partial))
        return out_hw

    def node_terms(self, j: int, states: Sequence[Tensor | None], arch: Arch,
                   path: Sequence[Sequence[int]] = ()) -> list[Tensor]:
        """What node ``j`` sums, in source order: its incoming edges on ``states`` in the mode
        ``arch`` selects (``path``: per edge, the ops a single path runs on it). A source
        that is None (an input the path does not read) and an edge that gives None (unused
        by the path, or only ``none``) add no term."""
        terms = []
        for source in range(2 + j):
            x = states[source]
            if x is None:
                continue
            e = edge_index(j, source)
            y = run_edge(self.edge(e), x, arch, self.group, e, path[e] if path else ())
            if y is not None:
                terms.append(y)
        return terms


def prefixed(prefix: str, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with ``prefix.`` in front of every key."""
    return {f"{prefix}.{k}" if prefix else k: v for k, v in state.items()}


def sum_terms(terms: Sequence[Tensor]) -> Tensor:
    """``terms[0] + terms[1] + ...`` in order (as the compiled fixed network adds)."""
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


# --- registry ---------------------------------------------------------------------------------

SUPERNETS: Registry[type[Supernet]] = Registry("supernet", ("search_spaces.supernets",))


def register_supernet(cls: type[Supernet]) -> type[Supernet]:
    """Class decorator: register a supernet under its ``space_name``."""
    SUPERNETS.register(cls.space_name, cls)
    return cls


def supernet_spaces(weighted: bool = False) -> list[str]:
    """Names of the spaces that have a supernet (``weighted``: one that takes all-paths and
    hard-path weights, :attr:`Supernet.weighted`)."""
    return sorted(n for n in SUPERNETS.names() if not weighted or SUPERNETS.get(n).weighted)


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def create_supernet(space: Space | str, input_shape: Sequence[int] = (3, 32, 32),
                    num_classes: int = 10, *, partial_channels: int = 1,
                    seed: int | None = None, **space_options: Any) -> Supernet:
    """The supernet of ``space`` (a Space, or a name with ``space_options``) for this input
    shape and class count. With ``seed`` its weights are the same on every call (and every
    data-parallel rank) and the global torch RNG is left untouched."""
    if isinstance(space, str):
        space = create_space(space, **space_options)
    elif space_options:
        raise SupernetError("space options go to create_space, not with a Space instance")
    if space.name not in SUPERNETS:
        raise SupernetError(f"space {space.name!r} has no supernet; spaces with one: "
                            f"{', '.join(supernet_spaces())}")
    cls = SUPERNETS.get(space.name)
    with _seeded(seed):
        net = cls(space, input_shape, num_classes, partial_channels)
        space.init_weights(net)
    return net


__all__ = [
    "AllPaths",
    "Arch",
    "HardPath",
    "MixedCell",
    "MixedEdge",
    "OpFactory",
    "Piece",
    "Supernet",
    "SupernetError",
    "TwoInputCell",
    "WidePiece",
    "channel_shuffle",
    "create_supernet",
    "edge_index",
    "gumbel_hard",
    "op_piece",
    "prefixed",
    "register_supernet",
    "run_edge",
    "strongest_inputs",
    "strongest_pairs",
    "sum_terms",
    "supernet_spaces",
]
