/* Helpers shared by the dashboard pages: API calls with the session's CSRF token, formatting in
   the user's locale and time zone, and the header's menu toggle. */
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return cookie("csrftoken") || (input ? input.value : "");
  }

  /* fetch() wrapper: resolves to {ok, status, data} and never rejects on HTTP errors, so callers
     can show 400/403/409 bodies next to the form that caused them. */
  function api(method, url, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET" && method !== "HEAD") options.headers["X-CSRFToken"] = csrfToken();
    return fetch(url, options).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var parse = type.indexOf("application/json") >= 0 ? response.json() : response.text();
      if (response.status === 401) sessionEnded();
      return parse.then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      }, function () {
        return { ok: response.ok, status: response.status, data: null };
      });
    }, function (error) {
      return { ok: false, status: 0, data: { detail: "Network error: " + error.message } };
    });
  }

  /* The session expired or the user logged out elsewhere: say so once, with a way back in. */
  function sessionEnded() {
    if (document.getElementById("session-ended")) return;
    var next = window.location.pathname + window.location.search;
    var banner = el("div", { id: "session-ended", className: "session-ended", role: "alert" }, [
      "Your session has ended. ", el("a", { href: "/admin/login/?next=" + encodeURIComponent(next) }, "Log in again"),
      " to keep this page up to date.",
    ]);
    document.body.insertBefore(banner, document.body.firstChild);
  }

  /* DRF error bodies ({"detail"}, {"field": [...]}, {"rows": [{index, errors}]}) as readable lines. */
  function errorLines(result) {
    var data = result.data;
    if (result.status === 403) return ["You do not have the rights for this action (403)."];
    if (!data || typeof data !== "object") {
      return ["The server answered " + result.status + (data ? ": " + String(data).slice(0, 200) : ".")];
    }
    var lines = [];
    Object.keys(data).forEach(function (key) {
      var value = data[key];
      if (key === "rows" && Array.isArray(value)) {
        value.forEach(function (row) {
          if (row && typeof row === "object" && "errors" in row) {
            Object.keys(row.errors).forEach(function (field) {
              lines.push("Row " + row.index + ", " + field + ": " + [].concat(row.errors[field]).join(" "));
            });
          } else {
            lines.push(String(row));
          }
        });
      } else if (key === "detail") {
        lines.push(String(value));
      } else if (key === "training_id" || key === "ab_test_id") {
        return;
      } else {
        var text = Array.isArray(value) ? value.join(" ") : typeof value === "object" ? JSON.stringify(value) : String(value);
        lines.push(key === "non_field_errors" ? text : key + ": " + text);
      }
    });
    return lines.length ? lines : ["The server answered " + result.status + "."];
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    [].concat(children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  /* Formatters made once per set of options: `toLocaleString(undefined, options)` builds a new one on
     every call, which costs more than the formatting itself on pages with many figures and ticks. */
  var formatters = {};

  function numberFormat(options) {
    var key = "n" + JSON.stringify(options);
    return formatters[key] || (formatters[key] = new Intl.NumberFormat(undefined, options));
  }

  function dateFormat(options) {
    var key = "d" + JSON.stringify(options);
    return formatters[key] || (formatters[key] = new Intl.DateTimeFormat(undefined, options));
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    var date = new Date(iso);
    return isNaN(date) ? iso : dateFormat({ dateStyle: "medium", timeStyle: "short" }).format(date);
  }

  function fmtDate(iso) {
    if (!iso) return "—";
    var date = new Date(iso);
    return isNaN(date) ? iso : dateFormat({ dateStyle: "medium" }).format(date);
  }

  function fmtAge(iso, now) {
    if (!iso) return "—";
    var seconds = Math.max(0, ((now || Date.now()) - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return "just now";
    var units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) return Math.floor(seconds / units[i][1]) + " " + units[i][0] + " ago";
    }
    return "just now";
  }

  function fmtNum(value, digits) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    return numberFormat({ maximumFractionDigits: digits === undefined ? 2 : digits,
                          minimumFractionDigits: digits === undefined ? 0 : Math.min(digits, 2) }).format(Number(value));
  }

  function fmtPct(value, signed) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    var text = (value * 100).toFixed(1) + " %";
    return signed && value > 0 ? "+" + text : text;
  }

  /* Server-rendered <time datetime="..."> elements, shown in the user's time zone. */
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (node) {
      var iso = node.getAttribute("datetime");
      if (!iso) return;
      node.title = iso;
      node.textContent = node.dataset.format === "date" ? fmtDate(iso) : fmtTime(iso);
    });
  }

  function setupMenu() {
    var toggle = document.querySelector(".nav-toggle");
    var nav = document.getElementById("site-nav");
    if (!toggle || !nav) return;
    toggle.addEventListener("click", function () {
      var open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.addEventListener("click", function (event) {
      document.querySelectorAll("details.dropdown[open]").forEach(function (details) {
        if (!details.contains(event.target)) details.removeAttribute("open");
      });
    });
  }

  window.enms = {
    api: api, errorLines: errorLines, el: el, fmtTime: fmtTime, fmtDate: fmtDate, fmtAge: fmtAge,
    fmtNum: fmtNum, fmtPct: fmtPct, localizeTimes: localizeTimes, csrfToken: csrfToken,
    numberFormat: numberFormat, dateFormat: dateFormat,
  };
  document.addEventListener("DOMContentLoaded", function () {
    setupMenu();
    localizeTimes(document);
  });
})();
