"""Bearer-token authentication: constant-time comparison against every configured token."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(token: str | None, allowed: Sequence[str]) -> bool:
    """True if ``token`` equals one of ``allowed``; compares against all of them so timing reveals nothing."""
    if token is None:
        return False
    supplied = token.encode()
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(supplied, candidate.encode())
    return found


def fingerprint(token: str | None, salt: bytes) -> str | None:
    """A short salted digest that identifies a caller in the audit log without revealing the token."""
    if token is None:
        return None
    return hashlib.sha256(salt + b"token:" + token.encode()).hexdigest()[:16]
