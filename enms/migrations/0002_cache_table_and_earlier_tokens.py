# The database cache table (the shared throttle counters when there is no Redis), and the keys of
# `rest_framework.authtoken`, which this app's tokens replace: each becomes an ApiToken under its
# SHA-256, valid for API_TOKEN_TTL_DAYS from the migration, so clients keep working until they rotate.

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations
from django.utils import timezone

CACHE_TABLE = "enms_cache"


def create_cache_table(apps, schema_editor):
    # Django's own DDL for a database cache table (what `createcachetable` runs), whichever cache
    # the settings name today, so switching REDIS_URL off later needs no extra step.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


def copy_earlier_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("enms", "ApiToken")
    expires = timezone.now() + timedelta(days=getattr(settings, "API_TOKEN_TTL_DAYS", 90))
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id FROM authtoken_token")
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create([
        ApiToken(digest=hashlib.sha256(key.encode()).hexdigest(), prefix=key[:8], user_id=user_id,
                 name="migrated DRF token", expires_at=expires)
        for key, user_id in rows
    ], ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("enms", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, drop_cache_table),
        migrations.RunPython(copy_earlier_tokens, migrations.RunPython.noop),
    ]
