"""The blocklist feed for machines: ``GET /api/incidents/{iid}/blocklist``.

A firewall polls it every few seconds with ``Authorization: Bearer <token>``: the dashboard's
access token, or a read-only feed token of that incident (``wormsign incident feed-token
ID``), which opens this feed and nothing else. The answer carries a strong ``ETag``; a poll
with a matching ``If-None-Match`` gets ``304 Not Modified`` without a body, and the ETag is
found from a few aggregate queries (:func:`wormsign.incidents.exporters.blocklist_etag`)
without rendering the list. Rendering (:func:`~wormsign.incidents.exporters.render_blocklist`)
is read-only: no refresh, no audit record — ingests and exports keep the blocklist current.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from wormsign.incidents.exporters import FEED_FORMATS, blocklist_etag, render_blocklist
from wormsign.web.security import Unauthorized, access_of, bearer_of
from wormsign.web.state import state_of

MAX_ID = 2**62
MEDIA = {"csv": "text/csv; charset=utf-8"}

router = APIRouter(prefix="/api", tags=["feed"])


class FormatError(Exception):
    """An unknown feed format (400 in the API's error shape)."""


def feed_allowed(request: Request, incident_id: int) -> bool:
    """The dashboard's access (no token set, a session, its bearer token) or a live feed
    token of this incident."""
    if access_of(request).authenticated(request):
        return True
    token = bearer_of(request)
    return token is not None and state_of(request).store.check_feed_token(incident_id, token)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, ``*``, lists)."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in (t.removeprefix("W/") for t in tags)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    from wormsign.web.api import ErrorBody
    return {c: {"model": ErrorBody, "description": "error"} for c in codes}


@router.get(
    "/incidents/{iid}/blocklist", response_class=Response,
    summary="The active blocklist for a firewall to poll (ETag / If-None-Match)",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}},
                                 "text/csv": {"schema": {"type": "string"}}},
                     "description": "the blocklist in the chosen format"},
               304: {"description": "not modified since the ETag given in If-None-Match"},
               **_errors(400, 401, 404, 422)})
def blocklist(
    request: Request,
    iid: Annotated[int, Path(ge=1, le=MAX_ID, description="incident id")],
    format: Annotated[str, Query(max_length=16, description="one of " + ", ".join(FEED_FORMATS),
                                 json_schema_extra={"enum": list(FEED_FORMATS)})] = "plain",
    aggregate: Annotated[bool, Query(description="collapse addresses into CIDR blocks")] = False,
) -> Response:
    if not feed_allowed(request, iid):
        raise Unauthorized()
    if format not in FEED_FORMATS:
        raise FormatError(f"unknown feed format {format!r}; one of {', '.join(FEED_FORMATS)}")
    store = state_of(request).store
    etag = blocklist_etag(store, iid, format, aggregated=aggregate)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    feed = render_blocklist(store, iid, format, aggregated=aggregate)
    headers.update({"ETag": feed.etag, "X-Blocklist-Entries": str(feed.entries),
                    "X-Blocklist-Refused": str(feed.refused)})
    return Response(feed.text, media_type=MEDIA.get(format, "text/plain; charset=utf-8"),
                    headers=headers)


__all__ = ["FormatError", "etag_matches", "feed_allowed", "router"]
