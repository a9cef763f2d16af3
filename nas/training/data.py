"""Datasets as tensors: train / validation / test splits, normalised, ready for the trainer.

NAS trains hundreds of small children on small images, so the data path must never be the
bottleneck: a dataset is decoded once, kept as one ``(N, C, H, W)`` float32 tensor per split
(moved to the GPU by the trainer when there is one) and augmented there in whole batches
(:func:`augment_batch`: random crop with padding and horizontal flip, no per-image Python).

Three datasets ship, registered by name in :data:`DATASETS`:

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): the offline default,
  never downloads;
* ``cifar10``: torchvision's CIFAR-10 from a directory, downloaded only when asked;
* ``imagefolder``: any class-per-folder image tree, with ``train/`` and ``test/`` (or ``val/``)
  subfolders or one tree split by a fixed fraction; decoded once with PIL, the uint8 arrays
  cached on disk (see :func:`cache_dir`) so the second load maps one file.

Every dataset gives three splits. The validation split is carved from the training data with a
seeded, class-stratified split (``val_fraction``, ``seed``); rewards use validation accuracy
only and the test split is touched only for final reports. Where a dataset has no test split of
its own (digits, a single image tree) it is carved once with a fixed seed, so it never changes
with ``seed``. Normalisation statistics come from the training split alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from nas.core.errors import NasError
from nas.core.registry import Registry
from nas.core.statefile import write_atomic

TEST_FRACTION = 0.2  # test share carved from datasets without a test split of their own
_TEST_SEED = 0  # fixed: the test split never depends on the run's seed
_CIFAR10_FOLDER = "cifar-10-batches-py"  # torchvision's CIFAR10.base_folder
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".ppm", ".pgm"})


# --- the splits ---------------------------------------------------------------------------


@dataclass
class Split:
    """One split: images and labels as tensors on one device."""

    x: Tensor  # (N, C, H, W) float32, normalised with the training split's mean and std
    y: Tensor  # (N,) int64 class indices

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Split:
        return Split(self.x.to(device, non_blocking=non_blocking),
                     self.y.to(device, non_blocking=non_blocking))


@dataclass
class DataSplits:
    """A dataset ready for training: three splits and what a model needs to know about them."""

    name: str  # the registered dataset name, e.g. "cifar10"
    train: Split
    val: Split  # carved from the training data with a seed; the only split rewards may use
    test: Split  # for final reports only
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    augment: bool  # whether training should use random crop + flip (natural images: yes)
    classes: tuple[str, ...] = ()  # class names, in label order
    mean: tuple[float, ...] = ()  # per-channel statistics used to normalise (raw pixel scale)
    std: tuple[float, ...] = ()

    @property
    def device(self) -> torch.device:
        return self.train.x.device

    def to(self, device: torch.device | str) -> DataSplits:
        """The same splits on ``device`` (a no-op when they are there already)."""
        device = torch.device(device)
        if self.device == device:
            return self
        asynchronous = device.type == "cuda"  # the copies overlap; kernels queue behind them
        return replace(self, train=self.train.to(device, asynchronous),
                       val=self.val.to(device, asynchronous),
                       test=self.test.to(device, asynchronous))

    def summary(self) -> str:
        c, h, w = self.input_shape
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} val / "
                f"{len(self.test)} test, {c}x{h}x{w}, {self.num_classes} classes")


# --- augmentation on the device -------------------------------------------------------------


def augment_batch(x: Tensor, generator: torch.Generator | None = None,
                  padding: int = 4, flip: bool = True) -> Tensor:
    """Random crop (zero padding of ``padding`` pixels) and horizontal flip, per image.

    The whole batch is done by one gather on ``x``'s device: each image gets its own offsets
    ``(dy, dx)`` in ``[0, 2*padding]`` and flip bit, turned into row and column indices into
    the padded batch. Zero is the mean pixel after normalisation, so padding is mean-grey.
    Returns a channels_last tensor (the gather's natural layout; the convolutions take either).
    """
    n, _, h, w = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))  # (N,C,H+2p,W+2p)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), device=dev, generator=generator)
    rows = torch.arange(h, device=dev).unsqueeze(0) + dy  # (N, H)
    cols = torch.arange(w, device=dev).unsqueeze(0).expand(n, w)  # (N, W)
    if flip:
        flipped = torch.rand((n, 1), device=dev, generator=generator) < 0.5
        cols = torch.where(flipped, (w - 1) - cols, cols)
    cols = cols + dx
    batch = torch.arange(n, device=dev).view(n, 1, 1)
    # Advanced indices on dims 0, 2, 3 around the sliced channel dim: result (N, H, W, C).
    out = padded[batch, :, rows.unsqueeze(2), cols.unsqueeze(1)]
    return out.permute(0, 3, 1, 2)  # (N, C, H, W), channels_last strides


# --- raw datasets and the registry ----------------------------------------------------------


@dataclass
class RawData:
    """What a dataset loader returns: raw pixel arrays, before splitting and normalising."""

    x: np.ndarray  # (N, C, H, W) training images, uint8 or float32 on the raw pixel scale
    y: np.ndarray  # (N,) int64
    test_x: np.ndarray | None  # the dataset's own test split, or None to carve one
    test_y: np.ndarray | None
    classes: tuple[str, ...]
    augment: bool  # natural images: crop + flip keep the label; digits: they do not


Loader = Callable[..., RawData]  # (data_dir, *, download, limit, seed, cache) -> RawData
DATASETS: Registry[Loader] = Registry("dataset")


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator: register a loader ``(data_dir, *, download, limit, seed, cache) -> RawData``.

    ``limit`` lets a loader skip decoding what would be thrown away; it may ignore it.
    """

    def add(fn: Loader) -> Loader:
        DATASETS.register(name, fn)
        return fn

    return add


def list_datasets() -> list[str]:
    return DATASETS.names()


def describe_datasets() -> list[dict[str, str]]:
    """Each registered dataset: its name and what it is (its loader's first docstring line),
    for ``nas datasets``."""
    rows = []
    for name in DATASETS.names():
        doc = (DATASETS.get(name).__doc__ or "").strip()
        rows.append({"name": name, "summary": " ".join(doc.split("\n\n")[0].split())})
    return rows


def dataset_options() -> list[dict[str, object]]:
    """The options every dataset takes (:func:`load_dataset`'s keywords): name, type and
    default."""

    return [{"name": p.name, "type": str(p.annotation), "default": p.default}
            for p in inspect.signature(load_dataset).parameters.values() if p.name != "name"]


def cache_dir(override: str | Path | None = None) -> Path:
    """Where decoded arrays are cached: ``override``, else ``$NAS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/nas`` (``~/.cache/nas``)."""
    if override is not None:
        return Path(override)
    if os.environ.get("NAS_CACHE_DIR"):
        return Path(os.environ["NAS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nas"


def default_data_dir() -> Path:
    """Where downloadable datasets live when no directory is given: ``<cache>/data``."""
    return cache_dir() / "data"


# --- splitting ------------------------------------------------------------------------------


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, taken)``: ``fraction`` of every class taken (at least one when the
    fraction is positive and the class has two or more), chosen with ``seed``; both sorted."""
    rng = np.random.default_rng(seed)
    taken: list[np.ndarray] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        k = round(fraction * len(idx))
        if fraction > 0 and len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        taken.append(rng.permutation(idx)[:k])
    take = np.sort(np.concatenate(taken)) if taken else np.zeros(0, np.int64)
    keep = np.setdiff1d(np.arange(len(y)), take, assume_unique=True)
    return keep, take


def _subsample(y: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of exactly ``min(limit, len(y))`` items, each class's share proportional
    to its size (largest remainders round up), chosen with ``seed``; all items if None."""
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    labels, counts = np.unique(y, return_counts=True)
    quota = counts * limit / len(y)
    take = np.floor(quota).astype(np.int64)
    extra = np.argsort(-(quota - take), kind="stable")[: limit - int(take.sum())]
    take[extra] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(y == label))[:k] for label, k in zip(labels, take)]
    return np.sort(np.concatenate(chosen))


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation (float64, std 1 where constant) of
    ``(N, C, H, W)`` images. For uint8 images they come exactly, and fast, from a 256-bin
    histogram per channel instead of a strided float reduction over every pixel."""
    if x.dtype == torch.uint8:
        values = torch.arange(256, dtype=torch.float64)
        counts = torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256)
                              for c in range(x.shape[1])]).double()  # (C, 256)
        n = counts.sum(dim=1)
        mean = (counts * values).sum(dim=1) / n
        var = (counts * values**2).sum(dim=1) / n - mean**2
    else:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1).double()  # (C, N*H*W)
        var, mean = torch.var_mean(flat, dim=1, correction=0)
    var = var.clamp_min(0)
    return mean, torch.where(var > 0, var.sqrt(), torch.ones_like(var))


# --- load_dataset ---------------------------------------------------------------------------


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = False,
                 val_fraction: float = 0.1, seed: int = 0, limit: int | None = None,
                 cache: str | Path | None = None) -> DataSplits:
    """Load dataset ``name`` as normalised CPU tensors with train / val / test splits.

    ``limit`` caps the training pool (before the validation split is carved from it) and the
    test split, each by a class-stratified subset: for tests and smoke runs. ``cache`` overrides
    the cache directory (:func:`cache_dir`). Bad input (unknown name, missing directory, no
    images) raises :class:`~nas.core.errors.NasError` with one line saying what to do.
    """
    loader = DATASETS.get(name)
    if not 0.0 <= val_fraction < 1.0:
        raise NasError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if limit is not None and limit < 2:
        raise NasError(f"limit must be at least 2 examples, got {limit}")
    raw = loader(None if data_dir is None else Path(data_dir).expanduser(), download=download,
                 limit=limit, seed=seed, cache=cache_dir(cache))

    # Index arithmetic first, one gather per split last: no intermediate copies of the images.
    x_src, y_src = torch.from_numpy(raw.x), raw.y
    if raw.test_x is None or raw.test_y is None:  # carve a fixed test split
        pool, test_idx = stratified_split(y_src, TEST_FRACTION, _TEST_SEED)
        tx_src, ty_src = x_src, y_src
    else:
        pool, test_idx = np.arange(len(y_src)), np.arange(len(raw.test_y))
        tx_src, ty_src = torch.from_numpy(raw.test_x), raw.test_y
    pool = pool[_subsample(y_src[pool], limit, seed)]
    test_idx = test_idx[_subsample(ty_src[test_idx], limit, seed)]
    train_pos, val_pos = stratified_split(y_src[pool], val_fraction, seed)
    train_idx, val_idx = pool[train_pos], pool[val_pos]
    if len(train_idx) == 0:
        raise NasError(f"dataset {name!r} has no training images left after the split")

    def labels(src: np.ndarray, idx: np.ndarray) -> Tensor:
        return torch.from_numpy(src[idx].astype(np.int64))

    # Normalise every split with the training split's per-channel statistics.
    train_raw = x_src.index_select(0, torch.from_numpy(train_idx))  # (N, C, H, W) raw scale
    mean, std = channel_stats(train_raw)
    m, s = mean.view(1, -1, 1, 1).float(), std.view(1, -1, 1, 1).float()

    def normalised(raw_images: Tensor) -> Tensor:
        return raw_images.float().sub_(m).div_(s)

    def images(src: Tensor, idx: np.ndarray) -> Tensor:
        return normalised(src.index_select(0, torch.from_numpy(idx)))

    c, h, w = (int(d) for d in x_src.shape[1:])
    return DataSplits(
        name=name,
        train=Split(normalised(train_raw), labels(y_src, train_idx)),
        val=Split(images(x_src, val_idx), labels(y_src, val_idx)),
        test=Split(images(tx_src, test_idx), labels(ty_src, test_idx)),
        num_classes=len(raw.classes),
        input_shape=(c, h, w),
        augment=raw.augment,
        classes=raw.classes,
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
    )


# --- digits ---------------------------------------------------------------------------------


@register_dataset("digits")
def _load_digits(data_dir: Path | None, **_: object) -> RawData:
    """scikit-learn's bundled 8x8 handwritten digits (values 0-16): offline, no download.

    Read straight from the CSV that scikit-learn ships (what ``load_digits`` parses), because
    importing ``sklearn.datasets`` pulls in SciPy and costs seconds per child process.
    """
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" \
        if spec is not None and spec.origin else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)  # (1797, 64 pixels + label)
        x, y = table[:, :-1].reshape(-1, 1, 8, 8), table[:, -1].astype(np.int64)
    else:  # a scikit-learn that stores the file elsewhere: take the slow, public way
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = bunch.images.astype(np.float32)[:, None], bunch.target.astype(np.int64)
    return RawData(x, y, None, None, tuple(str(i) for i in range(10)), augment=False)


# --- cifar10 (torchvision's binary release) -------------------------------------------------


@register_dataset("cifar10")
def _load_cifar10(data_dir: Path | None, *, download: bool = False, **_: object) -> RawData:
    """torchvision's CIFAR-10: ``data_dir/cifar-10-batches-py`` (``data_dir`` may also be the
    ``cifar-10-batches-py`` folder itself); downloaded there only when ``download`` is set."""
    root = data_dir if data_dir is not None else default_data_dir() / "cifar10"
    if root.name == _CIFAR10_FOLDER:
        root = root.parent
    if not download and not (root / _CIFAR10_FOLDER).is_dir():  # before importing torchvision
        raise NasError(
            f"CIFAR-10 not found: looked for {root / _CIFAR10_FOLDER}; run with --download "
            "when online, or point --data-dir at the folder holding an extracted "
            f"{_CIFAR10_FOLDER} (a class-per-folder copy works with --dataset imagefolder)")
    # imports PIL, torch, torchvision: loaded here, where used, for start-up time
    from torchvision.datasets import CIFAR10

    if download:
        try:
            CIFAR10(str(root), train=True, download=True)
        except (OSError, RuntimeError) as e:  # URLError is an OSError
            raise NasError(f"could not download CIFAR-10 into {root}: {e}; download "
                           f"{CIFAR10.url} by hand and extract it there") from None
    try:
        train = CIFAR10(str(root), train=True)
        test = CIFAR10(str(root), train=False)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise NasError(f"CIFAR-10 in {root / _CIFAR10_FOLDER} is incomplete or corrupted "
                       f"({e}); delete it and run with --download") from None
    return RawData(
        x=train.data.transpose(0, 3, 1, 2), y=np.asarray(train.targets, np.int64),
        test_x=test.data.transpose(0, 3, 1, 2), test_y=np.asarray(test.targets, np.int64),
        classes=tuple(train.classes), augment=True)


# --- imagefolder ----------------------------------------------------------------------------


def _class_dirs(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def _list_images(root: Path, classes: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    """Files and labels of a class-per-folder tree, in a fixed (sorted) order."""
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:  # no stat per file: 60,000 files list in ms
            names = sorted(e.name for e in entries
                           if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES
                           and e.is_file())
        files += [folder / n for n in names]
        labels += [label] * len(names)
    return files, np.asarray(labels, np.int64)


def _tree_signature(dirs: Sequence[Path]) -> str:
    """Names, mtimes and entry counts of the class folders: changes when files are added,
    removed or renamed (an image edited in place is not noticed; delete the cache then)."""
    parts = []
    for d in dirs:
        st = d.stat()
        parts.append(f"{d.resolve()}:{st.st_mtime_ns}:{sum(1 for _ in os.scandir(d))}")
    return "|".join(parts)


def _decode(path: Path) -> np.ndarray:
    """One image as uint8 (H, W) for greyscale or (H, W, 3) for anything else."""
    # imports PIL: loaded here, where used, for start-up time
    from PIL import Image

    try:
        with Image.open(path) as im:  # (H, W) or (H, W, 3)
            if im.mode in ("L", "RGB"):
                return np.asarray(im)
            return np.asarray(im.convert("L" if im.mode in ("1", "I", "I;16", "F") else "RGB"))
    except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for truncated/unknown files
        raise NasError(f"cannot read image {path}: {e}; remove or replace it") from None


def _decode_all(files: Sequence[Path]) -> np.ndarray:
    """Decode ``files`` into one uint8 ``(N, C, H, W)`` array.

    Threads overlap the file reads and PIL's decoders, which release the GIL. Greyscale
    images join colour ones as three equal channels; images of other sizes than the most
    common one are resized to it (bilinear), so one tensor holds them all.
    """
    # imports PIL: loaded here, where used, for start-up time
    from PIL import Image

    workers = min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        images = list(pool.map(_decode, files, chunksize=256))
    colour = any(im.ndim == 3 for im in images)
    size = Counter(im.shape[:2] for im in images).most_common(1)[0][0]  # (H, W)
    c = 3 if colour else 1
    out = np.empty((len(images), size[0], size[1], c), np.uint8)  # NHWC while filling
    for i, im in enumerate(images):
        if im.shape[:2] != size:
            resized = Image.fromarray(im).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            im = np.asarray(resized)
        out[i] = im[..., None] if im.ndim == 2 else im
    return out.transpose(0, 3, 1, 2)  # (N, C, H, W), a view; made contiguous when tensored


def _cached(cache_file: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from ``cache_file``, or built and written there (atomically) on a miss.

    The file is a ``torch.save`` of plain tensors, memory-mapped on load (``mmap=True``): the
    50,000 CIFAR images come back in milliseconds, against seconds for an ``.npz``'s zip read.
    """
    if cache_file.is_file():
        try:
            tensors = torch.load(cache_file, mmap=True, weights_only=True)
            return {k: v.numpy() for k, v in tensors.items()}
        except Exception:  # a damaged or foreign cache file is rebuilt, never trusted
            cache_file.unlink(missing_ok=True)
    arrays = build()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    with contextlib.suppress(OSError):  # a read-only or full cache: slower next time, not wrong
        write_atomic(cache_file, partial(torch.save, tensors))
    return arrays


@register_dataset("imagefolder")
def _load_imagefolder(data_dir: Path | None, *, limit: int | None = None, seed: int = 0,
                      cache: Path | None = None, **_: object) -> RawData:
    """A class-per-folder tree: ``data_dir/{train,test}/<class>/*.jpg`` (``val/`` is accepted
    in place of ``test/``), or ``data_dir/<class>/*.jpg`` split by :data:`TEST_FRACTION`."""
    if data_dir is None:
        raise NasError("dataset 'imagefolder' needs --data-dir: a folder with one sub-folder "
                       "of images per class (optionally inside train/ and test/)")
    if not data_dir.is_dir():
        raise NasError(f"image folder not found: {data_dir}")
    root = data_dir.resolve()
    held_out: Path | None = None
    if (root / "train").is_dir():  # train/ with test/ (or val/) beside it, or train/ alone
        train_root = root / "train"
        held_out = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    else:
        train_root = root
    classes = [p.name for p in _class_dirs(train_root)]
    dirs = [train_root / c for c in classes]
    if held_out is not None:
        dirs += [held_out / c for c in classes if (held_out / c).is_dir()]
    if not classes:
        raise NasError(f"no class folders in {train_root}: an image folder needs one "
                       "sub-folder of images per class")
    if len(classes) < 2:  # one class: every child would score 100 % without learning
        raise NasError(f"{train_root} has one class folder ({classes[0]}): classification "
                       "needs at least two sub-folders of images, one per class")

    key = hashlib.sha1(f"{_tree_signature(dirs)}|limit={limit}|seed={seed}".encode())
    cache_file = (cache or cache_dir()) / "imagefolder" / f"{root.name}-{key.hexdigest()[:16]}.pt"

    def build() -> dict[str, np.ndarray]:
        files, y = _list_images(train_root, classes)
        if not files:
            raise NasError(f"no images in the class folders of {train_root} "
                           f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        empty = [c for c, n in zip(classes, np.bincount(y, minlength=len(classes)),
                                   strict=True) if n == 0]
        if empty:  # a class no image teaches: the labels would not mean what they say
            raise NasError(f"class folder {train_root / empty[0]} has no images "
                           f"({len(empty)} empty class folder(s)); add images or remove it")
        if held_out is None:  # carve the test split here, so the limit can apply to both
            keep, take = stratified_split(y, TEST_FRACTION, _TEST_SEED)
            test_files, test_y = [files[i] for i in take], y[take]
            files, y = [files[i] for i in keep], y[keep]
        else:
            test_files, test_y = _list_images(held_out, classes)
            if not test_files:
                raise NasError(f"no images in the class folders of {held_out}; remove it to "
                               f"carve a test split from {train_root} instead")
        pick = _subsample(y, limit, seed)  # decode only what the limit keeps
        files, y = [files[i] for i in pick], y[pick]
        pick = _subsample(test_y, limit, seed)
        test_files, test_y = [test_files[i] for i in pick], test_y[pick]
        images = _decode_all(files + test_files)
        return {"x": images[: len(files)], "y": y, "test_x": images[len(files):],
                "test_y": test_y}

    arrays = _cached(cache_file, build)
    h, w = arrays["x"].shape[2:]
    return RawData(arrays["x"], arrays["y"], arrays["test_x"], arrays["test_y"],
                   tuple(classes), augment=min(h, w) >= 16)

