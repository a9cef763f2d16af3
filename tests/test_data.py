"""Datasets: splits, normalisation, the image-folder cache, batch augmentation, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.core.errors import NasError, UnknownNameError
from nas.training.data import (
    DATASETS,
    TEST_FRACTION,
    augment_batch,
    list_datasets,
    load_dataset,
    stratified_split,
)

CIFAR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
needs_cifar = pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"no {CIFAR_DIR}")


def test_registry_lists_the_three_datasets() -> None:
    assert {"digits", "cifar10", "imagefolder"} <= set(list_datasets())
    with pytest.raises(UnknownNameError, match=r"known: .*digits"):
        load_dataset("mnist")
    assert "imagefolder" in DATASETS


def test_digits_splits_are_disjoint_normalised_and_seeded() -> None:
    data = load_dataset("digits", val_fraction=0.1, seed=0)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10 and not data.augment
    n_train, n_val, n_test = len(data.train), len(data.val), len(data.test)
    assert n_train + n_val + n_test == 1797
    assert n_test == pytest.approx(TEST_FRACTION * 1797, abs=10)
    assert n_val == pytest.approx(0.1 * (n_train + n_val), abs=10)
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert data.train.x.shape == (n_train, 1, 8, 8)
    # Normalised with the training split's own statistics.
    assert abs(data.train.x.mean().item()) < 1e-4
    assert data.train.x.std().item() == pytest.approx(1.0, abs=1e-3)
    # Every class is in every split (stratified).
    for split in (data.train, data.val, data.test):
        assert torch.unique(split.y).tolist() == list(range(10))

    other = load_dataset("digits", val_fraction=0.1, seed=1)
    assert torch.equal(other.test.y, data.test.y), "the test split must not depend on seed"
    assert not torch.equal(other.val.y, data.val.y) or not torch.equal(other.val.x, data.val.x)
    again = load_dataset("digits", val_fraction=0.1, seed=0)
    assert torch.equal(again.val.x, data.val.x) and torch.equal(again.train.y, data.train.y)


def test_limit_caps_train_pool_and_test_stratified() -> None:
    data = load_dataset("digits", limit=200)
    assert len(data.train) + len(data.val) == 200 and len(data.test) == 200
    assert torch.bincount(data.train.y).min() >= 15


def test_stratified_split_takes_the_fraction_of_each_class() -> None:
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    keep, take = stratified_split(y, 0.1, seed=3)
    assert sorted(np.concatenate([keep, take]).tolist()) == list(range(100))
    assert np.bincount(y[take]).tolist() == [1, 2, 3, 4]


def _tree(root: Path, classes: dict[str, int], size: tuple[int, int] = (12, 10),
          mode: str = "RGB") -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.png")


def test_imagefolder_single_tree_is_split_and_cached(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _tree(root, {"a": 10, "b": 10, "c": 10})
    (root / "a" / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((4, 4), np.uint8), "L").save(root / "b" / "small_grey.png")
    cache = tmp_path / "cache"

    data = load_dataset("imagefolder", root, cache=cache)
    assert data.classes == ("a", "b", "c") and data.num_classes == 3
    assert data.input_shape == (3, 10, 12)  # the odd grey 4x4 image was resized and coloured
    assert len(data.train) + len(data.val) + len(data.test) == 31
    assert len(data.test) == 6  # TEST_FRACTION of each class, carved with a fixed seed
    files = list((cache / "imagefolder").glob("*.pt"))
    assert len(files) == 1

    stamp = files[0].stat().st_mtime_ns
    again = load_dataset("imagefolder", root, cache=cache)
    assert files[0].stat().st_mtime_ns == stamp, "the second load must read the cache"
    assert torch.equal(again.train.x, data.train.x) and torch.equal(again.test.y, data.test.y)

    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "c" / "new.png")
    os.utime(root / "c", ns=(stamp + 10**9, stamp + 10**9))  # coarse-mtime filesystems
    grown = load_dataset("imagefolder", root, cache=cache)
    assert len(list((cache / "imagefolder").glob("*.pt"))) == 2, "a changed tree is re-read"
    assert len(grown.train) + len(grown.val) + len(grown.test) == 32

    for f in (cache / "imagefolder").glob("*.pt"):  # a damaged cache is rebuilt, not trusted
        f.write_bytes(b"damaged")
    assert torch.equal(load_dataset("imagefolder", root, cache=cache).train.x, grown.train.x)


def test_imagefolder_greyscale_tree_has_one_channel(tmp_path: Path) -> None:
    _tree(tmp_path / "g" / "train", {"x": 6, "y": 6}, size=(8, 8), mode="L")
    _tree(tmp_path / "g" / "test", {"x": 2, "y": 2}, size=(8, 8), mode="L")
    data = load_dataset("imagefolder", tmp_path / "g", cache=tmp_path / "cache")
    assert data.input_shape == (1, 8, 8) and len(data.test) == 4 and not data.augment


@needs_cifar
def test_imagefolder_reads_the_shared_cifar10_slice(tmp_path: Path) -> None:
    data = load_dataset("imagefolder", CIFAR_DIR, limit=100, cache=tmp_path)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10 and data.augment
    assert data.classes[0] == "airplane" and data.classes[-1] == "truck"
    assert len(data.train) + len(data.val) == 100 and len(data.test) == 100
    assert torch.bincount(data.test.y, minlength=10).tolist() == [10] * 10
    assert 100 < data.mean[0] < 150 and 40 < data.std[0] < 80  # raw pixel scale


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="needs --data-dir"):
        load_dataset("imagefolder")
    with pytest.raises(NasError, match="image folder not found"):
        load_dataset("imagefolder", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NasError, match="no class folders"):
        load_dataset("imagefolder", tmp_path / "empty")
    (tmp_path / "noimages" / "cat").mkdir(parents=True)
    (tmp_path / "noimages" / "dog").mkdir()
    with pytest.raises(NasError, match="no images"):
        load_dataset("imagefolder", tmp_path / "noimages", cache=tmp_path / "cache")
    (tmp_path / "broken" / "cat").mkdir(parents=True)
    (tmp_path / "broken" / "cat" / "0.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "broken" / "dog").mkdir()
    (tmp_path / "broken" / "dog" / "1.jpg").write_bytes(b"not a jpeg either")
    with pytest.raises(NasError, match=r"cannot read image .*0\.jpg"):
        load_dataset("imagefolder", tmp_path / "broken", cache=tmp_path / "cache")
    with pytest.raises(NasError, match=r"looked for .*cifar-10-batches-py.*--download"):
        load_dataset("cifar10", tmp_path / "nocifar")
    with pytest.raises(NasError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.0)


def test_augment_batch_crops_and_flips_each_image() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 8, 8)
    assert torch.equal(augment_batch(x, g, padding=0, flip=False), x)
    out = augment_batch(x, g, padding=2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(len(x)):  # each output is one crop (and maybe a flip) of its own input
        matches = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(2) if f else c)(
                       padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert matches, f"image {i} is not a crop of its input"
        flips += all(f for _, _, f in matches)
    assert 0 < flips < len(x), "flips should be random per image"
