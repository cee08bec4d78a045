"""`manage.py resign_artifacts`: sign every stored model artifact with the current key.

After a rotation of ENMS_ARTIFACT_KEY, give the old key explicitly; once, after upgrading from a
release that stored only a SHA-256 beside each artifact, vouch for those checksums:

    OLD_KEY=... manage.py resign_artifacts --old-key-env OLD_KEY
    manage.py resign_artifacts --old-key-file /run/secrets/old_artifact_key
    manage.py resign_artifacts --from-checksums

An artifact is signed only if it verifies under the old key (or its stored SHA-256) and holds
nothing but the types the engine writes; one that already verifies under the current key is left
alone. Any artifact that could be neither is listed and the command fails, so a tampered row is
never signed by accident.
"""

import hashlib
import hmac
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from baselines.artifacts import artifact_signing_key, key_from_text
from baselines.engine.artifacts import ArtifactRefusedError, audit_artifact, sign_artifact, verify_signature
from baselines.models import EnergyBaseline


class Command(BaseCommand):
    help = "Re-sign stored model artifacts with the current ENMS_ARTIFACT_KEY (after a rotation or an upgrade)."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--old-key-env", metavar="VARIABLE",
                            help="name of the environment variable that holds the previous key")
        source.add_argument("--old-key-file", type=Path, help="file that holds the previous key")
        source.add_argument("--from-checksums", action="store_true",
                            help="sign unsigned artifacts whose bytes match their stored SHA-256 (upgrade)")
        parser.add_argument("--dry-run", action="store_true", help="report what would be signed, change nothing")
        parser.add_argument("--no-progress", action="store_true")

    def _old_key(self, options) -> bytes | None:
        if options["old_key_env"]:
            text = os.environ.get(options["old_key_env"], "")
            if not text.strip():
                raise CommandError(f"The environment variable {options['old_key_env']} is unset or empty.")
            return key_from_text(text)
        if options["old_key_file"]:
            try:
                return key_from_text(options["old_key_file"].read_text())
            except OSError as exc:
                raise CommandError(f"Cannot read the old key: {exc}") from None
        return None

    def handle(self, *args, **options):
        key = artifact_signing_key()
        old_key = self._old_key(options)
        if old_key is not None and hmac.compare_digest(old_key, key):
            raise CommandError("The old key is the current key: nothing to re-sign.")
        ids = list(EnergyBaseline.objects.exclude(artifact=None).order_by("pk").values_list("pk", flat=True))
        counts = {"signed": 0, "already": 0}
        refused: list[str] = []
        for pk in tqdm(ids, desc="artifacts", unit="version", disable=options["no_progress"]):
            with transaction.atomic():
                row = EnergyBaseline.objects.select_for_update().only(
                    "pk", "artifact", "artifact_sha256", "artifact_signature").get(pk=pk)
                data = bytes(row.artifact)
                try:
                    verify_signature(data, row.artifact_signature, key)
                    counts["already"] += 1
                    continue
                except ArtifactRefusedError:
                    pass
                try:
                    if old_key is not None:
                        verify_signature(data, row.artifact_signature, old_key)
                    elif row.artifact_signature or not hmac.compare_digest(
                            hashlib.sha256(data).hexdigest(), row.artifact_sha256.strip().lower()):
                        raise ArtifactRefusedError("signed with another key, or bytes differ from the stored SHA-256")
                    audit_artifact(data)
                except ArtifactRefusedError as exc:
                    refused.append(f"{pk}: {exc}")
                    continue
                if not options["dry_run"]:
                    EnergyBaseline.objects.filter(pk=pk).update(artifact_signature=sign_artifact(data, key))
                counts["signed"] += 1
        verb = "would sign" if options["dry_run"] else "signed"
        self.stdout.write(f"{verb} {counts['signed']}, already signed with the current key {counts['already']}, "
                          f"refused {len(refused)} (of {len(ids)} artifacts)")
        if refused:
            raise CommandError("Not signed (left unloadable):\n" + "\n".join(refused[:50]))
