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
}


def describe(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, text in DESCRIPTIONS.items():
        PeriodicTask.objects.filter(name=name, description="").update(description=text)


class Migration(migrations.Migration):
    dependencies = [
        ("performance", "0005_alert_evidence_and_new_choices"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(describe, migrations.RunPython.noop)]
