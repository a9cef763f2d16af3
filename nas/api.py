"""The Python API: build, train, search and read runs in the conventions users know.

Like timm, :func:`create_model` builds a network by name (a baseline) or from a genome (an
object, or a JSON file), and :func:`list_models` lists the names; like Optuna, :func:`search`
runs a search and returns a :class:`Run`, and :func:`load_run` opens an existing one, whose
``.study`` is the Optuna study itself. :func:`train` trains any of them with the search's own
trainer and returns the :class:`Training` that ``nas train`` writes as ``result.json``. The
command line is a thin layer over these functions (``nas search``, ``nas train``)::

    import nas

    model = nas.create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    run = nas.search(space="nasbench201", evaluator="table", trials=20)
    best = run.best(3)                 # TrialRecords: genome, accuracy, metrics
    net = run.model()                  # the best trial's network (weights: see Run.model)
    training = nas.train(best[0].genome, dataset="cifar10", epochs=30)

Everything a user can get wrong raises a one-line :class:`~nas.core.errors.NasError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import sys
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nas.core.errors import NasError, ShapeError
from nas.core.genome import Genome, GenomeFile
from nas.core.space import BASELINES, Baseline, create_space, list_baselines, validate_genome
from nas.core.statefile import write_json
from nas.results.runs import find_trial, open_run, ranked_trials, run_input
from nas.search.live import LineView
from nas.search.store import RunStudy, run_status
from nas.training.recipe import Budget, Recipe

if TYPE_CHECKING:
    import optuna
    import pandas
    from torch import nn

    from nas.search.live import View
    from nas.search.loop import SearchResult
    from nas.search.store import RunDir, TrialRecord
    from nas.training.recipe import Recipe
    from nas.training.result import Progress, Result

#: Files that :func:`create_model` and :func:`train` read as a checkpoint, not a genome.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
#: The size a baseline is built for when nothing says otherwise: ImageNet's, as published.
BASELINE_INPUT = (3, 224, 224)
BASELINE_CLASSES = 1000
#: A genome that records nothing is built for CIFAR-10's 3x32x32 images and 10 classes (the
#: defaults of :meth:`nas.core.space.Space.build`).
GENOME_INPUT = (3, 32, 32)
GENOME_CLASSES = 10


# --- what a network is ------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A network as :func:`create_model` resolved it: genome, options, what it is built for,
    and the checkpoint its weights come from (if any)."""

    label: str  # a baseline's name, a file's stem or the genome's id
    genome: Genome
    space_options: Mapping[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, int, int] | None = None  # recorded or given; None: unknown
    num_classes: int | None = None
    checkpoint: Path | None = None

    def sized(self, input_shape: Sequence[int] | None, num_classes: int | None,
              default: tuple[tuple[int, int, int], int]) -> Spec:
        """The spec with the given size, else the recorded one, else ``default``."""
        shape = _shape(input_shape) if input_shape is not None else self.input_shape
        return dataclasses.replace(
            self, input_shape=shape or default[0],
            num_classes=int(num_classes) if num_classes is not None
            else self.num_classes or default[1])


#: Each module :func:`create_model` built -> its spec, so :func:`train` knows its genome
#: (weak: the table never keeps a module alive).
_SPECS: weakref.WeakKeyDictionary[Any, Spec] = weakref.WeakKeyDictionary()


def _shape(value: Sequence[int] | int) -> tuple[int, int, int]:
    """``(C, H, W)``, or an int ``S`` for ``(3, S, S)``; anything else is a NasError."""
    if isinstance(value, int):
        value = (3, value, value)
    parts = tuple(value)
    if len(parts) != 3 or not all(isinstance(v, int) and v > 0 for v in parts):
        raise NasError(f"input_shape must be (C, H, W) with positive integers, got {value!r}")
    return (parts[0], parts[1], parts[2])


def resolve(source: str | Path | Genome | GenomeFile | Baseline,
            space_options: Mapping[str, Any] | None = None) -> Spec:
    """What ``source`` names: a baseline (by name or object), a genome (object or JSON
    file, with what the file records) or a nas checkpoint file."""
    options = dict(space_options or {})
    if isinstance(source, Baseline):
        return Spec(source.name, source.genome, {**source.space_options, **options})
    if isinstance(source, Genome):
        return Spec(source.id, validate_genome(source), options)
    if isinstance(source, GenomeFile):
        return Spec(source.genome.id, validate_genome(source.genome),
                    {**(source.space_options or {}), **options}, source.input_shape,
                    source.num_classes)
    text = str(source)
    if isinstance(source, str) and text in BASELINES:
        baseline = BASELINES.get(text)
        return Spec(text, baseline.genome, {**baseline.space_options, **options})
    path = Path(text)
    if path.suffix in CHECKPOINT_SUFFIXES:
        # imports networkx, torch: loaded here, where used, for start-up time
        from nas.training.checkpoint import checkpoint_genome, load_checkpoint

        ckpt = load_checkpoint(path, mmap=True)  # the metadata; the weights are read later
        if options and options != dict(ckpt["space_options"]):
            raise NasError(f"{path}: space_options cannot change a checkpoint's network (its "
                           f"weights fit {ckpt['space_options']})")
        s = ckpt["input_shape"]
        return Spec(path.stem, checkpoint_genome(ckpt, path), dict(ckpt["space_options"]),
                    (int(s[0]), int(s[1]), int(s[2])), int(ckpt["num_classes"]), path)
    if path.suffix == ".json" or path.is_file():
        record = GenomeFile.load(path)
        return Spec(path.stem, validate_genome(record.genome),
                    {**(record.space_options or {}), **options}, record.input_shape,
                    record.num_classes)
    close = difflib.get_close_matches(text, list_baselines(), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "`nas baselines` lists the baselines"
    raise NasError(f"{text!r} is neither a baseline nor a genome JSON file or checkpoint; {hint}")


# --- models -----------------------------------------------------------------------------------


def list_models(pattern: str = "*") -> list[str]:
    """The baselines :func:`create_model` builds by name, matching ``pattern`` (a shell-style
    wildcard, as ``timm.list_models``): ``nas.list_models("resnet*")``."""
    return [name for name in list_baselines() if fnmatch.fnmatchcase(name, pattern)]


def create_model(name_or_genome: str | Path | Genome | GenomeFile | Baseline, *,
                 num_classes: int | None = None,
                 input_shape: Sequence[int] | int | None = None,
                 space_options: Mapping[str, Any] | None = None,
                 seed: int | None = None) -> nn.Module:
    """The network ``name_or_genome`` names, as a ``torch.nn.Module`` (``torch.fx``).

    - a baseline name (:func:`list_models`) or :class:`~nas.core.space.Baseline`: built for
      ImageNet's 3x224x224 images and 1000 classes unless told otherwise, freshly initialised
      (the torchvision ones load torchvision's weights with no key mapping);
    - a :class:`~nas.core.genome.Genome` (3x32x32 and 10 classes unless told otherwise) or a
      genome JSON file: a file that ``nas export``, ``nas search --json`` or :meth:`Run.export`
      wrote records the input shape, classes and space options its network was built for, so
      it needs no argument;
    - a nas checkpoint (``nas train``'s ``checkpoint.pt``, ``nas export``'s ``*.ckpt.pt``): the
      network with its trained weights, in eval mode.

    ``num_classes`` and ``input_shape`` (``(C, H, W)``, or ``S`` for ``(3, S, S)``) override
    what is recorded (not for a checkpoint, whose weights fit one size); ``space_options``
    are the space's network-level options (``cells=2``); ``seed`` seeds the initial weights
    (default: torch's global generator, as ``torch.nn`` does).
    """
    spec = resolve(name_or_genome, space_options)
    if spec.checkpoint is not None:
        given = (None if input_shape is None else _shape(input_shape), num_classes)
        if given[0] not in (None, spec.input_shape) or given[1] not in (None, spec.num_classes):
            raise NasError(f"{spec.checkpoint} holds weights for {spec.input_shape} inputs and "
                           f"{spec.num_classes} classes; build its genome for another size "
                           "with create_model(genome, ...) (fresh weights)")
        # imports networkx, torch: loaded here, where used, for start-up time
        from nas.training.checkpoint import load_network

        model, _ = load_network(spec.checkpoint)
        _SPECS[model] = spec
        return model
    default = ((BASELINE_INPUT, BASELINE_CLASSES) if isinstance(name_or_genome, Baseline)
               or (isinstance(name_or_genome, str) and name_or_genome in BASELINES)
               else (GENOME_INPUT, GENOME_CLASSES))
    spec = spec.sized(None if input_shape is None else _shape(input_shape), num_classes,
                      default)
    assert spec.input_shape is not None and spec.num_classes is not None
    space = create_space(spec.genome.space, **spec.space_options)
    try:
        graph = space.graph(spec.genome, spec.input_shape, spec.num_classes)
    except ShapeError as e:
        size = "x".join(map(str, spec.input_shape))
        raise NasError(f"{spec.label} does not fit {size} inputs: {e}") from None
    import torch  # imported here: listing and resolving need no torch (bench/startup.py)

    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = space.module(graph)
    _SPECS[model] = spec
    return model


def model_spec(model: nn.Module) -> Spec | None:
    """The spec of a module :func:`create_model` built (None for any other module)."""
    return _SPECS.get(model)


# --- training ---------------------------------------------------------------------------------


@dataclass
class Training:
    """What :func:`train` returns; :meth:`to_dict` is what ``nas train`` writes to
    ``result.json``."""

    network: str  # the baseline's name, the genome file's stem or the genome's id
    genome: Genome
    space_options: dict[str, Any]
    dataset: dict[str, Any]  # name, data_dir, limit, input_shape, num_classes, split sizes
    recipe: dict[str, Any]  # the nas.training.recipe.Recipe used
    budget: dict[str, Any]  # epochs, steps, seconds (the first reached stops training)
    result: Result  # everything the trainer measured
    model: nn.Module = field(repr=False)  # the trained network, in eval mode
    checkpoint: Path | None = None  # written when ``out`` was given and training finished

    @property
    def accuracy(self) -> float:
        """Best validation top-1 (%), the number a search ranks by."""
        return self.result.best_val_top1

    @property
    def test_accuracy(self) -> float | None:
        """Test top-1 (%) after training (None with ``evaluate_test=False``)."""
        return self.result.test_top1

    def metrics(self) -> dict[str, float]:
        return self.result.metrics()

    def genome_file(self) -> GenomeFile:
        shape = self.dataset["input_shape"]
        return GenomeFile(self.genome, (shape[0], shape[1], shape[2]),
                          int(self.dataset["num_classes"]), self.space_options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network, "genome": self.genome.to_dict(),
            "space_options": dict(self.space_options), "dataset": dict(self.dataset),
            "recipe": dict(self.recipe), "budget": dict(self.budget),
            "result": self.result.to_dict(), "metrics": self.result.metrics(),
            "checkpoint": None if self.checkpoint is None else self.checkpoint.name,
        }


def default_recipe(dataset: str) -> dict[str, Any]:
    """The trainer's recipe with the dataset's defaults (digits: batch 32, so that an epoch
    is 40 steps rather than 10; see nas.search.config.DATASET_RECIPES)."""
    # imports optuna, ray, torch: loaded here, where used, for start-up time
    from nas.search.config import DATASET_RECIPES

    return {**Recipe().to_dict(), **DATASET_RECIPES.get(dataset, {})}


def train(model_or_genome: nn.Module | str | Path | Genome | GenomeFile | Baseline, *,
          dataset: str = "digits", data_dir: str | Path | None = None,
          recipe: Recipe | Mapping[str, Any] | None = None, epochs: float | None = None,
          steps: int | None = None, seconds: float | None = None, limit: int | None = None,
          download: bool = False, space_options: Mapping[str, Any] | None = None,
          device: str | None = None, evaluate_test: bool = True,
          out: str | Path | None = None,
          progress: Callable[[Progress], None] | None = None) -> Training:
    """Train a network on ``dataset`` with the search's trainer; return the :class:`Training`.

    ``model_or_genome`` is anything :func:`create_model` takes, or a module it built (trained
    as it is, so a checkpoint's weights are fine-tuned). The network is built for the data's
    input shape and classes, with weights seeded by the recipe's seed (the data's
    validation split too). ``recipe``: a :class:`~nas.training.recipe.Recipe` or the fields to
    change in the dataset's default one (``{"lr": 0.05}``). The budget: ``epochs``, ``steps``
    or ``seconds`` (the first reached stops; default 10 epochs). With ``out``, writes
    ``result.json`` (:meth:`Training.to_dict`) and, when the training finished,
    ``checkpoint.pt`` there, as ``nas train`` does. A child that diverges or runs out of memory
    is a result (``training.result.status``), not an exception.
    """
    # imports torch: loaded here, where used, for start-up time
    from nas.training.data import load_dataset
    from nas.training.loop import build_child
    from nas.training.loop import train as fit

    module: nn.Module | None = None  # a module to train as it is
    if _is_module(model_or_genome):
        module = cast("nn.Module", model_or_genome)
        given = model_spec(module)
        if given is None:
            raise NasError("train() takes a module built by nas.create_model (it needs its "
                           "genome), a baseline name, a genome or a genome / checkpoint file")
        spec = given
    else:
        spec = resolve(cast("str | Path | Genome | GenomeFile | Baseline", model_or_genome),
                       space_options)
        if spec.checkpoint is not None:  # fine-tune the checkpoint's weights
            module = create_model(spec.checkpoint)
    if isinstance(recipe, Recipe):
        chosen = recipe
    else:
        chosen = Recipe.from_dict({**default_recipe(dataset), **dict(recipe or {})})
    if epochs is None and steps is None and seconds is None:
        epochs = 10.0
    budget = Budget(epochs=epochs, steps=steps, seconds=seconds)
    output = Path(out) if out is not None else None
    if output is not None and output.exists() and not output.is_dir():
        raise NasError(f"out {output} exists and is not a directory")
    data = load_dataset(dataset, data_dir, download=download, seed=chosen.seed, limit=limit)
    shape = "x".join(map(str, data.input_shape))
    macs: int | None = None
    if module is not None:
        model = module
        if (spec.input_shape, spec.num_classes) != (data.input_shape, data.num_classes):
            raise NasError(f"the model was built for {spec.input_shape} inputs and "
                           f"{spec.num_classes} classes; {data.name} has {shape} and "
                           f"{data.num_classes}: create_model(..., input_shape="
                           f"{data.input_shape}, num_classes={data.num_classes})")
    else:
        try:
            model, macs = build_child(spec.genome, data.input_shape, data.num_classes,
                                       chosen.seed, spec.space_options)
        except ShapeError as e:
            raise NasError(f"{spec.label} does not fit {data.name} images ({shape}): {e}") \
                from None
    result = fit(model, data, chosen, budget, device=device, evaluate_test=evaluate_test,
                 progress=progress, macs=macs)
    training = Training(
        network=spec.label, genome=spec.genome, space_options=dict(spec.space_options),
        dataset={"name": data.name, "data_dir": None if data_dir is None else str(data_dir),
                 "limit": limit, "input_shape": list(data.input_shape),
                 "num_classes": data.num_classes, "train": len(data.train),
                 "val": len(data.val), "test": len(data.test)},
        recipe=chosen.to_dict(), budget=dataclasses.asdict(budget), result=result,
        model=model)
    if output is not None:
        # imports networkx, torch: loaded here, where used, for start-up time
        from nas.training.checkpoint import save_checkpoint

        output.mkdir(parents=True, exist_ok=True)
        if result.status in ("ok", "pruned"):
            training.checkpoint = save_checkpoint(
                output / "checkpoint.pt", model, spec.genome, chosen, result, data,
                space_options=spec.space_options)
        write_json(output / "result.json", training.to_dict())
    return training


def _is_module(obj: object) -> bool:
    """Whether ``obj`` is a torch module (without importing torch for the other cases)."""
    torch = sys.modules.get("torch")  # a module exists only once torch was imported
    return torch is not None and isinstance(obj, torch.nn.Module)


# --- searching and runs -----------------------------------------------------------------------


def search(*, space: str | None = None, controller: str | None = None,
           evaluator: str | None = None, dataset: str | None = None,
           trials: int | None = None, epochs: float | None = None,
           name: str | None = None, runs_dir: str | Path = "runs",
           resume: str | None = None, show_progress: bool = False,
           view: View | None = None, **options: Any) -> Run:
    """Run a search to the end of its budget (or ``resume`` one) and return its :class:`Run`.

    The keywords are :class:`~nas.search.config.SearchConfig`'s fields (``nas search``'s
    flags): ``space``, ``controller`` and ``evaluator`` by their registered names (``nas
    spaces``, ``nas controllers``, ``nas evaluators``), their options as ``space_options``,
    ``controller_options`` and ``evaluator_options`` dicts, ``dataset``, ``trials``,
    ``time_budget`` (seconds), ``epochs`` per child, ``recipe``, ``seed``, ``cost`` and
    ``cost_target``, ``early_stop``, ``limit``, ``gpus`` ...; unset ones take the defaults.
    The run is written to ``runs_dir/name`` (default name: space-controller-time), with each
    child's cell diagram or layer table as an Optuna artifact of its trial (``nas dashboard``
    shows them).
    ``show_progress`` prints one line per finished child; ``view`` is any
    :class:`nas.search.live.View`. Ctrl-C stops the search, which stays resumable.
    """
    # imports networkx: loaded here, where used, for start-up time
    from nas.results.artifacts import trial_pictures
    from nas.search.config import SearchConfig
    from nas.search.loop import QuietView, run_search

    given = {"space": space, "controller": controller, "evaluator": evaluator,
             "dataset": dataset, "trials": trials, "epochs": epochs, **options}
    known = {f.name for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise NasError(f"search() got unknown option(s) {', '.join(unknown)}; known: "
                       f"{', '.join(sorted(known - {'input_shape', 'num_classes'}))}")
    view = view or (LineView() if show_progress else QuietView())
    if resume is not None:
        if name is not None:
            raise NasError("resume= names the run already; drop name=")
        result = run_search(resume=resume, runs_dir=runs_dir, view=view, overrides=given,
                            pictures=trial_pictures)
    else:
        defaults = SearchConfig()
        if given.get("time_budget") is not None and given.get("trials") is None:
            defaults.trials = None  # a time budget alone: as many children as fit
        set_ = {k: v for k, v in given.items() if v is not None}
        config = SearchConfig.from_dict({**defaults.to_dict(), **set_})
        result = run_search(config, name=name, runs_dir=runs_dir, view=view,
                            pictures=trial_pictures)
    assert result.run is not None
    return Run(result.run, result)


def load_run(name_or_path: str | Path, runs_dir: str | Path = "runs") -> Run:
    """An existing run, by name (in ``runs_dir``) or by directory."""

    return Run(open_run(name_or_path, runs_dir))


class Run:
    """A search run: its directory, config, study and trials (see :func:`search`).

    Reading a run never changes it; :meth:`export` writes under ``<run>/exports`` unless told
    otherwise. Trials are :class:`~nas.search.store.TrialRecord` s: ``number``, ``state``
    (Optuna's), ``status`` (ok, pruned, diverged, oom, error), ``genome``, ``accuracy``,
    ``reward`` (the study's value), ``metrics()`` and every user attribute in ``attrs``.
    """

    def __init__(self, run: RunDir, result: SearchResult | None = None) -> None:
        self.dir = run
        self.result = result  # how the search that returned it ended (None: loaded)
        self._study: optuna.Study | None = None

    def __repr__(self) -> str:
        return f"Run({self.name!r}, {self.path})"

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def config(self) -> dict[str, Any]:
        """The run's resolved config (config.json)."""
        return self.dir.config

    @property
    def stop_reason(self) -> str | None:
        """budget, time, exhausted or interrupted, for a run this process searched."""
        return None if self.result is None else self.result.stop_reason

    @property
    def study(self) -> optuna.Study:
        """The run's Optuna study (``optuna.visualization`` and optuna-dashboard read it)."""
        if self._study is None:

            self._study = RunStudy.open(self.dir.storage_url, self.name, None, load=True).study
        return self._study

    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, by number (running and failed ones too)."""

        return RunStudy(self.study, None).records()

    def trials_dataframe(self) -> pandas.DataFrame:
        """The trials as a pandas DataFrame (one row per trial: number, state, status,
        accuracy, reward, costs, seconds, genome id, then one ``params_<decision>`` column per
        decision); needs pandas."""
        try:
            # imports pandas: loaded here, where used, for start-up time
            import pandas
        except ImportError:
            raise NasError("trials_dataframe() needs pandas: pip install pandas; .trials "
                           "gives the same records as a list") from None
        rows = []
        for r in self.trials:
            a = r.attrs
            rows.append({"number": r.number, "state": r.state, "status": r.status,
                         "accuracy": r.accuracy, "reward": r.reward,
                         **{k: a.get(k) for k in ("params", "macs", "latency_ms", "seconds")},
                         "genome_id": r.genome.id,
                         **{f"params_{k}": v for k, v in r.genome.values}})
        return pandas.DataFrame(rows)

    def best(self, k: int = 1) -> list[TrialRecord]:
        """The ``k`` best completed trials, best reward first (each genome once)."""

        if k < 1:
            raise NasError(f"best(k): k must be at least 1, got {k}")
        return ranked_trials(self.trials)[:k]

    def status(self) -> dict[str, Any]:
        """What ``nas status --json`` prints."""

        return run_status(self.path.parent, self.name)

    def _trial(self, trial: int | TrialRecord | None) -> TrialRecord:
        if trial is None:
            best = self.best(1) if any(r.state == "COMPLETE" for r in self.trials) else []
            if not best:
                raise NasError(f"run {self.name!r} has no completed trial yet")
            return best[0]
        number = trial.number if not isinstance(trial, int) else trial
        return find_trial(self.dir, self.trials, number)

    def checkpoint(self, trial: int | TrialRecord | None = None) -> Path | None:
        """The trained weights of ``trial`` (default: the best), if any: the checkpoint of
        ``nas compare``'s retraining with the best validation accuracy."""
        # imports networkx: loaded here, where used, for start-up time
        from nas.results.compare import trained_checkpoints

        held = trained_checkpoints(self.dir).get(self._trial(trial).number)
        return None if held is None else held[0]

    def genome_file(self, trial: int | TrialRecord | None = None) -> GenomeFile:
        """``trial``'s genome with the input shape, classes and space options of the run."""

        record = self._trial(trial)
        shape, classes = run_input(self.dir)
        return GenomeFile(record.genome, (shape[0], shape[1], shape[2]), classes,
                          dict(self.config.get("space_options") or {}))

    def model(self, trial: int | TrialRecord | None = None, *,
              untrained: bool = False) -> nn.Module:
        """The network of ``trial`` (a trial number or record; default: the best), built
        for the run's data, in eval mode.

        Its weights are the trained ones of its checkpoint (:meth:`checkpoint`, written when
        ``nas compare`` retrained it). A search keeps no child's weights, so a trial without
        one is refused with a NasError saying how to train it, unless ``untrained=True``,
        which returns it freshly initialised (and warns that it is).
        """
        record = self._trial(trial)
        path = self.checkpoint(record)
        if path is not None:
            return create_model(path)
        if not untrained:
            raise NasError(f"trial {record.number} of run {self.name!r} has no trained weights "
                           f"(a search keeps none): `nas compare {self.name} --top N` retrains "
                           "the best and keeps checkpoints, or nas.train(run.genome_file("
                           f"{record.number})) trains it; model({record.number}, "
                           "untrained=True) gives it freshly initialised")
        warnings.warn(f"trial {record.number} of run {self.name!r}: untrained network (fresh "
                      "initialisation; a search keeps no child's weights)", stacklevel=2)
        return create_model(self.genome_file(record)).eval()

    def export(self, out: str | Path | None = None, *, top: int = 1,
               trials: Sequence[int] | None = None,
               formats: Sequence[str] | str = ("code", "checkpoint"),
               seed: int = 0) -> dict[str, dict[str, Path]]:
        """Export the ``top`` best trials (or the trial numbers ``trials``), each to
        ``out/trial_<N>/`` (default ``out``: ``<run>/exports``), as ``nas export`` does:
        genome file, the ``formats`` (code, torchscript, onnx, checkpoint, diagram) and, with
        code, a ``hubconf.py`` (``torch.hub.load(folder, "model", source="local")``).
        Returns ``{name: {kind: path}}``; trials without trained weights export freshly
        initialised ones (and warn)."""
        # imports networkx, torch: loaded here, where used, for start-up time
        from nas.results.export import ARTIFACTS, find_trial, parse_formats, run_items, write_item

        chosen_formats = parse_formats(formats if isinstance(formats, str)
                                       else ",".join(formats), ARTIFACTS)
        records = self.trials
        if trials is not None:
            chosen = [find_trial(self.dir, records, int(n)) for n in trials]
        else:
            chosen = self.best(top)
            if not chosen:
                raise NasError(f"run {self.name!r} has no completed trial to export yet")
        items, notes = run_items(self.dir, chosen, seed=seed)
        for note in notes:
            warnings.warn(note, stacklevel=2)
        directory = Path(out) if out is not None else self.path / "exports"
        return {item.name: write_item(item, chosen_formats, directory, notes)
                for item in items}

    def summary(self, top: int = 3) -> dict[str, Any]:
        """The run in a few lines of JSON: what ``nas search --json`` prints."""
        best = []
        for r in self.best(top) if any(r.state == "COMPLETE" for r in self.trials) else []:
            checkpoint = self.checkpoint(r)
            best.append({"trial": r.number, "genome_id": r.genome.id,
                         "genome": self.genome_file(r).to_dict(), "accuracy": r.accuracy,
                         "reward": r.reward, "metrics": r.metrics(),
                         "checkpoint": None if checkpoint is None else str(checkpoint)})
        summary = self.dir.summary()
        return {"run": self.name, "path": str(self.path), "stop_reason": self.stop_reason,
                "state": summary.get("state"), "done": summary.get("done"),
                "failed": summary.get("failed"), "elapsed": summary.get("elapsed"),
                "storage": self.dir.storage_url, "best": best}


__all__ = ["Run", "Spec", "Training", "create_model", "list_models", "load_run", "search",
           "train"]
