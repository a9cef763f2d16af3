"""``nas show``: the lecture's per-layer table for a baseline or a genome file."""

from __future__ import annotations

import argparse
from typing import Any

from nas.commands._common import (
    console,
    load_genome_or_baseline,
    parse_input_shape,
    parse_options,
    print_json,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("show", help="per-layer shapes, memory, params and FLOPs of a network")
    p.add_argument("network", help="a baseline name (see `nas baselines`) or a genome .json")
    p.add_argument("--input", default="224", help="input size: 224 or CxHxW (default 224)")
    p.add_argument("--classes", type=int, default=1000, help="number of classes (1000)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="a network-level space option, e.g. cells=2 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON (exact integers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from nas.core.cost import layer_table, table_dict, totals

    label, net = load_genome_or_baseline(args.network, parse_options(args.space_option))
    graph = net.graph(parse_input_shape(args.input), args.classes)
    if args.json:
        print_json({"network": label, "genome": net.genome.to_dict(), **table_dict(graph)})
        return 0
    table = Table(title=f"{label} ({net.genome.space}) at "
                        f"{'x'.join(map(str, graph.input_shape))}, {args.classes} classes")
    cols = ("layer", "C", "H/W", "filters", "kernel", "stride", "pad", "C out", "H/W out",
            "memory (KB)", "params (k)", "flop (M)")
    for col in cols:
        table.add_column(col, justify="left" if col == "layer" else "right")

    def opt(v: object) -> str:
        return "" if v is None else str(v)

    for r in layer_table(graph):
        table.add_row(r.layer, str(r.in_c), r.in_hw, opt(r.filters), r.kernel, opt(r.stride),
                      r.pad, str(r.out_c), r.out_hw, f"{r.memory_kb:,.0f}",
                      f"{r.params / 1e3:,.0f}", f"{r.flops / 1e6:,.0f}")
    t = totals(graph)
    table.add_section()
    table.add_row("total", "", "", "", "", "", "", "", "", f"{t.memory / 1024:,.0f}",
                  f"{t.params / 1e3:,.0f}", f"{t.flops / 1e6:,.0f}")
    out = console()
    out.print(table)
    out.print(f"parameters: {t.params:,} ({t.params}); multiply-adds: {t.flops:,}; "
              f"activation memory: {t.memory / 2**20:.1f} MB per image (forward)")
    return 0
