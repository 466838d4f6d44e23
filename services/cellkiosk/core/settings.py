"""Settings of every service: environment variables with the ``CELLKIOSK_`` prefix.

One class per service, built once in its ``main()`` and passed down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """What every service needs: where Redis, storage and the models are."""

    model_config = SettingsConfigDict(env_prefix="CELLKIOSK_", extra="ignore")

    data_dir: Path = Field(Path(".cellkiosk"), description="Embedded state: valkey AOF and local object store")
    redis_url: str | None = Field(None, description="redis://host:port/db; unset = private embedded valkey")
    storage_url: str | None = Field(None, description="s3://bucket[/prefix] or a directory; unset = DATA_DIR/storage")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint (MinIO, SeaweedFS); unset = AWS")
    s3_region: str | None = None
    s3_public_endpoint_url: str | None = Field(
        None, description="S3 endpoint as browsers and clients reach it, for presigned URLs; unset = s3_endpoint_url"
    )
    s3_create_bucket: bool = Field(False, description="Create the bucket at start if it is missing")
    models_dir: Path = Field(Path("models"), description="Model store: <dir>/<name>/<version>/model.yaml")
    job_ttl_s: int = Field(7 * 24 * 3600, gt=0, description="How long finished jobs and their files are kept")
    upload_ttl_s: int = Field(7 * 24 * 3600, gt=0, description="How long uploads are kept")
    log_level: str = "INFO"
    log_json: bool = True

    def resolved_storage_url(self) -> str:
        """The storage URL, defaulting to a directory inside the data dir."""
        return self.storage_url or str((self.data_dir / "storage").resolve())


class GatewaySettings(CommonSettings):
    """The HTTP gateway."""

    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    max_upload_bytes: int = Field(2 * 1024**3, gt=0, description="Largest accepted upload")
    presign_expires_s: int = Field(
        900, gt=0, le=7 * 24 * 3600, description="Life of presigned upload/download URLs (a PUT must start in time)"
    )
    public_url: str | None = Field(None, description="Base URL clients reach the gateway at (for upload URLs)")
    secret_key: SecretStr | None = Field(None, description="Signs local upload URLs; unset = random, kept in DATA_DIR")
    api_keys: list[str] = Field(
        default_factory=list, description="JSON list of keys; if set (or api_key_hashes), every /api call needs one"
    )
    api_key_hashes: list[str] = Field(
        default_factory=list, description="JSON list of 'sha256:<hex of the key>' (keys not stored in the config)"
    )
    admin_api_key: SecretStr | None = Field(None, description="A key that sees, lists and cancels every job")
    jobs_per_minute: int = Field(120, ge=0, description="Job creations per key per minute (0 = no limit)")
    uploads_per_minute: int = Field(240, ge=0, description="Uploads (and presigns) per key per minute (0 = no limit)")
    max_active_jobs: int = Field(500, ge=0, description="Queued or running jobs per key at once (0 = no limit)")
    cors_origins: list[str] = Field(
        default_factory=list, description="JSON list of origins allowed to call the API from a browser; none = closed"
    )
    frontend_dir: Path | None = Field(
        None, description="Portal files (index.html); unset = the checkout's frontend/ (images set it)"
    )


class ConsumerSettings(CommonSettings):
    """A consumer of one or more job queues."""

    queues: list[str] = Field(default_factory=lambda: ["segmentation"])
    consumer_name: str | None = Field(None, description="Unique per consumer; unset = host-pid")
    tfserving_address: str | None = Field(None, description="host:port of TF Serving gRPC; unset = in-process TF")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="In-process TensorFlow arithmetic; bfloat16 is faster on CPUs with AVX512-BF16/AMX "
        "(README Performance: its AP cost); TF Serving ignores it",
    )
    tfserving_timeout_s: float = Field(
        60.0, gt=0, description="Deadline of one TF Serving call (doubled after one ran out)"
    )
    tfserving_give_up_s: float = Field(
        600.0, gt=0, description="A job fails only when TF Serving has not answered at all for this long"
    )
    tfserving_max_batch_size: int | None = Field(
        None, gt=0, description="TF Serving's max_batch_size; unset = learnt from the server's first refusal"
    )
    tfserving_pin_version: bool = Field(True, description="Ask TF Serving for the card's version, not its newest")
    visibility_timeout_s: float = Field(120.0, gt=0, description="Idle time after which another consumer takes a job")
    block_ms: int = Field(5000, gt=0, le=20000, description="Longest blocking read (under the 30 s socket timeout)")
    max_attempts: int = Field(3, gt=0)
    storage_retry_s: float = Field(
        120.0, ge=0, description="How long one storage call is retried while the object store is unreachable"
    )
    heartbeat_s: float = 10.0
    max_image_pixels: int = Field(
        400_000_000,
        gt=0,
        description="Largest image (pages x Y x X x C) accepted; ~12 bytes/pixel of RAM. A tracking movie read "
        "frame by frame (TIFF, zip of frames) is limited per frame (Y x X x C) instead",
    )
    max_movie_pixels: int = Field(
        4_000_000_000,
        gt=0,
        description="Largest tracking movie (frames x Y x X x C) accepted; frames are streamed, so this bounds "
        "time and the job's temp disk (4 bytes of labels per frame pixel), not RAM",
    )
    max_zip_members: int = 10_000
    max_zip_bytes: int = Field(20 * 1024**3, description="Largest total uncompressed size of a zip")
    max_zip_ratio: float = Field(200.0, description="Largest compression ratio of a zip member (zip bombs)")
    tile_px: int = 512
    tile_overlap_px: int = 64
    predict_batch_size: int = 4
    finish_in_background: bool = Field(
        True, description="Encode and upload a job's results on a second thread while the next job starts"
    )
    cleanup_interval_s: float = 60.0


class ScaleTarget(BaseModel):
    """One Deployment the autoscaler sizes from the backlog of some queues (a consumer, or TF Serving)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: str = Field(min_length=1, description="Name of the Deployment (in the autoscaler's namespace)")
    queues: list[str] = Field(min_length=1, description="Job types whose backlog (lag + pending) this serves")
    items_per_replica: float = Field(gt=0, description="Backlog one replica is sized for")
    min_replicas: int = Field(0, ge=0)
    max_replicas: int = Field(ge=1)
    idle_cooldown_s: float = Field(
        300.0, ge=0, description="The backlog empty this long before the last replica goes (min 0): long for GPU pods"
    )
    scale_down_window_s: float = Field(
        120.0, ge=0, description="Scale down to the highest need seen in this window (no flapping)"
    )
    scale_down_max_fraction: float = Field(
        0.5, gt=0, le=1, description="Largest share of the replicas removed in one period (at least one)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> ScaleTarget:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"{self.deployment}: min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        return self


class AutoscalerSettings(CommonSettings):
    """The built-in autoscaler (for clusters without KEDA)."""

    namespace: str | None = Field(None, description="Namespace of the Deployments; unset = the pod's own")
    targets: list[ScaleTarget] = Field(min_length=1, description="JSON list of scale targets (the chart sets it)")
    period_s: float = Field(15.0, gt=0, description="Seconds between two decisions")
    metrics_port: int = Field(9090, gt=0, lt=65536, description="Prometheus /metrics and /healthz")
    kubeconfig: Path | None = Field(None, description="Use this kubeconfig instead of the in-cluster service account")
    dry_run: bool = Field(False, description="Decide and log, never patch")
