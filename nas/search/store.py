"""Where a search keeps everything: the run directory and its Optuna study.

A run is a directory ``runs/<name>/``::

    config.json    the resolved search config (what ``--resume`` reads back)
    state.json     the controller's state and the driver's bookkeeping, replaced atomically,
                   with its tensors (rl's policy) in state.<hash>.safetensors beside it
                   (:mod:`nas.core.statefile`: nothing in a run is ever unpickled)
    summary.json   trials done, best accuracy, state: what ``nas runs`` lists without Optuna
    search.log     one line per event (start, child dispatched / finished, resume, stop)
    study.db       the Optuna study (SQLite), unless ``--storage URL`` names a database
    artifacts/     the study's Optuna artifacts (each child's cell diagram or layer table),
                   a FileSystemArtifactStore that optuna-dashboard shows beside the trials
    lock           held (``flock``) by the one process that writes the run

The study holds one trial per child trained, whatever the controller: the genome as params
(one categorical distribution per decision, so ``optuna-dashboard`` and
``optuna.visualization`` work) and as a JSON user attr, every metric of the trainer's result
as user attrs, the status and message, timings and where the child ran; the value is the
validation accuracy (%). Only the search driver writes it.

Optuna is imported by the functions that open a study, not at the top: ``nas runs`` reads
only ``config.json`` and ``summary.json``, and importing Optuna (with numpy and its storages)
costs 0.5-1 s of its start-up (bench/startup.py).

The lock is an advisory ``flock`` on ``lock``: the kernel drops it when its process dies, even
by ``kill -9``, so a stale lock can never block a resume; the pid written inside only names the
holder in the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from nas.core import statefile
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.metrics import current
from nas.core.safe import check_dir
from nas.core.statefile import read_json, write_json

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

    from nas.core.space import Space
    from nas.search.config import SearchConfig

CONFIG = "config.json"
STATE = "state.json"
#: where nas before statefile kept the state, as a pickle: refused, never opened
OLD_STATE = "state.pkl"
SUMMARY = "summary.json"
LOG = "search.log"
STUDY_DB = "study.db"
LOCK = "lock"
ARTIFACTS = "artifacts"

#: Trial attrs that count things (parameters, multiply-adds, steps): recorded as integers,
#: though the trainer's metrics carry them as floats (what controllers are told).
COUNTS = ("params", "macs", "steps", "memory")

#: ``status`` user attr of a trial whose child was cut off by a killed or stopped search; it
#: is FAIL in Optuna's terms but is not a result: the genome is trained again on resume.
INTERRUPTED = "interrupted"


# --- the lock ------------------------------------------------------------------------------


class RunLock:
    """The exclusive right to write one run, held with ``flock`` until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, run: str) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise NasError(f"run {run!r} is being written by {holder}; wait for that search "
                           f"to finish or stop it, then resume with --resume {run}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} "
                     f"since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def is_held(path: Path) -> bool:
        """Whether some live process holds the lock at ``path`` (probes without keeping it)."""
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock we may just have taken
        return False


# --- the run directory ---------------------------------------------------------------------


#: The longest run name: a directory name and an Optuna study name (filesystems allow 255
#: bytes; room is left for the files nas writes beside a run's name).
MAX_NAME = 120


def check_run_name(name: str) -> str:
    if not name or name in {".", ".."} or "/" in name or name.startswith(".") or "\0" in name:
        raise NasError(f"bad run name {name!r}: use letters, digits, '-', '_' and '.'")
    if len(name.encode()) > MAX_NAME:
        raise NasError(f"run name {name[:20]}... is {len(name.encode())} bytes long; use "
                       f"{MAX_NAME} or fewer")
    return name


class RunDir:
    """One run's directory: its files, its lock and its study's storage URL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    # creation and lookup -------------------------------------------------------------------

    @staticmethod
    def check_free(runs_dir: str | Path, name: str) -> None:
        """Raise if ``name`` is taken (early; :meth:`create` checks again, atomically)."""
        check_dir(runs_dir, "--runs-dir")
        if (Path(runs_dir) / check_run_name(name)).exists():
            raise NasError(f"run {name!r} already exists in {runs_dir}; resume it with "
                           f"--resume {name} or choose another --name")

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, config: Mapping[str, Any]) -> RunDir:
        """Make ``runs_dir/name`` for a new search; a name already in use is an error."""
        path = check_dir(runs_dir, "--runs-dir") / check_run_name(name)
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            raise NasError(f"run {name!r} already exists in {runs_dir}; resume it with "
                           f"--resume {name} or choose another --name") from None
        run = cls(path)
        run.write_config(config)
        return run

    @classmethod
    def open(cls, runs_dir: str | Path, name: str) -> RunDir:
        """The existing run ``runs_dir/name`` (a missing one names the runs that exist)."""
        path = check_dir(runs_dir, "--runs-dir") / check_run_name(name)
        if not (path / CONFIG).is_file():
            known = ", ".join(r.name for r in list_run_dirs(runs_dir)) or "none"
            raise NasError(f"no run {name!r} in {runs_dir} (runs there: {known}); "
                           f"`nas runs --runs-dir DIR` lists runs elsewhere")
        return cls(path)

    # files ---------------------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = read_json(self.path / CONFIG)
        return config

    def write_config(self, config: Mapping[str, Any]) -> None:
        write_json(self.path / CONFIG, dict(config))

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Save the driver's state (controller state, told trials, pending genomes), atomically:
        plain data and tensors only (:mod:`nas.core.statefile`)."""
        statefile.save(self.path / STATE, dict(state))

    def load_state(self) -> dict[str, Any] | None:
        """The state last saved, or None if there is none yet. A damaged state file, or only
        the pickle an older nas wrote, raises one NasError line naming the file."""
        path = self.path / STATE
        if not path.exists():
            if (self.path / OLD_STATE).exists():  # never opened: unpickling runs its code
                raise NasError(f"run {self.name!r} has {OLD_STATE} (a pickle, from an older "
                               f"nas); nas never unpickles run files: start a new run")
            return None
        state = statefile.load(path)
        if not isinstance(state, dict):
            raise NasError(f"{path} holds a {type(state).__name__}, not a run's state")
        return state

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        write_json(self.path / SUMMARY, dict(summary))

    def summary(self) -> dict[str, Any]:
        path = self.path / SUMMARY
        summary: dict[str, Any] = read_json(path) if path.exists() else {}
        return summary

    def lock(self) -> RunLock:
        """Take the run's lock; raises :class:`NasError` naming the holder when it is taken."""
        return RunLock(self.path / LOCK).acquire(self.name)

    def is_active(self) -> bool:
        return RunLock.is_held(self.path / LOCK)

    @property
    def storage_url(self) -> str:
        """The study's storage: ``--storage`` if one was given, else ``study.db`` here."""
        config = self.config
        url = config.get("storage") if isinstance(config, dict) else None
        return str(url) if url else f"sqlite:///{(self.path / STUDY_DB).resolve()}"

    def artifact_store(self) -> Any:
        """The run's Optuna artifact store (``artifacts/``, a FileSystemArtifactStore)."""
        from optuna.artifacts import FileSystemArtifactStore  # see the module docstring

        (self.path / ARTIFACTS).mkdir(exist_ok=True)
        return FileSystemArtifactStore(str(self.path / ARTIFACTS))

    def log_handler(self) -> logging.Handler:
        handler = logging.FileHandler(self.path / LOG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        return handler


def list_run_dirs(runs_dir: str | Path) -> list[RunDir]:
    """The runs in ``runs_dir`` (directories with a config.json), oldest first."""
    root = check_dir(runs_dir, "--runs-dir")
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if (p / CONFIG).is_file()]
    return sorted(runs, key=lambda r: ((r.path / CONFIG).stat().st_mtime, r.name))


# --- the study -----------------------------------------------------------------------------


@dataclass
class TrialRecord:
    """One trial as the driver and ``nas status`` see it (read from the study)."""

    number: int
    state: str  # Optuna's: COMPLETE, FAIL, PRUNED, RUNNING
    status: str  # the trainer's: ok, diverged, oom, error, pruned; or interrupted / running
    genome: Genome
    accuracy: float | None  # validation top-1 (%) of a completed trial
    message: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)  # every user attr
    completed: float | None = None  # when the trial was finished (a Unix time), if it was
    reward: float | None = None  # the trial's value: the run objective's reward
    curve: list[float] = field(default_factory=list)  # accuracy per epoch (intermediate values)

    @property
    def finished(self) -> bool:
        """A result (good or bad) that counts towards the budget; not running, not cut off."""
        return self.state != "RUNNING" and self.status != INTERRUPTED

    def metrics(self) -> dict[str, float] | None:
        """The trainer's metrics as the controller was (or is to be) told; None if it failed."""
        metrics = self.attrs.get("metrics")
        if self.state == "FAIL" or not isinstance(metrics, dict):
            return None
        return {k: float(v) for k, v in metrics.items()}


def _sqlite_pragmas(storage: optuna.storages.RDBStorage) -> None:
    """WAL journal and ``synchronous=NORMAL`` for SQLite: about 10x fewer milliseconds per write.

    Each Optuna write is its own transaction; with SQLite's default rollback journal every one
    waits for two fsyncs. WAL with NORMAL syncs only at checkpoints, survives a killed process
    (not a power cut, for the last transactions) and lets a dashboard read while we write.
    """
    # imports sqlalchemy: loaded here, where used, for start-up time
    from sqlalchemy import event

    @event.listens_for(storage.engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    storage.engine.dispose()  # connections opened before the listener do not have the pragmas


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite storage URL (``sqlite:///path``), else None."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


#: The tables Optuna makes in a new database, and the two it fills before the study exists.
_OPTUNA_TABLES = ("studies", "version_info", "alembic_version")


def study_ready(file: Path) -> bool:
    """Whether the SQLite file ``file`` has Optuna's schema: its tables and version rows.

    The driver makes them in several transactions when it creates a run's study, and Optuna
    fills in whichever are missing when it opens a database for writing; a read-only reader
    cannot, so one that arrives in between (or after a search killed in between) must not try.
    A file SQLite cannot read counts as ready: opening it says how it is damaged.
    """
    if not file.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not set(_OPTUNA_TABLES) <= tables:
                return False
            return all(db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is not None
                       for t in _OPTUNA_TABLES[1:])
    except sqlite3.Error:
        return True


def open_storage(url: str, *, read_only: bool = False) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` (SQLite files get the WAL pragmas).

    ``read_only`` opens an SQLite file so that nothing can write it (a reader never creates a
    missing database, fills an empty file with tables, or changes a damaged one); a file
    without Optuna's schema yet (:func:`study_ready`) is refused in one line.
    """
    import optuna  # here, not at the top: see the module docstring

    file = sqlite_file(url)
    if read_only and file is not None:
        if not file.is_file():
            raise NasError(f"the study {file} does not exist")
        if not study_ready(file):
            raise NasError(f"the study {file} has no tables yet (a search is creating it, or "
                           "was stopped while it did)")
        url = f"sqlite:///file:{file}?mode=ro&uri=true"
    try:
        storage = optuna.storages.RDBStorage(url)
    except Exception as e:  # a bad URL, a missing driver, an unreachable or damaged database
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise NasError(f"cannot open the study storage {file or url}: {reason[:200]}") \
            from None
    if url.startswith("sqlite") and not read_only:
        _sqlite_pragmas(storage)
    return storage


def genome_distributions(space: Space) -> dict[str, BaseDistribution]:
    """One categorical distribution per decision, options in the space's order."""
    from optuna.distributions import CategoricalDistribution  # see the module docstring

    return {d.name: CategoricalDistribution(d.options) for d in space.decisions}


def _jsonable(value: Any) -> Any:
    """A user attr value: finite floats stay, NaN/inf become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _first_line(e: BaseException) -> str:
    return ((str(e).strip().splitlines() or [type(e).__name__])[0])[:200]


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines (the live view reports trials instead)."""
    import optuna  # see the module docstring

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


class RunStudy:
    """The run's Optuna study, seen as children: start one, finish one, read them all."""

    def __init__(self, study: optuna.Study, space: Space | None) -> None:
        self.study = study
        self.space = space  # needed to write trials; reading works without it
        self.distributions: dict[str, BaseDistribution] = (
            genome_distributions(space) if space is not None else {})
        self._open: dict[int, optuna.Trial] = {}  # trial number -> running trial
        self.artifact_store: Any = None  # where finish() stores a trial's files; None: nowhere
        #: the number the next :meth:`start` will get (Optuna numbers a study's trials 0, 1, ...)
        self.next_number = len(study.get_trials(deepcopy=False))

    @property
    def name(self) -> str:
        return self.study.study_name

    @classmethod
    def open(cls, url: str | optuna.storages.BaseStorage, name: str, space: Space | None, *,
             create: bool = False, load: bool = True) -> RunStudy:
        """The study ``name`` in ``url`` (or an Optuna storage object): ``create`` a new one,
        ``load`` an existing one, or either when both are true (a resume of a run killed
        before its study existed)."""
        import optuna  # see the module docstring
        from sqlalchemy.exc import SQLAlchemyError

        storage = open_storage(url, read_only=not create) if isinstance(url, str) else url
        with quiet_optuna():
            try:
                if create:
                    study = optuna.create_study(
                        storage=storage, study_name=name, direction="maximize",
                        sampler=optuna.samplers.RandomSampler(), load_if_exists=load)
                else:
                    study = optuna.load_study(storage=storage, study_name=name,
                                              sampler=optuna.samplers.RandomSampler())
            except optuna.exceptions.DuplicatedStudyError:
                raise NasError(f"the storage {url} already has a study {name!r}; choose "
                               "another --name or resume that run") from None
            except KeyError:
                raise NasError(f"the storage {url} has no study {name!r}") from None
            except SQLAlchemyError as e:  # a damaged database file
                raise NasError(f"the study storage {url} is damaged: "
                               f"{_first_line(e)}") from None
        return cls(study, space)

    # writing (the driver only) -------------------------------------------------------------

    def describe(self, **attrs: Any) -> None:
        """Record what the run is (its config, evaluator, objective) as study attributes, so
        the dashboard and any reader of the study see it."""
        for key, value in _jsonable(attrs).items():
            self.study.set_user_attr(key, value)

    def start(self, genome: Genome, attrs: Mapping[str, Any]) -> int:
        """A RUNNING trial for ``genome``; returns its number.

        The genome's values go in as fixed params (``enqueue_trial`` + ``ask``), so the
        trial's params are exactly the genome's whatever sampler the study object has.
        """
        with quiet_optuna():
            self.study.enqueue_trial(genome.as_dict(), user_attrs={
                "genome": genome.to_dict(), "genome_id": genome.id, "status": "running",
                **_jsonable(dict(attrs))})
            trial = self.study.ask(self.distributions)
        self._open[trial.number] = trial
        self.next_number = trial.number + 1
        return trial.number

    def finish(self, number: int, *, state: TrialState, value: float | None,
               attrs: Mapping[str, Any], curve: Sequence[float] = (),
               artifacts: Sequence[Path] = ()) -> None:
        """Record a child's outcome: user attrs (counts as integers), its validation accuracy
        per epoch (as intermediate values) and its ``artifacts`` (files, uploaded to
        :attr:`artifact_store` if there is one) first, then the state, in one final write.
        A failed child is a FAIL trial without a value.

        A search killed between the two leaves the trial RUNNING, which a resume treats as
        interrupted: a trial is never finished without its attrs.
        """
        from optuna.trial import TrialState  # see the module docstring

        trial = self._open.pop(number)
        for key, v in _jsonable(dict(attrs)).items():
            if key in COUNTS and isinstance(v, float) and v.is_integer():
                v = int(v)
            trial.set_user_attr(key, v)
        for step, acc in enumerate(curve, start=1):  # the learning curve, epoch by epoch
            if acc is not None and math.isfinite(acc):
                trial.report(float(acc), step)
        if self.artifact_store is not None:
            self.upload(trial, artifacts)
        with quiet_optuna():
            self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)

    def upload(self, trial: optuna.Trial, paths: Sequence[Path]) -> None:
        """Store ``paths`` as artifacts of the running ``trial``; a file that cannot be stored
        is logged and skipped (a picture never stops a search)."""
        from optuna.artifacts import upload_artifact  # see the module docstring

        for path in paths:
            try:
                upload_artifact(artifact_store=self.artifact_store, file_path=str(path),
                                study_or_trial=trial)
            except Exception as e:  # a full disk, a removed file: the trial still counts
                logging.getLogger("nas.search").warning(
                    "trial %d: artifact %s not stored: %s", trial.number, path, e)

    def mark_interrupted(self, message: str) -> list[TrialRecord]:
        """Fail every RUNNING trial (its child was cut off); return them, oldest first."""
        import optuna  # see the module docstring
        from optuna.trial import TrialState

        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for frozen in running:
            trial = optuna.Trial(self.study, frozen._trial_id)
            trial.set_user_attr("status", INTERRUPTED)
            trial.set_user_attr("message", message)
            with quiet_optuna():
                self.study.tell(frozen.number, state=TrialState.FAIL)
            self._open.pop(frozen.number, None)
        return [self._record(t) for t in self.study.get_trials(deepcopy=False)
                if t.number in {f.number for f in running}]

    # reading ------------------------------------------------------------------------------

    def records(self) -> list[TrialRecord]:
        """Every trial, by number. A damaged study (a database or a trial that nas did not
        write) is one NasError line."""
        from sqlalchemy.exc import SQLAlchemyError  # with Optuna: see the module docstring

        try:
            return [self._record(t) for t in self.study.get_trials(deepcopy=False)]
        except SQLAlchemyError as e:
            raise NasError(f"the study of run {self.name!r} is damaged: "
                           f"{_first_line(e)}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise NasError(f"the study of run {self.name!r} has a trial nas did not write: "
                           f"{_first_line(e)}") from None

    def _record(self, t: FrozenTrial) -> TrialRecord:
        from optuna.trial import TrialState  # see the module docstring

        # a trial of an older nas: its keys renamed
        attrs = current(t.user_attrs, nested=("metrics", "result"))
        raw = attrs.get("genome")
        space = self.space.name if self.space is not None else "?"
        genome = (Genome.from_dict(raw) if isinstance(raw, dict)
                  else Genome.of(space, t.params))
        value = t.value if t.state == TrialState.COMPLETE else None
        # a trial whose result is not an accuracy (a proxy's score) has none
        trained = attrs.get("measure", "accuracy") == "accuracy"
        accuracy = (attrs.get("accuracy", value if trained else None) if value is not None
                    else None)
        status = str(attrs.get("status", "running" if t.state == TrialState.RUNNING else "?"))
        completed = t.datetime_complete.timestamp() if t.datetime_complete else None
        return TrialRecord(number=t.number, state=t.state.name, status=status, genome=genome,
                           accuracy=accuracy, message=str(attrs.get("message", "")),
                           attrs=attrs, completed=completed, reward=value,
                           curve=[float(v) for _, v in sorted(t.intermediate_values.items())])


# --- reading runs (nas runs, nas status) ----------------------------------------------------


def run_state(run: RunDir) -> str:
    """running (a live driver holds the lock), finished, interrupted, or new."""
    if run.is_active():
        return "running"
    state = checked_summary(run).state
    return "interrupted" if state == "running" else state


def open_run_study(run: RunDir) -> RunStudy:
    """``run``'s study, to read (nothing is written to it); a run stopped before its study
    was made says so, in one line."""
    file = sqlite_file(run.storage_url)
    if file is not None and not study_ready(file):
        how = "does not exist" if not file.is_file() else "is still being made"
        raise NasError(f"run {run.name!r} has no trials yet ({file.name} {how}: its search "
                       f"is starting, or stopped before its first trial was recorded): if it "
                       f"is not running, resume it with nas search --resume {run.name}")
    return RunStudy.open(run.storage_url, run.name, None, load=True)


def list_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """One JSON-able row per run, from config.json and summary.json (the study is not read).

    A damaged run (a config or summary that is not what nas writes) is listed too, with
    state ``damaged`` and the ``reason``, and never hides the other runs.
    """
    rows = []
    for run in list_run_dirs(runs_dir):
        try:
            rows.append(_run_row(run))
        except NasError as e:
            rows.append({"name": run.name, "space": None, "controller": None,
                         "dataset": None, "trials": None, "time_budget": None, "done": 0,
                         "failed": 0, "best_accuracy": None, "best_genome_id": None,
                         "state": "damaged", "reason": str(e), "elapsed": 0.0,
                         "updated": None, "path": str(run.path)})
    return rows


def _run_row(run: RunDir) -> dict[str, Any]:
    config, summary = run_config(run), checked_summary(run)
    best = summary.best or RunSummaryBest()
    return {
        "name": run.name, "space": config.space, "controller": config.controller,
        "dataset": config.dataset, "trials": config.trials,
        "time_budget": config.time_budget, "done": summary.done, "failed": summary.failed,
        "best_accuracy": best.accuracy, "best_genome_id": best.genome_id,
        "state": run_state(run), "elapsed": summary.elapsed, "updated": summary.updated,
        "path": str(run.path),
    }


def run_config(run: RunDir) -> SearchConfig:
    """The run's config.json, checked field by field (:mod:`nas.search.validate`)."""
    from nas.search.validate import search_config  # it imports the config's dependencies

    return search_config(run.config, run.path / CONFIG)


class RunSummaryBest(pydantic.BaseModel):
    accuracy: float | None = None
    genome_id: str | None = None


class RunSummary(pydantic.BaseModel):
    """What summary.json must hold for ``nas runs`` (other fields are kept, not checked)."""

    state: str = "new"
    done: pydantic.NonNegativeInt = 0
    failed: pydantic.NonNegativeInt = 0
    elapsed: float = 0.0
    updated: str | None = None
    best: RunSummaryBest | None = None


def checked_summary(run: RunDir) -> RunSummary:
    path = run.path / SUMMARY
    try:
        return RunSummary.model_validate(run.summary())
    except pydantic.ValidationError as e:
        error = e.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "(the whole file)"
        raise NasError(f"{path}: {field}: {error['msg']}") from None


def run_status(runs_dir: str | Path, name: str, top: int = 5) -> dict[str, Any]:
    """One run in detail, from its study: best genomes with their cost, failures, counts."""
    run = RunDir.open(runs_dir, name)
    config = run_config(run).to_dict()
    records = open_run_study(run).records()
    finished = [r for r in records if r.finished]
    counts: dict[str, int] = {}
    for r in finished:
        counts[r.status] = counts.get(r.status, 0) + 1
    ok = sorted((r for r in finished if r.reward is not None),
                key=lambda r: (-float(r.reward or 0.0), r.number))

    def cost(r: TrialRecord) -> dict[str, Any]:
        a = r.attrs
        return {"trial": r.number, "accuracy": r.accuracy, "params": a.get("params"),
                "macs": a.get("macs"), "latency_ms": a.get("latency_ms"),
                "seconds": a.get("seconds"), "reward": a.get("reward"),
                "node": a.get("node"), "device": a.get("device"),
                "measure": a.get("measure", "accuracy"),  # a proxy's name: not an accuracy
                "prefilter": a.get("prefilter"),  # stage one's rank and score, if it chose it
                "genome_id": r.genome.id, "genome": r.genome.to_dict()}

    failures = [{"trial": r.number, "status": r.status, "message": r.message,
                 "genome_id": r.genome.id, "genome": r.genome.to_dict()}
                for r in finished if r.state == "FAIL"]
    return {
        "name": run.name, "path": str(run.path), "state": run_state(run),
        "storage": run.storage_url, "config": config,
        "done": len(finished), "failed": len(failures),
        "interrupted": sum(1 for r in records if r.status == INTERRUPTED),
        "running": sum(1 for r in records if r.state == "RUNNING"),
        "counts": counts, "elapsed": checked_summary(run).elapsed,
        "best": [cost(r) for r in ok[:top]], "failures": failures,
    }
