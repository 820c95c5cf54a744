"""Compatibility shim: models registered before alsstrat 0.2 name ``features.bundle`` (pickled class paths, or the
models-from-code entry point). The code lives in :mod:`features.model.bundle`; keep this file while such models
exist."""

from features.model.bundle import *  # noqa: F403
