"""The fitted model that training produces and serving runs: derived features (``derive``, ``nfl_reference``),
the bundle (``bundle``) with its compiled small-batch forest (``forest``), and the MLflow pyfunc wrapper and loader
(``pyfunc``, ``pyfunc_entry``)."""
