"""Fixtures shared by the test files.

Plain helper functions shared by several test files (reading an input file through the readers,
joining an output folder's Parquet parts) are in tests/helpers.py: `from helpers import ...`.
"""

import hashlib
import json
import socket
import sys
import threading
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from metacurate.metadata import Metadata

# Tests import the plain reference implementation and tests/helpers.py from this folder.
sys.path.insert(0, str(Path(__file__).parent))

WARC_DIR = Path(__file__).parent / "data" / "warc"


@pytest.fixture
def warc_dir() -> Path:
    """The real web-archive samples in tests/data/warc (provenance: tests/data/README.md)."""
    return WARC_DIR


@pytest.fixture
def dog_cat_metadata() -> Metadata:
    """A two-entry metadata list ("dog", "cat") for tests that only need something to match."""
    return Metadata(["dog", "cat"], "test")


# --- servers on 127.0.0.1 for remote inputs (tests/test_remote_inputs.py) --------------------


@dataclass
class Bucket:
    """A bucket on the test's S3 API server; ``put`` uploads a file and gives its s3:// URL."""

    client: object
    name: str
    endpoint: str

    def put(self, local: Path, key: str) -> str:
        self.client.upload_file(str(local), self.name, key)
        return f"s3://{self.name}/{key}"

    def keys(self, prefix: str = "") -> list[str]:
        """Every object under ``prefix``, as its key."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def download(self, prefix: str, folder: Path) -> Path:
        """The files under ``prefix`` into ``folder``, as a local run would have written them
        (the empty directory objects some tools make are left out)."""
        for key in self.keys(prefix + "/"):
            if not key.endswith("/"):
                target = folder / key.removeprefix(prefix + "/")
                target.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.name, key, str(target))
        return folder


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A real S3 API server (moto's) on 127.0.0.1 for the whole session: its endpoint URL."""
    moto_server = pytest.importorskip("moto.server", reason="pip install 'metacurate[ray]'")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> Bucket:
    """A fresh bucket, with the standard AWS variables pointing at the test server (as a user
    points them at MinIO or another S3-compatible store)."""
    settings = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(client, name, s3_endpoint)


@pytest.fixture
def s3_auth(s3_bucket, tmp_path):
    """The S3 server checks signatures and permissions (moto does not unless told), with a
    user whose key may do everything. Yields (access key id, its secret, an object's URL)."""
    import boto3

    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a red dog"}\n')
    url = s3_bucket.put(path, "a.jsonl")

    iam = boto3.client("iam", endpoint_url=s3_bucket.endpoint)
    user = f"reader-{s3_bucket.name}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _moto_auth(s3_bucket.endpoint, b"0")  # from the next request on, every request is checked
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"], url
    finally:
        _moto_auth(s3_bucket.endpoint, b"inf")


def _moto_auth(endpoint: str, after_requests: bytes) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=after_requests, method="POST"
    )
    request.add_header("Content-Type", "text/plain")
    urllib.request.urlopen(request).close()


class RangeServer:
    """A folder served over HTTP/1.1 on 127.0.0.1 with byte ranges (``Range: bytes=a-b``), as
    CommonCrawl's HTTPS front end serves files (Python's SimpleHTTPRequestHandler has no
    ranges). ``fail(name, offset, times)`` makes the next ``times`` responses that reach byte
    ``offset`` of that file stop there and drop the connection."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (file, Range header) of each GET
        self.ranges = True  # False: ignore Range headers and send whole files, as many servers do
        self._faults: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, name: str, offset: int, times: float = 1) -> None:
        with self._lock:
            self._faults[name] = [offset, times]

    def cut(self, name: str, start: int, end: int) -> int | None:
        """Where a response of bytes [start, end) of ``name`` stops (None: it is whole)."""
        with self._lock:
            self.requests.append((name, f"{start}-{end - 1}"))
            fault = self._faults.get(name)
            if fault is None or fault[1] <= 0 or not start <= fault[0] < end:
                return None
            fault[1] -= 1
            return fault[0]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _RangeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms wait between

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def _serve(self, send_body: bool) -> None:
        owner: RangeServer = self.server.owner
        name = unquote(urlsplit(self.path).path).lstrip("/")
        path = owner.root / name
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, end = 0, len(data)
        wanted = self.headers.get("Range") if owner.ranges else None
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last) + 1 if last else len(data), len(data))
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Length", str(end - start))
        if owner.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()[:16]}"')
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        if not send_body:
            return
        cut = owner.cut(name, start, end)
        if cut is None:
            self.wfile.write(data[start:end])
            return
        self.wfile.write(data[start:cut])  # then the connection drops mid-response
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def http_server(tmp_path) -> RangeServer:
    """A range-capable HTTP server of the folder ``tmp_path / "www"``."""
    root = tmp_path / "www"
    root.mkdir()
    server = RangeServer(root)
    yield server
    server.stop()
