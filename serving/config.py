"""Service settings, read once from the environment when the service starts (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from features.project import CHAMPION_URI
from serving.audit import DEFAULT_BACKUPS as DEFAULT_AUDIT_BACKUPS
from serving.audit import DEFAULT_MAX_BYTES as DEFAULT_AUDIT_MAX_BYTES

DEFAULT_MODEL_URI = CHAMPION_URI
DEFAULT_PREDICT_THREADS = 2

WORKER_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}
"""Set for every serving process unless the operator set it. XGBoost's OpenMP threads otherwise spin while
they wait for work. With two workers on two cores, the spinning threads took the CPU the other worker needed:
four concurrent 1,000-row batches gave 14,800 rows/s with spinning and 27,200 with passive waiting. It must be
in the environment before the worker process loads the OpenMP runtime, which is why it is set by whatever starts
the server (``alsstrat serve``, the Bento's ``envs``), not by the service code."""


def worker_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus :data:`WORKER_ENVIRONMENT` for any key the operator did not set."""
    return {**WORKER_ENVIRONMENT, **env}


def state_dir(env: dict[str, str]) -> Path:
    """Where the service keeps what it writes (the audit log and its salt): never inside the code checkout.

    ``ALSSTRAT_STATE_DIR`` if set, else ``$XDG_STATE_HOME/alsstrat``, else ``~/.local/state/alsstrat``. The old
    default, ``logs/`` in the project home, put audit records where ``git add`` could pick them up.
    """
    if env.get("ALSSTRAT_STATE_DIR"):
        return Path(env["ALSSTRAT_STATE_DIR"])
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return base / "alsstrat"


class ServiceConfigError(RuntimeError):
    """The service cannot start with this configuration (the message says what to set)."""


@dataclass(frozen=True)
class ServiceSettings:
    """Where the model comes from, who may call, limits, and where the audit log goes.

    Environment variables: ``ALSSTRAT_MODEL_URI``; ``ALSSTRAT_API_TOKENS`` (comma-separated) and/or
    ``ALSSTRAT_API_TOKEN_FILE`` (one token per line); ``ALSSTRAT_INSECURE_DEMO=1`` to run without tokens (demo only,
    logged loudly); ``ALSSTRAT_MAX_BATCH`` (rows per /score_batch, default 10,000); ``ALSSTRAT_MAX_BODY_BYTES``
    (default 32 MiB); ``ALSSTRAT_STATE_DIR`` (where the service keeps its state, see :func:`state_dir`);
    ``ALSSTRAT_AUDIT_LOG`` (JSON-lines file, default ``<state dir>/audit.jsonl``), rotated past
    ``ALSSTRAT_AUDIT_MAX_BYTES`` (default 64 MiB) keeping ``ALSSTRAT_AUDIT_BACKUPS`` files (default 20);
    ``ALSSTRAT_AUDIT_SALT``; ``ALSSTRAT_PREDICT_THREADS``
    (XGBoost threads per worker for batches above the small-batch size; default 2, at most the CPU count);
    ``ALSSTRAT_METRICS_NEED_TOKEN=1`` to serve ``/metrics`` to token holders only (default: open).
    """

    model_uri: str
    tokens: tuple[str, ...]
    insecure_demo: bool
    max_batch: int
    max_body_bytes: int
    audit_log: Path
    audit_salt: str | None
    predict_threads: int
    metrics_need_token: bool = False
    audit_max_bytes: int = DEFAULT_AUDIT_MAX_BYTES
    audit_backups: int = DEFAULT_AUDIT_BACKUPS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceSettings:
        env = dict(os.environ if env is None else env)
        tokens = [t.strip() for t in env.get("ALSSTRAT_API_TOKENS", "").split(",") if t.strip()]
        token_file = env.get("ALSSTRAT_API_TOKEN_FILE")
        if token_file:
            path = Path(token_file)
            if not path.is_file():
                raise ServiceConfigError(f"ALSSTRAT_API_TOKEN_FILE points to a missing file: {path}")
            # A comment is a line whose first non-blank character is "#": an indented "# revoked: <token>" must
            # not become a valid token.
            tokens += [line.strip() for line in path.read_text().splitlines()
                       if line.strip() and not line.strip().startswith("#")]
        insecure = _flag(env, "ALSSTRAT_INSECURE_DEMO")
        if not tokens and not insecure:
            raise ServiceConfigError(
                "no API tokens configured: set ALSSTRAT_API_TOKENS or ALSSTRAT_API_TOKEN_FILE "
                "(or ALSSTRAT_INSECURE_DEMO=1 for a local demo without authentication)")
        short = [t for t in tokens if len(t) < 16]
        if short:
            raise ServiceConfigError(f"{len(short)} API token(s) shorter than 16 characters; use long random tokens")
        return cls(
            model_uri=env.get("ALSSTRAT_MODEL_URI", DEFAULT_MODEL_URI),
            tokens=tuple(tokens),
            insecure_demo=insecure and not tokens,
            max_batch=_positive_int(env, "ALSSTRAT_MAX_BATCH", 10_000),
            max_body_bytes=_positive_int(env, "ALSSTRAT_MAX_BODY_BYTES", 32 * 1024 * 1024),
            audit_log=Path(env.get("ALSSTRAT_AUDIT_LOG") or state_dir(env) / "audit.jsonl"),
            audit_max_bytes=_positive_int(env, "ALSSTRAT_AUDIT_MAX_BYTES", DEFAULT_AUDIT_MAX_BYTES),
            audit_backups=_positive_int(env, "ALSSTRAT_AUDIT_BACKUPS", DEFAULT_AUDIT_BACKUPS),
            audit_salt=env.get("ALSSTRAT_AUDIT_SALT"),
            metrics_need_token=_flag(env, "ALSSTRAT_METRICS_NEED_TOKEN"),
            predict_threads=min(_positive_int(env, "ALSSTRAT_PREDICT_THREADS", DEFAULT_PREDICT_THREADS),
                                os.cpu_count() or 1),
        )


def _flag(env: dict[str, str], key: str) -> bool:
    return env.get(key, "").strip().lower() in ("1", "true", "yes")


def _positive_int(env: dict[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServiceConfigError(f"{key} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ServiceConfigError(f"{key} must be >= 1, got {value}")
    return value
