"""Teach a memory model to find a fact by the name it mentions (issue 17's memory target), on generated facts.

The facts are "NAME lives in CITY", the questions "Where does NAME live?" and two other phrasings, with
names and cities generated from syllables (``generate_people``), so there is nothing to download and the
names a model is measured on are never the names it was trained on (``exclude``).

Training (``train_retrieval``) is contrastive and touches only the memory's query and key projections: an
episode stores ``episode`` facts, and each question's read distribution (modeling/memory.py: softmax of
β · query · key per token, averaged over the question's real tokens, exactly as the graph reads) should put its
mass on its own fact's slot; the loss is that slot's negative log-probability. The encoder is frozen, so
the classifier the model already is does not change; its outputs for the training facts are computed once.

``evaluate_retrieval`` is the measurement: ``store`` facts one at a time into an empty memory (writing, as a
session does), then ask about each name without writing, and count the questions whose most-read slot holds
that name's fact. ``step`` is any (text, write) -> (attention over slots, state) function, so the same
count runs on PyTorch (``torch_step``) or on an exported bundle's session.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.modeling.model import NeuroLiteForClassification

FACT = "{name} lives in {city}"
QUESTIONS = ("Where does {name} live?", "Which city is {name} in?", "Where is {name} living now?")
ONSETS = ("b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "ch", "st", "tr")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ei", "ou")
CITY_ENDINGS = ("burg", "ton", "ville", "stad", "polis", "mouth", "field", "haven")


@dataclass(frozen=True)
class Person:
    name: str
    city: str

    def fact(self) -> str:
        return FACT.format(name=self.name, city=self.city)

    def question(self, phrasing: int = 0) -> str:
        return QUESTIONS[phrasing % len(QUESTIONS)].format(name=self.name)


def generate_people(count: int, seed: int, exclude: Sequence[Person] = ()) -> list[Person]:
    """``count`` people with distinct generated names (two or three syllables) that none in ``exclude``
    has, each living in a generated city."""
    rng = random.Random(seed)
    taken = {p.name for p in exclude}
    people: list[Person] = []
    while len(people) < count:
        name = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.choice((2, 3)))).capitalize()
        if name in taken:
            continue
        taken.add(name)
        city = ("".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(2)) + rng.choice(CITY_ENDINGS))
        people.append(Person(name, city.capitalize()))
    return people


@torch.no_grad()
def _encode(model: NeuroLiteForClassification, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The frozen encoder's (hidden [N, L, D], mask [N, L], pooled [N, 2D]) for ``texts``."""
    features, mask = model.neurolite.featurize(texts)
    hidden, pooled = model.neurolite.encode(features, mask)
    return hidden, mask, pooled


def read_distribution(model: NeuroLiteForClassification, hidden: torch.Tensor, mask: torch.Tensor,
                      keys: torch.Tensor) -> torch.Tensor:
    """[Q, N]: each question's mean read distribution over ``keys`` [N, M] (all valid), as the graph reads."""
    memory = model.memory
    attention = torch.softmax(memory.query(hidden) @ keys.T * memory.beta, dim=-1)
    return (attention * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)


def train_retrieval(model: NeuroLiteForClassification, people: Sequence[Person], steps: int = 400,
                    episode: int = 100, lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Train the memory's query and key projections (everything else frozen); returns the loss per step."""
    if model.memory is None:
        raise ValueError("train_retrieval: the model has no memory (config.use_external_memory is false)")
    if len(people) < episode:
        raise ValueError(f"people: {len(people)}, an episode needs {episode}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()  # no dropout; the encoder is only read
    facts = _encode(model, [p.fact() for p in people])[2]
    questions = [_encode(model, [p.question(k) for p in people])[:2] for k in range(len(QUESTIONS))]
    parameters = [*model.memory.query.parameters(), *model.memory.key.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        chosen = torch.from_numpy(rng.choice(len(people), size=episode, replace=False))
        hidden, mask = questions[int(rng.integers(len(QUESTIONS)))]
        keys = model.memory.unit_key(facts[chosen])
        read = read_distribution(model, hidden[chosen], mask[chosen], keys)
        loss = F.nll_loss(torch.log(read.clamp(min=1e-9)), torch.arange(episode))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.train(was_training)
    return losses


Step = Callable[[str, bool], tuple[np.ndarray, dict[str, np.ndarray]]]


def torch_step(model: NeuroLiteForClassification) -> Step:
    """A PyTorch session: (text, write) -> (read distribution [S], next state), the state kept in between."""
    held: dict[str, torch.Tensor | None] = {"state": None}

    @torch.no_grad()
    def step(text: str, write: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        output = model(input_texts=[text], memory=held["state"], update_memory=write)
        held["state"] = output["memory"]
        return output["memory_attention"][0].numpy(), {k: v[0].numpy() for k, v in output["memory"].items()}

    return step


@dataclass(frozen=True)
class RetrievalResult:
    questions: int
    top1: float  # share of questions whose most-read slot holds the asked name's fact
    stored_long_term: int  # facts that reached long-term or persistent memory (the rest only the ring)


def evaluate_retrieval(step: Step, people: Sequence[Person], short_term_size: int,
                       phrasing: int = 0) -> RetrievalResult:
    """Store every person's fact (one call each, writing), then ask about each (reading only)."""
    written = []  # person i's key: what the short-term slot under the cursor received
    cursor = 0
    for person in people:
        _, state = step(person.fact(), True)
        written.append(state["keys"][cursor].copy())
        cursor = int(np.argmax(state["cursor"]))
    # which person each valid slot holds (a consolidated copy holds an earlier person's key)
    similarity = state["keys"] @ np.stack(written).T
    owner = {slot: int(np.argmax(similarity[slot])) for slot in np.flatnonzero(state["valid"])
             if similarity[slot].max() > 1 - 1e-4}
    right = 0
    for i, person in enumerate(people):
        attention, _ = step(person.question(phrasing), False)
        right += owner.get(int(np.argmax(attention))) == i
    stored = len({i for slot, i in owner.items() if slot >= short_term_size})
    return RetrievalResult(len(people), right / len(people), stored)
