"""Bad input, damaged runs and hostile files (issue 13): one test per case of the issue's
list, each named for the input it tries. Every failure is one clear line and a non-zero
exit; nothing is rewritten by a command that refuses.

The run folders are real searches with the ``table`` evaluator (no Ray; tests/runfolder.py);
the cases that need Ray itself are in tests/test_reliability.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from runfolder import add_compare_result, cli, folder_hash, make_run, one_clear_line

from nas.core.errors import NasError
from nas.search.loop import run_search
from nas.search.store import CONFIG, STUDY_DB, RunDir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    run = make_run(tmp_path_factory.mktemp("pristine"))
    add_compare_result(run)
    return run


@pytest.fixture
def runs(pristine: RunDir, tmp_path: Path) -> Path:
    """A fresh copy of the run folder (as ``runs/r``) for one test to damage."""
    shutil.copytree(pristine.path, tmp_path / "runs" / pristine.name)
    return tmp_path / "runs"


# --- the recipe -------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", ['{"lr": "x"}', '{"batch_size": 1.5}', '{"epochs": 3}',
                                    '{"optimizer": ["sgd"]}', "[1, 2]", "{bad"])
def test_recipe_with_wrong_types(tmp_path: Path, recipe: str) -> None:
    argv = ["search", "--recipe", recipe, "--trials", "1", "--runs-dir", str(tmp_path)]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "recipe" in err
    assert not list(tmp_path.iterdir())  # no run folder made


# --- config.json ------------------------------------------------------------------------------


def test_config_json_that_is_not_json(runs: Path) -> None:
    (runs / "r" / CONFIG).write_bytes(b'{"space": "nasbench201", ')
    before = folder_hash(runs / "r")
    for argv in (["status", "r"], ["search", "--resume", "r"], ["report", "r"],
                 ["export", "r", "--format", "code"]):
        code, _, err = cli([*argv, "--runs-dir", str(runs)])
        one_clear_line(argv, code, err)
        assert "config.json" in err
    assert folder_hash(runs / "r") == before
    assert not (runs / "r" / "report").exists()


@pytest.mark.parametrize("content", ['{"trials": "many"}', '{"space_options": [1]}', "[]",
                                     '{"epochs": -1}', '{"seed": 1.5}'])
def test_config_json_with_wrong_fields_names_file_and_field(runs: Path, content: str) -> None:
    config = json.loads((runs / "r" / CONFIG).read_text())
    patch = json.loads(content)
    (runs / "r" / CONFIG).write_text(json.dumps({**config, **patch}
                                                if isinstance(patch, dict) else patch))
    code, _, err = cli(["status", "r", "--runs-dir", str(runs)])
    one_clear_line(["status"], code, err)
    assert str(runs / "r" / CONFIG) in err
    if isinstance(patch, dict):
        assert next(iter(patch)) in err  # the field


def test_damaged_run_is_one_row_of_nas_runs(runs: Path) -> None:
    shutil.copytree(runs / "r", runs / "s")  # a good run beside it, with its own name
    (runs / "r" / CONFIG).write_bytes(b"\x00garbage")
    (runs / "s" / "summary.json").write_text('{"done": "x"}')
    shutil.copytree(runs / "s", runs / "t")
    (runs / "t" / "summary.json").write_text('{"done": 4, "state": "finished"}')
    code, out, _ = cli(["runs", "--runs-dir", str(runs), "--json"])
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["r"]["state"] == "damaged" and "config.json" in rows["r"]["reason"]
    assert rows["s"]["state"] == "damaged" and "summary.json: done" in rows["s"]["reason"]
    assert rows["t"]["state"] == "finished" and rows["t"]["space"] == "nasbench201"
    code, out, _ = cli(["runs", "--runs-dir", str(runs)])
    assert code == 0 and "damaged r:" in out and "finished" in out


# --- the controller's state -------------------------------------------------------------------


@pytest.mark.parametrize("state", [b"\x80\x04garbage", b'{"format": "nas.state/1"}',
                                   b'{"format":"nas.state/1","tensors":null,"data":[]}',
                                   b'{"format":"nas.state/1","tensors":null,"data":'
                                   b'{"format":2,"controller":{},"told":[],"pending":[],'
                                   b'"elapsed":0}}',
                                   b'{"format":"nas.state/1","tensors":null,"data":'
                                   b'{"format":2,"controller":{"controller":"rl"},'
                                   b'"told":["x"],"pending":[],"elapsed":0}}'])
def test_garbage_controller_state_refuses_resume_without_rewriting(runs: Path,
                                                                   state: bytes) -> None:
    (runs / "r" / "state.json").write_bytes(state)
    before = folder_hash(runs / "r")
    argv = ["search", "--resume", "r", "--trials", "6", "--runs-dir", str(runs)]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "state.json" in err
    assert folder_hash(runs / "r") == before  # config.json's trials not rewritten


# --- resume -----------------------------------------------------------------------------------


def test_resume_with_fewer_trials_than_done_is_refused(runs: Path) -> None:
    before = folder_hash(runs / "r")
    argv = ["search", "--resume", "r", "--trials", "2", "--runs-dir", str(runs)]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "finished 4 children" in err and "--trials 4 or more" in err
    assert folder_hash(runs / "r") == before
    assert json.loads((runs / "r" / CONFIG).read_text())["trials"] == 4


def test_resume_with_a_missing_study_but_recorded_children_is_refused(runs: Path) -> None:
    (runs / "r" / STUDY_DB).unlink()
    before = folder_hash(runs / "r")
    argv = ["search", "--resume", "r", "--trials", "6", "--runs-dir", str(runs)]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "missing" in err
    assert folder_hash(runs / "r") == before and not (runs / "r" / STUDY_DB).exists()


def test_resume_with_more_trials_works_and_counts_over_the_run(runs: Path) -> None:
    result = run_search(resume="r", runs_dir=runs, overrides={"trials": 6})
    assert result.done == 6 and result.stop_reason == "budget"
    assert json.loads((runs / "r" / CONFIG).read_text())["trials"] == 6


def test_run_killed_before_its_study_exists(runs: Path) -> None:
    """config.json and nothing else: the commands say so, and write nothing."""
    for p in (runs / "r").iterdir():
        if p.name != CONFIG:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    before = folder_hash(runs / "r")
    for argv in (["status", "r"], ["report", "r"], ["export", "r", "--format", "code"]):
        code, _, err = cli([*argv, "--runs-dir", str(runs)])
        one_clear_line(argv, code, err)
        assert "no trials yet" in err and "--resume r" in err
    assert folder_hash(runs / "r") == before
    assert sorted(p.name for p in (runs / "r").iterdir()) == [CONFIG]  # no report/, no db
    code, out, _ = cli(["runs", "--runs-dir", str(runs), "--json"])
    assert code == 0 and json.loads(out)[0]["state"] == "new"
    result = run_search(resume="r", runs_dir=runs)  # and it resumes from nothing
    assert result.done == 4


@pytest.mark.parametrize("stage", ["empty file", "tables without rows"])
def test_run_read_or_killed_while_its_study_is_being_made(runs: Path, stage: str) -> None:
    """The driver makes study.db in several transactions; a reader arriving in between (the
    load test met one: "attempt to write a readonly database") or a search killed in between
    leaves a file without Optuna's schema. Readers say "no trials yet" without writing it, and
    the run resumes (found by tests/test_load.py)."""
    for p in (runs / "r").iterdir():
        if p.name != CONFIG:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    db = runs / "r" / STUDY_DB
    if stage == "empty file":
        db.write_bytes(b"")
    else:  # a real study's tables, emptied: what the driver has made before the version rows
        make_run(runs, "other")
        shutil.copy(runs / "other" / STUDY_DB, db)
        shutil.rmtree(runs / "other")
        with contextlib.closing(sqlite3.connect(db)) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                conn.execute(f"DELETE FROM {table}")
            conn.commit()
    before = folder_hash(runs / "r")
    for argv in (["status", "r"], ["report", "r"], ["export", "r", "--format", "code"]):
        code, _, err = cli([*argv, "--runs-dir", str(runs)])
        one_clear_line(argv, code, err)
        assert "no trials yet" in err and "being made" in err and "--resume r" in err
    assert folder_hash(runs / "r") == before
    result = run_search(resume="r", runs_dir=runs)
    assert result.done == 4


# --- genome files -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"\xff\xfe{\x00", b"[" * 100_000 + b"]" * 100_000,
                                     b'{"space": "nasbench201", "values": {"edge_0": [[]]}}',
                                     b'{"space": {}, "values": {}}', b"null"])
@pytest.mark.parametrize("command", ["show", "train"])
def test_genome_file_of_bad_bytes(tmp_path: Path, content: bytes, command: str) -> None:
    path = tmp_path / "g.json"
    path.write_bytes(content)
    argv = [command, str(path), "--out", str(tmp_path / "out")][:2 if command == "show" else 4]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert not (tmp_path / "out").exists()


def test_checkpoint_given_where_a_genome_is_expected(pristine: RunDir, tmp_path: Path) -> None:
    ckpt = next((pristine.path / "compare" / "checkpoints").glob("*.pt"))
    argv = ["show", str(ckpt)]  # show reads genomes only
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "zip archive" in err
    argv = ["train", str(ckpt)]  # train reads checkpoints too: this one is for other images
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "built for (3, 32, 32) inputs" in err


# --- output and paths -------------------------------------------------------------------------


def test_output_piped_into_a_command_that_closes_early() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # the reader is gone before nas writes (as head is, after its lines, on long output)
    shell = f"{sys.executable} -m nas baselines --json | true"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True,
                          text=True, env=env, timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.returncode == 141  # 128 + SIGPIPE, as `yes | head` reports it


def test_a_300_character_name(tmp_path: Path) -> None:
    argv = ["search", "--name", "n" * 300, "--trials", "1", "--runs-dir", str(tmp_path)]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert "300 bytes long" in err and not list(tmp_path.iterdir())


def test_runs_dir_pointing_at_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    for argv in (["search", "--trials", "1"], ["runs"], ["status", "r"]):
        code, _, err = cli([*argv, "--runs-dir", str(tmp_path / "f")])
        one_clear_line(argv, code, err)
        assert "is a file, not a directory" in err


def test_report_out_pointing_at_a_file(runs: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    for argv in (["report", "r", "--out", str(tmp_path / "f")],
                 ["report", "r", "--out", str(tmp_path / "f" / "sub")],
                 ["export", "r", "--out", str(tmp_path / "f")]):
        code, _, err = cli([*argv, "--runs-dir", str(runs)])
        one_clear_line(argv, code, err)
        assert "is a file" in err
    assert (tmp_path / "f").read_text() == "x"


# --- datasets ---------------------------------------------------------------------------------


def _image_tree(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("counts", [{"cat": 6}, {"cat": 6, "dog": 0}, {"cat": 6, "dog": 6,
                                                                          "eel": 0}])
def test_imagefolder_with_one_class_or_an_empty_class(tmp_path: Path,
                                                      counts: dict[str, int]) -> None:
    data = _image_tree(tmp_path / "images", counts)
    argv = ["train", "resnet18", "--dataset", "imagefolder", "--data-dir", str(data),
            "--steps", "1", "--out", str(tmp_path / "out")]
    code, _, err = cli(argv)
    one_clear_line(argv, code, err)
    assert ("one class folder" in err) if len(counts) == 1 else ("has no images" in err)
    assert not (tmp_path / "out").exists()


# --- exports ----------------------------------------------------------------------------------


def _without_onnx(tmp_path: Path) -> dict[str, str]:
    """An environment in which `import onnx` finds nothing (a stub that says so)."""
    stub = tmp_path / "no_onnx"
    for name in ("onnx", "onnxscript"):
        (stub / name).mkdir(parents=True)
        (stub / name / "__init__.py").write_text("raise ImportError('not installed')\n")
    return {**os.environ, "PYTHONPATH": f"{stub}:{ROOT}"}


def test_default_export_without_the_onnx_extra(tmp_path: Path) -> None:
    env = _without_onnx(tmp_path)
    base = [sys.executable, "-m", "nas", "export", "resnet18", "--input", "3x32x32",
            "--classes", "10", "--out", str(tmp_path / "ex")]
    done = subprocess.run(base, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install 'nas[export]'" in done.stdout and "skipped" in done.stdout
    files = {p.suffix for p in (tmp_path / "ex" / "resnet18").iterdir()}
    assert ".onnx" not in files and ".py" in files
    asked = subprocess.run([*base[:-1], str(tmp_path / "ex2"), "--format", "code,onnx"],
                           capture_output=True, text=True, env=env, timeout=300)
    one_clear_line(["export"], asked.returncode, asked.stderr)
    assert "nas[export]" in asked.stderr and not (tmp_path / "ex2").exists()


def test_exported_files_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        code, _, err = cli(["export", "resnet18", "--input", "3x32x32", "--classes", "10",
                            "--format", "code,checkpoint,torchscript", "--out",
                            str(tmp_path / "ex")])
    finally:
        os.umask(old)
    assert code == 0, err
    files = list((tmp_path / "ex" / "resnet18").iterdir())
    assert len(files) >= 4
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o640)}


# --- the space's own genomes ------------------------------------------------------------------


def test_unknown_genome_values_from_a_state_are_refused(runs: Path) -> None:
    """A pending genome in the state that its space does not know: refused, not trained."""
    from nas.core import statefile

    state = statefile.load(runs / "r" / "state.json")
    state["pending"] = [{"space": "nasbench201", "values": {"nope": 1}}]
    statefile.save(runs / "r" / "state.json", state)
    with pytest.raises(NasError, match="pending genome"):
        run_search(resume="r", runs_dir=runs, overrides={"trials": 6})
