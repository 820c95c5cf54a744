"""The reports' document model (sections of paragraphs, lists, tables and figures) and its Jinja templates.

A report module (the model card, the comparison report) decides *what* to say and builds a list of
:class:`Section`; the templates in ``templates/`` decide *how* it looks: one stylesheet (``report.css``, inlined so a
page stays self-contained), one set of HTML macros for the blocks (``blocks.html``), a page layout with a
Content-Security-Policy (``page.html``), and the Markdown layout of the model card. Numbers are formatted by the
filters of :mod:`training.reports.formatting`, never in the report modules, so every report prints a count, a metric
or an interval the same way.

Every table must have a title (shown as its caption), and every figure a caption in words: both are checked when
the block is built.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from training.reports.figures import PNG_SIGNATURE, png_data_uri
from training.reports.formatting import FILTERS


@dataclass(frozen=True)
class Para:
    """A paragraph. ``kind``: ``""`` plain, ``"strong"`` a standing statement, ``"note"`` a reading aid, ``"na"``
    something not available, ``"verdict"`` the summary of a report."""

    text: str
    kind: str = ""


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of sentences."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Subheading:
    """A heading inside a section."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table with a title; cells hold raw values, formatted by the templates (see ``formatting.cell``).

    Attributes
    ----------
    title : str
        Shown as the table's caption; must not be empty.
    header : tuple of str
    rows : tuple of tuple
    differs : tuple of bool, optional
        Rows to highlight (one flag per row).
    numeric : tuple of bool, optional
        Columns to right-align (one flag per column).
    """

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    differs: tuple[bool, ...] | None = None
    numeric: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError(f"a table needs a title (header {list(self.header)})")
        if self.differs is not None and len(self.differs) != len(self.rows):
            raise ValueError(f"table {self.title!r}: {len(self.differs)} highlight flags for {len(self.rows)} rows")


@dataclass(frozen=True)
class Figure:
    """An embedded PNG with a caption in words (a file name such as ``km_by_subtype.png`` is refused)."""

    caption: str
    png: bytes

    def __post_init__(self) -> None:
        if not self.png.startswith(PNG_SIGNATURE):
            raise ValueError(f"figure {self.caption!r} is not a PNG image")
        if not is_caption(self.caption):
            raise ValueError(f"figure caption {self.caption!r} must be words, not a file name")

    @property
    def uri(self) -> str:
        """The image as a ``data:`` URI."""
        return png_data_uri(self.png)


Block = Para | Bullets | Subheading | Table | Figure


@dataclass(frozen=True)
class Section:
    """A titled section; ``anchor`` is its HTML id."""

    title: str
    blocks: tuple[Block, ...]

    @property
    def anchor(self) -> str:
        """The section's id: its title in lower case, words joined by hyphens."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def is_caption(text: str) -> bool:
    """True when ``text`` reads as a caption: words with spaces, not a file name or an identifier."""
    stripped = text.strip()
    return (" " in stripped and not re.search(r"\.(png|jpe?g|svg|pdf|csv|json)$", stripped, re.I)
            and not re.fullmatch(r"[\w.-]+", stripped))


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], differs: Sequence[bool] | None = None,
          numeric: Sequence[bool] | None = None) -> Table:
    """Build a :class:`Table` from any sequences."""
    return Table(title, tuple(header), tuple(tuple(r) for r in rows), None if differs is None else tuple(differs),
                 None if numeric is None else tuple(numeric))


def kind(block: Block) -> str:
    """The block's kind as the templates test it (``para``, ``bullets``, ``subheading``, ``table``, ``figure``)."""
    return type(block).__name__.lower()


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment, built on first use (never at import).

    HTML templates are autoescaped; the Markdown template escapes with the ``md`` filter. Undefined names are
    errors, so a template slip fails loudly instead of printing an empty cell.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("training.reports", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    env.tests["kind"] = lambda block, name: kind(block) == name
    return env


def render(template: str, **context: Any) -> str:
    """Render one template of ``templates/`` with ``context``."""
    return environment().get_template(template).render(**context)
