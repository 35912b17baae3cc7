"""The admin page of playbook versions: the loaded versions, a folder uploaded (its files,
or a zip) and validated with the CLI's loader (the same `file:line` errors, nothing
stored), its diff against the active version, and activating it (or going back to a
version loaded before). The use case is kamflow.admin_playbooks.

The reviewed files travel back with the activation form (a hidden field): nothing is kept
between the two posts, and the activation validates them again and refuses when the active
version changed since the comparison.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from kamflow import activation, admin_playbooks
from kamflow.access import ADMIN
from kamflow.admin_playbooks import Comparison
from kamflow.people import Principal
from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.loader import PlaybookSet
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import Viewer, action, page, render
from kamflow.web.pages_admin import admin_only, admin_page, moved, on_refusal, texts

router = APIRouter(prefix="/admin/playbooks")
T = TypeVar("T")
Version = Annotated[str, Path(max_length=64)]  # unknown: a 404 page, after the policy
FORM_LIMITS = {"max_files": admin_playbooks.MAX_FILES + 2,
               "max_part_size": 2 * admin_playbooks.MAX_BYTES}  # the reviewed files, as JSON


def versions_page(request: Request, user: Principal, status: int = 200,
                  **values: Any) -> HTMLResponse:
    listing = activation.listing(context(request).db)
    return render(request, "admin_playbooks.html", user, status, tab="playbooks",
                  versions=listing["versions"], active=listing["active"], **values)


def review_page(request: Request, user: Principal, book: PlaybookSet, origin: str,
                uploaded: bool) -> HTMLResponse:
    """A version against the active one, with the form that activates it."""
    diff: Comparison = admin_playbooks.compare(context(request).db, book)
    sources = json.dumps(dict(book.sources), sort_keys=True) if uploaded else ""
    return render(request, "admin_playbook_review.html", user, tab="playbooks", diff=diff,
                  origin=origin, sources=sources, book=book,
                  steps=sum(len(p.steps) for p in book.states.values()))


def _checked(make: Callable[[], T]) -> T:
    """The loader's problems (every one, by file and line) as a 422 the page shows."""
    try:
        return make()
    except PlaybookError as e:
        raise ApiError(422, str(e)) from e


@router.get("", response_class=HTMLResponse)
def versions(request: Request, viewer: Viewer) -> Response:
    """Every playbook version, the active one marked; the form to upload another."""
    return admin_page(request, viewer, versions_page)


@router.post("", response_class=HTMLResponse)
async def upload(request: Request, viewer: Viewer) -> Response:
    """Validate an uploaded folder (files or a zip) and compare it with the active version;
    nothing is stored."""
    admin = viewer is not None and viewer.role == ADMIN
    form = await (request.form(**FORM_LIMITS) if admin else request.form())
    zipped = form.get("zip")
    files: list[tuple[str, bytes]] = []
    archive: tuple[str, bytes] | None = None
    if admin and isinstance(zipped, UploadFile) and zipped.filename:
        archive = (zipped.filename, await zipped.read(admin_playbooks.MAX_BYTES + 1))
    elif admin:
        files = [(f.filename, await f.read(admin_playbooks.MAX_BYTES + 1))
                 for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    await form.close()  # the spooled files; the fields stay readable

    def work(user: Principal) -> Response:
        admin_only(user)
        if archive is not None and len(archive[1]) > admin_playbooks.MAX_BYTES:
            raise ValueError(f"zip: at most {admin_playbooks.MAX_BYTES // 2**20} MB")
        found = (admin_playbooks.from_zip(*archive) if archive is not None
                 else admin_playbooks.from_files(files))
        book = _checked(lambda: admin_playbooks.validate(found))
        return review_page(request, user, book, found.origin, uploaded=True)

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: versions_page(
            request, user, status, error=message)))


@router.get("/{version}", response_class=HTMLResponse)
def review(request: Request, viewer: Viewer, version: Version) -> Response:
    """A version loaded before, against the active one: to go back to it."""

    def build(user: Principal) -> Response:
        admin_only(user)
        book = admin_playbooks.stored(context(request).db, version)
        return review_page(request, user, book, f"version {version}", uploaded=False)

    return page(request, viewer, build)


@router.post("/activate", response_class=HTMLResponse)
async def activate(request: Request, viewer: Viewer) -> Response:
    """Make the reviewed files (or a version loaded before) the active version."""
    admin = viewer is not None and viewer.role == ADMIN
    typed = texts(await (request.form(**FORM_LIMITS) if admin else request.form()))

    def work(user: Principal) -> Response:
        admin_only(user)
        ctx = context(request)
        if typed.get("version"):
            book = admin_playbooks.stored(ctx.db, typed["version"])
            sources, origin = dict(book.sources), f"version {book.version}"
        else:
            try:
                sources = json.loads(typed.get("sources", ""))
            except ValueError:
                raise ValueError("sources: the reviewed files did not come back; upload "
                                 "again") from None
            if not isinstance(sources, dict):
                raise ValueError("sources: the reviewed files did not come back; upload again")
            origin = typed.get("origin", "")[:200] or "upload"
        act = _checked(lambda: admin_playbooks.activate(
            ctx.db, sources, origin, typed.get("base") or None, user.email, ctx.clock))
        said = (f"Version {act.version} is now active." if act.changed
                else f"Version {act.version} was already active.")
        return moved(versions_page(request, user, message=said), "/admin/playbooks")

    return await action(request, viewer, work, on_refusal(
        request, viewer, lambda user, status, message: versions_page(
            request, user, status, error=message)))
