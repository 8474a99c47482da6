"""Where inputs come from: local files, object stores (``s3://``, ``gs://``) and HTTP(S) URLs.

Every reader opens its input with ``open_input`` and never by path, so a format reads the same
bytes whether they sit on this disk, in a bucket or behind CommonCrawl's HTTPS front end.
Object stores go through ``pyarrow.fs`` and HTTP through fsspec (``pyarrow.fs`` has no HTTP
filesystem): the libraries made for it, configured the standard way (the ``AWS_*`` variables,
``AWS_ENDPOINT_URL`` for S3-compatible stores, Google's default credentials for ``gs://``).

A remote file is read through a buffer of ``REMOTE_BUFFER_BYTES`` (one request per buffer, not
per small read) and survives a dropped connection: a read that fails is retried on a fresh
handle from the same offset, and only when the retries are spent does it raise
``RemoteReadError``, which readers count as a rejected input (``input_read_failed``).
"""

import contextlib
import errno
import functools
import io
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from metacurate.errors import InputError, RemoteReadError

REMOTE_SCHEMES = ("s3://", "gs://", "http://", "https://")
# A failed remote read is tried again this many times, after these pauses (seconds).
READ_RETRIES = 3
RETRY_BACKOFF_S = (0.2, 0.5, 1.0)
# One request fetches this much of a remote file: a WARC reader asks for a few KiB at a time,
# and one request per small read would cost a round trip each.
REMOTE_BUFFER_BYTES = 8 << 20
# aiohttp's default is 5 minutes for a whole request; a stalled server should fail (and be
# retried) sooner, a slow but steady download never.
HTTP_CONNECT_TIMEOUT_S = 30
HTTP_READ_TIMEOUT_S = 60
GCS_RETRY_S = 10
# How fsspec says that an HTTP server ignored a byte range.
NO_RANGES = "support range requests"
# What a filesystem object is configured from: a new setting gets a new filesystem.
SETTINGS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
# Words in pyarrow's (AWS SDK's, Google's) error messages that retrying cannot mend.
DENIED = (
    "ACCESS_DENIED",
    "AccessDenied",
    "SIGNATURE_DOES_NOT_MATCH",
    "SignatureDoesNotMatch",
    "INVALID_ACCESS_KEY_ID",
    "InvalidAccessKeyId",
    "UNRECOGNIZED_CLIENT",
    "EXPIRED_TOKEN",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
)
NO_BUCKET = ("NO_SUCH_BUCKET", "NoSuchBucket")
MISSING = ("NO_SUCH_KEY", "NoSuchKey")


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL this module reads over the network."""
    return str(path).lower().startswith(REMOTE_SCHEMES)


def is_http(path: str) -> bool:
    return str(path).lower().startswith(("http://", "https://"))


def file_name(path: str) -> str:
    """The last component of a path or URL (a URL's query left out), which names its format."""
    if is_remote(path):
        return urlsplit(path).path.rstrip("/").rpartition("/")[2]
    return Path(path).name


def resolved_path(path: str) -> str:
    """How a run records an input: a local file by its real path (the same file however it
    is spelled), a URL as it is."""
    return path if is_remote(path) else os.path.realpath(path)


# --- reading ---------------------------------------------------------------------------------


def open_input(path: str) -> BinaryIO:
    """A seekable binary file object (a context manager) reading ``path``: a local file as
    the builtin ``open`` gives it (its errors unchanged, so readers keep their messages), a
    remote one buffered and retried. A remote file that cannot be opened is an ``InputError``
    (not found, access denied) or, once the retries are spent, a ``RemoteReadError``."""
    if not is_remote(path):
        return open(path, "rb")  # noqa: SIM115 (the caller closes it)
    handle, size = _retrying(path, 0, lambda: _open_handle(path))
    return io.BufferedReader(_RemoteFile(path, size, handle), REMOTE_BUFFER_BYTES)


def input_size(path: str) -> int:
    """The input's size in bytes (what the progress bar counts for unsplit files)."""
    return _remote_info(path)["bytes"] if is_remote(path) else os.path.getsize(path)


def input_identity(path: str) -> dict:
    """What a run's manifest records of an input, so that a changed input is noticed: a local
    file's real path, size and mtime (the record of runs made before URLs were read, so their
    folders still resume), a URL with its size and the version the store gives (ETag, else
    modification time)."""
    if not is_remote(path):
        stat = os.stat(path)
        return {"path": os.path.realpath(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    info = _remote_info(path)
    return {"path": path, **{k: v for k, v in info.items() if k != "kind"}}


def require_file(url: str) -> None:
    """Raise an ``InputError`` unless ``url`` is a file that can be read. Looked up afresh:
    the size and version a run records are those seen when it was planned."""
    info = _remote_info(url, fresh=True)
    if info["kind"] == "directory":
        raise InputError(f"{url}: is a folder (a prefix), not a file; give its files")
    if info["bytes"] is None:
        raise InputError(f"{url}: the server does not give the file's size, which reading needs")


class _RemoteFile(io.RawIOBase):
    """A remote file as a seekable raw stream that outlives a dropped connection: a read that
    fails is tried again on a fresh handle from the same offset, and raises
    ``RemoteReadError`` (naming the URL and offset) once the retries are spent."""

    def __init__(self, url: str, size: int, handle) -> None:
        super().__init__()
        self.name = url
        self._url, self._size, self._handle = url, size, handle
        self._pos = 0  # where the next read starts
        self._at = 0  # where the handle is
        # A server without byte ranges is read as one stream from the start: forward seeks
        # skip, backward ones (and a retry) start it again.
        self._streaming = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence ({whence})")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        data = _retrying(self._url, self._pos, lambda: self._read(want), reading=True)
        memoryview(buffer).cast("B")[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read(self, n: int) -> bytes:
        try:
            if self._streaming and self._pos < self._at:
                self._drop()
            if self._handle is None:
                self._handle, _ = _open_handle(self._url, self._streaming)
                self._at = 0
            if self._at != self._pos:
                self._move_to(self._pos)
            data = self._handle.read(n)
        except ValueError as err:
            self._drop()
            if self._streaming or NO_RANGES not in str(err):
                raise
            self._streaming = True
            return self._read(n)
        except BaseException:
            self._drop()
            raise
        if not data:  # the file is shorter than it said, or the server stopped sending
            self._drop()
            raise ConnectionError(f"no data at offset {self._pos} of {self._size}")
        self._at += len(data)
        return data

    def _move_to(self, offset: int) -> None:
        if not self._streaming:
            self._handle.seek(offset)
        while self._streaming and self._at < offset:
            skipped = self._handle.read(min(offset - self._at, REMOTE_BUFFER_BYTES))
            if not skipped:
                raise ConnectionError(f"no data at offset {self._at} of {self._size}")
            self._at += len(skipped)
        self._at = offset

    def _drop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()

    def close(self) -> None:
        self._drop()
        super().close()


def _retrying(url: str, offset: int, action, reading: bool = False):
    """``action()``, tried again after a transient failure (a reset or dropped connection, a
    timeout, a server error) with backoff. A failure retrying cannot mend (not found, access
    denied) is an ``InputError`` on opening; when reading, and when the retries are spent,
    a ``RemoteReadError`` at ``offset``."""
    for attempt in range(READ_RETRIES + 1):
        if attempt:
            time.sleep(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S)) - 1])
        try:
            return action()
        except InputError:
            raise
        except Exception as raised:  # a library's error: tell which kind it is
            err = _cause(raised)
            problem = _problem(url, err)
            if problem is not None:
                if reading:
                    raise RemoteReadError(url, offset, problem) from None
                raise InputError(f"{url}: {problem}") from None
            if not _transient(err):
                raise RemoteReadError(url, offset, one_line(err)) from None
            last = err
    detail = f"{one_line(last)}; tried {READ_RETRIES + 1} times"
    raise RemoteReadError(url, offset, detail) from None


def _cause(err: BaseException) -> BaseException:
    """The failure behind fsspec's FileNotFoundError: its ``info`` says "not found" for a
    refused connection or a 403 too, with the real error as the cause."""
    while isinstance(err, FileNotFoundError) and err.__cause__ is not None:
        err = err.__cause__
    return err


def _problem(url: str, err: BaseException) -> str | None:
    """What is wrong when retrying cannot mend it (the file is missing, access is denied), as
    words for a one-line message; None for a failure worth retrying."""
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, PermissionError):
        return _denied(url)
    status = getattr(err, "status", None)  # aiohttp.ClientResponseError: an HTTP status
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
        if status in (401, 403):
            return _denied(url) + f" (HTTP {status})"
        if status in (404, 410):
            return "file not found"
        return f"HTTP {status} {getattr(err, 'message', '')}".rstrip()
    text = str(err)
    if any(word in text for word in DENIED):
        return _denied(url)
    if any(word in text for word in NO_BUCKET):
        return "bucket not found"
    if any(word in text for word in MISSING):
        return "file not found"
    return None


def failure(url: str, err: BaseException) -> str:
    """Words for a one-line message on a failed remote operation (reading or writing)."""
    err = _cause(err)
    return _problem(url, err) or one_line(err)


def _denied(url: str) -> str:
    scheme = url.partition("://")[0].lower()
    if scheme == "s3":
        how = "check credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        return f"access denied ({how}; and AWS_ENDPOINT_URL for an S3-compatible store)"
    if scheme == "gs":
        return "access denied (check credentials: GOOGLE_APPLICATION_CREDENTIALS)"
    return "access denied"


def _transient(err: BaseException) -> bool:
    """Connection and I/O failures (OSError covers timeouts and refused or reset
    connections; aiohttp's own errors cover a server that stops mid-response)."""
    if isinstance(err, OSError):
        return True
    if type(err).__module__.startswith("aiohttp"):
        import aiohttp

        return isinstance(err, aiohttp.ClientError)
    return False


def one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return text[:300]


# --- the filesystems -------------------------------------------------------------------------

_INFO: dict[str, dict] = {}


def _remote_info(url: str, fresh: bool = False) -> dict:
    """kind ("file", "directory"), bytes and version of a remote file, looked up once per
    process unless ``fresh`` (planning, the progress bar and the manifest share it)."""
    if fresh or url not in _INFO:
        _INFO[url] = _retrying(url, 0, lambda: _fetch_info(url))
    return _INFO[url]


def _fetch_info(url: str) -> dict:
    fs, where = filesystem(url)
    if _is_arrow(fs):
        import pyarrow.fs as pafs

        found = fs.get_file_info(where)
        if found.type == pafs.FileType.NotFound:
            raise FileNotFoundError(url)
        kind = "directory" if found.type == pafs.FileType.Directory else "file"
        version = {"mtime_ns": found.mtime_ns} if found.mtime_ns is not None else {}
        return {"kind": kind, "bytes": found.size, **version}
    found = fs.info(where)
    if found.get("ETag"):
        version = {"etag": found["ETag"]}
    elif found.get("Last-Modified"):
        version = {"last_modified": found["Last-Modified"]}
    else:
        version = {}
    return {"kind": "file", "bytes": found.get("size"), **version}


def _open_handle(url: str, streaming: bool = False):
    """(a fresh handle on the remote file, its size); ``streaming``: read from the start with
    no byte ranges, for a server that has none."""
    fs, where = filesystem(url)
    if _is_arrow(fs):
        handle = fs.open_input_file(where)
        return handle, handle.size()
    if url not in _INFO:  # a worker's first look at it
        _INFO[url] = _fetch_info(url)
    size = _INFO[url]["bytes"]
    if size is None:
        raise InputError(f"{url}: the server does not give the file's size, which reading needs")
    if streaming:
        return fs.open(where, "rb", block_size=0), size
    handle = fs.open(where, "rb", block_size=REMOTE_BUFFER_BYTES, cache_type="none", size=size)
    return handle, size


def _is_arrow(fs) -> bool:
    return type(fs).__module__.startswith("pyarrow")


def filesystem(url: str):
    """(filesystem, the path it knows the file by) for a URL."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    settings = tuple((name, os.environ.get(name)) for name in SETTINGS)
    if scheme in ("http", "https"):
        return _http_filesystem(os.getpid()), url
    bucket = rest.partition("/")[0]
    return _arrow_filesystem(scheme, bucket, settings, os.getpid()), rest


@functools.cache
def _arrow_filesystem(scheme: str, bucket: str, settings: tuple, pid: int):
    """One pyarrow filesystem per store, bucket (S3 looks up its region), configuration and
    process: never one made before a fork, nor pickled into a worker's state (workers hold
    only paths)."""
    import pyarrow.fs as pafs

    env = dict(settings)
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if scheme == "gs":  # Google's client retries for 15 minutes by default; we retry too
        return pafs.GcsFileSystem(retry_time_limit=timedelta(seconds=GCS_RETRY_S))
    if scheme != "s3":
        return pafs.FileSystem.from_uri(f"{scheme}://{bucket}")[0]
    # Delayed open: a file smaller than one upload part (markers, summaries, most parts of a
    # test) is written with one PutObject, not a three-request multipart upload.
    if endpoint:
        # pyarrow 26 reads AWS_ENDPOINT_URL itself, older ones may not; given here, it also
        # spares the region lookup an S3-compatible store may not answer.
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        return pafs.S3FileSystem(endpoint_override=endpoint, region=region, allow_delayed_open=True)
    region = pafs.resolve_s3_region(bucket)
    return pafs.S3FileSystem(region=region, allow_delayed_open=True)


@functools.cache
def _http_filesystem(pid: int):
    """fsspec's HTTP filesystem (aiohttp), one per process (its event loop does not survive a
    fork); proxies from the environment as curl takes them."""
    import aiohttp
    from fsspec.implementations.http import HTTPFileSystem

    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=HTTP_CONNECT_TIMEOUT_S, sock_read=HTTP_READ_TIMEOUT_S
    )
    return HTTPFileSystem(
        client_kwargs={"timeout": timeout, "trust_env": True}, skip_instance_cache=True
    )
