"""Where a run's outputs live: a local (or shared) folder, or an object-store prefix.

Every file a stage writes, and every one a later stage reads back, is named by a ``Location``:
a local path as the user gave it, or an ``s3://`` / ``gs://`` URL reached through pyarrow.fs
(configured the standard way, see ``readers/sources.py``). A location holds only its name, so
it pickles to any worker, which opens the filesystem in its own process.

Local folders and object stores differ where it matters for never losing data:

- A local file is written under a temporary name and renamed: a rename is atomic. An object
  store has no atomic rename (S3's move is a copy and a delete), but an object only appears once
  its upload completes, so a remote file is uploaded whole under its final name
  (``writers/atomic.py``). Either way a file under its final name is complete, and a stage's
  marker, written after its data, says the data belongs to the run.
- A local folder is locked with ``flock``; an object store has no locks, so a run holds a lease
  object it renews (``writers/lock.py``).
- Prefixes are not folders: nothing needs creating, and a prefix vanishes with its last file.
"""

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from metacurate.errors import InputError, OutputError

STORE_SCHEMES = ("s3://", "gs://")
URL_SCHEMES = (*STORE_SCHEMES, "http://", "https://")


@dataclass(frozen=True)
class Location:
    """A file or folder of outputs: ``url`` is a local path or ``scheme://bucket/key``."""

    url: str

    @classmethod
    def of(cls, where: "str | os.PathLike | Location") -> "Location":
        """The location of a path or URL the user gave (a URL's trailing slashes dropped)."""
        if isinstance(where, Location):
            return where
        text = os.fspath(where)
        lowered = text.lower()
        if lowered.startswith(("http://", "https://")):
            raise InputError(
                f"{text}: only inputs may be HTTP URLs; give a local path or an s3:// or gs:// URL"
            )
        if lowered.startswith(STORE_SCHEMES):
            scheme, _, rest = text.partition("://")
            if not rest.strip("/"):
                raise InputError(f"{text}: give a bucket (and a prefix) to write into")
            return cls(f"{scheme.lower()}://{rest.rstrip('/')}")
        if lowered.startswith(tuple(s.replace("//", "/") for s in URL_SCHEMES)):
            # typer or pathlib made "s3://b/x" into "s3:/b/x"
            return cls.of(text.replace(":/", "://", 1))
        return cls(text.rstrip("/") or text[:1])  # "out/" is "out"; "/" stays

    @property
    def remote(self) -> bool:
        return self.url.startswith(STORE_SCHEMES)

    @property
    def path(self) -> Path:
        """The local path (for what only a local folder can do: lock, create). Files are
        handled through ``os`` on the string: ``pathlib`` interns every name it parses, which
        would keep the names of a run's millions of files in memory for good."""
        if self.remote:
            raise ValueError(f"{self.url} is not a local path")
        return Path(self.url)

    def __truediv__(self, name: str) -> "Location":
        if not name:  # a layout's own folder is its subfolder ""
            return self
        if self.remote:
            return Location(f"{self.url}/{name}")
        return Location(os.path.join(self.url, name))

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        return (
            self.url.rstrip("/").rpartition("/")[2] if self.remote else os.path.basename(self.url)
        )

    @property
    def parent(self) -> "Location":
        """The folder holding this one; a bucket is its own parent."""
        if self.remote:
            scheme, _, key = self.url.partition("://")
            return Location(f"{scheme}://{key.rpartition('/')[0]}") if "/" in key else self
        return Location(os.path.dirname(self.url) or ".")

    def identity(self) -> str:
        """The same file however it is spelled: a local real path, or the URL."""
        return self.url if self.remote else os.path.realpath(self.url)

    # --- what is there ------------------------------------------------------------------------

    def exists(self) -> bool:
        if not self.remote:
            return os.path.exists(self.url)
        return self._info().type != _fs().FileType.NotFound

    def is_file(self) -> bool:
        if not self.remote:
            return os.path.isfile(self.url)
        return self._info().type == _fs().FileType.File

    def is_dir(self) -> bool:
        """A local folder, or a prefix with something under it."""
        if not self.remote:
            return os.path.isdir(self.url)
        return self._info().type == _fs().FileType.Directory

    def modified(self) -> float:
        """When this file was last written (seconds since the epoch), as its store reports it."""
        if not self.remote:
            return os.path.getmtime(self.url)
        info = self._info()
        if info.type == _fs().FileType.NotFound:
            raise FileNotFoundError(self.url)
        return info.mtime.timestamp()

    def files(self) -> Iterator[str]:
        """The names of the files directly in this folder, one at a time."""
        yield from self._entries(want_dirs=False)

    def folders(self) -> Iterator[str]:
        """The names of the subfolders (prefixes) directly in this folder."""
        yield from self._entries(want_dirs=True)

    def _entries(self, want_dirs: bool) -> Iterator[str]:
        if not self.remote:
            if os.path.isdir(self.url):
                for entry in os.scandir(self.url):
                    # A link to a folder is a subfolder (a run made there is found through
                    # it), and, as a name in this folder, a file (removing it removes the link).
                    if entry.is_dir() if want_dirs else not entry.is_dir(follow_symlinks=False):
                        yield entry.name
            return
        wanted = _fs().FileType.Directory if want_dirs else _fs().FileType.File
        for info in self._listing():
            if info.type == wanted:
                yield info.base_name

    def _listing(self) -> list:
        """What is directly under this prefix: pyarrow's FileInfo of each file and prefix."""
        selector = _fs().FileSelector(self._key, allow_not_found=True, recursive=False)
        return self._remote(lambda fs: fs.get_file_info(selector))

    # --- reading ------------------------------------------------------------------------------

    def read_bytes(self) -> bytes:
        if not self.remote:
            with open(self.url, "rb") as f:
                return f.read()
        return self._remote(lambda fs: _read_all(fs, self._key), missing=FileNotFoundError)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open_input(self) -> BinaryIO:
        """A seekable binary file (a context manager) reading this file."""
        if not self.remote:
            return open(self.url, "rb")  # noqa: SIM115 (the caller closes it)
        return self._remote(lambda fs: fs.open_input_file(self._key), missing=FileNotFoundError)

    def arrow(self) -> dict:
        """Keyword arguments naming this file to pyarrow's readers (``pq.read_table(**loc.arrow())``)."""
        if not self.remote:
            return {"source": self.url}
        return {"source": self._key, "filesystem": self._filesystem()}

    # --- changing -----------------------------------------------------------------------------

    def upload(self, data: bytes | memoryview) -> None:
        """Write a remote file in one upload: the object appears whole or not at all."""
        self._remote(lambda fs: _write_all(fs, self._key, data), writing=True)

    def delete(self) -> None:
        """Remove this file if it is there."""
        if not self.remote:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.url)
            return
        self._remote(lambda fs: _delete(fs, self._key), writing=True)

    def move_to(self, target: "Location") -> None:
        """Move this file to ``target``: a rename locally, a copy then a delete on a store (a
        killed move leaves the source, which the next run moves again)."""
        if not self.remote:
            os.replace(self.url, target.url)
            return
        self._remote(lambda fs: fs.copy_file(self._key, target._key), writing=True)
        self.delete()

    def make(self) -> None:
        """Create this folder (and its parents), or say in one line why it cannot be. A prefix
        needs no creating."""
        if self.remote:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputError(f"{self}: a file is in the way of the output folder") from None
        except OSError as err:
            raise OutputError(f"{self}: cannot create the output folder ({err.strerror})") from None

    def remove_if_empty(self, ignored: frozenset[str] = frozenset()) -> None:
        """Remove this folder if it holds nothing but ``ignored`` files (removed with it). On a
        store, only the empty directory object pyarrow leaves when a prefix's last file is
        deleted goes: a prefix itself vanishes with its last object."""
        if self.remote:
            if self.is_dir() and not self._listing():
                self._remote(lambda fs: fs.delete_dir(self._key), writing=True)
            return
        if not os.path.isdir(self.url):
            return
        if set(os.listdir(self.url)) <= ignored:
            for name in ignored:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.url, name))
            with contextlib.suppress(OSError):  # a file arrived meanwhile: keep the folder
                os.rmdir(self.url)

    # --- the filesystem -----------------------------------------------------------------------

    @property
    def _key(self) -> str:
        return self.url.partition("://")[2]

    def _filesystem(self):
        from metacurate.readers.sources import filesystem

        return filesystem(self.url)[0]

    def _info(self):
        return self._remote(lambda fs: fs.get_file_info(self._key))

    def _remote(
        self, action: Callable, writing: bool = False, missing: type[Exception] | None = None
    ):
        """``action(filesystem)``; a failure is one line naming this location: an
        ``OutputError`` when writing, an ``InputError`` when reading (``missing``: raised as
        it is for a file that is not there, for callers that expect it)."""
        from metacurate.readers.sources import failure

        try:
            return action(self._filesystem())
        except FileNotFoundError:
            if missing is not None:
                raise missing(self.url) from None
            raise InputError(f"{self}: not found") from None
        except Exception as err:  # pyarrow's (the AWS SDK's) errors: say which, in one line
            error = OutputError if writing else InputError
            raise error(f"{self}: {failure(self.url, err)}") from None


def read_npy(where: Location) -> np.ndarray:
    """A NumPy file, read whole (into memory: a store's file cannot be memory-mapped)."""
    return np.load(io.BytesIO(where.read_bytes()))


def _fs():
    import pyarrow.fs as pafs

    return pafs


def _read_all(fs, key: str) -> bytes:
    with fs.open_input_stream(key) as stream:
        return stream.read()


def _write_all(fs, key: str, data: bytes | memoryview) -> None:
    with fs.open_output_stream(key) as stream:
        stream.write(data)


def _delete(fs, key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(key)
