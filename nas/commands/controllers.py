"""``nas controllers``: the controllers (search strategies) with their options.

    nas controllers
    nas search --controller optuna --option sampler=tpe --option n_startup_trials=5
"""

from __future__ import annotations

import argparse
from typing import Any

from nas.commands._plugins import config_options, show_plugins


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
    return show_plugins(rows(), "controller", "nas search --controller NAME --option K=V",
                        args.json)
