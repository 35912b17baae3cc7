"""The web app's cryptography, with no web framework and no database: password hashing
(argon2, the only module that imports argon2-cffi), random tokens kept as sha256, signed
session cookies, the CSRF comparison, and spreadsheet-safe CSV cells.

Session cookies are signed here with HMAC-SHA256 rather than with itsdangerous, because
their age is measured on kamflow's clock: nothing reads the wall clock except the clock
object (DESIGN.md), and a replayed or fixed clock must see sessions as a person would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 10
MAX_PASSWORD = 256
TOKEN_PREFIX = "kft_"  # API tokens: easy to recognise in a leaked file

_hasher = PasswordHasher()  # argon2id with RFC 9106's low-memory parameters
_dummy: str | None = None


def set_cost(time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Change argon2's parameters for new hashes (tests make them cheap); a stored hash
    keeps its own, and a login with an outdated one stores a new hash."""
    global _hasher, _dummy
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                             parallelism=parallelism)
    _dummy = None


def cost() -> tuple[int, int, int]:
    """argon2's parameters for new hashes: time cost, memory (KiB), parallelism."""
    return _hasher.time_cost, _hasher.memory_cost, _hasher.parallelism


def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that both cases take the same time."""
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash("kamflow: no such person")
    return _dummy


def check_password_rules(password: str) -> None:
    """Raise ValueError when a new password is too short or too long."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"password: at most {MAX_PASSWORD} characters")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches the argon2 hash; a missing hash never matches."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def new_secret(prefix: str = "") -> str:
    """A random, URL-safe secret with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps of a token: its sha256, hex (64 characters)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time equality of two strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def fingerprint(password_hash: str | None) -> str:
    """A short digest of the password hash, put in the session: a new password ends the
    sessions made with the old one."""
    return digest(password_hash or "")[:16]


@dataclass(frozen=True)
class Session:
    """What a session cookie says: who, the CSRF token bound to it, when it was issued."""

    email: str
    csrf: str
    password: str  # fingerprint() of the password hash at login
    issued: datetime
    sid: str = ""  # the server-side session's secret (kamflow.store.sessions)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(key: bytes, session: Session) -> str:
    body = _b64(json.dumps({"e": session.email, "c": session.csrf, "p": session.password,
                            "t": session.issued.isoformat(), "s": session.sid},
                           separators=(",", ":")).encode())
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read_session(key: bytes, cookie: str, now: datetime, max_age_seconds: float) -> Session | None:
    """The session in a cookie, or None when it is forged, malformed or expired."""
    body, dot, mac = cookie.partition(".")
    if not dot or len(cookie) > 4096:
        return None
    try:
        expected = _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
        if not same(expected, mac):
            return None
        data = json.loads(_unb64(body))
        session = Session(str(data["e"]), str(data["c"]), str(data["p"]),
                          datetime.fromisoformat(str(data["t"])), str(data.get("s", "")))
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None
    age = (now - session.issued).total_seconds()
    if age < -300 or age > max_age_seconds:  # five minutes of clock skew between processes
        return None
    return session


# -- CSV cells a spreadsheet will not run -------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never runs: text starting with = + - @, a
    tab or a carriage return gets a leading single quote (OWASP's advice). Numbers stay
    numbers: int and float values pass unchanged, and so does text that is nothing but a
    number ("-12.5", "+3", "1e6"): a negative amount is data, and no formula is only a
    number. A lone "-" (the placeholder for "none") stays too."""
    if not isinstance(value, str) or len(value) < 2 or not value.startswith(FORMULA_START):
        return value  # a lone "-" (no class, no value) cannot hold a formula
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def csv_row(values: list[object] | tuple[object, ...]) -> list[object]:
    return [csv_cell(v) for v in values]
