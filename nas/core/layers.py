"""The layer vocabulary: every kind of node a :class:`~nas.core.netgraph.NetBuilder` records,
defined once.

A kind says everything the rest of ``nas`` needs to know about a node of that kind:

* how it is built: a *module* kind names its ``torch.nn`` constructor from the node's
  attributes (one description serves :meth:`NetGraph.to_module` and the standalone source of
  :mod:`nas.core.codegen`); a *functional* kind gives its function (run on tensors, or on
  ``torch.fx`` proxies to record the call) and that function's source text;
* how it is costed: its parameters and multiply-adds for one image from the node's attributes,
  and whether the lectures' table folds it into the row of the layer before it;
* what the trainer needs: which live ``nn.Module`` types are this kind, and the attributes its
  multiply-add formula reads, taken from a live module and its input and output, so that
  :func:`nas.training.measure.count_macs` counts any network (torchvision's too) by the very
  formula the cost model uses.

As DARTS's ``OPS`` over ``PRIMITIVES`` (Liu et al., 2019), :data:`LAYERS` maps each name of the
ordered :data:`LAYER_NAMES` to a small frozen :class:`Layer`. A new kind is one entry here plus
the :class:`NetBuilder` method that records it (that method checks the user's arguments and
computes the output shape, with the layer's name in the error); compiling, costing, code
generation and FLOP counting read the entry and need no change.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor, nn

Attrs = Mapping[str, Any]  # a node's attributes: op, inputs, in_shape, out_shape and the kind's own
Ctor = tuple[str, tuple[Any, ...], dict[str, Any]]  # (torch.nn class name, args, kwargs)

# Activations of the ``act`` kind, by the name a space passes to ``NetBuilder.act``:
# (torch.nn class name, whether it accepts ``inplace=True``).
ACTIVATIONS: dict[str, tuple[str, bool]] = {
    "relu": ("ReLU", True),
    "relu6": ("ReLU6", True),
    "sigmoid": ("Sigmoid", False),
    "hardswish": ("Hardswish", True),
    "hardsigmoid": ("Hardsigmoid", True),
    "silu": ("SiLU", True),
}


# --- torch, imported when a layer is first built ---------------------------------------------


def _torch() -> Any:
    """The ``torch`` module. Imported here, on the first build, not at the top: describing
    and costing a network needs no torch, and importing it costs 1-6 s (measured on the
    project's 2-core machine, bench/startup.py), which ``nas spaces``, ``nas show`` and the
    cost model never pay. Every kind names its ``torch.nn`` class by name for that reason."""
    # imports torch: loaded here, where used, for start-up time
    import torch

    return torch


def nn_class(name: str) -> type[nn.Module]:
    """``torch.nn.<name>`` (a kind's constructor or live type, named as a string)."""
    cls: type[nn.Module] = getattr(_torch().nn, name)
    return cls


# --- helpers ---------------------------------------------------------------------------------


def _nothing(a: Attrs) -> int:
    return 0


def _square(v: Sequence[int]) -> int | tuple[int, ...]:
    """``(3, 3)`` -> ``3`` (as torchvision writes it); ``(1, 7)`` stays a pair."""
    return v[0] if len(set(v)) == 1 else tuple(v)


def _is_default(value: Any, default: Any) -> bool:
    if isinstance(value, tuple):  # padding=(0, 0) is the default padding=0
        return all(v == default for v in value)
    return bool(value == default)


def _render(ctor: Ctor) -> str:
    """Constructor source: positional arguments always, keywords only when not the default."""
    name, args, kwargs = ctor
    defaults = inspect.signature(nn_class(name)).parameters
    shown = [repr(v) for v in args]
    shown += [f"{k}={v!r}" for k, v in kwargs.items() if not _is_default(v, defaults[k].default)]
    return f"nn.{name}({', '.join(shown)})"


# --- the kind --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One layer kind: how a node of it is built, costed, written out and counted live.

    Exactly one of ``placeholder``, ``module`` and ``fn`` is set. A functional kind runs
    outside any module, so no forward hook sees it: its multiply-adds must be zero.
    """

    name: str  # the node's ``op``
    doc: str  # one line: what it computes
    placeholder: bool = False  # the network input: no layer, no table row, never overwritten
    module: Callable[[Attrs, bool], Ctor] | None = None  # (attrs, may run in place) -> ctor
    fn: Callable[..., Any] | None = None  # fn(attrs, *inputs) on tensors or fx proxies
    expr: Callable[..., str] | None = None  # expr(attrs, *input names): fn's source
    params: Callable[[Attrs], int] = _nothing  # learned parameters (buffers are not)
    macs: Callable[[Attrs], int] = _nothing  # multiply-adds of one image
    folded: bool = False  # the lectures' table shows it in the row of the layer it follows
    inplace: bool = False  # may overwrite its input when nothing else reads that input
    live: tuple[str, ...] = ()  # live module types (torch.nn class names) that are this kind
    observe: Callable[[Any, Tensor, Tensor], Attrs] | None = None  # (module, in, out) -> attrs

    def __post_init__(self) -> None:
        ways = [self.placeholder, self.module is not None, self.fn is not None]
        if sum(ways) != 1:
            raise ValueError(f"layer kind {self.name!r}: give exactly one of placeholder, "
                             "module, fn")
        if (self.fn is None) != (self.expr is None):
            raise ValueError(f"layer kind {self.name!r}: fn and expr go together")
        if (self.observe is None) != (not self.live):
            raise ValueError(f"layer kind {self.name!r}: live and observe go together")

    def build(self, a: Attrs, inplace: bool = False) -> nn.Module:
        """A fresh module for node attributes ``a`` (PyTorch's default initialisation)."""
        assert self.module is not None, self.name
        name, args, kwargs = self.module(a, inplace)
        return nn_class(name)(*args, **kwargs)

    def source(self, a: Attrs, inplace: bool = False) -> str:
        """The constructor :meth:`build` calls, as source: ``nn.Conv2d(3, 64, kernel_size=3)``."""
        assert self.module is not None, self.name
        return _render(self.module(a, inplace))

    def call(self, a: Attrs, *inputs: Any) -> Any:
        """A functional kind's output for ``inputs`` (tensors, or fx proxies to trace)."""
        assert self.fn is not None, self.name
        return self.fn(a, *inputs)

    def code(self, a: Attrs, *names: str) -> str:
        """:meth:`call` as a source expression over variables ``names``."""
        assert self.expr is not None, self.name
        return self.expr(a, *names)

    def count(self, module: nn.Module, x: Tensor, y: Tensor) -> int:
        """Multiply-adds of a live module of this kind that read ``x`` and gave ``y``
        (batch 1), by :attr:`macs`, the cost model's own formula."""
        return 0 if self.observe is None else self.macs(self.observe(module, x, y))


# --- the kinds -------------------------------------------------------------------------------


def _conv(a: Attrs, inplace: bool) -> Ctor:
    return ("Conv2d", (a["in_channels"], a["out_channels"]),
            {"kernel_size": _square(a["kernel"]), "stride": a["stride"],
             "padding": _square(a["padding"]), "dilation": a["dilation"], "groups": a["groups"],
             "bias": a["bias"]})


def _conv_params(a: Attrs) -> int:  # C_out * C_in / G * K_h * K_w (+ C_out bias)
    return (a["out_channels"] * (a["in_channels"] // a["groups"]) * math.prod(a["kernel"])
            + (a["out_channels"] if a["bias"] else 0))


def _conv_macs(a: Attrs) -> int:  # H' * W' * C_out * C_in / G * K_h * K_w
    return math.prod(a["out_shape"]) * (a["in_channels"] // a["groups"]) * math.prod(a["kernel"])


def _observe_conv(m: Any, x: Tensor, y: Tensor) -> Attrs:
    return {"in_channels": m.in_channels, "groups": m.groups, "kernel": tuple(m.kernel_size),
            "out_shape": tuple(y.shape[1:])}


def _act(a: Attrs, inplace: bool) -> Ctor:
    cls, may = ACTIVATIONS[a["kind"]]
    return (cls, (), {"inplace": True} if inplace and may else {})


def _pool(cls: str) -> Callable[[Attrs, bool], Ctor]:
    def ctor(a: Attrs, inplace: bool) -> Ctor:
        kwargs = {"stride": a["stride"], "padding": _square(a["padding"]),
                  "ceil_mode": a["ceil_mode"]}
        if "count_include_pad" in a:  # average pooling only
            kwargs["count_include_pad"] = a["count_include_pad"]
        return (cls, (_square(a["kernel"]),), kwargs)
    return ctor


def _pool_macs(a: Attrs) -> int:  # output elements * K_h * K_w
    return math.prod(a["out_shape"]) * math.prod(a["kernel"])


def _observe_pool(m: Any, x: Tensor, y: Tensor) -> Attrs:
    k = m.kernel_size
    return {"kernel": (k, k) if isinstance(k, int) else tuple(k), "out_shape": tuple(y.shape[1:])}


def _linear_params(a: Attrs) -> int:  # C_in * C_out (+ C_out bias)
    return a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0)


def _linear_macs(a: Attrs) -> int:  # output elements * C_in
    return math.prod(a["out_shape"]) * a["in_features"]


def _shuffle(a: Attrs, x: Any) -> Any:
    """ShuffleNet's channel shuffle (Zhang et al., 2018): (B, g*c, H, W) -> (B, g, c, H, W)
    -> swap g and c -> (B, c*g, H, W), so each group of the next grouped conv reads from all
    groups of the last."""
    g = a["groups"]
    return x.unflatten(1, (g, a["in_shape"][0] // g)).transpose(1, 2).flatten(1, 2)


_KINDS = (
    Layer("input", "the network's input tensor", placeholder=True),
    Layer("conv", "2-d convolution", module=_conv, params=_conv_params, macs=_conv_macs,
          live=("Conv1d", "Conv2d", "Conv3d"), observe=_observe_conv),
    Layer("bn", "batch normalisation (2 C parameters; running statistics are buffers)",
          module=lambda a, inplace: ("BatchNorm2d", (a["channels"],),
                                     {"eps": a["eps"], "momentum": a["momentum"]}),
          params=lambda a: 2 * a["channels"], folded=True),
    Layer("act", "an activation of ACTIVATIONS, in place when nothing else reads its input",
          module=_act, folded=True, inplace=True),
    Layer("maxpool", "max pooling", module=_pool("MaxPool2d"), macs=_pool_macs,
          live=("MaxPool2d",), observe=_observe_pool),
    Layer("avgpool", "average pooling", module=_pool("AvgPool2d"), macs=_pool_macs,
          live=("AvgPool2d",), observe=_observe_pool),
    Layer("pad", "zero padding (negative amounts crop)",
          module=lambda a, inplace: ("ZeroPad2d", (tuple(a["pads"]),), {})),
    Layer("gap", "global average pooling: (C, H, W) -> (C, 1, 1); reads each input once",
          module=lambda a, inplace: ("AdaptiveAvgPool2d", (1,), {}),
          macs=lambda a: math.prod(a["in_shape"]),
          live=("AdaptiveAvgPool2d",),
          observe=lambda m, x, y: {"in_shape": tuple(x.shape[1:])}),
    Layer("dropout", "dropout", module=lambda a, inplace: ("Dropout", (a["p"],), {}),
          folded=True),
    Layer("linear", "fully connected layer",
          module=lambda a, inplace: ("Linear", (a["in_features"], a["out_features"]),
                                     {"bias": a["bias"]}),
          params=_linear_params, macs=_linear_macs, live=("Linear",),
          observe=lambda m, x, y: {"in_features": m.in_features,
                                   "out_shape": tuple(y.shape[1:])}),
    Layer("flatten", "(C, H, W) -> (C*H*W,)", fn=lambda a, x: _torch().flatten(x, 1),
          expr=lambda a, x: f"torch.flatten({x}, 1)"),
    Layer("add", "elementwise sum of its inputs, left to right",
          fn=lambda a, *xs: functools.reduce(operator.add, xs),
          expr=lambda a, *xs: " + ".join(xs)),
    Layer("mul", "x * gate, a (C, 1, 1) gate broadcast over H and W",
          fn=lambda a, x, gate: x * gate, expr=lambda a, x, gate: f"{x} * {gate}"),
    Layer("concat", "concatenation along channels", fn=lambda a, *xs: _torch().cat(xs, 1),
          expr=lambda a, *xs: f"torch.cat([{', '.join(xs)}], 1)"),
    Layer("zero", "zeros shaped like the input (a node whose every edge is cut)",
          fn=lambda a, x: _torch().zeros_like(x), expr=lambda a, x: f"torch.zeros_like({x})"),
    Layer("shuffle", "ShuffleNet's channel shuffle over `groups` groups", fn=_shuffle,
          expr=lambda a, x: (f"{x}.unflatten(1, ({a['groups']}, "
                             f"{a['in_shape'][0] // a['groups']})).transpose(1, 2).flatten(1, 2)"),
          folded=True),
    Layer("slice", "channels start:stop (ShuffleNetV2's channel split)",
          fn=lambda a, x: x[:, a["start"]:a["stop"]],
          expr=lambda a, x: f"{x}[:, {a['start']}:{a['stop']}]"),
)

LAYERS: dict[str, Layer] = {kind.name: kind for kind in _KINDS}  # name -> kind
LAYER_NAMES: tuple[str, ...] = tuple(LAYERS)  # every kind, in a fixed order
if len(LAYERS) != len(_KINDS):
    raise AssertionError("two layer kinds share a name")
_LIVE = [t for kind in _KINDS for t in kind.live]
if len(set(_LIVE)) != len(_LIVE):
    raise AssertionError("two layer kinds claim the same live module type")


def kind_of(a: Attrs) -> Layer:
    """The kind of the node with attributes ``a``."""
    return LAYERS[a["op"]]


@functools.cache
def _live_types() -> tuple[tuple[Layer, tuple[type[nn.Module], ...]], ...]:
    """Each kind with live types and those types as classes (resolved once, on first use)."""
    return tuple((kind, tuple(nn_class(n) for n in kind.live)) for kind in _KINDS if kind.live)


def live_kind(module: nn.Module) -> Layer | None:
    """The kind a live module is counted as (an instance of one of a kind's ``live`` types)."""
    return next((kind for kind, types in _live_types() if isinstance(module, types)), None)
