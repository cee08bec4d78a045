"""The beat's heartbeat task (every minute), which `/healthz` reads to tell whether beat runs."""

from django.db import migrations

NAME = "Beat heartbeat (read by /healthz)"


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={
        "task": "enms.beat_tick", "interval": schedule,
        "description": "Records the time of each beat tick; /healthz reports the beat as degraded when the "
                       "last tick is older than twice this interval."})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("enms", "0002_cache_table_and_earlier_tokens"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
