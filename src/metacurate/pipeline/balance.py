"""The ``balance`` stage: matched parts + entry counts -> ``curated-t{T}-seed{S}/`` and a data card."""

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metacurate import __version__
from metacurate.balance.sampling import entry_probabilities, keep_decisions, pair_keys
from metacurate.counting import (
    ENTRY_IDS,
    SparseCounts,
    t_for_tail_fraction,
    tail_fraction,
)
from metacurate.datacard import write_datacard
from metacurate.engine import Engine, LocalEngine
from metacurate.errors import InputError
from metacurate.location import Location
from metacurate.metadata import load_metadata
from metacurate.pipeline import rundir
from metacurate.pipeline.rundir import COUNTS, MATCHED, METADATA
from metacurate.pipeline.rundir import MATCH_SUMMARY as SUMMARY
from metacurate.pipeline.runner import run_step
from metacurate.pipeline.stats import ExactSum
from metacurate.writers.atomic import write_json, write_parquet

KEEP_PROB = "keep_prob"
MANIFEST = rundir.BALANCE.manifest
TOP_ENTRIES = 20
SUMMED = ("rows_in", "rows_kept", "expected_rows_kept", "variance_rows_kept")


@dataclass(frozen=True)
class PartBalancer:
    """Picklable per-part worker: draw, keep and write one matched part."""

    p: np.ndarray
    seed: int
    text_column: str
    out_dir: Location

    def setup(self) -> None:
        """Load the compiled kernels (once per process; forked workers inherit them)."""
        table = pa.table({"text": ["warm up"], ENTRY_IDS: pa.array([[0]], pa.list_(pa.int32()))})
        keep_decisions(pair_keys(table, "text"), table[ENTRY_IDS], np.ones(1), self.seed)

    def __call__(self, part: Location) -> tuple[dict, SparseCounts]:
        """The part's statistics and the entry counts of its kept rows."""
        table = pq.read_table(**part.arrow())
        keep, prob = keep_decisions(
            pair_keys(table, self.text_column), table[ENTRY_IDS], self.p, self.seed
        )
        if KEEP_PROB in table.column_names:  # balancing a balanced set again
            table = table.drop_columns([KEEP_PROB])
        kept = table.append_column(KEEP_PROB, pa.array(prob)).filter(keep)
        write_parquet(self.out_dir / part.name, kept, self.text_column)
        stats = {
            "part": part.name,
            "rows_in": len(table),
            "rows_kept": len(kept),
            "expected_rows_kept": float(prob.sum()),
            "variance_rows_kept": float((prob * (1.0 - prob)).sum()),
        }
        return stats, SparseCounts.of(kept[ENTRY_IDS])


def resolve_t(counts: np.ndarray, t: int | None, tail: float | None) -> tuple[int, float]:
    """(t, tail fraction) from whichever of the two the user gave."""
    if (t is None) == (tail is None):
        raise InputError("give exactly one of --t and --tail-fraction")
    if t is None:
        t = t_for_tail_fraction(counts, tail)
    if t < 1:
        raise InputError(f"--t must be at least 1, got {t}")
    return t, tail_fraction(counts, t)


def load_match(out_dir: Location) -> tuple[dict, bytes]:
    """A completed match stage: its summary (written last), having every part it lists, and
    its entry counts file."""
    try:
        summary = json.loads((out_dir / SUMMARY).read_text())
    except FileNotFoundError:
        raise InputError(
            f"{out_dir}: no completed match stage ({SUMMARY} missing); run `metacurate match` first"
            " (an interrupted one completes when run again)"
        ) from None
    present = rundir.parts_present(out_dir / MATCHED, summary["shards"], ".parquet")
    missing = [name for name in summary["parts"] if not present[rundir.part_number(name)]]
    if missing:
        raise InputError(
            f"{out_dir / MATCHED / missing[0]}: listed in {SUMMARY} but missing"
            f"{f' (and {len(missing) - 1} more parts)' if len(missing) > 1 else ''}; run the"
            " match again with --overwrite"
        )
    return summary, (out_dir / COUNTS).read_bytes()


def check_seed(seed: int) -> None:
    """The draws hash the seed as 64 bits: refuse what does not fit before any work starts."""
    if not 0 <= seed < 2**64:
        raise InputError(f"--seed must be between 0 and 2**64 - 1, got {seed}")


def run_balance(
    out_dir: Location | PathLike | str,
    t: int | None = None,
    tail: float | None = None,
    seed: int = 0,
    engine: Engine | None = None,
    overwrite: bool = False,
    command: str = "",
) -> dict:
    """Balance the match run in ``out_dir`` into ``curated-t{T}-seed{S}/`` (resuming); return
    the data card. ``engine``: where the parts are balanced (default: this process)."""
    check_seed(seed)
    out_dir = Location.of(out_dir)
    match_summary, counts_file = load_match(out_dir)
    counts = np.load(io.BytesIO(counts_file))
    t, tail = resolve_t(counts, t, tail)
    curated = out_dir / rundir.curated_name(t, seed)
    names = match_summary["parts"]
    parts = _Parts(out_dir / MATCHED, names)
    config = {
        "metacurate_version": __version__,
        "t": t,
        "seed": seed,
        "entry_counts_sha256": hashlib.sha256(counts_file).hexdigest(),
        # The parts by number and digest, not by name: a list would grow the record, and the
        # driver that reads it back, by a hundred bytes a part.
        "shards": match_summary["shards"],
        "parts": len(names),
        "parts_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
    }
    with rundir.open_run(curated, rundir.BALANCE, config, [], overwrite):
        p = entry_probabilities(counts, t)
        worker = PartBalancer(p, seed, match_summary["text_column"], curated)
        counts_after, stats = _balance_parts(
            worker, parts, engine or LocalEngine(), match_summary["shards"]
        )
        metadata = load_metadata(out_dir / METADATA)
        card = _card(
            command, match_summary, metadata, counts, counts_after, p, t, tail, seed, stats, curated
        )
        written = write_datacard(curated, card, counts, counts_after, t)
    card["outputs"]["datacard"] = {k: str(v) for k, v in written.items()}
    return card


@dataclass(frozen=True)
class _Parts(Sequence):
    """The match run's parts, each made a ``Location`` only when its task is handed out."""

    folder: Location
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Location:
        return self.folder / self.names[index]


def _balance_parts(
    worker: PartBalancer, parts: _Parts, engine: Engine, shards: int
) -> tuple[np.ndarray, dict]:
    """Balance the parts not done yet; the entry counts of all kept rows and the parts' summed
    statistics."""
    curated = worker.out_dir
    counts_after = np.zeros(len(worker.p), np.uint64)
    totals = {key: ExactSum() for key in SUMMED}

    def add(stats: dict) -> None:
        for key in SUMMED:
            totals[key].add(stats[key])

    def balanced(part: Location, result: tuple[dict, SparseCounts]) -> None:
        write_json(curated / rundir.part_marker(part.name), result[0])
        add(result[0])
        result[1].add_to(counts_after)

    def balanced_before(part: Location) -> None:  # counted from its file and marker
        add(json.loads((curated / rundir.part_marker(part.name)).read_text()))
        SparseCounts.of_part(curated / part.name).add_to(counts_after)

    done_before = rundir.parts_present(curated, shards, ".json")
    done_before &= rundir.parts_present(curated, shards, ".parquet")
    done = lambda part: done_before[rundir.part_number(part.name)]  # noqa: E731
    run_step(engine, worker, parts, done, balanced, "balance", on_skip=balanced_before)
    return counts_after, {key: total.value for key, total in totals.items()}


def _card(
    command, match_summary, metadata, counts, counts_after, p, t, tail, seed, stats, curated
) -> dict:
    source_sizes = [
        {
            "name": s.name,
            "entries": s.stop - s.start,
            "license": s.license,
            "description": s.description,
        }
        for s in metadata.sources
    ]
    top = np.argsort(-counts.astype(np.int64), kind="stable")[:TOP_ENTRIES]
    rows_kept = int(stats["rows_kept"])
    return {
        "title": "metacurate data card",
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metacurate_version": __version__,
        "command": command,
        "inputs": {
            "files": match_summary["inputs"],
            "text_column": match_summary["text_column"],
            "rows_read": match_summary["rows_read"],
        },
        "metadata": {
            "origin": metadata.origin,
            "notes": metadata.notes,
            "entries": len(metadata),
            "sha256": match_summary["metadata"]["sha256"],
            "sources": source_sizes,
            "unmatchable_entries": match_summary["unmatchable_entries"],
            "unmatchable_examples": match_summary["unmatchable_examples"],
        },
        "matching": {
            key: match_summary[key]
            for key in (
                "rows_read",
                "rows_matched",
                "rows_unmatched",
                "rows_empty_text",
                "rows_other_language",
                "rows_duplicate",
                "rows_written",
                "languages",
                "dedup",
                "seen",
                "rejected",
                "matches_total",
                "entries_matched",
                "entries_unmatched",
            )
        },
        "balancing": {
            "t": t,
            "tail_fraction": tail,
            "seed": seed,
            "head_entries": int((counts >= t).sum()),
            "rows_kept": rows_kept,
            "expected_rows_kept": stats["expected_rows_kept"],
            "expected_rows_kept_std": float(np.sqrt(stats["variance_rows_kept"])),
            "matches_kept": int(counts_after.sum()),
        },
        "top_entries": [
            {
                "id": int(i),
                "entry": metadata.entries[i],
                "count": int(counts[i]),
                "kept": int(counts_after[i]),
                "p": float(p[i]),
                "source": metadata.source_of(int(i)),
            }
            for i in top
            if counts[i] > 0
        ],
        "outputs": {
            "folder": str(curated),
            "parquet": match_summary["parts"],
            "rows": rows_kept,
        },
    }
