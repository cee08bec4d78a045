"""`manage.py seed_demo`: load the deterministic demo plant (idempotent).

Machines and readings come from `baselines.demo`; the command lives in `performance` because it
also trains each machine's first versions and backfills their performance history.
"""

from __future__ import annotations

import pandas as pd
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from baselines.demo import PLANT, machine_readings
from baselines.models import EnergyReading, Machine


class Command(BaseCommand):
    help = "Create the demo plant: machines and hourly readings with labelled events. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=200, help="days of hourly readings (default 200)")
        parser.add_argument(
            "--end", default=None,
            help="last day (YYYY-MM-DD, UTC) of the readings; default: today. Existing machines keep theirs.",
        )
        parser.add_argument("--machines", type=int, default=len(PLANT), help="how many demo machines")
        parser.add_argument("--train-days", type=int, default=120,
                            help="days at the start used to train each machine's first baseline (default 120)")
        parser.add_argument("--no-train", action="store_true", help="load readings only")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, days: int, end: str | None, machines: int, no_progress: bool, train_days: int,
               no_train: bool, **options):
        if days < 30:
            raise CommandError("--days must be at least 30")
        if not 7 <= train_days < days:
            raise CommandError("--train-days must be at least 7 and less than --days")
        if not 1 <= machines <= len(PLANT):
            raise CommandError(f"--machines must be between 1 and {len(PLANT)}")
        try:
            end_day = pd.Timestamp(end, tz="UTC") if end else pd.Timestamp(timezone.now()).normalize()
        except ValueError as exc:
            raise CommandError(f"--end: {exc}") from exc
        start = end_day - pd.Timedelta(days=days)

        created_rows = 0
        specs = PLANT[:machines]
        with tqdm(specs, desc="demo plant", unit="machine", disable=no_progress) as bar:
            for spec in bar:
                bar.set_postfix_str(spec.name)
                created_rows += self._seed_machine(spec, start, days)
        trained = history = 0
        if not no_train:
            with tqdm(specs, desc="first baselines + history", unit="machine", disable=no_progress) as bar:
                for spec in bar:
                    bar.set_postfix_str(spec.name)
                    t, h = self._train_machine(spec, train_days)
                    trained += t
                    history += h
        self.stdout.write(self.style.SUCCESS(
            f"Demo plant ready: {len(specs)} machines, {created_rows} new readings, {trained} models trained, "
            f"{history} history rows."
        ))

    @staticmethod
    def _train_machine(spec, train_days: int) -> tuple[int, int]:
        """Train and activate the machine's first versions on its first `train_days` days, then
        replay daily evaluations and drift checks over the rest, so trends have data."""
        from baselines.models import EnergyBaseline
        from baselines.services import baseline_activate, baseline_train

        from ...services.backfill import metrics_backfill

        machine = Machine.objects.get(name=spec.name)
        if EnergyBaseline.objects.filter(machine=machine).exists():
            return 0, 0  # already trained: a re-run changes nothing
        first = machine.readings.order_by("timestamp").values_list("timestamp", flat=True).first()
        last = machine.readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
        train_end = first + pd.Timedelta(days=train_days).to_pytimedelta()
        models = []
        baseline = baseline_train(machine=machine, training_start=first, training_end=train_end,
                                  notes="demo plant: first baseline")
        models.append(baseline_activate(baseline=baseline))
        if "anomalies" in spec.events:
            detector = baseline_train(machine=machine, model_type="anomaly_detector", training_start=first,
                                      training_end=train_end, notes="demo plant: first anomaly detector")
            models.append(baseline_activate(baseline=detector))
        rows = 0
        for model in models:
            rows += metrics_backfill(model=model, start=train_end, end=last + pd.Timedelta(hours=1).to_pytimedelta())
        return len(models), rows

    @staticmethod
    def _seed_machine(spec, start: pd.Timestamp, days: int) -> int:
        with transaction.atomic():
            machine, _ = Machine.objects.get_or_create(
                name=spec.name,
                defaults={"machine_type": spec.machine_type, "site": spec.site, "rated_power_kw": spec.rated_power_kw,
                          "time_zone": spec.time_zone},
            )
            if machine.readings.exists():
                return 0  # already seeded: a re-run changes nothing
            frame = machine_readings(spec, start, days)
            rows = [
                EnergyReading(
                    machine=machine,
                    timestamp=ts.to_pydatetime(),
                    energy_kwh=float(e),
                    production_units=None if pd.isna(p) else float(p),
                    outdoor_temp_c=float(t),
                    operating_hours=float(h),
                    is_anomaly=bool(a),
                )
                for ts, e, p, t, h, a in frame[
                    ["timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "operating_hours", "is_anomaly"]
                ].itertuples(index=False, name=None)
            ]
            EnergyReading.objects.bulk_create(rows, batch_size=5000)
            return len(rows)
