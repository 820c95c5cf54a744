"""Append-only audit log: one JSON line per scoring request, no candidate data.

A line holds: time, request id, endpoint, token fingerprint (never the token), model name/version/run id, rows
scored, rows rejected, latency, and a salted hash of each client-supplied ``candidate_id`` (never the id itself).

Several workers append to the same file. Each line goes to the file in one ``write`` on a descriptor opened with
``O_APPEND``, so lines never interleave and a worker killed mid-request leaves whole lines only. When the file
passes its size limit, the worker that notices renames it to ``<name>.<UTC time>.jsonl`` under an exclusive lock
and keeps the newest ``backups`` of those; the other workers see the new file's inode on their next line and
reopen it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_BACKUPS = 20


class AuditLog:
    """Appends JSON lines to ``path`` (created with mode 0600 under a 0700 folder), rotating it by size.

    Parameters
    ----------
    path : Path
        The live log file.
    salt : str, optional
        Salt for the token fingerprints and id hashes; default: ``.audit-salt`` beside the log, created once.
    max_bytes : int
        Size past which the file is rotated.
    backups : int
        Rotated files kept (older ones are deleted).
    """

    def __init__(self, path: Path, salt: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.salt = (salt.encode() if salt else self._load_or_create_salt(path.parent / ".audit-salt"))
        self._lock = threading.Lock()
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    @staticmethod
    def _load_or_create_salt(path: Path) -> bytes:
        # A persistent salt keeps hashes comparable across restarts while unknown to readers of the log alone.
        if path.is_file():
            return path.read_bytes()
        salt = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker created it first: use theirs
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(salt)
        return salt

    def hash_id(self, value: str) -> str:
        return hashlib.sha256(self.salt + b"id:" + value.encode()).hexdigest()[:16]

    def record(self, **fields: Any) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            self._follow_rotation()
            if os.fstat(self._fd).st_size + len(line) > self.max_bytes:
                self._rotate()
            written = os.write(self._fd, line)
            while written < len(line):  # a short write to a regular file is rare (disk full); finish the line
                written += os.write(self._fd, line[written:])

    def _follow_rotation(self) -> None:
        """Reopen when another worker has rotated the file away from under this descriptor."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = -1
        if current != os.fstat(self._fd).st_ino:
            os.close(self._fd)
            self._fd = self._open()

    def _rotate(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock_fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            stat = os.stat(self.path) if self.path.exists() else None
            # Under the lock, check again: another worker may have rotated it while this one waited.
            if stat is not None and stat.st_ino == os.fstat(self._fd).st_ino and stat.st_size > 0:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
                os.rename(self.path, self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}"))
                for old in self.rotated()[:-self.backups or None]:
                    old.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = self._open()
        finally:
            os.close(lock_fd)  # releases the lock

    def rotated(self) -> list[Path]:
        """The rotated files of this log, oldest first."""
        return sorted(self.path.parent.glob(f"{self.path.stem}.*{self.path.suffix}"))

    def close(self) -> None:
        with self._lock:  # never close under a writer
            os.close(self._fd)
