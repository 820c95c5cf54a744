"""Append-only audit log: one JSON line per scoring request, no candidate data.

A line holds: time, request id, endpoint, token fingerprint (never the token), model name/version/run id, rows
scored, rows rejected, latency, and a salted hash of each client-supplied ``candidate_id`` (never the id itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AuditLog:
    """Appends JSON lines to ``path`` (created with mode 0600 under a 0700 folder)."""

    def __init__(self, path: Path, salt: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.salt = (salt.encode() if salt else self._load_or_create_salt(path.parent / ".audit-salt"))
        self._lock = threading.Lock()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    @staticmethod
    def _load_or_create_salt(path: Path) -> bytes:
        # A persistent salt keeps hashes comparable across restarts while unknown to readers of the log alone.
        if path.is_file():
            return path.read_bytes()
        salt = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(salt)
        return salt

    def hash_id(self, value: str) -> str:
        return hashlib.sha256(self.salt + b"id:" + value.encode()).hexdigest()[:16]

    def record(self, **fields: Any) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:  # never close under a writer
            self._file.close()
