"""The exact cost model: parameters, multiply-accumulates and activation memory per layer.

Computed from a :class:`~nas.core.netgraph.NetGraph` alone, with the lectures' formulas (each
layer kind of :mod:`nas.core.layers` holds its own):

* conv: ``params = C_out * C_in * K_h * K_w / G (+ C_out bias)``,
  ``macs = H' * W' * C_out * C_in * K_h * K_w / G`` (multiply-adds, as the lectures count);
* linear: ``params = C_in * C_out (+ C_out)``, ``macs = C_in * C_out``;
* batch norm: ``2 * C`` parameters (its running statistics are buffers), no multiply-adds;
* pooling: ``macs = output elements * K_h * K_w`` (global pooling reads every input once);
* memory: ``output elements * 4 bytes`` (float32, one image).

The printed table follows the lectures' layout: batch norm, activations, dropout and channel
shuffles (the kinds marked ``folded``) are folded into the row of the layer they follow
(conv + bn + relu is one row, as the lectures draw it), so parameters still sum exactly to the
module's ``numel`` total.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nas.core.layers import kind_of
from nas.core.netgraph import NetGraph

BYTES_PER_ELEMENT = 4  # float32 activations


def _renamed(counts: Row | Totals, what: str) -> int:
    """``counts.macs``, read under its old name ``flops`` (Row and Totals are public: a
    script may still read the old attribute; it works, with a DeprecationWarning)."""
    warnings.warn(f"{what}.flops is renamed {what}.macs (multiply-adds per image)",
                  DeprecationWarning, stacklevel=3)
    return counts.macs


def node_params(a: Mapping[str, Any]) -> int:
    """Parameters of the node with attributes ``a``, by its kind's formula."""
    return kind_of(a).params(a)


def node_macs(a: Mapping[str, Any]) -> int:
    """Multiply-adds of the node with attributes ``a`` for one image, by its kind's formula."""
    return kind_of(a).macs(a)


@dataclass
class Row:
    """One line of the lecture's table (sizes are for one image)."""

    layer: str  # qualified module name, e.g. "layer1.0.conv1"
    op: str  # the layer kind (nas.core.layers): conv, linear, maxpool, gap, concat ...
    in_c: int
    in_hw: str  # "56" or "56x28"; "" after flatten
    filters: int | None
    kernel: str  # "3" or "1x7"
    stride: int | None
    pad: str
    out_c: int
    out_hw: str
    memory: int  # bytes of this row's output
    params: int
    macs: int  # multiply-accumulates

    @property
    def memory_kb(self) -> float:
        return self.memory / 1024

    @property
    def flops(self) -> int:
        """Deprecated: the old name of :attr:`macs` (they are multiply-adds, not FLOPs)."""
        return _renamed(self, "Row")


@dataclass
class Totals:
    params: int
    macs: int  # multiply-accumulates
    memory: int  # bytes: sum of every row's output (one image, forward)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """``params`` and ``macs`` as an evaluator's metrics carry them (floats, the keys of
        :meth:`nas.training.result.Result.metrics`)."""
        return {"params": float(self.params), "macs": float(self.macs)}

    @property
    def flops(self) -> int:
        """Deprecated: the old name of :attr:`macs` (they are multiply-adds, not FLOPs)."""
        return _renamed(self, "Totals")


def _hw(shape: tuple[int, ...]) -> str:
    if len(shape) < 3:
        return ""
    h, w = shape[1], shape[2]
    return str(h) if h == w else f"{h}x{w}"


def _k(v: tuple[int, int] | None) -> str:
    if v is None:
        return ""
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def layer_table(net: NetGraph) -> list[Row]:
    """The lecture's per-layer table, in network order."""
    rows: list[Row] = []
    row_of: dict[str, Row] = {}
    for node, a in net.graph.nodes(data=True):
        kind = kind_of(a)
        if kind.placeholder:
            continue
        if kind.folded:
            src = a["inputs"][0]
            row = row_of.get(src)
            if row is not None:
                row.params += node_params(a)
                row.macs += node_macs(a)
                row_of[node] = row
                continue
        in_shape = a["in_shape"] or ()
        out_shape = a["out_shape"]
        row = Row(
            layer=node, op=kind.name,
            in_c=in_shape[0] if in_shape else 0, in_hw=_hw(in_shape),
            filters=a.get("out_channels", a.get("out_features")),
            kernel=_k(a.get("kernel")), stride=a.get("stride"), pad=_k(a.get("padding")),
            out_c=out_shape[0], out_hw=_hw(out_shape),
            memory=math.prod(out_shape) * BYTES_PER_ELEMENT,
            params=node_params(a), macs=node_macs(a),
        )
        rows.append(row)
        row_of[node] = row
    return rows


def totals(net: NetGraph) -> Totals:
    rows = layer_table(net)
    return Totals(params=sum(r.params for r in rows), macs=sum(r.macs for r in rows),
                  memory=sum(r.memory for r in rows))


def table_dict(net: NetGraph) -> dict[str, Any]:
    """The table and totals as plain JSON data (exact integers)."""
    return {
        "input": list(net.input_shape),
        "output": list(net.output_shape),
        "layers": [{**asdict(r), "memory_kb": round(r.memory_kb, 1)} for r in layer_table(net)],
        "totals": totals(net).as_dict(),
    }
