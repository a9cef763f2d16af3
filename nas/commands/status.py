"""``nas status RUN``: one run: its config, the best genomes with their cost, the failures."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json
from nas.core.fmt import duration, human
from nas.search.store import run_status


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="one run: best genomes and their cost, failures")
    p.add_argument("run", help="the run's name (see `nas runs`)")
    p.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    p.add_argument("--top", type=int, default=5, help="best genomes to show (5)")
    p.add_argument("--json", action="store_true", help="print JSON (with the genomes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    status = run_status(args.runs_dir, args.run, top=args.top)
    if args.json:
        print_json(status)
        return 0
    out = console()
    c, s = status["config"], status
    judged = c.get("evaluator", "train")
    how = (f"trained on {c['dataset']}, {c['epochs']:g} epoch(s) per child"
           if judged == "train" else f"judged by the {judged} evaluator")
    out.print(f"[bold]{s['name']}[/]  {s['state']}  {c['space']} / {c['controller']}, {how}")
    budget = f"/{c['trials']}" if c.get("trials") is not None else ""
    out.print(f"children {s['done']}{budget}: {s['counts'].get('ok', 0)} ok, "
              f"{s['failed']} failed, {s['counts'].get('pruned', 0)} pruned, "
              f"{s['interrupted']} interrupted (trained again); {duration(s['elapsed'])}; "
              f"study {s['storage']}")
    prefiltered = c.get("prefilter") is not None
    if prefiltered:
        out.print(f"prefilter: {c['prefilter_cells']} random cells scored with "
                  f"{c['prefilter']}, the best {c['prefilter_top']} judged first (column "
                  f"'proxy rank'); the ranking below is by the evaluator's results")
    table = Table(title=f"best {len(s['best'])}")
    columns = ("trial", "accuracy", *(("proxy rank",) if prefiltered else ()), "params",
               "MACs", "latency", "genome")
    for col in columns:
        table.add_column(col, justify="left" if col == "genome" else "right", no_wrap=True)
    table.add_column("decisions (whole genomes: --json)", no_wrap=True, overflow="ellipsis",
                     max_width=50)
    for b in s["best"]:
        values = ", ".join(f"{k}={v}" for k, v in b["genome"]["values"].items())
        latency = b.get("latency_ms")
        result = (f"{b['accuracy']:.2f}%" if b["accuracy"] is not None
                  else f"{b.get('measure')} {b['reward']:.4g}")  # a proxy's score
        rank = [str((b.get("prefilter") or {}).get("rank", "-"))] if prefiltered else []
        table.add_row(str(b["trial"]), result, *rank, human(b.get("params")),
                      human(b.get("macs")), "-" if latency is None else f"{latency:.2f}ms",
                      b["genome_id"], values)
    out.print(table)
    if s["failures"]:
        fails = Table(title=f"failures ({len(s['failures'])})")
        for col in ("trial", "status", "genome", "message"):
            fails.add_column(col, justify="right" if col == "trial" else "left")
        for f in s["failures"]:
            fails.add_row(str(f["trial"]), f["status"], f["genome_id"], f["message"][:100])
        out.print(fails)
    return 0
