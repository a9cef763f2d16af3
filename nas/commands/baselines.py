"""``nas baselines``: the classics, as fixed genomes, with their exact costs."""

from __future__ import annotations

import argparse
from typing import Any

from nas.commands._common import console, parse_input_shape, print_json


def add_parser(sub: Any) -> None:
    p = sub.add_parser("baselines", help="list the classic networks with params and FLOPs")
    p.add_argument("--input", default="224", help="input size: 224 or CxHxW (default 224)")
    p.add_argument("--classes", type=int, default=1000, help="number of classes (1000)")
    p.add_argument("--json", action="store_true", help="print JSON (exact integers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from nas.core.cost import totals
    from nas.core.space import get_baseline, list_baselines

    shape = parse_input_shape(args.input)
    rows: list[dict[str, Any]] = []
    for name in list_baselines():
        b = get_baseline(name)
        t = totals(b.graph(shape, args.classes))
        rows.append({"name": name, "space": b.genome.space, "params": t.params,
                     "flops": t.flops, "memory": t.memory, "torchvision": b.torchvision,
                     "genome": b.genome.to_dict(), "space_options": dict(b.space_options),
                     "doc": b.doc})
    if args.json:
        print_json({"input": list(shape), "classes": args.classes, "baselines": rows})
        return 0
    table = Table(title=f"baselines at {'x'.join(map(str, shape))}, {args.classes} classes")
    for col in ("name", "space", "params", "GFLOP (MACs)", "memory (MB)", "torchvision"):
        table.add_column(col, justify="left" if col in ("name", "space", "torchvision")
                         else "right")
    for r in rows:
        table.add_row(r["name"], r["space"], f"{r['params']:,}", f"{r['flops'] / 1e9:.2f}",
                      f"{r['memory'] / 2**20:.1f}", r["torchvision"] or "-")
    console().print(table)
    return 0
