"""The JAX model as a :class:`~sampling.candidate.Sampler`: prompts in the fine-tuning format, batched decoding.

Each batch gets its own metadata, drawn as AlphaCode did: a random rating (800-3500) and random
CodeContests tags in the header, Python 3 or C++ (``python_fraction`` of the batches ask for Python),
and a temperature from ``temperatures``. Every batch has ``batch_size`` rows, also the last one of a
call (surplus rows are dropped), so one compiled decode loop per temperature serves every call.
:meth:`ModelSampler.sample_prompt` draws from a raw prompt (a HumanEval signature and docstring, or a
contest prompt with its header); it is the one place model output becomes text.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from alphacode.errors import ConfigError
from alphacode.lazy import lazy_import
from alphacode.model.config import EOS_ID
from alphacode.problems import Problem
from alphacode.prompt import build_prompt, sampling_header
from sampling.candidate import Candidate
from sampling.units import derive_seed

if TYPE_CHECKING:
    from alphacode.model.export import LoadedModel

# JAX loads with the first sampler, after the sandbox and Ray have forked their processes
jax = lazy_import("jax")
decoding = lazy_import("alphacode.decoding")


TEMPERATURE = 0.25  # AlphaCode's tuned sampling temperature: the contest commands' default
NO_REPEAT_NGRAM = 12  # the commands' guard against loops: 35% -> 9% of samples at the token limit (docs/results.md)


@dataclass(frozen=True)
class SamplingConfig:
    """How programs are drawn. ``max_new_tokens=None`` means the model's ``max_decoder_length``."""

    batch_size: int = 32
    max_new_tokens: int | None = None
    temperatures: tuple[float, ...] = (TEMPERATURE,)
    top_k: int = 0
    top_p: float = 1.0
    no_repeat_ngram: int = 0
    python_fraction: float = 0.5
    max_tags: int = 3

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if not self.temperatures or not all(0 <= t < math.inf for t in self.temperatures):
            raise ConfigError(f"temperatures must be one or more finite values >= 0, got {self.temperatures}")
        if self.no_repeat_ngram < 0 or self.no_repeat_ngram == 1:
            raise ConfigError(f"no_repeat_ngram must be 0 (off) or at least 2, got {self.no_repeat_ngram}")
        if self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"need top_k >= 0 and 0 < top_p <= 1, got {self.top_k} and {self.top_p}")
        if not 0.0 <= self.python_fraction <= 1.0:
            raise ConfigError(f"python_fraction must be in [0, 1], got {self.python_fraction}")

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "temperatures": list(self.temperatures)}


@dataclass(frozen=True)
class Drawn:
    """One decoded program: its text, total log-probability, length in tokens (EOS included), and whether it
    ended with EOS (rather than at the token limit)."""

    code: str
    logprob: float
    num_tokens: int
    ended: bool = True


def sample_length(config: SamplingConfig, model_config: Any) -> int:
    """The most tokens a sample may have under ``config`` with a model of ``model_config`` (checked: no more than
    its decoder holds, and no shorter than the repetition guard); callers check before they write anything."""
    length = config.max_new_tokens or model_config.max_decoder_length
    if length > model_config.max_decoder_length:
        raise ConfigError(f"max_new_tokens {length} is over the model's {model_config.max_decoder_length} "
                          "(max_decoder_length)")
    if config.no_repeat_ngram > length:
        raise ConfigError(f"no_repeat_ngram {config.no_repeat_ngram} is longer than a sample ({length} tokens)")
    return length


class ModelSampler:
    """Draws candidates from a loaded model (``alphacode.model.export.load_model``); deterministic in ``seed``."""

    def __init__(self, model: LoadedModel, config: SamplingConfig = SamplingConfig()) -> None:
        self.config = config
        self.tokenizer = model.tokenizer
        self.max_new_tokens = sample_length(config, model.config)
        self._decoder = decoding.Decoder(model.config, jax.device_put(model.params))

    def warmup(self) -> None:
        """Compile the decode loop for every temperature now rather than in the first call."""
        prompt = self.tokenizer.encode("warm-up")
        for temperature in self.config.temperatures:
            self._draw(prompt, 0, temperature)

    def _draw(self, prompt: list[int], seed: int, temperature: float) -> Any:
        key = np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32)  # a raw threefry key: all 64 bits count
        cfg = self.config
        return self._decoder.sample(prompt, cfg.batch_size, key, max_length=self.max_new_tokens,
                                    temperature=temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                                    no_repeat_ngram=cfg.no_repeat_ngram)

    def sample_prompt(self, prompt: str, n: int, seed: int, temperature: float | None = None) -> list[Drawn]:
        """``n`` programs continuing ``prompt`` at ``temperature`` (default: the first configured one);
        batch ``b`` is drawn with the key ``(seed + b) mod 2**64``, so fewer samples give a prefix."""
        temperature = self.config.temperatures[0] if temperature is None else temperature
        ids = self.tokenizer.encode(prompt)
        drawn: list[Drawn] = []
        for batch_index, start in enumerate(range(0, n, self.config.batch_size)):
            batch = self._draw(ids, (seed + batch_index) % 2**64, temperature)
            for row in range(min(self.config.batch_size, n - start)):
                length = int(batch.lengths[row])
                drawn.append(Drawn(self.tokenizer.decode(batch.tokens[row, :length]), float(batch.logprobs[row]),
                                   length, bool(length and batch.tokens[row, length - 1] == EOS_ID)))
        return drawn

    def sample(self, problem: Problem, n: int, seed: int) -> list[Candidate]:
        """``n`` candidates for ``problem``: each batch with its own header, language and temperature."""
        cfg = self.config
        candidates: list[Candidate] = []
        for batch_index, start in enumerate(range(0, n, cfg.batch_size)):
            batch_seed = derive_seed(seed, batch_index)
            meta = random.Random(batch_seed)
            language = "python3" if meta.random() < cfg.python_fraction else "cpp"
            header = sampling_header(meta, language, cfg.max_tags)
            temperature = meta.choice(cfg.temperatures)
            rows = min(cfg.batch_size, n - start)
            for row, program in enumerate(self.sample_prompt(build_prompt(problem.description, header), rows,
                                                             batch_seed, temperature)):
                candidates.append(Candidate(
                    problem_id=problem.name, language=language, code=program.code, logprob=program.logprob,
                    num_tokens=program.num_tokens, rating=header.rating, tags=header.tags, temperature=temperature,
                    seed=seed, index=start + row))
        return candidates
