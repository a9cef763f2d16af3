"""``nas controllers``: the controllers (search strategies) with their options.

    nas controllers
    nas search --controller optuna --option sampler=tpe --option n_startup_trials=5
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json
from nas.commands._plugins import config_options, options_text


def add_parser(sub: Any) -> None:
    p = sub.add_parser("controllers", help="list the controllers and their options")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def rows() -> list[dict[str, Any]]:
    # imports networkx, optuna, torch: loaded here, where used, for start-up time
    from controllers.base import CONTROLLERS

    out = []
    for name in CONTROLLERS.names():
        cls = CONTROLLERS.get(name)
        doc = (cls.__doc__ or "").strip()
        out.append({"name": name, "summary": " ".join(doc.split("\n\n")[0].split()),
                    "options": config_options(cls.Config)})
    return out


def run(args: argparse.Namespace) -> int:

    found = rows()
    if args.json:
        print_json(found)
        return 0
    table = Table(title="controllers (nas search --controller NAME --option K=V)",
                  show_lines=True)
    for col in ("controller", "what it does", "options: name=default (type): help"):
        table.add_column(col)
    for row in found:
        table.add_row(row["name"], row["summary"], options_text(row["options"]))
    console().print(table)
    return 0
