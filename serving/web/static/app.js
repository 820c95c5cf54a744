// The trial team's page. Plain script, no library, nothing from another host (the page's Content-Security-Policy
// allows this origin only). The bearer token lives in a variable of this closure: never in storage or a URL.
"use strict";
(function () {
  let token = "";
  let model = null;          // GET /model
  let pool = null;           // {rows: [request row objects], results: [one per CSV row], stratum: null|[...]}
  let reportHtml = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function setStatus(id, text, kind) {
    const node = $(id);
    node.textContent = text;
    node.className = "status" + (kind ? " " + kind : "");
  }

  // ------------------------------------------------------------------------------------------------ HTTP
  class ApiError extends Error {
    constructor(status, field, message) {
      super(message);
      this.status = status;
      this.field = field;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                     cache: "no-store", credentials: "omit" });
    } catch (err) {
      throw new ApiError(0, null, "the service could not be reached (" + err.message + ")");
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = data && data.error;
      const field = error && typeof error === "object" ? error.field : null;
      let message = error && typeof error === "object" ? error.message : (typeof error === "string" ? error : "");
      if (response.status === 401) message = "the token was refused (HTTP 401): check it and connect again";
      else if (response.status === 404) message = "this service has no " + path + " endpoint (HTTP 404)";
      else message = (message || "request failed") + " (HTTP " + response.status + ")";
      throw new ApiError(response.status, field, message);
    }
    return data;
  }

  function errorText(err) {
    return err.field ? err.field + ": " + err.message : err.message;
  }

  // ------------------------------------------------------------------------------------------------ words
  const fmt = (x, digits) => (x === null || x === undefined || Number.isNaN(x)) ? "not available"
    : Number(x).toFixed(digits === undefined ? 2 : digits);
  const pct = (p) => (p === null || p === undefined) ? "not available" : Math.round(100 * p) + " %";

  function subtypeWords(subtype) {
    return "Subtype " + subtype.label + ", \u201c" + subtype.name + "\u201d (probability "
      + pct(subtype.probabilities[String(subtype.label)]) + ")"
      + (subtype.uncertain ? "; uncertain: no subtype has a clear majority" : "");
  }

  function slopeWords(slope) {
    return "Predicted ALSFRS-R slope " + fmt(slope.point) + " " + slope.unit + " (" + slope.point_kind
      + "); 80 % interval " + fmt(slope.p10) + " to " + fmt(slope.p90) + " " + slope.unit + ".";
  }

  function survivalWords(survival) {
    if (!survival) return "No survival prediction: the model was trained without a survival outcome.";
    const at = Object.entries(survival.probability_at_months)
      .map(([months, p]) => pct(p) + " at " + months + " months").join(", ");
    const median = survival.median_months === null ? "not reached within the model's horizon"
      : fmt(survival.median_months, 1) + " months";
    return "Probability of no event (death, tracheostomy or permanent ventilation): " + at + ". Median " + median
      + ". Time origin: " + survival.time_origin + ". Risk group " + survival.risk_group + " of "
      + survival.risk_groups + " (" + survival.risk_group_meaning + ").";
  }

  function shortSurvival(survival) {
    if (!survival) return "no survival model";
    const first = Object.entries(survival.probability_at_months)[0];
    return pct(first[1]) + " at " + first[0] + " months; risk group " + survival.risk_group + " of "
      + survival.risk_groups;
  }

  // ------------------------------------------------------------------------------------------------ connect
  async function connect(event) {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (!token) {
      setStatus("access-status", "Enter the API token first.", "error");
      return;
    }
    setStatus("access-status", "Connecting\u2026");
    try {
      model = await api("GET", "/model");
    } catch (err) {
      token = "";
      setStatus("access-status", "Not connected: " + errorText(err), "error");
      for (const id of ["model-info", "one", "pool", "plan"]) $(id).hidden = true;
      return;
    }
    setStatus("access-status", "Connected. Token kept in memory until you leave this page.", "ok");
    showModel();
    buildForm();
    $("one").hidden = false;
    $("pool").hidden = false;
  }

  function showModel() {
    const info = $("model-info");
    info.replaceChildren();
    const dl = el("dl");
    const add = (term, text) => dl.append(el("dt", { text: term }), el("dd", { text: text }));
    add("Model", model.name + " version " + model.version);
    add("Landmark", model.landmark.name + ": " + model.landmark.description);
    add("Survival time origin", model.time_origin);
    add("Subtypes", model.subtypes.map((s) => s.label + " = " + s.name).join("; "));
    add("Most rows per request", String(model.max_batch));
    add("Note", model.lcn2_note);
    info.append(el("h3", { text: "The served model" }), dl);
    info.hidden = false;
  }

  // ------------------------------------------------------------------------------------------------ one candidate
  function fieldHelp(spec) {
    const parts = [];
    if (spec.unit) parts.push("unit: " + spec.unit);
    if (spec.minimum !== null || spec.maximum !== null) {
      parts.push("range " + (spec.minimum === null ? "\u2026" : spec.minimum) + " to "
        + (spec.maximum === null ? "\u2026" : spec.maximum));
    }
    if (spec.type === "integer") parts.push("whole number");
    return parts.join("; ");
  }

  function buildForm() {
    const box = $("one-fields");
    box.replaceChildren();
    const idInput = el("input", { id: "f-candidate_id", name: "candidate_id", type: "text", maxlength: 128 });
    box.append(el("div", { className: "field" }, el("label", { for: "f-candidate_id", text: "candidate_id" },
      el("span", { className: "unit", text: " (optional, your reference)" })), idInput));
    for (const spec of model.feature_spec) {
      const id = "f-" + spec.name;
      let input;
      if (spec.type === "categorical" || spec.type === "boolean") {
        const values = spec.type === "boolean" ? ["true", "false"] : spec.categories;
        input = el("select", { id, name: spec.name }, el("option", { value: "", text: "(not known)" }),
          ...values.map((v) => el("option", { value: v, text: spec.type === "boolean" ? (v === "true" ? "yes" : "no") : v })));
      } else {
        input = el("input", { id, name: spec.name, type: "number", step: spec.type === "integer" ? "1" : "any",
                              min: spec.minimum, max: spec.maximum, inputmode: "decimal" });
      }
      const label = el("label", { for: id, title: spec.description },
        spec.name + (spec.required ? " *" : ""),
        spec.unit ? el("span", { className: "unit", text: " (" + spec.unit + ")" }) : null);
      box.append(el("div", { className: "field", "data-field": spec.name }, label, input,
        el("div", { className: "help", text: fieldHelp(spec) })));
    }
  }

  function formCandidate() {
    const row = {};
    const id = $("f-candidate_id").value.trim();
    if (id) row.candidate_id = id;
    for (const spec of model.feature_spec) {
      const raw = $("f-" + spec.name).value.trim();
      if (raw === "") continue;
      row[spec.name] = convert(spec, raw);
    }
    return row;
  }

  async function scoreOne(event) {
    event.preventDefault();
    const out = $("one-result");
    out.replaceChildren(el("p", { className: "status", text: "Scoring\u2026" }));
    for (const node of document.querySelectorAll("#one-fields .field.invalid")) node.classList.remove("invalid");
    let result;
    try {
      result = await api("POST", "/score", { candidate: formCandidate() });
    } catch (err) {
      const name = err.field && err.field.startsWith("candidate.") ? err.field.slice("candidate.".length) : null;
      const box = name && document.querySelector('#one-fields .field[data-field="' + CSS.escape(name) + '"]');
      if (box) box.classList.add("invalid");
      out.replaceChildren(el("p", { className: "status error", text: "Not scored: " + errorText(err) }));
      return;
    }
    out.replaceChildren(el("div", { className: "result", id: "one-words" },
      el("p", { text: subtypeWords(result.subtype) }),
      el("p", { text: slopeWords(result.slope) }),
      el("p", { text: survivalWords(result.survival) }),
      el("p", { className: "hint", text: "Model " + result.model.name + " version " + result.model.version
        + ". Largest contributions to the slope: " + result.explanation.map((e) => e.feature + " ("
        + (e.contribution >= 0 ? "+" : "") + fmt(e.contribution) + ")").join(", ") + "." })));
  }

  // ------------------------------------------------------------------------------------------------ CSV
  // RFC 4180: quoted fields may hold commas, quotes ("") and line breaks; CRLF or LF line ends.
  function parseCsv(text) {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const rows = [];
    let row = [], field = "", quoted = false, i = 0;
    while (i < text.length) {
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
          quoted = false; i += 1; continue;
        }
        field += c; i += 1; continue;
      }
      if (c === '"' && field === "") { quoted = true; i += 1; continue; }
      if (c === ",") { row.push(field); field = ""; i += 1; continue; }
      if (c === "\r" || c === "\n") {
        row.push(field); field = "";
        rows.push(row); row = [];
        i += (c === "\r" && text[i + 1] === "\n") ? 2 : 1;
        continue;
      }
      field += c; i += 1;
    }
    if (quoted) throw new Error("a quoted field is not closed");
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows.filter((r) => !(r.length === 1 && r[0].trim() === ""));
  }

  // Numbers as numbers, true/false as booleans; anything else is sent as written so that the service names the
  // field and the rule in the row's error.
  function convert(spec, raw) {
    if (!spec) return raw;
    if (spec.type === "numeric" || spec.type === "integer") {
      const value = Number(raw);
      return raw !== "" && Number.isFinite(value) ? value : raw;
    }
    if (spec.type === "boolean") {
      const lower = raw.toLowerCase();
      if (lower === "true") return true;
      if (lower === "false") return false;
      return raw;
    }
    return raw;
  }

  // A CSV row that cannot be read as a candidate (its cell count differs from the header's).
  class Malformed {
    constructor(message) { this.message = message; }
  }

  function csvRows(text) {
    const table = parseCsv(text);
    if (table.length < 2) throw new Error("the file needs a header row and at least one candidate row");
    const header = table[0].map((h) => h.trim());
    const specs = Object.fromEntries(model.feature_spec.map((s) => [s.name, s]));
    const rows = table.slice(1).map((cells, n) => {
      if (cells.length !== header.length) {
        return new Malformed("row " + (n + 1) + " has " + cells.length + " cells, the header has " + header.length);
      }
      const row = {};
      header.forEach((name, j) => {
        const raw = cells[j].trim();
        if (raw === "") return;  // missing
        row[name] = name === "candidate_id" ? raw : convert(specs[name] || { type: "unknown" }, raw);
      });
      return row;
    });
    const unknown = header.filter((name) => name !== "candidate_id" && !specs[name]);
    return { rows, unknown };
  }

  async function scorePool() {
    const file = $("csv-file").files[0];
    if (!file) return;
    pool = null;
    reportHtml = null;
    $("download-csv").disabled = true;
    $("download-report").disabled = true;
    $("pool-table").hidden = true;
    $("plan").hidden = true;
    resetPlan();
    setStatus("pool-status", "Reading " + file.name + "\u2026");
    let rows, unknown;
    try {
      ({ rows, unknown } = csvRows(await file.text()));
    } catch (err) {
      setStatus("pool-status", "Could not read the CSV file: " + err.message, "error");
      return;
    }
    // A row whose cell count differs from the header's is not sent: it gets its own error, in its place.
    const results = rows.map((r) => (r instanceof Malformed ? { error: { field: "row", message: r.message } } : null));
    const sent = [];
    rows.forEach((r, i) => { if (!(r instanceof Malformed)) sent.push(i); });
    const chunk = Math.max(1, Math.min(model.max_batch, 1000));
    try {
      for (let start = 0; start < sent.length; start += chunk) {
        const part = sent.slice(start, start + chunk);
        setStatus("pool-status", "Scoring rows " + (start + 1) + "\u2013" + (start + part.length) + " of "
          + sent.length + "\u2026");
        const answer = await api("POST", "/score_batch", { candidates: part.map((i) => rows[i]) });
        answer.results.forEach((result, k) => { results[part[k]] = result; });
      }
    } catch (err) {
      setStatus("pool-status", "The pool was not scored: " + errorText(err), "error");
      return;
    }
    pool = { rows: rows.map((r) => (r instanceof Malformed ? {} : r)), results, stratum: null };
    const bad = results.filter((r) => r.error).length;
    setStatus("pool-status", rows.length + (rows.length === 1 ? " row" : " rows") + " scored: " + (rows.length - bad)
      + " with a result, " + bad + " with an error."
      + (unknown.length ? " Columns that are not fields of the model (rows filling them are refused): "
        + unknown.join(", ") + "." : ""), bad ? "error" : "ok");
    renderPool();
    $("download-csv").disabled = false;
    $("plan").hidden = rows.length - bad === 0;
  }

  function renderPool() {
    const table = $("pool-table");
    const withStratum = pool.stratum !== null;
    const head = ["Row", "candidate_id", "Subtype", "ALSFRS-R slope (points/month, 80 % interval)",
                  "Survival (time origin: " + model.time_origin + ")",
                  ...(withStratum ? ["Stratum"] : []), "Error"];
    table.replaceChildren(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))));
    const body = el("tbody");
    pool.results.forEach((result, i) => {
      const tr = el("tr", { className: result.error ? "row-error" : null, "data-row": i + 1 });
      const id = result.candidate_id || pool.rows[i].candidate_id || "";
      tr.append(el("td", { className: "num", text: String(i + 1) }), el("td", { text: String(id) }));
      if (result.error) {
        tr.append(el("td"), el("td"), el("td"));
        if (withStratum) tr.append(el("td"));
        tr.append(el("td", { className: "error-text", text: result.error.field + ": " + result.error.message }));
      } else {
        tr.append(
          el("td", { text: result.subtype.label + " \u2013 " + result.subtype.name
            + (result.subtype.uncertain ? " (uncertain)" : "") }),
          el("td", { className: "num", text: fmt(result.slope.point) + " (" + fmt(result.slope.p10) + " to "
            + fmt(result.slope.p90) + ")" }),
          el("td", { text: shortSurvival(result.survival) }));
        if (withStratum) tr.append(el("td", { text: pool.stratum[i] === null ? "" : String(pool.stratum[i]) }));
        tr.append(el("td"));
      }
      body.append(tr);
    });
    table.append(body);
    table.hidden = false;
  }

  // ------------------------------------------------------------------------------------------------ downloads
  function csvCell(value) {
    if (value === null || value === undefined) return "";
    const text = String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function resultsCsv() {
    const horizons = [];
    for (const r of pool.results) {
      if (r.survival) {
        for (const m of Object.keys(r.survival.probability_at_months)) if (!horizons.includes(m)) horizons.push(m);
      }
    }
    const header = ["row", "candidate_id", "status", "error_field", "error_message", "subtype_label", "subtype_name",
      "subtype_uncertain", "slope_point_points_per_month", "slope_p10_points_per_month",
      "slope_p90_points_per_month", ...horizons.map((m) => "survival_probability_" + m + "_months"),
      "survival_median_months", "risk_group", "risk_groups", "survival_time_origin",
      ...(pool.stratum !== null ? ["stratum"] : [])];
    const lines = [header.join(",")];
    pool.results.forEach((r, i) => {
      const id = r.candidate_id || pool.rows[i].candidate_id || "";
      let cells;
      if (r.error) {
        cells = [i + 1, id, "error", r.error.field, r.error.message, "", "", "", "", "", "",
          ...horizons.map(() => ""), "", "", "", ""];
      } else {
        const s = r.survival;
        cells = [i + 1, id, "scored", "", "", r.subtype.label, r.subtype.name, r.subtype.uncertain,
          r.slope.point, r.slope.p10, r.slope.p90,
          ...horizons.map((m) => (s ? s.probability_at_months[m] : "")),
          s ? s.median_months : "", s ? s.risk_group : "", s ? s.risk_groups : "", s ? s.time_origin : ""];
      }
      if (pool.stratum !== null) cells.push(pool.stratum[i]);
      lines.push(cells.map(csvCell).join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }

  function download(text, type, filename) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ------------------------------------------------------------------------------------------------ plan
  function resetPlan() {
    setStatus("plan-status", "");
    $("plan-table").hidden = true;
    $("plan-table").replaceChildren();
    $("plan-charts").replaceChildren();
  }

  function designFromForm() {
    const design = {};
    for (const name of ["effect", "hazard_ratio", "follow_up_months", "alpha", "power", "dropout"]) {
      const raw = $("plan-" + name).value.trim();
      if (raw !== "") design[name] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    }
    const endpoint = $("plan-endpoint").value;
    if (endpoint) design.endpoint = endpoint;
    const keep = $("plan-keep").value.trim();
    if (keep) design.keep = keep.split(/[,;\s]+/).filter(Boolean).map((k) => (Number.isFinite(Number(k)) ? Number(k) : k));
    return design;
  }

  async function plan(event) {
    event.preventDefault();
    if (!pool) return;
    resetPlan();
    // Only the rows that scored go into the plan; their positions map the plan's strata back to the CSV rows.
    const positions = [];
    pool.results.forEach((r, i) => { if (!r.error) positions.push(i); });
    setStatus("plan-status", "Planning with " + positions.length + " candidates\u2026");
    let answer;
    try {
      answer = await api("POST", "/trial/plan", { candidates: positions.map((i) => pool.rows[i]),
                                                  design: designFromForm() });
    } catch (err) {
      setStatus("plan-status", "No plan: " + errorText(err), "error");
      return;
    }
    const stratum = pool.results.map(() => null);
    (answer.candidates || []).forEach((c, k) => { if (k < positions.length) stratum[positions[k]] = c.stratum; });
    pool.stratum = stratum;
    renderPool();
    renderDesigns(answer.plan.designs || []);
    reportHtml = answer.report_html || null;
    $("download-report").disabled = !reportHtml;
    const strata = answer.plan.pool && answer.plan.pool.strata ? " Strata: " + answer.plan.pool.strata + "." : "";
    setStatus("plan-status", "Plan ready: " + (answer.plan.designs || []).length + " designs. The stratum of each "
      + "candidate is in the results table above." + strata, "ok");
  }

  const DESIGN_COLUMNS = [
    ["keep_fraction", "Pool enrolled"], ["analysis", "Analysis"], ["n_per_arm", "Patients per arm"],
    ["n_total", "Patients in total"], ["screened_per_enrolled", "Screened per enrolled"],
    ["n_screened", "Candidates to screen"], ["events_required", "Events required"],
    ["outcome_mean", "Outcome mean (points/month)"], ["outcome_sd", "Outcome SD (points/month)"],
    ["rho", "Score\u2013outcome correlation \u03c1"],
    ["outcome_observed_share", "Share of enrolled with a slope outcome"], ["planned_power", "Planned power"]];

  function designLabel(d) {
    const adjusted = d.adjustment === "none" ? "unadjusted" : d.adjustment === "prognostic" ? "score-adjusted"
      : d.adjustment;
    return "keep " + Math.round(100 * d.keep_fraction) + " %" + (adjusted ? ", " + adjusted : "");
  }

  function renderDesigns(designs) {
    const table = $("plan-table");
    const columns = DESIGN_COLUMNS.filter(([key]) => designs.some((d) => d[key] !== undefined && d[key] !== null));
    table.replaceChildren(el("thead", {}, el("tr", {}, ...columns.map(([, title]) => el("th", { text: title })))));
    const body = el("tbody");
    for (const d of designs) {
      body.append(el("tr", {}, ...columns.map(([key]) => {
        const v = d[key];
        const text = v === null || v === undefined ? "" : (key === "keep_fraction" ? Math.round(100 * v) + " %"
          : typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmt(v)) : String(v));
        return el("td", { className: typeof v === "number" ? "num" : null, text });
      })));
    }
    table.append(body);
    table.hidden = false;
    const charts = $("plan-charts");
    charts.replaceChildren();
    const numeric = (key) => designs.filter((d) => typeof d[key] === "number");
    if (numeric("n_per_arm").length) {
      charts.append(barChart("Patients per arm, by design", numeric("n_per_arm").map((d) => [designLabel(d), d.n_per_arm])));
    }
    if (numeric("screened_per_enrolled").length) {
      charts.append(barChart("Candidates screened per patient enrolled, by design",
        numeric("screened_per_enrolled").map((d) => [designLabel(d), d.screened_per_enrolled])));
    }
  }

  // A horizontal bar chart as inline SVG, drawn here (no chart library).
  function barChart(title, items) {
    const NS = "http://www.w3.org/2000/svg";
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const labelWidth = 220, barMax = 420, rowHeight = 26, top = 28;
    const width = labelWidth + barMax + 80, height = top + rowHeight * items.length + 8;
    const max = Math.max(...items.map(([, v]) => v), 1e-9);
    const svg = svgEl("svg", { width, height, viewBox: "0 0 " + width + " " + height, role: "img",
                               "aria-label": title });
    svg.append(svgEl("text", { x: 0, y: 16, "font-weight": "600" }, title));
    items.forEach(([label, value], i) => {
      const y = top + i * rowHeight;
      const w = Math.max(1, (barMax * value) / max);
      svg.append(svgEl("text", { x: labelWidth - 8, y: y + 16, "text-anchor": "end" }, label));
      svg.append(svgEl("rect", { class: "bar", x: labelWidth, y: y + 3, width: w, height: rowHeight - 8 }));
      svg.append(svgEl("text", { x: labelWidth + w + 6, y: y + 16 },
        Number.isInteger(value) ? String(value) : fmt(value)));
    });
    svg.append(svgEl("line", { class: "axis", x1: labelWidth, y1: top, x2: labelWidth, y2: height - 4 }));
    return el("figure", { className: "chart" }, svg);
  }

  // ------------------------------------------------------------------------------------------------ wiring
  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", connect);
    $("one-form").addEventListener("submit", scoreOne);
    $("csv-file").addEventListener("change", scorePool);
    $("plan-form").addEventListener("submit", plan);
    $("download-csv").addEventListener("click", () => {
      if (pool) download(resultsCsv(), "text/csv;charset=utf-8", "alsstrat-results.csv");
    });
    $("download-report").addEventListener("click", () => {
      if (reportHtml) download(reportHtml, "text/html;charset=utf-8", "alsstrat-trial-plan.html");
    });
  });
})();
