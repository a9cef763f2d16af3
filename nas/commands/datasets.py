"""``nas datasets``: the datasets children train on, and the options every one takes.

    nas datasets
    nas search --dataset imagefolder --data-dir ../shared/data/cifar10 --limit 10000
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json

#: The flag of ``nas search`` / ``nas train`` that sets each load_dataset option.
FLAGS = {"data_dir": "--data-dir", "download": "--download (nas train)", "limit": "--limit",
         "seed": "--seed"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("datasets", help="list the datasets and their options")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports torch: loaded here, where used, for start-up time
    from nas.training.data import dataset_options, describe_datasets

    datasets, options = describe_datasets(), dataset_options()
    if args.json:
        print_json({"datasets": datasets,
                    "options": [{**o, "flag": FLAGS.get(str(o["name"]))} for o in options]})
        return 0
    out = console()
    table = Table(title="datasets (nas search --dataset NAME, nas train --dataset NAME)")
    for col in ("dataset", "what it is"):
        table.add_column(col)
    for row in datasets:
        table.add_row(row["name"], row["summary"])
    out.print(table)
    opts = Table(title="options of every dataset")
    for col in ("option", "type", "default", "flag"):
        opts.add_column(col)
    for o in options:
        opts.add_row(str(o["name"]), str(o["type"]), repr(o["default"]),
                     FLAGS.get(str(o["name"]), "-"))
    out.print(opts)
    return 0
