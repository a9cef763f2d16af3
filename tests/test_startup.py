"""The commands that train nothing import neither torch nor Ray (bench/startup.py times them).

Each command runs in a fresh interpreter, which then reports what it imported: the check is
on ``sys.modules``, never on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import contextlib, io, json, sys
from nas.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:  # --help exits
        code = e.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules
                                                  if m.split(".")[0] in ("torch", "ray"))}))
"""


def imported(*argv: str, cwd: Path) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return int(report["code"] or 0), report["modules"]


@pytest.mark.parametrize("argv", [["--help"], ["spaces"], ["spaces", "--json"],
                                  ["runs"], ["runs", "--json"], ["baselines"],
                                  ["show", "resnet18", "--input", "32"]],
                         ids=" ".join)
def test_command_imports_neither_torch_nor_ray(argv: list[str], tmp_path: Path) -> None:
    code, modules = imported(*argv, cwd=tmp_path)
    assert code == 0
    assert modules == [], f"nas {' '.join(argv)} imported {modules[:5]}"


def test_import_nas_imports_neither_torch_nor_ray(tmp_path: Path) -> None:
    probe = ("import sys, nas; nas.list_models(); nas.Genome; print(sorted(m for m in "
             "sys.modules if m.split('.')[0] in ('torch', 'ray')))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
