"""What a plug-in's options are, read from its ``Config`` dataclass: name, type, default, help.

Every plug-in kind (controllers, evaluators) takes its options as a dataclass with a commented
default per field (STYLE.md); the comment is the option's help. It is read from the class's
source: the comment on the field's line, and comment-only lines right below it, which continue
it. A class without readable source (a compiled one, or one defined in a REPL) still lists
its options, without help.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> its comment in ``cls``'s source ({} when the source cannot be read)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    spans: list[tuple[int, int, str]] = []  # (first line, last line, field) of each field
    for node in tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) \
            else []:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            spans.append((node.lineno, node.end_lineno or node.lineno, node.target.id))
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, whether alone on its line)
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            alone = not lines[tok.start[0] - 1][:tok.start[1]].strip()
            comments[tok.start[0]] = (tok.string.lstrip("#").strip(), alone)
    out: dict[str, str] = {}
    for i, (first, last, name) in enumerate(spans):
        parts = [comments[n][0] for n in range(first, last + 1) if n in comments]
        end = spans[i + 1][0] if i + 1 < len(spans) else len(lines) + 1
        line = last + 1
        while line < end and line in comments and comments[line][1]:  # continuation lines
            parts.append(comments[line][0])
            line += 1
        if parts:
            out[name] = " ".join(parts)
    return out


def config_options(cls: type) -> list[dict[str, Any]]:
    """One row per option of the ``Config`` dataclass ``cls``: name, type, default, help."""
    helps = field_comments(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append({"name": f.name, "type": kind, "default": default,
                     "help": helps.get(f.name, "")})
    return rows


def options_text(rows: list[dict[str, Any]]) -> str:
    """Options as lines for a table cell: ``name=default (type): help``."""
    return "\n".join(f"{r['name']}={r['default']!r} ({r['type']})"
                     + (f": {r['help']}" if r["help"] else "") for r in rows) or "-"


def show_plugins(rows: list[dict[str, Any]], kind: str, usage: str, as_json: bool) -> int:
    """Print the plug-ins of one kind (``nas controllers``, ``nas evaluators``): ``rows`` of
    name, summary and options, as JSON or as a table titled ``kind (usage)``."""
    if as_json:
        print_json(rows)
        return 0
    table = Table(title=f"{kind}s ({usage})", show_lines=True)
    for col in (kind, "what it does", "options: name=default (type): help"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["summary"], options_text(row["options"]))
    console().print(table)
    return 0
