"""A fake model: deterministic, offline, and priced, so the metering around it is what gets tested.

It "reads" every note and answers the first words of each. Its price is made up but shaped like a real
one: a fixed cost per call plus a cost per input token (a token is a word here).
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER = "fake"
MODEL = "notes-summariser-1"
CALL_MICROS = 1_000  # 0.001 EUR per call
INPUT_TOKEN_MICROS = 100  # 0.0001 EUR per word read
WORDS_PER_NOTE = 6


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int

    @property
    def cost_micros(self) -> int:
        return CALL_MICROS + INPUT_TOKEN_MICROS * self.input_tokens


async def summarise(texts: list[str]) -> Completion:
    """The summary of ``texts`` (oldest first) and what reading them cost."""
    if not texts:
        summary = "No notes yet."
    else:
        heads = [" ".join(text.split()[:WORDS_PER_NOTE]) for text in texts]
        summary = f"{len(texts)} note{'s' if len(texts) != 1 else ''}: " + "; ".join(heads)
    return Completion(summary, sum(len(text.split()) for text in texts), len(summary.split()))
