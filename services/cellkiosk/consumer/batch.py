"""Batches: a zip (or a multi-file request) fans out into child jobs, then is collected."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from cellkiosk.consumer.context import JobContext
from cellkiosk.core.errors import BadInputError
from cellkiosk.core.jobs import Job, JobStatus, Stage, result_prefix, upload_prefix
from cellkiosk.core.storage import KeyNotFoundError, ObjectTooLargeError, safe_file_name
from cellkiosk.imaging.io import is_image_name

SKIPPED_FILE = "skipped.json"
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
NESTED_ZIP = "a zip inside a zip is not unpacked: upload it on its own"


def member_is_hidden(name: str) -> bool:
    """macOS resource forks and dot-files are not images anyone meant to send."""
    parts = PurePosixPath(name).parts
    return any((p.startswith(".") and p not in (".", "..")) or p == "__MACOSX" for p in parts)


def check_zip(
    zf: zipfile.ZipFile, name: str, max_members: int, max_bytes: int, max_ratio: float
) -> list[zipfile.ZipInfo]:
    """The file members of a zip, after checks against path tricks and zip bombs."""
    infos = [i for i in zf.infolist() if not i.is_dir() and not member_is_hidden(i.filename)]
    if len(infos) > max_members:
        raise BadInputError(f"{name}: zip has {len(infos)} files, above the limit of {max_members}")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise BadInputError(f"{name}: zip unpacks to {total:,} bytes, above the limit of {max_bytes:,}")
    for info in infos:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or WINDOWS_DRIVE.match(info.filename) or "\x00" in info.filename:
            raise BadInputError(f"{name}: zip member '{info.filename}' has an unsafe path")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BadInputError(f"{name}: zip member '{info.filename}' is a symbolic link; zips of plain files only")
        if info.file_size > 1 << 20 and info.file_size > max_ratio * max(info.compress_size, 1):
            raise BadInputError(
                f"{name}: zip member '{info.filename}' is compressed "
                f"{info.file_size // max(info.compress_size, 1)}x (zip bomb?)"
            )
        if info.flag_bits & 0x1:
            raise BadInputError(f"{name}: zip member '{info.filename}' is encrypted")
    return infos


def fan_out_zip(ctx: JobContext, local: Path, name: str) -> None:
    """Extract each image of a zip to storage and queue one child job per image."""
    s, job = ctx.settings, ctx.job
    try:
        zf = zipfile.ZipFile(local)
    except zipfile.BadZipFile as exc:
        raise BadInputError(f"{name}: not a readable zip ({exc})") from exc
    children, skipped = [], []
    with zf:
        infos = check_zip(zf, name, s.max_zip_members, s.max_zip_bytes, s.max_zip_ratio)
        for index, info in enumerate(sorted(infos, key=lambda i: i.filename)):
            if info.filename.lower().endswith(".zip"):
                skipped.append({"image": info.filename, "reason": NESTED_ZIP})
                continue
            if not is_image_name(info.filename):
                skipped.append({"image": info.filename, "reason": "not an image file (expected .tif, .png or .jpg)"})
                continue
            key = f"{upload_prefix(job.id)}members/{index}/{safe_file_name(info.filename)}"
            try:
                with zf.open(info) as member:  # zip headers can lie about sizes: hold them to their word
                    ctx.storage.put_stream(key, member, max_bytes=info.file_size)  # type: ignore[arg-type]
            except ObjectTooLargeError:
                raise BadInputError(f"{info.filename}: zip member is larger than its header says (zip bomb?)") from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
                skipped.append({"image": info.filename, "reason": f"could not unpack from the zip ({exc})"})
                continue
            children.append(
                Job(
                    type=job.type,
                    model=job.model,
                    input=key,
                    input_name=info.filename,
                    params=job.params,
                    parent=job.id,
                    owner=job.owner,
                )
            )
    if not children:
        raise BadInputError(f"{name}: the zip holds no image files (TIFF, PNG or JPEG)")
    ctx.storage.put_bytes(f"{result_prefix(job.id)}{SKIPPED_FILE}", json.dumps(skipped).encode())
    ctx.queue.schedule_cleanup(upload_prefix(job.id), time.time() + s.upload_ttl_s)
    ctx.queue.add_children(job.id, children)
    ctx.queue.update(job.id, stage=Stage.CHILDREN, progress=10.0, timings=ctx.finish_timings())
    ctx.log.info("fanned out", extra={"children": len(children), "skipped": len(skipped)})


def collect(ctx: JobContext) -> None:
    """Merge the children's archives into the parent's, with cells.csv and failures.csv."""
    job, queue, storage = ctx.job, ctx.queue, ctx.storage
    ctx.timings.update(job.timings)  # keep the download/fan-out timings of the parent
    try:
        failures = json.loads(storage.get_bytes(f"{result_prefix(job.id)}{SKIPPED_FILE}"))
    except KeyNotFoundError:
        failures = []
    ctx.stage(Stage.COLLECT, 95)
    merged_rows: list[dict[str, str]] = []
    header: list[str] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "batch.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for index, child_id in enumerate(queue.children(job.id)):
                child = queue.get(child_id)
                image = (child.input_name if child else None) or child_id
                if child is None or child.status != JobStatus.DONE or not child.output:
                    reason = (child.error if child else None) or (child.status.value if child else "expired")
                    failures.append({"image": image, "reason": reason})
                    continue
                folder = _member_folder(image, index)
                with storage.open_read(child.output) as fh, zipfile.ZipFile(io.BytesIO(fh.read())) as part:
                    for entry in part.namelist():
                        data = part.read(entry)
                        out.writestr(f"{folder}/{entry}", data)
                        if entry == "cells.csv":
                            reader = csv.DictReader(io.StringIO(data.decode()))
                            header = header or list(reader.fieldnames or [])
                            merged_rows += list(reader)
            out.writestr("cells.csv", _csv_text(header or ["image", "frame", "label"], merged_rows))
            out.writestr("failures.csv", _csv_text(["image", "reason"], failures))
            out.writestr(
                "job.json",
                json.dumps(
                    {
                        "job_id": job.id,
                        "input": job.input_name,
                        "model": job.model,
                        "params": job.params,
                        "children": job.children_total,
                        "failed": len(failures),
                    },
                    indent=2,
                ),
            )
        key = f"{result_prefix(job.id)}{_stem(job.input_name)}_results.zip"
        storage.put_file(key, target, content_type="application/zip")
    ctx.complete(key)


def _member_folder(image: str, index: int) -> str:
    path = PurePosixPath(image.replace("\\", "/"))
    parts = [p for p in path.with_suffix("").parts if p not in ("", ".", "..", "/")]
    return "/".join(parts) or f"image_{index}"


def _stem(name: str | None) -> str:
    return PurePosixPath(name or "batch").stem or "batch"


def _csv_text(header: list[str], rows: list[dict[str, str]]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
