"""Rules every metadata entry follows, whatever its source, and the merge of sources (SPEC 3)."""

import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_ASCII_PUNCTUATION = frozenset(string.punctuation)


def is_single_punctuation(entry: str) -> bool:
    """MetaCLIP's builder drops entries that are one punctuation character (ASCII, or any
    Unicode punctuation category such as '–' or '«')."""
    return len(entry) == 1 and (
        entry in _ASCII_PUNCTUATION or unicodedata.category(entry).startswith("P")
    )


@dataclass(frozen=True)
class Part:
    """A contiguous id range of the merged list and the source it came from."""

    name: str
    start: int
    stop: int
    candidates: int  # entries the source offered, before de-duplication and the budget


def merge(
    sources: Iterable[tuple[str, Iterable[str]]], budget: int
) -> tuple[list[str], list[Part]]:
    """Concatenate the sources in order, keeping first occurrences, dropping empty and single
    punctuation entries, and stopping at ``budget`` entries in all."""
    entries: list[str] = []
    seen: set[str] = set()
    parts = []
    for name, items in sources:
        start = len(entries)
        offered = 0
        for entry in items:
            offered += 1
            if len(entries) >= budget:
                continue  # keep counting what the source offered: the report shows the cut
            if entry and entry not in seen and not is_single_punctuation(entry):
                seen.add(entry)
                entries.append(entry)
        parts.append(Part(name, start, len(entries), offered))
    return entries, parts
