"""``nas train`` in-process: a run writes its files; bad input is one line, exit 2, no files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nas import get_space
from nas.cli import main
from nas.core.genome import Value

TINY_RESNET: dict[str, Value] = {
    "stem": "cifar", "block": "basic", "blocks1": 1, "blocks2": 1, "blocks3": 1, "blocks4": 1,
    "width": 16, "shortcut": "projection", "groups": 1, "inner": 0.25, "se": False}


@pytest.fixture
def genome_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    get_space("resnet").genome(TINY_RESNET).save(path)
    return path


def test_train_writes_result_and_checkpoint(genome_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", str(genome_file), "--dataset", "digits", "--steps", "4",
                 "--batch-size", "64", "--seed", "1", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    written = json.loads((out / "result.json").read_text())
    assert printed == written
    assert written["result"]["status"] == "ok" and written["result"]["steps"] == 4
    assert written["result"]["test_top1"] is not None
    assert written["recipe"]["seed"] == 1 and written["recipe"]["batch_size"] == 64
    assert written["budget"] == {"epochs": None, "steps": 4, "seconds": None}
    assert written["genome"]["values"] == TINY_RESNET
    assert written["checkpoint"] == "checkpoint.pt"
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["genome"]["values"] == TINY_RESNET
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "result.json"]


def test_train_prints_a_human_summary(genome_file: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(genome_file), "--steps", "2", "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 0
    assert "val top-1" in out and "img/s" in out and "wrote" in out


def test_space_options_and_bf16_reach_the_network(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "n"
    code = main(["train", "nasnet_a", "--space-option", "cells=1", "--space-option", "width=8",
                 "--steps", "1", "--batch-size", "8", "--amp", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    written = json.loads((out / "result.json").read_text())
    assert written["space_options"]["cells"] == 1 and written["space_options"]["width"] == 8
    assert written["recipe"]["amp"] is True and written["result"]["status"] == "ok"
    assert written["result"]["params"] < 100_000  # NASNet-A itself (N=6, F=32) has 3.1M


@pytest.mark.parametrize(("argv", "message"), [
    (["--dataset", "mnist"], "unknown dataset 'mnist'; known: "),
    (["--dataset", "imagefolder", "--data-dir", "{tmp}/missing"], "image folder not found"),
    (["--dataset", "imagefolder", "--data-dir", "{tmp}/empty"], "no class folders"),
    (["--dataset", "cifar10", "--data-dir", "{tmp}/empty"], "CIFAR-10 not found"),
    (["--epochs", "0"], "budget must be positive: epochs = 0"),
    (["--steps", "0"], "budget must be positive: steps = 0"),
    (["--batch-size", "0"], "recipe batch_size cannot be 0"),
    (["--optimizer", "adam"], "unknown optimizer 'adam'"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--space-option", "cells"], "KEY=VALUE"),
    pytest.param(["--device", "cuda"], "this machine has no CUDA GPU",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU")),
])
def test_bad_input_is_one_line_and_writes_nothing(
        genome_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        argv: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["train", str(genome_file), *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("nas train: error: ") and message in err
    assert err.count("\n") == 1, err
    assert not out.exists()


def test_network_that_does_not_fit_or_does_not_exist(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["train", "densenet121", "--dataset", "digits", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "densenet121 does not fit digits images (1x8x8)" in err and err.count("\n") == 1
    assert main(["train", "resnet9000", "--out", str(out)]) == 2
    assert "neither a baseline nor a genome" in capsys.readouterr().err
    assert not out.exists()


def test_a_network_for_another_input_size_is_one_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["train", "densenet121", "--dataset", "digits", "--steps", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "densenet121 does not fit digits images (1x8x8)" in err and "below 1x1" in err
    assert not out.exists()
