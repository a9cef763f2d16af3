"""The trainer: real tiny children on digits and a CIFAR-10 slice, statuses, seeds, checkpoints."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from torch import nn

from nas import NetBuilder, get_space
from nas.core.cost import totals
from nas.core.errors import NasError
from nas.core.genome import Value
from nas.training.checkpoint import CHECKPOINT_FORMAT, NETWORK, load_network
from nas.training.data import DataSplits, load_dataset
from nas.training.loop import lr_factor, train, train_genome
from nas.training.measure import count_macs
from nas.training.recipe import Budget, Recipe
from nas.training.result import Result

CIFAR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"

# A small CIFAR-style ResNet of the resnet space: cifar stem, one basic block per stage.
TINY_RESNET: dict[str, Value] = {
    "stem": "cifar", "block": "basic", "blocks1": 1, "blocks2": 1, "blocks3": 1, "blocks4": 1,
    "width": 16, "shortcut": "projection", "groups": 1, "inner": 0.25, "se": False}


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits")


def small_cnn(data: DataSplits, width: int = 16) -> nn.Module:
    """conv-bn-relu, a strided conv-bn-relu, global pooling, linear: ~5k parameters."""
    nb = NetBuilder(data.input_shape)
    x = nb.act(nb.bn(nb.conv(nb.input(), width, 3, 1, 1, bias=False)))
    x = nb.act(nb.bn(nb.conv(x, 2 * width, 3, 2, 1, bias=False)))
    x = nb.linear(nb.flatten(nb.global_avgpool(x)), data.num_classes)
    return nb.build(x).to_module()


def test_tiny_child_on_digits_beats_chance_and_fills_every_field(digits: DataSplits) -> None:
    torch.manual_seed(0)
    model = small_cnn(digits)
    seen: list[tuple[int, dict[str, float]]] = []

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        seen.append((epoch, metrics))
        return False

    result = train(model, digits, Recipe(batch_size=64), Budget(epochs=3),
                   evaluate_test=True, on_epoch=on_epoch)
    assert result.status == "ok" and result.message == ""
    assert result.best_val_top1 > 40.0, "10 classes: chance is 10%"
    assert result.test_top1 is not None and result.test_top1 > 40.0
    assert len(result.val_top1) == len(result.val_top5) == len(result.train_loss) \
        == len(result.val_loss) == 3
    assert result.best_val_top1 == max(result.val_top1)
    assert result.final_val_top1 == result.val_top1[-1]
    assert all(t5 >= t1 for t1, t5 in zip(result.val_top1, result.val_top5))
    assert result.train_loss[-1] < result.train_loss[0] < math.log(10) + 0.5
    assert result.epochs == 3.0 and result.steps == 3 * (len(digits.train) // 64)
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.macs > 0 and result.device == "cpu"
    assert result.train_seconds > 0 and result.images_per_second > 0
    assert result.latency_ms_b1 > 0 and result.latency_ms_batch > 0
    assert [e for e, _ in seen] == [1, 2, 3]
    assert seen[-1][1]["accuracy"] == result.val_top1[-1] and seen[-1][1]["epoch"] == 3.0

    metrics = result.metrics()
    assert metrics["accuracy"] == result.best_val_top1
    assert metrics["latency_ms"] == result.latency_ms_b1
    assert {"macs", "params", "latency_ms", "images_per_second"} <= set(metrics)
    assert "test_top1" not in metrics, "rewards must never see the test split"
    again = Result.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"no {CIFAR_DIR}")
def test_tiny_child_on_a_cifar10_slice_beats_chance(tmp_path: Path) -> None:
    data = load_dataset("imagefolder", CIFAR_DIR, limit=1000, cache=tmp_path)
    assert data.augment
    torch.manual_seed(0)
    result = train(small_cnn(data, width=16), data, Recipe(batch_size=50, lr=0.05),
                   Budget(epochs=4))
    assert result.status == "ok", result.message
    assert result.steps == 4 * (len(data.train) // 50)
    assert result.best_val_top1 > 16.0, "10 classes: chance is 10%"


def test_budget_in_steps_and_seconds(digits: DataSplits) -> None:
    result = train(small_cnn(digits), digits, Recipe(), Budget(steps=3))
    assert result.status == "ok" and result.steps == 3 and len(result.val_top1) == 1
    assert result.epochs == pytest.approx(3 / (len(digits.train) // 128))
    result = train(small_cnn(digits), digits, Recipe(), Budget(seconds=0.2))
    assert result.status == "ok" and result.steps >= 1
    result = train(small_cnn(digits), digits, Recipe(), Budget(epochs=0.5))
    assert result.steps == math.ceil(0.5 * (len(digits.train) // 128))


class NaNAfter(nn.Module):
    """A real network whose logits turn NaN after ``steps`` training forwards."""

    def __init__(self, net: nn.Module, steps: int) -> None:
        super().__init__()
        self.net, self.steps, self.calls = net, steps, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls > self.steps:
                out = out * float("nan")
        return out


def test_nan_loss_is_diverged_and_keeps_what_was_measured(digits: DataSplits) -> None:
    steps_per_epoch = len(digits.train) // 128
    model = NaNAfter(small_cnn(digits), steps_per_epoch + 2)
    result = train(model, digits, Recipe(), Budget(epochs=5))
    assert result.status == "diverged" and "nan" in result.message
    assert result.steps == steps_per_epoch + 3, "stops at the first bad step"
    assert len(result.val_top1) == 1 and result.best_val_top1 > 0, "epoch 1 is kept"
    assert result.latency_ms_b1 > 0


class Raises(nn.Module):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


def test_failures_are_statuses_never_exceptions(digits: DataSplits) -> None:
    oom = train(Raises(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate")),
                digits, Recipe(), Budget(epochs=1))
    assert oom.status == "oom" and "out of memory" in oom.message
    err = train(Raises(ValueError("bad shapes")), digits, Recipe(), Budget(epochs=1))
    assert err.status == "error" and err.message == "ValueError: bad shapes"
    assert err.params == 650 and err.val_top1 == []


def test_on_epoch_true_prunes_and_a_failing_hook_raises(digits: DataSplits) -> None:
    result = train(small_cnn(digits), digits, Recipe(), Budget(epochs=4),
                   on_epoch=lambda epoch, metrics: epoch >= 2)
    assert result.status == "pruned" and len(result.val_top1) == 2 and result.epochs == 2.0

    def broken(epoch: int, metrics: dict[str, float]) -> bool:
        raise KeyError("the caller's bug")

    with pytest.raises(KeyError, match="the caller's bug"):
        train(small_cnn(digits), digits, Recipe(), Budget(steps=2), on_epoch=broken)


def test_same_seed_repeats_exactly_and_checkpoint_reloads(digits: DataSplits,
                                                          tmp_path: Path) -> None:
    genome = get_space("resnet").genome(TINY_RESNET)
    recipe, budget = Recipe(seed=3), Budget(steps=6)
    a = train_genome(genome, digits, recipe, budget, checkpoint=tmp_path / "a.pt")
    b = train_genome(genome, digits, recipe, budget, checkpoint=tmp_path / "b.pt")
    c = train_genome(genome, digits, Recipe(seed=4), budget)
    assert a.status == b.status == c.status == "ok"
    assert a.train_loss == b.train_loss and a.val_top1 == b.val_top1
    assert a.train_loss != c.train_loss

    graph = get_space("resnet").graph(genome, digits.input_shape, digits.num_classes)
    assert a.macs == totals(graph).macs and a.params == totals(graph).params

    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    other = torch.load(tmp_path / "b.pt", weights_only=True)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["kind"] == NETWORK
    assert ckpt["genome"] == genome.to_dict() and ckpt["recipe"] == recipe.to_dict()
    assert ckpt["metrics"]["accuracy"] == a.best_val_top1
    assert ckpt["input_shape"] == [1, 8, 8] and ckpt["num_classes"] == 10
    assert ckpt["dataset"]["name"] == "digits" and len(ckpt["dataset"]["mean"]) == 1
    assert all(torch.equal(v, other["state_dict"][k]) for k, v in ckpt["state_dict"].items())

    model, _ = load_network(tmp_path / "a.pt")
    _, top1 = _accuracy(model, digits)  # NCHW here, channels_last in the trainer: +-1 image
    assert top1 == pytest.approx(a.final_val_top1, abs=100.0 / len(digits.val) + 1e-9)


def _accuracy(model: nn.Module, data: DataSplits) -> tuple[int, float]:
    with torch.no_grad():
        pred = model.eval()(data.val.x).argmax(1)
    hits = int((pred == data.val.y).sum())
    return hits, 100.0 * hits / len(data.val)


def test_a_genome_that_does_not_fit_is_an_error_result(digits: DataSplits,
                                                       tmp_path: Path) -> None:
    densenet = get_space("densenet")
    genome = densenet.sample(random.Random(4))  # four transitions: too many for 8x8 digits
    result = train_genome(genome, digits, Recipe(), Budget(steps=1),
                          checkpoint=tmp_path / "never.pt")
    assert result.status == "error" and "ShapeError" in result.message
    assert "8" in result.message, "the message names the shapes"
    assert not (tmp_path / "never.pt").exists()


@pytest.mark.parametrize("space", ["resnet", "vgg", "inception"])
def test_count_macs_agrees_with_the_cost_model(space: str) -> None:
    s = get_space(space)
    rng = random.Random(1)
    for _ in range(20):  # the first sampled genome that builds at 32x32
        genome = s.sample(rng)
        try:
            graph = s.graph(genome, (3, 32, 32), 10)
        except NasError:
            continue
        break
    model = graph.to_module()
    assert count_macs(model, (3, 32, 32), torch.device("cpu")) == totals(graph).macs


def test_train_takes_known_macs_and_counts_only_otherwise(digits: DataSplits) -> None:
    counted = count_macs(small_cnn(digits), digits.input_shape, torch.device("cpu"))
    assert counted > 0
    known = train(small_cnn(digits), digits, Recipe(), Budget(steps=1), macs=counted + 1)
    assert known.status == "ok" and known.macs == counted + 1, "given, not counted again"
    assert train(small_cnn(digits), digits, Recipe(), Budget(steps=1)).macs == counted


def test_recipe_and_budget_validate_and_round_trip() -> None:
    recipe = Recipe(optimizer="adamw", batch_size=32)
    assert recipe.peak_lr == 2e-3 and recipe.decay == 0.05
    assert Recipe(batch_size=256).peak_lr == pytest.approx(0.2)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(NasError, match=r"recipe has no option\(s\)"):
        Recipe.from_dict({"lr_max": 1.0})
    with pytest.raises(NasError, match="unknown optimizer 'adam'"):
        Recipe(optimizer="adam")
    with pytest.raises(NasError, match="batch_size"):
        Recipe(batch_size=0)
    with pytest.raises(NasError, match="needs --epochs, --steps or --seconds"):
        Budget()
    for bad in (Budget, lambda: Budget(epochs=0), lambda: Budget(steps=-1),
                lambda: Budget(seconds=float("nan"))):
        with pytest.raises(NasError):
            bad()
    assert Budget(epochs=2, steps=5).total_steps(10) == 5
    assert Budget(epochs=0.25).total_steps(10) == 3
    assert Budget(seconds=5).total_steps(10) is None


def test_lr_schedule_warms_up_then_decays_to_zero() -> None:
    assert lr_factor(0.05, 0.1) == pytest.approx(0.5)
    assert lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(0.55, 0.1) == pytest.approx(0.5)
    assert lr_factor(1.0, 0.1) == pytest.approx(0.0)
    assert lr_factor(0.5, 0.0) == pytest.approx(0.5)


def test_adamw_smoothing_and_bf16_train_too(digits: DataSplits) -> None:
    torch.manual_seed(0)
    result = train(small_cnn(digits), digits,
                   Recipe(optimizer="adamw", label_smoothing=0.1, grad_clip=1.0, batch_size=64),
                   Budget(epochs=2))
    assert result.status == "ok" and result.best_val_top1 > 30.0
    torch.manual_seed(0)
    result = train(small_cnn(digits), digits, Recipe(batch_size=64, amp=True), Budget(epochs=2))
    assert result.status == "ok" and result.best_val_top1 > 30.0
