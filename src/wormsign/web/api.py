"""The JSON API under ``/api/``: incidents, alerts, tasks, uploads.

Every error answers ``{"error": {"status": int, "message": str}}``. Reads need the session
or the bearer token when a token is configured; state-changing calls also need the CSRF
header when they come with the session cookie (see :mod:`wormsign.web.security`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.dataclasses import dataclass as pydantic_dataclass

from wormsign.errors import NotFoundError
from wormsign.incidents.dashboard import IncidentRow
from wormsign.incidents.query import AlertPageDoc, AlertRow, FamilyCount, IncidentRef, Totals
from wormsign.incidents.tasks import TASK_STATUSES, Progress, Task
from wormsign.web.security import check_api_csrf, csrf_token, require_auth
from wormsign.web.state import state_of
from wormsign.web.uploads import start_upload

MAX_ID = 2**62


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    """The one error shape of the API."""

    error: ErrorDetail


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorBody, "description": "error"} for c in codes}


def require_csrf(request: Request) -> None:
    require_auth(request)
    check_api_csrf(request)


def cached(request: Request, model: type[BaseModel], incident_id: int | None,
           compute: Callable[[tuple[Any, ...]], Any]) -> Response:
    """The answer to a GET, from the cache when the data version is unchanged (see
    :mod:`wormsign.web.fastread`); ``compute(version)`` makes it, checked against ``model``."""
    reads = state_of(request).reads
    version = reads.version(incident_id)
    key = (request.url.path, request.url.query, version)
    body = reads.response(key, lambda: model.model_validate(compute(version))
                          .model_dump_json().encode())
    return Response(body, media_type="application/json")


router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(require_auth)],
                   responses=_errors(401, 403, 422))

IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="incident id")]


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class SessionInfo(BaseModel):
    csrf_token: str = Field(description="send as X-CSRF-Token on state-changing calls")


class IncidentList(BaseModel):
    items: list[IncidentRow]


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: An address or network: JSON Schema cannot describe IPv6 networks exactly, so the document
#: names addresses (ipv4/ipv6 formats) and IPv4 networks; the server accepts IPv6 networks too.
Network = Annotated[str, WithJsonSchema({"anyOf": [
    {"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"},
    {"type": "string", "pattern": rf"^({_OCTET}\.){{3}}{_OCTET}/(3[0-2]|[12]?[0-9])$"}]}),
    Field(max_length=64)]


#: At least one character that is not white space (as Python's ``str.strip`` sees it).
NAME_PATTERN = ("[!-~\\u00a1-\\u167f\\u1681-\\u1fff\\u200b-\\u2027\\u202a-\\u202e"
                "\\u2030-\\u205e\\u2060-\\u2fff\\u3001-\\uffff]")


class NewIncident(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN,
                      description="needs a visible character")
    own: list[Network] = Field(
        default=[], max_length=256, description="own networks (CIDRs): internal, never blocked")
    allow: list[Network] = Field(
        default=[], max_length=256, description="allowlisted networks (CIDRs): never blocked")


class SourceRow(BaseModel):
    source_ip: str
    alerts: int
    internal: bool
    families: list[str]
    first_seen: str | None
    last_seen: str | None


class TimelinePoint(BaseModel):
    start: int = Field(description="bucket start, epoch seconds")
    family: str
    alerts: int


class Timeline(BaseModel):
    bucket_seconds: int
    first: int | None
    last: int | None
    series: list[TimelinePoint]


@pydantic_dataclass(frozen=True,
                    config=ConfigDict(json_schema_serialization_defaults_required=True))
class TaskModel(Task):
    """One playbook task of an incident: the fields of :class:`wormsign.incidents.tasks.Task`
    (an answer always has every field)."""


class TaskList(BaseModel):
    items: list[TaskModel]


class TaskProgress(BaseModel):
    progress: Progress
    items: list[TaskModel]


class IncidentDetail(BaseModel):
    incident: IncidentRef
    totals: Totals
    families: list[FamilyCount]
    top_sources: list[SourceRow]
    victims: list[SourceRow]
    timeline: Timeline
    assets: list[dict[str, Any]]
    tasks: TaskProgress
    jobs: list[dict[str, Any]]
    actions: list[dict[str, Any]]


class ServerCount(BaseModel):
    host: str
    alerts: int


class ServerList(BaseModel):
    items: list[ServerCount]


class AlertModel(AlertRow):
    """One stored alert: the keys of :class:`wormsign.incidents.query.AlertRow`."""


class AlertPageModel(BaseModel):
    items: list[AlertModel]
    total: int
    page: int
    per_page: int
    pages: int


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "in-progress", "done", "skipped"] | None = None
    owner: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, max_length=4000)


class JobModel(BaseModel):
    id: str
    incident_id: int
    filename: str
    size: int
    phase: str
    kind: str | None
    percent: float
    bytes_done: int
    records_done: int
    records_total: int
    alerts: int
    added: int
    duplicates: int
    skipped: int
    families: list[str]
    error: str | None
    warnings: list[str] = Field(description="problems that did not stop the upload")
    unpacked: int | None = Field(description="decompressed size of a compressed upload")
    finished: bool


assert set(TASK_STATUSES) == {"open", "in-progress", "done", "skipped"}


@router.get("/health", response_model=Health, summary="Liveness (also the benchmark baseline)")
async def health() -> dict[str, Any]:
    from wormsign import __version__
    return {"status": "ok", "version": __version__}


@router.get("/session", response_model=SessionInfo, summary="The session's CSRF token")
def session(request: Request) -> dict[str, Any]:
    return {"csrf_token": csrf_token(request)}


@router.get("/incidents", response_model=IncidentList, summary="Incidents with their counts")
def list_incidents(request: Request,
                   status: Annotated[Literal["open", "all"], Query()] = "open",
                   ) -> Response:
    dash = state_of(request).dashboard
    return cached(request, IncidentList, None,
                  lambda _v: {"items": dash.overview(include_closed=status == "all")})


@router.post("/incidents", response_model=IncidentRef, status_code=201,
             dependencies=[Depends(require_csrf)], responses=_errors(400),
             summary="Open a new incident")
def create_incident(request: Request, body: NewIncident) -> IncidentRef:
    st = state_of(request)
    iid = st.store.create_incident(body.name, own=body.own, allow=body.allow)
    inc = st.dashboard.overview(include_closed=True)
    return next(r for r in inc if r["id"] == iid)


@router.get("/incidents/{iid}", response_model=IncidentDetail, responses=_errors(404),
            summary="Everything the incident page shows")
def get_incident(request: Request, iid: IncidentId) -> Response:
    dash = state_of(request).dashboard
    return cached(request, IncidentDetail, iid, lambda _v: dash.incident(iid))


@router.get("/incidents/{iid}/servers", response_model=ServerList, responses=_errors(404),
            summary="Our servers named in the alerts, most attacked first")
def attacked_servers(request: Request, iid: IncidentId) -> Response:
    dash = state_of(request).dashboard
    return cached(request, ServerList, iid,
                  lambda _v: {"items": dash.attacked_servers(iid)})


class AlertQuery(BaseModel):
    """The query string of :func:`list_alerts`: the page and the filters."""

    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=1000)
    family: str | None = Field(None, max_length=64)
    source_ip: str | None = Field(None, max_length=64)
    rule_id: str | None = Field(None, max_length=128)
    internal: bool | None = None
    since: int | None = Field(None, ge=0, le=2**40, description="epoch seconds")
    until: int | None = Field(None, ge=0, le=2**40, description="epoch seconds")
    q: str | None = Field(None, max_length=200, description="substring of the URL")

    def filters(self) -> dict[str, Any]:
        """The filters given (not None, not empty), by name."""
        return {k: v for k, v in self.model_dump(exclude={"page", "per_page"}).items()
                if v is not None and v != ""}


@router.get("/incidents/{iid}/alerts", response_model=AlertPageModel,
            responses=_errors(400, 404),
            summary="One page of alerts, in time order (then family and id)")
def list_alerts(request: Request, iid: IncidentId,
                query: Annotated[AlertQuery, Query()]) -> Response:
    st = state_of(request)
    page, per_page, filters = query.page, query.per_page, query.filters()

    def compute(version: tuple[Any, ...]) -> AlertPageDoc:
        st.store.get_incident(iid)
        return st.reads.alert_page(iid, page, per_page, filters, version)

    return cached(request, AlertPageModel, iid, compute)


@router.get("/incidents/{iid}/tasks", response_model=TaskList, responses=_errors(404),
            summary="The incident's playbook tasks")
def list_tasks(request: Request, iid: IncidentId) -> Response:
    st = state_of(request)

    def compute(_version: tuple[Any, ...]) -> dict[str, Any]:
        st.store.get_incident(iid)
        return {"items": [x.to_dict() for x in st.store.list_tasks(iid)]}

    return cached(request, TaskList, iid, compute)


class ForecastDocument(BaseModel):
    """The latest stored forecast: the ``wormsign forecast --json`` document (docs/forecast.md),
    every member of it, of which these are always present."""

    model_config = ConfigDict(extra="allow")
    schema_: str = Field(alias="schema")
    status: str
    family: str | None = None
    method: str | None = None
    time_base: str | None = None


@router.get("/incidents/{iid}/forecast", response_model=ForecastDocument,
            response_model_by_alias=True, responses=_errors(404),
            summary="The incident's latest stored forecast (of one family)")
def latest_forecast(request: Request, iid: IncidentId,
                    family: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    from wormsign.incidents.forecasts import latest

    doc = latest(state_of(request).store, iid, family)
    if doc is None:
        raise NotFoundError(f"incident {iid} has no stored forecast"
                            + (" of that family" if family else ""))
    body = ForecastDocument.model_validate(doc).model_dump_json(by_alias=True)
    return Response(body.encode(), media_type="application/json")


@router.patch("/incidents/{iid}/tasks/{task_id}", response_model=TaskModel,
              dependencies=[Depends(require_csrf)], responses=_errors(400, 404),
              summary="Tick, assign or annotate a task")
def update_task(request: Request, iid: IncidentId,
                task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                body: Annotated[TaskUpdate, Body()]) -> dict[str, Any]:
    st = state_of(request)
    st.store.get_incident(iid)
    task = st.store.update_task(iid, task_id, status=body.status, owner=body.owner,
                                note=body.note)
    return task.to_dict()


@router.post("/incidents/{iid}/uploads", response_model=JobModel, status_code=202,
             dependencies=[Depends(require_csrf)], responses=_errors(400, 404, 409, 413),
             summary="Upload a log (or alerts / assess JSON) to scan into the incident")
def upload(request: Request, iid: IncidentId, file: UploadFile) -> dict[str, Any]:
    job = start_upload(request, iid, file)
    return job.to_dict()


@router.get("/jobs/{job_id}", response_model=JobModel, responses=_errors(404),
            summary="Progress of an upload")
def get_job(request: Request,
            job_id: Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]+$")],
            ) -> dict[str, Any]:
    from fastapi import HTTPException
    job = state_of(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no upload job {job_id}")
    return job.to_dict()
