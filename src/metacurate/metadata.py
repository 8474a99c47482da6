"""Metadata lists: loading MetaCLIP's JSON format or one entry per line, and the built-in default."""

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from metacurate.errors import InputError
from metacurate.location import Location

DEFAULT_NAME = "built-in default"


@dataclass(frozen=True)
class Source:
    """A contiguous id range of the metadata that came from one source."""

    name: str
    start: int
    stop: int
    license: str = ""
    description: str = ""


@dataclass(frozen=True)
class Metadata:
    entries: list[str]
    origin: str
    sources: list[Source] = field(default_factory=list)
    notes: str = ""  # what a reader of the data card should know about this list

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def sha256(self) -> str:
        return entries_sha256(self.entries)

    def source_of(self, entry_id: int) -> str | None:
        for source in self.sources:
            if source.start <= entry_id < source.stop:
                return source.name
        return None

    def to_json(self) -> dict:
        """The self-contained form written next to stage outputs (``metadata.json``)."""
        return {
            "origin": self.origin,
            "notes": self.notes,
            "sources": [vars(s) for s in self.sources],
            "entries": self.entries,
        }


def entries_sha256(entries: list[str]) -> str:
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sidecar_path(path: Path) -> Path:
    """``metadata.json`` -> ``metadata.sources.json``: where a list's sources are described."""
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    return path.with_name(f"{stem}.sources.json")


def _sources_from(raw: list[dict]) -> list[Source]:
    keys = ("name", "start", "stop", "license", "description")
    return [Source(**{k: s[k] for k in keys if k in s}) for s in raw]


def default_metadata() -> Metadata:
    data = resources.files("metacurate") / "data"
    with (data / "default_metadata.json.gz").open("rb") as f:
        entries = json.loads(gzip.decompress(f.read()).decode("utf-8"))
    sidecar = json.loads((data / "default_metadata.sources.json").read_text("utf-8"))
    origin = f"{DEFAULT_NAME} ({sidecar['name']})"
    return Metadata(entries, origin, _sources_from(sidecar["sources"]), sidecar.get("notes", ""))


def _parse(path: Location, text: str) -> Metadata:
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: not valid JSON metadata ({err})") from None
        if isinstance(loaded, dict) and "entries" in loaded:  # our own metadata.json
            origin = loaded.get("origin", str(path))
            sources = _sources_from(loaded.get("sources", []))
            return Metadata(loaded["entries"], origin, sources, loaded.get("notes", ""))
        if isinstance(loaded, list) and all(isinstance(e, str) for e in loaded):
            meta = Metadata(loaded, str(path))
            return meta if path.remote else _with_sidecar(meta, sidecar_path(path.path))
        raise InputError(f"{path}: JSON metadata must be a list of strings")
    # One entry per line; only the line break (LF or CRLF) is removed, so entries keep their
    # inner and outer spaces, which matter for matching.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return Metadata([line.removesuffix("\r") for line in lines], str(path))


def _with_sidecar(meta: Metadata, sidecar: Path) -> Metadata:
    """A JSON list with a sidecar (``metacurate metadata build`` writes one) gets its sources."""
    if not sidecar.is_file():
        return meta
    try:
        raw = json.loads(sidecar.read_text("utf-8"))
        sources = _sources_from(raw["sources"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{sidecar}: not a metadata sources file ({err})") from None
    if sources and sources[-1].stop != len(meta.entries):
        raise InputError(
            f"{sidecar}: describes {sources[-1].stop:,} entries, the list has {len(meta.entries):,}"
        )
    return Metadata(meta.entries, meta.origin, sources, raw.get("notes", ""))


def load_metadata(path: str | Path | Location | None) -> Metadata:
    """Load ``path`` (JSON list of strings, our metadata.json, or one entry per line; .gz ok)."""
    if path is None:
        return default_metadata()
    if str(path).lower().startswith(("http://", "https://")):
        raise InputError(f"{path}: metadata is read from a file or an s3:// or gs:// URL, not HTTP")
    path = Location.of(path)
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8", "surrogatepass")
    except FileNotFoundError:
        raise InputError(f"{path}: metadata file not found") from None
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read metadata ({err})") from None
    return _parse(path, text)
