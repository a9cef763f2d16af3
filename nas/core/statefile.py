"""State on disk without pickle: JSON for the structure, safetensors for the tensors.

A state is a nested structure of ``dict`` (str keys), ``list``, ``str``, ``int``, ``float``
(NaN and infinities included), ``bool`` and ``None``, with :class:`torch.Tensor` leaves. It is
written as two files next to each other::

    state.json                      {"format": "nas.state/1",
                                     "tensors": "state.<16 hex>.safetensors" or null,
                                     "data": ... every tensor as {"$tensor": "<its path>"} ...}
    state.<16 hex>.safetensors      the tensors, keyed by their path ("controller/policy/start")

Loading executes nothing: :func:`json.loads` and safetensors' parser read data, never code (a
pickle, by contrast, runs whatever its author put in it). Any file that is not what this module
writes (truncated, garbage, wrong types, a tensor file whose content does not match its name)
raises one :class:`~nas.core.errors.NasError` line that names the file.

Saving is atomic with respect to a crash at any moment. The tensor file is named after its
content (the first 16 hex digits of its SHA-256), so writing it never touches the file the
current JSON names; the JSON is then replaced by a rename, which is the commit point; only
after that are tensor files that the JSON no longer names removed. A crash before the rename
leaves the previous state whole (plus an unused tensor file, removed by the next save); a crash
after it leaves the new state whole (plus a stale tensor file, likewise).

:func:`write_atomic` is the project's one atomic file write (the run directory's JSON files,
checkpoints and exports use it too).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.core import safe
from nas.core.errors import NasError

if TYPE_CHECKING:  # torch is imported only where a tensor is written or read: the commands
    import torch  # that read JSON state (nas runs, nas status) stay fast

FORMAT = "nas.state/1"
TENSOR = "$tensor"  # the key of a tensor's reference in the JSON: {"$tensor": "<path>"}
_HASH_DIGITS = 16  # hex digits of the tensor file's SHA-256 in its name


# --- the atomic write ----------------------------------------------------------------------


def write_atomic(path: str | Path, data: bytes | Callable[[Path], None], *,
                 sync: bool = False) -> Path:
    """Replace ``path`` with ``data`` (bytes, or a function that writes a given file) so that
    no reader ever sees half a file: write a temporary file beside it, then rename.

    ``os.replace`` is atomic against a killed process. With ``sync`` the data (and then the
    rename) is flushed to the disk first, so that a power cut cannot leave a renamed file
    without its content either; without it, a power cut may lose the last write (the study's
    SQLite, in WAL mode with ``synchronous=NORMAL``, makes the same trade).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # unique per writer, so two processes writing the same file never share a temporary
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if isinstance(data, bytes):
            with open(tmp, "xb") as f:
                f.write(data)
                if sync:
                    f.flush()
                    os.fsync(f.fileno())
        else:
            data(tmp)
            if sync:
                _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only still there if writing or renaming failed
    if sync:
        _fsync(path.parent)  # the rename itself
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- saving --------------------------------------------------------------------------------


def _split(obj: Any, where: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``obj`` as JSON data, its tensors moved into ``tensors`` under their path ``where``.

    Raises TypeError for anything that would not come back as it went in (a tuple would come
    back a list, an int key a str): the caller converts, so that a round trip is exact.
    """
    loaded = sys.modules.get("torch")  # not imported yet: then no tensor can exist
    if loaded is not None and isinstance(obj, loaded.Tensor):
        key = where or "/"
        # a path met twice (dict keys with "/" in them) or safetensors' header entry
        while key in tensors or key == "__metadata__":
            key += "#"
        # a contiguous CPU copy of its own: safetensors refuses tensors sharing memory
        tensors[key] = obj.detach().cpu().clone(memory_format=loaded.contiguous_format)
        return {TENSOR: key}
    if obj is None or isinstance(obj, str | int | float):  # a bool is an int
        return obj
    if isinstance(obj, list):
        return [_split(v, f"{where}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"state at {where or '/'}: key {k!r} is not a str")
            if k == TENSOR:
                raise TypeError(f"state at {where or '/'}: the key {TENSOR!r} is reserved")
            out[k] = _split(v, f"{where}/{k}" if where else k, tensors)
        return out
    raise TypeError(f"state at {where or '/'}: cannot store a {type(obj).__name__} "
                    "(only dict, list, str, int, float, bool, None and torch.Tensor)")


def tensor_file_name(path: Path, content: bytes) -> str:
    """The tensor file that goes with the JSON ``path``, named after its ``content``."""
    return f"{path.stem}.{hashlib.sha256(content).hexdigest()[:_HASH_DIGITS]}.safetensors"


def save(path: str | Path, state: Any) -> None:
    """Write ``state`` to ``path`` (JSON) and its tensors beside it; see the module docstring."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    data = _split(state, "", tensors)
    name = None
    if tensors:
        # imports safetensors, torch: loaded here, where used, for start-up time
        import safetensors.torch

        content = safetensors.torch.save(tensors)
        name = tensor_file_name(path, content)
        write_atomic(path.with_name(name), content, sync=True)
    doc = {"format": FORMAT, "tensors": name, "data": data}
    write_atomic(path, json.dumps(doc, separators=(",", ":")).encode(), sync=True)  # commit
    for old in _tensor_files(path):
        if old.name != name:
            old.unlink(missing_ok=True)


def _is_tensor_file_name(path: Path, name: str) -> bool:
    """Whether ``name`` is a tensor file name :func:`save` would give beside ``path`` (a bare
    name: the one read from a JSON file must never lead elsewhere)."""
    pattern = rf"{re.escape(path.stem)}\.[0-9a-f]{{{_HASH_DIGITS}}}\.safetensors"
    return re.fullmatch(pattern, name) is not None


def _tensor_files(path: Path) -> list[Path]:
    return [p for p in path.parent.glob(f"{path.stem}.*.safetensors")
            if _is_tensor_file_name(path, p.name)]


# --- loading -------------------------------------------------------------------------------


class _Vanished(Exception):
    """The tensor file the JSON names is gone: a save may have replaced both meanwhile."""


#: reads of a state whose tensor file a concurrent save removed, before giving up
_ATTEMPTS = 3


def load(path: str | Path) -> Any:
    """The state saved at ``path``. Anything but a file :func:`save` wrote raises NasError.

    A reader may run beside a writer (``nas report`` during a search): if a save commits and
    removes the old tensor file between this reading the JSON and its tensor file, the JSON
    is read again (it then names the new, existing file).
    """
    path = Path(path)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _load(path)
        except _Vanished as e:
            if attempt == _ATTEMPTS:
                raise NasError(f"{path} needs {e}, which does not exist") from None
        except RecursionError:  # JSON nested deeper than Python recurses
            raise NasError(f"{path} is not a nas state file (nested too deeply)") from None
    raise AssertionError("unreachable")


def _load(path: Path) -> Any:
    doc = _parse_json(path)
    if not isinstance(doc, dict) or set(doc) != {"format", "tensors", "data"}:
        raise NasError(f"{path} is not a nas state file (expected a JSON object with format, "
                       "tensors and data)")
    if doc["format"] != FORMAT:
        raise NasError(f"{path} has state format {doc['format']!r}; this nas reads {FORMAT!r}")
    name = doc["tensors"]
    tensors: dict[str, torch.Tensor] = {}
    if name is not None:
        if not isinstance(name, str) or not _is_tensor_file_name(path, name):
            raise NasError(f"{path} names a bad tensor file {name!r}")
        tensors = _read_tensors(path, path.with_name(name))
    return _join(doc["data"], tensors, path)


def _parse_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise NasError(f"cannot read the state file {path}: {e.strerror}") from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise NasError(f"{path} is not a nas state file (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise NasError(f"{path} is not a nas state file (not JSON: {e})") from None


def _read_tensors(path: Path, tensor_path: Path) -> dict[str, torch.Tensor]:
    try:
        content = tensor_path.read_bytes()
    except FileNotFoundError:
        raise _Vanished(tensor_path.name) from None
    except OSError as e:
        raise NasError(f"{path} needs {tensor_path.name}, which cannot be read: "
                       f"{e.strerror}") from None
    if tensor_file_name(path, content) != tensor_path.name:
        raise NasError(f"{tensor_path} is damaged (its content does not match its name)")
    # imports safetensors, torch: loaded here, where used, for start-up time
    import safetensors.torch

    try:
        tensors: dict[str, torch.Tensor] = safetensors.torch.load(content)
    except Exception as e:  # safetensors' parser raises its own error type for any bad file
        raise NasError(f"{tensor_path} is not a safetensors file ({e})") from None
    return tensors


def _join(obj: Any, tensors: Mapping[str, torch.Tensor], path: Path) -> Any:
    """The JSON data with each ``{"$tensor": name}`` replaced by its tensor."""
    if isinstance(obj, list):
        return [_join(v, tensors, path) for v in obj]
    if isinstance(obj, dict):
        if TENSOR in obj:
            ref = obj[TENSOR]
            if len(obj) != 1 or not isinstance(ref, str) or ref not in tensors:
                raise NasError(f"{path} refers to a tensor {ref!r} that its tensor file "
                               "does not have")
            return tensors[ref]
        return {k: _join(v, tensors, path) for k, v in obj.items()}
    return obj


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (:func:`write_atomic`)."""
    return write_atomic(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; a file that is not JSON is one :class:`NasError` line."""
    path = Path(path)
    raw = safe.read_bytes(path)
    try:
        return json.loads(raw)
    except RecursionError:
        raise NasError(f"{path} is damaged (JSON nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise NasError(f"{path} is damaged (not JSON: {e})") from None
