"""Model registry sync benchmark: how fast the outbox drain gets N new versions into a real MLflow
server, beside the MLflow client doing the same requests by hand in the same run.

    python bench/registry.py [--versions 20] [--repeat 3] [--json out.json]

Setup: a local `mlflow server` from the peer virtualenv (`make mlflow-peer`, SQLite backend, local
artifacts, loopback) and a scratch PostgreSQL database `enms_bench_registry`. One real pipeline is
fitted; N versions of N machines share its signed artifact (about 30 kB), each with an outbox row
`trained`.

Rows timed (median over --repeat rounds, each round on fresh machines):

- **drain, N new versions**: `registry_drain()` until every row is sent: per version a run
  (params, metrics, three artifacts), a registered model and version, the status tag, and the
  aliases of its machine; versions/s and the mean latency per version.
  **Reference**: the same MLflow requests by hand (create run, log_batch params and metrics,
  log_artifacts, create registered model and version with tags, set alias), without the
  outbox bookkeeping or the look-ups by tag: the limit of the server.
- **re-drain, N synced versions**: every version sent again (`sync_requested`): look-ups by tag
  only, nothing created (checked).
- **alias move**: a version activated, time until `champion` points at it (commit -> on_commit
  drain -> alias set), median over N machines.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

from _common import ROOT, django_setup, print_table, scratch_database, write_json


def _fit_artifact():
    import pandas as pd

    from baselines.demo import PLANT, machine_readings
    from baselines.engine.artifacts import serialize_pipeline
    from baselines.engine.fit import fit_baseline

    spec = next(s for s in PLANT if s.name == "Compressor C2")
    frame = machine_readings(spec, pd.Timestamp("2026-01-05", tz="UTC"), 35).reset_index(drop=True)
    fit = fit_baseline(frame, time_zone=spec.time_zone)
    data, sha = serialize_pipeline(fit.pipeline)
    return fit, data, sha


def _versions(n: int, tag: str, fit, data: bytes, sha: str) -> list:
    from baselines.artifacts import artifact_sign
    from baselines.models import EnergyBaseline, Machine

    signature = artifact_sign(data)
    summary = fit.summary()
    out = []
    for i in range(n):
        machine = Machine.objects.create(name=f"bench {tag} {i}")
        out.append(EnergyBaseline.objects.create(
            machine=machine, version=1, algorithm=fit.algorithm, features=list(fit.features),
            hyperparameters={**summary["hyperparameters"], "balance_points": summary["balance_points"]},
            training_start=fit.training_start.to_pydatetime(), training_end=fit.training_end.to_pydatetime(),
            training_sample_count=summary["n_train"], training_metrics=dict(fit.train_metrics),
            holdout_metrics=dict(fit.holdout_metrics), driver_ranges={k: list(v) for k, v in fit.driver_ranges.items()},
            artifact=data, artifact_sha256=sha, artifact_signature=signature))
    return out


def _by_hand(client, experiment_id: str, baselines, folder: pathlib.Path) -> float:
    from mlflow.entities import Metric, Param

    from performance.registry.content import version_metrics, version_params

    started = time.perf_counter()
    for b in baselines:
        run = client.create_run(experiment_id, tags={"enms.version_id": str(b.pk)})
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in version_params(b).items()],
                         metrics=[Metric(k, v, now, 0) for k, v in version_metrics(b).items()])
        client.log_artifacts(run.info.run_id, str(folder), "model")
        name = f"hand-{b.machine_id}"
        client.create_registered_model(name)
        mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                         tags={"enms.version_id": str(b.pk)})
        client.set_registered_model_alias(name, "champion", mv.version)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()

    import sys

    sys.path.insert(0, str(ROOT))
    from tests.mlflow_peer import MlflowServer, peer_missing

    reason = peer_missing()
    if reason:
        raise SystemExit(reason)
    django_setup(scratch_database("enms_bench_registry"))
    from django.conf import settings
    from mlflow import MlflowClient

    from baselines.services import baseline_activate
    from performance.models import RegistryEvent, RegistryOutbox
    from performance.registry.content import model_card
    from performance.services.registry import registry_drain, registry_request_sync

    n = args.versions
    with tempfile.TemporaryDirectory(prefix="enms-bench-mlflow-") as tmp:
        server = MlflowServer(pathlib.Path(tmp))
        server.start()
        try:
            settings.MLFLOW_TRACKING_URI = server.uri
            settings.MLFLOW_EXPERIMENT_NAME = "enms-bench"
            client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
            hand_experiment = client.create_experiment("by-hand")
            fit, data, sha = _fit_artifact()
            folder = pathlib.Path(tmp, "model")
            folder.mkdir()
            drain, redrain, hand, moves = [], [], [], []
            for round_ in range(args.repeat + 1):  # round 0 warms up (experiment, connections)
                baselines = _versions(n, f"r{round_}", fit, data, sha)
                RegistryOutbox.objects.bulk_create([
                    RegistryOutbox(machine_id=b.machine_id, model_type=b.model_type, model=b,
                                   event=RegistryEvent.TRAINED) for b in baselines])
                started = time.perf_counter()
                while registry_drain()["sent"]:
                    pass
                took = time.perf_counter() - started
                assert not RegistryOutbox.objects.filter(sent_at__isnull=True).exists()
                runs_before = len(client.search_runs([client.get_experiment_by_name("enms-bench").experiment_id],
                                                     max_results=5000))
                started = time.perf_counter()
                registry_request_sync(baselines=baselines)  # drained on commit (eager Celery)
                while registry_drain()["sent"]:
                    pass
                took_again = time.perf_counter() - started
                runs_after = len(client.search_runs([client.get_experiment_by_name("enms-bench").experiment_id],
                                                    max_results=5000))
                assert runs_after == runs_before, (runs_before, runs_after)
                (folder / "model.skops").write_bytes(data)
                (folder / "model_card.md").write_text(model_card(baselines[0], machine_name="bench"))
                took_hand = _by_hand(client, hand_experiment, _versions(n, f"h{round_}", fit, data, sha), folder)
                round_moves = []
                for b in baselines[: min(n, 5)]:
                    started = time.perf_counter()
                    baseline_activate(baseline=b)  # commits; the drain runs on commit (eager Celery)
                    name = f"enms-{b.machine_id}-{b.model_type}"
                    while client.get_registered_model(name).aliases.get("champion") is None:
                        time.sleep(0.01)
                    round_moves.append(time.perf_counter() - started)
                if round_:
                    drain.append(took)
                    redrain.append(took_again)
                    hand.append(took_hand)
                    moves.append(statistics.median(round_moves))
        finally:
            server.stop()
    d, r, h, m = (statistics.median(x) for x in (drain, redrain, hand, moves))
    rows = [
        {"what": f"drain, {n} new versions", "product": f"{n / d:.1f} versions/s, {1000 * d / n:.0f} ms each",
         "reference": f"by hand {n / h:.1f} versions/s, {1000 * h / n:.0f} ms each", "ratio": f"{d / h:.2f}x"},
        {"what": f"re-drain, {n} synced versions (nothing created)",
         "product": f"{n / r:.1f} versions/s, {1000 * r / n:.0f} ms each", "reference": "—", "ratio": "—"},
        {"what": "alias move after activation (commit -> champion set)", "product": f"{1000 * m:.0f} ms",
         "reference": "—", "ratio": "—"},
    ]
    print_table(f"Model registry sync, MLflow server on loopback, median of {args.repeat}", rows,
                ["what", "product", "reference", "ratio"])
    write_json(args.json, {"versions": n, "drain_s": drain, "redrain_s": redrain, "by_hand_s": hand,
                           "alias_move_s": moves, "rows": rows})


if __name__ == "__main__":
    main()
