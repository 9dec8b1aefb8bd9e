"""Where billing files come from: local files and folders, `s3://bucket/prefix` (boto3), or a
provider's API (a scheme a connector registers, e.g. `aws-ce://`).

`expand` turns what the user typed into the list of files to read, each of which can be opened
as a binary stream; gzip is undone on the way. What an API answered is kept as a file too
(`fetched`): it is fingerprinted, read and reconciled like an export.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from finops.errors import UserError

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".gz", ".json", ".jsonl")
KINDS = ".csv, .csv.gz, .parquet, .json or .jsonl"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    location: str  # a path or an s3:// URI, for messages
    size: int
    version: str  # what changes when the content does: a content hash (local) or the ETag (S3)
    _open: Callable[[], IO[bytes]]
    modified: datetime | None = None  # when it arrived (or last changed): mtime or S3 LastModified
    format: str | None = None  # the connector that reads it, when known without looking (API answers)

    @property
    def is_parquet(self) -> bool:
        return self.location.lower().endswith(".parquet")

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The file's bytes, un-gzipped if it is gzip."""
        try:
            raw = self._open()
        except OSError as exc:
            raise UserError(f"cannot read {self.location}: {exc.strerror or exc}") from exc
        with raw:
            head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
            if head == b"\x1f\x8b" or self.location.lower().endswith(".gz"):
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    yield unzipped  # type: ignore[misc]
            else:
                yield raw

    @property
    def is_remote(self) -> bool:
        return self.location.startswith("s3://")

    @contextmanager
    def random_access(self) -> Iterator[SourceFile]:
        """This file, downloaded once to a temporary file when it is a remote Parquet file
        (whose reader seeks: its footer for the header, then its row groups)."""
        if not (self.is_remote and self.is_parquet):
            yield self
            return
        with tempfile.NamedTemporaryFile(suffix=".parquet") as copy:
            try:
                with self._open() as raw:
                    shutil.copyfileobj(raw, copy, _CHUNK)
            except OSError as exc:
                raise UserError(f"cannot read {self.location}: {exc.strerror or exc}") from exc
            copy.flush()
            path = Path(copy.name)
            yield replace(self, _open=lambda: path.open("rb"))

    @contextmanager
    def seekable(self) -> Iterator[IO[bytes]]:
        """A seekable copy (Parquet readers need one): the file itself when local."""
        with self.open() as stream:
            if stream.seekable():
                yield stream
                return
            with tempfile.TemporaryFile() as copy:
                shutil.copyfileobj(stream, copy, _CHUNK)
                copy.seek(0)
                yield copy


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _local(path: Path) -> SourceFile:
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    return SourceFile(str(path), stat.st_size, _sha256(path), lambda: path.open("rb"), modified)


def _wanted(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def _expand_local(text: str) -> list[SourceFile]:
    path = Path(text).expanduser()
    if path.is_file():
        return [_local(path)]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p.name))
        if not files:
            raise UserError(f"the folder {path} has no {KINDS} files")
        return [_local(p) for p in files]
    raise UserError(f"{text} does not exist; give a file, a folder or an s3://bucket/prefix URI")


def _s3_opener(s3: Any, bucket: str, key: str) -> Callable[[], IO[bytes]]:
    def open_object() -> IO[bytes]:
        body: IO[bytes] = s3.get_object(Bucket=bucket, Key=key)["Body"]
        return body

    return open_object


def _expand_s3(uri: str, client: Any | None) -> list[SourceFile]:
    import boto3  # imported here: only S3 sources need it

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    s3 = client or boto3.client("s3")
    files = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if _wanted(key):
                    files.append(
                        SourceFile(
                            f"s3://{bucket}/{key}",
                            int(obj["Size"]),
                            str(obj["ETag"]).strip('"'),
                            _s3_opener(s3, bucket, key),
                            obj.get("LastModified"),
                        )
                    )
    except Exception as exc:  # botocore's errors: no credentials, no bucket, no network
        raise UserError(f"cannot list {uri}: {exc}") from exc
    if not files:
        raise UserError(f"nothing to read under {uri} (no {KINDS} objects)")
    return sorted(files, key=lambda f: f.location)


@dataclass(frozen=True)
class Access:
    """How to reach the providers' APIs (`Settings.api_access`); unset means the SDK's default.
    Credentials are the SDKs' own (boto3's chain, azure-identity, Google's application default
    credentials), but for an explicit Azure bearer token."""

    azure_endpoint: str = "https://management.azure.com"
    azure_token: str | None = field(default=None, repr=False)
    bigquery_endpoint: str | None = None


Fetch = Callable[[str, Access], list[SourceFile]]
SCHEMES: dict[str, Fetch] = {}  # API location schemes (`aws-ce`, `azure`, `bigquery`) -> fetcher


def register_scheme(scheme: str, fetch: Fetch) -> None:
    """Let `expand` answer `scheme://...` locations by calling a provider's API."""
    SCHEMES[scheme] = fetch


def scheme_of(location: str) -> str | None:
    """The registered API scheme of `location`, or None for files, folders and S3."""
    scheme, separator, _ = location.partition("://")
    return scheme if separator and scheme in SCHEMES else None


def source_name(location: str) -> str:
    """The default name of a source: its location, but for an API without its options, so
    `aws-ce://?months=12` (a backfill) and `aws-ce://?months=2` replace each other's months
    instead of being counted twice."""
    return location.split("?", 1)[0].split("#", 1)[0] if scheme_of(location) else location


def expand(location: str, s3_client: Any | None = None, access: Access | None = None) -> list[SourceFile]:
    """The files behind one PATH_OR_URI argument, in a stable order."""
    scheme = scheme_of(location)
    if scheme:
        return SCHEMES[scheme](location, access or Access())
    if location.startswith("s3://"):
        return _expand_s3(location, s3_client)
    return _expand_local(location)


def fetched(location: str, fmt: str, chunks: Iterable[bytes]) -> SourceFile:
    """What an API answered, spooled to a temporary file (removed when the `SourceFile` is gone):
    read by connector `fmt`, versioned by its content, so the same answer twice is a no-op."""
    handle, name = tempfile.mkstemp(prefix="finops-fetched-")
    digest = hashlib.sha256()
    size = 0
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except BaseException:  # a failed or interrupted fetch leaves nothing behind
        path.unlink(missing_ok=True)
        raise
    file = SourceFile(location, size, digest.hexdigest(), lambda: path.open("rb"), datetime.now(UTC), fmt)
    weakref.finalize(file, path.unlink, missing_ok=True)
    return file


def arrived(files: Sequence[SourceFile]) -> datetime | None:
    """When the newest of `files` arrived."""
    return max((f.modified for f in files if f.modified is not None), default=None)


Stat = tuple[tuple[str, int, int, str], ...]  # (location, size, mtime in ns, ETag or "") of each file


def stat(location: str, s3_client: Any | None = None) -> Stat | None:
    """A cheap look at a file, folder or S3 prefix (a listing: no reading, no hashing): it changes
    when a file is added, removed or rewritten. None when it cannot be looked at (the load then
    says why), and for API locations, which only a query can answer."""
    if scheme_of(location):
        return None
    if location.startswith("s3://"):
        try:
            listed = _expand_s3(location, s3_client)
        except UserError:
            return None
        return tuple(
            (f.location, f.size, int(f.modified.timestamp() * 1e9) if f.modified else 0, f.version)
            for f in listed
        )
    path = Path(location).expanduser()
    try:
        paths = (
            [path]
            if path.is_file()
            else sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p.name))
        )
        return tuple((str(p), (st := p.stat()).st_size, st.st_mtime_ns, "") for p in paths)
    except OSError:
        return None


def fingerprint(files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.size}\0{file.version}\n".encode())
    return digest.hexdigest()
