"""The model registry: promotion with its append-only history (``promotion``) and the non-inferiority gate
(``gate``)."""
