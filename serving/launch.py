"""Start the HTTP service: resolve and pin the model, then run ``bentoml serve`` as a supervised child process.

``alsstrat serve`` is the command line over this module. The model URI is pinned to the version it names at
start-up, so every worker (including one restarted later) serves the version reported.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from features.errors import UserInputError

SERVICE = "serving.service:ALSStratifier"


def repo_root() -> Path:
    """The folder holding the ``serving`` package: ``bentoml serve`` imports the service from there."""
    import serving

    return Path(serving.__file__).resolve().parents[1]


def resolve_served_model(uri: str) -> tuple[str, str | None, str | None, str]:
    """(name, version, run id, pinned URI) of the model ``uri`` names right now.

    A registry alias is pinned to the version it points at, so every worker (including one restarted later)
    loads the same version, the one reported at start-up.
    """
    from serving.loader import BENTO_PREFIX

    if uri.startswith(BENTO_PREFIX):
        import bentoml

        try:
            model = bentoml.models.get(uri.removeprefix(BENTO_PREFIX))
        except bentoml.exceptions.NotFound as exc:
            raise UserInputError(f"{uri}: {exc}") from None
        meta = model.info.metadata
        version = str(meta["registry_version"]) if meta.get("registry_version") is not None else None
        run_id = str(meta["run_id"]) if meta.get("run_id") else None
        from features.spec import spec_hash

        trained = str(meta.get("spec_hash") or "")
        if trained and trained != spec_hash():
            raise UserInputError(f"{uri} was trained with feature spec {trained}, but this code has spec "
                                 f"{spec_hash()}: retrain, or serve it with the code version it was trained with")
        return str(meta.get("registry_name", model.tag.name)), version, run_id, f"{BENTO_PREFIX}{model.tag}"
    from mlflow.exceptions import MlflowException

    from features.model.pyfunc import IncompatibleModelError, resolve_version
    from features.project import configure_tracking
    from serving.bento import check_run_spec

    tracking = configure_tracking()
    try:
        name, version, run_id = resolve_version(uri)
    except MlflowException as exc:
        raise UserInputError(f"cannot resolve {uri} in the model registry at {tracking}: {exc.message}") from None
    if name is None or version is None:
        return uri, None, None, uri  # runs:/ or a path: served as given (the workers check the spec)
    try:
        # Here, not only in the workers: a worker that refuses the model would leave a server that never gets ready.
        check_run_spec(run_id, uri)
    except IncompatibleModelError as exc:
        raise UserInputError(str(exc)) from None
    return name, version, run_id, f"models:/{name}/{version}"


def probe_served_model(pinned: str) -> None:
    """Load the model the workers will load and score one probe candidate with it, in this process, first.

    A model that cannot be loaded (a truncated or deleted artifact) or cannot score would otherwise crash every
    worker at start, over and over, behind a server that never becomes ready, after ``alsstrat serve`` had already
    reported what it serves.

    Raises
    ------
    UserInputError
        Naming the URI and the cause (exception type and message).
    """
    from serving.loader import check_model_scores, load_for_serving

    try:
        check_model_scores(load_for_serving(pinned))
    except Exception as exc:  # noqa: BLE001 - whatever breaks the load breaks every worker the same way
        raise UserInputError(f"cannot serve {pinned}: the model does not load and score here "
                             f"({type(exc).__name__}: {exc})") from None


def serve_command(*, host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line ``alsstrat serve`` runs."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port),
            "--working-dir", str(repo_root())]


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    """Poll ``/readyz`` until it answers 200, the server exits, or ``timeout`` seconds pass."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def run_server(cmd: list[str], env: dict[str, str], url: str, ready_timeout: float,
               on_ready: Callable[[], None] | None = None) -> int:
    """Run the server as a child in our process group, pass SIGINT/SIGTERM on as SIGTERM, return its exit code.

    Same process group on purpose: a supervisor that signals the group (Ctrl-C, ``kill -- -PGID``) reaches the
    server and its workers even if this process is killed outright; a signal sent to this process alone is passed
    on, so the server never outlives ``alsstrat serve``.
    """
    proc = subprocess.Popen(cmd, env=env, cwd=str(repo_root()))

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if _wait_ready(proc, url, ready_timeout):
            if on_ready is not None:
                on_ready()
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:  # an exception in this process must not leave the server running
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def served_landmark(run_id: str | None) -> str:
    """The landmark the served model was trained at (its run's ``landmark`` tag), for the service's request schema.

    Runs logged before landmarks existed carry no tag; they are refused by their spec hash anyway, so the default
    only names the schema such a refusal is reported against.
    """
    from features import spec as S

    if not run_id:
        return S.DEFAULT_LANDMARK
    import mlflow

    tag = mlflow.MlflowClient().get_run(run_id).data.tags.get("landmark")
    return tag if tag in S.LANDMARKS else S.DEFAULT_LANDMARK
