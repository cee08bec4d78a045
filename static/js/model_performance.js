/* Model performance page: metric trends against ASHRAE Guideline 14, drift, actual vs predicted
   energy, alerts, training jobs and A/B tests of one machine's model, all read from the public
   API; the controls the server rendered (by the user's rights) post to the same API. */
(function () {
  "use strict";
  var E = window.enms;
  var configNode = document.getElementById("page-config");
  if (!configNode) return;
  // Chart.js loads after this script (both deferred), so the data requests start while it is
  // still being parsed; drawing waits for it.
  var chartReady = new Promise(function (resolve) {
    if (window.Chart) resolve();
    else document.addEventListener("DOMContentLoaded", resolve);
  });
  var config = JSON.parse(configNode.textContent);
  var PERF = config.api + "model-performance/";
  var rights = config.rights || {};
  var hasModel = Boolean(config.modelId);

  var charts = (window.enmsCharts = {});
  var painted = (window.enmsPaint = {});
  var versions = {};
  config.versions.forEach(function (v) { versions[v.id] = v; });

  var COLORS = { line: "#1f6feb", fill: "rgba(31,111,235,0.08)", reference: "#5f6b7a", limit: "#c62828",
                 warn: "#b26b00", actual: "#1d2330", predicted: "#1f6feb", extrapolated: "#b26b00" };
  var BUCKET_MS = { hour: 3600e3, day: 86400e3, week: 7 * 86400e3 };
  var th = config.thresholds || {};
  var METRICS = {
    r_squared: { label: "R²", scale: 1, digits: 3, unit: "" },
    rmse: { label: "RMSE", scale: 1, digits: 2, unit: " kWh" },
    cv_rmse: { label: "CV(RMSE)", scale: 100, digits: 1, unit: " %",
               limits: th.cv_rmse ? [{ y: th.cv_rmse, label: "ASHRAE limit " + fmtLimit(th.cv_rmse) }] : [] },
    nmbe: { label: "NMBE", scale: 100, digits: 1, unit: " %",
            limits: th.nmbe ? [{ y: th.nmbe, label: "ASHRAE limit ±" + fmtLimit(th.nmbe) }, { y: -th.nmbe, label: null }] : [] },
    precision: { label: "Precision", scale: 1, digits: 3, unit: "" },
    recall: { label: "Recall", scale: 1, digits: 3, unit: "" },
    f1_score: { label: "F1 score", scale: 1, digits: 3, unit: "" },
    drift_score: { label: "Drift score", scale: 1, digits: 2, unit: "", min: 0, max: 1,
                   limits: [{ y: 1 / 3, label: "warning", color: COLORS.warn }, { y: 2 / 3, label: "critical" }] },
  };

  function fmtLimit(value) { return E.numberFormat({ maximumFractionDigits: 1 }).format(value * 100) + " %"; }

  function qs(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== null && params[k] !== undefined && params[k] !== ""; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }

  function versionLabel(id) {
    if (!id) return "—";
    var v = versions[id];
    return v ? "v" + v.version : "new version";
  }

  function modelLink(id) {
    var a = E.el("a", { href: "?" + qs({ machine: config.machineId, model: id, bucket: config.bucket }) }, versionLabel(id));
    return a;
  }

  function showResult(box, kind, lines) {
    if (!box) return;
    box.className = "form-result " + kind;
    box.replaceChildren();
    [].concat(lines).forEach(function (line) {
      box.appendChild(typeof line === "string" ? E.el("div", null, line) : line);
    });
  }

  function markPainted(name) {
    requestAnimationFrame(function () {
      painted[name] = performance.now();
      document.dispatchEvent(new CustomEvent("enms:painted", { detail: name }));
    });
  }

  // --- charts ------------------------------------------------------------------------------------

  var TICK_STEPS = [3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 28 * 86400e3, 91 * 86400e3];

  /* Tick positions on local hour/day boundaries, so labels read as whole days (or hours) in the
     user's time zone, at most about seven of them. */
  function timeTicks(min, max) {
    var span = max - min;
    var step = TICK_STEPS.filter(function (s) { return span / s <= 7; })[0] || TICK_STEPS[TICK_STEPS.length - 1];
    var start = new Date(min);
    if (step >= 86400e3) start.setHours(0, 0, 0, 0); else start.setMinutes(0, 0, 0);
    var ticks = [];
    for (var t = start.getTime(); t <= max; ) {
      if (t >= min) ticks.push(t);
      var next = new Date(t);
      if (step >= 86400e3) next.setDate(next.getDate() + Math.round(step / 86400e3));
      else next.setTime(t + step);
      t = next.getTime();
    }
    return { ticks: ticks, daily: step >= 86400e3 };
  }

  function timeAxis(points) {
    var min = points.length ? points[0].x : undefined;
    var max = points.length > 1 ? points[points.length - 1].x : undefined;
    var daily = true;
    return {
      type: "linear", min: min, max: max,
      grid: { display: false },
      afterBuildTicks: function (axis) {
        if (min === undefined || max === undefined) return;
        var built = timeTicks(min, max);
        daily = built.daily;
        axis.ticks = built.ticks.map(function (value) { return { value: value }; });
      },
      ticks: {
        maxRotation: 0, autoSkip: true,
        callback: function (value) {
          var years = min !== undefined && new Date(min).getFullYear() !== new Date(max).getFullYear();
          return E.dateFormat(!daily ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
                              : years ? { year: "numeric", month: "short", day: "numeric" } : { month: "short", day: "numeric" })
            .format(new Date(value));
        },
      },
    };
  }

  function hline(y, x0, x1, label, color, dash) {
    return { label: label, data: [{ x: x0, y: y }, { x: x1, y: y }], borderColor: color, backgroundColor: color,
             borderDash: dash || [6, 4], borderWidth: 1.5, pointRadius: 0, pointHoverRadius: 0, fill: false,
             isGuide: true };
  }

  function baseOptions(points, spec, onClick) {
    return {
      animation: false, parsing: false, normalized: true, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      onClick: onClick,
      scales: {
        x: timeAxis(points),
        y: {
          min: spec.min, max: spec.max,
          ticks: { maxTicksLimit: 6, callback: function (v) { return E.fmtNum(v, spec.digits) + (spec.unit === " %" ? " %" : ""); } },
        },
      },
      plugins: {
        legend: { display: true, position: "bottom", labels: { boxWidth: 14, boxHeight: 2, filter: function (item) { return item.text; } } },
        tooltip: {
          filter: function (item) { return !item.dataset.isGuide; },
          callbacks: {
            title: function (items) { return items.length ? E.fmtTime(new Date(items[0].parsed.x).toISOString()) : ""; },
            label: function (item) {
              var raw = item.raw || {};
              return item.dataset.label + ": " + E.fmtNum(item.parsed.y, spec.digits) + spec.unit + (raw.n ? "  (" + raw.n + " evaluation" + (raw.n === 1 ? "" : "s") + ")" : "") +
                (raw.inSample ? " · in-sample (inside the training period)" : "");
            },
          },
        },
      },
    };
  }

  function chartCard(name) { return document.querySelector('.chart-card[data-metric="' + name + '"]'); }

  function setChartEmpty(name, message) {
    var card = chartCard(name);
    if (!card) return;
    var box = card.querySelector(".chart-box");
    var note = card.querySelector(".chart-empty");
    if (message) {
      if (charts[name]) { charts[name].destroy(); delete charts[name]; }
      box.hidden = true;
      note.hidden = false;
      note.textContent = message;
    } else {
      box.hidden = false;
      note.hidden = true;
    }
  }

  function drawChart(name, datasets, options) {
    return chartReady.then(function () { draw(name, datasets, options); });
  }

  function draw(name, datasets, options) {
    setChartEmpty(name, null);
    var canvas = document.getElementById("chart-" + name);
    if (charts[name]) {
      charts[name].data.datasets = datasets;
      charts[name].options = options;
      charts[name].update("none");
    } else {
      charts[name] = new window.Chart(canvas, { type: "line", data: { datasets: datasets }, options: options });
    }
    markPainted(name);
  }

  var current = versions[config.modelId] || {};
  var trainStart = current.trainingStart ? Date.parse(current.trainingStart) : null;
  var trainEnd = current.trainingEnd ? Date.parse(current.trainingEnd) : null;

  function inSample(x) { return trainStart !== null && x >= trainStart && x < trainEnd; }

  /* Dashed vertical markers where each version of this model type became active, and the
     current version's training period as a shaded band (drawn behind the line). */
  function timelineDatasets(spec, points) {
    var ys = points.map(function (p) { return p.y; });
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    if (spec.min !== undefined) lo = Math.min(lo, spec.min);
    if (spec.max !== undefined) hi = Math.max(hi, spec.max);
    if (lo === hi) { lo -= 1; hi += 1; }
    var x0 = points[0].x, x1 = points[points.length - 1].x;
    var out = [];
    config.versions.forEach(function (v) {
      if (v.modelType !== config.modelType || !v.activatedAt) return;
      var t = Date.parse(v.activatedAt);
      if (t < x0 || t > x1) return;
      out.push({ label: null, versionLabel: "v" + v.version + " active", data: [{ x: t, y: lo }, { x: t, y: hi }],
                 borderColor: "#6a3fb5", borderDash: [3, 3], borderWidth: 1.2, pointRadius: 0, pointHoverRadius: 0,
                 fill: false, isGuide: true, isMarker: true });
    });
    if (trainStart !== null && trainEnd > x0 && trainStart < x1) {
      var a = Math.max(trainStart, x0), b = Math.min(trainEnd, x1);
      out.push({ label: "Training period of v" + config.modelVersion, data: [{ x: a, y: hi }, { x: b, y: hi }],
                 borderColor: "rgba(106,63,181,0)", backgroundColor: "rgba(106,63,181,0.08)", pointRadius: 0,
                 pointHoverRadius: 0, fill: "origin", isGuide: true, order: 10 });
    }
    return out;
  }

  function trendDatasets(spec, points, reference) {
    var many = points.length > 120;
    var datasets = [{
      label: spec.label, data: points, borderColor: COLORS.line, backgroundColor: COLORS.fill, borderWidth: 1.6,
      // Fixed point options (not functions of each point): Chart.js then shares one options object
      // across the 2,000 points instead of resolving them per point, which halves the drawing time.
      pointRadius: many ? 0 : 2.5, pointBackgroundColor: COLORS.line,
      pointHoverRadius: 4, pointHitRadius: 6, fill: false, spanGaps: true,
    }];
    // In-sample points (inside the training period) drawn hollow on top of the line, as a guide
    // dataset of their own; the line's own points keep every value for tooltips and clicks.
    var inside = points.filter(function (p) { return p.inSample; });
    if (inside.length) {
      datasets.push({ label: null, data: inside, showLine: false, borderColor: COLORS.line, backgroundColor: "#fff",
                      pointBackgroundColor: "#fff", pointBorderColor: COLORS.line, borderWidth: 1.6, pointRadius: 3,
                      pointHoverRadius: 3, pointHitRadius: 0, isGuide: true, isInSample: true, order: -1 });
    }
    var x0 = points[0].x, x1 = points[points.length - 1].x;
    if (x0 === x1) { x0 -= 12 * 3600e3; x1 += 12 * 3600e3; }
    datasets = datasets.concat(timelineDatasets(spec, points));
    (spec.limits || []).forEach(function (limit) {
      datasets.push(hline(limit.y * spec.scale, x0, x1, limit.label, limit.color || COLORS.limit));
    });
    if (reference !== null && reference !== undefined && isFinite(reference) && spec !== METRICS.drift_score) {
      datasets.push(hline(reference * spec.scale, x0, x1, "Training value " + E.fmtNum(reference * spec.scale, spec.digits) + spec.unit,
                          COLORS.reference, [2, 3]));
    }
    return datasets;
  }

  /* The trend charts of `names` from one request (`metrics/trends`: one grouped query instead of
     one request per chart competing for the server). The first load uses the URL the server wrote
     into the config (and preloaded); a refresh of some charts asks for the same scope and range. */
  function loadTrends(names, url) {
    names = names.filter(function (name) { return chartCard(name) && METRICS[name]; });
    if (!names.length) return Promise.resolve();
    if (!url) {
      var range = config.range || {};
      // The machine's timeline (every version of this model type), or with a single version of
      // this type that version's (a narrower query); the server chose the same for the first load.
      var siblings = config.versions.filter(function (v) { return v.modelType === config.modelType; }).length;
      var scope = siblings > 1 ? { machine_id: config.machineId, model_type: config.modelType } : { model_id: config.modelId };
      url = PERF + "metrics/trends?" + qs(Object.assign(scope, { metrics: names.join(","), bucket: config.bucket,
                                                                 start: range.start, end: range.end }));
    }
    return E.api("GET", url).then(function (result) {
      return Promise.all(names.map(function (name) {
        if (!result.ok) {
          setChartEmpty(name, "Could not load the " + METRICS[name].label + " trend: " + E.errorLines(result).join(" "));
          return;
        }
        return showTrend(name, result.data.trends[name]);
      }));
    });
  }

  function loadTrend(name) { return loadTrends([name]); }

  function showTrend(name, trend) {
    var spec = METRICS[name];
    var points = ((trend && trend.points) || []).filter(function (p) { return p.value !== null; }).map(function (p) {
      var x = Date.parse(p.t);
      return { x: x, y: p.value * spec.scale, n: p.n, inSample: inSample(x) };
    });
    if (!points.length) {
      setChartEmpty(name, name === "drift_score"
        ? "No drift checks yet." + (rights.drift_check ? " Run one with the button above." : " They run on schedule or on request.")
        : "No " + spec.label + " values recorded for this model yet.");
      return;
    }
    return drawChart(name, trendDatasets(spec, points, trend.reference_value),
                     baseOptions(points, spec, name === "drift_score" ? onDriftClick : undefined));
  }

  // --- CUSUM ---------------------------------------------------------------------------------------

  function fetchCusum() {
    return config.cusumUrl && chartCard("cusum")
      ? E.api("GET", config.cusumUrl).then(function (r) { return r.ok ? r.data.cusum : null; })
      : Promise.resolve(null);
  }

  function drawCusum(cusumData, changePoint) {
    return cusumData.then(function (data) { return paintCusum(data, changePoint); });
  }

  function paintCusum(data, changePoint) {
    if (!chartCard("cusum")) return Promise.resolve();
    if (!data || !data.points || !data.points.length) {
      setChartEmpty("cusum", "No readings in this range to compare with the baseline.");
      return Promise.resolve();
    }
    var points = data.points.map(function (p) { return { x: Date.parse(p.t + "T12:00:00"), y: p.cumulative_kwh, n: p.n, day: p.kwh }; });
    var spec = { label: "Cumulative kWh vs baseline", digits: 0, unit: " kWh" };
    var datasets = [{ label: spec.label, data: points, borderColor: COLORS.actual, borderWidth: 1.8, pointRadius: 0,
                      pointHitRadius: 6, fill: { target: "origin", above: "rgba(198,40,40,0.10)", below: "rgba(26,127,55,0.10)" } }];
    var x0 = points[0].x, x1 = points[points.length - 1].x;
    datasets.push(hline(0, x0, x1, "Baseline (0)", COLORS.reference, [2, 3]));
    if (changePoint) {
      var t = Date.parse(changePoint);
      if (t >= x0 && t <= x1) {
        var ys = points.map(function (p) { return p.y; });
        datasets.push({ label: "Change point " + E.fmtTime(changePoint), data: [{ x: t, y: Math.min.apply(null, ys) }, { x: t, y: Math.max.apply(null, ys) }],
                        borderColor: COLORS.limit, borderWidth: 1.5, borderDash: [4, 3], pointRadius: 0, isGuide: true });
      }
    }
    var last = points[points.length - 1].y;
    var summary = document.getElementById("cusum-summary");
    if (summary) {
      var pct = data.percent_above;
      summary.textContent = "Over this range: " + E.fmtNum(Math.abs(last), 0) + " kWh " + (last >= 0 ? "above" : "below") +
        " the baseline" + (pct !== null && pct !== undefined ? " (" + E.fmtNum(Math.abs(pct), 1) + " % of predicted energy). " : ". ") +
        "This percentage divides by predicted energy; NMBE divides by actual energy, so the two differ when the gap is large.";
    }
    return drawChart("cusum", datasets, baseOptions(points, spec));
  }

  // --- drift details -----------------------------------------------------------------------------

  function num(value, digits) { return E.fmtNum(value, digits === undefined ? 3 : digits); }

  function renderDriftDetails(container, details, heading) {
    var wrap = E.el("div", { className: "drift-check" });
    if (heading) wrap.appendChild(heading);
    details = details || {};
    var inner = details.details && typeof details.details === "object" ? details.details : {};
    var reasons = details.reasons || inner.reasons || [];
    if (reasons.length) {
      wrap.appendChild(E.el("ul", { className: "reasons" }, reasons.map(function (r) { return E.el("li", null, String(r)); })));
    }
    var data = details.data_drift;
    if (data && typeof data === "object" && Object.keys(data).length) {
      var rows = Object.keys(data).map(function (driver) {
        var d = data[driver] || {};
        return E.el("tr", { className: d.drifted ? "drifted" : "" }, [
          E.el("th", { scope: "row" }, driver),
          E.el("td", { className: "num" }, num(d.psi)),
          E.el("td", { className: "num" }, num(d.ks_statistic)),
          E.el("td", { className: "num" }, d.ks_pvalue === null || d.ks_pvalue === undefined ? "—" : Number(d.ks_pvalue).toPrecision(2)),
          E.el("td", { className: "num" }, num(d.wasserstein)),
          E.el("td", { className: "num" }, d.out_of_range_share === undefined ? "—" : E.fmtPct(d.out_of_range_share)),
          E.el("td", null, d.drifted ? E.el("span", { className: "badge " + (d.level === "critical" ? "critical" : "warning") }, d.level || "drifted")
                                     : E.el("span", { className: "badge pass" }, "stable")),
        ]);
      });
      wrap.appendChild(E.el("div", { className: "table-wrap" }, E.el("table", { className: "drift-table" }, [
        E.el("caption", null, "Data drift per driver (current window vs training window)"),
        E.el("thead", null, E.el("tr", null, ["Driver", "PSI", "KS", "KS p", "Wasserstein", "Out of range", ""].map(function (h) {
          return E.el("th", { scope: "col" }, h);
        }))),
        E.el("tbody", null, rows),
      ])));
    }
    var concept = details.concept_drift;
    if (concept && typeof concept === "object" && Object.keys(concept).length) {
      var items = [
        ["NMBE", E.fmtPct(concept.nmbe, true)], ["CV(RMSE)", E.fmtPct(concept.cv_rmse)],
        ["Error ratio", num(concept.error_ratio, 2)],
        ["Change point", typeof concept.change_point === "string" ? E.fmtTime(concept.change_point)
                          : concept.change_point === null || concept.change_point === undefined ? "none" : "row " + concept.change_point],
        ["Drifted", concept.drifted ? "yes" : "no"],
      ];
      wrap.appendChild(E.el("div", { className: "stat-row concept" }, [E.el("strong", null, "Concept drift")].concat(items.map(function (item) {
        return E.el("div", { className: "stat" }, [E.el("span", null, item[0]), E.el("strong", null, item[1])]);
      }))));
    }
    if (!reasons.length && !data && !concept) {
      wrap.appendChild(E.el("p", { className: "muted" }, "No per-driver details were stored with this check."));
    }
    container.appendChild(wrap);
  }

  function onDriftClick(event, elements, chart) {
    var hit = (elements || []).filter(function (e) { return e.datasetIndex === 0; })[0];
    if (!hit) return;
    var point = chart.data.datasets[0].data[hit.index];
    var start = new Date(point.x), end = new Date(point.x + BUCKET_MS[config.bucket]);
    var box = document.getElementById("drift-details");
    box.replaceChildren(E.el("p", { className: "muted" }, "Loading drift checks of " + E.fmtTime(start.toISOString()) + "…"));
    showDriftChecks(box, { start: start.toISOString(), end: end.toISOString(), page_size: 20 },
                    "No drift check in this " + config.bucket + "; the score here comes from scheduled evaluations.");
  }

  function showDriftChecks(box, params, emptyText) {
    E.api("GET", PERF + "metrics/?" + qs(Object.assign({ model_id: config.modelId, source: "drift_check" }, params))).then(function (result) {
      box.replaceChildren();
      if (!result.ok) { showResult(box, "error", E.errorLines(result)); return; }
      var rows = result.data.results || [];
      if (!rows.length) { box.appendChild(E.el("p", { className: "muted" }, emptyText)); return; }
      rows.forEach(function (row) {
        var heading = E.el("h3", null, [
          "Drift check " + E.fmtTime(row.evaluated_at) + " · score " + num(row.drift_score, 2) + " ",
          E.el("span", { className: "badge " + severityOf(row.drift_score) }, severityOf(row.drift_score)),
        ]);
        renderDriftDetails(box, row.drift_details, heading);
      });
    });
  }

  function severityOf(score) {
    if (score === null || score === undefined) return "none";
    return score >= 2 / 3 ? "critical" : score >= 1 / 3 ? "warning" : "none";
  }

  // --- latest metrics strip ----------------------------------------------------------------------

  function loadLatest() {
    var box = document.getElementById("latest-metrics");
    if (!box || !hasModel) return Promise.resolve();
    return E.api("GET", PERF + "metrics/?" + qs({ model_id: config.modelId, page_size: 1 })).then(function (result) {
      if (!result.ok) return;
      var row = (result.data.results || [])[0];
      if (row && (row.drift_score === null || row.drift_score === undefined)) {
        return E.api("GET", PERF + "metrics/?" + qs({ model_id: config.modelId, source: "drift_check", page_size: 1 })).then(function (drift) {
          var check = drift.ok ? (drift.data.results || [])[0] : null;
          renderLatest(box, row, check ? check.drift_score : null);
        });
      }
      renderLatest(box, row, row ? row.drift_score : null);
    });
  }

  function renderLatest(box, row, driftScore) {
    box.replaceChildren();
    if (!row) { box.appendChild(E.el("p", { className: "muted" }, "Not evaluated yet.")); return; }
    var verdict = row.ashrae_pass === true ? ["pass", "ASHRAE pass"] : row.ashrae_pass === false ? ["fail", "ASHRAE fail"] : ["muted", "ASHRAE n/a"];
    var cells = config.modelType === "anomaly_detector"
      ? [["Precision", num(row.precision)], ["Recall", num(row.recall)], ["F1", num(row.f1_score)]]
      : [["CV(RMSE)", E.fmtPct(row.cv_rmse)], ["NMBE", E.fmtPct(row.nmbe, true)], ["R²", num(row.r_squared)],
         ["RMSE", E.fmtNum(row.rmse, 2) + " kWh"]];
    cells.push(["Drift score", num(driftScore, 2)]);
    box.appendChild(E.el("div", { className: "stat-row" }, [E.el("span", { className: "badge " + verdict[0] }, verdict[1])].concat(
      cells.map(function (c) { return E.el("div", { className: "stat" }, [E.el("span", null, c[0]), E.el("strong", null, c[1])]); }),
      [E.el("div", { className: "stat" }, [E.el("span", null, "Evaluated"), E.el("strong", { title: row.evaluated_at }, E.fmtTime(row.evaluated_at))])]
    )));
  }

  // --- actual vs predicted -----------------------------------------------------------------------

  function dateInputValue(date) {
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
  }

  function localMidnight(value) {
    var parts = value.split("-").map(Number);
    return new Date(parts[0], parts[1] - 1, parts[2]);
  }

  function fetchAllReadings(url, rows, pages) {
    return E.api("GET", url).then(function (result) {
      if (!result.ok) return result;
      rows.push.apply(rows, result.data.results || []);
      if (result.data.next && pages < 9) return fetchAllReadings(result.data.next, rows, pages + 1);
      return { ok: true, rows: rows, truncated: Boolean(result.data.next) };
    });
  }

  function loadActualVsPredicted() {
    var form = document.getElementById("avp-form");
    if (!form) return Promise.resolve();
    var resultBox = document.getElementById("avp-result");
    var summary = document.getElementById("avp-summary");
    var start = localMidnight(form.start.value);
    var end = localMidnight(form.end.value);
    end.setDate(end.getDate() + 1);
    showResult(resultBox, "", []);
    if (!(start < end)) { showResult(resultBox, "error", "The end date must not be before the start date."); return Promise.resolve(); }
    summary.textContent = "Loading…";
    var url = config.api + "machines/" + config.machineId + "/readings/?" + qs({ start: start.toISOString(), end: end.toISOString(), page_size: 1000 });
    return fetchAllReadings(url, [], 0).then(function (readings) {
      if (!readings.ok) { summary.textContent = ""; showResult(resultBox, "error", E.errorLines(readings)); return; }
      var rows = readings.rows;
      if (!rows.length) {
        summary.textContent = "";
        setChartEmpty("actual_vs_predicted", "No readings between " + E.fmtDate(start.toISOString()) + " and " +
          E.fmtDate(new Date(end - 1).toISOString()) + ". Readings run from " + E.fmtDate(config.firstReading) + " to " + E.fmtDate(config.lastReading) + ".");
        return;
      }
      var body = { rows: rows.map(function (r) {
        var row = { timestamp: r.timestamp };
        ["production_units", "outdoor_temp_c", "operating_hours"].forEach(function (k) { if (r[k] !== null && r[k] !== undefined) row[k] = r[k]; });
        return row;
      }) };
      return E.api("POST", config.api + "baselines/" + config.modelId + "/predict/", body).then(function (result) {
        if (!result.ok) { summary.textContent = ""; showResult(resultBox, "error", ["Prediction failed:"].concat(E.errorLines(result))); return; }
        var actual = [], predicted = [], extrapolated = [], sumA = 0, sumP = 0;
        rows.forEach(function (r, i) {
          var x = Date.parse(r.timestamp), p = result.data.predictions[i];
          actual.push({ x: x, y: r.energy_kwh });
          predicted.push({ x: x, y: p });
          if (result.data.extrapolated && result.data.extrapolated[i]) extrapolated.push({ x: x, y: p });
          sumA += r.energy_kwh; sumP += p;
        });
        var spec = { label: "kWh", digits: 2, unit: " kWh" };
        var many = rows.length > 200;
        var datasets = [
          { label: "Actual", data: actual, borderColor: COLORS.actual, backgroundColor: COLORS.actual, borderWidth: 1.2, pointRadius: many ? 0 : 1.5 },
          { label: "Predicted (v" + config.modelVersion + ")", data: predicted, borderColor: COLORS.predicted, backgroundColor: COLORS.predicted, borderWidth: 1.2, pointRadius: 0 },
        ];
        if (extrapolated.length) {
          datasets.push({ label: "Extrapolated (drivers outside training range)", data: extrapolated, showLine: false,
                          borderColor: COLORS.extrapolated, backgroundColor: COLORS.extrapolated, pointRadius: 2.5, pointStyle: "triangle" });
        }
        var options = baseOptions(actual, spec);
        options.scales.y.title = { display: true, text: "kWh per hour" };
        drawChart("actual_vs_predicted", datasets, options);
        var diff = sumP ? (sumA - sumP) / sumP : null;
        summary.textContent = rows.length + " h · actual " + E.fmtNum(sumA, 0) + " kWh · predicted " + E.fmtNum(sumP, 0) + " kWh" +
          (diff === null ? "" : " · " + E.fmtPct(diff, true) + (diff > 0 ? " above" : " below") + " the baseline (of predicted kWh; NMBE, which divides by actual kWh, is " +
            E.fmtPct(sumA ? (sumA - sumP) / sumA : null, true) + ")") +
          (readings.truncated ? " (first 10,000 hours only)" : "");
      });
    });
  }

  function setupActualVsPredicted() {
    var form = document.getElementById("avp-form");
    if (!form || !config.lastReading) return;
    var last = new Date(config.lastReading);
    var first = new Date(last); first.setDate(first.getDate() - 6);
    form.end.value = dateInputValue(last);
    form.start.value = dateInputValue(first);
    form.addEventListener("submit", function (event) { event.preventDefault(); loadActualVsPredicted(); });
    loadActualVsPredicted();
  }

  // --- alerts ------------------------------------------------------------------------------------

  var alertNodes = new Map();
  var alertsLoaded = false;

  function changePointOf(alert) {
    var d = alert.details || {};
    return (d.impact && d.impact.change_point) || d.change_point || (d.concept_drift && d.concept_drift.change_point) || null;
  }

  function rangeAround(iso) {
    var t = new Date(Date.parse(iso));
    var start = new Date(t.getTime() - 14 * 86400e3), end = new Date(t.getTime() + 14 * 86400e3);
    return "?" + qs({ machine: config.machineId, model: config.modelId, bucket: "day", range: "custom",
                      start: dateInputValue(start), end: dateInputValue(end) }) + "#cusum";
  }

  function alertActions(alert, card) {
    var box = E.el("div", { className: "form-result", role: "status" });
    var row = E.el("div", { className: "alert-actions" });
    var evidenceBox = E.el("div", { className: "alert-evidence", hidden: true });
    if (alert.metric_id) {
      var evidence = E.el("button", { type: "button", className: "evidence secondary" }, "Evidence");
      evidence.addEventListener("click", function () {
        if (!evidenceBox.hidden) { evidenceBox.hidden = true; return; }
        evidenceBox.hidden = false;
        evidenceBox.replaceChildren(E.el("p", { className: "muted" }, "Loading the check…"));
        E.api("GET", PERF + "metrics/" + alert.metric_id + "/").then(function (r) {
          if (!r.ok) { evidenceBox.replaceChildren(E.el("p", { className: "form-result error" }, E.errorLines(r).join(" "))); return; }
          var m = r.data;
          evidenceBox.replaceChildren(E.el("p", { className: "small" }, [
            "Check of " + E.fmtTime(m.evaluated_at) + " (" + m.source.replace("_", " ") + ") over " +
            (m.evaluation_start ? E.fmtTime(m.evaluation_start) + " – " + E.fmtTime(m.evaluation_end) : "its window") +
            ": NMBE " + E.fmtPct(m.nmbe, true) + ", CV(RMSE) " + E.fmtPct(m.cv_rmse) +
            (m.drift_score !== null ? ", drift score " + num(m.drift_score, 2) : "") + ". ",
            E.el("a", { href: PERF + "metrics/" + m.id + "/", className: "raw-link" }, "stored check (JSON)"),
          ]));
          if (m.drift_details && Object.keys(m.drift_details).length) renderDriftDetails(evidenceBox, Object.assign({}, m.drift_details, { drift_score: m.drift_score }), null);
          var cp = changePointOf(alert);
          if (cp) evidenceBox.appendChild(E.el("p", { className: "small" }, [E.el("a", { href: rangeAround(cp), className: "chart-range-link" },
            "Show the charts around the change point (" + E.fmtTime(cp) + ")")]));
        });
      });
      row.appendChild(evidence);
    }
    function post(button, path, body, done) {
      button.disabled = true;
      showResult(box, "pending", "Working…");
      E.api("POST", PERF + path, body).then(function (r) {
        button.disabled = false;
        if (!r.ok) { showResult(box, "error", E.errorLines(r)); if (r.data && r.data.training_id) loadTraining(); return; }
        done(r);
      });
    }
    if (rights.retrain && alert.model_id) {
      var retrain = E.el("button", { type: "button", className: "alert-retrain" }, "Retrain");
      retrain.addEventListener("click", function () {
        post(retrain, "retrain/trigger", { model_id: alert.model_id }, function (r) {
          showResult(box, "ok", "Retraining queued (job " + String(r.data.training_id).slice(0, 8) + "); follow it under Training history.");
          jobStatus[r.data.training_id] = "pending";
          loadTraining();
        });
      });
      row.appendChild(retrain);
    }
    var reason = null;
    if ((rights.rebaseline && alert.model_id && alert.alert_type === "drift") || rights.resolve_alert) {
      reason = E.el("input", { name: "resolution_notes", type: "text", maxlength: "10000", "aria-label": "Reason or resolution notes",
                               placeholder: "Reason / notes (required to re-baseline)" });
      row.appendChild(reason);
    }
    if (rights.rebaseline && alert.model_id && alert.alert_type === "drift") {
      var rebase = E.el("button", { type: "button", className: "alert-rebaseline" }, "Re-baseline");
      rebase.title = "The change is the new normal: train a new version from the change point";
      rebase.addEventListener("click", function () {
        post(rebase, "alerts/" + alert.id + "/rebaseline", { reason: reason.value }, function (r) {
          var text = "Re-baseline queued (training job " + String(r.data.training_id).slice(0, 8) + "); the alert is resolved.";
          showResult(box, "ok", text);
          // The card leaves with its resolved alert (at the next refresh of the list, which may
          // already be on its way): the outcome stays above the list.
          var outcome = document.getElementById("alerts-outcome");
          if (outcome) { showResult(outcome, "ok", text); outcome.hidden = false; }
          jobStatus[r.data.training_id] = "pending";
          loadTraining();
          setTimeout(function () { loadAlerts(); }, 1200);
        });
      });
      row.appendChild(rebase);
    }
    if (rights.resolve_alert) {
      var resolve = E.el("button", { type: "button", className: "resolve" }, "Resolve");
      resolve.addEventListener("click", function () {
        post(resolve, "alerts/" + alert.id + "/resolve", { resolution_notes: reason ? reason.value : "" }, function () {
          showResult(box, "ok", "Resolved.");
          card.classList.add("leaving");
          alertNodes.delete(alert.id);
          setTimeout(function () { card.remove(); updateAlertCount(); }, 600);
        });
      });
      row.appendChild(resolve);
    }
    if (rights.resolve_alert) row.classList.add("resolve-form");
    card.appendChild(row);
    card.appendChild(box);
    card.appendChild(evidenceBox);
  }

  function alertCard(alert) {
    var card = E.el("article", { className: "alert-card sev-" + alert.severity, "data-alert-id": alert.id });
    card.appendChild(E.el("div", { className: "alert-body" }));
    alertActions(alert, card);
    return card;
  }

  function fillAlert(card, alert, now) {
    var cp = changePointOf(alert);
    if (cp) card.dataset.changePoint = cp;
    card.className = card.className.replace(/sev-\w+/, "sev-" + alert.severity);
    var body = card.querySelector(".alert-body");
    var model = alert.model_id ? modelLink(alert.model_id) : alert.model_type.replace("_", " ");
    body.replaceChildren(
      E.el("div", { className: "alert-head" }, [
        E.el("span", { className: "badge " + alert.severity }, alert.severity),
        E.el("strong", null, alert.alert_type.replace(/_/g, " ")), " · ", model,
        E.el("span", { className: "occ", title: "times this condition was seen while the alert was open" },
             " · " + alert.occurrences + " occurrence" + (alert.occurrences === 1 ? "" : "s")),
      ]),
      E.el("p", { className: "alert-msg" }, alert.message),
      alert.peak_severity && alert.peak_severity !== alert.severity
        ? E.el("p", { className: "explain peak" }, "Was " + alert.peak_severity + " at its worst" +
               (alert.details && alert.details.peak && alert.details.peak.evaluated_at ? " (" + E.fmtTime(alert.details.peak.evaluated_at) + ")" : "") +
               "; the latest check found it " + alert.severity + ".")
        : null,
      E.el("p", { className: "muted small" }, [
        "opened ", E.el("span", { title: E.fmtTime(alert.first_seen) }, E.fmtAge(alert.first_seen, now)),
        " · last seen ", E.el("span", { title: E.fmtTime(alert.last_seen) }, E.fmtAge(alert.last_seen, now)),
        alert.auto_action_taken ? " · done: " + alert.auto_action_taken.split(", ").map(function (a) {
          return a.replace(/^(retrain|rebaseline)( already open)? ([0-9a-f-]{36})$/, function (_, kind, open, id) {
            return (kind === "retrain" ? "retraining" : "re-baseline") + (open ? " (already open)" : "") + " job " + id.slice(0, 8);
          });
        }).join(", ") : "",
      ])
    );
  }

  function updateAlertCount() {
    var count = document.getElementById("alerts-count");
    var list = document.getElementById("alert-list");
    var n = alertNodes.size;
    var banner = document.getElementById("alerts");
    var critical = Array.prototype.some.call(list.querySelectorAll(".alert-card"), function (c) { return c.classList.contains("sev-critical"); });
    banner.classList.toggle("has-critical", critical);
    banner.classList.toggle("quiet", !n);
    count.textContent = n ? "(" + n + ")" : "";
    var empty = list.querySelector(".empty-inline");
    if (!n && !empty) list.appendChild(E.el("p", { className: "empty-inline muted" }, "No open alerts for this machine."));
    if (n && empty) empty.remove();
  }

  function loadAlerts() {
    var list = document.getElementById("alert-list");
    return E.api("GET", config.alertsUrl).then(function (result) {
      if (!result.ok) { list.replaceChildren(E.el("p", { className: "form-result error" }, E.errorLines(result).join(" "))); return; }
      if (!alertsLoaded) list.replaceChildren();
      var alerts = result.data.results || [];
      var now = Date.now();
      var seen = new Set();
      alerts.forEach(function (alert) {
        seen.add(alert.id);
        var card = alertNodes.get(alert.id);
        if (!card) {
          card = alertCard(alert);
          if (alertsLoaded) card.classList.add("fresh");
          alertNodes.set(alert.id, card);
        }
        fillAlert(card, alert, now);
      });
      alertNodes.forEach(function (card, id) {
        if (!seen.has(id)) { card.remove(); alertNodes.delete(id); }
      });
      var order = alerts.map(function (a) { return a.id; });
      var current = Array.prototype.map.call(list.querySelectorAll(".alert-card"), function (n) { return n.dataset.alertId; });
      if (order.join() !== current.join()) {
        order.forEach(function (id) { list.appendChild(alertNodes.get(id)); });
      }
      alertsLoaded = true;
      updateAlertCount();
    });
  }

  // --- training history --------------------------------------------------------------------------

  var trainingTimer = null;
  var jobStatus = {};
  var firstTrainingJob = null;

  function statusBadge(status) { return E.el("span", { className: "badge status-" + status }, status); }

  function jobRow(job) {
    var improvement = job.performance_improvement;
    var result = [];
    if (job.new_model_id) result.push(modelLink(job.new_model_id), " ");
    if (job.outcome) result.push(job.outcome.replace(/_/g, " "));
    if (job.error_message) result.push(E.el("div", { className: "error-text" }, job.error_message));
    return E.el("tr", { "data-job-id": job.id, "data-status": job.status }, [
      E.el("td", { title: job.created_at }, E.fmtTime(job.created_at)),
      E.el("td", null, job.model_type === "anomaly_detector" ? "anomaly detector" : "baseline" + (job.model_id ? " from " + versionLabel(job.model_id) : "")),
      E.el("td", null, job.trigger_type),
      E.el("td", null, statusBadge(job.status)),
      E.el("td", null, job.triggered_by || "—"),
      E.el("td", { className: "num" }, job.duration_seconds === null || job.duration_seconds === undefined ? "—" : E.fmtNum(job.duration_seconds, 1) + " s"),
      E.el("td", { className: "num" }, job.sample_count === null || job.sample_count === undefined ? "—" : E.fmtNum(job.sample_count, 0)),
      E.el("td", { className: "num" }, improvement === null || improvement === undefined ? "—" : E.fmtPct(improvement, true)),
      E.el("td", null, result.length ? result : "—"),
    ]);
  }

  function loadTraining() {
    var body = document.querySelector("#training-table tbody");
    return E.api("GET", PERF + "training-history/?" + qs({ machine_id: config.machineId, page_size: 25 })).then(function (result) {
      if (!result.ok) {
        body.replaceChildren(E.el("tr", null, E.el("td", { colspan: "9", className: "form-result error" }, E.errorLines(result).join(" "))));
        return;
      }
      var jobs = result.data.results || [];
      var unknown = [];
      jobs.forEach(function (j) {
        [j.model_id, j.new_model_id].forEach(function (id) { if (id && !versions[id]) unknown.push(id); });
      });
      return (unknown.length ? loadVersions() : Promise.resolve()).then(function () { renderTraining(jobs); });
    });
  }

  function loadVersions() {
    return E.api("GET", config.api + "baselines/?" + qs({ machine_id: config.machineId, page_size: 200 })).then(function (result) {
      if (!result.ok) return;
      (result.data.results || []).forEach(function (v) {
        versions[v.id] = Object.assign(versions[v.id] || {}, { id: v.id, version: v.version, status: v.status, modelType: v.model_type });
      });
    });
  }

  function renderTraining(jobs) {
    var body = document.querySelector("#training-table tbody");
    if (!jobs.length) {
      body.replaceChildren(E.el("tr", null, E.el("td", { colspan: "9", className: "muted" },
        "No training jobs yet." + (rights.retrain && hasModel ? " Use “Trigger retraining” above." : ""))));
    } else {
      body.replaceChildren.apply(body, jobs.map(jobRow));
    }
    var open = jobs.some(function (j) { return j.status === "pending" || j.status === "running"; });
    var finished = jobs.filter(function (j) {
      var before = jobStatus[j.id];
      return (before === "pending" || before === "running") && j.status !== before;
    });
    jobs.forEach(function (j) { jobStatus[j.id] = j.status; });
    document.getElementById("training-live").hidden = !open;
    clearTimeout(trainingTimer);
    if (open) trainingTimer = setTimeout(loadTraining, 2000);
    if (finished.length) {
      loadAlerts();
      loadLatest();
      var first = firstTrainingJob && jobs.filter(function (j) { return j.id === firstTrainingJob; })[0];
      if (first && first.status === "completed" && first.new_model_id) {
        window.location.search = "?" + qs({ machine: config.machineId, model: first.new_model_id });
        return;
      }
      var fresh = finished.filter(function (j) { return j.new_model_id; }).map(function (j) { return j.new_model_id; });
      if (fresh.length) refreshPickers();
      if (fresh.length) {
        var v = versions[fresh[0]];
        var notice = document.getElementById("training-notice");
        notice.replaceChildren("New version ", modelLink(fresh[0]), v ? " (" + v.status + ")" : "",
          " is ready and listed in the model picker and the A/B test form. ",
          E.el("a", { href: "?" + qs({ machine: config.machineId, model: fresh[0] }) }, "Open it"), ".");
        notice.hidden = false;
      }
    }
  }

  // --- A/B tests ---------------------------------------------------------------------------------

  var abSnapshot = "";
  var abRunning = false;

  function armRow(key, arm, winner) {
    arm = arm || {};
    return E.el("tr", { className: winner && arm.model_id === winner ? "winner" : "" }, [
      E.el("th", { scope: "row" }, [key.toUpperCase() + " · ", arm.model_id ? modelLink(arm.model_id) : "—",
                                    winner && arm.model_id === winner ? " ★" : ""]),
      E.el("td", { className: "num" }, E.fmtNum(arm.n, 0)),
      E.el("td", { className: "num" }, E.fmtNum(arm.mae, 2)),
      E.el("td", { className: "num" }, E.fmtNum(arm.rmse, 2)),
      E.el("td", { className: "num" }, E.fmtPct(arm.cv_rmse)),
      E.el("td", { className: "num" }, E.fmtPct(arm.nmbe, true)),
    ]);
  }

  function abCard(test, results) {
    var r = results && results.ok ? results.data : null;
    var decision = (r && r.decision) || test.decision;
    var winner = (r && r.winner_model_id) || test.winner_model_id;
    var card = E.el("article", { className: "ab-card", "data-ab-id": test.id, "data-status": (r && r.status) || test.status }, [
      E.el("div", { className: "ab-head" }, [
        E.el("strong", null, test.name), " ",
        statusBadge((r && r.status) || test.status), " ",
        decision === "running" ? null : E.el("span", { className: "badge decision-" + decision }, decision.replace("_", " ")),
        test.is_backtest ? E.el("span", { className: "badge muted" }, "backtest") : null,
      ]),
      E.el("p", { className: "muted small" }, [
        "A ", modelLink(test.model_a_id), " vs B ", modelLink(test.model_b_id),
        " · B serves " + E.fmtPct(test.traffic_split) + " · started " + E.fmtTime(test.started_at) +
        " · " + (test.status === "running" ? "ends " : "ended ") + E.fmtTime((r && r.ends_at) || test.ends_at),
        test.auto_promote ? " · auto-promote" : "",
      ]),
    ]);
    if (rights.ab_stop && test.status === "running") {
      var why = E.el("input", { type: "text", name: "reason", maxlength: "10000", placeholder: "Why stop? (optional)", "aria-label": "Reason for stopping" });
      var stop = E.el("button", { type: "button", className: "ab-stop" }, "Stop test");
      var out = E.el("div", { className: "form-result", role: "status" });
      stop.addEventListener("click", function () {
        stop.disabled = true;
        E.api("POST", PERF + "ab-test/" + test.id + "/stop", { reason: why.value }).then(function (res) {
          stop.disabled = false;
          if (!res.ok) { showResult(out, "error", E.errorLines(res)); return; }
          showResult(out, "ok", "Stopped: decision inconclusive, nothing promoted.");
          abSnapshot = "";
          setTimeout(refreshAfterAB, 800);
        });
      });
      card.appendChild(E.el("div", { className: "alert-actions" }, [why, stop]));
      card.appendChild(out);
    }
    if (!r) {
      card.appendChild(E.el("p", { className: "form-result error" }, "Results unavailable: " + E.errorLines(results || { status: 0, data: null }).join(" ")));
      return card;
    }
    card.appendChild(E.el("div", { className: "table-wrap" }, E.el("table", { className: "arms" }, [
      E.el("thead", null, E.el("tr", null, ["Arm", "n", "MAE", "RMSE", "CV(RMSE)", "NMBE"].map(function (h) { return E.el("th", { scope: "col" }, h); }))),
      E.el("tbody", null, [armRow("a", r.arms && r.arms.a, winner), armRow("b", r.arms && r.arms.b, winner)]),
    ])));
    var p = r.paired || {};
    var stats = [(decision === "running" ? "Interim: " : "Final: ") + E.fmtNum(p.n, 0) + " paired hours"];
    if (p.mean_loss_difference !== null && p.mean_loss_difference !== undefined) stats.push("mean loss difference (A − B) " + E.fmtNum(p.mean_loss_difference, 3));
    if (p.p_value !== null && p.p_value !== undefined) stats.push("p = " + Number(p.p_value).toPrecision(2));
    if (p.ci_low !== null && p.ci_low !== undefined) stats.push("95 % CI [" + E.fmtNum(p.ci_low, 3) + ", " + E.fmtNum(p.ci_high, 3) + "]");
    if (r.confidence !== null && r.confidence !== undefined) stats.push("confidence (1 − p) " + E.fmtPct(r.confidence));
    card.appendChild(E.el("p", { className: "small" }, stats.join(" · ")));
    if (r.reason) card.appendChild(E.el("p", { className: "muted small" }, (test.status === "stopped" ? "Stopped: " : "") + r.reason));
    return card;
  }

  /* An A/B test started or stopped: besides its list, the versions' statuses (pickers, badge), the
     alerts (a decided test raises one, a promotion supersedes the retired version's) and the
     latest figures may have changed. */
  function refreshAfterAB() {
    loadAB();
    refreshPickers();
    loadAlerts();
    loadLatest();
  }

  function loadAB() {
    var list = document.getElementById("ab-list");
    return E.api("GET", PERF + "ab-tests/?" + qs({ machine_id: config.machineId, page_size: 10 })).then(function (result) {
      if (!result.ok) { list.replaceChildren(E.el("p", { className: "form-result error" }, E.errorLines(result).join(" "))); return; }
      var tests = result.data.results || [];
      abRunning = tests.some(function (t) { return t.status === "running"; });
      if (!tests.length) {
        abSnapshot = "";
        list.replaceChildren(E.el("p", { className: "muted empty-inline" }, "No A/B tests for this machine yet." +
          (rights.ab_test && hasModel ? " Start one with the form above; it needs two versions of the model." : "")));
        return;
      }
      return Promise.all(tests.map(function (t) { return E.api("GET", PERF + "ab-test/" + t.id + "/results"); })).then(function (results) {
        var snapshot = JSON.stringify([tests, results.map(function (r) { return r.data; })]);
        if (snapshot === abSnapshot) return;
        abSnapshot = snapshot;
        list.replaceChildren.apply(list, tests.map(function (t, i) { return abCard(t, results[i]); }));
      });
    });
  }

  // --- controls ----------------------------------------------------------------------------------

  function bindControl(id, buildBody, onSuccess) {
    var form = document.getElementById(id);
    if (!form) return;
    var button = form.querySelector("button[type=submit]");
    var box = form.querySelector(".form-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      form.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
      var body = buildBody(form);
      button.disabled = true;
      showResult(box, "pending", "Working…");
      E.api("POST", PERF + form.dataset.endpoint, body).then(function (result) {
        button.disabled = false;
        if (result.ok) {
          onSuccess(result, box);
          return;
        }
        showResult(box, "error", E.errorLines(result));
        if (result.data && typeof result.data === "object") {
          Object.keys(result.data).forEach(function (field) {
            var input = form.querySelector('[name="' + field + '"]');
            if (input) input.insertAdjacentElement("afterend", E.el("span", { className: "field-error" }, [].concat(result.data[field]).join(" ")));
          });
        }
        if (result.status === 409 && result.data && result.data.training_id) loadTraining();
      });
    });
  }

  /* What an action set off, in words: the `actions` (and `suggested_actions`) of a response. */
  function actionList(actions, suggested) {
    var items = (actions || []).map(function (a) {
      if (a.action === "retrain") return "A retraining was queued" + (a.training_id ? " (job " + String(a.training_id).slice(0, 8) + ")" : "") + ".";
      if (a.action === "notify") return "A notification was sent to the alert recipients.";
      return a.action.replace(/_/g, " ") + ".";
    }).concat((suggested || []).map(function (a) {
      return "Suggested, not done (you lack " + a.permission + "): " + a.action.replace(/_/g, " ") + ".";
    }));
    if (!items.length) items = ["Nothing else was set off."];
    return E.el("ul", { className: "action-feedback" }, items.map(function (t) { return E.el("li", null, t); }));
  }

  function typeLabel(v) { return v.modelType === "anomaly_detector" ? "Anomaly detector" : "Energy baseline"; }

  /* New versions appear in the pickers without a reload, and the versions already listed (and the
     shown version's badge) show their current status. */
  function refreshPickers() {
    return loadVersions().then(function () {
      var pick = document.getElementById("pick-model");
      Array.prototype.forEach.call(pick ? pick.options : [], function (o) {
        var v = versions[o.value];
        if (v && v.status) o.textContent = typeLabel(v) + " v" + v.version + " (" + v.status + ")";
      });
      document.querySelectorAll("#ab-form select option").forEach(function (o) {
        var v = versions[o.value];
        if (v && v.status) o.textContent = "v" + v.version + " (" + v.status + ")";
      });
      var shown = versions[config.modelId];
      var badge = document.querySelector("#model-summary .kv .badge");
      if (badge && shown && shown.status) { badge.className = "badge " + shown.status; badge.textContent = shown.status; }
      var ids = Array.prototype.map.call(pick ? pick.options : [], function (o) { return o.value; });
      Object.keys(versions).map(function (id) { return versions[id]; }).sort(function (a, b) { return a.version - b.version; }).forEach(function (v) {
        if (pick && ids.indexOf(v.id) < 0) pick.appendChild(E.el("option", { value: v.id }, typeLabel(v) + " v" + v.version + " (" + v.status + ")"));
        document.querySelectorAll("#ab-form select").forEach(function (sel) {
          var have = Array.prototype.some.call(sel.options, function (o) { return o.value === v.id; });
          if (!have && v.modelType === config.modelType) sel.appendChild(E.el("option", { value: v.id }, "v" + v.version + " (" + v.status + ")"));
        });
      });
    });
  }

  function numberOrRaw(value, parse) {
    var parsed = parse(value);
    return value !== "" && isFinite(parsed) ? parsed : value;
  }

  function setupControls() {
    bindControl("drift-form", function () { return { model_id: config.modelId }; }, function (result, box) {
      var d = result.data;
      var lines = [E.el("div", null, [
        "Drift score " + num(d.drift_score, 2) + " ", E.el("span", { className: "badge " + d.severity }, d.severity),
        d.cause && d.cause !== "none" ? " · cause: " + d.cause.replace("_", " ") : "",
        d.alert_id ? " · alert raised or updated (see Needs attention)" : "",
      ])];
      lines.push(actionList(d.actions, d.suggested_actions));
      showResult(box, "ok", lines);
      var details = document.getElementById("drift-details");
      details.replaceChildren();
      renderDriftDetails(details, d, E.el("h3", null, "Drift check just now"));
      loadTrend("drift_score");
      loadAlerts();
      loadLatest();
    });
    bindControl("retrain-form", function () { return { model_id: config.modelId }; }, function (result, box) {
      showResult(box, "ok", "Retraining job queued; follow it under Training history.");
      jobStatus[result.data.training_id] = "pending";
      loadTraining();
    });
    bindControl("first-training-form", function () { return { machine_id: config.machineId, model_type: "energy_baseline" }; },
      function (result, box) {
        firstTrainingJob = result.data.training_id;
        jobStatus[firstTrainingJob] = "pending";
        showResult(box, "ok", "Training queued; this page opens the new model when it is ready.");
        loadTraining();
      });
    bindControl("ab-form", function (form) {
      return {
        name: form.name.value,
        model_a_id: form.model_a_id.value,
        model_b_id: form.model_b_id.value,
        traffic_split: numberOrRaw(form.traffic_split.value, parseFloat),
        duration_days: numberOrRaw(form.duration_days.value, Number),
        auto_promote: form.auto_promote.checked,
      };
    }, function (result, box) {
      showResult(box, "ok", "A/B test “" + result.data.name + "” started: B serves " + E.fmtPct(result.data.traffic_split) +
        " of the hours until " + E.fmtTime(result.data.ends_at) + "; results below.");
      refreshAfterAB();
    });
  }

  // --- picker ------------------------------------------------------------------------------------

  function setupDriftButton() {
    var button = document.getElementById("latest-drift");
    if (!button) return;
    button.addEventListener("click", function () {
      showDriftChecks(document.getElementById("drift-details"), { page_size: 1 },
                      "No drift check has been stored for this model yet.");
    });
  }

  function setupPicker() {
    var form = document.getElementById("picker");
    if (!form) return;
    document.getElementById("pick-machine").addEventListener("change", function () {
      var model = document.getElementById("pick-model");
      model.disabled = true;  // another machine: let the server pick its default model
      form.submit();
    });
    ["pick-model", "pick-bucket"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", function () { form.submit(); });
    });
    var range = document.getElementById("pick-range");
    if (range) {
      var dates = [document.getElementById("range-start"), document.getElementById("range-end")];
      var sync = function () { dates.forEach(function (d) { d.disabled = range.value !== "custom"; d.closest("label").hidden = range.value !== "custom"; }); };
      sync();
      range.addEventListener("change", function () { sync(); if (range.value !== "custom") form.submit(); });
      dates.forEach(function (d) { d.addEventListener("change", function () { if (dates[0].value && dates[1].value) form.submit(); }); });
    }
  }

  // --- start -------------------------------------------------------------------------------------

  function start() {
    setupPicker();
    setupControls();
    setupDriftButton();
    // The charts go first: the trends (one request), the CUSUM and the alerts it takes its change
    // point from are asked for at once; the other panels wait until the charts are drawn, so on a
    // busy server their requests do not compete with the charts' larger ones.
    var trends = hasModel ? loadTrends(config.trendMetrics || [], config.trendsUrl) : Promise.resolve();
    var cusumData = fetchCusum();
    var cusum = loadAlerts().then(function () {
      var change = null;
      alertNodes.forEach(function (card) { if (!change && card.dataset.changePoint) change = card.dataset.changePoint; });
      return drawCusum(cusumData, change);
    });
    Promise.all([trends, cusum]).then(function () {
      // The forecast panel (its own script) waits for this too.
      window.enmsTrendsDrawn = true;
      document.dispatchEvent(new Event("enms:trends-drawn"));
      if (hasModel) {
        loadLatest();
        setupActualVsPredicted();
      }
      loadTraining();
      loadAB();
    });
    setInterval(function () {
      if (document.hidden) return;
      loadAlerts();
      if (abRunning) loadAB();
      if (!document.getElementById("training-live").hidden) return;  // already polling every 2 s
      loadTraining();
    }, 10000);
  }

  start();
})();
