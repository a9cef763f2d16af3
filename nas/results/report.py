"""``nas report``: one run as an HTML page and a Markdown file, with PNG plots.

What a reader of a search wants to see, in order:

1. the run: space, controller, dataset, budget, children done and failed, time spent;
2. how the search went: the best validation accuracy so far, over children and over wall-clock
   time (did it still improve at the end?);
3. what it cost: accuracy against parameters and multiply-adds (MACs) of every child, with
   the Pareto front;
4. for ``rl``: the policy's entropy over time (has the controller converged?), from the
   per-update record the controller describes itself with (``history`` in the public
   ``describe`` of its saved state: :meth:`controllers.base.Controller.describe`);
5. the best genomes: their numbers, their learning curves, and the architecture itself --
   cell diagrams where the space has cells (:meth:`nas.space.Space.cells`), the per-layer
   table otherwise;
6. if ``nas compare`` has run: its table and plots.

Everything is read, nothing is written to the run except ``report/`` (the default output).
The cost is linear in the number of trials: one pass over the study, plus a fixed number of
plots and of drawings (the top ``K``).
"""

from __future__ import annotations

import html
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.core.errors import NasError
from nas.core.fmt import count, duration, percent
from nas.core.genome import Genome
from nas.core.metrics import current
from nas.core.safe import check_dir
from nas.core.space import Space, create_space
from nas.core.statefile import read_json
from nas.results.runs import COMPARE_DIR, ranked_trials, run_input, run_records
from nas.search.store import run_config, run_status

if TYPE_CHECKING:
    from nas.core.netgraph import Shape
    from nas.search.store import RunDir, TrialRecord

REPORT_DIR = "report"
FORMATS = ("html", "md")


@dataclass
class Figure:
    """One image in the report: its file (next to the report) and what it shows."""

    path: Path
    caption: str


@dataclass
class Table:
    """A table as plain strings: rendered as HTML and as Markdown alike."""

    columns: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # right-aligned (numeric) columns


@dataclass
class Section:
    """A heading with paragraphs, tables, figures and collapsible details, in that order."""

    title: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    details: list[tuple[str, Table]] = field(default_factory=list)  # (summary, table)
    subsections: list[Section] = field(default_factory=list)


@dataclass
class ReportResult:
    directory: Path
    files: dict[str, Path]  # "html" / "md" -> path
    images: list[Path]


Step = Callable[[str], None]


# --- reading the run -------------------------------------------------------------------------


def finished_in_order(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The finished children in the order their results arrived (finish time, then number)."""
    done = [r for r in records if r.finished]
    return sorted(done, key=lambda r: (float(r.attrs.get("finished_at") or math.inf), r.number))


def start_time(records: Sequence[TrialRecord]) -> float | None:
    """When the first child started (the zero of every time axis), if known."""
    times = [float(r.attrs["started_at"]) for r in records if r.attrs.get("started_at")]
    return min(times) if times else None


def controller_description(run: RunDir) -> dict[str, Any]:
    """What the run's controller says about itself for reports: the public ``describe`` part
    of the saved state (never the controller's own part); {} if there is none yet."""
    state = run.load_state()
    described = (state or {}).get("controller", {})
    described = described.get("describe", {}) if isinstance(described, dict) else {}
    return described if isinstance(described, dict) else {}


def controller_history(run: RunDir) -> list[dict[str, float]]:
    """The rl controller's per-update record (``history`` in its description; [] if none):
    the records with a number for each of update, time, entropy and baseline."""
    history = controller_description(run).get("history", [])
    if not isinstance(history, list):
        return []
    return [h for h in history if isinstance(h, dict) and all(
        isinstance(h.get(k), int | float) for k in ("update", "time", "entropy", "baseline"))]


def max_entropy(space: Space) -> float:
    """The entropy of the uniform policy, summed over decisions: sum of log(options), nats."""
    return sum(math.log(len(d.options)) for d in space.decisions)


# --- the sections ----------------------------------------------------------------------------


def _with_options(name: str, options: Mapping[str, Any] | None) -> str:
    """``nasnet`` and {"width": 8} -> ``nasnet (width=8)``."""
    if not options:
        return name
    return f"{name} ({', '.join(f'{k}={v}' for k, v in options.items())})"


def overview(status: Mapping[str, Any]) -> Section:
    c = status["config"]
    budget = [f"{c['trials']} children" if c.get("trials") else None,
              duration(c["time_budget"]) if c.get("time_budget") else None]
    counts = status["counts"]
    rows = [
        ["space", _with_options(c["space"], c.get("space_options"))],
        ["controller", _with_options(c["controller"], c.get("controller_options"))],
        ["dataset", f"{c['dataset']}" + (f" (limit {c['limit']})" if c.get("limit") else "")],
        ["epochs per child", f"{c['epochs']:g}"],
        ["budget", ", ".join(b for b in budget if b) or "-"],
        ["state", str(status["state"])],
        ["children", f"{status['done']} finished: {counts.get('ok', 0)} ok, "
                     f"{counts.get('pruned', 0)} pruned, {status['failed']} failed"],
        ["time", duration(status["elapsed"])],
        ["best accuracy", percent(status["best"][0]["accuracy"]) + " %" if status["best"]
         else "-"],
    ]
    return Section("Run", tables=[Table(["", ""], rows)])


def progress_section(records: Sequence[TrialRecord], out: Path, step: Step) -> Section:
    # imports PIL, matplotlib: loaded here, where used, for start-up time
    from nas.results.plots import best_so_far

    order = finished_in_order(records)
    section = Section("Search progress")
    if not order:
        section.text.append("No child has finished yet.")
        return section
    accuracies = [r.accuracy if r.state == "COMPLETE" else None for r in order]
    step("best so far over children")
    section.figures.append(Figure(best_so_far(
        list(range(1, len(order) + 1)), accuracies, out / "best_so_far_trials.png",
        xlabel="children finished", title="best validation accuracy over children"),
        "Best validation accuracy so far, by children finished (grey: each child; "
        "crosses: failed children)."))
    t0 = start_time(order)
    times = [r.attrs.get("finished_at") for r in order]
    if t0 is not None and all(t is not None for t in times):
        step("best so far over time")
        minutes = [(float(t) - t0) / 60 for t in times if t is not None]
        section.figures.append(Figure(best_so_far(
            minutes, accuracies, out / "best_so_far_time.png",
            xlabel="minutes since the first child started (wall clock)",
            title="best validation accuracy over time"),
            "Best validation accuracy so far, by wall-clock time (a resumed run shows its "
            "pause as a gap)."))
    return section


def cost_section(records: Sequence[TrialRecord], top: Sequence[TrialRecord], out: Path,
                 step: Step) -> Section:
    # imports PIL, matplotlib: loaded here, where used, for start-up time
    from nas.results.plots import Point, accuracy_vs_cost

    section = Section("Accuracy and cost")
    ok = [r for r in records if r.state == "COMPLETE" and r.accuracy is not None]
    if not ok:
        section.text.append("No child has completed yet.")
        return section
    for key, label in (("params", "parameters"), ("macs", "multiply-adds per image"),
                       ("latency_ms", "latency, batch 1 (ms)")):
        pairs = [(float(r.attrs[key]), float(r.accuracy or 0.0)) for r in ok
                 if isinstance(r.attrs.get(key), int | float) and r.attrs[key] > 0]
        if not pairs:
            continue
        step(f"accuracy vs {key}")
        points = [Point(f"trial {r.number}", float(r.attrs[key]), float(r.accuracy or 0.0))
                  for r in top if isinstance(r.attrs.get(key), int | float)]
        path = accuracy_vs_cost(points, out / f"accuracy_vs_{key}.png", cost_label=label,
                                accuracy_label="validation accuracy (%)", background=pairs,
                                title=f"every child: accuracy vs {label}",
                                found_label=f"best {len(top)}")
        section.figures.append(Figure(path, f"Validation accuracy against {label} of every "
                                            "completed child (grey), the best ones named; the "
                                            "green steps are the Pareto front."))
    return section


def entropy_section(run: RunDir, space: Space, t0: float | None, out: Path,
                    step: Step) -> Section | None:
    """The rl policy's entropy per update, over time; None for other controllers."""
    # imports PIL, matplotlib: loaded here, where used, for start-up time
    from nas.results.plots import series

    if run_config(run).controller != "rl":
        return None
    section = Section("Controller entropy")
    try:
        history = controller_history(run)
    except NasError as e:  # the rest of the report does not need the state
        section.text.append(f"The controller's saved state cannot be read: {e}")
        return section
    if not history:
        section.text.append("The controller has not updated its policy yet (or this run was "
                            "saved by a version of nas that did not record its entropy).")
        return section
    step("controller entropy")
    base = t0 if t0 is not None else history[0]["time"]
    xs = [(h["time"] - base) / 60 for h in history]
    top = max_entropy(space)
    path = series({"policy entropy": (xs, [h["entropy"] for h in history]),
                   "uniform policy": ([xs[0], xs[-1]], [top, top])},
                  out / "controller_entropy.png",
                  xlabel="minutes since the first child started",
                  ylabel="entropy (nats, summed over decisions)",
                  title="rl controller: policy entropy per update")
    section.figures.append(Figure(path, "Entropy of the policy at each REINFORCE update "
                                        "(mean over the update's batch, summed over all "
                                        "decisions); it falls as the controller becomes "
                                        "certain. The flat line is the uniform policy."))
    last = history[-1]
    section.text.append(f"{len(history)} updates; last entropy {last['entropy']:.2f} nats of "
                        f"{top:.2f} ({100 * last['entropy'] / top:.0f} % of uniform), reward "
                        f"baseline {last.get('baseline', float('nan')):.3f}.")
    return section


def best_section(run: RunDir, top: Sequence[TrialRecord], out: Path, step: Step) -> Section:
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.cost import layer_table
    from nas.results.diagrams import draw_genome
    from nas.results.plots import Curve, learning_curves

    options = dict(run_config(run).space_options)
    section = Section(f"Best {len(top)} architectures")
    if not top:
        section.text.append("No child has completed yet.")
        return section
    section.tables.append(Table(
        ["rank", "trial", "val accuracy %", "params", "MACs", "latency ms", "child s",
         "genome"],
        [[str(i + 1), str(r.number), percent(r.accuracy), count(r.attrs.get("params")),
          count(r.attrs.get("macs")), percent(r.attrs.get("latency_ms")),
          percent(r.attrs.get("seconds")), r.genome.id] for i, r in enumerate(top)],
        right={0, 1, 2, 3, 4, 5, 6}))
    curves = [Curve(f"trial {r.number}", [float(v) for v in r.attrs["result"]["val_top1"]])
              for r in top if isinstance(r.attrs.get("result"), dict)
              and r.attrs["result"].get("val_top1")]
    if curves:
        step("learning curves")
        section.figures.append(Figure(
            learning_curves(curves, out / "best_learning_curves.png",
                            title="best children: validation accuracy per epoch"),
            "Validation accuracy per epoch of the best children during the search."))
    space = create_space(run_config(run).space, **options)
    spec: tuple[Shape, int] | None = None
    for i, r in enumerate(top):
        step(f"drawing trial {r.number}")
        sub = Section(f"{i + 1}. trial {r.number}: {percent(r.accuracy)} % ({r.genome.id})")
        sub.details.append(("decisions", genome_table(r.genome)))
        png = draw_genome(r.genome, out / f"trial_{r.number}.cells.png", space_options=options,
                          title=f"trial {r.number} ({r.genome.id})")
        if png is not None:
            sub.figures.append(Figure(png, f"The cells of trial {r.number}."))
        else:
            spec = spec or run_input(run)  # recorded by the search: the data are not loaded
            rows = layer_table(space.graph(r.genome, *spec))
            sub.details.append((f"layers ({len(rows)})", Table(
                ["layer", "C in", "H/W in", "kernel", "stride", "C out", "H/W out", "params",
                 "MACs"],
                [[x.layer, str(x.in_c), x.in_hw, x.kernel, "" if x.stride is None else
                  str(x.stride), str(x.out_c), x.out_hw, count(x.params), count(x.macs)]
                 for x in rows], right={1, 4, 5, 7, 8})))
        section.subsections.append(sub)
    return section


def genome_table(genome: Genome) -> Table:
    return Table(["decision", "value"], [[k, str(v)] for k, v in genome.values])


def compare_section(run: RunDir, out: Path) -> Section | None:
    """The ``nas compare`` table and plots, if the run has been compared."""
    # imports networkx: loaded here, where used, for start-up time
    from nas.results.compare import COLUMNS, PLOTS, Row, settings_budget, table_cells

    directory = run.path / COMPARE_DIR
    if not (directory / "summary.json").is_file():
        return None
    summary = read_json(directory / "summary.json")
    s = summary["settings"]
    # rows of an older nas: the fields it did not have None, the keys it named otherwise renamed
    rows = [Row(**current(row)) for row in summary["rows"]]
    section = Section("Retrained against baselines (nas compare)")
    section.text.append(f"Trained from scratch for {settings_budget(s)} on "
                        f"{s['data']['summary']}, seeds {', '.join(map(str, s['seeds']))}; "
                        f"test accuracy is the mean ± sample standard deviation over seeds.")
    section.tables.append(Table(list(COLUMNS), [table_cells(r) for r in rows],
                                right=set(range(2, len(COLUMNS)))))
    for name in PLOTS.values():
        if (directory / name).is_file():
            section.figures.append(Figure(directory / name, name.removesuffix(".png")
                                          .replace("_", " ")))
    return section


# --- rendering -------------------------------------------------------------------------------


def _rel(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path, out)).as_posix()


def render_markdown(title: str, sections: Sequence[Section], out: Path) -> str:
    lines = [f"# {title}", ""]

    def table(t: Table) -> None:
        def cell(v: str) -> str:
            return v.replace("|", "\\|").replace("\n", " ")

        lines.append("| " + " | ".join(cell(c) or " " for c in t.columns) + " |")
        lines.append("| " + " | ".join("---:" if i in t.right else "---"
                                       for i in range(len(t.columns))) + " |")
        lines.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in t.rows)
        lines.append("")

    def section(s: Section, level: int) -> None:
        lines.extend([f"{'#' * level} {s.title}", ""])
        for text in s.text:
            lines.extend([text, ""])
        for t in s.tables:
            table(t)
        for f in s.figures:
            lines.extend([f"![{f.path.stem}]({_rel(f.path, out)})", "", f"*{f.caption}*", ""])
        for summary, t in s.details:
            lines.extend([f"**{summary}**", ""])
            table(t)
        for sub in s.subsections:
            section(sub, level + 1)

    for s in sections:
        section(s, 2)
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
"""


def render_html(title: str, sections: Sequence[Section], out: Path) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<h1>{e(title)}</h1>"]

    def table(t: Table) -> None:
        parts.append("<table>")
        if any(t.columns):
            parts.append("<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in t.columns)
                         + "</tr></thead>")
        parts.append("<tbody>")
        for row in t.rows:
            cells = "".join(f'<td class="num">{e(v)}</td>' if i in t.right else f"<td>{e(v)}</td>"
                            for i, v in enumerate(row))
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")

    def section(s: Section, level: int) -> None:
        parts.append(f"<section><h{level}>{e(s.title)}</h{level}>")
        parts.extend(f"<p>{e(text)}</p>" for text in s.text)
        for t in s.tables:
            table(t)
        for f in s.figures:
            parts.append(f'<figure><img src="{e(_rel(f.path, out))}" alt="{e(f.caption)}">'
                         f"<figcaption>{e(f.caption)}</figcaption></figure>")
        for summary, t in s.details:
            parts.append(f"<details><summary>{e(summary)}</summary>")
            table(t)
            parts.append("</details>")
        for sub in s.subsections:
            section(sub, min(level + 1, 6))
        parts.append("</section>")

    for s in sections:
        section(s, 2)
    parts += [f"<footer><p>Written by nas report on {e(time.strftime('%Y-%m-%d %H:%M:%S'))}"
              "</p></footer>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


# --- the whole report ------------------------------------------------------------------------


def build_report(run: RunDir, out: str | Path | None = None, *, top: int = 5,
                 formats: Sequence[str] = FORMATS, step: Step | None = None) -> ReportResult:
    """Write the report of ``run`` to ``out`` (default ``<run>/report``); see the module doc.

    ``step(description)`` is called before each slow part (plots, drawings), for progress.
    """

    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise NasError(f"--format {','.join(formats)!r}: choose from {', '.join(FORMATS)}")
    if top < 1:
        raise NasError(f"--top must be at least 1, got {top}")
    step = step or (lambda _: None)
    directory = check_dir(out if out is not None else run.path / REPORT_DIR, "--out")
    step("reading the study")
    status = run_status(run.path.parent, run.name, top=top)  # a damaged run fails here,
    records = run_records(run)  # before the report folder is made
    best = ranked_trials(records)[:top]
    config = status["config"]
    if best:  # what drawing the best needs: checked before any file is written
        from nas.results.runs import run_input

        run_input(run)
        checked = create_space(config["space"], **dict(config.get("space_options") or {}))
        for r in best:
            checked.validate(r.genome)
    directory.mkdir(parents=True, exist_ok=True)
    space = create_space(config["space"], **dict(config.get("space_options") or {}))

    sections = [overview(status), progress_section(records, directory, step),
                cost_section(records, best, directory, step)]
    entropy = entropy_section(run, space, start_time(records), directory, step)
    if entropy is not None:
        sections.append(entropy)
    sections.append(best_section(run, best, directory, step))
    compared = compare_section(run, directory)
    if compared is not None:
        sections.append(compared)

    title = f"nas report: {run.name}"
    files: dict[str, Path] = {}
    step("writing")
    if "html" in formats:
        files["html"] = directory / "index.html"
        files["html"].write_text(render_html(title, sections, directory))
    if "md" in formats:
        files["md"] = directory / "report.md"
        files["md"].write_text(render_markdown(title, sections, directory))
    return ReportResult(directory, files, [f.path for f in _figures(sections)])


def _figures(sections: Sequence[Section]) -> list[Figure]:
    out: list[Figure] = []
    for s in sections:
        out += s.figures + _figures(s.subsections)
    return out
