"""Model registry integration (MLflow): an outbox of changes, drained by a Celery task.

`models` holds the outbox and the per-version links, `client` the only code that talks to MLflow
(imported lazily: the product runs without the optional `mlflow-skinny` package), `content` the
parameters, metrics and model card logged for a version.
"""
