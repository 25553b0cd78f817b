"""Follow log files and directories as ``tail -F`` does, without losing or doubling a line.

:class:`Follower` keeps one *stream* per generation of each followed file (see
:mod:`wormsign.watch.generation`) and hands out :class:`Chunk` s of complete lines; a partial
last line waits until its newline is written. On every :meth:`Follower.poll`:

- **growth**: the new complete lines of each stream are read (at most ``max_read`` bytes
  per stream and poll, so memory stays bounded whatever the writer does);
- **rotation by rename**: when the followed name points to another inode, the old generation
  keeps its open descriptor and is read to its end (a writer may still append to it until it
  reopens its log: the stream retires after ``drain_grace`` seconds without growth), and the
  new file is started at offset 0;
- **copy-truncate**: when the file shrank below the offset, or its head fingerprint changed,
  the rest of the old generation is read from the copy (a rotated sibling with the same
  head, plain or compressed) from the old offset, and the file is read again from 0;
- **directories**: files that appear are started at 0; rotated siblings (``x.log.1``,
  ``x.log.2.gz``) and files whose head fingerprint is that of a generation already read are
  not, so compressed rotations that appear later are not read twice.

:meth:`Follower.checkpoint` returns the offsets as plain JSON-able records; a follower built
with them resumes where they say, finding a generation that was rotated meanwhile among the
siblings by inode or head fingerprint.
"""

from __future__ import annotations

import math
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wormsign.errors import InputError
from wormsign.watch.generation import (
    EMPTY,
    HEAD_BYTES,
    Head,
    compression,
    content_head,
    is_compressed_name,
    looks_rotated,
    open_decompressed,
    read_head,
    siblings,
)

MAX_READ = 4 << 20
DRAIN_GRACE = 1.0
DONE_KEPT = 32  # finished generations remembered per followed name
CONTEXT_BYTES = 65536
RESCAN_EVERY = 0.25  # seconds between listings of watched directories


@dataclass(frozen=True)
class Chunk:
    """Complete lines of one generation: ``first_line`` is the number of its first line."""

    key: str
    path: str
    data: bytes
    first_line: int
    fresh: bool = False  # the first chunk of a generation (per-file parsing state starts anew)
    #: for a fresh chunk that does not start at line 1 (a resumed generation): the start of
    #: the file, so the format can be detected and its header state (IIS ``#Fields``) rebuilt
    head: bytes = b""


@dataclass(eq=False)
class Stream:
    """One generation of one followed file, read up to ``offset`` (``line`` lines)."""

    path: str
    fd: int | None
    dev: int
    ino: int
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    offset: int = 0
    line: int = 0
    head: Head = EMPTY
    draining: bool = False
    quiet_since: float | None = None
    overlong: bool = False  # inside a line longer than max_read: skip to its newline
    overlong_lines: int = 0
    fresh: bool = True

    def record(self) -> dict[str, Any]:
        return {"path": self.path, "dev": self.dev, "ino": self.ino, "offset": self.offset,
                "line": self.line, "head_len": self.head.length, "head": self.head.digest,
                "state": "draining" if self.draining else "live"}

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _open(path: str) -> tuple[int, os.stat_result] | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO never blocks
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def _complete_lines(fd: int, size: int) -> tuple[int, int]:
    """The offset after the last newline before ``size``, and the number of lines before it."""
    lines = 0
    end = 0
    pos = 0
    while pos < size:
        block = os.pread(fd, min(MAX_READ, size - pos), pos)
        if not block:
            break
        n = block.count(b"\n")
        if n:
            lines += n
            end = pos + block.rfind(b"\n") + 1
        pos += len(block)
    return end, lines


def _stat(path: str) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


class Follower:
    """Follows files and directories; see the module docstring."""

    def __init__(self, paths: Sequence[str], *,
                 resume: Mapping[str, Mapping[str, Any]] | None = None,
                 from_end: bool = False, drain_grace: float = DRAIN_GRACE,
                 max_read: int = MAX_READ, on_note: Callable[[str], None] | None = None) -> None:
        self.files: list[str] = []
        self.dirs: list[str] = []
        for p in paths:
            if p == "-":
                raise InputError("watch follows files; for standard input use `wormsign scan -`",
                                 "-")
            full = os.path.abspath(p)
            if os.path.exists(full) and not (os.path.isdir(full) or os.path.isfile(full)):
                raise InputError("not a regular file (a FIFO, device or socket): watch follows "
                                 "files and directories", full)
            if os.path.isdir(full):
                self.dirs.append(full)
            elif is_compressed_name(full) or (os.path.exists(full) and compression(full)):
                raise InputError("a compressed file does not grow: use `wormsign scan` or "
                                 "`wormsign incident ingest` for it", full)
            else:
                self.files.append(full)
        self.from_end = from_end
        self.drain_grace = drain_grace
        self.max_read = max_read
        self.note = on_note or (lambda _m: None)
        self.live: dict[str, Stream] = {}  # followed name -> current generation
        self.draining: list[Stream] = []
        self.done: dict[str, list[Head]] = {}  # followed name -> heads of finished generations
        self.truncations = 0
        self.rotations = 0
        self.busy = False  # the last poll stopped at max_read somewhere: poll again soon
        self._pending: list[Chunk] = []
        self._first = True
        self.rescan_every = RESCAN_EVERY
        self._listed: list[str] = []
        self._listed_at = -math.inf
        if resume:
            self._resume(resume)

    # -- the followed names ------------------------------------------------------------
    def names(self, now: float | None = None, rescan: bool | None = None) -> list[str]:
        """Every file currently followed: explicit files and eligible files in directories
        (listed again when ``rescan``; when None, at most every ``rescan_every`` seconds)."""
        now = time.monotonic() if now is None else now
        if rescan is None:
            rescan = now - self._listed_at >= self.rescan_every
        if self.dirs and not rescan:
            return self._listed
        out = list(self.files)
        for d in self.dirs:
            for root, dirs, files in os.walk(d):
                dirs[:] = sorted(x for x in dirs if not x.startswith("."))
                for f in sorted(files):
                    if not f.startswith(".") and not looks_rotated(f):
                        out.append(os.path.join(root, f))
        self._listed, self._listed_at = out, now
        return out

    def watch_dirs(self) -> list[str]:
        """Directories whose events should wake the loop."""
        return sorted({str(Path(f).parent) for f in self.files} | set(self.dirs))

    # -- polling -----------------------------------------------------------------------
    def poll(self, now: float | None = None, rescan: bool | None = True) -> list[Chunk]:
        """Read what is new everywhere; returns chunks of complete lines. ``rescan``: list
        watched directories again (None: only if not done for ``rescan_every`` seconds)."""
        now = time.monotonic() if now is None else now
        out, self._pending = self._pending, []
        self.busy = False
        for s in list(self.draining):
            out.extend(self._read(s))
            out.extend(self._maybe_retire(s, now))
        names = self.names(now, rescan)
        for gone in set(self.live) - set(names):  # deleted from a watched directory
            s = self.live.pop(gone)
            s.draining = True
            self.draining.append(s)
        for name in names:
            out.extend(self._poll_name(name))
        self._first = False
        return out

    def _poll_name(self, name: str) -> list[Chunk]:
        cur = self.live.get(name)
        st = _stat(name)
        out: list[Chunk] = []
        if cur is not None and (st is None or (st.st_dev, st.st_ino) != (cur.dev, cur.ino)):
            if st is None and cur.fd is not None and os.fstat(cur.fd).st_nlink > 0:
                # Renamed away and not replaced yet: keep reading it where it is.
                return self._read(cur)
            cur.draining = True
            cur.quiet_since = None
            self.draining.append(cur)
            del self.live[name]
            self.rotations += 1
            out.extend(self._read(cur))
            cur = None
        if cur is not None and st is not None and self._truncated(cur, st.st_size):
            self.truncations += 1
            out.extend(self._finish_from_copy(cur))
            self._remember(cur)
            new = Stream(name, cur.fd, cur.dev, cur.ino)
            cur.fd = None
            self.live[name] = cur = new
        if cur is None and st is not None:
            cur = self._start(name)
        if cur is not None:
            out.extend(self._read(cur))
        return out

    def _truncated(self, s: Stream, size: int) -> bool:
        if size < s.offset:
            return True
        assert s.fd is not None
        return s.head.length > 0 and not s.head.matches(read_head(s.fd, s.head.length))

    def _start(self, name: str) -> Stream | None:
        opened = _open(name)
        if opened is None:
            return None
        fd, st = opened
        s = Stream(name, fd, st.st_dev, st.st_ino)
        skip = self._first and self.from_end  # like tail -f: only what is written from now on
        if not skip and self._known(name, fd, st.st_size):
            self.note(f"{name}: already read (same content as a generation read before)")
            skip = True
        if skip:
            s.offset, s.line = _complete_lines(fd, st.st_size)
            s.head = Head.of(read_head(fd, min(HEAD_BYTES, s.offset)))
            s.fresh = False
        self.live[name] = s
        return s

    def _known(self, name: str, fd: int, size: int) -> bool:
        """Whether a file that appeared is a copy of a generation already read."""
        heads = [h for hs in self.done.values() for h in hs]
        heads += [x.head for x in (*self.live.values(), *self.draining) if x.path != name]
        data = read_head(fd, HEAD_BYTES)
        return any(h.length >= 64 and h.matches(data) for h in heads) and size > 0

    def _read(self, s: Stream) -> list[Chunk]:
        if s.fd is None:
            return []
        data = os.pread(s.fd, self.max_read, s.offset)
        if len(data) == self.max_read:
            self.busy = True
        if s.overlong:
            nl = data.find(b"\n")
            if nl < 0:
                s.offset += len(data)
                return []
            s.offset += nl + 1
            s.line += 1
            s.overlong = False
            data = data[nl + 1:]
        end = data.rfind(b"\n") + 1
        if end == 0:
            if len(data) == self.max_read:  # a line longer than max_read: skipped, counted
                s.overlong = True
                s.overlong_lines += 1
                s.offset += len(data)
                self.note(f"{s.path}:{s.line + 1}: line longer than {self.max_read} bytes "
                          "skipped")
            return []
        return [self._emit(s, data[:end])]

    def _emit(self, s: Stream, data: bytes, context: bytes | None = None) -> Chunk:
        """Hand out ``data`` (complete lines at ``s.offset``); ``context`` is the start of
        the generation when it is not the file behind ``s.fd`` (a rotated copy)."""
        head = b""
        if s.fresh and s.line > 0:
            head = context if context is not None else (
                os.pread(s.fd, min(CONTEXT_BYTES, s.offset), 0) if s.fd is not None else b"")
        c = Chunk(s.key, s.path, data, s.line + 1, s.fresh, head)
        s.fresh = False
        s.offset += len(data)
        s.line += data.count(b"\n")
        if (context is None and s.head.length < HEAD_BYTES and s.fd is not None
                and s.offset > s.head.length):
            s.head = Head.of(read_head(s.fd, min(HEAD_BYTES, s.offset)))
        s.quiet_since = None
        return c

    def _maybe_retire(self, s: Stream, now: float) -> list[Chunk]:
        """Retire a rotated generation once it stopped growing for ``drain_grace``."""
        if s.quiet_since is None:
            s.quiet_since = now
            return []
        if now - s.quiet_since < self.drain_grace or s.fd is None:
            return []
        out: list[Chunk] = []
        # A last line without its newline: the writer has moved on, it will not end.
        rest = b"" if s.overlong else os.pread(s.fd, self.max_read, s.offset)
        if rest:
            out.append(self._emit(s, rest + b"\n"))
            s.offset -= 1
        self.draining.remove(s)
        self._remember(s)
        s.close()
        return out

    def _remember(self, s: Stream) -> None:
        if s.head.length:
            heads = self.done.setdefault(s.path, [])
            heads.append(s.head)
            del heads[:-DONE_KEPT]

    # -- finishing a generation that moved ---------------------------------------------
    def _finish_from_copy(self, s: Stream) -> list[Chunk]:
        """After a truncation: the old generation's lines after ``s.offset`` from its copy."""
        if s.head.length == 0:
            return []
        for sib in siblings(s.path):
            head = content_head(sib, s.head.length)
            if head is not None and s.head.matches(head):
                return list(self._read_rest(s, sib))
        return []

    def _read_rest(self, s: Stream, path: str) -> Iterator[Chunk]:
        """Everything of ``path`` (plain or compressed) after ``s.offset``, as chunks."""
        kind = compression(path)
        carry = b""
        ctx = content_head(path, min(CONTEXT_BYTES, s.offset)) if s.fresh and s.line else b""
        try:
            if kind is None:
                with open(path, "rb") as f:
                    f.seek(s.offset)
                    while block := f.read(self.max_read):
                        carry += block
                        end = carry.rfind(b"\n") + 1
                        if end:
                            yield self._emit(s, carry[:end], ctx or b"")
                            carry = carry[end:]
            else:
                with open_decompressed(path, kind) as z:
                    skip = s.offset
                    while skip > 0:
                        got = z.read(min(skip, self.max_read))
                        if not got:
                            return
                        skip -= len(got)
                    while block := z.read(self.max_read):
                        carry += block
                        end = carry.rfind(b"\n") + 1
                        if end:
                            yield self._emit(s, carry[:end], ctx or b"")
                            carry = carry[end:]
        except (OSError, EOFError, ValueError) as exc:
            self.note(f"{path}: rotated copy unreadable ({exc}); lines after "
                      f"{s.path}:{s.line} may be missing")
        if carry:
            yield self._emit(s, carry + b"\n", ctx or b"")
            s.offset -= 1

    # -- checkpoints -------------------------------------------------------------------
    def checkpoint(self) -> dict[str, dict[str, Any]]:
        """The read offsets of every generation, as JSON-able records keyed by stream key."""
        out: dict[str, dict[str, Any]] = {}
        for s in (*self.live.values(), *self.draining):
            out[s.key] = s.record()
        for name, heads in self.done.items():
            for i, h in enumerate(heads):
                out[f"done:{h.digest}"] = {"path": name, "state": "done", "head_len": h.length,
                                           "head": h.digest, "seq": i}
        return out

    def _resume(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        wanted = set(self.files)
        by_name: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for key, r in records.items():
            name = str(r.get("path", ""))
            if name not in wanted and not any(name.startswith(d + os.sep) for d in self.dirs):
                continue
            if r.get("state") == "done":
                self.done.setdefault(name, []).append(Head(int(r["head_len"]), str(r["head"])))
                continue
            if r.get("state") not in ("live", "draining"):
                continue
            by_name.setdefault(name, []).append((key, r))
        self._first = False
        for name, recs in by_name.items():
            for key, r in recs:
                self._resume_one(name, key, r)

    def _resume_one(self, name: str, key: str, r: Mapping[str, Any]) -> None:
        head = Head(int(r["head_len"]), str(r["head"]))
        s = Stream(name, None, int(r["dev"]), int(r["ino"]), key=key, offset=int(r["offset"]),
                   line=int(r["line"]), head=head, fresh=True)
        live = r.get("state") == "live"
        st = _stat(name)
        if live and st is not None and (st.st_dev, st.st_ino) == (s.dev, s.ino):
            opened = _open(name)
            if opened is not None:
                s.fd = opened[0]
                if st.st_size >= s.offset and head.matches(read_head(s.fd, head.length)):
                    self.live[name] = s
                    return
                # Truncated while we were away: finish from the copy, start again at 0.
                self.truncations += 1
                self._pending.extend(self._finish_from_copy(s))
                self._remember(s)
                self.live[name] = Stream(name, s.fd, s.dev, s.ino)
                return
        # Rotated while we were away: the same inode under a sibling name, or a copy of it.
        for sib in siblings(name):
            sst = _stat(sib)
            if sst is not None and (sst.st_dev, sst.st_ino) == (s.dev, s.ino):
                opened = _open(sib)
                if opened is not None and head.matches(read_head(opened[0], head.length)):
                    s.fd, s.draining = opened[0], True
                    self.draining.append(s)
                    return
                if opened is not None:
                    os.close(opened[0])
        found = self._finish_from_copy(s)
        if found or s.head.length == 0:
            self._pending.extend(found)
            self._remember(s)
            return
        self._remember(s)
        self.note(f"{name}: the generation read up to line {s.line} is gone; its remaining "
                  "lines cannot be read")

    def close(self) -> None:
        for s in (*self.live.values(), *self.draining):
            s.close()
        self.live.clear()
        self.draining.clear()
