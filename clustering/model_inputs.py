"""The test-input generation model as an :class:`~clustering.inputs.InputGenerator`.

The default model is also trained on the description -> one test input task (the
``GENERATE TEST INPUT`` header of :func:`alphacode.prompt.input_generation_prompt`), so inputs are
sampled from it like programs; the selection pipeline then keeps only those on which most filtered
programs run cleanly, exactly as for mutated inputs. Function-style problems are left to the
mutation generator: the model never saw argument tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alphacode.problems import Problem
from alphacode.prompt import input_generation_prompt
from clustering.inputs import InputGenerator, MutationInputGenerator
from sampling.model_sampler import ModelSampler, SamplingConfig

if TYPE_CHECKING:
    from alphacode.model.export import LoadedModel

MAX_INPUT_TOKENS = 128
INPUT_TEMPERATURE = 0.8  # varied inputs
INPUT_SOURCES = ("mutation", "model", "both")


class ModelInputGenerator:
    """Inputs drawn from a :class:`sampling.model_sampler.ModelSampler` under the input-generation
    header; empty and repeated inputs, and inputs with too few lines for the examples' shape, are dropped."""

    def __init__(self, sampler: ModelSampler, temperature: float = INPUT_TEMPERATURE) -> None:
        self.sampler, self.temperature = sampler, temperature

    def generate(self, problem: Problem, n: int, seed: int) -> list[str]:
        if problem.entry_point is not None or n <= 0:
            return []
        min_lines = min((len(t.input.strip().splitlines()) for t in problem.public_tests), default=1)
        drawn = self.sampler.sample_prompt(input_generation_prompt(problem.description), n, seed, self.temperature)
        inputs: list[str] = []
        for text in (d.code for d in drawn):
            text = text.strip()
            if text and len(text.splitlines()) >= min_lines and text + "\n" not in inputs:
                inputs.append(text + "\n")
        return inputs


@dataclass(frozen=True)
class CombinedInputGenerator:
    """Several sources in turn: source ``i`` is asked for its share of ``n`` with seed ``seed + i``."""

    sources: Sequence[InputGenerator]

    def generate(self, problem: Problem, n: int, seed: int) -> list[str]:
        inputs: list[str] = []
        share = -(-n // len(self.sources))
        for i, source in enumerate(self.sources):
            inputs.extend(x for x in source.generate(problem, share, seed + i) if x not in inputs)
        return inputs[:n]


def input_generator(source: str, model: LoadedModel | None) -> InputGenerator:
    """Where clustering inputs come from: mutated examples (``mutation``), the model's input task (``model``,
    a loaded model's sampler), or ``both``."""
    if source == "mutation":
        return MutationInputGenerator()
    config = SamplingConfig(batch_size=16, max_new_tokens=MAX_INPUT_TOKENS, temperatures=(INPUT_TEMPERATURE,))
    sampler = ModelSampler(model, config)
    generated = ModelInputGenerator(sampler)
    return generated if source == "model" else CombinedInputGenerator((MutationInputGenerator(), generated))
