"""Fuzz the API from its own OpenAPI schema (schemathesis, over real HTTP): no 5xx, responses match the schema.

Every operation of the served schema gets hypothesis-generated requests, valid ones and (negative mode)
invalid ones. (schemathesis' lazy pytest loader does not run on pytest 9, so the operations are driven
from one test; a failing operation is reported with the request schemathesis shrank it to.)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.records import record

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES = 20  # per operation and mode
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def test_no_server_errors_and_responses_match_the_schema(make_platform: Any) -> None:
    # no consumers (jobs stay queued), no rate limits (every request is examined, none answered 429)
    p = make_platform(workers=0, jobs_per_minute=0, uploads_per_minute=0, max_active_jobs=0)
    schema = schemathesis.openapi.from_url(f"{p.url}/openapi.json")
    tally: dict[str, Any] = {"requests": 0, "statuses": {}}
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case: Any) -> None:
                response = case.call_and_validate(checks=CHECKS, timeout=30)
                tally["requests"] += 1
                tally["statuses"][response.status_code] = tally["statuses"].get(response.status_code, 0) + 1

            try:
                run()
            except Unsatisfiable:  # an operation without parameters has no invalid request
                assert mode == GenerationMode.NEGATIVE, operation.path
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure
                problems.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:3000])
    assert not problems, "\n\n".join(problems)
    assert len(operations) >= 15 and tally["requests"] >= 200
    statuses = {str(k): v for k, v in sorted(tally["statuses"].items())}
    record(
        "fuzz_api",
        {"requests": tally["requests"], "operations": len(operations), "statuses": statuses, "server_errors": 0,
         "schema_mismatches": 0, "examples_per_operation_and_mode": EXAMPLES, "modes": [m.value for m in MODES]},
    )  # fmt: skip
