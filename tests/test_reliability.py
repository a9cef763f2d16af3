"""Ray, signals and faults (issue 13): the cases of the issue's list that need a real Ray.

- a Ray that nas starts listens on localhost only (read from /proc/net/tcp* and the
  sockets of the processes it started), and after ``kill -9`` of the driver its processes
  are gone within seconds (the reaper, nas.evaluators.reaper);
- an unreachable ``--address`` (or ``RAY_ADDRESS``) fails in one line, without Ray's warnings;
- ``--address local`` starts Ray here even with ``RAY_ADDRESS`` pointing at a dead port, and
  SIGTERM then stops the search as Ctrl-C does (state saved, no Ray stack dump);
- a child's worker process killed: search.log says the child was retried;
- disk full while the state or a checkpoint is written: the previous one stays loadable.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import ray
from runfolder import cli, one_clear_line

from nas.core import statefile
from nas.search.config import SearchConfig
from nas.search.loop import run_search
from nas.search.store import RunDir, RunStudy

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "RAY_USAGE_STATS_ENABLED": "0"}
SMALL = ["--space", "nasbench201", "--space-option", "channels=8", "--space-option",
         "cells_per_stage=1", "--controller", "random", "--epochs", "1", "--limit", "100"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead, only not reaped by its parent yet


@pytest.fixture
def no_ray() -> None:
    if ray.is_initialized():  # left by another module: this test starts its own
        ray.shutdown()


def test_local_ray_listens_on_localhost_only_and_dies_with_its_driver() -> None:
    probe = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ray_probe.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=ENV, text=True)
    assert probe.stdout is not None
    line = probe.stdout.readline()
    seen = json.loads(line)
    sockets = seen["sockets"]
    names = " ".join(sockets)
    assert "gcs_server" in names and "raylet" in names  # the processes Ray started
    addresses = [a for found in sockets.values() for a in found]
    assert addresses
    outside = [a for a in addresses
               if a.rsplit(":", 1)[0] not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")]
    assert not outside, f"Ray listens beyond localhost: {sockets}"
    # kill -9 of the driver: no cleanup of its own; the reaper stops what Ray started
    probe.send_signal(signal.SIGKILL)
    probe.wait()
    tree = [p for p in seen["tree"]]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in tree):
        time.sleep(0.2)
    left = {p: Path(f"/proc/{p}/stat").read_text()[:80] for p in tree if _alive(p)}
    assert not left, f"Ray processes outlived their driver: {left}"


@pytest.mark.slow
def test_listen_all_opens_ray_to_every_interface() -> None:
    probe = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ray_probe.py"),
                              "--listen-all"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=ENV, text=True)
    assert probe.stdout is not None
    seen = json.loads(probe.stdout.readline())
    probe.communicate("")  # a clean shutdown
    addresses = [a for found in seen["sockets"].values() for a in found]
    assert any(not a.startswith(("127.", "::1", "::ffff:127.")) for a in addresses)


@pytest.mark.parametrize("how", ["--address", "RAY_ADDRESS"])
def test_unreachable_address_fails_in_one_line(no_ray: None, tmp_path: Path, how: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["search", *SMALL, "--trials", "1", "--runs-dir", str(tmp_path)]
    if how == "--address":
        argv += ["--address", "127.0.0.1:1"]
    else:
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in err and how in err
    assert not list(tmp_path.iterdir()) and not ray.is_initialized()


def test_address_local_ignores_ray_address_and_sigterm_stops_like_ctrl_c(
        tmp_path: Path) -> None:
    env = {**ENV, "RAY_ADDRESS": "127.0.0.1:1"}  # dead: followed, it would fail
    argv = [sys.executable, "-m", "nas", "search", *SMALL, "--trials", "40", "--name", "t",
            "--runs-dir", str(tmp_path), "--address", "local", "--plain"]
    search = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              text=True)
    assert search.stdout is not None and search.stderr is not None
    for line in search.stdout:
        if "trial " in line:  # Ray started here: a child finished
            break
    search.send_signal(signal.SIGTERM)
    out, err = search.communicate(timeout=120)
    assert search.returncode == 130, err
    assert err.strip() == "nas search: interrupted", err  # one line, no Ray stack dump
    assert "resume with nas search --resume t" in out
    run = RunDir.open(tmp_path, "t")
    assert run.summary()["state"] == "interrupted"
    state = run.load_state()
    assert state is not None and 1 <= run.summary()["done"] < 40


def test_killed_child_worker_is_retried_and_logged(no_ray: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_TEST_WORKER_EXIT", str(tmp_path / "exited"))  # first child dies
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        config = SearchConfig(space="nasbench201", space_options={"channels": 8,
                                                                  "cells_per_stage": 1},
                              controller="random", trials=2, epochs=1.0, limit=100)
        result = run_search(config, name="w", runs_dir=tmp_path / "runs")
    finally:
        ray.shutdown()
    assert (tmp_path / "exited").exists() and result.done == 2
    log = (result.run.path / "search.log").read_text()  # type: ignore[union-attr]
    assert "restarted (pid" in log and "trial 0 was retried there" in log
    records = RunStudy.open(result.run.storage_url, "w", None).records()  # type: ignore[union-attr]
    pids = {r.attrs["pid"] for r in records}
    assert len(pids) == 1  # both children ran on the restarted worker, its pid recorded


# --- disk full ---------------------------------------------------------------------------------


def _enospc_after(monkeypatch: pytest.MonkeyPatch, module: Any, limit: int,
                  only: str = "") -> None:
    """Files opened for writing through ``module.open`` (whose name contains ``only``) accept
    ``limit`` bytes, then raise OSError(ENOSPC)."""
    real_open = open

    class Full:
        def __init__(self, f: Any) -> None:
            self.f, self.written = f, 0

        def write(self, data: bytes) -> int:
            if self.written + len(data) > limit:
                self.f.write(data[: max(0, limit - self.written)])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(data)
            return int(self.f.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    def full_open(path: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        f = real_open(path, mode, *args, **kw)
        writing = any(c in mode for c in "wxa") and only in Path(path).name
        return Full(f) if writing else f

    monkeypatch.setattr(module, "open", full_open, raising=False)


def test_disk_full_while_saving_the_state_keeps_the_previous_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    path = tmp_path / "state.json"
    statefile.save(path, {"step": 1, "w": torch.ones(100)})
    before = sorted(p.name for p in tmp_path.iterdir())
    _enospc_after(monkeypatch, statefile, 50)
    with pytest.raises(OSError) as raised:
        statefile.save(path, {"step": 2, "w": torch.zeros(100)})
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary left
    state = statefile.load(path)
    assert state["step"] == 1 and bool(state["w"].eq(1).all())


def test_disk_full_in_a_search_is_one_line_and_the_run_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state write of a search fails part-way: ``nas search`` ends with one line; the
    run keeps its previous state and study, and resumes to its full budget."""
    from runfolder import CONFIG, make_run

    runs = tmp_path / "runs"
    make_run(runs)
    _enospc_after(monkeypatch, statefile, 20, only="state")
    argv = ["search", "--resume", "r", "--trials", "6", "--runs-dir", str(runs)]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "cannot write the run's state (No space left on device)" in err
    monkeypatch.undo()
    assert RunDir.open(runs, "r").load_state() is not None
    result = run_search(resume="r", runs_dir=runs, overrides={"trials": 6})
    assert result.done == 6 == CONFIG.trials + 2  # type: ignore[operator]
    finished = [r for r in RunStudy.open(result.run.storage_url, "r", None).records()  # type: ignore[union-attr]
                if r.finished]
    assert len(finished) == 6


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from nas.core.space import create_space
    from nas.training import checkpoint

    space = create_space("nasbench201", channels=8, cells_per_stage=1)
    genome = space.sample(__import__("random").Random(0))
    model = space.build(genome, (3, 32, 32), 10)
    path = tmp_path / "model.pt"
    checkpoint.save_checkpoint(path, model, genome, input_shape=(3, 32, 32), num_classes=10)
    original = path.read_bytes()

    def full_save(obj: Any, f: Any, *args: Any, **kw: Any) -> None:
        Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_save)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(path, model, genome, input_shape=(3, 32, 32),
                                   num_classes=10)
    monkeypatch.undo()
    assert path.read_bytes() == original and [p.name for p in tmp_path.iterdir()] == [path.name]
    checkpoint.load_checkpoint(path)  # loadable
