"""Server-rendered pages: overview, incident, alerts, upload (with progress), login.

Templates are Jinja2 with autoescaping on; log-derived text is never marked safe. Every form
carries the session's CSRF token; downloads are POST forms too, since exports refresh the
blocklist and write the audit trail.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from wormsign.incidents.charts import colour, families_chart, forecast_chart, svg, timeline_chart
from wormsign.incidents.exporters import EXPORTERS
from wormsign.incidents.forecasts import forecast_view
from wormsign.incidents.store import TASK_STATUSES
from wormsign.web.security import (
    access_of,
    check_form_csrf,
    csrf_token,
    require_auth,
)
from wormsign.web.state import state_of
from wormsign.web.uploads import start_upload as start_upload

_env = jinja2.Environment(loader=jinja2.PackageLoader("wormsign.web", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined)
_env.filters["num"] = lambda v: f"{int(v):,}"
_env.globals["chart_svg"] = svg
templates = Jinja2Templates(env=_env)

#: What the incident page offers to download: (id, label, media type, file suffix).
DOWNLOADS: list[tuple[str, str, str, str]] = [
    ("report-html", "Report (HTML)", "text/html; charset=utf-8", "report.html"),
    ("report-pdf", "Report (PDF)", "application/pdf", "report.pdf"),
    ("nftables", "nftables set", "text/plain; charset=utf-8", "blocklist.nft"),
    ("iptables", "iptables/ipset", "text/plain; charset=utf-8", "blocklist.ipset"),
    ("nginx", "nginx deny", "text/plain; charset=utf-8", "blocklist.nginx.conf"),
    ("apache", "Apache Require", "text/plain; charset=utf-8", "blocklist.apache.conf"),
    ("suricata", "Suricata rules", "text/plain; charset=utf-8", "wormsign.rules"),
    ("csv", "CSV", "text/csv; charset=utf-8", "blocklist.csv"),
    ("stix", "STIX 2.1 bundle", "application/json", "stix-bundle.json"),
]


router = APIRouter(include_in_schema=False)
authed = [Depends(require_auth)]


def render(request: Request, name: str, status_code: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    access = access_of(request)
    who = access.principal(request)
    context.update(csrf=csrf_token(request), login_required=access.login_required(),
                   logged_in=who is not None and who.via == "session", colour=colour,
                   who=who)
    return templates.TemplateResponse(request, name, context, status_code=status_code,
                                      headers=headers)


def render_error(request: Request, status: int, message: str,
                 headers: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html", status_code=status, headers=headers, status=status,
                  message=message)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", dependencies=authed)
def overview(request: Request, all: Annotated[bool, Query()] = False) -> HTMLResponse:
    rows = state_of(request).dashboard.overview(include_closed=all)
    return render(request, "overview.html", incidents=rows, show_all=all)


@router.post("/incidents", dependencies=authed)
def create_incident(request: Request, name: Annotated[str, Form(max_length=200)] = "",
                    own: Annotated[str, Form(max_length=4000)] = "",
                    allow: Annotated[str, Form(max_length=4000)] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, csrf)
    iid = state_of(request).store.create_incident(name, own=own.replace(",", " ").split(),
                                                  allow=allow.replace(",", " ").split())
    return _redirect(f"/incidents/{iid}")


def _int_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18 or int(value) < 1:
        raise HTTPException(404, "not found")
    return int(value)


@router.get("/incidents/{iid}", dependencies=authed)
def incident(request: Request, iid: str) -> HTMLResponse:
    st = state_of(request)
    view = st.dashboard.incident(_int_id(iid))
    fc = forecast_view(st.store, view["incident"]["id"])
    phases: dict[str, list[dict[str, Any]]] = {}
    for task in view["tasks"]["items"]:
        phases.setdefault(f"{task['playbook']} · {task['phase']}", []).append(task)
    return render(request, "incident.html", v=view, phases=phases,
                  timeline=timeline_chart(view["timeline"]),
                  families=families_chart(view["families"]),
                  fc=fc, forecast_chart=forecast_chart(fc) if fc is not None else None,
                  statuses=TASK_STATUSES, downloads=DOWNLOADS)


@router.get("/incidents/{iid}/alerts", dependencies=authed)
def alerts(request: Request, iid: str,
           page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
           family: Annotated[str, Query(max_length=64)] = "",
           source_ip: Annotated[str, Query(max_length=64)] = "",
           q: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    st = state_of(request)
    inc = st.store.get_incident(_int_id(iid))
    filters = {"family": family, "source_ip": source_ip, "q": q}
    result = st.dashboard.alerts(inc.id, page, 50, filters)
    keep = {k: v for k, v in filters.items() if v}

    def link(p: int) -> str:
        return f"/incidents/{inc.id}/alerts?" + urlencode({**keep, "page": p})

    return render(request, "alerts.html", inc=inc, page=result, filters=filters,
                  prev_url=link(page - 1) if page > 1 else None,
                  next_url=link(page + 1) if page < result.pages else None)


@router.post("/incidents/{iid}/tasks/{task_id}", dependencies=authed)
def update_task(request: Request, iid: str, task_id: str,
                csrf: Annotated[str, Form()] = "",
                status: Annotated[str, Form(max_length=16)] = "",
                owner: Annotated[str | None, Form(max_length=128)] = None,
                note: Annotated[str, Form(max_length=4000)] = "") -> Response:
    check_form_csrf(request, csrf)
    incident_id = _int_id(iid)
    st = state_of(request)
    st.store.update_task(incident_id, _int_id(task_id), status=status or None,
                         owner=owner, note=note or None)
    return _redirect(f"/incidents/{incident_id}#task-{int(task_id)}")


@router.post("/incidents/{iid}/close", dependencies=authed)
def close_incident(request: Request, iid: str, csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, csrf)
    incident_id = _int_id(iid)
    state_of(request).store.close_incident(incident_id)
    return _redirect(f"/incidents/{incident_id}")


@router.post("/incidents/{iid}/download", dependencies=authed)
def download(request: Request, iid: str, what: Annotated[str, Form(max_length=32)] = "",
             csrf: Annotated[str, Form()] = "") -> Response:
    from wormsign.incidents import export, render_html, render_pdf

    check_form_csrf(request, csrf)
    incident_id = _int_id(iid)
    choice = next((d for d in DOWNLOADS if d[0] == what), None)
    if choice is None:
        raise HTTPException(400, f"nothing to download called {what!r}")
    store = state_of(request).store
    store.get_incident(incident_id)
    if what == "report-html":
        body: bytes = render_html(store, incident_id).encode("utf-8")
    elif what == "report-pdf":
        with tempfile.TemporaryDirectory(prefix="wormsign-pdf-") as tmp:
            out = Path(tmp) / "report.pdf"
            render_pdf(store, incident_id, out)
            body = out.read_bytes()
    else:
        assert what in EXPORTERS
        body = export(store, incident_id, what).encode("utf-8")
    filename = f"incident-{incident_id}-{choice[3]}"
    return Response(body, media_type=choice[2], headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        # A downloaded report must not run in the dashboard's origin even if opened inline.
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
                                   "style-src 'unsafe-inline'",
    })


@router.get("/upload", dependencies=authed)
def upload_form(request: Request, incident: Annotated[int | None, Query(ge=1)] = None,
                ) -> HTMLResponse:
    rows = state_of(request).dashboard.overview(include_closed=False)
    return render(request, "upload.html", incidents=rows, chosen=incident,
                  limit=state_of(request).settings.max_upload_bytes)


@router.post("/upload", dependencies=authed)
def upload(request: Request, file: UploadFile, incident_id: Annotated[int, Form(ge=1)],
           csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, csrf)
    job = start_upload(request, incident_id, file)
    return _redirect(f"/upload/jobs/{job.id}")


@router.get("/upload/jobs/{job_id}", dependencies=authed)
def job_page(request: Request, job_id: str) -> HTMLResponse:
    job = state_of(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such upload job (the server may have restarted)")
    return render(request, "job.html", job=job.to_dict())


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=200)] = "/",
               ) -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), failed=False)


def _safe_next(target: str) -> str:
    """Only local paths: no open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=1024)] = "",
          user: Annotated[str, Form(max_length=64)] = "",
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form(max_length=200)] = "/",
          ) -> Response:
    """A person logs in with name and password (or a personal API token); without a name,
    the shared token (single-token mode) or a personal API token."""
    check_form_csrf(request, csrf)
    access = access_of(request)
    if not access.login_required():
        access.login(request)
        return _redirect(_safe_next(next))
    name = user.strip()
    wait = access.throttled(name)
    if wait > 0:
        return render(request, "login.html", status_code=429, next=_safe_next(next),
                      failed=True, headers={"Retry-After": str(int(wait) + 1)})
    accepted, person = access.check_login(name, token)
    if accepted:
        access.login(request, person)
        return _redirect(_safe_next(next))
    access.failed_login(name)
    return render(request, "login.html", status_code=401, next=_safe_next(next), failed=True)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, csrf)
    access_of(request).logout(request)
    return _redirect("/login")
