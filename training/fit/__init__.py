"""Model fitting: subtypes (``subtype``), progression boosters (``progression``), baselines (``baselines``) and the
training job that fits, evaluates, logs and registers one bundle (``train``)."""
