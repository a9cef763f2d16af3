"""A run folder from someone else never runs their code: no command unpickles a run's files.

A malicious pickle (unpickling it creates a marker file) is planted as ``state.pkl`` (where an
older nas kept the state), and garbage or that pickle as the state files, in copies of a real
run (the tiny rl search of tests/test_compare.py: its state has tensors). Every command that
reads a run then either works or exits non-zero with one clear line; the marker never appears.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from nas.cli import main  # noqa: E402
from nas.core import statefile  # noqa: E402
from nas.search.store import RunDir  # noqa: E402


class _Payload:
    """Unpickling this object calls ``open(marker, "w")``: the file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def cluster() -> Any:
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def victim(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    from test_compare import shared_run  # the same tiny search, made once per session

    run = shared_run(tmp_path_factory)
    state = run.load_state()
    assert state is not None and state["controller"]["controller"] == "rl"
    assert any(p.suffix == ".safetensors" for p in run.path.iterdir())  # the policy's tensors
    return run


def test_the_payload_works(tmp_path: Path) -> None:
    """The test's teeth: unpickling the payload does create its marker."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


def _plant(run: Path, scenario: str, payload: bytes) -> None:
    (run / "state.pkl").write_bytes(payload)
    tensor_files = [p for p in run.iterdir() if p.suffix == ".safetensors"]
    if scenario == "old":  # a run folder of an older nas: only the pickle
        (run / "state.json").unlink()
        for p in tensor_files:
            p.unlink()
    elif scenario == "garbage":  # the pickle in place of both new state files
        (run / "state.json").write_bytes(payload)
        for p in tensor_files:
            p.write_bytes(payload)
    elif scenario == "pickled tensors":  # a valid state.json naming the pickle as its tensors
        doc = json.loads((run / "state.json").read_text())
        name = statefile.tensor_file_name(run / "state.json", payload)
        (run / name).write_bytes(payload)
        (run / "state.json").write_text(json.dumps({**doc, "tensors": name}))


@pytest.mark.parametrize("scenario", ["old", "garbage", "pickled tensors"])
def test_no_command_unpickles_a_run(victim: RunDir, tmp_path: Path, scenario: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(victim.path, runs / victim.name)  # the name is the study's in study.db
    marker = tmp_path / "pwned"
    _plant(runs / victim.name, scenario, pickle.dumps(_Payload(marker)))
    where = ["--runs-dir", str(runs)]
    commands = [
        ["search", "--resume", victim.name, *where],
        ["status", victim.name, *where], ["status", victim.name, "--json", *where],
        ["runs", *where], ["runs", "--json", *where],
        ["report", victim.name, *where],
        ["export", victim.name, "--format", "code", *where],
    ]
    if scenario == "old":  # compare retrains on Ray (~15 s): once, with the pickle planted
        commands.append(["compare", victim.name, "--baselines", "", "--top", "1", "--seeds",
                         "1", "--epochs", "0.5", *where])
    outcomes = {}
    for argv in commands:
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert not marker.exists(), f"nas {' '.join(argv)} unpickled the planted state"
        if code != 0:
            assert len(err.splitlines()) == 1, f"nas {' '.join(argv)}: {err}"
        outcomes[argv[0] + (" --json" if "--json" in argv else "")] = (code, err)
    # the resume cannot restore the controller: it refuses, naming the file
    code, err = outcomes["search"]
    assert code == 2
    if scenario == "old":
        assert err == (f"nas search: error: run '{victim.name}' has state.pkl (a pickle, from "
                       "an older nas); nas never unpickles run files: start a new run")
    else:
        assert "state" in err and str(runs / victim.name) in err
    # the others read the study and the JSON files: they work
    works = {"status", "status --json", "runs", "runs --json", "report", "export"}
    assert {k: code for k, (code, _) in outcomes.items() if k != "search"} == {
        k: 0 for k in works | ({"compare"} if scenario == "old" else set())}
    report = (runs / victim.name / "report" / "report.md").read_text()
    assert "The controller's saved state cannot be read" in report
