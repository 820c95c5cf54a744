"""Compatibility shim: models registered before alsstrat 0.2 name ``features.derive`` (pickled class paths, or the
models-from-code entry point). The code lives in :mod:`features.model.derive`; keep this file while such models
exist."""

from features.model.derive import *  # noqa: F403
