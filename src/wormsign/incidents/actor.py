"""Who is acting: the actor every audit-trail entry records.

The dashboard sets it per request (the logged-in user, ``token`` in single-token mode,
``local`` on a loopback dashboard without a token) and the CLI per command (the user of
``$WORMSIGN_USER_TOKEN``, else ``cli:<login>``); :meth:`Store.log_action
<wormsign.incidents.store.Store.log_action>` reads it. A context variable, so concurrent
requests never see each other's actor; a thread started for a request (an upload job) carries
it when started in a copy of the request's context (:func:`contextvars.copy_context`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ACTOR: ContextVar[str | None] = ContextVar("wormsign_actor", default=None)
#: Longest actor name stored (the column's size).
MAX_ACTOR = 128


def current_actor() -> str | None:
    """The actor of the running request or command, None when nobody said."""
    return _ACTOR.get()


def set_actor(actor: str | None) -> None:
    """Set the actor for the rest of the current context (a request, a command)."""
    _ACTOR.set(actor[:MAX_ACTOR] if actor else None)


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Run a block as ``actor`` (restored afterwards)."""
    token = _ACTOR.set(actor[:MAX_ACTOR] if actor else None)
    try:
        yield
    finally:
        _ACTOR.reset(token)
