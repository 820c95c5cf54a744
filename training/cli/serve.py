"""``alsstrat score`` (offline batch scoring) and ``alsstrat serve`` (the HTTP service).

Thin: ``score`` calls :mod:`serving.batch` and ``serve`` calls :mod:`serving.launch`; this module only parses
options, prints and maps errors to exit codes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from features.project import CHAMPION_URI
from training.cli.common import EXIT_BAD_INPUT, BadInput, cli_errors, console, err_console

PROGRESS_MIN_ROWS = 20_000  # smaller files finish before a bar would be useful
SERVICE_NAME = "als_stratifier"  # the BentoML service's name (serving/service.py), the key of its config options


def score(
    input: Annotated[Path, typer.Option(help="Candidates as CSV or Parquet (one row per candidate; header = "
                                             "candidate field names, optional candidate_id), or a cohort table "
                                             "(patient_id is the id; outcome columns are ignored).")],
    out: Annotated[Path, typer.Option(help="Scores CSV to write (one row per input row, in order).")],
    model_uri: Annotated[str, typer.Option(help="Model to use (registry alias or version, or runs:/...).")]
    = CHAMPION_URI,
) -> None:
    """Score candidates offline with the same per-row error semantics as the HTTP service.

    Exit 0 once the file is scored, even if some rows were rejected (their count is printed); exit 2 when the
    input cannot be read, has an unknown format, or every row was rejected (the output is still written).
    """
    with cli_errors():
        if out.suffix.lower() != ".csv":
            raise BadInput(f"--out must end in .csv, got {out.name!r}")
        from serving.batch import column_notes, column_warnings, load_model, read_candidates, score_rows

        columns, rows = read_candidates(input)
        for note in column_notes(columns):
            err_console.print(f"note: {note}", markup=False, highlight=False)
        for note in column_warnings(columns):
            err_console.print(f"warning: {note}", markup=False, highlight=False)
        checked = _champion_as_recorded(model_uri)
        loaded = load_model(model_uri)
        _still_champion(checked, loaded.version)
        from training.cli.progress import progress_callback

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
        if len(result) and rejected == len(result):
            # Nothing was scored: a wrong file or header, not a few bad rows; a pipeline must not carry on.
            err_console.print(f"error: every one of the {rejected} rows was rejected; nothing was scored",
                              markup=False, highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT)


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
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes, each with its own copy of "
                                                                    "the model (default: the service's 2).")]
    = None,
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
        if workers is not None:
            # BentoML's own override of the service decorator's workers=2 (the way a Bento is sized too).
            option = f"services.{SERVICE_NAME}.workers={workers}"
            env["BENTOML_CONFIG_OPTIONS"] = f"{env.get('BENTOML_CONFIG_OPTIONS', '')} {option}".strip()
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
        from serving.launch import probe_served_model, resolve_served_model, run_server, serve_command, served_landmark

        checked = _champion_as_recorded(settings.model_uri)
        name, version, run_id, pinned = resolve_served_model(settings.model_uri)
        _still_champion(checked, version)
        probe_served_model(pinned)  # fail here, with the cause, rather than behind a server that never gets ready
        env["ALSSTRAT_LANDMARK"] = served_landmark(run_id)
        env["ALSSTRAT_MODEL_URI"] = pinned
        url = f"http://{host}:{port}"
        what = f"{name} version {version} (run {run_id})" if version else name
        how_many = f" with {workers} worker{'s' if workers != 1 else ''}" if workers is not None else ""
        console.print(f"serving {what} from {settings.model_uri} on {url}{how_many}", markup=False,
                      highlight=False)
        def on_ready() -> None:
            console.print(f"ready: {url} serves {what}; POST /score, POST /score_batch, GET /model "
                          f"(Authorization: Bearer <token>); OpenAPI at {url}/docs.json", markup=False,
                          highlight=False)

        code = run_server(serve_command(host=host, port=port), env, url, ready_timeout, on_ready)
        if code:
            raise typer.Exit(code)


def _champion_as_recorded(uri: str) -> str | None:
    """For a champion URI, the version the alias points at once checked against the promotion history.

    Exit 2 (with both versions and the command that records the change) when the alias was moved outside
    ``alsstrat promote``: serving or scoring with an unrecorded champion is what the history exists to prevent.
    None for any other URI (an explicit version or run is the caller's own choice).
    """
    from features.project import configure_tracking
    from training.registry.promotion import PromotionRefused, champion_model_name, check_champion

    name = champion_model_name(uri)
    if name is None:
        return None
    configure_tracking()
    try:
        return check_champion(name).alias
    except PromotionRefused as exc:
        raise BadInput(f"refusing {uri}: {exc}") from None


def _still_champion(checked: str | None, loaded: str | None) -> None:
    """The alias must not have moved between the check and loading (a promotion may run meanwhile)."""
    if checked is not None and loaded is not None and str(loaded) != checked:
        raise BadInput(f"the champion moved from version {checked} to {loaded} while starting; run the command "
                       "again")
