"""/api/playbooks: the loaded versions, the active one's states and steps, the diagram."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from kamflow import activation
from kamflow.web.deps import User, WebContext, context
from kamflow.web.schemas.tasks import ActivePlaybookOut, PlaybooksOut

router = APIRouter(prefix="/playbooks", tags=["playbooks"])
Ctx = Annotated[WebContext, Depends(context)]


@router.get("", response_model=PlaybooksOut)
def versions(ctx: Ctx, user: User) -> dict[str, Any]:
    """Every loaded version, newest activation first."""
    return activation.listing(ctx.db)


@router.get("/active", response_model=ActivePlaybookOut)
def active(ctx: Ctx, user: User) -> dict[str, Any]:
    """The lifecycle and, per state, the steps with cadence, deadline, classes and RACI."""
    book = activation.active_book(ctx.db)
    life = book.lifecycle
    states = []
    for key, state in life.states.items():
        pb = book.states.get(key)
        steps = []
        for s in pb.steps if pb else ():
            data = s.model_dump(mode="json")
            data["raci"] = {letter: list(s.parties(letter)) for letter in "RACI"}
            steps.append(data)
        states.append({"key": key, "title": state.title, "description": state.description,
                       "purpose": pb.purpose if pb else "", "steps": steps})
    rules = [{"rule": t.rule, "from": list(t.source), "to": t.dest, "priority": t.priority,
              "when": t.when, "manual": t.manual, "description": t.description}
             for t in life.transitions]
    return {"version": book.version, "initial": life.initial, "states": states,
            "transitions": rules}


@router.get("/diagram", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "A Mermaid state diagram"}})
def diagram(ctx: Ctx, user: User) -> str:
    """The lifecycle as a Mermaid state diagram (text/plain)."""
    return activation.diagram(activation.active_book(ctx.db)) + "\n"
