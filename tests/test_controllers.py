"""Every controller passes the conformance tests on every space; each one's own behaviour."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from controllers import create_controller, list_controllers
from controllers.optuna_sampler import OptunaController
from controllers.rl import PolicyGradient
from controllers.testing import (
    ControllerTests,
    drive,
    same_state,
    synthetic_metrics,
    tell,
)
from nas import Genome, NasError, UnknownNameError, get_space
from nas.core import statefile
from nas.core.objective import Objective
from nas.core.space import Space

# Small settings so that a dozen steps reach each controller's learning phase (the defaults
# are exercised on the real benchmark in test_benchmark.py). Learning on every space: measured
# over seeds 0-3, z from 3.7 to 20 (8 to 17 with seed 0).


class TestRandom(ControllerTests):
    controller = "random"
    learns = False


class TestEvolution(ControllerTests):
    controller = "evolution"
    options: ClassVar[dict[str, Any]] = {"population_size": 5, "sample_size": 2}


class TestRL(ControllerTests):
    controller = "rl"
    options: ClassVar[dict[str, Any]] = {"batch_size": 2}


class TestOptunaTPE(ControllerTests):
    controller = "optuna"
    options: ClassVar[dict[str, Any]] = {"n_startup_trials": 4}


# the other Optuna samplers, on one space
class TestOptunaCmaEs(ControllerTests):
    controller = "optuna"
    options: ClassVar[dict[str, Any]] = {"sampler": "cmaes", "n_startup_trials": 4}
    spaces = ("nasbench201",)
    after = 2
    learn_steps, learn_probe = 100, 10


class TestOptunaGP(ControllerTests):
    controller = "optuna"
    options: ClassVar[dict[str, Any]] = {"sampler": "gp", "n_startup_trials": 4}
    spaces = ("nasbench201",)
    steps, after = 6, 2  # the GP refits at every ask: keep it short
    learn_steps, learn_probe = 30, 10

    @pytest.mark.slow
    def test_learns(self, space: Space) -> None:
        super().test_learns(space)


class TestOptunaRandom(ControllerTests):
    controller = "optuna"
    options: ClassVar[dict[str, Any]] = {"sampler": "random"}
    spaces = ("nasbench201",)
    after = 2
    learns = False


class TestOptunaNSGA2(ControllerTests):
    controller = "optuna"
    options: ClassVar[dict[str, Any]] = {"sampler": "nsga2", "population_size": 4}
    spaces = ("nasbench201",)
    after = 2
    learn_probe = 10


def test_every_controller_and_sampler_has_its_tests() -> None:
    tested = {(c.controller, c.options.get("sampler", "tpe") if c.controller == "optuna"
               else None) for c in ControllerTests.__subclasses__()}
    from controllers.optuna_sampler import SAMPLERS

    assert {c for c, _ in tested} == set(list_controllers())
    assert {s for c, s in tested if c == "optuna"} == set(SAMPLERS)


def test_the_four_controllers_are_registered() -> None:
    assert {"rl", "optuna", "evolution", "random"} <= set(list_controllers())


# --- each controller's own behaviour -------------------------------------------------------

def test_reward_is_accuracy_traded_against_cost() -> None:
    assert Objective().reward({"accuracy": 90.0}) == 90.0
    assert Objective().reward(None) is None
    assert Objective().reward({"accuracy": math.nan}) is None
    twice = Objective("macs", 1e6).reward({"accuracy": 90.0, "macs": 2e6})
    assert twice == pytest.approx(90.0 * 2**-0.07)  # MnasNet: 2x the target costs ~5 %
    old = Objective("flops", 1e6)  # the old name of macs, as a run saved before the rename
    assert old.cost == "macs" and old.reward({"accuracy": 90.0, "macs": 2e6}) == twice
    with pytest.raises(NasError, match="needs metric 'latency_ms'"):
        Objective("latency_ms", 5.0).reward({"accuracy": 90.0})
    with pytest.raises(NasError, match="give both --cost and --cost-target"):
        Objective(cost="macs")
    with pytest.raises(NasError, match="unknown cost metric 'watts'"):
        Objective("watts", 1.0)


def test_unknown_names_and_options_are_clear() -> None:
    sp = get_space("nasbench201")
    with pytest.raises(UnknownNameError, match="unknown controller 'ppo'; known: evolution"):
        create_controller("ppo", sp)
    with pytest.raises(NasError, match=r"no option\(s\) popsize; known: .*population_size"):
        create_controller("evolution", sp, popsize=3)
    with pytest.raises(NasError, match="unknown shaping 'squared'"):
        create_controller("rl", sp, shaping="squared")
    state = create_controller("random", sp).state_dict()
    with pytest.raises(NasError, match="saved by controller 'random' into controller 'rl'"):
        create_controller("rl", sp).load_state_dict(state)


def test_evolution_mutates_one_decision_and_the_oldest_dies() -> None:
    sp = get_space("nasbench201")
    evo = create_controller("evolution", sp, seed=1, population_size=4, sample_size=2)
    metrics = synthetic_metrics(sp)
    first = drive(evo, metrics, 4)  # random: the population fills
    assert [m[0] for m in evo.population] == [tuple(sp.to_indices(g)) for g in first]
    for _ in range(10):
        parents = {m[0] for m in evo.population}
        child = evo.propose()
        distances = [sum(a != b for a, b in zip(sp.to_indices(child), p)) for p in parents]
        assert min(distances) == 1  # a copy of a member with exactly one decision changed
        oldest = evo.population[0]
        tell(evo, child, metrics(child))
        assert len(evo.population) == 4 and oldest not in evo.population
        assert evo.population[-1][0] == tuple(sp.to_indices(child))


def test_evolution_takes_results_it_did_not_propose_as_its_first_population() -> None:
    """A warm start (a proxy prefilter's best cells): 3 results given, so only 1 of the 4
    first children is random; the next copies the best member with one decision changed."""
    sp = get_space("nasbench201")
    evo = create_controller("evolution", sp, seed=1, population_size=4, sample_size=4)
    metrics = synthetic_metrics(sp)
    given = [sp.sample(random.Random(i)) for i in range(3)]
    for genome in given:
        tell(evo, genome, metrics(genome))
    drive(evo, metrics, 1)  # the one random child
    best = max(evo.population, key=lambda m: m[1])[0]
    child = evo.propose()
    assert sum(a != b for a, b in zip(sp.to_indices(child), best)) == 1
    again = create_controller("evolution", sp, seed=1, population_size=4, sample_size=4)
    again.load_state_dict(evo.state_dict())  # the warm start survives a resume
    assert again.state_dict() == evo.state_dict()


def test_rl_probabilities_stay_clipped_and_learn_from_any_order() -> None:
    sp = get_space("nasbench201")
    rl = create_controller("rl", sp, seed=0, batch_size=4)
    assert isinstance(rl, PolicyGradient)
    batch = rl.propose_batch(4)  # an asynchronous batch ...
    metrics = synthetic_metrics(sp)
    for genome in reversed(batch):  # ... whose results come back in another order
        tell(rl, genome, metrics(genome))
    assert rl.updates == 1 and rl.baseline is not None
    drive(rl, metrics, 200)
    # tanh clipping bounds every logit by 2.5, so no option's probability passes this:
    cap = math.exp(2.5) / (math.exp(2.5) + 4 * math.exp(-2.5))
    for probs in rl.probabilities():
        assert max(probs) <= cap + 1e-6 and min(probs) > 0


def test_rl_self_imitation_keeps_the_best_genomes_and_pulls_the_policy_to_them() -> None:
    sp = get_space("nasbench201")
    rng = random.Random(0)
    genomes = [sp.sample(rng) for _ in range(12)]
    rewards = [80.0 + i for i in range(12)]  # the last genome is the best
    rng.shuffle(pairs := list(zip(genomes, rewards, strict=True)))
    best = sp.to_indices(genomes[-1])

    def taught(**options: Any) -> PolicyGradient:
        rl = create_controller("rl", sp, seed=0, **options)
        assert isinstance(rl, PolicyGradient)
        for genome, reward in pairs:
            rl.tell(genome, reward)
        rl.tell(genomes[0], rewards[0])  # a revisit is not a second elite
        return rl

    plain = taught(elite=0, entropy_weight=1e-4)
    imitating = taught(elite=3, elite_weight=3.0, entropy_weight=1e-4)
    assert plain.elites == []
    assert [(sp.from_indices(i), r) for i, r in imitating.elites] == [
        (genomes[i], rewards[i] / 100) for i in (11, 10, 9)]  # best first, three kept

    def log_p(rl: PolicyGradient) -> float:
        with torch.no_grad():
            return float(rl.policy(torch.tensor([best]))[0][0])

    # the same results told, the same seed: only the elite term differs
    assert log_p(imitating) > log_p(plain) + 0.25  # measured: 0.53 nats more (-8.85, -9.38)
    with pytest.raises(NasError, match="elite and elite_weight must be >= 0"):
        create_controller("rl", sp, elite=-1)


def test_nsga2_keeps_the_pareto_front_of_accuracy_and_cost() -> None:
    sp = get_space("nasbench201")
    opt = create_controller("optuna", sp, seed=0, sampler="nsga2", population_size=8)
    assert isinstance(opt, OptunaController) and opt.required_metrics() == ("macs",)
    old = create_controller("optuna", sp, sampler="nsga2", cost="flops")  # the old name
    assert old.required_metrics() == ("macs",)
    rng = random.Random(0)

    def metrics(g: Genome) -> dict[str, float]:
        convs = sum(str(v).startswith("nor_conv") for v in g.as_dict().values())
        return {"accuracy": 80 + 2 * convs + rng.random(), "macs": 1e6 * (1 + convs)}

    drive(opt, metrics, 40)
    front = opt.pareto_front()
    assert front
    points = [tuple(v) for _, v in front]
    for acc, macs in points:  # no point of the front is dominated by another
        assert not any(a >= acc and f <= macs and (a, f) != (acc, macs) for a, f in points)


@pytest.mark.parametrize("pruner", ["median", "sha", "hyperband"])
def test_optuna_pruner_is_the_searchs_early_stopping(pruner: str) -> None:
    sp = get_space("nasbench201")
    assert create_controller("optuna", sp, pruner=pruner).pruner() == pruner
    assert create_controller("optuna", sp).pruner() is None
    assert create_controller("optuna", sp, sampler="nsga2", pruner=pruner).pruner() == pruner
    assert create_controller("evolution", sp).pruner() is None
    with pytest.raises(NasError, match="unknown pruner 'asha'; known: none, sha"):
        create_controller("optuna", sp, pruner="asha")


# --- state: plain data, exact restore, damaged files -----------------------------------------

@pytest.mark.parametrize("options", [{"sampler": "cmaes", "n_startup_trials": 4},
                                     {"sampler": "nsga2", "population_size": 4}],
                         ids=["cmaes", "nsga2"])
def test_optuna_restores_exactly_across_generations(tmp_path: Path,
                                                    options: dict[str, Any]) -> None:
    """Past several CMA-ES generations (its optimizer lives in the trials' system attrs, as a
    pickle Optuna makes) and NSGA-II generations: the replayed controller goes on the same."""
    sp = get_space("nasbench201")
    metrics = synthetic_metrics(sp)
    original = create_controller("optuna", sp, seed=2, **options)
    drive(original, metrics, 45)
    open_ = original.propose_batch(3)
    statefile.save(tmp_path / "state.json", original.state_dict())
    assert list(tmp_path.iterdir()) == [tmp_path / "state.json"]  # no tensors, no pickle
    restored = create_controller("optuna", sp, seed=0, **options)
    restored.load_state_dict(statefile.load(tmp_path / "state.json"))
    for c in (original, restored):
        for genome in open_:
            tell(c, genome, metrics(genome))
    assert drive(restored, metrics, 12) == drive(original, metrics, 12)


def test_optuna_replay_that_diverges_keeps_every_result(caplog: pytest.LogCaptureFixture) -> None:
    """A record the sampler no longer reproduces (another Optuna, other floating point):
    the trials are rebuilt as recorded, with a warning that the continuation is not exact."""
    sp = get_space("nasbench201")
    metrics = synthetic_metrics(sp)
    original = create_controller("optuna", sp, seed=1, n_startup_trials=4)
    drive(original, metrics, 8)
    original.propose()  # open
    state = original.state_dict()
    last = state["events"][-1]
    assert last[0] == "ask"
    last[1][0] = (last[1][0] + 1) % len(sp.decisions[0].options)  # not what TPE proposed
    restored = create_controller("optuna", sp, seed=1, n_startup_trials=4)
    assert isinstance(restored, OptunaController)
    with caplog.at_level(logging.WARNING, logger="controllers.optuna_sampler"):
        restored.load_state_dict(state)
    assert "no longer continues exactly" in caplog.text
    asked = [e[1] for e in state["events"] if e[0] == "ask"]
    assert [sp.to_indices(restored._genome(t.params)) for t in restored.study.trials] == asked
    tampered = sp.from_indices(last[1])
    assert restored.pending == {tampered: [8]}
    tell(restored, tampered, metrics(tampered))  # the open proposal is told as usual
    assert restored.pending == {} and restored.study.trials[8].values == [
        metrics(tampered)["accuracy"]]
    assert same_state(restored.state_dict()["events"][:-1], state["events"])


def test_damaged_controller_state_is_one_line() -> None:
    sp = get_space("nasbench201")
    metrics = synthetic_metrics(sp)
    cases: list[tuple[str, dict[str, Any], Any]] = [
        ("random", {}, lambda s: s.update(rng=[3, [1, 2], None])),
        ("evolution", {}, lambda s: s.update(population=[[[9, 9, 9, 9, 9, 9], 1.0]])),
        ("rl", {}, lambda s: s["policy"].pop("start")),
        ("rl", {}, lambda s: s.update(generator=s["policy"]["head_bias"])),
        ("optuna", {}, lambda s: s["events"].append(["ask", [0, 1]])),
        ("optuna", {}, lambda s: s["events"].append(["tell", [0] * 6, "high"])),
        ("optuna", {}, lambda s: s["events"].insert(0, ["tell", [0] * 6, [True]])),
        ("optuna", {"sampler": "nsga2"}, lambda s: s["events"].append(["tell", [0] * 6, [1.0]])),
        ("optuna", {}, lambda s: s.pop("optuna")),
    ]
    for name, options, damage in cases:
        c = create_controller(name, sp, **options)
        drive(c, metrics, 4)
        state = c.state_dict()
        damage(state)
        with pytest.raises(NasError, match=rf"controller '{name}': the saved state is damaged"
                           ) as e:
            create_controller(name, sp, **options).load_state_dict(state)
        assert "\n" not in str(e.value)


def test_state_dicts_are_plain_and_describe_is_public() -> None:
    sp = get_space("nasbench201")
    metrics = synthetic_metrics(sp)
    for name in list_controllers():
        c = create_controller(name, sp, batch_size=2) if name == "rl" else create_controller(
            name, sp)
        drive(c, metrics, 6)
        state = c.state_dict()
        assert {"controller", "space", "seed", "config", "describe"} <= set(state)
        assert state["describe"] == c.describe()
    rl = create_controller("rl", sp, batch_size=2)
    drive(rl, metrics, 6)
    history = rl.describe()["history"]
    assert [h["update"] for h in history] == [1, 2, 3]
    assert set(history[0]) == {"update", "time", "entropy", "reward", "baseline"}
