// gpuplan serve: the page's script. Plain JS, no dependencies; it talks only to this server's /api.
// Every number shown comes from the API's JSON (the command line's --format json); this script only
// formats it, with the same rules as src/report/units.rs.
"use strict";

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
const $ = (sel, root = document) => root.querySelector(sel);

// --- units (as src/report/units.rs) ---
function bytes(b) {
  return b >= GIB ? (b / GIB).toFixed(2) + " GiB" : (b / MIB).toFixed(0) + " MiB";
}
function signedBytes(b) {
  return b < 0 ? "-" + bytes(-b) : bytes(b);
}
function tokens(n) {
  return n >= 1024 && n % 1024 === 0 ? n / 1024 + "K" : String(n);
}
function rate(x) {
  if (!isFinite(x)) return "-";
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
function seconds(s) {
  return s < 1 ? (s * 1e3).toFixed(1) + " ms" : s.toFixed(2) + " s";
}
// An error band as src/report/views/bands.rs writes it: "-5.7%..+5.7%".
function range(b) {
  const pct = (x) => {
    const p = x * 100;
    const tenths = Math.round(Math.abs(p) * 10);
    const digits = tenths >= 100 && tenths % 10 === 0 ? 0 : 1;
    return (p < 0 ? "-" : "+") + Math.abs(p).toFixed(digits) + "%";
  };
  return `${pct(b.low)}..${pct(b.high)}`;
}
function bandBasis(bands, runtime) {
  const m = bands.memory.basis, d = bands.decode.basis;
  return m.kind === "records" && d.kind === "records"
    ? `the spread of measured / predicted over the ${runtime} profile's validation records (${m.records} memory, ${d.records} speed)`
    : `stated, not measured (no validation record calibrates the ${runtime} profile)`;
}

// --- small DOM helpers (text only: nothing from the API is parsed as HTML) ---
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "style") e.setAttribute("style", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": typeof body === "string" ? "text/plain" : "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error((data && data.error) || res.status + " " + res.statusText);
  return data;
}

// --- state in the URL ---
const FIT_FIELDS = ["model", "gpu", "gpus", "precision", "runtime", "context", "batch", "allow_long_context"];
const MATRIX_FIELDS = ["m-models", "m-gpu", "m-precision", "m-context", "m-runtime"];

function readState() {
  return new URLSearchParams(location.search);
}
function writeState(view, fields) {
  const q = new URLSearchParams();
  q.set("view", view);
  for (const id of fields) {
    const e = document.getElementById(id);
    let v;
    if (e.type === "checkbox") v = e.checked ? "1" : "";
    else if (e.multiple) v = [...e.selectedOptions].map((o) => o.value).join(",");
    else v = e.value.trim();
    if (v !== "" && !(e.defaultValue !== undefined && e.type === "number" && v === e.defaultValue)) q.set(id, v);
  }
  history.replaceState(null, "", "?" + q.toString());
}
function fillFrom(q, fields) {
  for (const id of fields) {
    if (!q.has(id)) continue;
    const e = document.getElementById(id);
    const v = q.get(id);
    if (e.type === "checkbox") e.checked = v === "1" || v === "true";
    else if (e.multiple) {
      const want = v.split(",");
      for (const o of e.options) o.selected = want.includes(o.value);
    } else e.value = v;
  }
}

// --- views ---
function showView(name) {
  for (const v of ["fit", "matrix", "report"]) {
    const panel = document.getElementById("view-" + v);
    const tab = document.getElementById("tab-" + v);
    panel.hidden = v !== name;
    tab.setAttribute("aria-selected", String(v === name));
    if (v === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}

// --- fit ---
function fitParams(gpu) {
  const p = { gpu };
  const config = $("#config").value.trim();
  if (config) {
    try {
      p.model = JSON.parse(config);
    } catch (e) {
      throw new Error("the pasted config.json is not valid JSON: " + e.message);
    }
  } else {
    p.model = $("#model").value.trim();
    if (!p.model) throw new Error("choose a model");
  }
  const ctx = $("#context").value.trim();
  if (ctx) p.context = ctx;
  if ($("#precision").value) p.precision = $("#precision").value;
  if ($("#runtime").value) p.runtime = $("#runtime").value;
  p.batch = $("#batch").value.trim() || "1";
  p.gpus = $("#gpus").value.trim() || "1";
  if ($("#allow_long_context").checked) p.allow_long_context = true;
  return p;
}

async function runFit() {
  const out = $("#results");
  const gpus = [...$("#gpu").selectedOptions].map((o) => o.value);
  writeState("fit", FIT_FIELDS);
  out.replaceChildren();
  if (gpus.length === 0) {
    out.append(el("p", { class: "error", role: "alert", text: "Choose at least one GPU." }));
    return;
  }
  out.setAttribute("aria-busy", "true");
  try {
    const reports = await Promise.all(gpus.map((g) => api("/api/fit", fitParams(g))));
    for (const r of reports) out.append(fitCard(r));
  } catch (e) {
    out.append(el("p", { class: "error", role: "alert", text: e.message }));
  } finally {
    out.setAttribute("aria-busy", "false");
  }
}

function verdictText(r) {
  const m = r.memory;
  return r.fits
    ? `FITS: ${bytes(m.total_bytes)} of ${bytes(m.available_bytes)} (${signedBytes(r.headroom_bytes)} free)`
    : `DOES NOT FIT: needs ${bytes(m.total_bytes)} of ${bytes(m.available_bytes)} (short ${bytes(Math.abs(r.headroom_bytes))})`;
}

// A figure with its band (typed data from the API: low/high fractions and a basis).
function banded(text, band) {
  return band ? `${text} (${range(band)})` : text;
}
// The band of a time from a rate: 1/x inverts it.
function inverse(b) {
  return b && { low: 1 / (1 + b.high) - 1, high: 1 / (1 + b.low) - 1, basis: b.basis };
}

function memoryBar(r) {
  const m = r.memory;
  const parts = [
    ["weights", m.weights_bytes],
    ["kv cache", m.kv_cache_bytes],
    ["activations", m.activations_bytes],
    ["overhead", m.overhead_bytes],
  ];
  const scale = Math.max(m.total_bytes, m.available_bytes);
  const bar = el("div", {
    class: "bar",
    role: "img",
    "aria-label": parts.map(([n, b]) => `${n} ${bytes(b)}`).join(", ") + `; available ${bytes(m.available_bytes)}`,
  });
  parts.forEach(([name, b], i) => {
    bar.append(el("span", { class: "seg seg" + i, style: `width:${((100 * b) / scale).toFixed(3)}%`, title: `${name}: ${bytes(b)}` }));
  });
  bar.append(el("span", { class: "limit", style: `left:${((100 * m.available_bytes) / scale).toFixed(3)}%`, title: `available: ${bytes(m.available_bytes)}` }));
  const legend = el("ul", { class: "legend" });
  parts.forEach(([name, b], i) => legend.append(el("li", {}, el("span", { class: "swatch seg" + i }), `${name} ${bytes(b)}`)));
  legend.append(el("li", {}, el("span", { class: "swatch limit-swatch" }), `available ${bytes(m.available_bytes)}`));
  return el("figure", { class: "memory" }, bar, legend);
}

function fitCard(r) {
  const t = r.throughput;
  const bands = r.bands || {};
  const card = el("article", { class: "card", "data-gpu": r.gpu });
  card.append(el("h2", { text: `${r.model_name} on ${r.total_gpus > 1 ? r.total_gpus + " x " : ""}${r.gpu_name}` }));
  card.append(el("p", {
    class: "setup",
    text: `${r.precision} weights, ${r.kv_precision} KV cache, ${r.runtime} runtime, ${tokens(r.context)} context, batch ${r.batch}`,
  }));
  card.append(el("p", { class: "verdict " + (r.fits ? "good" : "bad"), "data-fits": String(r.fits), text: verdictText(r) }));
  const dl = el("dl", { class: "facts" });
  const fact = (k, v, attrs = {}) => dl.append(el("dt", { text: k }), el("dd", attrs, v));
  fact("total", banded(bytes(r.memory.total_bytes), bands.memory), { class: "total", "data-bytes": String(r.memory.total_bytes) });
  fact("max context", r.max_context == null ? "none: the weights and overheads alone do not fit" : `${tokens(r.max_context)} tokens at batch ${r.batch}`, { class: "max-context" });
  fact("max batch", r.max_batch == null ? "none at this context" : `${r.max_batch} sequences at ${tokens(r.context)} context`, { class: "max-batch" });
  fact("fewest GPUs", r.smallest_layout ? `${r.smallest_layout.tp * r.smallest_layout.pp} (TP ${r.smallest_layout.tp}${r.smallest_layout.pp > 1 ? ", PP " + r.smallest_layout.pp : ""})` : "no layout of up to 64 GPUs fits");
  fact("decode", `${banded(rate(t.decode_tokens_per_s) + " tok/s aggregate", bands.decode)}, ${rate(t.per_user_tokens_per_s)} tok/s per sequence (${t.decode_bound}-bound)`, { class: "decode" });
  fact("prefill", `${banded(rate(t.prefill_tokens_per_s) + " tok/s", bands.prefill)}, time to first token ${banded(seconds(t.ttft_s), inverse(bands.prefill))}`, { class: "prefill" });
  if (r.bands) fact("error bands", bandBasis(r.bands, r.runtime), { class: "bands" });
  card.append(memoryBar(r), dl);
  if (r.engine && r.engine.command) {
    const cmd = Array.isArray(r.engine.command) ? r.engine.command.join(" ") : String(r.engine.command);
    card.append(el("h3", { text: "Engine command" }), el("pre", { class: "command" }, el("code", { text: cmd })));
  }
  const rows = el("tbody");
  const line = (name, b, detail) => rows.append(el("tr", {}, el("th", { scope: "row", text: name }), el("td", { class: "num", text: bytes(b) }), el("td", { text: detail })));
  for (const w of r.memory.weights) line("weights: " + w.component, w.bytes, w.storage);
  line("kv cache", r.memory.kv_cache.bytes, r.memory.kv_cache.formula);
  for (const a of r.memory.activations) line("activations: " + a.name, a.bytes, a.formula);
  for (const o of r.memory.overhead) line("overhead: " + o.name, o.bytes, o.formula);
  const table = el("table", {}, el("caption", { text: "Memory breakdown" + (r.total_gpus > 1 ? " per GPU" : "") }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "component" }), el("th", { scope: "col", text: "size" }), el("th", { scope: "col", text: "detail" }))), rows);
  card.append(el("details", {}, el("summary", { text: "Memory breakdown" }), el("div", { class: "scroll" }, table)));
  if (r.notes.length) {
    const ul = el("ul", { class: "notes" });
    for (const n of r.notes) ul.append(el("li", { text: n }));
    card.append(ul);
  }
  return card;
}

// --- matrix ---
function list(id) {
  return $(id).value.split(",").map((s) => s.trim()).filter(Boolean);
}

async function runMatrix() {
  const out = $("#matrix-out");
  writeState("matrix", MATRIX_FIELDS);
  out.replaceChildren(el("p", { class: "help", text: "Estimating\u2026" }));
  try {
    const params = {
      models: list("#m-models"),
      gpu: list("#m-gpu"),
      precision: list("#m-precision"),
      context: list("#m-context"),
    };
    if ($("#m-runtime").value) params.runtime = $("#m-runtime").value;
    const m = await api("/api/matrix", params);
    out.replaceChildren(heatmap(m));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
  }
}

function heatmap(m) {
  const byKey = new Map();
  for (const c of m.cells) byKey.set(`${c.model}|${c.precision}|${c.context}|${c.gpu}`, c);
  const rows = [];
  for (const c of m.cells) {
    const k = `${c.model}|${c.precision}|${c.context}`;
    if (!rows.includes(k)) rows.push(k);
  }
  const fastest = Math.max(1, ...m.cells.map((c) => c.decode_tokens_per_s || 0));
  const head = el("tr", {}, el("th", { scope: "col", text: "model" }), el("th", { scope: "col", text: "precision" }), el("th", { scope: "col", text: "context" }));
  for (const g of m.gpus) head.append(el("th", { scope: "col", text: g }));
  const body = el("tbody");
  for (const k of rows) {
    const [model, precision, context] = k.split("|");
    const tr = el("tr", {}, el("th", { scope: "row", text: model }), el("td", { text: precision }), el("td", { class: "num", text: tokens(Number(context)) }));
    for (const g of m.gpus) {
      const c = byKey.get(`${k}|${g}`);
      if (!c) {
        tr.append(el("td", { class: "muted", text: "" }));
      } else if (c.fits) {
        // heat: decode speed on a log scale relative to the fastest cell
        const heat = Math.log1p(c.decode_tokens_per_s) / Math.log1p(fastest);
        tr.append(el("td", {
          class: "fit",
          style: `--heat:${heat.toFixed(3)}`,
          title: `${model} ${precision} on ${g}: fits, ${bytes(c.total_bytes)} of ${bytes(c.available_bytes)}`,
          text: `${c.max_context == null ? "-" : tokens(c.max_context)} / ${c.decode_tokens_per_s == null ? "-" : rate(c.decode_tokens_per_s)}`,
        }));
      } else {
        tr.append(el("td", {
          class: "nofit",
          title: `${model} ${precision} on ${g}: needs ${bytes(c.total_bytes)} of ${bytes(c.available_bytes)}`,
          text: c.max_context == null ? "-" : `- (max ${tokens(c.max_context)})`,
        }));
      }
    }
    body.append(tr);
  }
  const engines = m.bands.map((e) => `${e.engine}: memory ${range(e.memory)}, decode ${range(e.decode)}, ${bandBasis(e, e.engine)}`);
  const caption = `${m.runtime || "each format on its usual engine"}, batch ${m.batch}; error bands: ${engines.join("; ")}`;
  return el("table", { class: "heatmap" }, el("caption", { text: caption }), el("thead", {}, head), body);
}

// --- sizing report ---
async function runReport() {
  const status = $("#report-status");
  const frame = $("#report-frame");
  status.textContent = "Sizing\u2026";
  try {
    const html = await api("/api/report", $("#workload").value);
    frame.srcdoc = html;
    frame.hidden = false;
    status.replaceChildren("Report below. ");
    const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
    status.append(el("a", { href: url, download: "report.html", text: "Download it (report.html)" }));
    writeState("report", []);
  } catch (e) {
    frame.hidden = true;
    status.replaceChildren(el("span", { class: "error", role: "alert", text: e.message }));
  }
}

// --- start ---
async function init() {
  const [models, gpus, formats] = await Promise.all([api("/api/models"), api("/api/gpus"), api("/api/formats")]);
  const dl = $("#model-list");
  for (const m of models) {
    dl.append(el("option", { value: m.id, label: `${m.name}${m.hf_id ? " (" + m.hf_id + ")" : ""}` }));
    if (m.hf_id) dl.append(el("option", { value: m.hf_id, label: m.name }));
  }
  const sel = $("#gpu");
  for (const g of gpus) sel.append(el("option", { value: g.id, text: `${g.name} (${g.id})` }));
  const prec = $("#precision");
  for (const f of formats) prec.append(el("option", { value: f.id, text: f.id }));

  $("#fit-form").addEventListener("submit", (e) => { e.preventDefault(); runFit(); });
  $("#matrix-form").addEventListener("submit", (e) => { e.preventDefault(); runMatrix(); });
  $("#report-form").addEventListener("submit", (e) => { e.preventDefault(); runReport(); });
  for (const v of ["fit", "matrix", "report"]) {
    $("#tab-" + v).addEventListener("click", (e) => {
      e.preventDefault();
      showView(v);
      const q = readState();
      q.set("view", v);
      history.replaceState(null, "", "?" + q.toString());
      $("#view-" + v + " input, #view-" + v + " textarea").focus();
    });
  }

  const q = readState();
  const view = ["fit", "matrix", "report"].includes(q.get("view")) ? q.get("view") : "fit";
  showView(view);
  fillFrom(q, FIT_FIELDS);
  fillFrom(q, MATRIX_FIELDS);
  if (view === "fit" && q.has("model") && q.has("gpu")) runFit();
  if (view === "matrix" && q.has("m-models")) runMatrix();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  init().catch((e) => {
    $("#results").append(el("p", { class: "error", role: "alert", text: "Could not load the catalog: " + e.message }));
  });
});
