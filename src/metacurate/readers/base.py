"""What every reader shares: the unit of work (a shard) and the ledger of rejected records."""

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from metacurate.errors import RemoteReadError

BATCH_ROWS = 65_536
UUID_HEX = 24
REPLACEMENT = "\ufffd"
# Formats whose rows are extracted from crawled pages (they get language id by default).
WEB_ARCHIVES = frozenset({"warc", "wat"})
MAX_EXAMPLES = 5
# A remote input that kept failing mid-read: counted once, at the URL and offset it stopped.
READ_FAILED = "input_read_failed"


@dataclass(frozen=True)
class Shard:
    """A slice of one input file that a worker reads, matches and writes as one output part."""

    index: int
    path: str
    format: str
    row_groups: tuple[int, ...] | None = None  # Parquet only: None means the whole file
    rows: int | None = None  # known up front for Parquet, else None
    of: int = 1  # shards in the run's plan

    @property
    def name(self) -> str:
        return part_name(self.index, self.of)


def part_name(index: int, count: int) -> str:
    """``part-00003``: zero-padded wide enough for ``count`` parts (five digits at least), so
    that names sort in input order past ``part-99999`` too."""
    return f"part-{index:0{max(5, len(str(count - 1)))}d}"


@dataclass
class Rejects:
    """Rows a reader could not turn into records, counted by reason with a few located examples."""

    by_reason: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    # What a reader saw that is not a rejection (web archives: records, pages, images, ...).
    seen: Counter = field(default_factory=Counter)

    def add(self, reason: str, where: str, detail: str = "", n: int = 1) -> None:
        """``n`` records rejected at ``where`` for one reason (one example names them all)."""
        self.by_reason[reason] += n
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}{f' ({detail})' if detail else ''}")

    def count(self, what: str, n: int = 1) -> None:
        self.seen[what] += n

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def as_stats(self) -> dict:
        """The JSON form kept in a part's marker."""
        return {
            "seen": dict(self.seen),
            "rejected": dict(self.by_reason),
            "reject_examples": self.examples,
        }

    def absorb(self, stats: dict) -> None:
        """Add a marker's counts (``as_stats``) to these."""
        self.seen.update(stats["seen"])
        self.by_reason.update(stats["rejected"])
        room = MAX_EXAMPLES - len(self.examples)
        self.examples.extend(stats["reject_examples"][: max(room, 0)])


def read_failed(rejects: Rejects, err: RemoteReadError) -> None:
    """Count a remote input that stopped being readable: the rows read before it are kept, and
    the run goes on (as for a truncated gzip), with the URL and offset in the example."""
    rejects.add(READ_FAILED, f"{err.url}:{err.offset}", err.detail)


def image_uuid(url: str) -> str:
    """MetaCLIP's image id: the first 24 hex digits of SHA-224 of the (resolved) URL."""
    return hashlib.sha224(url.encode("utf-8")).hexdigest()[:UUID_HEX]


def arrow_safe_text(value: str) -> str:
    """Lone surrogates (legal in JSON, not in Arrow) become U+FFFD so the stored text is what
    gets matched."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else REPLACEMENT for c in value)
