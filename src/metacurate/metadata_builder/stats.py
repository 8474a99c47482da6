"""``metacurate metadata stats``: per-source counts of a metadata list, like the paper's Table 1."""

from dataclasses import dataclass

from metacurate.match.spacing import unmatchable_reason
from metacurate.metadata import Metadata, Source

# The paper's Table 1, by our source names: what a full build with the default thresholds on the
# paper's dumps gave.
PAPER_TABLE_1 = {
    "wordnet": 86_654,
    "wikipedia-unigrams": 251_465,
    "wikipedia-bigrams": 100_646,
    "wikipedia-titles": 61_235,
}


@dataclass(frozen=True)
class SourceStats:
    name: str
    start: int
    stop: int
    multi_word: int  # entries with a space: bigrams, multi-word names and titles
    never_match: int  # entries sub-string matching can never return (SPEC 2)

    @property
    def entries(self) -> int:
        return self.stop - self.start


def source_stats(meta: Metadata) -> list[SourceStats]:
    """One row per source range; a list without sources is one ``unknown`` range."""
    sources = meta.sources or [Source("unknown", 0, len(meta.entries))]
    rows = []
    for source in sources:
        part = meta.entries[source.start : source.stop]
        rows.append(
            SourceStats(
                source.name,
                source.start,
                source.stop,
                multi_word=sum(" " in e for e in part),
                never_match=sum(unmatchable_reason(e) is not None for e in part),
            )
        )
    return rows
