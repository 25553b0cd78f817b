"""Connecting to a Dask cluster, shared by ``scan --scheduler`` and ``simulate --scheduler``.

Both commands take the same scheduler address and fail the same way: a malformed address, a
missing ``dask`` extra or an unreachable scheduler is a one-line :class:`ConfigError`, never a
traceback from inside ``distributed``.
"""

from __future__ import annotations

import re
from typing import Any

from wormsign.errors import ConfigError

SCHEDULER_RE = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)"
                          r":([0-9]{1,5})$")


def check_scheduler_address(address: str) -> None:
    """A Dask scheduler address is ``[tcp|tls|ucx|ws|wss://]HOST:PORT``; else a ConfigError
    (so a typo is a one-line error, not a failure deep inside ``distributed``)."""
    if re.fullmatch(r"inproc://[\w.:/-]+", address):
        return
    m = SCHEDULER_RE.match(address)
    if m is None or not 1 <= int(m.group(1)) <= 65535:
        raise ConfigError(f"bad Dask scheduler address {address!r}: use HOST:PORT or "
                          "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786 (without --scheduler "
                          "the work runs in local processes)")


def dask_client(address: str, timeout: float = 10.0) -> Any:
    """A connected ``distributed.Client`` for ``address`` (checked first)."""
    check_scheduler_address(address)
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError("--scheduler needs the dask extra: pip install 'wormsign[dask]'") \
            from exc
    try:
        return getattr(distributed, "Client")(address, timeout=timeout)  # noqa: B009
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


__all__ = ["SCHEDULER_RE", "check_scheduler_address", "dask_client"]
