"""Stage 1 and the model's inputs: the feature spec (single source of truth), raw-table contracts, sources and
importers, the simulator, cohort assembly, and the fitted model (derived features, bundle, MLflow wrapper).

Imports neither training nor serving (checked by make lint)."""
