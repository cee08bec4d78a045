"""Every default beat schedule says what it does (shown in the admin)."""

from django.db import migrations

DESCRIPTIONS = {
    "Evaluate active models (hourly)": "Scores every active model on the readings that arrived since its last "
    "evaluation (R², RMSE, CV(RMSE), NMBE, ASHRAE 14) and raises or recovers degradation alerts.",
    "Drift check of active models (daily)": "Checks every active energy baseline's latest 7 days for data and "
    "concept drift; stores the verdict, raises, updates or recovers drift alerts.",
    "Scheduled retraining (weekly)": "Queues a retraining of every active model on its latest readings; the "
    "candidate is promoted only when it beats the active version (promotion policy).",
    "Complete due A/B tests": "Decides running A/B tests whose planned end has passed and promotes the winner "
    "when the test says so.",
    "Training sweep: publish lost jobs, reap dead workers": "Re-publishes training jobs the broker lost and "
    "requeues or fails jobs whose worker stopped sending heartbeats.",
    "Notification sweep": "Sends alert notifications (e-mail, webhook) that could not be sent when raised.",
    "Readings partitions ahead and retention (daily)": "PostgreSQL: creates the readings' monthly partitions "
    "ahead, moves stray rows out of the default partition, and rolls up then drops (or detaches) months past "
    "the retention setting.",
    "Forecast degradation of active models (daily)": "Forecasts every active energy baseline over the policy "
    "horizon from driver forecasts (or the same days of earlier years) and warns when a breach is expected.",
    "Model registry sweep: send pending changes and new evaluations to MLflow": "Sends pending registry changes "
    "(versions, aliases) and new evaluations to MLflow; does nothing without MLFLOW_TRACKING_URI.",
}


def describe(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, text in DESCRIPTIONS.items():
        PeriodicTask.objects.filter(name=name, description="").update(description=text)


class Migration(migrations.Migration):
    dependencies = [
        ("performance", "0009_model_registry"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(describe, migrations.RunPython.noop)]
