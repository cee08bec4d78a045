"""Fault and abuse tests: concurrent writers, a database that drops its connections, hostile input,
and schemathesis (examples, coverage, fuzzing and stateful phases) against a real gunicorn server.

- `test_concurrent_clients_record_metrics`: 8 HTTP clients, 5 batches of 1,000 metric records each,
  against the live server: exactly 40,000 rows, all ids distinct.
- `test_killed_database_connections_give_503_and_recover`: every server-side PostgreSQL session is
  terminated again and again while clients stream reads and writes; every answer is 2xx or a
  clean 503 `{"detail"}` (never a 500, never a half-written batch), and afterwards all is 2xx.
- the bad-input catalogue: non-finite numbers (NaN, ±Infinity, as literals and strings, 1e999) in
  every numeric field, malformed CSV, a 20 MB body, wrong JSON types, ids of the wrong machine or
  of nothing, wrong content types and ids that are not UUIDs. Each answer is a 4xx in DRF's error
  shape, and no table changes (every row of the seven tables is compared before and after).
- `test_schemathesis_against_gunicorn`: the schemathesis CLI with every check against
  `gunicorn enms.wsgi:application` (production settings) on a scratch database seeded by
  `seed_demo`: exit code 0, no 500 in the server log; then every database session of the
  workers' persistent connections is terminated, and the next requests all succeed.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from baselines.models import EnergyBaseline, EnergyReading, Machine
from enms.tokens import api_token_create
from performance.models import ModelABTest, ModelAlert, ModelPerformanceMetric, ModelTrainingHistory
from tests.factories import (
    EnergyBaselineFactory,
    EnergyReadingFactory,
    MachineFactory,
    ModelABTestFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
    ModelTrainingHistoryFactory,
)

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
MP = f"{API}/model-performance"
METRICS_URL = f"{MP}/metrics/record"
TABLES = (Machine, EnergyReading, EnergyBaseline, ModelPerformanceMetric, ModelTrainingHistory, ModelABTest,
          ModelAlert)


# --- helpers ---------------------------------------------------------------------------------------


def live_origin(live_server) -> tuple[str, int]:
    """The live server as 127.0.0.1 and its port (pytest-django names it `localhost`)."""
    return "127.0.0.1", urlsplit(live_server.url).port


def http_call(host: str, port: int, method: str, path: str, *, body: bytes | None = None,
              headers: dict | None = None, timeout: float = 120) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": f"{host}:{port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def superuser_token(django_user_model, username: str = "abuse-root") -> str:
    user = django_user_model.objects.create_superuser(username=username, password="pw-root-123", email="")
    return api_token_create(user=user)[1]


def metric_row(model_id, n: int) -> dict:
    return {"model_id": str(model_id), "sample_count": n, "r_squared": 0.9, "rmse": 2.5, "mae": 1.9,
            "cv_rmse": 0.06, "nmbe": 0.0}


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def table_contents() -> dict[str, list]:
    """Every row of every table (the catalogue's tables are small): also catches updates in place."""
    return {model.__name__: sorted(map(repr, model.objects.order_by().values_list())) for model in TABLES}


def assert_drf_error(status: int, body: bytes, context: str) -> None:
    """DRF's shape: `{"detail": "..."}`, or `{"field": [messages or nested errors]}`."""
    assert 400 <= status < 500, f"{context}: status {status}: {body[:500]!r}"
    try:
        data = json.loads(body)
    except ValueError:
        pytest.fail(f"{context}: {status} without a JSON body: {body[:500]!r}")
    assert isinstance(data, dict) and data, f"{context}: not an error object: {data!r}"
    if "detail" in data:
        assert isinstance(data["detail"], str) and data["detail"], f"{context}: {data!r}"
    else:
        for key, value in data.items():
            assert isinstance(key, str), f"{context}: {data!r}"
            assert isinstance(value, (list, dict)) and value, f"{context}: {key} → {value!r}"


# --- 1. concurrent writers ---------------------------------------------------------------------------

CLIENTS, BATCHES, BATCH_ROWS = 8, 5, 1000


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_clients_record_metrics(live_server, django_user_model):
    host, port = live_origin(live_server)
    token = superuser_token(django_user_model)
    model = EnergyBaselineFactory()
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    barrier = threading.Barrier(CLIENTS)
    ids: dict[int, list[str]] = {c: [] for c in range(CLIENTS)}
    problems: list[str] = []

    def client(c: int) -> None:
        try:
            barrier.wait(timeout=30)
            for b in range(BATCHES):
                first = (c * BATCHES + b) * BATCH_ROWS
                rows = [metric_row(model.pk, first + i) for i in range(BATCH_ROWS)]
                status, _, body = http_call(host, port, "POST", METRICS_URL, body=json.dumps(rows).encode(),
                                            headers=headers)
                if status != 201:
                    problems.append(f"client {c} batch {b}: {status} {body[:300]!r}")
                    continue
                stored = json.loads(body)
                if [r["sample_count"] for r in stored] != [first + i for i in range(BATCH_ROWS)]:
                    problems.append(f"client {c} batch {b}: the answer does not echo the batch in order")
                ids[c].extend(r["id"] for r in stored)
        except Exception as exc:  # reported below, with every other client's outcome
            problems.append(f"client {c}: {type(exc).__name__}: {exc}")

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,), name=f"metrics-client-{c}") for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not problems, "\n".join(problems[:20])

    total = CLIENTS * BATCHES * BATCH_ROWS
    answered = [i for c in range(CLIENTS) for i in ids[c]]
    assert len(answered) == total
    assert len(set(answered)) == total
    stored = ModelPerformanceMetric.objects.filter(model=model)
    assert stored.count() == total == ModelPerformanceMetric.objects.count()
    assert set(map(str, stored.values_list("id", flat=True))) == set(answered)
    assert sorted(stored.values_list("sample_count", flat=True)) == list(range(total))
    assert set(stored.values_list("machine_id", "model_type").distinct()) == {(model.machine_id, model.model_type)}
    print(f"{total} metric records from {CLIENTS} concurrent clients in {elapsed:.1f}s")


# --- 2. the database drops every connection --------------------------------------------------------

KILL_BATCH = 200


def _terminate_other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@dataclass
class Outcome:
    method: str
    path: str
    status: int | None
    body: bytes = b""
    error: str = ""
    rows: int = 0  # rows the request tried to write


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_database_connections_give_503_and_recover(live_server, django_user_model):
    host, port = live_origin(live_server)
    token = superuser_token(django_user_model)
    model = EnergyBaselineFactory()
    machine = model.machine
    EnergyReadingFactory.create_batch(300, machine=machine)
    ModelPerformanceMetricFactory.create_batch(100, model=model)
    baseline_rows = ModelPerformanceMetric.objects.count()
    auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
    post_headers = {**auth, "Content-Type": "application/json"}
    requests = [
        ("POST", METRICS_URL, KILL_BATCH),
        ("GET", f"{MP}/metrics/?model_id={model.pk}&page_size=200", 0),
        ("GET", f"{API}/machines/{machine.pk}/readings/?page_size=300", 0),
        ("GET", f"{API}/machines/", 0),
        ("GET", f"{API}/baselines/{model.pk}/", 0),
        ("GET", f"{MP}/alerts/active", 0),
        ("GET", f"{MP}/metrics/trend?model_id={model.pk}&bucket=hour", 0),
    ]
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**9))

    def stream(worker: int) -> None:
        i = worker
        while not stop.is_set():
            method, path, rows = requests[i % len(requests)]
            i += 1
            body = None
            if rows:
                first = 1_000_000 + next(counter) * rows
                body = json.dumps([metric_row(model.pk, first + k) for k in range(rows)]).encode()
            try:
                status, _, answer = http_call(host, port, method, path, body=body,
                                              headers=post_headers if body else auth, timeout=60)
                outcome = Outcome(method, path, status, answer, rows=rows)
            except Exception as exc:
                outcome = Outcome(method, path, None, error=f"{type(exc).__name__}: {exc}", rows=rows)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=stream, args=(w,), name=f"stream-{w}") for w in range(4)]
    for t in threads:
        t.start()
    kills = terminated = 0
    deadline = time.monotonic() + 20
    try:
        time.sleep(0.3)
        while time.monotonic() < deadline:
            terminated += _terminate_other_sessions()
            kills += 1
            time.sleep(0.02)
            with lock:
                unavailable = sum(o.status == 503 for o in outcomes)
            if unavailable >= 10 and time.monotonic() > deadline - 16:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a client hung"

    bad = [o for o in outcomes if o.status is None or not (200 <= o.status < 300 or o.status == 503)]
    assert not bad, "\n".join(f"{o.method} {o.path}: {o.status} {o.error} {o.body[:300]!r}" for o in bad[:10])
    unavailable = [o for o in outcomes if o.status == 503]
    assert unavailable, f"no request was hit by {kills} rounds of terminations ({terminated} sessions)"
    for o in unavailable:
        data = json.loads(o.body)
        assert set(data) == {"detail"} and isinstance(data["detail"], str), data

    # All or nothing per batch: rows stored are the accepted batches, plus at most the batches whose
    # COMMIT went through while their session was being terminated.
    accepted = sum(o.rows for o in outcomes if o.status == 201)
    written = ModelPerformanceMetric.objects.count() - baseline_rows
    assert written % KILL_BATCH == 0, f"a partial batch was stored: {written} rows"
    assert accepted <= written <= accepted + sum(o.rows for o in unavailable)

    # Recovery: with the terminations over, every request succeeds.
    for method, path, rows in requests * 3:
        body = json.dumps([metric_row(model.pk, 5_000_000 + k) for k in range(rows)]).encode() if rows else None
        status, _, answer = http_call(host, port, method, path, body=body, headers=post_headers if body else auth)
        assert 200 <= status < 300, f"after the fault: {method} {path}: {status} {answer[:300]!r}"
    ok = sum(200 <= (o.status or 0) < 300 for o in outcomes)
    print(f"{len(outcomes)} requests during {kills} termination rounds ({terminated} sessions): "
          f"{ok} 2xx, {len(unavailable)} 503")


# --- 3. the bad-input catalogue ----------------------------------------------------------------------

# Non-finite numbers as a client can send them: JSON literals (which Python's json module reads),
# strings, and literals that overflow a double.
NON_FINITE_JSON = {
    "NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity",
    "str-NaN": '"NaN"', "str-Infinity": '"Infinity"', "str--Infinity": '"-Infinity"', "str-inf": '"inf"',
    "1e999": "1e999", "-1e999": "-1e999",
}
NON_FINITE_CSV = ("NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e999")
BAD = "__bad_value__"  # replaced by the raw JSON token
MISSING_ID = "00000000-0000-4000-8000-00000000dead"


@dataclass
class World:
    m1: Machine
    m2: Machine
    a: EnergyBaseline  # m1, energy baseline, active
    b: EnergyBaseline  # m1, energy baseline, candidate
    c: EnergyBaseline  # m2, energy baseline
    d: EnergyBaseline  # m1, anomaly detector
    alert: ModelAlert
    abtest: ModelABTest
    job: ModelTrainingHistory
    ids: dict = field(default_factory=dict)

    def fill(self, text: str) -> str:
        for key, value in self.ids.items():
            text = text.replace(f"@{key}@", value)
        return text


@pytest.fixture
def world(db) -> World:
    m1 = MachineFactory(name="Abuse compressor")
    m2 = MachineFactory(name="Abuse chiller", machine_type="chiller")
    a = EnergyBaselineFactory(machine=m1, version=1, status="active")
    b = EnergyBaselineFactory(machine=m1, version=2)
    c = EnergyBaselineFactory(machine=m2, version=1, status="active")
    d = EnergyBaselineFactory(machine=m1, version=1, model_type="anomaly_detector")
    EnergyReadingFactory.create_batch(3, machine=m1)
    ModelPerformanceMetricFactory(model=a)
    alert = ModelAlertFactory(model=a)
    abtest = ModelABTestFactory()  # on a machine of its own
    job = ModelTrainingHistoryFactory(machine=m1, model=a)
    w = World(m1, m2, a, b, c, d, alert, abtest, job)
    w.ids = {"m1": str(m1.pk), "m2": str(m2.pk), "a": str(a.pk), "b": str(b.pk), "c": str(c.pk),
             "d": str(d.pk), "alert": str(alert.pk), "abtest": str(abtest.pk), "job": str(job.pk),
             "missing": MISSING_ID}
    return w


@pytest.fixture
def token_api(world, django_user_model) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {superuser_token(django_user_model)}")
    return client


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    body: bytes | str | Callable[[], str] | None = None
    content_type: str = "application/json"
    statuses: tuple[int, ...] = (400,)
    environ: tuple[tuple[str, object], ...] = ()  # extra WSGI environ (headers as HTTP_...)


def _json_with(template, bad_token: str) -> str:
    return json.dumps(template).replace(f'"{BAD}"', bad_token)


GOOD_METRIC = {"model_id": "@a@", "sample_count": 168, "evaluation_start": "2026-03-01T00:00:00Z",
               "evaluation_end": "2026-03-08T00:00:00Z", "r_squared": 0.9, "rmse": 2.0, "mae": 1.5, "mape": 0.04,
               "wape": 0.04, "cv_rmse": 0.05, "nmbe": 0.01, "precision": 0.9, "recall": 0.8, "f1_score": 0.85,
               "drift_detected": False, "drift_score": 0.1, "drift_details": {"psi": 0.01}}
METRIC_NUMBERS = ("sample_count", "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe", "precision",
                  "recall", "f1_score", "drift_score")
GOOD_READING = {"timestamp": "2026-03-01T00:00:00Z", "energy_kwh": 40.0, "production_units": 10.0,
                "outdoor_temp_c": 5.0, "operating_hours": 1.0, "is_anomaly": False}
OTHER_READING = {**GOOD_READING, "timestamp": "2026-03-01T01:00:00Z"}
READING_NUMBERS = ("energy_kwh", "production_units", "outdoor_temp_c", "operating_hours")
CSV_HEADER = "timestamp,energy_kwh,production_units,outdoor_temp_c,operating_hours"
GOOD_CSV_LINE = "2026-03-01T00:00:00Z,40.0,10.0,5.0,1.0"
GOOD_MACHINE = {"name": "Abuse press", "machine_type": "other", "site": "Plant", "rated_power_kw": 50.0}
GOOD_ABTEST = {"name": "a vs b", "model_a_id": "@a@", "model_b_id": "@b@", "traffic_split": 0.5,
               "duration_days": 14, "min_samples": 168, "auto_promote": False}
GOOD_RETRAIN = {"model_id": "@a@", "trigger_type": "manual",
                "hyperparameters": {"algorithm": "ridge", "alpha": 1.0, "holdout_fraction": 0.2}}
GOOD_PREDICT_ROW = {"timestamp": "2026-03-01T00:00:00Z", "production_units": 10.0, "outdoor_temp_c": 5.0,
                    "operating_hours": 1.0}
READINGS_URL = f"{API}/machines/@m1@/readings/"

# The valid bodies the catalogue derives from, and what they get (see test_catalogue_bodies_are_valid).
VALID = [
    Case("metric", "POST", METRICS_URL, json.dumps(GOOD_METRIC), statuses=(201,)),
    Case("metric-list", "POST", METRICS_URL, json.dumps([GOOD_METRIC, GOOD_METRIC]), statuses=(201,)),
    Case("readings-json", "POST", READINGS_URL, json.dumps([GOOD_READING, OTHER_READING]), statuses=(200,)),
    Case("readings-csv", "POST", READINGS_URL, f"{CSV_HEADER}\n{GOOD_CSV_LINE}\n", "text/csv", statuses=(200,)),
    Case("machine-create", "POST", f"{API}/machines/", json.dumps(GOOD_MACHINE), statuses=(201,)),
    Case("machine-patch", "PATCH", f"{API}/machines/@m1@/", json.dumps({"rated_power_kw": 75.0}), statuses=(200,)),
    Case("abtest", "POST", f"{MP}/ab-test/start", json.dumps(GOOD_ABTEST), statuses=(201,)),
    Case("retrain", "POST", f"{MP}/retrain/trigger", json.dumps(GOOD_RETRAIN), statuses=(202,)),
]


def _non_finite_cases() -> list[Case]:
    cases = []
    for name, token in NON_FINITE_JSON.items():
        for f in METRIC_NUMBERS:
            cases.append(Case(f"metric-{f}-{name}", "POST", METRICS_URL, _json_with({**GOOD_METRIC, f: BAD}, token)))
            cases.append(Case(f"metric-list-{f}-{name}", "POST", METRICS_URL,
                              _json_with([GOOD_METRIC, {**GOOD_METRIC, f: BAD}], token)))
        if not token.startswith('"'):  # drift_details is free-form: a string in it is just a string
            cases.append(Case(f"metric-drift_details-{name}", "POST", METRICS_URL,
                              _json_with({**GOOD_METRIC, "drift_details": {"psi": [0.1, BAD]}}, token)))
        for f in READING_NUMBERS:
            cases.append(Case(f"readings-json-{f}-{name}", "POST", READINGS_URL,
                              _json_with([OTHER_READING, {**GOOD_READING, f: BAD}], token)))
        for method, path in (("POST", f"{API}/machines/"), ("PATCH", f"{API}/machines/@m1@/")):
            cases.append(Case(f"machine-{method}-rated_power_kw-{name}", method, path,
                              _json_with({**GOOD_MACHINE, "rated_power_kw": BAD}, token)))
        for f in ("traffic_split", "duration_days", "min_samples"):
            cases.append(Case(f"abtest-{f}-{name}", "POST", f"{MP}/ab-test/start",
                              _json_with({**GOOD_ABTEST, f: BAD}, token)))
        for f in ("alpha", "holdout_fraction"):
            cases.append(Case(f"retrain-{f}-{name}", "POST", f"{MP}/retrain/trigger", _json_with(
                {**GOOD_RETRAIN, "hyperparameters": {**GOOD_RETRAIN["hyperparameters"], f: BAD}}, token)))
        for f in ("production_units", "outdoor_temp_c", "operating_hours"):
            cases.append(Case(f"predict-{f}-{name}", "POST", f"{API}/baselines/@a@/predict/",
                              _json_with({"rows": [{**GOOD_PREDICT_ROW, f: BAD}]}, token)))
    for value in NON_FINITE_CSV:
        for i, f in enumerate(READING_NUMBERS, start=1):
            cells = GOOD_CSV_LINE.split(",")
            cells[i] = value
            later = GOOD_CSV_LINE.replace("T00:", "T01:")
            cases.append(Case(f"readings-csv-{f}-{value}", "POST", READINGS_URL,
                              f"{CSV_HEADER}\n{later}\n{','.join(cells)}\n", "text/csv"))
    return cases


def _malformed_csv_cases() -> list[Case]:
    later = GOOD_CSV_LINE.replace("T00:", "T01:")
    bodies = {
        "unbalanced-quote": f'{CSV_HEADER}\n{later}\n"2026-03-01T00:00:00Z,40.0,10.0,5.0,1.0\n',
        "quote-mid-field": f'{CSV_HEADER}\n{later}\n2026-03-01T00:00:00Z,4"0.0,10.0,5.0,1.0\n',
        "too-many-columns": f"{CSV_HEADER}\n{later}\n{GOOD_CSV_LINE},7\n",
        "too-few-columns": f"{CSV_HEADER}\n{later}\n2026-03-01T00:00:00Z,40.0\n",
        "no-header": f"{later}\n{GOOD_CSV_LINE}\n",
        "header-only": f"{CSV_HEADER}\n",
        "empty": "",
        "blank-lines": "\n\n\n",
        "repeated-column": "timestamp,energy_kwh,energy_kwh\n2026-03-01T00:00:00Z,1,2\n",
        "unknown-column": "timestamp,energy_kwh,colour\n2026-03-01T00:00:00Z,1,red\n",
        "naive-time": "timestamp,energy_kwh\n2026-03-01T00:00:00,1\n",
        "text-number": f"{CSV_HEADER}\n{later}\n2026-03-01T00:00:00Z,forty,10.0,5.0,1.0\n",
        "negative-energy": f"{CSV_HEADER}\n{later}\n2026-03-01T00:00:00Z,-4,10.0,5.0,1.0\n",
        "duplicate-timestamp": f"{CSV_HEADER}\n{GOOD_CSV_LINE}\n{GOOD_CSV_LINE}\n",
        "nul": f"{CSV_HEADER}\n{later}\n2026-03-01T00:00:00Z,4\x000,10.0,5.0,1.0\n",
    }
    cases = [Case(f"csv-{name}", "POST", READINGS_URL, body, "text/csv") for name, body in bodies.items()]
    garbage = bytes(range(256)) * 16 + os.urandom(4096)
    cases.append(Case("csv-binary-garbage", "POST", READINGS_URL, garbage, "text/csv"))
    cases.append(Case("csv-latin1-declared-utf8", "POST", READINGS_URL,
                      f"{CSV_HEADER}\n{later}\n".encode() + "2026-03-01T00:00:00Z,40,10,5,1,é\n".encode("latin-1"),
                      "text/csv; charset=utf-8"))
    return cases


BIG = 20 * 1024 * 1024


def _big_json() -> str:
    row = json.dumps(GOOD_METRIC) + ","
    return "[" + row * (BIG // len(row)) + json.dumps(GOOD_METRIC) + "]"


def _big_csv() -> str:
    line = GOOD_CSV_LINE + "\n"
    return CSV_HEADER + "\n" + line * (BIG // len(line))


def _oversized_cases() -> list[Case]:
    """20 MB bodies (built when sent, not at collection)."""
    big_json, big_csv = _big_json, _big_csv
    return [
        Case("20MB-metrics", "POST", METRICS_URL, big_json, statuses=(413,)),
        Case("20MB-readings-json", "POST", READINGS_URL, big_json, statuses=(413,)),
        Case("20MB-readings-csv", "POST", READINGS_URL, big_csv, "text/csv", statuses=(413,)),
        Case("20MB-machine", "POST", f"{API}/machines/", lambda: json.dumps({**GOOD_MACHINE, "site": "x" * BIG}),
             statuses=(413,)),
    ]


def _wrong_type_cases() -> list[Case]:
    j = json.dumps
    c = [
        # strings for numbers
        Case("metric-sample_count-string", "POST", METRICS_URL, j({**GOOD_METRIC, "sample_count": "168"})),
        Case("metric-rmse-string", "POST", METRICS_URL, j({**GOOD_METRIC, "rmse": "2.0"})),
        Case("metric-rmse-bool", "POST", METRICS_URL, j({**GOOD_METRIC, "rmse": True})),
        Case("metric-sample_count-fraction", "POST", METRICS_URL, j({**GOOD_METRIC, "sample_count": 1.5})),
        Case("metric-sample_count-huge", "POST", METRICS_URL, j({**GOOD_METRIC, "sample_count": 10**30})),
        Case("metric-drift_detected-string", "POST", METRICS_URL, j({**GOOD_METRIC, "drift_detected": "yes"})),
        Case("readings-energy-string", "POST", READINGS_URL, j([{**GOOD_READING, "energy_kwh": "40"}])),
        Case("machine-rated_power-string", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "rated_power_kw": "5"})),
        Case("machine-name-number", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": 12})),
        Case("machine-is_active-string", "PATCH", f"{API}/machines/@m1@/", j({"is_active": "false"})),
        Case("abtest-split-string", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "traffic_split": "0.5"})),
        Case("abtest-split-zero", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "traffic_split": 0})),
        Case("abtest-split-one", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "traffic_split": 1})),
        Case("abtest-days-string", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "duration_days": "14"})),
        Case("abtest-name-list", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "name": ["a"]})),
        Case("retrain-alpha-string", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "hyperparameters": {"alpha": "1"}})),
        Case("retrain-alpha-negative", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "hyperparameters": {"alpha": -1}})),
        Case("retrain-unknown-hyperparameter", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "hyperparameters": {"max_depth": 3}})),
        Case("retrain-trigger_type-unknown", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "trigger_type": "whenever"})),
        # lists where objects belong
        Case("metric-list-of-lists", "POST", METRICS_URL, j([[GOOD_METRIC]])),
        Case("metric-drift_details-list", "POST", METRICS_URL, j({**GOOD_METRIC, "drift_details": [1, 2]})),
        Case("abtest-list-body", "POST", f"{MP}/ab-test/start", j([GOOD_ABTEST])),
        Case("retrain-list-body", "POST", f"{MP}/retrain/trigger", j([GOOD_RETRAIN])),
        Case("retrain-hyperparameters-list", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "hyperparameters": [["alpha", 1]]})),
        Case("drift-list-body", "POST", f"{MP}/drift/check", j([{"model_id": "@a@"}])),
        Case("resolve-list-body", "POST", f"{MP}/alerts/@alert@/resolve", j(["fixed"])),
        Case("machine-list-body", "POST", f"{API}/machines/", j([GOOD_MACHINE])),
        Case("readings-list-of-lists", "POST", READINGS_URL, j([["2026-03-01T00:00:00Z", 40.0]])),
        Case("predict-list-body", "POST", f"{API}/baselines/@a@/predict/", j([GOOD_PREDICT_ROW])),
        # objects where lists belong
        Case("readings-object-body", "POST", READINGS_URL, j(GOOD_READING)),
        Case("predict-rows-object", "POST", f"{API}/baselines/@a@/predict/", j({"rows": GOOD_PREDICT_ROW})),
        Case("metric-empty-list", "POST", METRICS_URL, j([])),
        Case("readings-empty-list", "POST", READINGS_URL, j([])),
        # scalars, null, unparsable
        Case("metric-null", "POST", METRICS_URL, "null"),
        Case("metric-string", "POST", METRICS_URL, j("hello")),
        Case("metric-number", "POST", METRICS_URL, "42"),
        Case("readings-null", "POST", READINGS_URL, "null"),
        Case("machine-null", "POST", f"{API}/machines/", "null"),
        Case("abtest-null", "POST", f"{MP}/ab-test/start", "null"),
        Case("metric-truncated", "POST", METRICS_URL, '{"model_id": "@a@", "sample_count": '),
        Case("metric-trailing-garbage", "POST", METRICS_URL, j(GOOD_METRIC) + "}}"),
        Case("metric-deep-nesting", "POST", METRICS_URL, "[" * 100_000 + "]" * 100_000),
        Case("metric-drift_details-deep", "POST", METRICS_URL,
             j({**GOOD_METRIC, "drift_details": {"x": BAD}}).replace(f'"{BAD}"', "[" * 200 + "]" * 200)),
        Case("metric-drift_details-nul", "POST", METRICS_URL, j({**GOOD_METRIC, "drift_details": {"x": "a\x00b"}})),
        Case("machine-name-nul", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "a\x00b"})),
        Case("metric-invalid-utf8", "POST", METRICS_URL, b'{"model_id": "\xff\xfe"}'),
        Case("metric-unknown-field", "POST", METRICS_URL, j({**GOOD_METRIC, "rmsee": 1.0})),
        Case("metric-too-many-rows", "POST", METRICS_URL, j([{"model_id": "@a@", "sample_count": 1}] * 10_001)),
        Case("metric-window-reversed", "POST", METRICS_URL, j({
            **GOOD_METRIC, "evaluation_start": "2026-03-08T00:00:00Z", "evaluation_end": "2026-03-01T00:00:00Z"})),
        Case("metric-naive-time", "POST", METRICS_URL, j({**GOOD_METRIC, "evaluated_at": "2026-03-01T00:00:00"})),
        Case("metric-time-out-of-range", "POST", METRICS_URL,
             j({**GOOD_METRIC, "evaluated_at": "9999-12-31T23:59:59-23:59"})),
        Case("readings-time-number", "POST", READINGS_URL, j([{**GOOD_READING, "timestamp": 1767225600}])),
        Case("readings-temp-out-of-range", "POST", READINGS_URL, j([{**GOOD_READING, "outdoor_temp_c": 1000}])),
        Case("machine-rated_power-zero", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "rated_power_kw": 0})),
        Case("machine-duplicate-name", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "Abuse compressor"})),
        Case("machine-type-unknown", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "machine_type": "reactor"})),
        Case("machine-rename-to-existing", "PATCH", f"{API}/machines/@m1@/", j({"name": "Abuse chiller"})),
    ]
    return c


def _reference_cases() -> list[Case]:
    j = json.dumps
    return [
        # versions of two machines, or of two model types, or one version twice
        Case("abtest-two-machines", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "model_b_id": "@c@"})),
        Case("abtest-two-model-types", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "model_b_id": "@d@"})),
        Case("abtest-same-version", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "model_b_id": "@a@"})),
        Case("abtest-backtest-two-machines", "POST", f"{MP}/ab-test/start",
             j({**GOOD_ABTEST, "model_b_id": "@c@", "window_start": "2026-01-05T00:00:00Z",
                "window_end": "2026-01-06T00:00:00Z"})),
        Case("abtest-missing-a", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "model_a_id": "@missing@"})),
        Case("abtest-machine-id-as-model", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "model_b_id": "@m1@"})),
        Case("abtest-future-backtest", "POST", f"{MP}/ab-test/start",
             j({**GOOD_ABTEST, "window_start": "2999-01-01T00:00:00Z", "window_end": "2999-01-02T00:00:00Z"})),
        Case("abtest-half-window", "POST", f"{MP}/ab-test/start",
             j({**GOOD_ABTEST, "window_start": "2026-01-05T00:00:00Z"})),
        # ids that do not exist, or name another kind of object
        Case("metric-missing-model", "POST", METRICS_URL, j({**GOOD_METRIC, "model_id": "@missing@"})),
        Case("metric-machine-id-as-model", "POST", METRICS_URL, j({**GOOD_METRIC, "model_id": "@m1@"})),
        Case("metric-list-one-missing-model", "POST", METRICS_URL,
             j([GOOD_METRIC, {**GOOD_METRIC, "model_id": "@missing@"}])),
        Case("metric-model-id-not-uuid", "POST", METRICS_URL, j({**GOOD_METRIC, "model_id": "12"})),
        Case("metric-model-id-number", "POST", METRICS_URL, j({**GOOD_METRIC, "model_id": 12})),
        Case("drift-missing-model", "POST", f"{MP}/drift/check", j({"model_id": "@missing@"}), statuses=(400, 404)),
        Case("drift-alert-id-as-model", "POST", f"{MP}/drift/check", j({"model_id": "@alert@"}), statuses=(400, 404)),
        Case("drift-model-id-not-uuid", "POST", f"{MP}/drift/check", j({"model_id": "not-a-uuid"})),
        Case("retrain-missing-model", "POST", f"{MP}/retrain/trigger", j({**GOOD_RETRAIN, "model_id": "@missing@"}),
             statuses=(400, 404)),
        Case("retrain-model-id-as-machine", "POST", f"{MP}/retrain/trigger",
             j({"machine_id": "@a@", "model_type": "energy_baseline"}), statuses=(400, 404)),
        Case("retrain-machine-without-type", "POST", f"{MP}/retrain/trigger", j({"machine_id": "@m1@"})),
        Case("retrain-model-id-not-uuid", "POST", f"{MP}/retrain/trigger", j({"model_id": "x"})),
        Case("resolve-missing-alert", "POST", f"{MP}/alerts/@missing@/resolve", j({"resolution_notes": "x"}),
             statuses=(404,)),
        Case("resolve-abtest-id-as-alert", "POST", f"{MP}/alerts/@abtest@/resolve", j({"resolution_notes": "x"}),
             statuses=(404,)),
        Case("activate-missing", "POST", f"{API}/baselines/@missing@/activate/", None, statuses=(404,)),
        Case("activate-unfitted", "POST", f"{API}/baselines/@b@/activate/", None),
        Case("predict-missing", "POST", f"{API}/baselines/@missing@/predict/",
             j({"rows": [GOOD_PREDICT_ROW]}), statuses=(404,)),
        Case("readings-missing-machine", "POST", f"{API}/machines/@missing@/readings/", j([GOOD_READING]),
             statuses=(404,)),
        Case("readings-model-id-as-machine", "POST", f"{API}/machines/@a@/readings/", j([GOOD_READING]),
             statuses=(404,)),
        Case("patch-missing-machine", "PATCH", f"{API}/machines/@missing@/", j({"site": "x"}), statuses=(404,)),
    ]


def _content_type_cases() -> list[Case]:
    metric = json.dumps(GOOD_METRIC)
    return [
        Case("metric-as-text-plain", "POST", METRICS_URL, metric, "text/plain", (415,)),
        Case("metric-as-csv", "POST", METRICS_URL, "model_id,sample_count\n@a@,1\n", "text/csv", (415,)),
        Case("metric-as-xml", "POST", METRICS_URL, "<metric/>", "application/xml", (415,)),
        Case("metric-as-form", "POST", METRICS_URL, "model_id=@a@&sample_count=1",
             "application/x-www-form-urlencoded", (415,)),
        Case("metric-as-multipart", "POST", METRICS_URL, "--b\r\n\r\n--b--\r\n", "multipart/form-data; boundary=b",
             (415,)),
        Case("metric-as-octet-stream", "POST", METRICS_URL, b"\x00\x01", "application/octet-stream", (415,)),
        Case("machine-as-form", "POST", f"{API}/machines/", "name=x&machine_type=other",
             "application/x-www-form-urlencoded", (415,)),
        Case("machine-patch-as-multipart", "PATCH", f"{API}/machines/@m1@/", "--b\r\n\r\n--b--\r\n",
             "multipart/form-data; boundary=b", (415,)),
        Case("readings-as-xml", "POST", READINGS_URL, "<readings/>", "application/xml", (415,)),
        Case("readings-as-tsv", "POST", READINGS_URL, CSV_HEADER.replace(",", "\t"), "text/tab-separated-values",
             (415,)),
        Case("abtest-as-form", "POST", f"{MP}/ab-test/start", "name=x", "application/x-www-form-urlencoded", (415,)),
        Case("retrain-as-text", "POST", f"{MP}/retrain/trigger", json.dumps(GOOD_RETRAIN), "text/plain", (415,)),
        Case("drift-as-text", "POST", f"{MP}/drift/check", json.dumps({"model_id": "@a@"}), "text/plain", (415,)),
        Case("resolve-as-form", "POST", f"{MP}/alerts/@alert@/resolve", "resolution_notes=x",
             "application/x-www-form-urlencoded", (415,)),
        Case("predict-as-csv", "POST", f"{API}/baselines/@a@/predict/", "timestamp\n2026-03-01T00:00:00Z\n",
             "text/csv", (415,)),
    ]


NOT_UUIDS = {"word": "not-a-uuid", "number": "12", "dotted": "0.5", "short-uuid": "3fa85f64-5717-4562-b3fc",
             "long-uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6aa", "unicode": "%C3%A9%E2%82%AC",
             "percent-nul": "%00", "sql": "1%27%20OR%20%271%27%3D%271", "dots": "..%2F..",
             "spaces": "%20%20"}


def _path_id_cases() -> list[Case]:
    cases = []
    for name, bad in NOT_UUIDS.items():
        for method, template, body in (
            ("GET", f"{API}/machines/{{}}/", None),
            ("PATCH", f"{API}/machines/{{}}/", json.dumps({"site": "x"})),
            ("GET", f"{API}/machines/{{}}/readings/", None),
            ("POST", f"{API}/machines/{{}}/readings/", json.dumps([GOOD_READING])),
            ("GET", f"{API}/baselines/{{}}/", None),
            ("POST", f"{API}/baselines/{{}}/predict/", json.dumps({"rows": [GOOD_PREDICT_ROW]})),
            ("POST", f"{API}/baselines/{{}}/activate/", None),
            ("GET", f"{MP}/metrics/{{}}/", None),
            ("GET", f"{MP}/training-history/{{}}/", None),
            ("GET", f"{MP}/ab-tests/{{}}/", None),
            ("GET", f"{MP}/ab-test/{{}}/results", None),
            ("GET", f"{MP}/alerts/{{}}/", None),
            ("POST", f"{MP}/alerts/{{}}/resolve", json.dumps({"resolution_notes": "x"})),
        ):
            path = template.format(bad)
            cases.append(Case(f"path-{name}-{method}-{template.format('id')}", method, path, body,
                              statuses=(400, 404)))
    return cases


QUERY_CASES = [
    (f"{API}/baselines/", "machine_id"),
    (f"{MP}/metrics/", "model_id"),
    (f"{MP}/metrics/", "machine_id"),
    (f"{MP}/ab-tests/", "model_id"),
    (f"{MP}/alerts/", "machine_id"),
    (f"{MP}/training-history/", "machine_id"),
    (f"{MP}/alerts/active", "machine_id"),
    (f"{MP}/metrics/trend", "model_id"),
    (f"{MP}/metrics/trend", "machine_id"),
]


def _query_cases() -> list[Case]:
    cases = []
    for name, bad in {**NOT_UUIDS, "empty": ""}.items():
        for path, param in QUERY_CASES:
            cases.append(Case(f"query-{name}-{path}-{param}", "GET", f"{path}?{param}={bad}", None))
    cases += [
        Case("query-readings-start-garbage", "GET", f"{READINGS_URL}?start=yesterday", None),
        Case("query-readings-naive-start", "GET", f"{READINGS_URL}?start=2026-01-05T00:00:00", None),
        Case("query-readings-reversed", "GET",
             f"{READINGS_URL}?start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z", None),
        Case("query-trend-metric-unknown", "GET", f"{MP}/metrics/trend?model_id=@a@&metric=__class__", None),
        Case("query-trend-bucket-unknown", "GET", f"{MP}/metrics/trend?model_id=@a@&bucket=year", None),
        Case("query-trend-missing-model", "GET", f"{MP}/metrics/trend?model_id=@missing@", None, statuses=(404,)),
        Case("query-trend-model-id-as-machine", "GET", f"{MP}/metrics/trend?machine_id=@a@", None, statuses=(404,)),
        Case("query-trends-metric-unknown", "GET", f"{MP}/metrics/trends?model_id=@a@&metrics=rmse,__class__", None),
        Case("query-trends-no-metrics", "GET", f"{MP}/metrics/trends?model_id=@a@", None),
        Case("query-trends-missing-model", "GET", f"{MP}/metrics/trends?model_id=@missing@&metrics=rmse", None,
             statuses=(404,)),
        Case("query-alerts-severity-unknown", "GET", f"{MP}/alerts/active?severity=meh", None),
        Case("query-alerts-is_resolved-yes", "GET", f"{MP}/alerts/?is_resolved=yes", None),
        Case("query-metrics-start-garbage", "GET", f"{MP}/metrics/?start=NaN", None),
        Case("query-page-size-huge", "GET", f"{API}/machines/?page=99999999999999999999999", None, statuses=(404,)),
        Case("query-page-negative", "GET", f"{API}/machines/?page=-1", None, statuses=(404,)),
        Case("query-page-nan", "GET", f"{API}/machines/?page=NaN", None, statuses=(404,)),
    ]
    return cases


LONE_SURROGATE = "\ud800"
FAR_FUTURE = "9999-12-31T00:00:00Z"


def _hardening_cases() -> list[Case]:
    """Text that cannot be stored or shown (lone surrogates, control characters), times and
    magnitudes outside what a meter or a model produces, unknown fields on every write, names
    that break e-mail subjects or differ only in case and spaces, and chunked bodies a server
    cannot read."""
    j = json.dumps
    metric, reading, predict_row = GOOD_METRIC, GOOD_READING, GOOD_PREDICT_ROW
    cases = [
        # unpaired surrogates (PostgreSQL cannot store them, an answer cannot encode them)
        Case("surrogate-drift_details-value", "POST", METRICS_URL,
             j({**metric, "drift_details": {"x": LONE_SURROGATE}})),
        Case("surrogate-drift_details-key", "POST", METRICS_URL, j({**metric, "drift_details": {LONE_SURROGATE: 1}})),
        Case("surrogate-readings-unknown-key", "POST", READINGS_URL, j([{**reading, LONE_SURROGATE: 1}])),
        Case("surrogate-metric-unknown-key", "POST", METRICS_URL, j({**metric, LONE_SURROGATE: 1})),
        Case("surrogate-machine-name", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "A" + LONE_SURROGATE})),
        Case("surrogate-machine-site", "PATCH", f"{API}/machines/@m1@/", j({"site": LONE_SURROGATE})),
        Case("surrogate-abtest-name", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "name": LONE_SURROGATE})),
        Case("surrogate-resolution-notes", "POST", f"{MP}/alerts/@alert@/resolve",
             j({"resolution_notes": "fixed " + LONE_SURROGATE})),
        Case("surrogate-low-half-only", "POST", METRICS_URL, j({**metric, "drift_details": {"x": "\udc00"}})),
        Case("surrogate-predict-unknown-key", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, LONE_SURROGATE: 1}]})),
        # control characters
        Case("control-machine-name-crlf", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "Press\r\nBcc: x"})),
        Case("control-machine-name-lf", "PATCH", f"{API}/machines/@m1@/", j({"name": "Press\n2"})),
        Case("control-machine-name-tab", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "Press\t2"})),
        Case("control-machine-name-bell", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "Press\u0007"})),
        Case("control-machine-name-c1", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "Press\u0085"})),
        Case("control-machine-site-crlf", "PATCH", f"{API}/machines/@m1@/", j({"site": "Hall\r\n2"})),
        Case("control-abtest-name-lf", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "name": "a\nb"})),
        Case("control-resolution-notes-escape", "POST", f"{MP}/alerts/@alert@/resolve",
             j({"resolution_notes": "fixed\u001b[31m"})),
        Case("control-drift_details-key", "POST", METRICS_URL, j({**metric, "drift_details": {"a\nb": 1}})),
        Case("control-drift_details-value", "POST", METRICS_URL, j({**metric, "drift_details": {"x": "\u0000"}})),
        Case("control-csv-cell", "POST", READINGS_URL,
             f"{CSV_HEADER}\n2026-03-01T00:00:00Z,40\x07,10.0,5.0,1.0\n", "text/csv"),
        # names: blank, near-duplicates of "Abuse compressor"
        Case("name-whitespace-only", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "   "})),
        Case("name-empty", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": ""})),
        Case("name-case-duplicate", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": "abuse COMPRESSOR"})),
        Case("name-space-duplicate", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "name": " Abuse compressor  "})),
        Case("name-rename-to-case-duplicate", "PATCH", f"{API}/machines/@m2@/", j({"name": "ABUSE COMPRESSOR"})),
        # times outside 1970 .. now + skew (or the forecast horizon)
        Case("reading-year-9999", "POST", READINGS_URL, j([{**reading, "timestamp": FAR_FUTURE}])),
        Case("reading-next-year", "POST", READINGS_URL, j([OTHER_READING, {**reading, "timestamp": _in_days(365)}])),
        Case("reading-in-two-days", "POST", READINGS_URL, j([{**reading, "timestamp": _in_days(2)}])),
        Case("reading-before-1970", "POST", READINGS_URL, j([{**reading, "timestamp": "1969-12-31T23:00:00Z"}])),
        Case("reading-year-1", "POST", READINGS_URL, j([{**reading, "timestamp": "0001-01-01T00:00:00Z"}])),
        Case("reading-csv-year-9999", "POST", READINGS_URL, f"{CSV_HEADER}\n{FAR_FUTURE},40,10,5,1\n", "text/csv"),
        Case("metric-evaluated_at-9999", "POST", METRICS_URL, j({**metric, "evaluated_at": FAR_FUTURE})),
        Case("metric-evaluation_end-9999", "POST", METRICS_URL, j({**metric, "evaluation_end": FAR_FUTURE})),
        Case("metric-evaluation_start-1900", "POST", METRICS_URL,
             j({**metric, "evaluation_start": "1900-01-01T00:00:00Z"})),
        Case("metric-list-one-future", "POST", METRICS_URL, j([metric, {**metric, "evaluated_at": _in_days(3)}])),
        Case("predict-beyond-horizon", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, "timestamp": FAR_FUTURE}]})),
        Case("predict-before-1970", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, "timestamp": "1960-01-01T00:00:00Z"}]})),
        Case("retrain-window-9999", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "training_start": "2026-01-01T00:00:00Z", "training_end": FAR_FUTURE})),
        Case("drift-window-9999", "POST", f"{MP}/drift/check",
             j({"model_id": "@a@", "current_start": "2026-01-01T00:00:00Z", "current_end": FAR_FUTURE})),
        Case("abtest-window-before-1970", "POST", f"{MP}/ab-test/start",
             j({**GOOD_ABTEST, "window_start": "1960-01-01T00:00:00Z", "window_end": "1960-01-08T00:00:00Z"})),
        # magnitudes no meter or model produces
        Case("reading-energy-1e308", "POST", READINGS_URL, j([{**reading, "energy_kwh": 1e308}])),
        Case("reading-energy-1e10", "POST", READINGS_URL, j([{**reading, "energy_kwh": 1e10}])),
        Case("reading-production-1e308", "POST", READINGS_URL, j([{**reading, "production_units": 1e308}])),
        Case("reading-operating-hours-1e308", "POST", READINGS_URL, j([{**reading, "operating_hours": 1e308}])),
        Case("reading-csv-energy-1e308", "POST", READINGS_URL, f"{CSV_HEADER}\n2026-03-01T00:00:00Z,1e308,10,5,1\n",
             "text/csv"),
        Case("predict-production-1e308", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, "production_units": 1e308}]})),
        Case("predict-operating-hours-negative-huge", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, "operating_hours": -1e300}]})),
        Case("predict-temperature-1e6", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, "outdoor_temp_c": 1e6}]})),
        Case("metric-rmse-1e308", "POST", METRICS_URL, j({**metric, "rmse": 1e308})),
        Case("metric-r_squared--1e300", "POST", METRICS_URL, j({**metric, "r_squared": -1e300})),
        Case("metric-nmbe-1e20", "POST", METRICS_URL, j({**metric, "nmbe": 1e20})),
        Case("machine-rated-power-1e308", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "rated_power_kw": 1e308})),
        # unknown fields, on every write endpoint
        Case("unknown-machine-create", "POST", f"{API}/machines/", j({**GOOD_MACHINE, "colour": "red"})),
        Case("unknown-machine-patch", "PATCH", f"{API}/machines/@m1@/", j({"sitee": "East"})),
        Case("unknown-readings-json", "POST", READINGS_URL, j([{**reading, "energy": 1.0}])),
        Case("unknown-predict-top-level", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [predict_row], "horizon": 3})),
        Case("unknown-predict-row", "POST", f"{API}/baselines/@a@/predict/",
             j({"rows": [{**predict_row, "temperature": 3}]})),
        Case("unknown-activate-body", "POST", f"{API}/baselines/@a@/activate/", j({"force": True})),
        Case("unknown-activate-list-body", "POST", f"{API}/baselines/@a@/activate/", j([1])),
        Case("unknown-metric", "POST", METRICS_URL, j({**metric, "evaluatedat": "2026-03-01T00:00:00Z"})),
        Case("unknown-drift-check", "POST", f"{MP}/drift/check", j({"model_id": "@a@", "current_begin": "x"})),
        Case("unknown-retrain-misspelt-window", "POST", f"{MP}/retrain/trigger",
             j({**GOOD_RETRAIN, "trainig_start": "2026-01-01T00:00:00Z"})),
        Case("unknown-abtest", "POST", f"{MP}/ab-test/start", j({**GOOD_ABTEST, "split": 0.3})),
        Case("unknown-resolve", "POST", f"{MP}/alerts/@alert@/resolve", j({"resolution_note": "fixed"})),
        # a chunked body the server has not decoded would be read as empty: refused, not lost
        Case("chunked-resolve-undecoded", "POST", f"{MP}/alerts/@alert@/resolve", j({"resolution_notes": "fixed"}),
             statuses=(411,), environ=(("HTTP_TRANSFER_ENCODING", "chunked"), ("CONTENT_LENGTH", ""))),
        Case("chunked-readings-undecoded", "POST", READINGS_URL, j([reading]), statuses=(411,),
             environ=(("HTTP_TRANSFER_ENCODING", "chunked"), ("CONTENT_LENGTH", ""))),
        Case("chunked-too-large", "POST", METRICS_URL, lambda: _big_json(), statuses=(413,),
             environ=(("HTTP_TRANSFER_ENCODING", "chunked"), ("CONTENT_LENGTH", ""), ("wsgi.input_terminated", True))),
    ]
    return cases


def _in_days(days: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


CATALOGUE = (_non_finite_cases() + _malformed_csv_cases() + _oversized_cases() + _wrong_type_cases()
             + _reference_cases() + _content_type_cases() + _path_id_cases() + _query_cases()
             + _hardening_cases())


def _send(api: APIClient, world: World, case: Case):
    body = case.body() if callable(case.body) else case.body
    if isinstance(body, str):
        body = world.fill(body).encode("utf-8")
    kwargs = {"HTTP_ACCEPT": "application/json", **dict(case.environ)}
    if body is not None:
        return api.generic(case.method, world.fill(case.path), data=body, content_type=case.content_type, **kwargs)
    return api.generic(case.method, world.fill(case.path), **kwargs)


def test_catalogue_case_ids_are_unique():
    ids = [c.id for c in CATALOGUE]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("case", VALID, ids=[c.id for c in VALID])
def test_catalogue_bodies_are_valid(token_api, world, case):
    """The bodies the catalogue breaks are accepted as they are, so each refusal below is caused by
    the one thing the case changes."""
    response = _send(token_api, world, case)
    assert response.status_code in case.statuses, response.content[:1000]


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_bad_input_is_refused_and_writes_nothing(token_api, world, case):
    before_counts, before = table_counts(), table_contents()
    response = _send(token_api, world, case)
    assert response.status_code in case.statuses, f"{case.id}: {response.status_code} {response.content[:500]!r}"
    assert_drf_error(response.status_code, response.content, case.id)
    assert response["Content-Type"].startswith("application/json")
    assert table_counts() == before_counts
    assert table_contents() == before


# --- 4. schemathesis against gunicorn ------------------------------------------------------------------

# Schema-valid requests these operations still refuse with 400, for rules OpenAPI 3.0 cannot state
# (references that must exist, ordered windows, one field or another, unique names, state).
SEMANTIC_400 = (
    "POST /api/v1/machines/",
    "PATCH /api/v1/machines/{id}/",
    "GET /api/v1/machines/{id}/readings/",
    "POST /api/v1/machines/{id}/readings/",
    "POST /api/v1/baselines/{id}/predict/",
    "POST /api/v1/baselines/{id}/activate/",
    "POST /api/v1/model-performance/metrics/record",
    "GET /api/v1/model-performance/metrics/trend",
    "GET /api/v1/model-performance/metrics/trends",
    "POST /api/v1/model-performance/drift/check",
    "POST /api/v1/model-performance/retrain/trigger",
    "POST /api/v1/model-performance/ab-test/start",
    "POST /api/v1/machines/{id}/driver-forecasts/",
    "GET /api/v1/model-performance/forecast",
    "POST /api/v1/model-performance/alerts/{id}/rebaseline",
)
SCHEMATHESIS_TIMEOUT_S = 180
# Without a broker a retrain runs inside the request (Celery eager): a `gbr` fit took 20 s on a
# loaded 2-CPU machine, past schemathesis' default 10 s response-time limit.
MAX_RESPONSE_TIME_S = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_admin(sql: str, params=(), dbname: str = "postgres") -> list:
    import psycopg

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         password=db["PASSWORD"] or None, dbname=dbname, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _toml_str(value: str) -> str:
    return json.dumps(value)


@pytest.fixture
def scratch_database():
    """A PostgreSQL database of its own for the gunicorn server, dropped afterwards."""
    name = f"enms_abuse_st_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DEBUG", "REDIS_URL", "SECRET_KEY", "SECURE_SSL_REDIRECT", "ALLOWED_HOSTS",
                        "API_WRITE_THROTTLE", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(DJANGO_SETTINGS_MODULE="enms.settings.production", DATABASE_URL=database_url,
               SECRET_KEY=secrets.token_urlsafe(64), ENMS_ARTIFACT_KEY=secrets.token_urlsafe(48),
               SECURE_SSL_REDIRECT="false", ALLOWED_HOSTS="127.0.0.1", PYTHONDONTWRITEBYTECODE="1",
               LOG_LEVEL="WARNING")
    return env


def _manage(env: dict, *args: str, timeout: float = 180) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


SEED_SCRIPT = """
from django.contrib.auth import get_user_model
from enms.tokens import api_token_create
from baselines.models import EnergyBaseline
user = get_user_model().objects.create_superuser(username="st-root", email="", password="pw-st-root-123")
models = [str(m.pk) for m in EnergyBaseline.objects.filter(status="active").order_by("machine__name")]
print("SEED", api_token_create(user=user)[1], *models)
"""


class Gunicorn:
    def __init__(self, env: dict, log: Path):
        self.port = _free_port()
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "enms.wsgi:application", "-b", f"127.0.0.1:{self.port}",
             "--workers", "2", "--threads", "2", "--timeout", "120", "--access-logfile", "-"],
            cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def call(self, method: str, path: str, token: str | None = None, payload=None) -> tuple[int, object]:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        status, _, answer = http_call("127.0.0.1", self.port, method, path, body=body, headers=headers)
        return status, json.loads(answer) if answer else None

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited:\n{self.tail()}"
            try:
                if self.call("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not become healthy:\n{self.tail()}")

    def tail(self, n: int = 4000) -> str:
        self._log_file.flush()
        return self.log.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        self._log_file.close()


def _schemathesis_config(path: Path, *, active: list[str], candidate: str, abtest: str) -> None:
    """Semantic 400s accepted where the contract has them; real ids where a body or path needs one."""
    positive = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
    pinned = {
        "POST /api/v1/model-performance/drift/check": {"body.model_id": active[0]},
        "POST /api/v1/model-performance/metrics/record": {"body.model_id": active[0]},
        "POST /api/v1/model-performance/ab-test/start": {"body.model_a_id": active[0], "body.model_b_id": candidate},
        "GET /api/v1/model-performance/ab-test/{id}/results": {"path.id": abtest},
        "GET /api/v1/model-performance/ab-tests/{id}/": {"path.id": abtest},
        "GET /api/v1/model-performance/forecast": {"query.model_id": active[0]},
    }
    lines = []
    for name in dict.fromkeys([*SEMANTIC_400, *pinned]):
        lines += ["[[operations]]", f"include-name = {_toml_str(name)}"]
        if name in SEMANTIC_400:
            lines.append(f"checks.positive_data_acceptance.expected-statuses = {json.dumps(positive)}")
        if name in pinned:
            lines.append("[operations.parameters]")
            lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in pinned[name].items()]
        lines.append("")
    path.write_text("\n".join(lines))


@pytest.mark.slow
@pytest.mark.postgres
def test_schemathesis_against_gunicorn(scratch_database, tmp_path):
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        cli = Path(shutil.which("schemathesis") or cli)
    env = _server_env(scratch_database)
    timings = {}
    started = time.monotonic()
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "seed_demo", "--days", "30", "--train-days", "20", "--machines", "2", "--no-progress")
    seed = next(line for line in _manage(env, "shell", "-v", "0", "-c", SEED_SCRIPT).splitlines()
                if line.startswith("SEED "))
    _, token, *active = seed.split()
    assert len(active) == 2, seed
    timings["setup"] = time.monotonic() - started

    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        # A second version of the first machine (training runs in the request: no broker), and a
        # decided backtest between the two, so the id-taking operations reach their real logic.
        status, job = server.call("POST", f"{MP}/retrain/trigger", token, {"model_id": active[0]})
        assert status == 202, job
        status, done = server.call("GET", f"{MP}/training-history/{job['training_id']}/", token)
        assert status == 200 and done["status"] == "completed" and done["new_model_id"], done
        candidate = done["new_model_id"]
        status, version = server.call("GET", f"{API}/baselines/{candidate}/", token)
        assert status == 200, version
        status, test = server.call("POST", f"{MP}/ab-test/start", token, {
            "name": "seeded backtest", "model_a_id": active[0], "model_b_id": candidate, "min_samples": 24,
            "window_start": version["training_start"], "window_end": version["training_end"]})
        assert status == 201, test
        status, drift = server.call("POST", f"{MP}/drift/check", token, {"model_id": active[1]})
        assert status == 200, drift
        timings["seed over HTTP"] = time.monotonic() - started - timings["setup"]

        config = tmp_path / "schemathesis.toml"
        _schemathesis_config(config, active=active, candidate=candidate, abtest=test["id"])
        # `?format=json`: /openapi.json answers YAML unless the client sends `Accept: application/json`.
        command = [
            str(cli), "--config-file", str(config), "run",
            f"http://127.0.0.1:{server.port}/openapi.json?format=json",
            "--header", f"Authorization: Token {token}",
            "--phases=examples,coverage,fuzzing,stateful", "--max-examples", "20", "--seed", "1",
            "--checks", "all", "--max-response-time", str(MAX_RESPONSE_TIME_S), "--request-timeout", "90",
            "--no-color",
        ]
        run_started = time.monotonic()
        try:
            result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                                    timeout=SCHEMATHESIS_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"schemathesis ran past {SCHEMATHESIS_TIMEOUT_S}s:\n{(exc.stdout or b'')[-6000:]!r}")
        timings["schemathesis"] = time.monotonic() - run_started
        (tmp_path / "schemathesis.out").write_text(result.stdout + result.stderr)

        # The workers keep their connections (CONN_MAX_AGE); end every one of them. The health
        # check at the start of the next request replaces a dead connection, so nothing fails.
        dbname = urlsplit(scratch_database).path.lstrip("/")
        [(ended,)] = _pg_admin("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()", dbname=dbname)
        after_kill = [server.call("GET", path, token)[0] for path in (f"{API}/machines/", f"{MP}/alerts/active",
                                                                      f"{API}/baselines/") * 8]
    finally:
        server.stop()
    server_log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    # (A training job that fails, e.g. on a window without readings, logs its traceback: not a 500.)
    server_errors = [line for line in server_log.splitlines()
                     if '" 500 ' in line or "Internal Server Error" in line]
    print(result.stdout[-3000:])
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    assert result.returncode == 0, f"{result.stdout[-12000:]}\n{result.stderr[-3000:]}"
    assert not server_errors, "\n".join(server_errors[:20])
    assert ended > 0
    assert after_kill == [200] * len(after_kill), f"{after_kill}\n{server_log[-4000:]}"
