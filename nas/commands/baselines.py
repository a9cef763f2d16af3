"""``nas baselines``: the classics, as fixed genomes, with their exact costs.

    nas baselines
    nas baselines --input 3x32x32 --classes 10 --family resnet,resnet_cifar
    nas baselines --markdown

Each network is shown at the input it was designed for (ImageNet's 224x224 or 299x299,
CIFAR's 32x32, LeNet-5's 32x32x1) unless ``--input`` / ``--classes`` ask for another; a network
shown at an input it was not designed for is marked, and one that cannot take the input (its
layers shrink the image below 1x1) is listed with the reason instead of its costs.
``--markdown`` prints the README's table: every network at its design input, its exact
parameters and multiply-adds beside the reference (torchvision's, or the paper's).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from nas.commands._common import console, examples, human, parse_input_shape, print_json
from nas.core.errors import NasError
from nas.core.space import Baseline


def add_parser(sub: Any) -> None:
    p = sub.add_parser("baselines", help="list the classic networks with params and MACs",
                       description="List the classic networks (fixed genomes of the spaces) "
                                   "with their exact parameters, multiply-adds and memory.",
                       epilog=examples(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="only these baselines (default: all)")
    p.add_argument("--input", help="input size for every network: 224 or CxHxW (default: "
                                   "each network's design input)")
    p.add_argument("--classes", type=int,
                   help="number of classes (default: each network's design, 1000 or 10)")
    p.add_argument("--family", help="only these families, comma-separated (e.g. resnet,vgg)")
    p.add_argument("--space", help="only genomes of these spaces, comma-separated")
    p.add_argument("--json", action="store_true", help="print JSON (exact integers)")
    p.add_argument("--markdown", action="store_true",
                   help="print the README's table (design inputs, reference numbers)")
    p.set_defaults(func=run)


def _split(text: str | None) -> set[str] | None:
    return {t.strip() for t in text.split(",") if t.strip()} if text else None


def select(names: list[str], families: set[str] | None, spaces: set[str] | None
           ) -> list[Baseline]:
    """The registered baselines, filtered; an unknown name or family is a one-line error."""
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.space import get_baseline, list_baselines

    every = [get_baseline(n) for n in list_baselines()]
    for name in names:
        get_baseline(name)  # raises, listing the known names
    known = {b.group for b in every}
    if families and families - known:
        raise NasError(f"unknown family {sorted(families - known)[0]!r}; known: "
                       f"{', '.join(sorted(known))}")
    return [b for b in every if (not names or b.name in names)
            and (not families or b.group in families)
            and (not spaces or b.genome.space in spaces)]


def baseline_row(b: Baseline, shape: Sequence[int] | None = None,
                 classes: int | None = None) -> dict[str, Any]:
    """One network's costs at ``shape`` / ``classes`` (default: its design), as plain data.

    ``designed_for`` says whether that is the input and class count it was designed for;
    ``error`` is why it cannot take the input (then the costs are None).
    """
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.cost import totals

    shape = tuple(shape or b.input_shape)
    classes = classes or b.num_classes
    row: dict[str, Any] = {
        "name": b.name, "family": b.group, "space": b.genome.space,
        "input": list(shape), "classes": classes,
        "design_input": list(b.input_shape), "design_classes": b.num_classes,
        "designed_for": tuple(shape) == tuple(b.input_shape) and classes == b.num_classes,
        "params": None, "macs": None, "memory": None, "error": None,
        "torchvision": b.torchvision, "paper_params": b.paper_params,
        "paper_macs": b.paper_macs, "genome": b.genome.to_dict(),
        "space_options": dict(b.space_options), "doc": b.doc,
    }
    try:
        t = totals(b.graph(shape, classes))
    except NasError as e:
        row["error"] = str(e)
        return row
    row.update(params=t.params, macs=t.macs, memory=t.memory)
    return row


def torchvision_reference(b: Baseline) -> tuple[int, float | None] | None:
    """torchvision's parameter count (its model built on the meta device, with the baseline's
    ``torchvision_kwargs``) and its published "GFLOPS" (which count multiply-adds: giga-MACs),
    or None without a counterpart."""
    if b.torchvision is None:
        return None
    # Imported here: torchvision's model zoo costs ~1 s to import, only this flag needs it.
    import torch
    import torchvision

    with torch.device("meta"), warnings.catch_warnings():  # GoogLeNet's init-change notice
        warnings.simplefilter("ignore", FutureWarning)
        model = getattr(torchvision.models, b.torchvision)(weights=None, **b.torchvision_kwargs)
    params = sum(p.numel() for p in model.parameters())
    weights = torchvision.models.get_model_weights(b.torchvision)
    ops = weights.DEFAULT.meta.get("_ops")
    return params, ops


def _dims(shape: list[int]) -> str:
    return "x".join(map(str, shape))


def run(args: argparse.Namespace) -> int:
    shape = parse_input_shape(args.input) if args.input else None
    baselines = select(args.names, _split(args.family), _split(args.space))
    if args.markdown:
        print(markdown(baselines))
        return 0
    rows = [baseline_row(b, shape, args.classes) for b in baselines]
    if args.json:
        print_json({"input": list(shape) if shape else None, "classes": args.classes,
                    "baselines": rows})
        return 0
    at = (f"at {_dims(list(shape))}" if shape else "at their design inputs") + (
        f", {args.classes} classes" if args.classes else "")
    table = Table(title=f"baselines {at}")
    for col in ("name", "family", "designed for", "params", "MACs", "memory (MB)",
                "torchvision"):
        table.add_column(col, justify="right" if col in ("params", "MACs", "memory (MB)")
                         else "left", no_wrap=True)
    for r in rows:
        design = f"{_dims(r['design_input'])}, {r['design_classes']}"
        tv = r["torchvision"] or "-"
        if r["error"]:
            table.add_row(f"[red]{r['name']} ![/red]", r["family"], design, "-", "-", "-", tv)
            continue
        mark = "" if r["designed_for"] else " [yellow]*[/yellow]"
        table.add_row(r["name"] + mark, r["family"], design, f"{r['params']:,}",
                      human(r["macs"]), f"{r['memory'] / 2**20:.1f}", tv)
    out = console()
    out.print(table)
    cannot = [r for r in rows if r["error"]]
    shown = sum(1 for r in rows if not r["designed_for"] and not r["error"])
    if shown:
        out.print(f"[yellow]*[/yellow] {shown} of {len(rows)} shown at an input or class count "
                  f"they were not designed for")
    for r in cannot:
        where = r["error"].split(" layer ", 1)[-1]  # "features.12: the image shrinks ..."
        out.print(f"[red]![/red] {r['name']} cannot take {_dims(r['input'])}: layer {where}")
    return 0


def markdown(baselines: list[Baseline]) -> str:
    """The README's table: each network at its design input, ours beside the reference."""


    lines = ["| network | family | designed for | params | reference params | MACs | "
             "reference MACs | reference |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for b in baselines:
        r = baseline_row(b)
        reference = torchvision_reference(b)
        if reference is not None:
            params, gmacs = reference
            ref_params = f"{params:,}"
            ref_macs = "-" if gmacs is None else human(gmacs * 1e9)
            source = f"torchvision `{b.torchvision}`"
        else:
            ref_params, ref_macs = human(b.paper_params), human(b.paper_macs)
            source = "paper" if b.paper_params or b.paper_macs else "-"
        lines.append(f"| {b.name} | {b.group} | {_dims(r['input'])}, {r['classes']} classes "
                     f"| {r['params']:,} | {ref_params} | {human(r['macs'])} | "
                     f"{ref_macs} | {source} |")
    return "\n".join(lines)
