"""Default beat schedules, stored with django-celery-beat so staff can edit them in the admin."""

from django.db import migrations

SCHEDULES = [
    # name, task, kind, spec
    ("Evaluate active models (hourly)", "performance.evaluation_cycle", "crontab", {"minute": "5"}),
    ("Drift check of active models (daily)", "performance.drift_cycle", "crontab", {"minute": "20", "hour": "2"}),
    ("Scheduled retraining (weekly)", "performance.scheduled_retrain_all", "crontab",
     {"minute": "0", "hour": "3", "day_of_week": "0"}),
    ("Complete due A/B tests", "performance.abtests_complete_due", "interval", {"every": 5, "period": "minutes"}),
    ("Training sweep: publish lost jobs, reap dead workers", "performance.training_sweep", "interval",
     {"every": 1, "period": "minutes"}),
    ("Notification sweep", "performance.notifications_sweep", "interval", {"every": 5, "period": "minutes"}),
]


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, task, kind, spec in SCHEDULES:
        if kind == "interval":
            schedule, _ = IntervalSchedule.objects.get_or_create(**spec)
            extra = {"interval": schedule}
        else:
            fields = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
                      "timezone": "UTC", **spec}
            schedule, _ = CrontabSchedule.objects.get_or_create(**fields)
            extra = {"crontab": schedule}
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, **extra})


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("performance", "0002_views"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
