"""The opaque `cursor` of a keyset page: the sort it was made for and the last row's sort key.

One codec for every paged list (tasks, accounts), so that a cursor is refused in the same words
wherever it is misused; each list then checks the keys' kinds against its own sort.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Sequence
from typing import Any

NOT_OURS = "cursor: not a cursor of this list (start again without it)"


def encoded(sort: str, keys: Sequence[Any]) -> str:
    raw = json.dumps([sort, list(keys)], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decoded(cursor: str, sort: str, sorts: Collection[str], width: int) -> list[Any]:
    """The `width` keys a cursor carries, unchecked in kind; ValueError naming `cursor` when it
    is not one, was made for another sort, or carries another number of keys."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, keys = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise ValueError(NOT_OURS) from None
    if made_for != sort:
        raise ValueError(f"cursor: it belongs to sort={made_for}, not sort={sort}"
                         if isinstance(made_for, str) and made_for in sorts else NOT_OURS)
    if not isinstance(keys, list) or len(keys) != width:
        raise ValueError(NOT_OURS)
    return keys
