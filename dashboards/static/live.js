/* The lab's live dashboard page: draws a Grafana dashboard model (embedded in the page as JSON)
 * against the lab's Prometheus, through the same-origin proxy of dashboards/live.py.
 *
 * It interprets what the builder uses of Grafana's model: query variables (label_values), the
 * 24-column gridPos layout, panel types stat, gauge, bargauge, timeseries, state-timeline, table,
 * text and row, units, decimals, min/max, noValue, thresholds (colours and threshold lines),
 * value mappings, overrides (byName, byFrameRefID, byRegexp), the table transformations merge,
 * organize and sortBy, and data links. Charts are uPlot's; the page refreshes them in place
 * every `refresh` of the model (or ?refresh=).
 *
 * For tests: every panel element carries data-state="loading|drawn|no-data|error", and the body
 * data-ready="true" once every panel has been drawn once, and data-refreshes (a count).
 */
"use strict";

(function () {
  const model = JSON.parse(document.getElementById("dashboard-model").textContent);
  const query = new URLSearchParams(location.search);
  const MIN_STEP_SECONDS = 5;
  const MAX_POINTS = 11000;
  const DEFAULT_REFRESH = "30s";

  // --- colours ----------------------------------------------------------------------------
  const NAMED_COLORS = {
    green: "#73BF69", "dark-green": "#37872D", "semi-dark-green": "#56A64B",
    "light-green": "#96D98D", "super-light-green": "#C8F2C2",
    red: "#F2495C", "dark-red": "#C4162A", "semi-dark-red": "#E02F44",
    "light-red": "#FF7383", "super-light-red": "#FFA6B0",
    yellow: "#FADE2A", "dark-yellow": "#E0B400", "semi-dark-yellow": "#F2CC0C",
    "light-yellow": "#FFEE52", orange: "#FF9830", "dark-orange": "#FA6400",
    "semi-dark-orange": "#FF780A", "light-orange": "#FFB357", blue: "#5794F2",
    "dark-blue": "#1F60C4", "semi-dark-blue": "#3274D9", "light-blue": "#8AB8FF",
    purple: "#B877D9", "dark-purple": "#8F3BB8", "semi-dark-purple": "#A352CC",
    "light-purple": "#CA95E5", text: "#CCCCDC", transparent: "rgba(0,0,0,0)",
  };
  const PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2",
    "#B877D9", "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17"];

  function color(name) {
    if (!name) return NAMED_COLORS.text;
    return NAMED_COLORS[name] || name;
  }

  function withAlpha(hex, alpha) {
    const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    if (!m) return hex;
    return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${alpha})`;
  }

  function thresholdColor(cfg, value) {
    const steps = (cfg.thresholds && cfg.thresholds.steps) || [];
    let found = null;
    for (const step of steps) {
      if (step.value === null || step.value === undefined || value >= step.value) found = step;
    }
    if (cfg.thresholds && cfg.thresholds.mode === "percentage" && found) {
      const min = cfg.min ?? 0, max = cfg.max ?? 100;
      found = null;
      for (const step of steps) {
        const at = step.value == null ? -Infinity : min + (max - min) * step.value / 100;
        if (value >= at) found = step;
      }
    }
    return found ? color(found.color) : null;
  }

  function fieldColor(cfg, value, index) {
    const mode = cfg.color && cfg.color.mode;
    if (mode === "fixed") return color(cfg.color.fixedColor);
    const mapped = mapping(cfg, value);
    if (mapped && mapped.color) return color(mapped.color);
    if (mode === "thresholds" || (mode === undefined && index === undefined)) {
      return thresholdColor(cfg, value) || PALETTE[0];
    }
    return PALETTE[(index || 0) % PALETTE.length];
  }

  // --- value mappings and units ------------------------------------------------------------
  function mapping(cfg, value) {
    for (const m of cfg.mappings || []) {
      const options = m.options || {};
      if (m.type === "value" && value != null && options[String(value)] !== undefined) {
        return options[String(value)];
      }
      if (m.type === "range" && value != null) {
        const from = options.from ?? -Infinity, to = options.to ?? Infinity;
        if (value >= from && value <= to) return options.result || {};
      }
      if (m.type === "special" && (value == null || Number.isNaN(value))) {
        if (options.match === "null" || options.match === "nan" || options.match === "null+nan") {
          return options.result || {};
        }
      }
    }
    return null;
  }

  function fixed(value, decimals) {
    if (decimals !== undefined && decimals !== null) return value.toFixed(decimals);
    const size = Math.abs(value);
    const auto = size === 0 ? 0 : size >= 100 ? 1 : size >= 10 ? 2 : size >= 1 ? 2 : 3;
    let text = value.toFixed(size !== 0 && size < 0.001 ? 6 : auto);
    if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return text;
  }

  function scaled(value, decimals, base, prefixes) {
    let i = 0;
    while (Math.abs(value) >= base && i < prefixes.length - 1) {
      value /= base;
      i += 1;
    }
    return fixed(value, decimals) + prefixes[i];
  }

  const SI = ["", " K", " M", " B", " T"];
  const SI_UNIT = ["", " k", " M", " G", " T"];

  function duration(seconds, decimals) {
    const size = Math.abs(seconds);
    if (size === 0) return "0 s";
    if (size < 1) return fixed(seconds * 1000, decimals) + " ms";
    if (size < 60) return fixed(seconds, decimals) + " s";
    if (size < 3600) return fixed(seconds / 60, decimals) + " min";
    if (size < 86400) return fixed(seconds / 3600, decimals) + " hour";
    return fixed(seconds / 86400, decimals) + " day";
  }

  /** A value as Grafana shows it with the field's unit and decimals; null for no value. */
  function format(value, cfg) {
    if (value === null || value === undefined || Number.isNaN(value)) return null;
    if (typeof value === "string") return value;
    const mapped = mapping(cfg, value);
    if (mapped && mapped.text !== undefined) return mapped.text;
    if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
    const d = cfg.decimals;
    switch (cfg.unit || "short") {
      case "percentunit": return fixed(value * 100, d) + "%";
      case "percent": return fixed(value, d) + "%";
      case "s": return duration(value, d);
      case "ms": return duration(value / 1000, d);
      case "reqps": return scaled(value, d, 1000, SI) + " req/s";
      case "ops": return scaled(value, d, 1000, SI) + " ops/s";
      case "bytes": return scaled(value, d, 1024, [" B", " KiB", " MiB", " GiB", " TiB"]);
      case "decbytes": return scaled(value, d, 1000, [" B", " kB", " MB", " GB", " TB"]);
      case "Bps": return scaled(value, d, 1000, SI_UNIT) + "B/s";
      case "none": return fixed(value, d);
      case "short": return scaled(value, d, 1000, SI).trim();
      case "x": return fixed(value, d) + "x";
      default: {
        const unit = cfg.unit;
        if (unit.startsWith("suffix:")) return fixed(value, d) + unit.slice(7);
        if (unit.startsWith("prefix:")) return unit.slice(7) + fixed(value, d);
        return fixed(value, d) + " " + unit;
      }
    }
  }

  function noValue(cfg) {
    return cfg.noValue !== undefined && cfg.noValue !== null && cfg.noValue !== ""
      ? String(cfg.noValue) : "No data";
  }

  // --- time -------------------------------------------------------------------------------
  const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

  function seconds(text) {
    let total = 0, matched = "";
    for (const m of String(text).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g)) {
      total += parseFloat(m[1]) * UNIT_SECONDS[m[2]];
      matched += m[0];
    }
    return matched === String(text) && total > 0 ? total : null;
  }

  function timePoint(text, now) {
    if (text === undefined || text === null || text === "" || text === "now") return now;
    if (/^\d+$/.test(String(text))) return Number(text) / 1000; // epoch milliseconds
    const m = /^now-(.+?)(?:\/\w)?$/.exec(String(text));
    if (m && seconds(m[1]) !== null) return now - seconds(m[1]);
    return now;
  }

  function timeRange() {
    const now = Date.now() / 1000;
    const time = model.time || {};
    const start = timePoint(query.get("from") || time.from || "now-6h", now);
    const end = timePoint(query.get("to") || time.to || "now", now);
    return { start: Math.floor(start), end: Math.ceil(Math.max(end, start + 1)) };
  }

  // --- the proxied Prometheus API ------------------------------------------------------------
  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [key, value] of params) url.searchParams.append(key, value);
    let response, body = null;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" } });
      body = await response.json();
    } catch (error) {
      throw new Error(`Prometheus did not answer (${error.message})`);
    }
    if (!body || body.status !== "success") {
      throw new Error((body && body.error) || `HTTP ${response.status}`);
    }
    return body.data;
  }

  function sampleValue(text) {
    const value = parseFloat(text);
    return Number.isFinite(value) ? value : null; // NaN and ±Inf are no value here
  }

  // --- variables --------------------------------------------------------------------------
  const vars = {};
  const varOptions = {};

  function escapeRegex(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  /** ``text`` with $name, ${name} (and ${name:format}) replaced; ``extra`` first. */
  function interpolate(text, extra, encode) {
    if (typeof text !== "string") return text;
    return text.replace(/\$\{([^}:]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a, b) => {
      const name = a || b;
      let value;
      if (extra && Object.prototype.hasOwnProperty.call(extra, name)) value = extra[name];
      else if (Object.prototype.hasOwnProperty.call(vars, name)) value = vars[name];
      else return whole;
      return encode ? encodeURIComponent(value) : value;
    });
  }

  function variableQuery(variable) {
    const q = variable.query;
    if (q && typeof q === "object") return q.query || variable.definition || "";
    return q || variable.definition || "";
  }

  async function variableValues(variable, range) {
    if (variable.type === "custom") {
      return variableQuery(variable).split(",").map((s) => s.trim()).filter(Boolean);
    }
    if (variable.type === "constant" || variable.type === "textbox") {
      return [variableQuery(variable)];
    }
    const text = interpolate(variableQuery(variable));
    const m = /^\s*label_values\s*\(\s*(?:(.*)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/s.exec(text);
    if (!m) return [];
    const params = [["start", String(range.start)], ["end", String(range.end)]];
    if (m[1]) params.push(["match[]", m[1].trim()]);
    const values = await api(`/api/v1/label/${m[2]}/values`, params);
    let out = values || [];
    if (variable.regex) {
      try {
        const re = new RegExp(variable.regex.replace(/^\/(.*)\/[a-z]*$/, "$1"));
        out = out.filter((v) => re.test(v));
      } catch (error) { /* a regex JavaScript cannot read filters nothing */ }
    }
    return [...new Set(out)].sort();
  }

  async function resolveVariables(range) {
    const form = document.getElementById("variables");
    form.replaceChildren();
    for (const variable of (model.templating && model.templating.list) || []) {
      const name = variable.name;
      if (variable.type === "datasource") {
        vars[name] = "prometheus";
        continue;
      }
      if (variable.type === "interval" || variable.type === "adhoc") continue;
      let values = [];
      try {
        values = await variableValues(variable, range);
      } catch (error) {
        values = [];
      }
      varOptions[name] = values;
      const asked = query.get(`var-${name}`);
      const current = variable.current && variable.current.value;
      const all = variable.includeAll ? (variable.allValue || `(${values.map(escapeRegex).join("|")})`) : null;
      let value;
      if (asked !== null && (values.includes(asked) || (all && (asked === "$__all" || asked === "All")))) {
        value = asked;
      } else if (typeof current === "string" && values.includes(current)) {
        value = current;
      } else {
        value = values.length ? values[0] : "";
      }
      vars[name] = value === "$__all" || value === "All" ? all : value;
      if (variable.hide === 2) continue;
      const label = document.createElement("label");
      label.textContent = (variable.label || name) + " ";
      const select = document.createElement("select");
      select.name = `var-${name}`;
      select.dataset.variable = name;
      const choices = all ? ["$__all", ...values] : values;
      for (const choice of choices) {
        const option = document.createElement("option");
        option.value = choice;
        option.textContent = choice === "$__all" ? "All" : choice;
        option.selected = choice === value;
        select.append(option);
      }
      if (!choices.length) {
        const option = document.createElement("option");
        option.textContent = "(none yet)";
        select.append(option);
        select.disabled = true;
      }
      select.addEventListener("change", () => form.requestSubmit());
      label.append(select);
      form.append(label);
    }
    for (const key of ["from", "to", "refresh"]) {
      if (query.has(key)) {
        const hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = key;
        hidden.value = query.get(key);
        form.append(hidden);
      }
    }
  }

  // --- field configuration ----------------------------------------------------------------
  function setPath(target, path, value) {
    const parts = path.split(".");
    let at = target;
    for (const part of parts.slice(0, -1)) {
      if (typeof at[part] !== "object" || at[part] === null) at[part] = {};
      at = at[part];
    }
    at[parts[parts.length - 1]] = value;
  }

  /** The field config of one field: the defaults with every matching override applied. */
  function fieldConfig(panel, names, refId) {
    const fc = panel.fieldConfig || {};
    const cfg = JSON.parse(JSON.stringify(fc.defaults || {}));
    for (const override of fc.overrides || []) {
      const matcher = override.matcher || {};
      let hit = false;
      if (matcher.id === "byName") hit = names.includes(matcher.options);
      else if (matcher.id === "byFrameRefID") hit = matcher.options === refId;
      else if (matcher.id === "byRegexp") {
        try {
          const re = new RegExp(matcher.options);
          hit = names.some((name) => re.test(name));
        } catch (error) { hit = false; }
      } else if (matcher.id === "byType") hit = matcher.options === "number";
      if (hit) for (const property of override.properties || []) setPath(cfg, property.id, property.value);
    }
    return cfg;
  }

  function seriesName(target, metric) {
    const legend = target.legendFormat;
    if (legend && legend !== "__auto") {
      return legend.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (m, label) => metric[label] ?? "");
    }
    const labels = Object.entries(metric).filter(([k]) => k !== "__name__")
      .map(([k, v]) => `${k}="${v}"`).join(", ");
    if (!metric.__name__ && !labels) return interpolate(target.expr || "");
    return `${metric.__name__ || ""}{${labels}}`;
  }

  // --- queries ----------------------------------------------------------------------------
  function stepFor(panel, range, width) {
    const points = Math.min(panel.maxDataPoints || Math.max(100, Math.floor(width / 2)), MAX_POINTS);
    const floor = seconds(panel.interval || "") || MIN_STEP_SECONDS;
    const step = Math.max(Math.ceil((range.end - range.start) / points), floor);
    return Math.max(step, Math.ceil((range.end - range.start) / MAX_POINTS));
  }

  function targetsOf(panel) {
    return (panel.targets || []).filter((t) => !t.hide && t.expr);
  }

  /** Range series of every target: [{target, metric, name, points: [[t, v|null], ...]}]. */
  async function rangeSeries(panel, range, width) {
    const step = stepFor(panel, range, width);
    // The last point is the range's end: a young lab's few minutes of data are shown.
    const start = range.end - Math.ceil((range.end - range.start) / step) * step;
    const answers = await Promise.all(targetsOf(panel).map((target) => api("/api/v1/query_range", [
      ["query", interpolate(target.expr)], ["start", String(start)],
      ["end", String(range.end)], ["step", String(step)],
    ]).then((data) => ({ target, data }))));
    const out = [];
    for (const { target, data } of answers) {
      for (const item of data.result || []) {
        out.push({
          target, metric: item.metric, name: seriesName(target, item.metric),
          points: item.values.map(([t, v]) => [t, sampleValue(v)]),
        });
      }
    }
    return { series: out, step };
  }

  const REDUCERS = {
    lastNotNull: (vs) => { const f = vs.filter((v) => v !== null); return f.length ? f[f.length - 1] : null; },
    last: (vs) => (vs.length ? vs[vs.length - 1] : null),
    firstNotNull: (vs) => vs.find((v) => v !== null) ?? null,
    first: (vs) => (vs.length ? vs[0] : null),
    mean: (vs) => { const f = vs.filter((v) => v !== null); return f.length ? f.reduce((a, b) => a + b, 0) / f.length : null; },
    max: (vs) => { const f = vs.filter((v) => v !== null); return f.length ? Math.max(...f) : null; },
    min: (vs) => { const f = vs.filter((v) => v !== null); return f.length ? Math.min(...f) : null; },
    sum: (vs) => { const f = vs.filter((v) => v !== null); return f.length ? f.reduce((a, b) => a + b, 0) : null; },
  };

  /** One value per series (instant queries, or range queries reduced): [{target, metric, name, value}]. */
  async function instantValues(panel, range, width) {
    const out = [];
    const calc = ((panel.options && panel.options.reduceOptions && panel.options.reduceOptions.calcs) || [])[0] || "lastNotNull";
    await Promise.all(targetsOf(panel).map(async (target) => {
      if (target.range === true && target.instant !== true) {
        const { series } = await rangeSeries({ ...panel, targets: [target] }, range, width);
        for (const s of series) {
          out.push({ target, metric: s.metric, name: s.name,
            value: (REDUCERS[calc] || REDUCERS.lastNotNull)(s.points.map((p) => p[1])) });
        }
        return;
      }
      const data = await api("/api/v1/query", [["query", interpolate(target.expr)], ["time", String(range.end)]]);
      const result = data.resultType === "scalar" ? [{ metric: {}, value: data.result }] : data.result || [];
      for (const item of result) {
        out.push({ target, metric: item.metric, name: seriesName(target, item.metric), value: sampleValue(item.value[1]) });
      }
    }));
    const order = targetsOf(panel).map((t) => t.refId);
    out.sort((a, b) => order.indexOf(a.target.refId) - order.indexOf(b.target.refId) || a.name.localeCompare(b.name));
    return out;
  }

  // --- DOM helpers ------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  /** ``url`` if it is http(s) or relative; null for other schemes (javascript:, data:, //host). */
  function safeUrl(url) {
    const text = String(url || "").trim();
    if (!text || text.startsWith("//")) return null;
    if (/^https?:\/\//i.test(text)) return text;
    const colon = text.indexOf(":");
    const path = text.search(/[/?#]/);
    if (colon !== -1 && (path === -1 || colon < path)) return null;
    return text;
  }

  function link(url, text, extra) {
    const href = safeUrl(interpolate(url, extra, true));
    if (!href) return document.createTextNode(text);
    const a = el("a", { href, textContent: text });
    if (/^https?:\/\//i.test(href)) a.rel = "noopener noreferrer";
    return a;
  }

  function labelExtras(metric) {
    const extra = {};
    for (const [key, value] of Object.entries(metric || {})) extra[`__field.labels.${key}`] = value;
    return extra;
  }

  function showNoValue(view, cfg) {
    view.body.replaceChildren(el("div", { class: "no-value", textContent: noValue(cfg) }));
    return "no-data";
  }

  // --- markdown (text panels) ---------------------------------------------------------------
  function inline(text) {
    const node = document.createDocumentFragment();
    const pattern = /\\([^\w\s])|`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\b_([^_]+)_\b|\[([^\]]+)\]\(([^)\s]+)\)/g;
    let last = 0;
    for (const m0 of text.matchAll(pattern)) {
      const m = [m0[0], ...m0.slice(2)];
      m.index = m0.index;
      node.append(text.slice(last, m.index));
      if (m0[1] !== undefined) node.append(m0[1]);
      else if (m[1] !== undefined) node.append(el("code", { textContent: m[1] }));
      else if (m[2] !== undefined) node.append(el("strong", { textContent: m[2] }));
      else if (m[3] !== undefined || m[4] !== undefined) node.append(el("em", { textContent: m[3] ?? m[4] }));
      else node.append(link(m[6], m[5]));
      last = m.index + m[0].length;
    }
    node.append(text.slice(last));
    return node;
  }

  /** The cells of a markdown table row (pipes escaped as \\| stay in the cell). */
  function cells(line) {
    const out = [];
    let cell = "";
    const text = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    for (let i = 0; i < text.length; i += 1) {
      if (text[i] === "\\" && text[i + 1] === "|") { cell += "|"; i += 1; }
      else if (text[i] === "|") { out.push(cell.trim()); cell = ""; }
      else cell += text[i];
    }
    out.push(cell.trim());
    return out;
  }

  function markdown(source) {
    const root = el("div", { class: "markdown" });
    const lines = source.replace(/\r\n/g, "\n").split("\n");
    let paragraph = [], list = null, code = null;
    const flush = () => {
      if (paragraph.length) root.append(el("p", {}, inline(paragraph.join(" "))));
      paragraph = [];
      list = null;
    };
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i];
      if (code === null && /^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{3,}/.test(lines[i + 1])) {
        flush();
        const rows = [];
        while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(cells(lines[i++]));
        i -= 1;
        const [header, , ...bodyRows] = rows;
        root.append(el("table", { class: "md-table" },
          el("thead", {}, el("tr", {}, ...header.map((c) => el("th", {}, inline(c))))),
          el("tbody", {}, ...bodyRows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, inline(c))))))));
        continue;
      }
      if (code !== null) {
        if (/^```/.test(line)) {
          root.append(el("pre", {}, el("code", { textContent: code.join("\n") })));
          code = null;
        } else code.push(line);
        continue;
      }
      if (/^```/.test(line)) { flush(); code = []; continue; }
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const item = /^\s*(?:[-*+]|\d+\.)\s+(.*)$/.exec(line);
      if (heading) { flush(); root.append(el(`h${Math.min(heading[1].length + 2, 6)}`, {}, inline(heading[2]))); }
      else if (item) {
        if (paragraph.length) { root.append(el("p", {}, inline(paragraph.join(" ")))); paragraph = []; }
        if (!list) { list = el("ul"); root.append(list); }
        list.append(el("li", {}, inline(item[1])));
      } else if (!line.trim()) flush();
      else { list = null; paragraph.push(line.trim()); }
    }
    if (code !== null) root.append(el("pre", {}, el("code", { textContent: code.join("\n") })));
    flush();
    return root;
  }

  // --- panels -----------------------------------------------------------------------------
  function drawText(view) {
    const options = view.panel.options || {};
    const content = interpolate(options.content || "");
    if (!content.trim()) return showNoValue(view, {});
    view.body.replaceChildren(options.mode === "markdown" || !options.mode
      ? markdown(content) : el("pre", { class: "plain", textContent: content }));
    return "drawn";
  }

  function valueLinks(cfg, metric, text) {
    const links = cfg.links || [];
    if (!links.length) return document.createTextNode(text);
    return link(links[0].url, text, labelExtras(metric));
  }

  async function drawStat(view, range) {
    const { panel } = view;
    const values = await instantValues(panel, range, view.body.clientWidth);
    const defaults = fieldConfig(panel, [], null);
    const shown = values.filter((v) => v.value !== null);
    if (!shown.length) return showNoValue(view, defaults);
    const options = panel.options || {};
    const box = el("div", { class: "stat-values" });
    for (const item of shown) {
      const cfg = fieldConfig(panel, [item.name], item.target.refId);
      const text = format(item.value, cfg);
      const colour = fieldColor(cfg, item.value);
      const value = el("div", { class: "stat-value", "data-value": String(item.value) },
        valueLinks(cfg, item.metric, text));
      const cell = el("div", { class: "stat" });
      if (options.colorMode === "background" || options.colorMode === "background_solid") {
        cell.style.background = colour;
        cell.classList.add("on-colour");
      } else if (options.colorMode !== "none") value.style.color = colour;
      if (shown.length > 1 || options.textMode === "value_and_name") {
        cell.append(el("div", { class: "stat-name", textContent: cfg.displayName || item.name }));
      }
      cell.append(value);
      box.append(cell);
    }
    box.style.setProperty("--stat-count", String(shown.length));
    view.body.replaceChildren(box);
    return "drawn";
  }

  function gaugeArc(fraction, colour, steps, cfg) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 200 120");
    svg.setAttribute("class", "gauge-svg");
    const arc = (from, to, stroke, width) => {
      const a0 = Math.PI * (1 - from), a1 = Math.PI * (1 - to);
      const r = 80, cx = 100, cy = 100;
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", `M ${cx + r * Math.cos(a0)} ${cy - r * Math.sin(a0)} A ${r} ${r} 0 0 1 ${cx + r * Math.cos(a1)} ${cy - r * Math.sin(a1)}`);
      path.setAttribute("stroke", stroke);
      path.setAttribute("stroke-width", String(width));
      path.setAttribute("fill", "none");
      svg.append(path);
    };
    arc(0, 1, "#2c3235", 18);
    const min = cfg.min ?? 0, max = cfg.max ?? 1;
    const sorted = (steps || []).slice();
    sorted.forEach((step, i) => {
      const from = step.value == null ? 0 : Math.max(0, Math.min(1, (step.value - min) / (max - min)));
      const next = sorted[i + 1];
      const to = next ? Math.max(0, Math.min(1, (next.value - min) / (max - min))) : 1;
      if (to > from) arc(from, to, color(step.color), 4);
    });
    if (fraction > 0) arc(0, Math.min(fraction, 1), colour, 14);
    return svg;
  }

  function rangeOf(cfg) {
    const percent = cfg.unit === "percentunit";
    return { min: cfg.min ?? 0, max: cfg.max ?? (percent ? 1 : 100) };
  }

  async function drawGauge(view, range) {
    const { panel } = view;
    const values = (await instantValues(panel, range, view.body.clientWidth)).filter((v) => v.value !== null);
    const defaults = fieldConfig(panel, [], null);
    if (!values.length) return showNoValue(view, defaults);
    const box = el("div", { class: "gauges" });
    for (const item of values) {
      const cfg = fieldConfig(panel, [item.name], item.target.refId);
      const { min, max } = rangeOf(cfg);
      const colour = fieldColor(cfg, item.value);
      const fraction = max > min ? (item.value - min) / (max - min) : 0;
      box.append(el("div", { class: "gauge" },
        gaugeArc(fraction, colour, cfg.thresholds && cfg.thresholds.steps, { ...cfg, min, max }),
        el("div", { class: "gauge-value", style: `color:${colour}`, "data-value": String(item.value) },
          valueLinks(cfg, item.metric, format(item.value, cfg))),
        values.length > 1 ? el("div", { class: "gauge-name", textContent: cfg.displayName || item.name }) : null));
    }
    view.body.replaceChildren(box);
    return "drawn";
  }

  function bar(value, cfg, text, metric) {
    const { min, max } = rangeOf(cfg);
    const fraction = max > min ? Math.max(0, Math.min(1, (value - min) / (max - min))) : 0;
    const colour = fieldColor(cfg, value);
    return el("div", { class: "bar" },
      el("div", { class: "bar-track" },
        el("div", { class: "bar-fill", style: `width:${(fraction * 100).toFixed(2)}%;background:${colour}` })),
      el("span", { class: "bar-text", style: `color:${colour}` }, valueLinks(cfg, metric, text)));
  }

  async function drawBarGauge(view, range) {
    const { panel } = view;
    const values = (await instantValues(panel, range, view.body.clientWidth)).filter((v) => v.value !== null);
    const defaults = fieldConfig(panel, [], null);
    if (!values.length) return showNoValue(view, defaults);
    const box = el("div", { class: "bargauge" });
    for (const item of values) {
      const cfg = fieldConfig(panel, [item.name], item.target.refId);
      box.append(el("div", { class: "bargauge-row", "data-value": String(item.value) },
        el("div", { class: "bargauge-name", textContent: cfg.displayName || item.name }),
        bar(item.value, cfg, format(item.value, cfg), item.metric)));
    }
    view.body.replaceChildren(box);
    return "drawn";
  }

  function aligned(series) {
    const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const index = new Map(times.map((t, i) => [t, i]));
    const columns = series.map((s) => {
      const column = new Array(times.length).fill(null);
      for (const [t, v] of s.points) column[index.get(t)] = v;
      return column;
    });
    return [times, ...columns];
  }

  function dashOf(cfg) {
    const style = cfg.custom && cfg.custom.lineStyle;
    if (!style || style.fill === "solid") return undefined;
    if (Array.isArray(style.dash)) return style.dash;
    return style.fill === "dot" ? [2, 4] : [10, 8];
  }

  function thresholdLines(cfg) {
    const mode = cfg.custom && cfg.custom.thresholdsStyle && cfg.custom.thresholdsStyle.mode;
    if (!mode || mode === "off" || mode === "area") return [];
    const dashed = mode.startsWith("dashed");
    return ((cfg.thresholds && cfg.thresholds.steps) || [])
      .filter((s) => s.value !== null && s.value !== undefined)
      .map((s) => ({ value: s.value, color: color(s.color), dashed }));
  }

  async function drawTimeseries(view, range) {
    const { panel } = view;
    const width = Math.max(view.body.clientWidth, 100);
    const { series } = await rangeSeries(panel, range, width);
    const defaults = fieldConfig(panel, [], null);
    const drawn = series.filter((s) => s.points.some((p) => p[1] !== null));
    view.range = range;
    if (!drawn.length) {
      destroyChart(view);
      return showNoValue(view, defaults);
    }
    const configs = drawn.map((s) => fieldConfig(panel, [s.name], s.target.refId));
    const names = drawn.map((s, i) => configs[i].displayName || s.name);
    const key = JSON.stringify(names);
    const data = aligned(drawn);
    view.points = drawn.reduce((n, s) => n + s.points.filter((p) => p[1] !== null).length, 0);
    if (view.chart && view.chartKey === key) {
      view.chart.setData(data);
      return "drawn";
    }
    destroyChart(view);
    const lines = thresholdLines(defaults);
    const legend = !(panel.options && panel.options.legend && panel.options.legend.showLegend === false);
    const custom = defaults.custom || {};
    const colours = drawn.map((s, i) => {
      const cfg = configs[i];
      return cfg.color && cfg.color.mode === "fixed" ? color(cfg.color.fixedColor) : PALETTE[i % PALETTE.length];
    });
    const opts = {
      width,
      height: Math.max(view.body.clientHeight - (legend ? 30 + 18 * Math.min(drawn.length - 1, 3) : 0), 60),
      legend: { show: legend, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: () => [view.range.start, view.range.end] },
        y: {
          range: (u, min, max) => {
            let lo = defaults.min ?? (min === null ? 0 : Math.min(min, 0));
            let hi = defaults.max ?? (max === null ? 1 : max);
            if (defaults.max === undefined && custom.axisSoftMax !== undefined) hi = Math.max(hi, custom.axisSoftMax);
            if (defaults.min === undefined && custom.axisSoftMin !== undefined) lo = Math.min(lo, custom.axisSoftMin);
            if (hi <= lo) hi = lo + (Math.abs(lo) || 1);
            if (defaults.max === undefined) hi += (hi - lo) * 0.05;
            return [lo, hi];
          },
        },
      },
      axes: [
        { stroke: "#9fa7b3", grid: { stroke: "rgba(204,204,220,0.07)" }, ticks: { stroke: "rgba(204,204,220,0.07)" } },
        {
          stroke: "#9fa7b3", size: 70,
          grid: { stroke: "rgba(204,204,220,0.07)" }, ticks: { stroke: "rgba(204,204,220,0.07)" },
          values: (u, splits) => splits.map((v) => format(v, defaults) ?? ""),
        },
      ],
      series: [
        {},
        ...drawn.map((s, i) => {
          const cfg = configs[i];
          const fill = (cfg.custom && cfg.custom.fillOpacity) || 0;
          return {
            label: names[i],
            stroke: colours[i],
            width: (cfg.custom && cfg.custom.lineWidth) || 1.5,
            dash: dashOf(cfg),
            fill: fill ? withAlpha(colours[i], fill / 100) : undefined,
            spanGaps: false,
            // A series of a few points (a lab minutes old) shows them; a line needs two.
            points: {
              show: s.points.filter((p) => p[1] !== null).length < 5, size: 7, fill: colours[i],
            },
            value: (u, v) => format(v, cfg) ?? noValue(cfg),
          };
        }),
      ],
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          for (const line of lines) {
            const y = u.valToPos(line.value, "y", true);
            if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
            ctx.save();
            ctx.strokeStyle = line.color;
            ctx.lineWidth = 1.5 * devicePixelRatio;
            if (line.dashed) ctx.setLineDash([8 * devicePixelRatio, 6 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
            ctx.restore();
          }
        }],
      },
    };
    view.body.replaceChildren();
    view.chart = new uPlot(opts, data, view.body);
    view.chartKey = key;
    view.element.dataset.colors = colours.join(" ");
    return "drawn";
  }

  function destroyChart(view) {
    if (view.chart) {
      view.chart.destroy();
      view.chart = null;
      view.chartKey = null;
    }
  }

  async function drawStateTimeline(view, range) {
    const { panel } = view;
    const width = Math.max(view.body.clientWidth, 100);
    const { series } = await rangeSeries(panel, range, width);
    const defaults = fieldConfig(panel, [], null);
    const drawn = series.filter((s) => s.points.some((p) => p[1] !== null));
    if (!drawn.length) return showNoValue(view, defaults);
    const labelWidth = 150, axis = 20;
    const height = Math.max(view.body.clientHeight, 60);
    const canvas = el("canvas", { class: "state-timeline" });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const lane = (height - axis) / drawn.length;
    const x = (t) => labelWidth + (width - labelWidth - 4) * (t - range.start) / (range.end - range.start);
    ctx.font = "12px sans-serif";
    ctx.textBaseline = "middle";
    const step = stepFor(panel, range, width);
    drawn.forEach((s, i) => {
      const cfg = fieldConfig(panel, [s.name], s.target.refId);
      const top = i * lane + 2;
      ctx.fillStyle = "#CCCCDC";
      ctx.fillText((cfg.displayName || s.name).slice(0, 22), 4, top + lane / 2);
      for (const [t, v] of s.points) {
        if (v === null) continue;
        ctx.fillStyle = fieldColor({ ...cfg, color: cfg.color || { mode: "thresholds" } }, v);
        ctx.fillRect(Math.floor(x(t)), top, Math.max(Math.ceil(x(t + step) - x(t)) + 1, 1), lane - 4);
      }
    });
    ctx.fillStyle = "#9fa7b3";
    for (let k = 0; k <= 4; k += 1) {
      const t = range.start + (range.end - range.start) * k / 4;
      const text = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      ctx.fillText(text, Math.min(x(t), width - 40), height - axis / 2);
    }
    view.points = drawn.reduce((n, s) => n + s.points.filter((p) => p[1] !== null).length, 0);
    view.body.replaceChildren(canvas);
    return "drawn";
  }

  // Tables: instant queries become frames; merge joins them on their common labels; organize
  // drops, renames and orders the columns.
  async function tableFrames(panel, range, width) {
    const targets = targetsOf(panel);
    const values = await instantValues(panel, range, width);
    return targets.map((target) => {
      const valueName = targets.length > 1 ? `Value #${target.refId}` : "Value";
      const rows = values.filter((v) => v.target === target).map((v) => {
        const row = {};
        for (const [key, value] of Object.entries(v.metric)) if (key !== "__name__") row[key] = value;
        row[valueName] = v.value;
        return row;
      });
      const labels = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => k !== valueName)))];
      return { refId: target.refId, fields: [...labels, valueName], valueName, rows };
    });
  }

  function merge(frames) {
    const fields = [];
    const valueFields = new Set(frames.map((f) => f.valueName));
    for (const frame of frames) for (const f of frame.fields) if (!fields.includes(f)) fields.push(f);
    const rows = [];
    for (const frame of frames) {
      for (const row of frame.rows) {
        const keys = Object.keys(row).filter((k) => !valueFields.has(k));
        const same = rows.find((r) => keys.every((k) => r[k] === undefined || r[k] === row[k])
          && Object.keys(r).filter((k) => !valueFields.has(k)).every((k) => row[k] === undefined || r[k] === row[k]));
        if (same) Object.assign(same, row);
        else rows.push({ ...row });
      }
    }
    const refIds = {};
    for (const frame of frames) refIds[frame.valueName] = frame.refId;
    return { fields, rows, refIds };
  }

  function organize(table, options) {
    const exclude = options.excludeByName || {};
    const rename = options.renameByName || {};
    const index = options.indexByName || {};
    let fields = table.fields.filter((f) => !exclude[f]);
    const has = (f) => Object.prototype.hasOwnProperty.call(index, f);
    fields = fields.map((f, i) => [f, i]).sort((a, b) => {
      const ia = has(a[0]) ? index[a[0]] : 1000 + a[1];
      const ib = has(b[0]) ? index[b[0]] : 1000 + b[1];
      return ia - ib;
    }).map(([f]) => f);
    const names = { ...(table.names || {}) };
    for (const f of fields) if (rename[f]) names[f] = rename[f];
    return { ...table, fields, names };
  }

  function sortRows(table, sorts, display) {
    const [first] = sorts || [];
    if (!first) return table;
    const name = first.displayName || first.field;
    const field = table.fields.find((f) => f === name || display(f) === name);
    if (!field) return table;
    const rows = table.rows.slice().sort((a, b) => {
      const x = a[field], y = b[field];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return first.desc ? -order : order;
    });
    return { ...table, rows };
  }

  function cellContent(value, cfg, row, display, field) {
    const cell = cfg.custom && (cfg.custom.cellOptions || (cfg.custom.displayMode && { type: cfg.custom.displayMode }));
    const type = cell && cell.type;
    const text = typeof value === "number" ? format(value, cfg) : value;
    const shown = text === null || text === undefined ? noValue(cfg) : String(text);
    const extra = { "__value.raw": value === null || value === undefined ? "" : String(value), "__value.text": shown };
    for (const [key, v] of Object.entries(row)) {
      extra[`__data.fields.${key}`] = v === null || v === undefined ? "" : String(v);
      extra[`__data.fields.${display(key)}`] = extra[`__data.fields.${key}`];
      extra[`__data.fields["${display(key)}"]`] = extra[`__data.fields.${key}`];
    }
    const links = cfg.links || [];
    const content = links.length ? link(links[0].url, shown, extra) : document.createTextNode(shown);
    const td = el("td", { "data-field": field, "data-column": display(field) });
    if (value !== null && value !== undefined) td.dataset.value = String(value);
    else td.classList.add("no-value-cell");
    if (typeof value === "number" && /gauge|basic|lcd/.test(type || "")) {
      td.append(bar(value, cfg, shown, {}));
      td.classList.add("gauge-cell");
      if (links.length) td.querySelector(".bar-text").replaceChildren(content);
      return td;
    }
    if (typeof value === "number" && /color-background/.test(type || "")) {
      td.style.background = withAlpha(fieldColor(cfg, value), 0.75);
    } else if (typeof value === "number" && /color-text/.test(type || "")) {
      td.style.color = fieldColor(cfg, value);
    }
    if (typeof value === "number") td.classList.add("number");
    td.append(content);
    return td;
  }

  async function drawTable(view, range) {
    const { panel } = view;
    let table = merge(await tableFrames(panel, range, view.body.clientWidth));
    table.names = {};
    for (const step of panel.transformations || []) {
      if (step.disabled) continue;
      if (step.id === "organize") table = organize(table, step.options || {});
      if (step.id === "sortBy") {
        const sorts = ((step.options && step.options.sort) || []).map((s) => ({ field: s.field, desc: s.desc }));
        table = sortRows(table, sorts, (f) => table.names[f] || f);
      }
    }
    const display = (f) => table.names[f] || f;
    const configs = {};
    for (const f of table.fields) {
      configs[f] = fieldConfig(panel, [f, display(f)], table.refIds[f] || null);
      if (configs[f].displayName) table.names[f] = configs[f].displayName;
    }
    const defaults = fieldConfig(panel, [], null);
    if (!table.rows.length) return showNoValue(view, defaults);
    table = sortRows(table, panel.options && panel.options.sortBy, display);
    const head = el("tr", {}, ...table.fields.map((f) => el("th", { textContent: display(f), "data-field": f })));
    const body = el("tbody");
    table.rows.forEach((row, i) => {
      body.append(el("tr", { "data-row": String(i) },
        ...table.fields.map((f) => cellContent(row[f] ?? null, configs[f], row, display, f))));
    });
    view.body.replaceChildren(el("div", { class: "table-wrap" }, el("table", { class: "data-table" }, el("thead", {}, head), body)));
    view.points = table.rows.length;
    return "drawn";
  }

  const DRAW = {
    stat: drawStat, gauge: drawGauge, bargauge: drawBarGauge, timeseries: drawTimeseries,
    "state-timeline": drawStateTimeline, table: drawTable, text: drawText,
  };

  // --- layout -----------------------------------------------------------------------------
  const ROW_HEIGHT = 30;

  function panelsOf(list) {
    const out = [];
    for (const panel of list || []) {
      out.push(panel);
      if (panel.type === "row" && panel.collapsed && Array.isArray(panel.panels)) out.push(...panel.panels);
    }
    return out;
  }

  function layout() {
    const grid = document.getElementById("panels");
    const views = [];
    const panels = panelsOf(model.panels).slice().sort((a, b) => {
      const pa = a.gridPos || {}, pb = b.gridPos || {};
      return (pa.y || 0) - (pb.y || 0) || (pa.x || 0) - (pb.x || 0);
    });
    for (const panel of panels) {
      const pos = panel.gridPos || { x: 0, y: 0, w: 24, h: 8 };
      const place = `grid-column:${(pos.x || 0) + 1} / span ${pos.w || 24};grid-row:${(pos.y || 0) + 1} / span ${pos.h || 8}`;
      if (panel.type === "row") {
        grid.append(el("h2", { class: "row-title", style: place, textContent: interpolate(panel.title || "") }));
        continue;
      }
      const links = el("span", { class: "panel-links" });
      for (const item of panel.links || []) links.append(link(item.url, item.title || item.url));
      const description = panel.description ? el("span", { class: "description", title: panel.description, textContent: "i" }) : null;
      const body = el("div", { class: "panel-body" });
      const element = el("section", {
        class: `panel panel-${panel.type}`, style: place,
        "data-panel-id": String(panel.id), "data-type": panel.type, "data-state": "loading",
      }, el("header", {}, el("h3", { textContent: interpolate(panel.title || "") }), description, links), body);
      grid.append(element);
      views.push({ panel, element, body, chart: null, chartKey: null });
    }
    return views;
  }

  async function drawOne(view, range) {
    const draw = DRAW[view.panel.type];
    let state;
    try {
      if (!draw) {
        view.body.replaceChildren(el("div", { class: "no-value", textContent: `panel type ${view.panel.type} is not drawn here` }));
        state = "error";
      } else state = await draw(view, range);
      view.element.removeAttribute("data-error");
    } catch (error) {
      destroyChart(view);
      view.body.replaceChildren(el("div", { class: "panel-error", textContent: error.message }));
      view.element.dataset.error = error.message;
      state = "error";
    }
    view.element.dataset.state = state;
    view.element.dataset.points = String(view.points || 0);
  }

  // --- the page -----------------------------------------------------------------------------
  function refreshSeconds() {
    const asked = query.get("refresh") || model.refresh || DEFAULT_REFRESH;
    return Math.max(seconds(asked) || seconds(DEFAULT_REFRESH), 5);
  }

  async function main() {
    document.getElementById("title").textContent = model.title || "SLOs";
    const range = timeRange();
    await resolveVariables(range);
    document.getElementById("title").textContent = interpolate(model.title || "SLOs");
    document.title = `${interpolate(model.title || "SLOs")} · sre-platform lab`;
    const views = layout();
    const every = refreshSeconds();
    const note = document.getElementById("refresh-note");
    let running = false;
    const cycle = async () => {
      if (running) return;
      running = true;
      const started = performance.now();
      try {
        const now = timeRange();
        await Promise.all(views.map((view) => drawOne(view, now)));
      } finally {
        running = false;
      }
      const body = document.body;
      body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
      if (!body.dataset.ready) {
        body.dataset.firstDrawMs = String(Math.round(performance.now()));
        body.dataset.ready = "true";
      }
      body.dataset.cycleMs = String(Math.round(performance.now() - started));
      note.textContent = `updated ${new Date().toLocaleTimeString()} · every ${every} s`;
    };
    await cycle();
    setInterval(cycle, every * 1000);
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        for (const view of views) {
          if (view.chart) view.chart.setSize({ width: view.body.clientWidth, height: view.chart.height });
        }
      }, 200);
    });
  }

  const start = () => main().catch((error) => {
    document.body.dataset.error = error.message;
    document.getElementById("panels").append(el("div", { class: "panel-error", textContent: error.message }));
    document.body.dataset.ready = "true";
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
