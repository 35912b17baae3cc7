"""/api/people: list, create, deactivate (handing everything over) and set passwords (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from kamflow import access, people, queue
from kamflow.errors import NotFound, Refused
from kamflow.web.deps import ActingMoment, User, WebContext, context
from kamflow.web.schemas.base import Email
from kamflow.web.schemas.people import DeactivatedOut, DeactivateIn, PasswordIn, PersonIn, PersonOut

router = APIRouter(prefix="/people", tags=["people"])
Ctx = Annotated[WebContext, Depends(context)]
PersonEmail = Annotated[Email, Path(max_length=254)]


def admin(user: User) -> User:
    access.may_manage_people(user)
    return user


Admin = Annotated[User, Depends(admin)]


def _one(ctx: WebContext, email: str) -> dict[str, Any]:
    with ctx.db.connect() as conn:
        found = [p for p in people.list_people(conn) if p["email"] == email]
    if not found:
        raise NotFound(f"unknown person '{email}'")
    return found[0]


@router.get("", response_model=list[PersonOut])
def list_people(ctx: Ctx, user: Admin) -> list[dict[str, Any]]:
    with ctx.db.connect() as conn:
        return people.list_people(conn)


@router.post("", response_model=PersonOut, status_code=201)
def create_person(ctx: Ctx, user: Admin, body: PersonIn, clock: ActingMoment) -> dict[str, Any]:
    """A new person, with a password to log in with (or none)."""
    people.create_person(ctx.db, body.email, body.name, body.department, body.role,
                       body.password, clock, user.email)
    return _one(ctx, body.email)


@router.post("/{email}/deactivate", response_model=DeactivatedOut)
def deactivate(ctx: Ctx, user: Admin, email: PersonEmail, body: DeactivateIn,
               clock: ActingMoment) -> dict[str, Any]:
    """Hand the person's accounts and open tasks over, in one transaction; then deactivate."""
    if email == user.email:
        raise Refused("you cannot deactivate yourself")
    n = queue.deactivate(ctx.db, email, body.to, body.to_department, user.email, clock)
    return {"email": email, **n}


@router.post("/{email}/password", response_model=PersonOut)
def set_password(ctx: Ctx, user: Admin, email: PersonEmail, body: PasswordIn,
                 clock: ActingMoment) -> dict[str, Any]:
    """Give the person a new password; their sessions made with the old one end."""
    people.set_password(ctx.db, email, body.password, clock, user.email)
    return _one(ctx, email)
