"""Fitting, evaluating and recording models: configs, data loading and splits (``data``), model fitting and the
training job (``fit``), metrics and bootstrap (``evaluation``), MLflow tracking, promotion (``registry``), run
comparison and history (``audit``), reports and model cards (``reports``), external benchmarks
(``benchmarks``) and the command line (``cli``, the only room that wires ``training`` to ``serving``)."""
