"""Shared test fixtures: seeded randomness only, and paths to the shared data when present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.servers import ServedModel, live, served_model, store_env

# The session-wide trained model, shared by every test module that needs one, and a server serving it.
__all__ = ["live", "served_model"]

REPO = Path(__file__).resolve().parents[1]
DREAM_DIR = REPO.parent / "shared" / "data" / "dream2012"


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test (never the global numpy state)."""
    return np.random.default_rng(20261126)


@pytest.fixture(scope="session")
def dream_dir() -> Path:
    """The DREAM-2012 data folder (shared beside the checkout); tests that need it skip when it is absent."""
    if not (DREAM_DIR / "als_dream2012.csv.gz").is_file():
        pytest.skip(f"DREAM-2012 data not found at {DREAM_DIR}")
    return DREAM_DIR


@pytest.fixture(scope="module")
def private_store(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A private project home for one test module: its own mlruns/mlflow.db, never the developer's store."""
    from tests.stores import private_home

    with private_home(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])) as path:
        yield path


@pytest.fixture(scope="module")
def store(served_model: ServedModel) -> Iterator[ServedModel]:
    """The session-wide model's store as this module's environment (MLflow and the project home point at it)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in store_env(served_model).items():
            mp.setenv(key, value)
        yield served_model
