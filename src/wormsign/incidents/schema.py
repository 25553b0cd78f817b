"""Table definitions of the incident store (SQLAlchemy Core).

The Alembic migrations in :mod:`wormsign.incidents.migrations` create exactly these tables;
a test compares the migrated schema with this metadata so they cannot drift apart.

Times are stored as integer seconds since the epoch (UTC): cheap to bucket in SQL on both
SQLite and PostgreSQL, and exact for log timestamps, which have one-second resolution.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: 64-bit integer primary keys that are rowid aliases on SQLite.
PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("closed_at", sa.BigInteger, nullable=True),
    # Bumped in the same transaction as every change of the incident's alerts, networks or
    # blocklist: a cheap ETag for the blocklist feed and a cache key for aggregates.
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
)

#: CIDRs of an incident: ``own`` networks are internal (like RFC 1918) and never blocked,
#: ``allow`` networks (partners) are never blocked.
networks = sa.Table(
    "networks",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("cidr", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.UniqueConstraint("incident_id", "cidr", "kind", name="uq_networks"),
)

#: One row per input file and ingest run; ``position`` is the number of input records
#: committed so far, updated in the same transaction as each batch of alerts.
jobs = sa.Table(
    "ingest_jobs",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("added", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("skipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    # Who runs the job and when it last committed: a ``running`` job whose process is gone
    # (same host, pid not alive) or silent for too long is marked ``interrupted``.
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("hostname", sa.String(255), nullable=True),
    sa.Column("heartbeat_at", sa.BigInteger, nullable=True),
    sa.Index("ix_jobs_incident_path", "incident_id", "path"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("akey", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=True),
    sa.Column("source_ip", sa.String(64), nullable=False),
    sa.Column("internal", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("rule_family", sa.String(64), nullable=False),
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("rule_name", sa.Text, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.String(32), nullable=True),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("user_agent", sa.Text, nullable=True),
    sa.Column("host", sa.Text, nullable=True),
    sa.Column("file_path", sa.Text, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("job_id", sa.BigInteger, nullable=True),
    # NULL: the primary record of its event; else the akey of the event's primary record
    # (the same request seen by another sensor; migration 0007, incidents/events.py).
    sa.Column("event_of", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("incident_id", "akey", name="uq_alerts_key"),
    # Covering indexes for the aggregates of `incident show`.
    sa.Index("ix_alerts_source", "incident_id", "source_ip", "family", "internal", "ts"),
    sa.Index("ix_alerts_time", "incident_id", "ts", "family"),
    sa.Index("ix_alerts_host", "incident_id", "host"),
    sa.Index("ix_alerts_event", "incident_id", "event_of"),
)

#: Assessment verdicts (``assess --json``); one row per host and vulnerability, the latest
#: assessment wins.
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("exposure", sa.String(32), nullable=True),
    sa.Column("vuln_id", sa.String(64), nullable=False),
    sa.Column("aliases", sa.Text, nullable=False, server_default="[]"),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("evidence", sa.Text, nullable=False, server_default="[]"),
    sa.Column("fix", sa.Text, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("incident_id", "host", "vuln_id", name="uq_findings"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("playbook", sa.String(64), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("phase", sa.String(32), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("owner", sa.String(128), nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("incident_id", "playbook", "key", name="uq_tasks"),
)

#: Task notes, one row each: appending is one INSERT, so concurrent writers lose nothing.
task_notes = sa.Table(
    "task_notes",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.BigInteger,
              sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_task_notes_task", "task_id", "id"),
)

#: The blocklist: one entry per address, with an expiry refreshed while the source is active.
blocklist = sa.Table(
    "blocklist",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=True),
    sa.Column("last_seen", sa.BigInteger, nullable=True),
    sa.Column("added_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("incident_id", "address", name="uq_blocklist"),
)

#: The audit trail shown as "actions taken" in reports.
actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    # Who did it: a user's name, ``token`` (the single shared token), ``local`` (the loopback
    # dashboard without a token) or ``cli:<login>``; NULL for rows older than revision 0008.
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Index("ix_actions_incident", "incident_id", "at"),
)

#: Rollups kept in step with ``alerts`` by every ingest batch (same transaction), so the
#: summary of a million-alert incident reads tens of thousands of rows, not a million.
#: Alerts per minute and family (timestamped alerts only).
alert_minutes = sa.Table(
    "alert_minutes",
    metadata,
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("minute", sa.BigInteger, nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("alerts", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("incident_id", "minute", "family", name="pk_alert_minutes"),
)

#: Alerts per source and family, with first/last time and the internal flag.
source_families = sa.Table(
    "source_families",
    metadata,
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("source_ip", sa.String(64), nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("internal", sa.SmallInteger, nullable=False),
    sa.Column("alerts", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=True),
    sa.Column("last_seen", sa.BigInteger, nullable=True),
    sa.PrimaryKeyConstraint("incident_id", "source_ip", "family", name="pk_source_families"),
)

#: Read positions of ``wormsign watch``, one per incident and watched file (``file_key``, the
#: watcher's identity of the file, e.g. ``device:inode``), saved in the same transaction as
#: the alerts read up to them. ``head`` fingerprints the file's first bytes, so a file
#: truncated (copy-truncate) or replaced under the same identity is noticed;
#: ``occurrences`` carries the evidence-identity counters of the stream (see ingest).
watch_offsets = sa.Table(
    "watch_offsets",
    metadata,
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("file_key", sa.String(255), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("device", sa.BigInteger, nullable=False),
    sa.Column("inode", sa.BigInteger, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("head", sa.String(128), nullable=False),
    sa.Column("occurrences", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("incident_id", "file_key", name="pk_watch_offsets"),
)

#: Read-only tokens of the blocklist feed; only a SHA-256 of each token is stored.
feed_tokens = sa.Table(
    "feed_tokens",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("token_sha256", name="uq_feed_tokens_hash"),
    sa.Index("ix_feed_tokens_incident", "incident_id"),
)

#: Forecasts of an incident's outbreak (``wormsign incident forecast``, ``watch --forecast``):
#: the ``wormsign forecast --json`` document as stored text, newest per family shown in
#: reports and on the dashboard.
forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Index("ix_forecasts_incident", "incident_id", "family", "id"),
)

#: Suppression rules of an incident (``wormsign triage suppress``, or ``origin = 'file'``:
#: read from a ``wormsign-ignore.yml``, replaced whenever the file is read again). Every
#: condition given must hold; ``expires_at`` NULL never expires.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(500), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("rule_id", sa.String(500), nullable=True),
    sa.Column("family", sa.String(500), nullable=True),
    sa.Column("path", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False, server_default=""),
    sa.UniqueConstraint("incident_id", "key", name="uq_suppressions_key"),
)

#: Triage marks: one row per mark, newest per target wins. ``target_kind`` is ``alert``
#: (``target``: the alert's evidence key, so the mark survives re-ingest), ``source`` (a
#: canonical address) or ``rule`` (a rule id).
triage_marks = sa.Table(
    "triage_marks",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("target_kind", sa.String(8), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(128), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Index("ix_triage_marks_target", "incident_id", "target_kind", "target", "id"),
)

#: Offline enrichment cache, per address (country, AS from user-given MaxMind-format
#: databases; reverse DNS when asked); ``db`` names the databases it came from.
enrichment = sa.Table(
    "enrichment",
    metadata,
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("country", sa.String(8), nullable=True),
    sa.Column("asn", sa.BigInteger, nullable=True),
    sa.Column("as_org", sa.Text, nullable=True),
    sa.Column("rdns", sa.Text, nullable=True),
    sa.Column("db", sa.String(255), nullable=False, server_default=""),
    sa.Column("looked_up_at", sa.BigInteger, nullable=False),
)

#: How an incident's exports may be shared: the TLP 2.0 level chosen for it (STIX markings,
#: MISP tags, TAXII objects); an incident without a row is TLP:AMBER.
sharing = sa.Table(
    "sharing",
    metadata,
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False, server_default=""),
)

#: People of the workspace (:mod:`wormsign.incidents.users`): a role (``viewer``, ``analyst``,
#: ``admin``), an argon2 hash of the password (NULL: token-only), and an ``epoch`` bumped
#: whenever their sessions must end (disabled, password changed, a token revoked).
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("disabled_at", sa.BigInteger, nullable=True),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("name", name="uq_users_name"),
)

#: Per-user API tokens; only a SHA-256 of each token is stored.
user_tokens = sa.Table(
    "user_tokens",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger,
              sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("token_sha256", name="uq_user_tokens_hash"),
    sa.Index("ix_user_tokens_user", "user_id"),
)

#: Changes of people (added, disabled, role, password, tokens), each with its actor: the
#: people side of the audit trail (incident actions are in ``actions``).
user_events = sa.Table(
    "user_events",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

#: Where notifications go (:mod:`wormsign.incidents.notify`): a webhook (http/https) or an
#: apprise URL, the events it wants (comma-separated), an optional HMAC key for webhooks.
notify_targets = sa.Table(
    "notify_targets",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.String(200), nullable=False),
    sa.Column("secret", sa.String(128), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("disabled_at", sa.BigInteger, nullable=True),
)

#: The notification queue: one row per target and event (``key`` names what happened, e.g.
#: the family), retried with backoff until ``delivered`` or ``failed``.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", PK, primary_key=True, autoincrement=True),
    sa.Column("target_id", sa.BigInteger,
              sa.ForeignKey("notify_targets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("incident_id", sa.BigInteger,
              sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("target_id", "incident_id", "event", "key", name="uq_notifications"),
    sa.Index("ix_notifications_due", "status", "next_attempt_at"),
)
