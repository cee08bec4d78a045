"""The forecast panel of the model page and the fleet's "breach in" column, in headless Chromium."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from baselines.models import DriverForecast, EnergyReading
from performance.models import AlertType, ModelAlert
from performance.services.forecast import forecast_batch
from tests.test_browser import (  # noqa: F401  (fixtures)
    CHART_JS,
    CHROMIUM,
    PAINTED_PIXELS,
    admin_user,
    browser,
    contexts,
    model_path,
    open_page,
    plant,
    screenshot,
    wait_painted,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium"),
    pytest.mark.skipif(not CHART_JS.exists(), reason="run `make static` to copy Chart.js into static/vendor"),
]


def test_forecast_panel_paints_the_breach_and_the_fleet_counts_down(contexts, live_server, plant, admin_user):  # noqa: F811
    model = plant["model"]
    machine = model.machine
    last = EnergyReading.objects.filter(machine=machine).latest("timestamp").timestamp
    # Every driver inside its range, then from the ninth day one far above it (a new product run).
    ranges = model.driver_ranges
    values = {d: np.full(30 * 24, (lo + hi) / 2) for d, (lo, hi) in ranges.items()}
    name, (lo, hi) = next(iter(ranges.items()))
    values[name][8 * 24:] = hi + 3 * (hi - lo)
    DriverForecast.objects.bulk_create(
        DriverForecast(machine=machine, timestamp=last + timedelta(hours=1 + i),
                       **{d: float(v[i]) for d, v in values.items()})
        for i in range(30 * 24))

    page = open_page(contexts, live_server, admin_user, model_path(model))
    wait_painted(page, ("forecast",))
    assert page.evaluate(PAINTED_PIXELS, "forecast") > 2000
    labels = page.evaluate("() => window.enmsCharts.forecast.data.datasets.map((d) => d.label)")
    assert any(label.startswith("Expected breach") for label in labels)
    assert any(label.startswith("ASHRAE limit") for label in labels)
    assert page.evaluate("() => window.enmsCharts.forecast.data.datasets[0].data.length") == 30
    assert "Expected to fail its policy" in page.inner_text("#forecast-summary")
    assert page.locator("#forecast-reasons li").count() >= 1
    screenshot(page, "forecast_panel")
    assert page.js_errors == []

    forecast_batch(version_ids=[model.pk])
    assert ModelAlert.objects.filter(model=model, alert_type=AlertType.FORECAST_DEGRADATION).exists()
    page = open_page(contexts, live_server, admin_user, "/ui/fleet?sort=breach")
    first = page.locator("#fleet-table tbody tr").first
    assert first.get_attribute("data-machine") == machine.name
    assert "day" in first.locator("td[data-breach-in]").inner_text()
    assert page.js_errors == []
