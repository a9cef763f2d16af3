"""Options of plug-ins and recipes: typed dataclasses, checked where they enter.

Every plug-in (a controller, an evaluator) and the training recipe keep their options in a
dataclass with a commented default per field. :func:`make_config` builds one from user input
(``--option lr=0.1``, a JSON recipe): an unknown name, or a value of the wrong type, is one
:class:`~nas.core.errors.NasError` line naming the field and the value, never a traceback.
Types are checked by pydantic (a well-kept validation library) against the dataclass's own
annotations, so the annotations are the one place a field's type is written; the dataclass's
``__post_init__`` then checks ranges as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from nas.core.errors import NasError

C = TypeVar("C")


def make_config(cls: type[C], options: Mapping[str, Any], what: str) -> C:
    """``cls(**options)`` with each value checked against its field's annotation.

    ``what`` names the owner in messages, e.g. ``"controller 'rl'"`` or ``"recipe"``.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(names))
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        raise NasError(f"{what} has no option(s) {', '.join(unknown)}; known: {known}")
    try:
        return pydantic.TypeAdapter(cls).validate_python(dict(options))
    except pydantic.ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        if not where:  # raised by __post_init__ (a ValueError): its own message
            raise NasError(f"{what}: {error['msg'].removeprefix('Value error, ')}") from None
        raise NasError(f"{what} {where} cannot be {error['input']!r}: "
                       f"{error['msg'][0].lower()}{error['msg'][1:]}") from None
