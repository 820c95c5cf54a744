"""MLflow "models from code" entry point: the logged model's code is this file, not a pickled object.

MLflow executes it when loading the model; it only names the wrapper class. The fitted bundle itself is the
joblib artifact that :class:`features.model.pyfunc.StratifierPyfunc` loads.
"""

import mlflow

from features.model.pyfunc import StratifierPyfunc

mlflow.models.set_model(StratifierPyfunc())
