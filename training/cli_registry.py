"""``alsstrat promote``: move the champion alias (with the promotion gate) and record it."""

from __future__ import annotations

from typing import Annotated

import typer

from training.cli import BadInput, cli_errors, console


def promote(
    version: Annotated[str, typer.Argument(help="Registered version of the model to make champion.")],
    approver: Annotated[str, typer.Option(help="Who approves this promotion.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the promotion history).")],
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model name.")] = "als-stratifier",
) -> None:
    """Move the champion alias to VERSION and append the move to the promotion history."""
    with cli_errors():
        from training.registry import PromotionRefused, promote as do_promote
        from training.tracking import configure_tracking

        configure_tracking()
        try:
            record = do_promote(model_name, version, approver=approver, reason=reason)
        except PromotionRefused as exc:
            raise BadInput(str(exc)) from None
        console.print(f"{model_name} version {record.version} is now champion "
                      f"(previous: {record.previous_champion or 'none'}); approved by {record.approver}.")


