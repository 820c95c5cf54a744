"""``alsstrat score`` (offline batch scoring) and ``alsstrat serve`` (the HTTP service).

``score`` applies the HTTP service's per-row rules to a file: every input row gives exactly one output row, in
order; a row that fails validation gets ``error_field``/``error_message`` and empty predictions, and never stops
the others. ``serve`` runs ``bentoml serve serving.service:ALSStratifier`` with the model pinned to the version
the URI names at start-up, after checking the configuration the service would refuse anyway (tokens).
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from training.cli import BadInput, cli_errors, console, err_console

if TYPE_CHECKING:
    import pandas as pd

    from features.bundle import StratifierModel

DEFAULT_MODEL_URI = "models:/als-stratifier@champion"
SERVICE = "serving.service:ALSStratifier"
CHUNK_ROWS = 5_000  # rows validated and scored per step: bounds memory and paces the progress bar
PROGRESS_MIN_ROWS = 20_000  # smaller files finish before a bar would be useful
ERROR_COLUMNS = ("error_field", "error_message")
# A CSV number as people and spreadsheets write it; "nan", "inf", "1,5" or "12 mg" are not numbers.
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_BOOLEANS = {"true": True, "false": False}


# ---------------------------------------------------------------------------------------------------------- reading
def read_candidates(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a candidates file into one dict per row, keyed by column name, ready for per-row validation.

    CSV cells are text: an empty cell is "not measured" (None); a numeric field must hold a plain decimal number
    and a boolean field ``true``/``false`` (any case). A cell that does not parse is passed on unchanged, so that
    validation rejects that row naming the field and the value, exactly as the HTTP service would. Parquet keeps
    its column types; a null or NaN cell is "not measured".

    Parameters
    ----------
    path : Path
        ``.csv`` (UTF-8, header row) or ``.parquet``.

    Returns
    -------
    (columns, rows)
        The file's column names, and one dict per input row in file order. A known field whose cell is empty is
        left out of its row; an unknown column is always present, so that each row reports it.

    Raises
    ------
    BadInput
        Unknown format, or a file that cannot be read as that format.
    FileNotFoundError
        The file does not exist.
    """
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz"):
            # Everything as text and no NA guessing: "NA" or "nan" must not silently become "not measured".
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
            return [str(c).strip() for c in frame.columns], [_csv_row(r) for r in frame.to_dict(orient="records")]
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
            return [str(c) for c in frame.columns], [_typed_row(r) for r in frame.to_dict(orient="records")]
    except pd.errors.EmptyDataError:
        raise BadInput(f"{path} is empty (expected a header row naming the candidate fields)") from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise BadInput(f"cannot read {path} as {suffix.lstrip('.')}: {exc}") from None
    raise BadInput(f"unknown input format {path.suffix or '(no suffix)'!r} for {path}: use .csv or .parquet")


@functools.cache
def _field_kinds() -> dict[str, str]:
    from features import spec as S

    return {f.name: f.kind for f in S.BASELINE_FIELDS}


def _csv_row(raw: Mapping[Any, Any]) -> dict[str, Any]:
    kinds = _field_kinds()
    row: dict[str, Any] = {}
    for key, cell in raw.items():
        text = str(cell).strip()
        name = str(key).strip()
        if text == "":
            # Not measured: a known field is left out (a required one is then reported as missing); an unknown
            # column stays, so that every row reports it whatever its cells hold.
            if name not in kinds:
                row[name] = None
        elif kinds.get(name) == "numeric" and _NUMBER.match(text):
            row[name] = float(text)
        elif kinds.get(name) == "boolean" and text.lower() in _BOOLEANS:
            row[name] = _BOOLEANS[text.lower()]
        else:
            row[name] = text
    return row


def _typed_row(raw: Mapping[Any, Any]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from features.candidates import CANDIDATE_ID

    kinds = _field_kinds()
    row: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key)
        if isinstance(value, np.generic):
            value = value.item()  # numpy scalars -> Python, so strict validation sees float/int/bool/str
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
            if name not in kinds:  # as for CSV: a missing known field is left out, an unknown column stays
                row[name] = None
            continue
        if name == CANDIDATE_ID and not isinstance(value, str):
            value = str(value)  # a numeric id column is still just a reference
        row[name] = value
    return row


# ---------------------------------------------------------------------------------------------------------- scoring
def prediction_columns(model: StratifierModel) -> list[str]:
    """The prediction columns :meth:`StratifierModel.predict_frame` writes, in its order."""
    from features.bundle import SURVIVAL_HORIZONS_MONTHS

    return ["subtype_label", "subtype_name",
            *[f"subtype_probability_{s.label}" for s in model.subtype.subtypes],
            "slope_median", "slope_p10", "slope_p90",
            *[f"survival_probability_{t}m" for t in SURVIVAL_HORIZONS_MONTHS],
            "median_survival_months", "risk_group", "explanation", "model_version"]


def score_rows(model: StratifierModel, rows: Sequence[Any], *, advance: Any = None) -> pd.DataFrame:
    """Validate and score every row: one output row per input row, in order, errors per row.

    Parameters
    ----------
    model : StratifierModel
        The loaded stratifier.
    rows : sequence
        Candidate rows (dicts of baseline fields, optionally ``candidate_id``), as the HTTP service takes them.
    advance : callable, optional
        Called with the number of rows finished after each chunk (progress bars).

    Returns
    -------
    DataFrame
        ``input_row`` (1-based), ``candidate_id``, ``error_field``, ``error_message`` and the prediction columns
        (see :func:`prediction_columns`); prediction cells are empty on error rows.
    """
    import pandas as pd

    from features import spec as S
    from features.candidates import CANDIDATE_ID, validate_candidates

    columns = prediction_columns(model)
    parts: list[pd.DataFrame] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        head = pd.DataFrame({"input_row": range(start + 1, start + len(chunk) + 1)})
        head[CANDIDATE_ID] = [r.get(CANDIDATE_ID) if isinstance(r, Mapping) else None for r in chunk]
        batch = validate_candidates(chunk)
        errors = [(batch.errors[i].field, batch.errors[i].message) if i in batch.errors else (None, None)
                  for i in range(len(chunk))]
        valid, positions = batch.values, batch.positions
        head["error_field"] = pd.Series([e[0] for e in errors], dtype="string")
        head["error_message"] = pd.Series([e[1] for e in errors], dtype="string")
        predictions = pd.DataFrame(index=range(len(chunk)), columns=columns)
        if valid:
            scored = model.predict_frame(pd.DataFrame.from_records(valid, columns=list(S.BASELINE_NAMES)))
            scored.index = pd.Index(positions)
            predictions = scored[columns].reindex(range(len(chunk)))
        parts.append(pd.concat([head, predictions], axis=1))
        if advance is not None:
            advance(len(chunk))
    if not parts:
        return pd.DataFrame(columns=["input_row", CANDIDATE_ID, *ERROR_COLUMNS, *columns])
    out = pd.concat(parts, ignore_index=True)
    for name in ("subtype_label", "risk_group"):
        out[name] = out[name].astype("Int64")  # integers with empty cells, not 1.0 / NaN
    return out


def _column_warnings(columns: Sequence[str]) -> list[str]:
    """File-level hints for problems that reject every row (so the user fixes the header, not 10,000 rows)."""
    from features import spec as S
    from features.candidates import CANDIDATE_ID

    present = set(columns)
    notes = []
    missing = [c for c in S.REQUIRED_FOR_SCORING if c not in present]
    if missing:
        notes.append(f"required column(s) missing from the file, so every row is rejected: {', '.join(missing)}")
    unknown = sorted(present - set(S.BASELINE_NAMES) - {CANDIDATE_ID})
    if unknown:
        notes.append(f"column(s) that are not candidate fields, so every row is rejected: {', '.join(unknown)} "
                     f"(rename an identifier column to {CANDIDATE_ID}; drop the others)")
    return notes


def score(
    input: Annotated[Path, typer.Option(help="Candidates as CSV or Parquet (one row per candidate; header = "
                                             "candidate field names, optional candidate_id).")],
    out: Annotated[Path, typer.Option(help="Scores CSV to write (one row per input row, in order).")],
    model_uri: Annotated[str, typer.Option(help="Model to use (registry alias or version, or runs:/...).")]
    = DEFAULT_MODEL_URI,
) -> None:
    """Score candidates offline with the same per-row error semantics as the HTTP service.

    Exit 0 once the file is scored, even if some rows were rejected (their count is printed); exit 2 when the
    input cannot be read or has an unknown format.
    """
    with cli_errors():
        if out.suffix.lower() != ".csv":
            raise BadInput(f"--out must end in .csv, got {out.name!r}")
        columns, rows = read_candidates(input)
        for note in _column_warnings(columns):
            err_console.print(f"warning: {note}", markup=False, highlight=False)
        loaded = _load_model(model_uri)
        from training.progress import progress_callback

        with progress_callback(err_console, f"scoring {len(rows)} candidates", total=len(rows),
                               enabled=len(rows) >= PROGRESS_MIN_ROWS) as advance:
            result = score_rows(loaded.model, rows, advance=advance)
        from features.atomic import atomic_write

        # a failed run never leaves half a scores file
        atomic_write(out, result.to_csv, index=False)
        rejected = int(result["error_field"].notna().sum())
        console.print(f"scored {len(result)} rows with {loaded.name or 'model'} version "
                      f"{loaded.version or loaded.model.model_version} (run {loaded.run_id}): "
                      f"{len(result) - rejected} predicted, {rejected} rejected -> {out}", markup=False,
                      highlight=False)
        if rejected:
            counts = result["error_field"].value_counts()
            top = ", ".join(f"{field} {n}" for field, n in counts.head(10).items())
            console.print(f"rejected rows by field: {top} (see error_field / error_message in {out})",
                          markup=False, highlight=False)


def _load_model(uri: str) -> Any:
    from mlflow.exceptions import MlflowException

    from features.pyfunc import IncompatibleModelError, load_stratifier

    try:
        return load_stratifier(uri)
    except (MlflowException, OSError, IncompatibleModelError) as exc:
        raise BadInput(f"cannot load model {uri}: {exc}") from None


# ----------------------------------------------------------------------------------------------------------- serving
def _repo_root() -> Path:
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
            raise BadInput(f"{uri}: {exc}") from None
        meta = model.info.metadata
        version = str(meta["registry_version"]) if meta.get("registry_version") is not None else None
        run_id = str(meta["run_id"]) if meta.get("run_id") else None
        from features.spec import spec_hash

        trained = str(meta.get("spec_hash") or "")
        if trained and trained != spec_hash():
            raise BadInput(f"{uri} was trained with feature spec {trained}, but this code has spec {spec_hash()}: "
                           f"retrain, or serve it with the code version it was trained with")
        return str(meta.get("registry_name", model.tag.name)), version, run_id, f"{BENTO_PREFIX}{model.tag}"
    from mlflow.exceptions import MlflowException

    from features.pyfunc import IncompatibleModelError, resolve_version
    from features.store import configure_tracking
    from training.bento import check_run_spec

    tracking = configure_tracking()
    try:
        name, version, run_id = resolve_version(uri)
    except MlflowException as exc:
        raise BadInput(f"cannot resolve {uri} in the model registry at {tracking}: {exc.message}") from None
    if name is None or version is None:
        return uri, None, None, uri  # runs:/ or a path: served as given (the workers check the spec)
    try:
        # Here, not only in the workers: a worker that refuses the model would leave a server that never gets ready.
        check_run_spec(run_id, uri)
    except IncompatibleModelError as exc:
        raise BadInput(str(exc)) from None
    return name, version, run_id, f"models:/{name}/{version}"


def serve_command(*, host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line ``alsstrat serve`` runs."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port),
            "--working-dir", str(_repo_root())]


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


def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    model_uri: Annotated[str | None, typer.Option(help="Model to serve (default: $ALSSTRAT_MODEL_URI, else the "
                                                       "champion alias); bento:<tag> for the BentoML store.")]
    = None,
    insecure_demo: Annotated[bool, typer.Option("--insecure-demo", help="Accept every caller without a token "
                                                "(local demos only; logged loudly).")] = False,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for the ready line before giving up "
                                                      "on printing it (the server keeps running).")] = 300.0,
) -> None:
    """Serve the champion model over HTTP (BentoML) until interrupted.

    Needs API tokens in ALSSTRAT_API_TOKENS or ALSSTRAT_API_TOKEN_FILE; without them it refuses to start
    (exit 2) unless --insecure-demo is given. Prints the model version it serves.
    """
    with cli_errors():
        from serving.config import ServiceConfigError, ServiceSettings, worker_environment

        env = worker_environment(dict(os.environ))
        if model_uri:
            env["ALSSTRAT_MODEL_URI"] = model_uri
        if insecure_demo:
            env["ALSSTRAT_INSECURE_DEMO"] = "1"
        try:
            settings = ServiceSettings.from_env(env)
        except ServiceConfigError as exc:
            raise BadInput(f"refusing to start: {exc}") from None
        if insecure_demo and not settings.insecure_demo:
            err_console.print("note: API tokens are configured, so --insecure-demo is ignored and every call "
                              "needs a token", markup=False, highlight=False)
        if settings.insecure_demo:
            err_console.print("[bold red]*** INSECURE DEMO MODE: no API tokens, every caller is accepted. "
                              "Never use this with real candidates. ***[/bold red]")
        name, version, run_id, pinned = resolve_served_model(settings.model_uri)
        env["ALSSTRAT_MODEL_URI"] = pinned
        url = f"http://{host}:{port}"
        what = f"{name} version {version} (run {run_id})" if version else name
        console.print(f"serving {what} from {settings.model_uri} on {url}", markup=False, highlight=False)
        code = _run_server(serve_command(host=host, port=port), env, url, what, ready_timeout)
        if code:
            raise typer.Exit(code)


def _run_server(cmd: list[str], env: dict[str, str], url: str, what: str, ready_timeout: float) -> int:
    """Run the server as a child in our process group, pass SIGINT/SIGTERM on as SIGTERM, return its exit code.

    Same process group on purpose: a supervisor that signals the group (Ctrl-C, ``kill -- -PGID``) reaches the
    server and its workers even if this process is killed outright; a signal sent to this process alone is passed
    on, so the server never outlives ``alsstrat serve``.
    """
    proc = subprocess.Popen(cmd, env=env, cwd=str(_repo_root()))

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if _wait_ready(proc, url, ready_timeout):
            console.print(f"ready: {url} serves {what}; POST /score, POST /score_batch, GET /model "
                          f"(Authorization: Bearer <token>); OpenAPI at {url}/docs.json", markup=False,
                          highlight=False)
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
