"""Files that appear whole or not at all: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(target: Path, write: Callable[..., object], **kwargs: Any) -> None:
    """Call ``write(tmp_path, **kwargs)`` and move the result onto ``target`` (same folder, so the rename is atomic).

    A failed or interrupted write leaves ``target`` as it was and removes the temporary file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp, **kwargs)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
