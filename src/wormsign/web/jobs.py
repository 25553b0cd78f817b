"""Background scanning of uploaded files, with progress kept in memory.

An upload is saved under the server's upload folder, then a worker thread:

0. *unpacks* it when it is compressed (gzip, bzip2, xz, also nested), streaming to disk and
   counting the decompressed bytes: past the upload limit it stops with a one-line error (a
   decompression bomb never grows past the limit, on disk or in memory);
1. *scans* it when it is a raw log (:func:`wormsign.detect.scanner.scan_paths`), reporting
   progress by bytes read, and writes the alerts as ``scan --alerts`` JSON Lines;
2. *stores* the alerts (or an uploaded alerts / ``assess --json`` file as it is) into the
   chosen incident with :func:`wormsign.incidents.ingest_paths`, reporting progress by records,
   and refreshes the incident's blocklist when alerts were added (so the blocklist feed
   serves them).

Alerts keep the uploaded file's name and the first 12 hex digits of its SHA-256 as their file
path, so uploading the same file twice adds nothing (the store's natural keys are per file
path and line). Lines that cannot be read are counted as ``skipped``; a file that breaks off
(a truncated archive) keeps what was read before the break, with the reason in ``warnings``.
Job records live as long as the server (the newest ``keep`` are kept).
"""

from __future__ import annotations

import bz2
import contextvars
import dataclasses
import hashlib
import json
import lzma
import re
import shutil
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from wormsign.errors import InputError, WormsignError
from wormsign.incidents import Store, detect_kind, ingest_paths

#: Share of the progress bar given to scanning a raw log (the rest is storing its alerts).
SCAN_SHARE = 0.8
COPY_CHUNK = 1 << 20
#: Memory an xz stream may ask for (its dictionary): a tiny file can ask for gigabytes.
XZ_MEMORY = 256 * 1024 * 1024
#: Compressed formats an upload may come in (those the log readers open), by magic bytes.
COMPRESSED: dict[bytes, Callable[[], Any]] = {
    b"\x1f\x8b": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    b"BZh": bz2.BZ2Decompressor,
    b"\xfd7zXZ\x00": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=XZ_MEMORY),
}
#: How many layers of compression an upload may have (``log.gz.xz``).
MAX_LAYERS = 3


def safe_name(name: str | None) -> str:
    """A file name without directories or odd characters (never empty)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    return base[:100] or "upload.log"


@dataclasses.dataclass
class UploadJob:
    """The state of one upload, updated by its worker thread."""

    id: str
    incident_id: int
    filename: str
    size: int
    phase: str = "queued"          # queued, scanning, storing, done, failed
    kind: str | None = None        # log, alerts, assess
    bytes_done: int = 0
    records_done: int = 0
    records_total: int = 0
    alerts: int = 0
    added: int = 0
    duplicates: int = 0
    skipped: int = 0
    families: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    unpacked: int | None = None    # decompressed size of a compressed upload
    started_at: float = dataclasses.field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def percent(self) -> float:
        if self.phase == "done":
            return 100.0
        total = self.size if self.unpacked is None else self.unpacked
        scan = self.bytes_done / total if total else 1.0
        store = self.records_done / self.records_total if self.records_total else 0.0
        if self.kind == "log":
            share = SCAN_SHARE * min(scan, 1.0)
            if self.phase == "storing":
                share = SCAN_SHARE + (1 - SCAN_SHARE) * min(store, 1.0)
            return round(100.0 * share, 1)
        return round(100.0 * min(store, 1.0), 1) if self.phase == "storing" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "incident_id": self.incident_id, "filename": self.filename,
                "size": self.size, "phase": self.phase, "kind": self.kind,
                "percent": self.percent, "bytes_done": self.bytes_done,
                "records_done": self.records_done, "records_total": self.records_total,
                "alerts": self.alerts, "added": self.added, "duplicates": self.duplicates,
                "skipped": self.skipped, "families": list(self.families),
                "error": self.error, "warnings": list(self.warnings),
                "unpacked": self.unpacked, "finished": self.phase in ("done", "failed")}


class JobManager:
    """Runs uploads in worker threads (one per upload) and keeps their records."""

    def __init__(self, store: Store, upload_dir: Path, keep: int = 200,
                 on_done: Callable[[UploadJob], None] | None = None,
                 max_bytes: int | None = None) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.upload_dir = upload_dir
        self.keep = keep
        self.on_done = on_done
        self._jobs: OrderedDict[str, UploadJob] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def get(self, job_id: str) -> UploadJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def save(self, stream: IO[bytes], filename: str | None) -> tuple[Path, str, int]:
        """Copy an upload into the upload folder; returns (path, SHA-256 hex, size)."""
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.upload_dir / f".part-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "wb") as out:
            while chunk := stream.read(COPY_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        folder = self.upload_dir / uuid.uuid4().hex
        folder.mkdir()
        path = folder / safe_name(filename)
        tmp.replace(path)
        return path, sha, size

    def submit(self, incident_id: int, path: Path, sha: str, filename: str) -> UploadJob:
        """Start scanning/ingesting a saved upload; returns its job record at once."""
        job = UploadJob(id=uuid.uuid4().hex, incident_id=incident_id,
                        filename=safe_name(filename), size=path.stat().st_size)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
            self._threads = [t for t in self._threads if t.is_alive()]
            # In a copy of the caller's context: the job's audit entries keep its actor.
            ctx = contextvars.copy_context()
            thread = threading.Thread(target=ctx.run, args=(self._run, job, path, sha),
                                      name=f"upload-{job.id[:8]}", daemon=True)
            self._threads.append(thread)
        thread.start()
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Wait for running jobs (used at shutdown and by tests)."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)

    def _run(self, job: UploadJob, path: Path, sha: str) -> None:
        try:
            self._process(job, path, sha)
            job.phase = "done"
        except WormsignError as exc:
            job.error = str(exc)
            job.phase = "failed"
        except Exception as exc:
            job.error = f"internal error: {type(exc).__name__}"
            job.phase = "failed"
        finally:
            job.finished_at = time.time()
            shutil.rmtree(path.parent, ignore_errors=True)
            if self.on_done is not None:
                self.on_done(job)

    def _process(self, job: UploadJob, path: Path, sha: str) -> None:
        self.store.require_open(job.incident_id)
        if compression(path) is not None:
            job.phase = "unpacking"
            path = unpack(path, job.filename, self.max_bytes, job.warnings)
            job.unpacked = path.stat().st_size
        job.kind = detect_kind(path)
        target = path
        if job.kind == "log":
            target = self._scan(job, path, sha)
            if job.alerts == 0:
                self.store.record_action(job.incident_id, "ingest",
                                         f"{job.filename} (log): no worm activity found")
                return

        def progress(_path: str, records: int, added: int) -> None:
            job.records_done = records
            job.added = added

        job.phase = "storing"
        result = ingest_paths(self.store, job.incident_id, [target], progress=progress)
        job.records_done = job.records_total = max(job.records_total, job.records_done)
        job.added = result.added
        job.duplicates = result.duplicates
        job.skipped += sum(f.skipped for f in result.files)
        job.families = list(result.families)
        for f in result.files:
            if f.error:
                job.warnings.append(f"{job.filename}: {f.error}")
        if result.added:
            # New evidence: bring the blocklist (and so the blocklist feed) up to date.
            from wormsign.incidents.blocklist import refresh
            refresh(self.store, job.incident_id)

    def _scan(self, job: UploadJob, path: Path, sha: str) -> Path:
        from wormsign.detect.scanner import scan_paths

        def on_bytes(n: int) -> None:
            job.bytes_done += n

        job.phase = "scanning"
        report = scan_paths([str(path)], on_bytes=on_bytes)
        for st in report.files:
            job.skipped += st.skipped
            if st.error and st.lines == 0 and not report.alerts:
                raise InputError(st.error, path=job.filename)
            if st.error:
                # Broke off part way (a truncated archive, ...): keep what was read.
                job.warnings.append(f"{job.filename}: stopped after line {st.lines}: "
                                    f"{st.error}")
        job.bytes_done = job.size
        # Named by content, not by file name: the same bytes uploaded again under another
        # name are the same evidence and add nothing (the job keeps the name it came with).
        shown = f"upload:sha256:{sha[:16]}"
        out = path.with_name(path.name + ".alerts.jsonl")
        with open(out, "w", encoding="utf-8") as fh:
            for a in report.alerts:
                fh.write(json.dumps(dataclasses.replace(a, file_path=shown).to_ecs()))
                fh.write("\n")
        job.alerts = job.records_total = len(report.alerts)
        return out


def compression(path: Path) -> bytes | None:
    """The magic bytes of ``path``'s compression (a key of :data:`COMPRESSED`), or None."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    return next((m for m in COMPRESSED if head.startswith(m)), None)


def inflate(fh: IO[bytes], magic: bytes, step: int = COPY_CHUNK) -> Iterator[bytes]:
    """The decompressed bytes of ``fh`` in pieces of at most ``step`` bytes, over any number
    of concatenated members (as ``gzip -c a b``, ``pbzip2``, ``xz`` write them).

    Never holds more than one piece of output: the decompressors are asked for at most
    ``step`` bytes at a time. Raises :class:`EOFError` where the data is cut short (after
    yielding everything before the cut) and the decompressor's error for corrupt data.
    """
    d = COMPRESSED[magic]()
    gz = magic == b"\x1f\x8b"
    data = b""
    ended = False
    while True:
        if gz or d.needs_input:
            if not data and not ended:
                data = fh.read(step)
                ended = not data
            if ended and not data:
                if gz and (tail := d.flush()):
                    yield tail
                if not d.eof:
                    raise EOFError("compressed data ended before its end-of-stream marker")
                return
            out = d.decompress(data, step)
            data = d.unconsumed_tail if gz else b""
        else:
            out = d.decompress(b"", step)
        if out:
            yield out
        if d.eof:
            data = d.unused_data + data
            if not data and not ended:
                data = fh.read(step)
                ended = not data
            if not data.startswith(magic):
                return  # the end, or trailing padding (as gzip -d ignores it)
            d = COMPRESSED[magic]()


def unpack(path: Path, name: str, limit: int | None,
           warnings: list[str] | None = None) -> Path:
    """Decompress ``path`` (every layer) next to it, streaming; returns the plain file.

    Raises :class:`InputError` naming the upload when a layer inflates past ``limit`` bytes,
    the layers nest deeper than :data:`MAX_LAYERS`, or the data is corrupt before anything
    was decoded. A truncated archive keeps what it held up to the break (the readers do the
    same). Each layer replaces the previous one, so the disk holds at most ``limit`` bytes.
    """
    for layer in range(MAX_LAYERS + 1):
        magic = compression(path)
        if magic is None:
            return path
        if layer == MAX_LAYERS:
            raise InputError(f"more than {MAX_LAYERS} layers of compression", path=name)
        out = path.with_name(f"{path.name}.{layer}.unpacked")
        size = 0
        try:
            with open(path, "rb") as src, open(out, "wb") as dst:
                for piece in inflate(src, magic):
                    size += len(piece)
                    if limit is not None and size > limit:
                        raise InputError(
                            f"decompressed size passes the upload limit of {limit:,} bytes "
                            "(a decompression bomb?); upload it in smaller parts", path=name)
                    dst.write(piece)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            # Corrupt or cut short: keep what was decoded, if anything.
            if size == 0:
                out.unlink(missing_ok=True)
                raise InputError(f"cannot decompress: {exc}", path=name) from None
            if warnings is not None:
                warnings.append(f"{name}: compressed data cut short after {size:,} bytes "
                                f"({exc}); what it held is scanned")
        except InputError:
            out.unlink(missing_ok=True)
            raise
        path.unlink(missing_ok=True)
        path = out
    return path


__all__ = ["COMPRESSED", "JobManager", "UploadJob", "compression", "inflate", "safe_name",
           "unpack"]
