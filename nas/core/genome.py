"""A genome: plain, frozen, hashable data naming one architecture of one space.

It holds the space's name and one value per decision, in the space's decision order; values
are JSON scalars (str, int, float, bool), so a genome round-trips through JSON exactly and its
id (a hash of that JSON) is stable across processes and machines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.core.errors import GenomeError, NasError
from nas.core.safe import parse_json, read_bytes

Value = str | int | float | bool


@dataclass(frozen=True)
class Genome:
    space: str  # the registered name of the space this genome belongs to
    values: tuple[tuple[str, Value], ...]  # (decision name, chosen option), in decision order

    @classmethod
    def of(cls, space: str, values: Mapping[str, Value]) -> Genome:
        """A genome from a mapping (kept in the mapping's order; validate with the space)."""
        return cls(space, tuple(values.items()))

    def __getitem__(self, name: str) -> Value:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(f"{self.space} genome has no decision {name!r}")

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.values)

    def as_dict(self) -> dict[str, Value]:
        return dict(self.values)

    def replace(self, **changes: Value) -> Genome:
        """A copy with some decisions changed (names must exist)."""
        unknown = set(changes) - set(self)
        if unknown:
            raise GenomeError(f"{self.space} genome has no decision(s) {sorted(unknown)}")
        return Genome(self.space, tuple((k, changes.get(k, v)) for k, v in self.values))

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "values": self.as_dict()}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @property
    def id(self) -> str:
        """A stable short id: the first 12 hex digits of the SHA-1 of the compact JSON."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genome:
        """The genome written in ``data`` (its form only: a space checks its values, see
        :func:`nas.core.space.validate_genome`)."""
        if not isinstance(data, Mapping) or "space" not in data or "values" not in data:
            raise GenomeError('a genome is a JSON object {"space": NAME, "values": {...}}')
        values = data["values"]
        if not isinstance(values, Mapping):
            raise GenomeError("a genome's 'values' must be an object of decision -> value")
        return cls(str(data["space"]), tuple(values.items()))

    @classmethod
    def from_json(cls, text: str) -> Genome:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenomeError(f"not a genome: invalid JSON ({e})") from None
        except RecursionError:
            raise GenomeError("not a genome: JSON nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Genome:
        """The genome in a JSON file (its form only; see :meth:`from_dict`). Whatever the file
        holds (not UTF-8, not JSON, a checkpoint), the error is one line naming it."""
        path = Path(path)
        if not path.is_file():
            raise GenomeError(f"genome file not found: {path}")
        try:
            return cls.from_dict(parse_json(read_bytes(path, "a genome file"), path,
                                            "a genome JSON file"))
        except GenomeError as e:
            raise GenomeError(f"{path}: {e}") from None
        except NasError as e:
            raise GenomeError(str(e)) from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(indent=2) + "\n")

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.values)
        return f"{self.space}({inner})"


@dataclass(frozen=True)
class GenomeFile:
    """A genome as nas writes it to a file: the genome, and what its network was built for.

    The file is the genome's JSON with up to three more keys, ``input_shape`` ([C, H, W]),
    ``num_classes`` and ``space_options`` (the space's network-level options), so that building
    it needs no argument (a digits genome is built for 1x8x8 images and 10 classes, not for a
    default that would fail at its first forward). Every reader of genome files still reads
    it (:meth:`Genome.from_dict` ignores the extra keys), and a plain genome file is a
    ``GenomeFile`` that records nothing.
    """

    genome: Genome
    input_shape: tuple[int, int, int] | None = None  # (C, H, W) it was built for, if known
    num_classes: int | None = None  # its outputs, if known
    space_options: Mapping[str, Any] | None = None  # network-level options; None: defaults

    def to_dict(self) -> dict[str, Any]:
        data = self.genome.to_dict()
        if self.input_shape is not None:
            data["input_shape"] = [int(v) for v in self.input_shape]
        if self.num_classes is not None:
            data["num_classes"] = int(self.num_classes)
        if self.space_options:
            data["space_options"] = dict(self.space_options)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenomeFile:
        genome = Genome.from_dict(data)
        shape, classes = data.get("input_shape"), data.get("num_classes")
        options = data.get("space_options")
        if shape is not None and (not isinstance(shape, list | tuple) or len(shape) != 3
                                  or not all(isinstance(v, int) and v > 0 for v in shape)):
            raise GenomeError(f"a genome file's input_shape must be [C, H, W], got {shape!r}")
        if classes is not None and (not isinstance(classes, int) or classes < 1):
            raise GenomeError(f"a genome file's num_classes must be a positive integer, got "
                              f"{classes!r}")
        if options is not None and not isinstance(options, Mapping):
            raise GenomeError("a genome file's space_options must be an object")
        return cls(genome, None if shape is None else (shape[0], shape[1], shape[2]),
                   classes, None if options is None else dict(options))

    @classmethod
    def load(cls, path: str | Path) -> GenomeFile:
        """The genome file at ``path`` (its form only; validate the genome with its space)."""
        path = Path(path)
        if not path.is_file():
            raise GenomeError(f"genome file not found: {path}")
        try:  # whatever the file holds (not UTF-8, not JSON, a checkpoint): one line
            data = parse_json(read_bytes(path, "a genome file"), path, "a genome JSON file")
            if not isinstance(data, Mapping):
                raise GenomeError(f"not a genome: a JSON {type(data).__name__}, not an object")
            return cls.from_dict(data)
        except GenomeError as e:
            raise GenomeError(f"{path}: {e}") from None
        except NasError as e:
            raise GenomeError(str(e)) from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path
