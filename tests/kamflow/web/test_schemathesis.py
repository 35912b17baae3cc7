"""Schemathesis against the OpenAPI document, authenticated as an admin: no input makes a
5xx, and every response conforms to the document (status code, content type, body).

Each operation gets a bounded number of generated requests, valid and invalid ones
(KAMFLOW_FUZZ_EXAMPLES, default 12 each); under CI=true the examples are derandomized so
a run is repeatable. Invalid requests must get a documented 4xx, but schemathesis'
negative_data_rejection check is left out: it counts a repeated query parameter (of which
FastAPI takes the last) as invalid input that should have been refused.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update

from kamflow.store.tables import API_TOKEN
from support.web import World

EXAMPLES = int(os.environ.get("KAMFLOW_FUZZ_EXAMPLES", "12"))
# The admin's token gets an id no generated DELETE /api/tokens/{id} is likely to hit.
ADMIN_TOKEN_ID = 1_234_567_891
CHECKS: list[Any] = [not_a_server_error, status_code_conformance, content_type_conformance,
                     response_schema_conformance]


def fuzz(strategy: Any, checks: list[Any], headers: dict[str, str], seen: Counter[int]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize=bool(os.environ.get("CI")), suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        seen[response.status_code] += 1
        case.validate_response(response, checks=checks)

    with contextlib.suppress(Unsatisfiable):  # nothing in the operation can be made invalid
        run()


@pytest.mark.slow
def test_no_input_makes_a_server_error_and_every_answer_fits_the_document(world: World) -> None:
    with world.db.engine.begin() as conn:
        conn.execute(update(API_TOKEN).where(API_TOKEN.c.id == world.token_ids["ada@x.test"])
                     .values(id=ADMIN_TOKEN_ID))
    headers = world.as_("ada@x.test")
    ids = {"account_id": "DRIFT", "task_id": world.task("DRIFT", "declining.recovery_plan"),
           "email": "quinn@x.test", "token_id": world.token_ids["quinn@x.test"]}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", world.app)
    failures: list[str] = []
    seen: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        real = {name: value for name, value in ids.items()
                if "{" + name + "}" in operation.path}
        passes = [(GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
        if real:  # and once more on objects that exist, to get past the 404s
            passes.append((GenerationMode.POSITIVE, real))
        for mode, path_parameters in passes:
            strategy = operation.as_strategy(generation_mode=mode,
                                             path_parameters=path_parameters or None)

            try:
                fuzz(strategy, CHECKS, headers, seen)
            except (Exception, BaseExceptionGroup) as e:  # collect them all, then fail once
                failures.append(f"{operation.label} ({mode.value}, {path_parameters}): {e}")
    assert operations >= 30
    print("responses by status:", dict(sorted(seen.items())))
    assert not any(code >= 500 for code in seen)
    assert sum(n for code, n in seen.items() if code < 300) > operations  # not all refused
    assert not failures, "\n\n".join(failures)
    # the admin's token survived the run, so every case above ran authenticated
    assert world.client.get("/api/me", headers=headers).status_code == 200
