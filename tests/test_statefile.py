"""State files: plain data and tensors round trip exactly, saves survive a crash at any step,
and nothing but a file save() wrote loads (one NasError line naming the file)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controllers.testing import same_state
from nas.core import statefile
from nas.core.errors import NasError


def _state(scale: float = 1.0) -> dict[str, Any]:
    """Every kind of leaf; ``scale`` makes another state of the same shape."""
    rng = torch.Generator().manual_seed(0)
    return {
        "int": 3, "neg": -7, "big": 2**62, "float": 0.1 * scale, "nan": math.nan,
        "inf": -math.inf, "bool": True, "none": None, "str": "é \"quoted\" \n",
        "list": [1, [2.5, "x"], [], {}], "empty": {},
        "tensors": {"f": torch.randn(3, 4, generator=rng) * scale, "scalar": torch.tensor(2.0),
                    "long": torch.arange(5), "mask": torch.tensor([True, False]),
                    "bytes": torch.Generator().manual_seed(1).get_state(),
                    "half": torch.ones(2, dtype=torch.bfloat16), "none": torch.zeros(0, 3),
                    "strided": torch.arange(12.0).reshape(3, 4).T},  # not contiguous
        "in a list": [torch.ones(1), {"deep": torch.zeros(2)}],
        "a/b": {"c": torch.ones(1)}, "a": {"b/c": torch.zeros(1)},  # the same path twice
    }


def test_round_trip_is_exact(tmp_path: Path) -> None:
    state = _state()
    statefile.save(tmp_path / "s.json", state)
    loaded = statefile.load(tmp_path / "s.json")
    assert same_state(loaded, state)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["format"] == statefile.FORMAT and doc["data"]["int"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["s.json", doc["tensors"]])
    # no tensors, no tensor file
    statefile.save(tmp_path / "plain.json", {"a": [1]})
    assert statefile.load(tmp_path / "plain.json") == {"a": [1]}
    assert json.loads((tmp_path / "plain.json").read_text())["tensors"] is None


@pytest.mark.parametrize(("bad", "what"), [
    ({"t": (1, 2)}, "cannot store a tuple"), ({1: "a"}, "key 1 is not a str"),
    ({"$tensor": "x"}, "reserved"), ({"x": [object()]}, "at x/0: cannot store a object"),
    ({"s": {1, 2}}, "cannot store a set")])
def test_what_would_not_come_back_the_same_is_refused(tmp_path: Path, bad: Any,
                                                      what: str) -> None:
    with pytest.raises(TypeError, match=what):
        statefile.save(tmp_path / "s.json", bad)
    assert not (tmp_path / "s.json").exists()


def test_old_tensor_files_go_once_the_new_state_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    statefile.save(path, _state(1.0))
    statefile.save(path, _state(2.0))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and "state.json" in files
    assert same_state(statefile.load(path), _state(2.0))
    statefile.save(path, {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


@pytest.mark.parametrize("fail_at", ["tensors", "json", "cleanup"])
def test_a_save_that_stops_at_any_step_leaves_a_loadable_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str) -> None:
    path = tmp_path / "state.json"
    old, new = _state(1.0), _state(2.0)
    statefile.save(path, old)
    real_write, real_unlink = statefile.write_atomic, Path.unlink

    def write(target: Path, data: Any, **kw: Any) -> Path:
        if (fail_at == "tensors" and target.suffix == ".safetensors") or (
                fail_at == "json" and target == path):
            raise KeyboardInterrupt  # the process stops here
        return real_write(target, data, **kw)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if fail_at == "cleanup" and self.suffix == ".safetensors":
            raise KeyboardInterrupt
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(statefile, "write_atomic", write)
    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(KeyboardInterrupt):
        statefile.save(path, new)
    monkeypatch.undo()
    expected = new if fail_at == "cleanup" else old  # the JSON rename is the commit
    assert same_state(statefile.load(path), expected)
    statefile.save(path, {"x": 1})  # the next save clears what the stopped one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


_WRITER = """
import sys, torch
from nas.core import statefile
print("ready", flush=True)
i = 0
while True:
    i += 1
    statefile.save(sys.argv[1], {"i": i, "w": torch.full((20000,), float(i))})
"""


def test_a_killed_writer_leaves_a_whole_state(tmp_path: Path) -> None:
    """kill -9 of a process in the middle of saving, over and over: always a whole state."""
    path = tmp_path / "state.json"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # a few dozen saves: the kill lands in the middle of one
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    state = statefile.load(path)
    assert state["i"] >= 1 and torch.equal(state["w"], torch.full((20000,), float(state["i"])))


def test_a_reader_beside_a_writer_always_gets_a_whole_state(tmp_path: Path) -> None:
    """``nas report`` during a search: saves replace the tensor file under the reader."""
    path = tmp_path / "state.json"
    statefile.save(path, {"i": 0, "w": torch.zeros(1000)})
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            statefile.save(path, {"i": i, "w": torch.full((1000,), float(i))})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = set()
        for _ in range(1000):
            state = statefile.load(path)
            assert torch.equal(state["w"], torch.full((1000,), float(state["i"])))
            seen.add(state["i"])
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 1  # the writer did write meanwhile


def _damage(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "state.json"
    statefile.save(path, {"w": torch.ones(4), "n": 1})
    return path, path.with_name(json.loads(path.read_text())["tensors"])


@pytest.mark.parametrize("how", [
    "truncated json", "not utf-8", "a list", "other format", "extra key", "no tensor file",
    "tensor name outside", "tensor name absolute", "truncated tensors", "other tensors",
    "unknown tensor", "tensor ref with more keys", "deep nesting", "directory"])
def test_anything_but_a_saved_state_is_one_line_naming_the_file(tmp_path: Path,
                                                                 how: str) -> None:
    path, tensors = _damage(tmp_path)
    doc = json.loads(path.read_text())
    if how == "truncated json":
        path.write_bytes(path.read_bytes()[:-5])
    elif how == "not utf-8":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif how == "a list":
        path.write_text("[1, 2]")
    elif how == "other format":
        path.write_text(json.dumps({**doc, "format": "nas.state/0"}))
    elif how == "extra key":
        path.write_text(json.dumps({**doc, "code": "print(1)"}))
    elif how == "no tensor file":
        tensors.unlink()
    elif how == "tensor name outside":
        path.write_text(json.dumps({**doc, "tensors": "../" + tensors.name}))
    elif how == "tensor name absolute":
        path.write_text(json.dumps({**doc, "tensors": str(tensors)}))
    elif how == "truncated tensors":
        tensors.write_bytes(tensors.read_bytes()[:-3])
    elif how == "other tensors":  # whole, but not what the JSON names
        tensors.write_bytes(safetensors.torch.save({"w": torch.zeros(4)}))
    elif how == "unknown tensor":
        path.write_text(json.dumps({**doc, "data": {"w": {"$tensor": "v"}}}))
    elif how == "tensor ref with more keys":
        path.write_text(json.dumps({**doc, "data": {"w": {"$tensor": "w", "x": 1}}}))
    elif how == "deep nesting":
        path.write_text('{"format": "nas.state/1", "tensors": null, "data": '
                        + "[" * 100_000 + "]" * 100_000 + "}")
    elif how == "directory":
        path.unlink()
        path.mkdir()
    with pytest.raises(NasError) as e:
        statefile.load(path)
    message = str(e.value)
    assert "\n" not in message and (str(path) in message or str(tensors) in message), message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["format", "tensors", "data", "$tensor", "w", "x"]), inner, max_size=4),
    max_leaves=12)


def _loads_or_one_line(path: Path) -> None:
    try:
        statefile.load(path)
    except NasError as e:
        assert "\n" not in str(e) and str(path.parent) in str(e), str(e)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_are_one_line(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "state.json").write_bytes(data)
    _loads_or_one_line(tmp_path / "state.json")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors=_JSON, data=_JSON, tensor_bytes=st.binary(max_size=100))
def test_wrong_types_are_one_line(tmp_path: Path, tensors: Any, data: Any,
                                  tensor_bytes: bytes) -> None:
    """Well-formed JSON of every shape where the state's parts go, and a tensor file."""
    path = tmp_path / "state.json"
    name = statefile.tensor_file_name(path, tensor_bytes)
    (tmp_path / name).write_bytes(tensor_bytes)
    for doc in ({"format": statefile.FORMAT, "tensors": tensors, "data": data},
                {"format": statefile.FORMAT, "tensors": name, "data": data}):
        path.write_text(json.dumps(doc))
        _loads_or_one_line(path)


def test_random_bytes_in_a_tensor_file_of_the_right_name_are_one_line(tmp_path: Path) -> None:
    """A garbage tensor file named after its own hash passes the name check: the parser
    must still refuse it cleanly."""
    rng = torch.Generator().manual_seed(0)
    for n in range(200):
        garbage = bytes(torch.randint(0, 256, (n,), generator=rng, dtype=torch.uint8).tolist())
        if n >= 8:  # a header length that fits, then garbage
            garbage = (n - 8).to_bytes(8, "little") + garbage[8:]
        path = tmp_path / "state.json"
        name = statefile.tensor_file_name(path, garbage)
        (tmp_path / name).write_bytes(garbage)
        path.write_text(json.dumps({"format": statefile.FORMAT, "tensors": name,
                                    "data": {"w": {"$tensor": "w"}}}))
        with pytest.raises(NasError, match=r"is not a safetensors file|refers to a tensor"):
            statefile.load(path)


def test_write_atomic_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    statefile.write_atomic(target, b"old")

    def half(tmp: Path) -> None:
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        statefile.write_atomic(target, half)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]  # no temporary left
    statefile.write_atomic(target, lambda tmp: tmp.write_bytes(b"new"), sync=True)
    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
