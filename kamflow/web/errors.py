"""Errors as JSON: `{"error": "one line", "field": "the field it is about, or null"}`.

| raised | status |
|---|---|
| a request that does not validate (FastAPI) | 422, naming the first bad field |
| `ApiError(status, message, field)` | as given |
| kamflow `NotFound` (also what the policy raises for hidden objects) | 404 |
| policy `Forbidden` | 403 |
| `Refused`, `TaskRefused`, `IllegalTransition`, a unique-key race | 409 |
| `ValueError` whose message starts with `field: ` / `PlaybookError` | 422 |
| any other `ValueError` | 400 |
| no playbooks loaded, database unreachable | 503 |
| anything else: a bug | 500, logged with its traceback |

Messages from the CLI's use cases name options (`--until: ...`); here they name the field
(`until: ...`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from kamflow.access import Forbidden
from kamflow.engine.errors import EngineError
from kamflow.errors import Conflict, DatabaseDown, NoPlaybooks, NotFound, Refused
from kamflow.people import LoginFailed, RateLimited
from kamflow.playbooks.errors import PlaybookError
from kamflow.tasks.status import TaskRefused

log = logging.getLogger("kamflow.web")

_OPTION = re.compile(r"^--([a-z][a-z-]*): ")
_FIELD = re.compile(r"^([a-z][a-z_.]*): ")
_RENAMED = {"field": "fields"}  # --field KEY=VALUE is the API's `fields`


class ErrorOut(BaseModel):
    error: str
    field: str | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# What every API route may answer besides its success: put in the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _doc("Bad request"),
    401: _doc("Not logged in, or a revoked or unknown token"),
    403: _doc("Not allowed (or a CSRF token is missing)"),
    404: _doc("Unknown, or not visible to the caller"),
    409: _doc("Refused: the action would break a rule; nothing was changed"),
    422: _doc("Invalid input; `field` names it"),
}


def error_json(status: int, message: str, field: str | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def from_message(status: int, message: str) -> JSONResponse:
    """A kamflow error message: its leading `--option:` or `field:` becomes `field`."""
    m = _OPTION.match(message)
    if m:
        field = _RENAMED.get(m.group(1), m.group(1).replace("-", "_"))
        return error_json(status, f"{field}: {message[m.end():]}", field)
    m = _FIELD.match(message)
    return error_json(status, message, m.group(1) if m else None)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_json(422, "invalid request")
    first = errors[0]
    loc = [str(x) for x in first.get("loc", ())]
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "body")
    if first.get("type") == "json_invalid":
        field = "body"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return error_json(422, f"{field}: {msg}", field)


def _api(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status, exc.message, exc.field, exc.headers)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    field = "body" if exc.status_code == 400 else None  # FastAPI: a body it cannot parse
    return error_json(exc.status_code, str(exc.detail), field, dict(exc.headers or {}) or None)


def _value(request: Request, exc: Exception) -> JSONResponse:
    message = str(exc)
    named = _OPTION.match(message) or _FIELD.match(message)
    return from_message(422 if named else 400, message)


def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_json(500, "internal error: it was logged")


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    handlers: list[tuple[type[Exception], Any]] = [
        (RequestValidationError, _validation),
        (ApiError, _api),
        (HTTPException, _http),
        (NotFound, lambda r, e: from_message(404, str(e))),
        (Forbidden, lambda r, e: error_json(403, str(e))),
        (LoginFailed, lambda r, e: error_json(401, str(e))),
        (RateLimited, lambda r, e: error_json(429, str(e), None,
                                              {"Retry-After": str(e.retry_after)})),
        (Refused, lambda r, e: from_message(409, str(e))),
        (TaskRefused, lambda r, e: from_message(409, str(e))),
        (EngineError, lambda r, e: error_json(409, str(e), "state")),
        (Conflict, lambda r, e: error_json(409, "a conflicting change was made at the "
                                                      "same time; nothing was changed")),
        (PlaybookError, lambda r, e: error_json(422, str(e).splitlines()[0])),
        (ValueError, _value),
        (NoPlaybooks, lambda r, e: error_json(503, str(e))),
        (DatabaseDown, lambda r, e: error_json(503, "the database is unavailable")),
        (Exception, _bug),
    ]
    for cls, handler in handlers:
        app.add_exception_handler(cls, handler)
