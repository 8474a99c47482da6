"""Summing the counted runs out of core with DuckDB, and the selections of SPEC 3: unigrams by
count, bigrams by pointwise mutual information, titles by views.

Each total is cached as Parquet under a name derived from the runs it sums, so a re-run with
other thresholds (tuning the bigram PMI to a budget, as the paper did) only re-queries.
"""

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from metacurate.errors import import_extra
from metacurate.writers.atomic import atomic_path

# Thresholds shown in the bigram report, with the chosen one, so a user can tune it to a budget.
PMI_LADDER = (10, 15, 20, 25, 30, 35, 40)
# DuckDB's log2 and Python's math.log(x, 2) can differ in the last bits: rows within this margin
# of the threshold are fetched and decided with the exact NLTK formula in Python.
PMI_MARGIN = 1e-6


def pmi(n_ii: int, n_ix: int, n_xi: int, n_xxx: int) -> float:
    """NLTK's BigramAssocMeasures.pmi: log2(n_ii * N) - log2(n_ix * n_xi), N all tokens."""
    return math.log(n_ii * n_xxx, 2) - math.log(n_ix * n_xi, 2)


class Totals:
    """A DuckDB session over one work folder (spilling there, using ``threads`` cores)."""

    def __init__(self, work_dir: Path, threads: int, memory_limit: str = "4GB"):
        self.work_dir = Path(work_dir)
        spill = self.work_dir / "duckdb-spill"
        spill.mkdir(parents=True, exist_ok=True)
        self.duckdb = import_extra("duckdb", "wikipedia", "summing Wikipedia counts")
        self.con = self.duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
        self._execute(f"SET temp_directory = '{_sql_path(spill)}'")
        self._execute("SET preserve_insertion_order = false")

    def close(self) -> None:
        self.con.close()

    def _execute(self, sql: str, parameters: list | None = None):
        try:
            return self.con.execute(sql, parameters)
        except (self.duckdb.InterruptException, RuntimeError) as err:
            # DuckDB takes Ctrl-C itself to cancel the query: give it back as Ctrl-C.
            if isinstance(err, RuntimeError) and "interrupted" not in str(err):
                raise
            raise KeyboardInterrupt from None

    def summed(self, name: str, runs: list[Path], key: str, value: str) -> Path:
        """Parquet of (key, value) summed over the runs; cached under a digest of the runs."""
        digest = hashlib.sha256("\n".join(map(str, runs)).encode("utf-8", "surrogatepass"))
        out = self.work_dir / "totals" / f"{name}-{digest.hexdigest()[:12]}.parquet"
        if out.exists():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        files = _sql_list(runs) if runs else None
        with atomic_path(out) as tmp:
            if files is None:  # no input of this kind: an empty table of the right shape
                query = f"SELECT ''::VARCHAR AS {key}, 0::BIGINT AS {value} WHERE false"
            else:
                query = (
                    f"SELECT {key}, SUM({value})::BIGINT AS {value} "
                    f"FROM read_parquet({files}) GROUP BY {key}"
                )
            self._execute(
                f"COPY ({query}) TO '{_sql_path(tmp)}' (FORMAT parquet, COMPRESSION zstd)"
            )
        return out

    def at_least(self, table: Path, key: str, value: str, minimum: int) -> list[tuple[str, int]]:
        """(key, value) with value >= minimum, largest first, ties in code point order."""
        return self._execute(
            f"SELECT {key}, {value} FROM read_parquet('{_sql_path(table)}') "
            f"WHERE {value} >= ? ORDER BY {value} DESC, {key}",
            [minimum],
        ).fetchall()

    def total(self, table: Path, value: str) -> int:
        (n,) = self._execute(
            f"SELECT COALESCE(SUM({value}), 0)::BIGINT FROM read_parquet('{_sql_path(table)}')"
        ).fetchone()
        return int(n)

    def distinct(self, table: Path) -> int:
        (n,) = self._execute(f"SELECT COUNT(*) FROM read_parquet('{_sql_path(table)}')").fetchone()
        return int(n)

    def bigrams(
        self, unigrams: Path, bigrams: Path, min_pmi: float, min_count: int
    ) -> "BigramSelection":
        """Bigrams with PMI >= ``min_pmi`` (exact NLTK arithmetic) and count >= ``min_count``,
        highest PMI first (ties: more frequent first, then code point order); with the number
        passing each threshold of the ladder."""
        n_all = self.total(unigrams, "n")
        scored = (
            f"SELECT b.key, b.n, u1.n AS n1, u2.n AS n2, "
            f"log2(b.n::DOUBLE) + log2({n_all}::DOUBLE) - log2(u1.n::DOUBLE) - log2(u2.n::DOUBLE) AS pmi "
            f"FROM read_parquet('{_sql_path(bigrams)}') b "
            f"JOIN read_parquet('{_sql_path(unigrams)}') u1 ON u1.key = split_part(b.key, ' ', 1) "
            f"JOIN read_parquet('{_sql_path(unigrams)}') u2 ON u2.key = split_part(b.key, ' ', 2) "
            f"WHERE b.n >= {int(min_count)}"
        )
        ladder = sorted(set(PMI_LADDER) | {min_pmi})
        # Only pairs that reach the ladder's lowest rung are kept: most of the hundreds of
        # millions of distinct pairs score below it.
        self._execute(
            f"CREATE OR REPLACE TEMP TABLE scored AS SELECT * FROM ({scored}) "
            f"WHERE pmi >= {ladder[0] - PMI_MARGIN!r}"
        )
        counts = self._execute(
            "SELECT "
            + ", ".join(f"COUNT(*) FILTER (WHERE pmi >= {t!r})" for t in ladder)
            + " FROM scored"
        ).fetchone()
        rows = self._execute(
            "SELECT key, n, n1, n2 FROM scored WHERE pmi >= ?", [min_pmi - PMI_MARGIN]
        ).fetchall()
        self._execute("DROP TABLE scored")
        exact = [(key, n, pmi(n, n1, n2, n_all)) for key, n, n1, n2 in rows]
        kept = sorted((r for r in exact if r[2] >= min_pmi), key=lambda r: (-r[2], -r[1], r[0]))
        by_threshold = dict(zip(ladder, map(int, counts), strict=True))
        by_threshold[min_pmi] = len(kept)  # the chosen threshold's count is the exact one
        return BigramSelection(kept, by_threshold, n_all)


@dataclass(frozen=True)
class BigramSelection:
    kept: list[tuple[str, int, float]]  # ("w1 w2", count, pmi)
    passing: dict[float, int]  # threshold -> bigrams at or above it
    tokens: int  # N, all counted tokens


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{_sql_path(p)}'" for p in paths) + "]"
