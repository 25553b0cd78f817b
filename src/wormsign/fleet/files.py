"""Reading the small files an assessment (or a simulation) names, safely.

Inventories, configuration exports, presets and density files are named by people or by
other files (an inventory's ``config`` column is attacker-influenced), so reading one must
not hang or eat memory and must not wander the file system:

- :func:`read_limited` reads only regular files (a FIFO, ``/dev/zero`` or a socket is
  refused without blocking: the file is opened non-blocking and checked with ``fstat``),
  and at most ``limit`` bytes (a larger file is refused, never read whole);
- :func:`confine` resolves a path named inside a file against that file's folder (or a
  root given with ``--config-root``) and refuses anything that ends up outside it
  (``../../etc/passwd``, absolute paths, symbolic links out), without saying whether the
  file exists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wormsign.errors import ConfigError

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Largest configuration export read (an IIS 6 MetaBase.xml of a big farm is a few MB)."""
MAX_INVENTORY_BYTES = 32 * 1024 * 1024
"""Largest inventory (or probe results file) read: a 100,000-host CSV is about 10 MB."""
MAX_SMALL_BYTES = 4 * 1024 * 1024
"""Largest preset, density or knowledge-base file read."""


class OutsideRoot(ConfigError):
    """A path named inside a file points outside the folder it may use."""


def read_limited(path: str | Path, limit: int, what: str = "file",
                 allow_pipe: bool = False) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises :class:`ConfigError` (naming the file) for a file that cannot be opened, that is
    not a regular file (with ``allow_pipe``, a pipe named on the command line such as
    ``<(cat inventory.csv)`` is read too), or that is larger than ``limit``.
    """
    name = str(path)
    if allow_pipe:
        try:
            allow_pipe = stat.S_ISFIFO(os.stat(name).st_mode)
        except OSError:
            allow_pipe = False
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if not allow_pipe:
        flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=name) from None
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or (allow_pipe and stat.S_ISFIFO(st.st_mode))):
            raise ConfigError(f"cannot read {what}: not a regular file", path=name)
        if st.st_size > limit:
            raise ConfigError(f"cannot read {what}: larger than {limit:,} bytes", path=name)
        chunks: list[bytes] = []
        size = 0
        while True:
            block = os.read(fd, min(1 << 20, limit + 1 - size))
            if not block:
                break
            chunks.append(block)
            size += len(block)
            if size > limit:
                raise ConfigError(f"cannot read {what}: larger than {limit:,} bytes", path=name)
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=name) from None
    finally:
        os.close(fd)


def confine(name: str, root: Path) -> Path:
    """``name`` (relative to ``root``, or absolute) resolved, if it stays inside ``root``.

    Raises :class:`OutsideRoot` otherwise; the message is the same whether or not the file
    exists, so an inventory cannot be used to learn what is on the machine.
    """
    if "\x00" in name:
        raise OutsideRoot(f"path {name!r} is not allowed", path=name)
    base = root.resolve()
    target = (base / name).resolve()
    if target != base and base not in target.parents:
        raise OutsideRoot(f"outside the allowed folder {str(base)!r} (use --config-root to "
                          "allow another folder)", path=name)
    return target
