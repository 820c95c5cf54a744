"""Compatibility shim: models registered before alsstrat 0.2 name ``features.pyfunc`` (pickled class paths, or the
models-from-code entry point). The code lives in :mod:`features.model.pyfunc`; keep this file while such models
exist."""

from features.model.pyfunc import *  # noqa: F403
