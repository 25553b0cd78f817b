"""Notifications: tell people when something new happens in an incident.

Three events, each notified once per target (the queue's unique key is target, incident,
event and ``key``):

* ``new-family``: a worm family first seen in an open incident (``key``: the family);
* ``inside-infected``: an internal source (RFC 1918 or the incident's own networks) seen
  attacking, i.e. a host of ours is infected (``key``: its address);
* ``task-due``: a playbook task still open or in progress when its phase's allowance since
  the incident opened has run out (:data:`DUE_AFTER`; ``key``: ``playbook/task``).

Targets (``notify_targets``) are webhooks (``http``/``https``: a JSON POST, signed with
``X-Wormsign-Signature: sha256=<HMAC>`` when the target has a secret) or, where the
``apprise`` package is installed (``pip install 'wormsign[notify]'``), any apprise URL
(``mailto://``, ``slack://``, ``matrix://``, ...). The queue (``notifications``) lives in the
store: :func:`enqueue` adds what is new, :func:`deliver` sends what is due and retries
failures with exponential backoff (:data:`BACKOFF_BASE` doubling up to :data:`BACKOFF_CAP`)
until :data:`MAX_ATTEMPTS`, then marks them ``failed`` (:func:`retry_failed` puts them back).
Several workers may deliver at once: each row is claimed by a conditional update first.
``wormsign notify run`` and ``wormsign serve`` drive it (:func:`run_once`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from wormsign import __version__
from wormsign.errors import InvalidError, MissingExtraError, NotFoundError
from wormsign.incidents import schema as t
from wormsign.incidents.query import iso
from wormsign.incidents.store import Store, now_s

EVENTS = ("new-family", "inside-infected", "task-due")
HOUR = 3600
#: How long after an incident opens a task of each phase is due (seconds).
DUE_AFTER: dict[str, int] = {"contain": 4 * HOUR, "eradicate": 24 * HOUR, "patch": 72 * HOUR,
                             "verify": 72 * HOUR, "monitor": 7 * 24 * HOUR,
                             "lessons": 14 * 24 * HOUR}
#: A phase not listed above.
DEFAULT_DUE = 72 * HOUR
BACKOFF_BASE = 30
BACKOFF_CAP = HOUR
MAX_ATTEMPTS = 8
TIMEOUT = 10.0
SCHEMA = "wormsign.notification/1"

#: Sends one notification: (target, payload) -> None, raising :class:`DeliveryError`.
Sender = Callable[["Target", dict[str, Any]], None]


class DeliveryError(Exception):
    """A notification could not be delivered this time (it will be retried)."""


@dataclass(frozen=True)
class Target:
    """Where notifications go: a webhook or an apprise URL, and the events it wants."""

    id: int
    url: str
    events: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)
    created_at: int = 0
    disabled_at: int | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def webhook(self) -> bool:
        return urlsplit(self.url).scheme in ("http", "https")

    @property
    def shown_url(self) -> str:
        """The URL without what may be secret (credentials, path, query): chat webhooks
        carry their key in the path."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}/…" if parts.path.strip("/") or parts.query \
            else f"{parts.scheme}://{host}{port}/"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.shown_url, "events": list(self.events),
                "created_at": self.created_at, "active": self.active,
                "signed": bool(self.secret)}


@dataclass(frozen=True)
class Event:
    """Something that happened in an incident, worth one notification per target."""

    incident_id: int
    event: str
    key: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class DeliveryResult:
    """What one :func:`deliver` pass did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retried": self.retried, "failed": self.failed}


def apprise_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("apprise") is not None


@contextmanager
def _apprise() -> Iterator[Any]:
    """The apprise module, for the block's calls: it loads its plugins lazily and they warn
    of deprecated stdlib modules (not ours to fix), so those warnings are silenced."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        yield apprise


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidError(f"a webhook URL needs a host: {url!r}")
        return
    if not parts.scheme:
        raise InvalidError(f"not a URL: {url!r} (a webhook is http(s)://...)")
    if not apprise_available():
        raise MissingExtraError(f"{parts.scheme}:// notifications need apprise "
                                "(pip install 'wormsign[notify]'); webhooks (http/https) "
                                "work without it")
    with _apprise() as apprise:
        understood = apprise.Apprise().add(url)
    if not understood:
        raise InvalidError(f"apprise does not understand the URL scheme {parts.scheme}://")


def add_target(store: Store, url: str, events: Iterable[str] = EVENTS,
               secret: str | None = None) -> Target:
    """Add a notification target (webhook or apprise URL) for ``events``."""
    url = url.strip()
    wanted = tuple(dict.fromkeys(events))
    bad = [e for e in wanted if e not in EVENTS]
    if bad or not wanted:
        raise InvalidError(f"events must be among {', '.join(EVENTS)}, not "
                           f"{', '.join(bad) or 'none'}")
    if len(url) > 2000:
        raise InvalidError("a notification URL is at most 2000 characters")
    _check_url(url)
    if secret is not None and not 16 <= len(secret) <= 128:
        raise InvalidError("a webhook secret needs 16 to 128 characters")
    n = t.notify_targets
    with store.begin() as conn:
        tid = int(conn.execute(n.insert().values(
            url=url, events=",".join(wanted), secret=secret, created_at=now_s())
            .returning(n.c.id)).scalar_one())
    return get_target(store, tid)


def _target(row: Any) -> Target:
    return Target(int(row.id), str(row.url), tuple(e for e in str(row.events).split(",") if e),
                  row.secret, int(row.created_at), row.disabled_at)


def get_target(store: Store, target_id: int) -> Target:
    n = t.notify_targets
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(n).where(n.c.id == target_id)).first()
    if row is None:
        raise NotFoundError(f"no notification target #{target_id}")
    return _target(row)


def list_targets(store: Store, *, active_only: bool = False) -> list[Target]:
    """The notification targets, oldest first."""
    n = t.notify_targets
    q = sa.select(n).order_by(n.c.id)
    if active_only:
        q = q.where(n.c.disabled_at.is_(None))
    with store.engine.connect() as conn:
        return [_target(r) for r in conn.execute(q)]


def remove_target(store: Store, target_id: int) -> Target:
    """Stop notifying a target (its queue is kept, nothing more is sent)."""
    get_target(store, target_id)
    n = t.notify_targets
    with store.begin() as conn:
        conn.execute(n.update().where(n.c.id == target_id, n.c.disabled_at.is_(None))
                     .values(disabled_at=now_s()))
    return get_target(store, target_id)


def due_after(phase: str) -> int:
    """Seconds after the incident opened when a task of ``phase`` is due."""
    return DUE_AFTER.get(phase, DEFAULT_DUE)


def detect_events(store: Store, incident_id: int, now: int | None = None) -> list[Event]:
    """Every event the incident has now (new ones are those not yet queued)."""
    now = now_s() if now is None else now
    inc = store.get_incident(incident_id)
    sf, k = t.source_families, t.tasks
    out: list[Event] = []
    with store.engine.connect() as conn:
        fams = conn.execute(sa.select(sf.c.family, sa.func.count(), sa.func.sum(sf.c.alerts),
                                      sa.func.min(sf.c.first_seen))
                            .where(sf.c.incident_id == incident_id)
                            .group_by(sf.c.family).order_by(sf.c.family)).all()
        inside = conn.execute(sa.select(sf.c.source_ip, sf.c.family, sf.c.alerts,
                                        sf.c.first_seen)
                              .where(sf.c.incident_id == incident_id, sf.c.internal == 1)
                              .order_by(sf.c.source_ip, sf.c.family)).all()
        tasks = conn.execute(sa.select(k.c.playbook, k.c.key, k.c.phase, k.c.title,
                                       k.c.status, k.c.owner)
                             .where(k.c.incident_id == incident_id,
                                    k.c.status.in_(("open", "in-progress")))
                             .order_by(k.c.playbook, k.c.seq)).all()
    for fam, sources, alerts, first in fams:
        out.append(Event(incident_id, "new-family", str(fam),
                         {"family": fam, "sources": int(sources), "alerts": int(alerts or 0),
                          "first_seen": iso(first)}))
    hosts: dict[str, dict[str, Any]] = {}
    for ip, fam, alerts, first in inside:
        h = hosts.setdefault(str(ip), {"host": str(ip), "families": [], "alerts": 0,
                                       "first_seen": first})
        h["families"].append(fam)
        h["alerts"] += int(alerts)
        if first is not None and (h["first_seen"] is None or first < h["first_seen"]):
            h["first_seen"] = first
    for ip, h in hosts.items():
        out.append(Event(incident_id, "inside-infected", ip,
                         {**h, "first_seen": iso(h["first_seen"])}))
    for pb, key, phase, title, status, owner in tasks:
        due = inc.created_at + due_after(str(phase))
        if due <= now:
            out.append(Event(incident_id, "task-due", f"{pb}/{key}",
                             {"playbook": pb, "task": key, "phase": phase, "title": title,
                              "status": status, "owner": owner, "due_at": iso(due)}))
    return out


def _text(event: Event, name: str) -> str:
    d = event.detail
    where = f"incident {event.incident_id} ({name})"
    if event.event == "new-family":
        return f"New worm family {d['family']} in {where}: {d['sources']} source(s)"
    if event.event == "inside-infected":
        return (f"Internal host {d['host']} is attacking others in {where}: "
                f"{', '.join(d['families'])}")
    return f"Task due in {where}: {d['title']} ({d['playbook']}/{d['task']}, {d['status']})"


def payload_of(event: Event, name: str, now: int) -> dict[str, Any]:
    """The JSON document a webhook receives (``schema`` names its version)."""
    return {"schema": SCHEMA, "event": event.event, "key": event.key,
            "incident": {"id": event.incident_id, "name": name},
            "detail": event.detail, "text": _text(event, name), "created_at": iso(now)}


def enqueue(store: Store, now: int | None = None,
            incident_ids: Iterable[int] | None = None) -> int:
    """Queue a notification for every event of the open incidents (or ``incident_ids``)
    that an active target wants and has not had yet; returns how many were queued."""
    now = now_s() if now is None else now
    targets = list_targets(store, active_only=True)
    if not targets:
        return 0
    if incident_ids is None:
        incidents = [(x.id, x.name) for x in store.list_incidents(include_closed=False)]
    else:
        incidents = [(i, store.get_incident(i).name) for i in incident_ids]
    added = 0
    for iid, name in incidents:
        rows = [{"target_id": tg.id, "incident_id": iid, "event": ev.event,
                 "key": ev.key[:255], "payload": json.dumps(payload_of(ev, name, now)),
                 "status": "pending", "attempts": 0, "next_attempt_at": now,
                 "created_at": now}
                for ev in detect_events(store, iid, now) for tg in targets
                if ev.event in tg.events]
        if rows:
            with store.begin() as conn:
                added += store.insert_ignore(conn, t.notifications, rows)
    return added


def backoff(attempts: int) -> int:
    """Seconds to wait after ``attempts`` failed tries."""
    return int(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0)))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def send_webhook(target: Target, payload: dict[str, Any]) -> None:
    """POST ``payload`` as JSON; any answer but 2xx (redirects included) is a failure."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"wormsign/{__version__}",
               "X-Wormsign-Event": str(payload["event"])}
    if target.secret:
        mac = hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Wormsign-Signature"] = f"sha256={mac}"
    if not target.webhook:
        raise DeliveryError("a webhook is http:// or https://")
    req = urllib.request.Request(target.url, data=body, headers=headers,  # noqa: S310
                                 method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=TIMEOUT) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach the webhook: {reason}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


def send_apprise(target: Target, payload: dict[str, Any]) -> None:
    """Send through apprise (mail, chat, ...): the event's one-line text."""
    inc = payload["incident"]
    title = f"wormsign: {payload['event']} in incident {inc['id']}"
    with _apprise() as apprise:
        ap = apprise.Apprise()
        if not ap.add(target.url):
            raise DeliveryError("apprise does not understand the URL")
        sent = ap.notify(body=str(payload["text"]), title=title)
    if not sent:
        raise DeliveryError("apprise could not deliver")


def send(target: Target, payload: dict[str, Any]) -> None:
    """The default sender: webhook or apprise, by the URL's scheme."""
    if target.webhook:
        send_webhook(target, payload)
    elif apprise_available():
        send_apprise(target, payload)
    else:
        raise DeliveryError("apprise is not installed (pip install 'wormsign[notify]')")


def _claim(store: Store, now: int, limit: int) -> list[Any]:
    """Due rows this worker now owns: each is leased by moving its next attempt ahead."""
    q = t.notifications
    lease = now + int(TIMEOUT * 3)
    with store.engine.connect() as conn:
        due = conn.execute(sa.select(q.c.id, q.c.target_id, q.c.payload, q.c.attempts,
                                     q.c.next_attempt_at)
                           .where(q.c.status == "pending", q.c.next_attempt_at <= now)
                           .order_by(q.c.next_attempt_at, q.c.id).limit(limit)).all()
    mine = []
    for row in due:
        with store.begin() as conn:
            got = conn.execute(q.update().where(
                q.c.id == row.id, q.c.status == "pending",
                q.c.next_attempt_at == row.next_attempt_at).values(next_attempt_at=lease))
            if got.rowcount == 1:
                mine.append(row)
    return mine


def deliver(store: Store, now: int | None = None, sender: Sender | None = None,
            limit: int = 100) -> DeliveryResult:
    """Send the notifications that are due; failures wait :func:`backoff` and are retried
    until :data:`MAX_ATTEMPTS`, then marked ``failed``."""
    now = now_s() if now is None else now
    sender = sender or send
    targets = {x.id: x for x in list_targets(store)}
    q = t.notifications
    done = retried = failed = 0
    for row in _claim(store, now, limit):
        target = targets[int(row.target_id)]
        attempts = int(row.attempts) + 1
        values: dict[str, Any] = {"attempts": attempts}
        try:
            if not target.active:
                raise DeliveryError("the target was removed")
            sender(target, json.loads(row.payload))
            values.update(status="delivered", delivered_at=now_s(), last_error=None)
            done += 1
        except Exception as exc:  # a sender's bug must not stop the queue
            reason = str(exc) if isinstance(exc, DeliveryError) else type(exc).__name__
            values["last_error"] = reason[:500]
            if attempts >= MAX_ATTEMPTS or not target.active:
                values["status"] = "failed"
                failed += 1
            else:
                values["next_attempt_at"] = now + backoff(attempts)
                retried += 1
        with store.begin() as conn:
            conn.execute(q.update().where(q.c.id == row.id).values(**values))
    return DeliveryResult(done, retried, failed)


def run_once(store: Store, now: int | None = None, sender: Sender | None = None,
             ) -> tuple[int, DeliveryResult]:
    """Queue what is new, then deliver what is due: (queued, what delivery did)."""
    queued = enqueue(store, now)
    return queued, deliver(store, now, sender)


def queue_counts(store: Store) -> dict[str, int]:
    """Notifications by status (``pending``, ``delivered``, ``failed``)."""
    q = t.notifications
    out = {"pending": 0, "delivered": 0, "failed": 0}
    with store.engine.connect() as conn:
        for status, n in conn.execute(sa.select(q.c.status, sa.func.count())
                                      .group_by(q.c.status)):
            out[str(status)] = int(n)
    return out


def list_queue(store: Store, status: str | None = None, limit: int = 100,
               ) -> list[dict[str, Any]]:
    """The newest queued notifications (of one status), without their payloads."""
    q = t.notifications
    sel = sa.select(q.c.id, q.c.target_id, q.c.incident_id, q.c.event, q.c.key, q.c.status,
                    q.c.attempts, q.c.next_attempt_at, q.c.last_error, q.c.created_at,
                    q.c.delivered_at).order_by(q.c.id.desc()).limit(limit)
    if status is not None:
        sel = sel.where(q.c.status == status)
    with store.engine.connect() as conn:
        return [{**r._mapping, "next_attempt_at": iso(r.next_attempt_at),
                 "created_at": iso(r.created_at), "delivered_at": iso(r.delivered_at)}
                for r in conn.execute(sel)]


def retry_failed(store: Store, now: int | None = None) -> int:
    """Put every failed notification back in the queue (attempts start again)."""
    now = now_s() if now is None else now
    q = t.notifications
    with store.begin() as conn:
        return int(conn.execute(q.update().where(q.c.status == "failed").values(
            status="pending", attempts=0, next_attempt_at=now)).rowcount)


class Notifier:
    """A daemon thread running :func:`run_once` every ``interval`` seconds (the dashboard
    server runs one; ``wormsign notify run`` is the same loop in the foreground)."""

    def __init__(self, store: Store, interval: float = 30.0,
                 sender: Sender | None = None) -> None:
        import threading

        self.store = store
        self.interval = interval
        self.sender = sender
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wormsign-notify",
                                        daemon=True)

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        from wormsign.errors import WormsignError

        while not self._stop.is_set():
            try:
                run_once(self.store, sender=self.sender)
            except (WormsignError, sa.exc.SQLAlchemyError):
                self.errors += 1  # the store is busy or gone: try again next time
            if self._stop.wait(self.interval):
                break
