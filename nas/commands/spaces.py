"""``nas spaces``: the registered search spaces, their decisions and sizes."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json


def add_parser(sub: Any) -> None:
    p = sub.add_parser("spaces", help="list the search spaces")
    p.add_argument("--json", action="store_true", help="print JSON (exact integers)")
    p.add_argument("--decisions", action="store_true", help="also list every decision")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.space import get_space, list_spaces

    spaces = [get_space(name) for name in list_spaces()]
    if args.json:
        print_json([{
            "name": s.name, "decisions": len(s.decisions), "size": s.size(),
            "options": s.options,
            "decision_list": [{"name": d.name, "options": list(d.options)}
                              for d in s.decisions],
        } for s in spaces])
        return 0
    out = console()
    table = Table(title="search spaces")
    for col in ("space", "decisions", "size", "network options", "what it searches"):
        table.add_column(col, justify="right" if col in ("decisions", "size") else "left")
    for s in spaces:
        doc = (type(s).__doc__ or "").strip().splitlines()[0] if type(s).__doc__ else ""
        opts = ", ".join(f"{k}={v}" for k, v in s.options.items()) or "-"
        table.add_row(s.name, str(len(s.decisions)), f"{s.size():.3g}", opts, doc)
    out.print(table)
    if args.decisions:
        for s in spaces:
            out.print(f"\n[bold]{s.name}[/bold]")
            for d in s.decisions:
                out.print(f"  {d.name}: {', '.join(map(str, d.options))}")
    return 0
