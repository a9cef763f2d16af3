"""The names measurements go by, and the old names that runs written earlier still use.

A network's multiply-adds per image (multiply-accumulates, MACs: half the FLOPs that
``torch.utils.flop_counter`` counts, since it counts a multiply-add as two) are stored under
``macs``. nas used to store them under ``flops``; run directories, studies, ``nas compare``
results, checkpoints and proxy score files written then still have that key. They stay
readable through the one function here: every reader of a stored record passes it through
:func:`current` (keys), and a name given on input (``--cost flops``, a proxy called ``flops``)
through :func:`metric_name`. Nothing writes an old name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Keys and names earlier versions of nas wrote -> what they are called now (``search_*``:
#: the search-time metrics ``nas export`` copies into a checkpoint).
RENAMED: dict[str, str] = {"flops": "macs", "search_flops": "search_macs"}


def metric_name(name: str) -> str:
    """The current name of the metric (or proxy) ``name``; an old name is accepted."""
    return RENAMED.get(name, name)


def current(record: Mapping[str, Any], nested: Sequence[str] = ()) -> dict[str, Any]:
    """``record`` (a metrics dict, a trial's attributes, a stored result or table row) with
    each key an earlier nas wrote under its current name, in place (the key order is kept).
    A record that has both names keeps the current one's value. The top level is renamed,
    and the records under the keys ``nested`` (a trial's ``metrics`` and ``result``) too."""
    out = {RENAMED.get(k, k): v for k, v in record.items()
           if not (k in RENAMED and RENAMED[k] in record)}
    for key in nested:
        if isinstance(out.get(key), Mapping):
            out[key] = current(out[key])
    return out
