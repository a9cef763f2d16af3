"""``nas show``: the lecture's per-layer table for a baseline or a genome file."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import (
    console,
    load_genome_or_baseline,
    parse_input_shape,
    parse_options,
    print_json,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("show", help="per-layer shapes, memory, params and MACs of a network")
    p.add_argument("network", help="a baseline name (see `nas baselines`) or a genome .json")
    p.add_argument("--input", help="input size: 224 or CxHxW (default: a baseline's design "
                                   "input, 3x224x224 for a genome file)")
    p.add_argument("--classes", type=int,
                   help="number of classes (default: a baseline's design, else 1000)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="a network-level space option, e.g. cells=2 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON (exact integers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.cost import layer_table, table_dict, totals
    from nas.core.space import BASELINES

    label, net = load_genome_or_baseline(args.network, parse_options(args.space_option))
    # a genome file is a Baseline without a design: ImageNet's 224x224 and 1000 classes
    shape = parse_input_shape(args.input) if args.input else net.input_shape
    classes = args.classes or net.num_classes
    graph = net.graph(shape, classes)
    designed = tuple(shape) == tuple(net.input_shape) and classes == net.num_classes
    if args.json:
        print_json({"network": label, "genome": net.genome.to_dict(), **table_dict(graph)})
        return 0
    design = "x".join(map(str, net.input_shape))
    table = Table(title=f"{label} ({net.genome.space}) at "
                        f"{'x'.join(map(str, graph.input_shape))}, {classes} classes"
                        + ("" if designed or args.network not in BASELINES else
                           f" [yellow](designed for {design}, {net.num_classes})[/yellow]"))
    cols = ("layer", "C", "H/W", "filters", "kernel", "stride", "pad", "C out", "H/W out",
            "memory (KB)", "params (k)", "MACs (M)")
    for col in cols:
        table.add_column(col, justify="left" if col == "layer" else "right")

    def opt(v: object) -> str:
        return "" if v is None else str(v)

    t = totals(graph)
    # the lectures' units (KB, k, M) with integers, and decimals for a network as small as
    # LeNet-5, whose every layer would otherwise read 0
    kb, k, m = (1 if total < 1000 else 0 for total in (t.memory / 1024, t.params / 1e3,
                                                        t.macs / 1e6))
    for r in layer_table(graph):
        table.add_row(r.layer, str(r.in_c), r.in_hw, opt(r.filters), r.kernel, opt(r.stride),
                      r.pad, str(r.out_c), r.out_hw, f"{r.memory_kb:,.{kb}f}",
                      f"{r.params / 1e3:,.{k}f}", f"{r.macs / 1e6:,.{m}f}")
    table.add_section()
    table.add_row("total", "", "", "", "", "", "", "", "", f"{t.memory / 1024:,.{kb}f}",
                  f"{t.params / 1e3:,.{k}f}", f"{t.macs / 1e6:,.{m}f}")
    out = console()
    out.print(table)
    out.print(f"parameters: {t.params:,} ({t.params}); multiply-adds: {t.macs:,}; "
              f"activation memory: {t.memory / 2**20:.1f} MB per image (forward)")
    return 0
