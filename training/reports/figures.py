"""The one figure helper of the reports: make a matplotlib figure, and encode it as PNG bytes or an inline image.

Every figure gets its own Agg canvas inside :func:`new_figure`. Nothing touches pyplot's global state or the
process-wide backend, so importing this module has no side effects, figures are never leaked into a global registry,
and reports can be built from a headless job, a server or a test.
"""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The first bytes of every PNG file."""


def new_figure(width: float = 6.0, height: float = 5.0) -> Figure:
    """A blank figure with its own Agg canvas and constrained layout.

    Parameters
    ----------
    width, height : float, default 6.0 and 5.0
        Size in inches.

    Returns
    -------
    Figure
        A figure with no axes, ready for ``add_subplot`` or ``subplots``.
    """
    # Agg is chosen here, per figure, rather than with matplotlib.use() at import: the backend is then a property of
    # each figure we create and never of the process that imports us (a notebook or server keeps its own backend).
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, *, dpi: int = 120) -> bytes:
    """Render a figure to PNG bytes (for an MLflow artifact or a report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    """A ``data:`` URI embedding PNG bytes, so a report shows the image without loading anything.

    Raises
    ------
    ValueError
        If ``png`` is not a PNG image.
    """
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG image")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
