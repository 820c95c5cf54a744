"""``make demo``: the main job end to end on the embedded synthetic cohort, through the real CLI commands.

simulate -> validate -> cohort -> train -> promote. Each step is the same command a user would type.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

console = Console(soft_wrap=True)


def _run(args: list[str]) -> None:
    from training.cli import app

    console.print(Rule(f"alsstrat {' '.join(args)}", style="cyan"))
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit inside standalone_mode=False surfaces as an exit code
        if exc.code not in (0, None):
            raise
    except Exception as exc:
        code = getattr(exc, "exit_code", 1)
        if code:
            console.print(f"[red]step failed: alsstrat {' '.join(args)} (exit {code})[/red]")
            sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--n-patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    ns = parser.parse_args(argv)
    raw, cohort = ns.out / "raw", ns.out / "cohort.parquet"
    _run(["simulate", "--n-patients", str(ns.n_patients), "--seed", str(ns.seed), "--out", str(raw)])
    _run(["validate", "--input", str(raw)])
    _run(["cohort", "--source", "synthetic", "--input", str(raw), "--out", str(cohort)])
    _run(["train", "--source", "synthetic", "--input", str(raw)])

    from training.registry import current_champion
    from training.tracking import configure_tracking

    uri = configure_tracking()
    import mlflow

    latest = max(int(v.version) for v in mlflow.MlflowClient().search_model_versions("name='als-stratifier'"))
    if current_champion("als-stratifier") is None:
        _run(["promote", str(latest), "--approver", "demo", "--reason", "first model trained by make demo"])
    else:
        console.print(f"champion already set; version {latest} stays a challenger "
                      f"(promote it with: alsstrat promote {latest} --approver NAME --reason TEXT)")
    console.print(Rule("where things are", style="cyan"))
    console.print(json.dumps({
        "raw tables": str(raw), "cohort table": str(cohort), "tracking store": uri,
        "MLflow UI": f".venv/bin/mlflow ui --backend-store-uri {uri}",
        "model card": "MLflow run artifacts: model_card.md / model_card.html",
    }, indent=2))


if __name__ == "__main__":
    main()
