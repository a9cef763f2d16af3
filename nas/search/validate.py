"""A run's files checked where they are read back: the config, the saved state, the study.

A run folder may come from anywhere (a crash, an older nas, a copy, someone hostile). What
the search driver and the commands that read runs (``nas runs``, ``status``, ``report``,
``export``, ``compare``, ``search --resume``) take from it is validated here, against the
types the code declares, with pydantic (the validation library the options use too:
:mod:`nas.core.config`): an error names the file and the field, in one line.

:func:`search_config` is config.json as a :class:`SearchConfig`; :func:`saved_state` the
driver's state file (state.json) checked for the fields :class:`nas.search.loop.Search`
restores; the controller's own part is checked by the controller (``load_state_dict``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from nas.core.errors import NasError
from nas.search.config import SearchConfig


def _field_error(where: str | Path, e: pydantic.ValidationError) -> NasError:
    """The first of pydantic's errors as one line naming the file and the field."""
    error = e.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "(the whole file)"
    got = repr(error.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    return NasError(f"{where}: {field} cannot be {got}: {error['msg'][0].lower()}"
                    f"{error['msg'][1:]}")


def search_config(data: Any, where: str | Path) -> SearchConfig:
    """The SearchConfig written in ``data`` (config.json's content, read from ``where``).

    Unknown keys are ignored (a newer nas may add some); known ones must have their declared
    type (pydantic converts the lossless cases, e.g. ``3.0`` for an int); then the config's
    own checks (budgets, resources) run, their message prefixed with the file.
    """
    if not isinstance(data, Mapping):
        raise NasError(f"{where}: expected a JSON object of config fields, found a "
                       f"{type(data).__name__}")
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    fields = {k: v for k, v in data.items() if k in names}
    if isinstance(fields.get("early_stop"), bool):  # runs saved when it was on/off
        fields["early_stop"] = "sha" if fields["early_stop"] else None
    try:
        config = pydantic.TypeAdapter(SearchConfig).validate_python(fields)
    except pydantic.ValidationError as e:
        raise _field_error(where, e) from None
    try:
        config.check()
    except NasError as e:
        raise NasError(f"{where}: {e}") from None
    return config


class SavedState(pydantic.BaseModel):
    """The driver's fields of state.json (see :meth:`nas.search.loop.Search.save`)."""

    format: int
    controller: dict[str, Any]  # the controller's own state_dict (it checks it on load)
    evaluator: dict[str, Any] | None = None
    told: list[pydantic.NonNegativeInt]  # trial numbers whose result the controller has
    pending: list[dict[str, Any]]  # genomes proposed, result not told
    elapsed: pydantic.NonNegativeFloat


def saved_state(state: Any, where: str | Path) -> SavedState:
    """``state`` (state.json's content, read from ``where``) checked field by field."""
    try:
        return SavedState.model_validate(state)
    except pydantic.ValidationError as e:
        raise _field_error(where, e) from None


__all__ = ["SavedState", "saved_state", "search_config"]
