"""Genomes are plain frozen data: JSON round-trip, stable ids, validation with clear errors."""

from __future__ import annotations

import pytest

from nas import Genome, GenomeError
from nas.core.space import Decision


def test_round_trip_and_id_are_exact() -> None:
    g = Genome.of("x", {"a": 1, "b": "sep_conv_3x3", "c": True, "d": 0.5})
    again = Genome.from_json(g.to_json())
    assert again == g and hash(again) == hash(g)
    assert again.id == g.id == Genome.from_json(g.to_json(indent=2)).id
    assert g["b"] == "sep_conv_3x3" and list(g) == ["a", "b", "c", "d"]


def test_genome_is_frozen_and_replace_copies() -> None:
    g = Genome.of("x", {"a": 1})
    with pytest.raises(AttributeError):
        g.space = "y"  # type: ignore[misc]
    assert g.replace(a=2)["a"] == 2 and g["a"] == 1
    with pytest.raises(GenomeError, match="no decision"):
        g.replace(z=3)


@pytest.mark.parametrize("text", ["not json", "[]", '{"space": "x"}',
                                  '{"space": "x", "values": [1]}'])
def test_malformed_json_is_a_clear_error(text: str) -> None:
    with pytest.raises(GenomeError):
        Genome.from_json(text)


def test_decision_tells_bool_from_int_and_explains() -> None:
    d = Decision("bn", (False, True))
    assert d.index(True) == 1
    with pytest.raises(GenomeError, match=r"decision 'bn' cannot be 1; allowed: False, True"):
        d.index(1)
    with pytest.raises(ValueError, match="repeats"):
        Decision("k", (3, 3))


def test_missing_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GenomeError, match="genome file not found"):
        Genome.load(tmp_path / "nope.json")
