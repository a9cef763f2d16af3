"""The conformance suite every evaluator runs (as Optuna's ``testing/pytest_samplers.py``).

A plug-in author subclasses :class:`EvaluatorConformance`, names the evaluator and its
options, and says what it judges by overriding :meth:`~EvaluatorConformance.make_context`;
pytest collects the inherited tests::

    class TestMyEvaluator(EvaluatorConformance):
        evaluator = "mine"
        options = {"width": 4}

        def make_context(self) -> Context:
            return Context(space=create_space("nasbench201", channels=4), dataset="digits")

The checks: judging a few genomes through the asynchronous protocol gives well-formed, JSON
round-tripping evaluations (a status from :data:`~nas.evaluators.base.STATUSES`, a finite
accuracy in [0, 100] when ok, or, for an evaluator whose result is another measure such as a
proxy's score, a finite value of that metric and no accuracy; timings, where it ran), one per
job and never more than the evaluator has room for; a deterministic evaluator judges a genome
the same way alone and in a batch; its saved state is JSON and tensors only and restores into
a fresh evaluator; ``close`` is safe twice.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest
import torch

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.evaluators.base import STATUSES, Context, Evaluation, Evaluator, Job, create_evaluator


def judge(evaluator: Evaluator, genomes: Sequence[Genome], timeout: float = 600.0,
          first_trial: int = 0) -> list[Evaluation]:
    """Judge ``genomes`` through submit/wait, as the search loop does; evaluations in order."""
    jobs = [Job(first_trial + i, g) for i, g in enumerate(genomes)]
    todo, results = list(jobs), {}
    while todo or evaluator.in_flight():
        while todo and evaluator.idle() > 0:
            where = evaluator.submit(todo.pop(0))
            json.dumps(where)  # where a child runs is plain data
        if not evaluator.in_flight() and not evaluator.warming():
            raise AssertionError(f"{evaluator.name}: jobs left but no room and none in flight")
        for job, evaluation in evaluator.wait(timeout=timeout):
            assert job.trial not in results, f"{evaluator.name}: trial {job.trial} twice"
            results[job.trial] = evaluation
    return [results[j.trial] for j in jobs]


def plain(value: Any, where: str = "state") -> None:
    """Assert ``value`` holds only JSON values and tensors (what a run may save)."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, str | int | float):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            assert isinstance(k, str), f"{where}: key {k!r} is not a string"
            plain(v, f"{where}.{k}")
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            plain(v, f"{where}[{i}]")
        return
    raise AssertionError(f"{where}: {type(value).__name__} is neither JSON nor a tensor")


class EvaluatorConformance:
    """The inherited tests; see the module docstring."""

    evaluator: ClassVar[str]  # the registered name
    options: ClassVar[dict[str, Any]] = {}
    genomes: ClassVar[int] = 3  # how many genomes the checks judge (training ones are slow)
    deterministic: ClassVar[bool] = True  # the same genome is judged the same way every time
    seed: ClassVar[int] = 0

    def make_context(self) -> Context:
        """The context the evaluator judges in (a small space and dataset)."""
        raise NotImplementedError

    def sample(self, context: Context, n: int) -> list[Genome]:
        rng = random.Random(self.seed)
        return [context.space.sample(rng) for _ in range(n)]

    @pytest.fixture(scope="class")
    def opened(self) -> Iterator[Evaluator]:
        evaluator = create_evaluator(self.evaluator, self.make_context(), **self.options)
        evaluator.open()
        evaluator.start(jobs=self.genomes)
        try:
            yield evaluator
        finally:
            evaluator.close()

    @pytest.fixture(scope="class")
    def judged(self, opened: Evaluator) -> tuple[list[Genome], list[Evaluation]]:
        genomes = self.sample(opened.context, self.genomes)
        return genomes, judge(opened, genomes)

    def test_evaluations_are_well_formed(
            self, opened: Evaluator, judged: tuple[list[Genome], list[Evaluation]]) -> None:
        genomes, evaluations = judged
        assert len(evaluations) == len(genomes)
        shape = opened.input_shape
        assert len(shape) == 3 and min(shape) >= 1 and opened.num_classes >= 2
        for genome, e in zip(genomes, evaluations, strict=True):
            assert e.status in STATUSES, e.status
            assert e.finished >= e.started > 0, f"{genome.id}: bad times {e.started, e.finished}"
            assert e.measure == opened.measure, (e.measure, opened.measure)
            if e.ok:
                if e.measure == "accuracy":
                    accuracy = e.metrics["accuracy"]
                    assert math.isfinite(accuracy) and 0.0 <= accuracy <= 100.0, accuracy
                else:  # another measure is never passed off as an accuracy
                    assert "accuracy" not in e.metrics, e.metrics
                assert all(math.isfinite(float(v)) for v in e.metrics.values()), e.metrics
                assert e.told() == e.metrics
            else:
                assert e.message, f"{genome.id}: a failed evaluation must say why"
                assert e.told() is None
            again = Evaluation.from_dict(json.loads(json.dumps(e.to_dict())))
            assert again == e, "an evaluation must round-trip through JSON"
        assert any(e.ok for e in evaluations), [e.message for e in evaluations]

    def test_nothing_left_in_flight(self, opened: Evaluator,
                                    judged: tuple[list[Genome], list[Evaluation]]) -> None:
        assert opened.in_flight() == 0 and opened.idle() >= 1
        assert opened.wait(timeout=0.01) == []  # nothing in flight: nothing to wait for

    def test_alone_and_in_a_batch_alike(self, opened: Evaluator,
                                        judged: tuple[list[Genome], list[Evaluation]]) -> None:
        if not self.deterministic:
            pytest.skip("this evaluator is not deterministic")
        genomes, evaluations = judged
        alone = judge(opened, genomes[:1], first_trial=100)[0]
        assert alone.status == evaluations[0].status
        measure = evaluations[0].measure
        assert alone.metrics.get(measure) == evaluations[0].metrics.get(measure)

    def test_state_is_plain_and_restores(self, opened: Evaluator) -> None:
        state = opened.state_dict()
        plain(state)
        fresh = create_evaluator(self.evaluator, self.make_context(), **self.options)
        fresh.load_state_dict(state)
        plain(fresh.state_dict())
        fresh.close()
        fresh.close()  # safe twice, and without start

    def test_unknown_option_is_one_clear_error(self) -> None:
        with pytest.raises(NasError, match=f"evaluator {self.evaluator!r} has no option"):
            create_evaluator(self.evaluator, self.make_context(), no_such_option=1)
