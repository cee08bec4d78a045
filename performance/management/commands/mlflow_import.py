"""manage.py mlflow_import <model URI> --machine <id or name> [--model-type energy_baseline]"""

from django.core.management.base import BaseCommand, CommandError

from baselines.models import Machine, ModelType
from performance.services.registry_import import ImportRefused, registry_import


class Command(BaseCommand):
    help = ("Register a model version from MLflow as a candidate version of a machine. Accepted only if its "
            "artifacts are one skops pipeline whose every type is on the engine's allow-list (no pickle, no "
            "pyfunc code); it is signed with ENMS_ARTIFACT_KEY on import.")

    def add_arguments(self, parser):
        parser.add_argument("uri", help="models:/<name>/<version>, models:/<name>@<alias> or runs:/<run id>/<path>")
        parser.add_argument("--machine", required=True, help="machine id or name")
        parser.add_argument("--model-type", default=ModelType.ENERGY_BASELINE, choices=ModelType.values)

    def handle(self, *args, **options):
        key = options["machine"].strip()
        machine = Machine.objects.filter(name__iexact=key).first()
        if machine is None:
            try:
                machine = Machine.objects.filter(pk=key).first()
            except Exception:  # not a UUID
                machine = None
        if machine is None:
            raise CommandError(f"No machine with id or name {key!r}.")
        try:
            baseline = registry_import(uri=options["uri"], machine=machine, model_type=options["model_type"])
        except ImportRefused as exc:
            raise CommandError(f"Refused, nothing was imported: {exc}") from None
        self.stdout.write(f"Imported {options['uri']} as {machine.name} {baseline.model_type} v{baseline.version} "
                          f"(candidate, id {baseline.pk}).")
