"""What every ``alsstrat`` command shares: the consoles, the exit codes and the mapping of errors to them.

Exit codes: 0 ok; 2 bad input (with a readable report naming table/file, row, column, rule and value);
1 internal error. Every command module imports this one and nothing of the other command modules, so each
imports on its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from features.errors import UserInputError

if TYPE_CHECKING:
    from pydantic import ValidationError

# soft_wrap: reports and paths are printed whole, never folded at the terminal width (they are grepped and pasted).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
REPORT_LINES = 200  # violations printed to the terminal; the count is always exact


class BadInput(UserInputError):
    """A user-facing input problem found by a command itself (bad option, unknown scenario...)."""


def validation_report(exc: ValidationError) -> str:
    """A configuration error in words: each setting's dotted name and what is wrong with it.

    pydantic's own text ends every problem with a documentation URL and quotes the input in its internal notation.
    """
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    lines = [f"error: {exc.title}: {len(problems)} invalid setting{'s' if len(problems) != 1 else ''}"]
    for problem in problems:
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = "unknown setting (check its spelling)" if problem["type"] == "extra_forbidden" else problem["msg"]
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Map errors to exit codes: data/config problems -> 2 with the report, anything else -> 1."""
    from pydantic import ValidationError

    from features.errors import FeatureDataError

    try:
        yield
    except FeatureDataError as exc:
        err_console.print(exc.report(limit=REPORT_LINES), markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except ValidationError as exc:
        err_console.print(validation_report(exc), markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (UserInputError, FileNotFoundError) as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a CLI
        logging.getLogger("alsstrat").debug("internal error", exc_info=True)
        err_console.print(f"internal error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERNAL) from None


