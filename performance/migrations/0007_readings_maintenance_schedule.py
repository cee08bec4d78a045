"""The daily beat job that keeps the readings partitions ahead and applies the retention."""

from django.db import migrations

NAME = "Readings partitions ahead and retention (daily)"


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    schedule, _ = CrontabSchedule.objects.get_or_create(minute="10", hour="1", day_of_week="*", day_of_month="*",
                                                        month_of_year="*", timezone="UTC")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": "baselines.readings_maintain",
                                                            "crontab": schedule})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("performance", "0006_cycle_runs_and_unique_scheduled_metrics"),
        ("baselines", "0005_partition_readings_by_month"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
