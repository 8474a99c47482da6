"""WebDataset shards (.tar, .tar.gz): one row per (sample, text), streamed member by member.

A sample is the run of consecutive members sharing a key: the member path up to the first "." of
its base name, directory kept (WebDataset's rule). Only text members are read:

- ``KEY.txt``: the caption (img2dataset), source ``txt``;
- ``KEY.json``: ``caption`` or ``text`` strings (img2dataset: source ``json:caption``), and
  MetaCLIP's ``texts``: a list of ``[kind, text]`` (or ``[kind, text, lang]``) items, source
  ``json:texts:<kind>`` (``json:texts`` for bare strings). In MetaCLIP shards the key is the
  image uuid, which is what MetaCLIP's loader looks texts up by.

Image members are never read: streaming mode ("r|*") skips their data block by block.
"""

import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from metacurate.errors import InputError, RemoteReadError
from metacurate.readers.base import (
    BATCH_ROWS,
    Rejects,
    Shard,
    arrow_safe_text,
    image_uuid,
    read_failed,
)
from metacurate.readers.sources import open_input

COLUMNS = ("key", "url", "uuid", "source")
TEXT_EXTENSIONS = {"txt", "json"}
# A caption file this large is not a caption; refuse it rather than hold it in memory.
MAX_TEXT_MEMBER = 8 << 20


@dataclass
class Sample:
    key: str
    url: str | None = None
    uuid: str | None = None
    texts: list[tuple[str, str]] = field(default_factory=list)  # (source, text)
    metaclip: bool = False  # the json had MetaCLIP's "texts": the key is the uuid
    rejected: bool = False  # a text member was rejected (and counted by its reason)


def split_name(name: str) -> tuple[str, str]:
    """(key, extension) of a member path: the key ends at the first "." of the base name."""
    if name.startswith("./"):
        name = name[2:]
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _decode(data: bytes, where: str, rejects: Rejects) -> str:
    """Text of a member; bad bytes become U+FFFD and are counted, the text is kept."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        rejects.add("invalid_utf8", where, f"byte {err.start}")
        return data.decode("utf-8", errors="replace")


def _add_json(sample: Sample, text: str, where: str, rejects: Rejects) -> None:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        rejects.add("malformed_json", where, err.msg)
        return
    if not isinstance(record, dict):
        rejects.add("malformed_json", where, "not an object")
        return
    if isinstance(record.get("url"), str):
        sample.url = arrow_safe_text(record["url"])
    if isinstance(record.get("uuid"), str):
        sample.uuid = arrow_safe_text(record["uuid"])
    for name in ("caption", "text"):
        _add_text(sample, f"json:{name}", record.get(name), where, rejects)
    texts = record.get("texts")
    if texts is not None:
        _add_metaclip_texts(sample, texts, where, rejects)


def _add_metaclip_texts(sample: Sample, texts, where: str, rejects: Rejects) -> None:
    if not isinstance(texts, list):
        rejects.add("text_not_a_string", where, f"texts is {type(texts).__name__}")
        return
    sample.metaclip = True
    for item in texts:
        if isinstance(item, list) and len(item) >= 2 and isinstance(item[0], str):
            _add_text(sample, f"json:texts:{arrow_safe_text(item[0])}", item[1], where, rejects)
        else:
            _add_text(sample, "json:texts", item, where, rejects)


def _add_text(sample: Sample, source: str, value, where: str, rejects: Rejects) -> None:
    if value is None:  # img2dataset writes "caption": null when it had none
        return
    if not isinstance(value, str):
        rejects.add("text_not_a_string", where, f"{source} is {type(value).__name__}")
        return
    sample.texts.append((source, arrow_safe_text(value)))


class _EndAwareInfo(tarfile.TarInfo):
    """Remembers why the header read that ended the archive failed: tarfile ends a stream
    silently on a missing or cut header, which is exactly how a truncated shard looks."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except tarfile.HeaderError as err:
            tar.metacurate_end = err
            raise


def _check_end(tar: tarfile.TarFile) -> None:
    """Raise unless the archive ended on its end-of-archive marker (a zero block)."""
    end = getattr(tar, "metacurate_end", None)
    if end is None or isinstance(end, tarfile.EOFHeaderError):
        return
    if isinstance(end, tarfile.EmptyHeaderError | tarfile.TruncatedHeaderError):
        raise tarfile.ReadError(f"unexpected end of data ({end})")
    raise tarfile.ReadError(str(end))


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str, rejects: Rejects):
    if member.size > MAX_TEXT_MEMBER:
        rejects.add("oversized_member", where, f"{member.size} bytes")
        return None
    with tar.extractfile(member) as f:
        return _decode(f.read(), where, rejects)


def _add_member(
    sample: Sample,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    ext: str,
    where: str,
    rejects: Rejects,
) -> None:
    text = _read_member(tar, member, where, rejects)
    if text is None:
        return
    if ext == "txt":
        # A trailing newline is the file's, not the caption's.
        sample.texts.insert(0, ("txt", text.rstrip("\r\n")))
    else:
        _add_json(sample, text, where, rejects)


def _samples(shard: Shard, rejects: Rejects) -> Iterator[Sample]:
    """Complete samples in tar order; a sample cut by a corrupt or truncated tar is dropped."""
    sample: Sample | None = None
    member_name = ""
    try:
        with (
            open_input(shard.path) as raw,
            tarfile.open(fileobj=raw, mode="r|*", tarinfo=_EndAwareInfo) as tar,
        ):
            for member in tar:
                member_name = member.name
                if not member.isfile():
                    continue
                key, ext = split_name(member.name)
                if sample is None or key != sample.key:
                    if sample is not None:
                        yield sample
                    sample = Sample(key)
                if ext not in TEXT_EXTENSIONS:
                    continue  # an image or other payload: the stream skips its data unread
                counted = rejects.total
                _add_member(sample, tar, member, ext, f"{shard.path}:{member.name}", rejects)
                sample.rejected = sample.rejected or rejects.total > counted
            _check_end(tar)
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    except (tarfile.TarError, EOFError, zlib.error) as err:
        # Keep every complete sample read so far; say where the file stopped being readable.
        reason = "truncated_tar" if _is_truncation(err) else "corrupt_tar"
        rejects.add(reason, f"{shard.path}:{member_name or '(start)'}", str(err))
        return
    except RemoteReadError as err:  # a remote shard that stopped answering: the same
        read_failed(rejects, err)
        return
    if sample is not None:
        yield sample


def _is_truncation(err: Exception) -> bool:
    # tarfile says "unexpected end of data" or "truncated header" where the bytes ran out.
    message = str(err)
    return isinstance(err, EOFError) or "unexpected end" in message or "truncated" in message


def _rows(sample: Sample) -> Iterator[tuple[str, str]]:
    """(source, text) pairs of a sample; a text given twice (img2dataset's txt and json caption)
    is one pair, credited to the first source."""
    seen: set[str] = set()
    for source, text in sample.texts:
        if text not in seen:
            seen.add(text)
            yield source, text


def _uuid(sample: Sample) -> str | None:
    if sample.uuid is not None:
        return sample.uuid
    if sample.metaclip:
        return sample.key
    return image_uuid(sample.url) if sample.url is not None else None


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    if text_column in COLUMNS:
        raise InputError(
            f"{shard.path}: text column {text_column!r} clashes with a WebDataset column"
            f" ({', '.join(COLUMNS)}); choose another --text-column"
        )
    batch = Batch(text_column)
    samples = 0
    for sample in _samples(shard, rejects):
        samples += 1
        if not sample.texts:
            # A sample whose texts were all rejected is counted once, by the members' reasons.
            if not sample.rejected:
                rejects.add("sample_without_text", f"{shard.path}:{sample.key}")
            continue
        uuid = _uuid(sample)
        for source, text in _rows(sample):
            batch.append(sample.key, sample.url, uuid, text, source)
            if len(batch) == BATCH_ROWS:
                yield batch.take()
    rejects.count("samples", samples)
    if len(batch):
        yield batch.take()


class Batch:
    """Column lists filled row by row, handed out as an Arrow table."""

    def __init__(self, text_column: str) -> None:
        self.names = ["key", "url", "uuid", text_column, "source"]
        self.columns: list[list] = [[] for _ in self.names]

    def __len__(self) -> int:
        return len(self.columns[0])

    def append(self, *values) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def take(self) -> pa.Table:
        table = pa.table(
            {n: pa.array(c, pa.string()) for n, c in zip(self.names, self.columns, strict=True)}
        )
        self.columns = [[] for _ in self.names]
        return table
