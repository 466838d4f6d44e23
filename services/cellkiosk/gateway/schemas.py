"""Request and response bodies of the REST API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from cellkiosk.core.jobs import Job, JobStatus, Stage

MAX_KEY_CHARS = 1024  # an upload key is uploads/<32 hex>/<name of at most 255>
MAX_BATCH_INPUTS = 10_000  # inputs of one batch request (as many as a zip may hold by default)


class UploadOut(BaseModel):
    """A stored upload; pass ``key`` as a job's input."""

    key: str
    name: str
    size: int


class PresignIn(BaseModel):
    """Ask for a URL to upload one file directly."""

    name: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0, description="Size in bytes (checked against the server's limit)")
    content_type: str | None = None


class PresignOut(BaseModel):
    """Where and how to upload; afterwards use ``key`` as a job's input."""

    key: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    expires_in_s: int


class JobIn(BaseModel):
    """Create a job on one input (``input``) or a batch of inputs (``inputs``)."""

    type: str = Field(description="Job type, see GET /api/job-types", examples=["segmentation"])
    input: str | None = Field(None, max_length=MAX_KEY_CHARS, description="Upload key from POST /api/uploads")
    inputs: list[Annotated[str, Field(max_length=MAX_KEY_CHARS)]] | None = Field(
        None, max_length=MAX_BATCH_INPUTS, description="Several upload keys: one batch job with a child per file"
    )
    model: str | None = Field(None, description="Model name (default per type), see GET /api/models")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def one_input(self) -> JobIn:
        """Exactly one of input / inputs."""
        if (self.input is None) == (not self.inputs):
            raise ValueError("give either 'input' (one upload key) or 'inputs' (a non-empty list)")
        return self


class ChildrenOut(BaseModel):
    """Progress of a batch."""

    total: int
    done: int
    failed: int


class JobOut(BaseModel):
    """A job as clients see it."""

    id: str
    type: str
    model: str
    status: JobStatus
    stage: Stage | None = None
    progress: float
    input: str | None = Field(None, description="Upload key of the input (to submit it again, e.g. with other params)")
    input_name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    parent: str | None = None
    children: ChildrenOut | None = None
    result_url: str | None = None

    @classmethod
    def from_job(cls, job: Job) -> JobOut:
        """Public view of a stored job."""
        children = (
            ChildrenOut(total=job.children_total, done=job.children_done, failed=job.children_failed)
            if job.children_total
            else None
        )
        return cls(
            **job.model_dump(include=set(cls.model_fields) - {"children", "result_url"}),
            children=children,
            result_url=f"/api/jobs/{job.id}/result" if job.status == JobStatus.DONE else None,
        )


class CreatedJob(BaseModel):
    """Answer to POST /api/jobs."""

    id: str
    status: JobStatus


class JobTypeOut(BaseModel):
    """One analysis the platform runs."""

    name: str
    description: str
    default_model: str | None
    models: list[str]
    params_schema: dict[str, Any]
