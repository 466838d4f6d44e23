"""Logs never carry an API key: the access log's ``api_key=`` query values are blanked."""

from __future__ import annotations

import logging

from cellkiosk.core.logs import RedactKeys, setup_logging


def access_record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_api_key_in_an_access_log_line_is_redacted() -> None:
    uvicorn_style = access_record(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/api/jobs/x/events?api_key=s3cret&a=1", "1.1", 200
    )
    plain = access_record("GET /api/jobs/x/events?API_KEY=other")
    for record in (uvicorn_style, plain):
        assert RedactKeys().filter(record)
    assert uvicorn_style.getMessage() == '127.0.0.1:5 - "GET /api/jobs/x/events?api_key=***&a=1 HTTP/1.1" 200'
    assert plain.getMessage() == "GET /api/jobs/x/events?API_KEY=***"


def test_services_attach_the_filter_to_the_access_log() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO", json_lines=True)
        assert any(isinstance(f, RedactKeys) for f in logging.getLogger("uvicorn.access").filters)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
