"""Fuzz every file nas reads back, through every command that reads it (hypothesis).

Each example copies one small real run folder (tests/runfolder.py, made once per module),
damages one file (truncated, bytes overwritten, random bytes, or, for JSON files, one value
anywhere in the document replaced by another JSON value) and runs one command on it in this
process. The command must work, or fail with one line ``nas CMD: error: ...`` and a non-zero
exit: no traceback (anything but a NasError escapes :func:`nas.cli.main` and fails the test),
no hang (the suite's timeout), and no file of the run changed (hashed before and after; a
``search --resume`` that works may write, as it should).

The default suite tries a bounded number of inputs per (file, command) pair; the ``long``
hypothesis profile (``pytest tests/test_fuzz.py --hypothesis-profile long``, or
``NAS_FUZZ_EXAMPLES=N``) many more. The count of inputs tried is printed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runfolder import add_compare_result, cli, folder_hash, make_run, one_clear_line

from nas.search.store import RunDir

EXAMPLES = int(os.environ.get("NAS_FUZZ_EXAMPLES", "0")) or (
    200 if settings.get_current_profile_name() == "long" else 3)
TRIED: dict[str, int] = {}


# --- the files and the commands that read them ------------------------------------------------


def _state_tensors(run: Path) -> Path:
    return next(run.glob("state.*.safetensors"))


#: file (a function of the run folder) -> the commands that read it (argv; {run} {out} {g})
FILES: dict[str, tuple[Callable[[Path], Path], list[list[str]]]] = {
    "config.json": (lambda r: r / "config.json", [
        ["runs", "--json"], ["status", "r"], ["report", "r", "--format", "md"],
        ["export", "r", "--format", "code"], ["search", "--resume", "r"]]),
    "state.json": (lambda r: r / "state.json", [
        ["search", "--resume", "r"], ["report", "r", "--format", "md"]]),
    "state tensors": (_state_tensors, [["search", "--resume", "r"]]),
    "summary.json": (lambda r: r / "summary.json", [
        ["runs", "--json"], ["status", "r", "--json"]]),
    "study.db": (lambda r: r / "study.db", [
        ["status", "r"], ["export", "r", "--format", "code"], ["search", "--resume", "r"],
        ["report", "r", "--format", "md"]]),
    "compare result": (lambda r: next((r / "compare" / "results").glob("*.json")), [
        ["export", "r", "--format", "code"]]),
    "checkpoint": (lambda r: next((r / "compare" / "checkpoints").glob("*.pt")), [
        ["export", "{file}", "--format", "code", "--out", "{out}"],
        ["export", "r", "--format", "code"]]),
    "genome": (lambda r: r.parent.parent / "genome.json", [
        ["show", "{file}", "--input", "3x32x32", "--classes", "10"],
        ["train", "{file}", "--steps", "1", "--limit", "40", "--no-test", "--out", "{out}"]]),
    "table": (lambda r: r.parent.parent / "table.csv", [
        ["benchmark", "--table", "{file}", "--controller", "random", "--queries", "2",
         "--seeds", "1", "--json"]]),
}
PAIRS = [(name, argv) for name, (_, commands) in FILES.items() for argv in commands]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``root/runs/r`` (a finished run with a compare result), ``root/genome.json`` (its
    best genome) and ``root/table.csv`` (200 rows of the shipped NAS-Bench-201 table)."""
    root = tmp_path_factory.mktemp("fuzz")
    run = make_run(root / "runs")
    add_compare_result(run)
    genome = json.loads((run.path / "compare" / "results" / "trial_0-s0.json").read_text())
    (root / "genome.json").write_text(json.dumps(genome["genome"], indent=2))
    shipped = Path(__file__).resolve().parents[1] / "nas" / "tables" / "nb201_cifar10.csv"
    (root / "table.csv").write_text("".join(shipped.read_text().splitlines(True)[:201]))
    yield root
    total = sum(TRIED.values())
    lines = [f"fuzz: {total} damaged inputs tried"] + [f"  {k}: {v}" for k, v in
                                                       sorted(TRIED.items())]
    print("\n" + "\n".join(lines))
    (root.parent / "fuzz-count.txt").write_text("\n".join(lines) + "\n")


# --- damage -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=6)

damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("overwrite"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                             min_size=1, max_size=16)),
    st.tuples(st.just("random"), st.binary(max_size=300)),
    st.tuples(st.just("json"), st.lists(st.integers(0, 50), max_size=5), json_values),
)


def _replace_in(doc: Any, path: list[int], value: Any) -> Any:
    """``doc`` with the value reached by ``path`` (child indices, modulo) replaced."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    doc[key] = _replace_in(doc[key], path[1:], value)  # type: ignore[index]
    return doc


def damaged(original: bytes, how: tuple[Any, ...]) -> bytes:
    kind = how[0]
    if kind == "truncate":
        return original[: int(how[1] * len(original))]
    if kind == "random":
        return bytes(how[1])
    if kind == "json":
        try:
            doc = json.loads(original)
        except ValueError:  # not a JSON file: overwrite bytes instead
            return damaged(original, ("overwrite", [(i / 7, v) for i, v in
                                                    enumerate(how[1] or [0])]))
        return json.dumps(_replace_in(doc, how[1], how[2])).encode()
    data = bytearray(original)
    for where, value in how[1]:
        if data:
            data[min(len(data) - 1, int(where * len(data)))] = value
    return bytes(data)


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "argv"), PAIRS, ids=[f"{n}-{a[0]}" for n, a in PAIRS])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(how=damage)
def test_damaged_file(pristine: Path, name: str, argv: list[str],
                      how: tuple[Any, ...]) -> None:
    work = Path(tempfile.mkdtemp(dir=pristine.parent))
    try:
        shutil.copytree(pristine, work / "copy")
        runs, run = work / "copy" / "runs", work / "copy" / "runs" / "r"
        target = FILES[name][0](run)
        target.write_bytes(damaged(target.read_bytes(), how))
        args = [a.replace("{file}", str(target)).replace("{out}", str(work / "out"))
                for a in argv]
        if args[0] in ("runs", "status", "report", "export", "search") and \
                not Path(args[1] if len(args) > 1 else "").is_file():
            args += ["--runs-dir", str(runs)]
        before = folder_hash(work / "copy")
        code, _, err = cli(args)
        TRIED[f"{name} -> nas {argv[0]}"] = TRIED.get(f"{name} -> nas {argv[0]}", 0) + 1
        if code != 0:
            one_clear_line(args, code, err)
            assert folder_hash(work / "copy") == before, "a refusing command changed a file"
            assert not (run / "report").exists() and not (work / "out").exists()
        elif argv[0] != "search":  # a resume that works writes its run, as it should
            assert folder_hash(work / "copy", skip=("report", "exports")) == before
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_fuzz_reaches_every_pair() -> None:
    """Runs after the fuzz (file order): every (file, command) pair was tried."""
    if not TRIED:
        pytest.skip("the fuzz test did not run in this session")
    assert len(TRIED) == len({(n, a[0]) for n, a in PAIRS})
    assert all(v >= 1 for v in TRIED.values())


def test_damage_changes_the_file() -> None:
    original = json.dumps({"a": [1, 2, {"b": 3}]}).encode()
    assert damaged(original, ("truncate", 0.5)) == original[: len(original) // 2]
    assert json.loads(damaged(original, ("json", [0, 2, 0], "x"))) == {"a": [1, 2, {"b": "x"}]}
    assert damaged(b"abc", ("overwrite", [(0.0, 0)])) == b"\x00bc"
    assert RunDir  # the run folder's own class is what the commands open
