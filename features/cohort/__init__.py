"""Cohort assembly: raw tables -> one row per patient at the landmark (``assemble``), outcome definitions
(``targets``) and the cohort table with its import report (``table``)."""
