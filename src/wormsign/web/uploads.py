"""Starting an upload's background scan: the one step the upload page and the API share.

Kept below the routers (:mod:`~wormsign.web.pages` for the HTML form,
:mod:`~wormsign.web.api` for ``POST /api/incidents/{id}/uploads``), so the API does not
import the HTML pages to reach it.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from wormsign.web.jobs import UploadJob
from wormsign.web.state import state_of


def start_upload(request: Request, incident_id: int, file: UploadFile) -> UploadJob:
    """Save an upload and start its background scan (shared by the page and the API)."""
    st = state_of(request)
    st.store.require_open(incident_id)
    path, sha, _size = st.jobs.save(file.file, file.filename)
    return st.jobs.submit(incident_id, path, sha, file.filename or "upload.log")
