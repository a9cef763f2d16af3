"""Turn a :class:`~nas.core.netgraph.NetGraph` into a standalone, readable PyTorch source file.

The file needs only ``torch``. Every group of layers that the space described under one scope
(a ResNet block ``layer1.0``, a NASNet cell ``cells.3``, a MobileNet block ``features.5``)
becomes an ``nn.Module`` class, one class per distinct structure (so the repeated blocks of a
stage share a class), and the network class wires them together. Submodule paths, hence
``state_dict`` keys, are exactly those of the module :meth:`NetGraph.to_module` builds, so its
weights load into the exported class unchanged. Each layer's constructor or expression is
written by its kind (:mod:`nas.core.layers`), from the same description that compiles it.
"""

from __future__ import annotations

import keyword
import pprint
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nas.core.layers import kind_of
from nas.core.netgraph import NetGraph, may_run_inplace


def _ident(name: str) -> str:
    v = re.sub(r"\W", "_", name)
    if not v or v[0].isdigit() or keyword.iskeyword(v):
        v = "v_" + v
    return v


def _access(path: str) -> str:
    """``layer1.0.conv1`` relative to self -> ``self.layer1["0"]["conv1"]`` style access."""
    head, *rest = path.split(".")
    expr = f"self.{head}" if head.isidentifier() and not keyword.iskeyword(head) else \
        f"getattr(self, {head!r})"
    for part in rest:
        expr += f"[{part!r}]"
    return expr


@dataclass
class _Unit:
    """A class to emit: its layers (relative paths) and forward body."""

    name: str
    inputs: list[str]
    init: list[tuple[str, str]] = field(default_factory=list)  # (relative path, constructor)
    body: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def signature(self) -> tuple[Any, ...]:
        return (tuple(self.inputs), tuple(self.init), tuple(self.body), tuple(self.outputs))


def _containers(paths: Iterable[tuple[str, str]]) -> list[str]:
    """``__init__`` lines building nested ``nn.ModuleDict`` containers for dotted paths."""
    tree: dict[str, Any] = {}
    for path, ctor in paths:
        node = tree
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = ctor

    def render(value: Any, indent: int) -> str:
        if isinstance(value, str):
            return value
        pad = " " * (indent + 4)
        items = ",\n".join(f"{pad}{k!r}: {render(v, indent + 4)}" for k, v in value.items())
        return "nn.ModuleDict({\n" + items + "\n" + " " * indent + "})"

    lines = []
    for key, value in tree.items():
        target = f"self.{key}" if key.isidentifier() and not keyword.iskeyword(key) else None
        rendered = render(value, 8)
        if target:
            lines.append(f"        {target} = {rendered}")
        else:
            lines.append(f"        self.add_module({key!r}, {rendered})")
    return lines


def _boundary(g: Any, members: list[str], output: str) -> tuple[list[str], list[str]]:
    """A block's external inputs (in first-use order) and the members read outside it."""
    inside = set(members)
    inputs: list[str] = []
    for n in members:
        for i in g.nodes[n]["inputs"]:
            if i not in inside and i not in inputs:
                inputs.append(i)
    outputs = [n for n in members
               if n == output or any(s not in inside for s in g.successors(n))]
    return inputs, outputs


def _block_of(name: str, blocks: set[str]) -> str | None:
    parts = name.split(".")
    prefix = ".".join(parts[:2])
    return prefix if len(parts) > 2 and prefix in blocks else None


def generate(net: NetGraph, class_name: str = "Net", header: str = "") -> str:
    """The source of a torch-only module file for ``net``; see the module docstring."""
    g = net.graph
    order = list(g.nodes)
    inplace = {n: may_run_inplace(g, n) for n in order}
    # Blocks: two-level scopes holding at least two layers (``layer1.0``, ``cells.3``).
    counts: dict[str, int] = {}
    for n in order:
        parts = n.split(".")
        if len(parts) > 2:
            counts[".".join(parts[:2])] = counts.get(".".join(parts[:2]), 0) + 1
    blocks = {p for p, c in counts.items() if c >= 2}
    block_nodes: dict[str, list[str]] = {}
    for n in order:
        b = _block_of(n, blocks)
        if b:
            block_nodes.setdefault(b, []).append(n)

    units: dict[tuple[Any, ...], _Unit] = {}  # signature -> class
    block_class: dict[str, _Unit] = {}
    boundary: dict[str, tuple[list[str], list[str]]] = {}  # block -> (inputs, outputs)
    for b, members in block_nodes.items():
        ext_inputs, outputs = boundary[b] = _boundary(g, members, net.output)
        local = {i: f"in_{k}" for k, i in enumerate(ext_inputs)}
        for n in members:
            local[n] = _ident(n[len(b) + 1:])
        unit = _Unit(name="", inputs=[local[i] for i in ext_inputs])
        for n in members:
            rel = n[len(b) + 1:]
            _emit(g.nodes[n], rel, local[n], local, unit, inplace[n])
        unit.outputs = [local[o] for o in outputs]
        sig = unit.signature()
        if sig not in units:
            unit.name = f"{_ident(b.split('.')[0]).capitalize()}Block{len(units)}"
            units[sig] = unit
        block_class[b] = units[sig]

    top = _Unit(name=class_name, inputs=["x"])
    names: dict[str, str] = {}
    emitted: set[str] = set()
    for n in order:
        a = g.nodes[n]
        b = _block_of(n, blocks)
        if kind_of(a).placeholder:
            names[n] = "x"
            continue
        if b is None:
            names[n] = _ident(n)
            _emit(a, n, names[n], names, top, inplace[n])
            continue
        if b in emitted:
            continue
        emitted.add(b)
        unit = block_class[b]
        ext, outs = boundary[b]
        top.init.append((b, f"{unit.name}()"))
        lhs = ", ".join(_ident(o) for o in outs)
        for o in outs:
            names[o] = _ident(o)
        top.body.append(f"{lhs} = {_access(b)}({', '.join(names[i] for i in ext)})")
    top.outputs = [names[net.output]]

    out = [f'"""{header or class_name}\n\nGenerated by nas; needs only torch."""', "",
           "import torch", "from torch import nn", ""]
    for unit in units.values():
        out += ["", *_render(unit), ""]
    out += ["", *_render(top)]
    return "\n".join(out).rstrip() + "\n"


def _emit(a: dict[str, Any], rel: str, var: str, names: dict[str, str], unit: _Unit,
          inplace: bool) -> None:
    """Add the layer at ``rel`` (path inside ``unit``) computing variable ``var``."""
    kind = kind_of(a)
    args = [names[i] for i in a["inputs"]]
    if kind.fn is not None:
        expr = kind.code(a, *args)
    else:
        unit.init.append((rel, kind.source(a, inplace)))
        expr = f"{_access(rel)}({', '.join(args)})"
    unit.body.append(f"{var} = {expr}")


def _render(unit: _Unit) -> list[str]:
    lines = [f"class {unit.name}(nn.Module):",
             "    def __init__(self) -> None:",
             "        super().__init__()"]
    lines += _containers(unit.init) or ["        pass"]
    lines += ["", f"    def forward(self, {', '.join(unit.inputs)}):"]
    lines += [f"        {line}" for line in unit.body]
    lines.append(f"        return {', '.join(unit.outputs)}")
    return lines


def module_file(net: NetGraph, genome: dict[str, Any], weights_file: str | None = None,
                class_name: str = "Net") -> str:
    """A complete module file: the classes, the genome as data, and a ``load()`` helper."""
    title = (f"{net.meta.get('space', 'nas')} network {class_name} for input "
             f"{'x'.join(map(str, net.input_shape))} and {net.output_shape[0]} classes")
    src = generate(net, class_name, header=title)
    src += "\n\nGENOME = " + pprint.pformat(genome, indent=4, sort_dicts=False) + "\n"
    src += f"INPUT_SHAPE = {tuple(net.input_shape)}\n"
    src += (
        "\n\ndef load(weights: str | None = "
        + (f"{weights_file!r}" if weights_file else "None")
        + f") -> {class_name}:\n"
        + '    """Build the network; load the weights file next to this one if given."""\n'
        + f"    model = {class_name}()\n"
        + "    if weights is not None:\n"
        + "        import os\n"
        + "        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), weights)\n"
        + "        model.load_state_dict(torch.load(path, map_location='cpu', "
          "weights_only=True))\n"
        + "    return model\n"
    )
    return src
