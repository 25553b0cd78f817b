"""A read-only TAXII 2.1 server: one collection per incident, served by ``wormsign serve``.

Discovery is ``GET /taxii2/``, the one API root ``/taxii2/api/``; each incident is a
collection (``can_read`` true, ``can_write`` false) whose id is a UUIDv5 of the incident
number, and whose objects are the incident's STIX 2.1 bundle (with its TLP 2.0 marking and
without suppressed sources: :mod:`wormsign.incidents.stix`), rendered read-only (no
blocklist refresh, no audit record). Objects pages follow TAXII 2.1: ``limit`` and ``next``
(an offset) with ``more``, ``added_after``, ``match[id]``, ``match[type]``; the manifest
lists id, version and date added. Every answer is ``application/taxii+json;version=2.1``.
Access is the dashboard's (session or ``Authorization: Bearer``); there is nothing to POST
(405).

An object's ``date_added`` is the time the current bundle was first rendered (the store
keeps no history of each object): the rendering is kept while nothing it shows changes (the
incident's data version, the blocklist feed's ETag, which covers expiries and suppression,
and the TLP), so ``added_after`` polls see the bundle again only after a change.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from wormsign.errors import NotFoundError
from wormsign.incidents.exporters import blocklist_etag, context
from wormsign.incidents.stix import stream_bundle
from wormsign.web.security import is_authenticated
from wormsign.web.state import state_of

MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
NAMESPACE = uuid.UUID("3f0b6a52-8f0e-5a53-9d2a-6e0c1d7b4a10")
#: Most objects in one page (a client may ask for fewer with ``limit``).
MAX_PAGE = 1000

router = APIRouter(prefix="/taxii2", tags=["taxii"], include_in_schema=False)


def collection_id(incident_id: int) -> str:
    """The TAXII collection id of an incident."""
    return str(uuid.uuid5(NAMESPACE, f"incident/{incident_id}"))


def _taxii(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), status_code=status,
                    media_type=MEDIA, headers=headers)


def _error(status: int, title: str, headers: dict[str, str] | None = None) -> Response:
    return _taxii({"title": title, "http_status": str(status)}, status, headers)


def _denied(request: Request) -> Response | None:
    """A TAXII 401 (not the dashboard's login redirect) without the dashboard's access."""
    if is_authenticated(request):
        return None
    return _error(401, "authentication required: send 'Authorization: Bearer <token>'",
                  {"WWW-Authenticate": "Bearer"})


def _collection(iid: int, name: str, tlp: str) -> dict[str, Any]:
    return {"id": collection_id(iid), "title": f"wormsign incident {iid}: {name}",
            "description": f"Evidence and active blocklist of incident {iid} (TLP:"
                           f"{tlp.upper()})",
            "can_read": True, "can_write": False, "media_types": [STIX_MEDIA]}


def _incidents(request: Request) -> Iterator[tuple[int, str, str]]:
    from wormsign.incidents.tlp import get_tlp
    store = state_of(request).store
    for inc in store.list_incidents(include_closed=True):
        yield inc.id, inc.name, get_tlp(store, inc.id)


def _find(request: Request, cid: str) -> int | None:
    for iid, _name, _tlp in _incidents(request):
        if collection_id(iid) == cid:
            return iid
    return None


@router.get("/")
def discovery(request: Request) -> Response:
    if (no := _denied(request)) is not None:
        return no
    root = str(request.url_for("api_root"))
    return _taxii({"title": "wormsign", "description": "Incident evidence as STIX 2.1",
                   "default": root, "api_roots": [root]})


@router.get("/api/", name="api_root")
def api_root(request: Request) -> Response:
    if (no := _denied(request)) is not None:
        return no
    return _taxii({"title": "wormsign incidents", "versions": [MEDIA],
                   "max_content_length": 0})


@router.get("/api/collections/")
def collections(request: Request) -> Response:
    if (no := _denied(request)) is not None:
        return no
    return _taxii({"collections": [_collection(*x) for x in _incidents(request)]})


@router.get("/api/collections/{cid}/")
def collection(request: Request, cid: str) -> Response:
    if (no := _denied(request)) is not None:
        return no
    for x in _incidents(request):
        if collection_id(x[0]) == cid:
            return _taxii(_collection(*x))
    return _error(404, f"no collection {cid}")


#: Rendered collections by what they are made of; one rendering keeps its time (its objects'
#: ``modified`` and ``date_added``) for as long as nothing it shows has changed, so a client
#: paging through a collection, or fetching an object it listed, sees the same versions.
_RENDERED: OrderedDict[tuple[Any, ...], tuple[list[dict[str, Any]], str]] = OrderedDict()
_RENDERED_SIZE = 16


def _objects(request: Request, iid: int) -> tuple[list[dict[str, Any]], str]:
    from wormsign.incidents.tlp import get_tlp
    store = state_of(request).store
    key = (store.url, iid, store.incident_version(iid), blocklist_etag(store, iid),
           get_tlp(store, iid))
    hit = _RENDERED.get(key)
    if hit is not None:
        _RENDERED.move_to_end(key)
        return hit
    now = int(time.time())
    ctx = context(store, iid, now=now)
    bundle = json.loads("".join(stream_bundle(ctx)))
    added = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    _RENDERED[key] = (list(bundle["objects"]), added)
    while len(_RENDERED) > _RENDERED_SIZE:
        _RENDERED.popitem(last=False)
    return _RENDERED[key]


def _select(request: Request, cid: str, limit: int | None, next_: str | None,
            added_after: str | None) -> tuple[list[dict[str, Any]], str, bool, int] | Response:
    iid = _find(request, cid)
    if iid is None:
        return _error(404, f"no collection {cid}")
    try:
        objs, added = _objects(request, iid)
    except NotFoundError:
        return _error(404, f"no collection {cid}")
    q = request.query_params
    ids = {v for k, v in q.multi_items() if k == "match[id]" for v in v.split(",")}
    types = {v for k, v in q.multi_items() if k == "match[type]" for v in v.split(",")}
    if ids:
        objs = [o for o in objs if o["id"] in ids]
    if types:
        objs = [o for o in objs if o["type"] in types]
    if added_after is not None and added_after >= added:
        objs = []
    start = int(next_) if next_ and next_.isdigit() else 0
    size = min(limit or MAX_PAGE, MAX_PAGE)
    page = objs[start:start + size]
    return page, added, start + size < len(objs), start + size


def _page_headers(page: list[dict[str, Any]], added: str) -> dict[str, str]:
    return {"X-TAXII-Date-Added-First": added, "X-TAXII-Date-Added-Last": added} if page else {}


Limit = Annotated[int | None, Query(ge=1)]


def _paged(request: Request, cid: str, query: tuple[int | None, str | None, str | None],
           shape: Callable[[list[dict[str, Any]], str], list[dict[str, Any]]]) -> Response:
    """One page of a collection's objects, ``shape``d (the objects, or the manifest),
    from the ``(limit, next, added_after)`` query."""
    if (no := _denied(request)) is not None:
        return no
    got = _select(request, cid, *query)
    if isinstance(got, Response):
        return got
    page, added, more, nxt = got
    doc: dict[str, Any] = {"more": more, "objects": shape(page, added)}
    if more:
        doc["next"] = str(nxt)
    return _taxii(doc, headers=_page_headers(page, added))


@router.get("/api/collections/{cid}/objects/")
def objects(request: Request, cid: str, limit: Limit = None,
            next: Annotated[str | None, Query(max_length=20)] = None,
            added_after: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return _paged(request, cid, (limit, next, added_after), lambda page, _added: page)


@router.get("/api/collections/{cid}/objects/{object_id}/")
def get_object(request: Request, cid: str, object_id: str) -> Response:
    if (no := _denied(request)) is not None:
        return no
    iid = _find(request, cid)
    if iid is None:
        return _error(404, f"no collection {cid}")
    objs, added = _objects(request, iid)
    hits = [o for o in objs if o["id"] == object_id]
    if not hits:
        return _error(404, f"no object {object_id}")
    return _taxii({"more": False, "objects": hits}, headers=_page_headers(hits, added))


@router.get("/api/collections/{cid}/manifest/")
def manifest(request: Request, cid: str, limit: Limit = None,
             next: Annotated[str | None, Query(max_length=20)] = None,
             added_after: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return _paged(request, cid, (limit, next, added_after), lambda page, added: [
        {"id": o["id"], "date_added": added, "version": o.get("modified", o.get("created")),
         "media_type": STIX_MEDIA} for o in page])


__all__ = ["MEDIA", "collection_id", "router"]
