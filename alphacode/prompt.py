"""The fine-tuning prompt: AlphaCode's value-conditioning header, then the problem statement.

Training and sampling build prompts here and nowhere else. In training the header states the
solution's real language and whether it is correct; sampling always asks for a correct solution and
draws the rating and tags at random, as AlphaCode did, so the model cannot lean on metadata it would
not have at contest time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from alphacode.execution.records import SANDBOX_LANGUAGES

# The Codeforces tag list used by CodeContests' ``cf_tags``.
CODECONTESTS_TAGS = (
    "*special", "2-sat", "binary search", "bitmasks", "brute force", "chinese remainder theorem",
    "combinatorics", "constructive algorithms", "data structures", "dfs and similar", "divide and conquer", "dp",
    "dsu", "expression parsing", "fft", "flows", "games", "geometry", "graph matchings", "graphs", "greedy",
    "hashing", "implementation", "interactive", "math", "matrices", "meet-in-the-middle", "number theory",
    "probabilities", "schedules", "shortest paths", "sortings", "string suffix structures", "strings",
    "ternary search", "trees", "two pointers",
)
RATING_RANGE = (800, 3500)


@dataclass(frozen=True)
class PromptHeader:
    """The metadata a prompt states about the solution it precedes."""

    language: str
    correct: bool = True
    rating: int | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.language not in SANDBOX_LANGUAGES:
            raise ValueError(f"language must be one of {SANDBOX_LANGUAGES}, got {self.language!r}")

    def render(self) -> str:
        lines = []
        if self.rating:
            lines.append(f"RATING: {self.rating}")
        if self.tags:
            lines.append(f"TAGS: {','.join(self.tags)}")
        lines.append(f"LANGUAGE IS {self.language}")
        lines.append("CORRECT SOLUTION" if self.correct else "INCORRECT SOLUTION")
        return "\n".join(lines)


def build_prompt(description: str, header: PromptHeader) -> str:
    """The encoder's text: the header lines, a blank line, the statement."""
    return f"{header.render()}\n\n{description}"


def sampling_header(rng: random.Random, language: str, max_tags: int = 3) -> PromptHeader:
    """A header for sampling: asks for a correct solution, with a random rating (800-3500, steps of
    100) and 0 to ``max_tags`` random tags."""
    rating = rng.randrange(RATING_RANGE[0], RATING_RANGE[1] + 1, 100)
    tags = tuple(sorted(rng.sample(CODECONTESTS_TAGS, rng.randint(0, max_tags))))
    return PromptHeader(language=language, correct=True, rating=rating, tags=tags)


INPUT_GENERATION_HEADER = "GENERATE TEST INPUT"


def input_generation_prompt(description: str) -> str:
    """The encoder's text for the test-input generator: its header, a blank line, the statement."""
    return f"{INPUT_GENERATION_HEADER}\n\n{description}"
