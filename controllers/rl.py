"""The policy-gradient controller of Zoph & Le (ICLR 2017), with ENAS's stabilisers.

An LSTM emits a genome one decision at a time. Step ``t`` reads an input vector (a learned
start vector at ``t = 0``, afterwards the embedding of the option chosen at ``t - 1``), and a
linear head per decision turns the hidden state into that decision's logits, so decisions may
have different numbers of options. Logits are divided by a temperature and squashed by
``c * tanh`` (ENAS, Pham et al. 2018): the policy can never become certain, which keeps it
exploring after a run of lucky children.

Learning is REINFORCE: after every ``batch_size`` results, one Adam step on

    loss = -mean_b[(R_b - baseline) * log p(genome_b)] - entropy_weight * mean_b[H_b]

where ``baseline`` is an exponential moving average of past rewards (variance reduction) and
``H_b`` is the policy's entropy along genome ``b``'s decisions (an exploration bonus). The
log-probabilities are recomputed under the *current* policy for the genomes that were told
(teacher forcing), so results may arrive in any order, from any proposer (asynchronous
search), at the price of being slightly off-policy for children proposed a few updates ago.

Self-imitation (Oh et al., ICML 2018, "Self-Imitation Learning"). Each update also pushes up
the log-probability of the ``elite`` best genomes told so far, each weighted by how far its
reward lies above the baseline (never below: a genome no better than the baseline is not
imitated):

    loss += -elite_weight * mean_k[max(R_k - baseline, 0) * log p(genome_k)]

Plain REINFORCE sees a good child once and forgets it as the baseline rises; the elite term
keeps the policy's mass around the best cells found, so that later samples are mostly their
neighbours (one or two edges changed), which is where a cell-based space's better cells are.
It is still the same LSTM trained by policy gradient; only the batch is extended by remembered
results.

Measured on the NAS-Bench-201 CIFAR-10 table (best test accuracy after 100 distinct
architectures, mean over 20 seeds; ``nas benchmark --controller LIST --seeds 20 --queries 100
[--first-seed 20]``; optimum 94.37, sd over seeds 0.1-0.25, so a mean's standard error is
0.03-0.05):

========================================================  ==========  ===========
options (``rl:...``)                                      seeds 0-19  seeds 20-39
========================================================  ==========  ===========
before: plain REINFORCE, ``elite=0:entropy_weight=1e-4``  94.249      94.121
self-imitation of the 3 best, ``entropy_weight=1e-4``     94.326      94.262
**the defaults: elite=3, entropy_weight=1e-3**            **94.340**  **94.306**
``elite=3:entropy_weight=1e-4:shaping=cubed``             94.344      94.265
``elite=2:entropy_weight=1e-4``                           94.312
``elite=5:entropy_weight=1e-4``                           94.315      94.251
``elite=10:entropy_weight=1e-4``                          94.275
``elite=3:entropy_weight=1e-4:elite_weight=3``            94.284
``elite=5:entropy_weight=1e-4:shaping=rank``              94.281
``elite=5:entropy_weight=1e-4:learning_rate=0.1``         94.211
``elite=5:entropy_weight=1e-3``                           94.293
regularized evolution (reference)                         94.304      94.305
========================================================  ==========  ===========

Tried without self-imitation, none better than plain REINFORCE beyond noise, so not kept
(seeds 0-19): ``learning_rate`` 0.1 / 0.2: 94.18 / 94.07; ``temperature=2``: 94.17;
``baseline_decay=0.8``: 94.17; ``entropy_weight=0.001``: 94.20; ``batch_size=4``: 94.10;
``shaping=cubed``: 94.26; rank shaping (a reward's quantile among all told): 94.16; distinct
proposals (resample up to 100 times for a genome not yet seen): 94.15, with rank shaping
94.27; self-imitation together with distinct proposals (``elite=5``): 94.24. Self-imitation
closes most of the gap to evolution (+0.08 and +0.14 on the two seed sets); a ten times larger
entropy bonus then keeps the policy from collapsing onto its elites (fewer free revisits) and
brings rl level with evolution on both seed sets. The entropy weight was picked from two
variants run on both seed sets (entropy, cubed), so seeds 20-39 are not fully untouched by
that last choice; the margin over evolution (0.00-0.04) is within one standard error.

The policy learns from the reward it is told (validation accuracy, or MnasNet's accuracy x
(cost/target)^w: :mod:`nas.core.objective`) as a fraction (the reward / 100, as Zoph & Le's
accuracy), optionally shaped: ``"cubed"`` as in Zoph & Le, who cube the accuracy so that the
last points of accuracy weigh more. A failed child counts as reward 0.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from controllers.base import (
    Controller,
    checked_indices,
    load_optimizer_state,
    one_thread,
    optimizer_state,
    register_controller,
)
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.objective import FAILED_REWARD
from nas.core.space import Space

SHAPINGS = ("linear", "cubed")


@dataclasses.dataclass
class RLConfig:
    hidden_size: int = 64  # LSTM width and embedding size (ENAS: 64)
    temperature: float = 5.0  # logits / T before clipping; > 1 flattens the policy (ENAS: 5)
    tanh_constant: float | None = 2.5  # logits -> c * tanh(logits); None turns clipping off
    learning_rate: float = 0.05  # Adam; high because a search gets only ~100 updates
    entropy_weight: float = 1e-3  # bonus on the sampled decisions' entropy (ENAS: 1e-4)
    baseline_decay: float = 0.95  # EMA decay of the reward baseline (ENAS: 0.99)
    batch_size: int = 1  # results per policy update (Zoph & Le update after each batch)
    shaping: str = "linear"  # "linear": the reward itself; "cubed": reward ** 3 (Zoph & Le)
    elite: int = 3  # self-imitation: the best genomes told so far replayed at every update
    elite_weight: float = 1.0  # weight of the self-imitation term (0 turns it off)

    def __post_init__(self) -> None:
        if self.shaping not in SHAPINGS:
            raise NasError(f"rl: unknown shaping {self.shaping!r}; known: {', '.join(SHAPINGS)}")
        if self.batch_size < 1 or self.hidden_size < 1 or self.temperature <= 0:
            raise NasError("rl: batch_size and hidden_size must be >= 1, temperature > 0")
        if self.elite < 0 or self.elite_weight < 0:
            raise NasError("rl: elite and elite_weight must be >= 0")


class Policy(nn.Module):
    """The LSTM that emits one categorical choice per decision; see the module docstring.

    The decisions' heads (and embeddings) are stored stacked, padded to the largest option
    count with a mask, so that scoring a batch of genomes is one LSTM call and one batched
    product instead of a Python loop over decisions: D decisions of K_t options,
    K = max K_t, H = hidden size.
    """

    offsets: Tensor  # (D,) first embedding row of each decision
    valid: Tensor  # (D, K) which padded options are real

    def __init__(self, num_options: Sequence[int], hidden_size: int, temperature: float,
                 tanh_constant: float | None) -> None:
        super().__init__()
        self.num_options = list(num_options)
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        d, k = len(self.num_options), max(self.num_options)
        self.start = nn.Parameter(torch.zeros(1, 1, hidden_size))  # the input at step 0
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.head_weight = nn.Parameter(torch.zeros(d, k, hidden_size))  # head t: (K, H)
        self.head_bias = nn.Parameter(torch.zeros(d, k))
        # decision t's chosen option is the input at step t + 1; option j of decision t is
        # row offsets[t] + j of one shared table (the last decision's rows are never read)
        self.embedding = nn.Embedding(sum(self.num_options), hidden_size)
        offsets = torch.tensor([0, *self.num_options[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)  # (D,)
        valid = torch.arange(k)[None, :] < torch.tensor(self.num_options)[:, None]
        self.register_buffer("valid", valid, persistent=False)  # (D, K) real options

    def clip(self, logits: Tensor) -> Tensor:
        """Temperature, then ``c * tanh`` (ENAS): |logit| <= c, so no option is ever certain."""
        logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """``batch`` genomes as option indices (B, D), one decision at a time."""
        w_ih, w_hh, b_ih, b_hh = (self.lstm.get_parameter(f"{n}_l0")
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        x = self.start[0].expand(batch, -1)  # (B, H)
        h = c = x.new_zeros(x.shape)  # nn.LSTM's zero initial state
        picked = []
        for t, k in enumerate(self.num_options):
            # one step of self.lstm (the same weights, without nn.LSTM's per-call overhead)
            h, c = torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)  # (B, H) each
            logits = self.clip(h @ self.head_weight[t, :k].T + self.head_bias[t, :k])  # (B, K_t)
            choice = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
            picked.append(choice)  # (B, 1)
            x = self.embedding(choice[:, 0] + self.offsets[t])  # (B, H)
        return torch.cat(picked, dim=1)

    def distributions(self, choices: Tensor) -> Tensor:
        """Log-probabilities (B, D, K) of every decision's options, by teacher forcing.

        Decision t's distribution depends on ``choices[:, :t]`` only (the LSTM is causal);
        padding options get log-probability -inf.
        """
        b = choices.shape[0]
        previous = self.embedding(choices[:, :-1] + self.offsets[:-1])  # (B, D-1, H)
        x = torch.cat([self.start.expand(b, 1, -1), previous], dim=1)  # (B, D, H)
        h, _ = self.lstm(x)  # (B, D, H)
        logits = torch.einsum("bdh,dkh->bdk", h, self.head_weight) + self.head_bias
        logits = self.clip(logits).masked_fill(~self.valid, float("-inf"))  # (B, D, K)
        return torch.log_softmax(logits, dim=-1)

    def forward(self, choices: Tensor) -> tuple[Tensor, Tensor]:
        """Score genomes ``choices`` (B, D): their log-probabilities (B,) and the entropies
        of the decisions' distributions along each of them, summed over decisions (B,)."""
        log_p = self.distributions(choices)  # (B, D, K)
        chosen = log_p.gather(2, choices[:, :, None]).squeeze(2)  # (B, D)
        # padding has p = 0 and log p = -inf; zero the log first so that neither the product
        # nor its gradient meets 0 * inf
        p_log_p = log_p.exp() * log_p.masked_fill(~self.valid, 0.0)  # (B, D, K)
        return chosen.sum(dim=1), -p_log_p.sum(dim=(1, 2))


@register_controller
class PolicyGradient(Controller):
    name = "rl"
    Config = RLConfig
    config: RLConfig

    def __init__(self, space: Space, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, seed=seed, **options)
        cfg = self.config
        self.batch_size = cfg.batch_size
        # a private generator: the controller neither reads nor disturbs torch's global RNG
        self.generator = torch.Generator().manual_seed(self.seed)
        self.policy = Policy([len(d.options) for d in space.decisions], cfg.hidden_size,
                             cfg.temperature, cfg.tanh_constant)
        with torch.no_grad():  # Zoph & Le and ENAS: weights uniform in [-0.1, 0.1]
            for p in self.policy.parameters():
                p.uniform_(-0.1, 0.1, generator=self.generator)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.learning_rate)
        self.baseline: float | None = None  # EMA of rewards; set by the first batch
        self.buffer: list[tuple[list[int], float]] = []  # told, not yet learned from
        self.updates = 0
        # the best `elite` distinct genomes told so far, best first: (option indices, shaped
        # reward); what self-imitation replays
        self.elites: list[tuple[list[int], float]] = []
        # one record per update, for reports (entropy over time): update, time, entropy (the
        # batch's mean policy entropy in nats, summed over decisions), reward, baseline
        self.history: list[dict[str, float]] = []

    def propose(self) -> Genome:
        return self.propose_batch(1)[0]

    def propose_batch(self, n: int) -> list[Genome]:
        with torch.no_grad(), one_thread():
            choices = self.policy.sample(n, generator=self.generator)  # (n, D)
        return [self.space.from_indices(row) for row in choices.tolist()]

    def tell(self, genome: Genome, reward: float | None,
             metrics: Mapping[str, float] | None = None) -> None:
        indices = self.space.to_indices(self.space.validate(genome))
        told = FAILED_REWARD if reward is None else float(reward)
        shaped = self.shape(told / 100.0)
        self.remember(indices, shaped)
        self.buffer.append((indices, shaped))
        if len(self.buffer) >= self.batch_size:
            batch, self.buffer = self.buffer, []
            with one_thread():
                self.update(batch)

    def remember(self, indices: list[int], shaped: float) -> None:
        """Keep ``indices`` among the elites if it is one of the best ``elite`` genomes told."""
        if self.config.elite == 0 or any(e == indices for e, _ in self.elites):
            return  # a revisit is told the genome's one known result: nothing new
        self.elites.append((indices, shaped))
        self.elites.sort(key=lambda e: -e[1])  # stable: among equals, the earliest stays
        del self.elites[self.config.elite:]

    def shape(self, r: float) -> float:
        """The policy's learning signal from a reward as a fraction (accuracy 0-1)."""
        return r**3 if self.config.shaping == "cubed" else r

    def update(self, batch: Sequence[tuple[Sequence[int], float]]) -> None:
        """One REINFORCE step on ``batch`` of (option indices, shaped reward)."""
        cfg = self.config
        choices = torch.tensor([list(i) for i, _ in batch], dtype=torch.long)  # (B, D)
        rewards = torch.tensor([r for _, r in batch], dtype=torch.float32)  # (B,)
        mean = float(rewards.mean())
        if self.baseline is None:
            self.baseline = mean  # start the EMA at the first rewards, not at 0
        advantage = rewards - self.baseline  # (B,)
        log_prob, entropy = self.policy(choices)  # (B,), (B,)
        loss = -(advantage * log_prob).mean() - cfg.entropy_weight * entropy.mean()
        if self.elites and cfg.elite_weight > 0:  # self-imitation (module docstring)
            elite = torch.tensor([e for e, _ in self.elites], dtype=torch.long)  # (E, D)
            above = torch.tensor([r for _, r in self.elites]) - self.baseline  # (E,)
            elite_log_prob, _ = self.policy(elite)  # (E,)
            loss = loss - cfg.elite_weight * (above.clamp(min=0.0) * elite_log_prob).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = cfg.baseline_decay * self.baseline + (1 - cfg.baseline_decay) * mean
        self.updates += 1
        self.history.append({"update": float(self.updates), "time": time.time(),
                             "entropy": float(entropy.detach().mean()), "reward": mean,
                             "baseline": float(self.baseline)})

    def probabilities(self) -> list[list[float]]:
        """Each decision's option probabilities given the most likely earlier choices.

        A readable summary of what the policy has learned (greedy decoding, no sampling).
        """
        policy, out = self.policy, []
        with torch.no_grad(), one_thread():
            choices = torch.zeros(1, len(policy.num_options), dtype=torch.long)  # (1, D)
            for t, k in enumerate(policy.num_options):
                # teacher forcing is causal: decision t's distribution reads choices[:, :t]
                log_p = policy.distributions(choices)  # (1, D, K)
                p = log_p[0, t, :k].exp()
                out.append(p.tolist())
                choices[0, t] = int(p.argmax())
        return out

    def describe(self) -> dict[str, Any]:
        """For reports: ``history``, one record per policy update (update, time, the batch's
        mean policy entropy in nats summed over decisions, mean reward, baseline)."""
        return {"history": [dict(h) for h in self.history]}

    def _state(self) -> dict[str, Any]:
        return {"policy": {k: v.detach().clone() for k, v in self.policy.state_dict().items()},
                "optimizer": optimizer_state(self.optimizer),
                "generator": self.generator.get_state(),
                "baseline": self.baseline,
                "buffer": [[list(i), r] for i, r in self.buffer],
                "elites": [[list(i), r] for i, r in self.elites],
                "updates": self.updates,
                "history": [dict(h) for h in self.history]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.generator.set_state(state["generator"])
        baseline = state["baseline"]
        self.baseline = None if baseline is None else float(baseline)
        self.buffer = [(checked_indices(self.space, i), float(r)) for i, r in state["buffer"]]
        self.elites = [(checked_indices(self.space, i), float(r))
                       for i, r in state.get("elites", [])]  # states saved before elites: none
        self.updates = int(state["updates"])
        self.history = [{k: float(v) for k, v in h.items()} for h in state["history"]]
