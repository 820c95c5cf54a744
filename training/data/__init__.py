"""Training data: loading a cohort from any source (``load``), patient-level splits (``splits``) and rebuilding a
saved run's evaluation data and model (``runs``)."""
