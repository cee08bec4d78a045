/* Forecast panel of the model page: the out-of-range share of each coming day and the expected
   CV(RMSE) with its upper band against the ASHRAE limit, the expected breach date marked; read
   from GET /api/v1/model-performance/forecast. */
(function () {
  "use strict";
  var panel = document.getElementById("forecast");
  if (!panel) return;
  var COLORS = { cv: "#1f6feb", band: "rgba(31,111,235,0.35)", share: "rgba(178,107,0,0.45)", limit: "#c62828",
                 breach: "#c62828" };

  function dayMs(text) { return new Date(text + "T00:00:00").getTime(); }
  function pct(v) { return v === null || v === undefined ? null : v * 100; }
  function fmtDate(text) { return new Date(text + "T00:00:00").toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }); }

  function draw(body) {
    var charts = (window.enmsCharts = window.enmsCharts || {});
    var painted = (window.enmsPaint = window.enmsPaint || {});
    var days = body.days;
    var limit = body.policy.cv_rmse_limit * 100;
    var xs = days.map(function (d) { return dayMs(d.date); });
    var cv = days.map(function (d, i) { return { x: xs[i], y: pct(d.expected_cv_rmse) }; });
    var high = days.map(function (d, i) { return { x: xs[i], y: pct(d.expected_cv_rmse_high) }; });
    var share = days.map(function (d, i) { return { x: xs[i], y: d.out_of_range_share === null ? null : pct(d.out_of_range_share) }; });
    var top = Math.max(limit * 1.3, 100, Math.max.apply(null, high.map(function (p) { return p.y || 0; })));
    var first = xs[0], last = xs[xs.length - 1] + 86400e3;
    var datasets = [
      { type: "line", label: "Expected CV(RMSE) %", data: cv, borderColor: COLORS.cv, backgroundColor: COLORS.cv, borderWidth: 2, pointRadius: 0 },
      { type: "line", label: "Upper band %", data: high, borderColor: COLORS.band, backgroundColor: "rgba(31,111,235,0.08)", borderDash: [4, 3], borderWidth: 1.5, pointRadius: 0, fill: "-1" },
      { type: "bar", label: "Hours outside the training range %", data: share, backgroundColor: COLORS.share, borderWidth: 0, barPercentage: 1.0, categoryPercentage: 1.0 },
      { type: "line", label: "ASHRAE limit " + limit.toLocaleString() + " %", data: [{ x: first, y: limit }, { x: last, y: limit }], borderColor: COLORS.limit, borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 },
    ];
    if (body.expected_breach_at) {
      var at = dayMs(body.expected_breach_at);
      datasets.push({ type: "line", label: "Expected breach " + fmtDate(body.expected_breach_at), data: [{ x: at, y: 0 }, { x: at, y: top }], borderColor: COLORS.breach, borderWidth: 3, pointRadius: [0, 5], pointBackgroundColor: COLORS.breach });
    }
    if (charts.forecast) charts.forecast.destroy();
    charts.forecast = new window.Chart(document.getElementById("chart-forecast"), {
      data: { datasets: datasets },
      options: {
        animation: false, parsing: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", min: first, max: last, grid: { display: false }, ticks: { maxTicksLimit: 8, callback: function (v) { return new Date(v).toLocaleDateString(undefined, { month: "short", day: "numeric" }); } } },
          y: { min: 0, max: Math.ceil(top / 10) * 10, ticks: { callback: function (v) { return v + " %"; } } },
        },
        plugins: { legend: { labels: { boxWidth: 12 } } },
      },
    });
    requestAnimationFrame(function () {
      painted.forecast = performance.now();
      document.dispatchEvent(new CustomEvent("enms:painted", { detail: "forecast" }));
    });
  }

  function summary(body) {
    var source = { forecast: "driver forecasts", history: "the same days of earlier years", mixed: "driver forecasts and earlier years" }[body.source];
    if (body.expected_breach_at) {
      var days = Math.round((dayMs(body.expected_breach_at) - dayMs(body.days[0].date)) / 86400e3);
      return "Expected to fail its policy on " + fmtDate(body.expected_breach_at) + " (in " + days + " day" + (days === 1 ? "" : "s") +
        ", probability " + Math.round(body.breach_probability * 100) + " %). Drivers from " + source + ".";
    }
    return "No breach expected in the next " + body.horizon_days + " days (highest daily probability " +
      Math.round(body.breach_probability * 100) + " %). Drivers from " + source + ".";
  }

  function load() {
    var horizon = document.getElementById("forecast-horizon").value;
    var url = "/api/v1/model-performance/forecast?model_id=" + encodeURIComponent(panel.dataset.modelId) + "&horizon_days=" + horizon;
    var out = document.getElementById("forecast-summary");
    window.enms.api("GET", url).then(function (result) {
      var reasons = document.getElementById("forecast-reasons");
      reasons.replaceChildren();
      if (!result.ok) {
        out.textContent = window.enms.errorLines(result).join(" ");
        return;
      }
      out.textContent = summary(result.data);
      result.data.reasons.forEach(function (line) { reasons.appendChild(window.enms.el("li", null, line)); });
      draw(result.data);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var ready = window.Chart ? Promise.resolve() : new Promise(function (resolve) { window.addEventListener("load", resolve); });
    // The trend charts go first (the forecast is computed on the server and would slow their
    // requests); without them on the page, or if they take long, the forecast loads anyway.
    var trends = new Promise(function (resolve) {
      if (window.enmsTrendsDrawn) { resolve(); return; }
      document.addEventListener("enms:trends-drawn", resolve, { once: true });
      setTimeout(resolve, 8000);
    });
    Promise.all([ready, trends]).then(load);
    document.getElementById("forecast-horizon").addEventListener("change", load);
    document.getElementById("forecast-form").addEventListener("submit", function (e) { e.preventDefault(); load(); });
  });
})();
