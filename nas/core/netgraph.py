"""The genome's graph: layers with shapes, built symbolically, compiled to a torch module.

A space describes a network by calling a :class:`NetBuilder` (``conv``, ``bn``, ``act``,
``maxpool``, ``linear``, ``add``, ``concat`` ...) on symbolic tensors that carry only shapes.
Every call checks its arguments and adds one node to a ``networkx.DiGraph`` with the layer's
hyper-parameters and its input and output shapes, checked with the lecture's formula
``W' = (W - F + 2P) / S + 1``. A node's ``op`` names its kind in :mod:`nas.core.layers`, which
says how it is built, costed and written out. The cost model reads that graph without running
anything; :meth:`NetGraph.to_module` compiles it into a ``torch.fx.GraphModule`` whose
submodules carry the builder's qualified names (so a ResNet built here has torchvision's
``layer1.0.conv1.weight`` keys) and whose generated ``forward`` is straight-line code, as fast
as a hand-written one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from nas.core.errors import ShapeError
from nas.core.layers import ACTIVATIONS, LAYERS, kind_of

if TYPE_CHECKING:
    import torch.fx as fx

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flatten


@dataclass(frozen=True)
class T:
    """A symbolic tensor: the node that produced it and its shape (batch dimension left out)."""

    node: str
    shape: Shape

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def hw(self) -> tuple[int, int]:
        if len(self.shape) != 3:
            raise ShapeError(f"{self.node}: expected a feature map (C, H, W), got {self.shape}")
        return self.shape[1], self.shape[2]


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """The lecture's ``(W - F + 2P) / S + 1`` with PyTorch's rounding (floor, or ceil)."""
    span = dilation * (kernel - 1) + 1
    num = size + 2 * pad - span
    if num < 0:
        return 0
    out = (math.ceil(num / stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:  # PyTorch: last window starts inside
        out -= 1
    return out


def dropped_pixels(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Input pixels a convolution silently ignores because the stride does not fit.

    The ``(W - F + 2P) mod S`` positions left after the last window are harmless when they are
    padding, or when they fall in the gap a stride larger than the filter skips anyway; any
    other leftover is real input that no filter ever reads (the lecture's 7x7 input, 3x3
    filter, stride 3).
    """
    span = dilation * (kernel - 1) + 1
    leftover = (size + 2 * pad - span) % stride
    return max(0, leftover - pad - max(0, stride - span))


class NetGraph:
    """A described network: a DAG of layer nodes, in the order they were added."""

    def __init__(self, graph: nx.DiGraph, input_shape: Shape, output: str,
                 name: str = "Net", meta: dict[str, Any] | None = None) -> None:
        self.graph = graph
        self.input_shape = input_shape
        self.output = output
        self.name = name  # class name of the compiled module
        self.meta = dict(meta or {})  # space, genome id ... for reports

    @property
    def nodes(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.graph.nodes(data=True))

    @property
    def output_shape(self) -> Shape:
        return tuple(self.graph.nodes[self.output]["out_shape"])

    def to_module(self) -> fx.GraphModule:
        """Compile into a ``torch.fx.GraphModule`` (fresh, default-initialised parameters).

        Each node's kind (:mod:`nas.core.layers`) either builds a submodule, called under the
        node's qualified name, or runs its function on fx proxies, which records the calls.
        """
        # torch is imported here, where a module is compiled, not at the top: describing and
        # costing a graph needs none, and importing torch costs 1-6 s (bench/startup.py)
        import torch.fx as fx
        from torch import nn

        g = self.graph
        fxg = fx.Graph()
        tracer = fx.proxy.GraphAppendingTracer(fxg)  # one tracer: proxies that meet must share it
        env: dict[str, fx.Proxy] = {}
        modules: dict[str, nn.Module] = {}
        for node, a in g.nodes(data=True):
            kind = kind_of(a)
            args = [env[i] for i in a["inputs"]]
            if kind.placeholder:
                env[node] = fx.Proxy(fxg.placeholder("x"), tracer)
            elif kind.fn is not None:
                env[node] = kind.call(a, *args)
            else:
                modules[a["module"]] = kind.build(a, inplace=may_run_inplace(g, node))
                call = fxg.call_module(a["module"], tuple(p.node for p in args))
                env[node] = fx.Proxy(call, tracer)
        fxg.output(env[self.output].node)
        # Nest the modules under a root in graph order (fx sorts a dict root by depth): then
        # print(model), state_dict keys and init order follow the network as torchvision's do.
        root = nn.Module()
        for path, module in modules.items():
            *parents, leaf = path.split(".")
            owner = root
            for part in parents:
                if not hasattr(owner, part):
                    owner.add_module(part, nn.Module())
                owner = owner.get_submodule(part)
            owner.add_module(leaf, module)
        return fx.GraphModule(root, fxg, class_name=self.name)


def may_run_inplace(g: nx.DiGraph, node: str) -> bool:
    """A kind that may run in place (an activation) overwrites its input when nothing else
    reads that input, and the input is not the network's own."""
    a = g.nodes[node]
    if not kind_of(a).inplace:
        return False
    (src,) = a["inputs"]
    return not kind_of(g.nodes[src]).placeholder and g.out_degree(src) == 1


class NetBuilder:
    """Describes a network layer by layer on symbolic tensors; see the module docstring.

    Layer names are qualified by the current :meth:`scope` (``with nb.scope("layer1.0"):``),
    and default to ``<op><n>`` when not given. The names become the compiled module's
    submodule paths, hence its ``state_dict`` keys.
    """

    def __init__(self, input_shape: Sequence[int], where: str = "") -> None:
        self.graph = nx.DiGraph()
        self.input_shape: Shape = tuple(int(s) for s in input_shape)
        self.where = where  # prefix for error messages, e.g. "resnet"
        self._scope: list[str] = []
        self._counts: dict[str, int] = {}
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ShapeError(f"input shape must be (C, H, W) with positive sizes, "
                             f"got {self.input_shape}")

    # --- bookkeeping ---------------------------------------------------------------------

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def _qualify(self, name: str | None, op: str) -> str:
        if name is None:  # auto names count per scope, so repeated blocks are identical
            key = ".".join([*self._scope, op])
            n = self._counts.get(key, 0)
            self._counts[key] = n + 1
            name = f"{op}{n}"
        qualified = ".".join([*self._scope, name])
        if qualified in self.graph:
            raise ValueError(f"layer name {qualified!r} used twice")
        return qualified

    def _where(self, name: str) -> str:
        return f"{self.where} layer {name}" if self.where else f"layer {name}"

    def _add(self, op: str, inputs: Sequence[T], out_shape: Shape, name: str | None,
             auto_name: str | None = None, **attrs: Any) -> T:
        assert op in LAYERS, f"no layer kind {op!r} in nas.core.layers"
        node = self._qualify(name, auto_name or op)
        if any(s < 1 for s in out_shape):
            shown = "x".join(str(s) for s in inputs[0].shape) if inputs else "?"
            raise ShapeError(f"{self._where(node)}: the image shrinks below 1x1 "
                             f"(input {shown} -> output {'x'.join(map(str, out_shape))})")
        self.graph.add_node(node, op=op, module=node, inputs=[t.node for t in inputs],
                            in_shape=inputs[0].shape if inputs else None, out_shape=out_shape,
                            **attrs)
        for t in inputs:
            self.graph.add_edge(t.node, node)
        return T(node, out_shape)

    def input(self) -> T:
        node = "x"
        self.graph.add_node(node, op="input", module=None, inputs=[], in_shape=None,
                            out_shape=self.input_shape)
        return T(node, self.input_shape)

    def build(self, output: T, name: str = "Net", **meta: Any) -> NetGraph:
        return NetGraph(self.graph, self.input_shape, output.node, name=name, meta=meta)

    # --- layers --------------------------------------------------------------------------

    def conv(self, x: T, out_channels: int, kernel: int | Sequence[int], stride: int = 1,
             padding: int | Sequence[int] = 0, *, groups: int = 1, dilation: int = 1,
             bias: bool = True, name: str | None = None) -> T:
        c, h, w = x.shape if len(x.shape) == 3 else (*x.shape, 0, 0)
        kh, kw = _pair(kernel)
        ph, pw = _pair(padding)
        node_name = ".".join([*self._scope, name]) if name else f"{'.'.join(self._scope)} conv"
        if c % groups or out_channels % groups:
            raise ShapeError(f"{self._where(node_name)}: {groups} groups do not divide "
                             f"{c} input / {out_channels} output channels")
        for size, k, p, axis in ((h, kh, ph, "height"), (w, kw, pw, "width")):
            span = dilation * (k - 1) + 1
            if size + 2 * p < span:
                raise ShapeError(f"{self._where(node_name)}: the image shrinks below 1x1 "
                                 f"({k}x{k} filter on {axis} {size} with padding {p})")
            lost = dropped_pixels(size, k, stride, p, dilation)
            if lost:
                exact = (size - span + 2 * p) / stride + 1
                raise ShapeError(
                    f"{self._where(node_name)}: stride {stride} does not fit: a {kh}x{kw} "
                    f"filter on a {h}x{w} input with padding {p} gives "
                    f"({size} - {span} + 2*{p}) / {stride} + 1 = {exact:.2f} on the {axis}")
        out = (out_channels, out_size(h, kh, stride, ph, dilation),
               out_size(w, kw, stride, pw, dilation))
        return self._add("conv", [x], out, name, in_channels=c, out_channels=out_channels,
                         kernel=(kh, kw), stride=stride, padding=(ph, pw), groups=groups,
                         dilation=dilation, bias=bias)

    def bn(self, x: T, *, eps: float = 1e-5, momentum: float = 0.1,
           name: str | None = None) -> T:
        return self._add("bn", [x], x.shape, name, channels=x.channels, eps=eps,
                         momentum=momentum)

    def act(self, x: T, kind: str = "relu", *, name: str | None = None) -> T:
        if kind not in ACTIVATIONS:
            raise ValueError(f"unknown activation {kind!r}; known: {', '.join(ACTIVATIONS)}")
        return self._add("act", [x], x.shape, name, kind=kind, auto_name=kind)

    def _pool(self, op: str, x: T, kernel: int, stride: int | None, padding: int,
              ceil_mode: bool, name: str | None, **attrs: Any) -> T:
        stride = kernel if stride is None else stride
        c, h, w = x.shape
        out = (c, out_size(h, kernel, stride, padding, ceil_mode=ceil_mode),
               out_size(w, kernel, stride, padding, ceil_mode=ceil_mode))
        return self._add(op, [x], out, name, kernel=(kernel, kernel), stride=stride,
                         padding=(padding, padding), ceil_mode=ceil_mode, **attrs)

    def maxpool(self, x: T, kernel: int, stride: int | None = None, padding: int = 0, *,
                ceil_mode: bool = False, name: str | None = None) -> T:
        return self._pool("maxpool", x, kernel, stride, padding, ceil_mode, name)

    def avgpool(self, x: T, kernel: int, stride: int | None = None, padding: int = 0, *,
                ceil_mode: bool = False, count_include_pad: bool = True,
                name: str | None = None) -> T:
        return self._pool("avgpool", x, kernel, stride, padding, ceil_mode, name,
                          count_include_pad=count_include_pad)

    def pad(self, x: T, pads: Sequence[int], *, name: str | None = None) -> T:
        """``nn.ZeroPad2d(pads)``, ``pads = (left, right, top, bottom)``; negative amounts crop.

        ``(-1, 1, -1, 1)`` shifts the image one pixel up and left (NASNet's factorized
        reduction reads the odd pixels this way). Cropping a whole axis away is a ShapeError.
        """
        left, right, top, bottom = (int(p) for p in pads)
        c, h, w = x.shape
        for size, lo, hi, axis in ((h, top, bottom, "height"), (w, left, right, "width")):
            if size + min(lo, 0) + min(hi, 0) < 1:
                node = ".".join([*self._scope, name or "pad"])
                raise ShapeError(f"{self._where(node)}: cropping {-min(lo, 0) - min(hi, 0)} "
                                 f"of {size} pixels on the {axis} leaves none of the image")
        out = (c, h + top + bottom, w + left + right)
        return self._add("pad", [x], out, name, pads=(left, right, top, bottom))

    def zero(self, x: T, *, name: str | None = None) -> T:
        """Zeros shaped like ``x``: the value of a node all of whose inputs are cut (an
        all-'none' NAS-Bench-201 node). No parameters, no multiply-adds."""
        return self._add("zero", [x], x.shape, name)

    def shuffle(self, x: T, groups: int, *, name: str | None = None) -> T:
        """ShuffleNet's channel shuffle (Zhang et al., 2018): (g*c, H, W) viewed as
        (g, c, H, W), transposed to (c, g, H, W) and flattened back, so that the next grouped
        convolution's every group reads channels from every group of the last one. No
        parameters, no multiply-adds."""
        node = ".".join([*self._scope, name or "shuffle"])
        if len(x.shape) != 3:
            raise ShapeError(f"{self._where(node)}: channel shuffle needs a feature map "
                             f"(C, H, W), got {x.shape}")
        if groups < 1 or x.channels % groups:
            raise ShapeError(f"{self._where(node)}: {groups} groups do not divide "
                             f"{x.channels} channels")
        return self._add("shuffle", [x], x.shape, name, groups=groups)

    def slice_channels(self, x: T, start: int, stop: int, *, name: str | None = None) -> T:
        """Channels ``start:stop`` of ``x`` (``x[:, start:stop]``): ShuffleNetV2's channel
        split (Ma et al., 2018) is two of these. A view: no parameters, no multiply-adds."""
        c = x.channels
        if not 0 <= start < stop <= c:
            node = ".".join([*self._scope, name or "slice"])
            raise ShapeError(f"{self._where(node)}: channels {start}:{stop} are not a "
                             f"non-empty part of the {c} channels of {x.node}")
        return self._add("slice", [x], (stop - start, *x.shape[1:]), name, start=start,
                         stop=stop)

    def global_avgpool(self, x: T, *, name: str | None = None) -> T:
        """``AdaptiveAvgPool2d(1)``: (C, H, W) -> (C, 1, 1)."""
        return self._add("gap", [x], (x.channels, 1, 1), name)

    def flatten(self, x: T, *, name: str | None = None) -> T:
        return self._add("flatten", [x], (math.prod(x.shape),), name)

    def linear(self, x: T, out_features: int, *, bias: bool = True,
               name: str | None = None) -> T:
        if len(x.shape) != 1:
            raise ShapeError(f"{self._where(name or 'linear')}: flatten before a linear layer")
        return self._add("linear", [x], (out_features,), name, in_features=x.shape[0],
                         out_features=out_features, bias=bias)

    def dropout(self, x: T, p: float, *, name: str | None = None) -> T:
        return self._add("dropout", [x], x.shape, name, p=p)

    def add(self, *xs: T, name: str | None = None) -> T:
        if len({t.shape for t in xs}) != 1:
            shapes = ", ".join("x".join(map(str, t.shape)) for t in xs)
            raise ShapeError(f"{self._where(name or 'add')}: cannot add shapes {shapes}")
        return xs[0] if len(xs) == 1 else self._add("add", xs, xs[0].shape, name)

    def mul(self, x: T, gate: T, *, name: str | None = None) -> T:
        """``x * gate`` with a (C, 1, 1) gate broadcast over H and W (squeeze-excitation)."""
        if gate.shape != (x.channels, 1, 1):
            raise ShapeError(f"{self._where(name or 'mul')}: gate {gate.shape} does not "
                             f"match {x.shape}")
        return self._add("mul", [x, gate], x.shape, name)

    def concat(self, xs: Sequence[T], *, name: str | None = None) -> T:
        if len({t.shape[1:] for t in xs}) != 1:
            shapes = ", ".join("x".join(map(str, t.shape)) for t in xs)
            raise ShapeError(f"{self._where(name or 'concat')}: cannot concatenate {shapes}")
        if len(xs) == 1:
            return xs[0]
        out = (sum(t.channels for t in xs), *xs[0].shape[1:])
        return self._add("concat", xs, out, name)
