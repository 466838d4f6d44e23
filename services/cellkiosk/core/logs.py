"""Structured (JSON lines) logging; every record about a job carries its id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


SECRET_QUERY = re.compile(r"(api_key=)[^&\s]*", re.IGNORECASE)


class RedactKeys(logging.Filter):
    """Blank ``api_key=`` query values (EventSource links carry the key) in access-log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def setup_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Configure the root logger once for a service process."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").addFilter(RedactKeys())
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "multipart"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def job_logger(logger: logging.Logger, job_id: str) -> logging.LoggerAdapter[logging.Logger]:
    """A logger adapter that adds ``job_id`` to every record."""
    return logging.LoggerAdapter(logger, {"job_id": job_id})
