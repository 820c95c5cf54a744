"""The PRO-ACT importer: file discovery and naming variants (``files``), shared parsing rules (``common``),
one module per raw table (``patients``, ``visits``, ``biomarkers``) and the entry point (``load``)."""
