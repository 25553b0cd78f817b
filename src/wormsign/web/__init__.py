"""The web dashboard (``wormsign serve``): FastAPI over the incident store.

Modules: :mod:`.app` (``create_app(Settings)``: middleware, error shape, static files,
``/openapi.json`` and ``/docs``), :mod:`.security` (token rules, revocable server-side
sessions, CSRF, body limit, security headers), :mod:`.api` (JSON under ``/api/``),
:mod:`.fastread` (the API's answers cached per one-query data version, keyset alert pages),
:mod:`.feed` (the blocklist feed for firewalls, ETag / If-None-Match), :mod:`.taxii`
(read-only TAXII 2.1, one collection per incident), :mod:`.pages`
(server-rendered Jinja2 pages; their charts are the report's, inline SVG from
:mod:`wormsign.incidents.charts`), :mod:`.jobs` (uploads unpacked within the size limit and
scanned in background threads with progress). Templates and static files ship as package data under
``templates/`` and ``static/``. Queries the pages need beyond the store's own API live in
:mod:`wormsign.incidents.dashboard`.
"""

from __future__ import annotations

from wormsign.web.app import Settings, create_app

__all__ = ["Settings", "create_app"]
