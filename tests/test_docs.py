"""Every command the README and docs/ show is run here, so the docs stay true to the code.

Commands are the lines starting with ``nas `` inside fenced ``bash`` blocks. They run
in-process through ``nas.cli.main`` in a scratch directory that sees ``docs/`` and
``../shared/`` as the repository's root does (so ``runs/`` is fresh), in the
order the document gives them: a later command may use the run an earlier one made. The quick
start's default search runs in the slow suite (``pytest -m slow``); its pip lines are checked
by CI running the same command from a fresh clone.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nas.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICK_START = "nas search"  # the README's first command, after `pip install -e . &&`


def shown_commands(path: Path, results: bool = False) -> list[str]:
    """The ``nas`` lines of a document; ``results``: those of its "## Results" section (the
    full-size runs behind the published numbers, run in the slow suite) instead of the rest."""
    text = path.read_text()
    before, _, after = text.partition("\n## Results")
    section, _, rest = after.partition("\n## ")
    text = section if results else before + "\n## " + rest
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("nas ")]


def argv(command: str) -> list[str]:
    return shlex.split(command)[1:]


def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a scratch copy of the repository's root as the documents see it: ``docs/``
    and ``../shared/`` resolve as they do from the repository, ``runs/`` is fresh."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "docs").symlink_to(ROOT / "docs")
    if (ROOT.parent / "shared").exists():
        (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    monkeypatch.chdir(root)


def quick_start(path: Path) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip().startswith("pip install")]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    install_and_search, install_and_test = quick_start(ROOT / "README.md")
    assert install_and_search == f"pip install -e . && {QUICK_START}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test.replace("pip install", "pip install -q") in ci


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_shown_command_runs(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    checkout(tmp_path, monkeypatch)
    for command in shown_commands(doc):
        code = main(argv(command))
        out, err = capsys.readouterr()
        assert code == 0, f"`{command}` exited {code}: {err[-2000:]}"
        assert out.strip() or Path("runs").exists(), f"`{command}` printed nothing"


#: The documents whose ``python`` blocks are run, each as one script, in order.
PYTHON_DOCS = [ROOT / "README.md", ROOT / "docs" / "api.md"]


@pytest.mark.parametrize("doc", PYTHON_DOCS, ids=lambda p: p.name)
def test_every_python_example_runs(doc: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python examples of a page run top to bottom in one namespace (a later block uses
    what an earlier one made), in a scratch checkout, and print something."""
    checkout(tmp_path, monkeypatch)
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert blocks
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{doc.name}, python block {i + 1}", "exec"), namespace)


@pytest.mark.slow
def test_results_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout(tmp_path, monkeypatch)
    commands = shown_commands(ROOT / "README.md", results=True)
    assert commands
    for command in commands:
        assert main(argv(command)) == 0, command


@pytest.mark.slow
def test_quick_start_search_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*shlex.split(QUICK_START)[1:], "--plain"]) == 0
    assert any(Path("runs").iterdir())


def test_the_baselines_table_is_what_nas_baselines_prints(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baselines", "--markdown"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed and printed in (ROOT / "docs" / "baselines.md").read_text()
