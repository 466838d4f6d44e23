"""A tracking job's lineage for the portal's track view: every track's frames, parent and daughters."""

from __future__ import annotations

import zipfile

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from cellkiosk.gateway.deps import CallerDep, QueueDep, StoreDep, require_api_key
from cellkiosk.gateway.routes.views import LINEAGE_FILE, labels_member, single_job, stored_file

router = APIRouter(prefix="/api", tags=["views"], dependencies=[Depends(require_api_key)])


class TrackView(BaseModel):
    """One track of ``lineage.json``: a cell from its first frame to its division or end."""

    track_id: int = Field(description="Label of the cell in the tracked movie and track_id in cells.csv")
    first_frame: int = Field(description="First frame of the track (0-based)")
    last_frame: int = Field(description="Last frame of the track, inclusive")
    parent: int = Field(description="Track id of the mother; 0 when the cell was not born from a detected division")
    daughters: list[int] = Field(description="Track ids of the daughters (two when the cell divides, else none)")
    division_frame: int | None = Field(description="First frame of the daughters; null when the cell does not divide")
    missing_frames: list[int] = Field(description="Frames within the span where the cell was not detected")


class LineageView(BaseModel):
    """The tracks of one movie (``lineage.json`` of a tracking job's archive)."""

    frames: int = Field(description="Number of frames of the movie")
    tracks: list[TrackView]


@router.get(
    "/jobs/{job_id}/view/{stem}/lineage",
    response_model=LineageView,
    summary="The lineage of a tracking job's movie: each track's frames, parent, daughters and division frame",
)
def lineage(job_id: str, stem: str, queue: QueueDep, storage: StoreDep, caller: CallerDep) -> LineageView:
    """``lineage.json`` of the result archive; 404 for a job without one (only tracking jobs have a lineage)."""
    job, key = single_job(queue, storage, job_id, caller)
    with stored_file(storage, key) as local, zipfile.ZipFile(local) as zf:
        names = zf.namelist()
        labels_member(names, stem)  # 404 for a stem this job does not have
        if LINEAGE_FILE not in names:
            raise HTTPException(
                404, f"job '{job_id}' has no lineage: only tracking jobs have one, and this is a {job.type} job"
            )
        return LineageView.model_validate_json(zf.read(LINEAGE_FILE))
