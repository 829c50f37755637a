#include "serve/status_page.h"

namespace medallion::serve {
namespace {

// The page as one raw string: HTML, CSS and a small script, nothing fetched but /status.
constexpr std::string_view kPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>medallion status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; background: #fff; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th { background: #f0f0f0; } td.l, th.l, #alerts td:nth-child(2), #alerts td:last-child { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 1.5em; } .card { background: #fff; border: 1px solid #ddd; padding: .6em 1em; }
.firing { color: #fff; background: #c0392b; } .ok { color: #1e7b34; } .muted { color: #888; }
svg { background: #fff; border: 1px solid #ddd; } .legend span { margin-right: 1em; }
</style>
</head>
<body>
<h1>medallion <span id="ready" class="muted">…</span></h1>
<div class="muted">updated <span id="updated">never</span> · <span id="error"></span></div>
<div class="grid">
 <div class="card"><h2>Reads</h2>
  <div>brokers <b id="brokers"></b></div><div>topic <b id="topic"></b></div>
  <div>partitions <b id="partitions"></b></div><div>group <b id="group"></b></div></div>
 <div class="card"><h2>Writes</h2>
  <div>data <b id="data_dir"></b></div><div>checkpoint <b id="checkpoint_dir"></b></div>
  <div>query <b id="query_id"></b></div></div>
 <div class="card"><h2>Progress</h2>
  <div>batches <b id="batches"></b>, last <b id="last_batch"></b></div>
  <div>records <b id="records"></b>, quarantined <b id="quarantined"></b>, late lines <b id="late_lines"></b></div>
  <div>lag <b id="lag"></b> records</div><div>watermark <b id="watermark"></b></div>
  <div>state <b id="state"></b></div></div>
</div>
<h2>Alerts</h2><table id="alerts"></table>
<h2>Lag per partition</h2><table id="partitions_lag"></table>
<h2>Quarantine rate by reason (per batch)</h2><div id="q_chart"></div>
<h2>Late rate by reason (per batch)</h2><div id="l_chart"></div>
<h2>Lag (records, per batch)</h2><div id="lag_chart"></div>
<h2>Recent batches</h2><table id="recent"></table>
<h2>Tables</h2><table id="tables"></table>
<div id="compaction" class="muted"></div>
<script>
"use strict";
const COLORS = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#f39c12",
                "#2c3e50", "#e84393", "#6c5ce7", "#00b894", "#b8860b"];
const $ = (id) => document.getElementById(id);
const text = (id, v) => { $(id).textContent = v; };
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const time = (us) => us === null ? "none" : new Date(us / 1000).toISOString();
const num = (v) => v === null ? "unknown" : String(v);
function rows(id, head, body) {
  $(id).innerHTML = "<tr>" + head.map((h, i) => `<th class="${i ? "" : "l"}">${esc(h)}</th>`).join("") + "</tr>" +
    body.map((r) => "<tr>" + r.map((c, i) => `<td class="${i ? "" : "l"}">${c}</td>`).join("") + "</tr>").join("");
}
// Series: name -> [values per batch]; drawn as polylines on a 0..max scale.
function chart(id, series, fmt) {
  const w = 640, h = 120, pad = 4, names = Object.keys(series);
  let max = 0, n = 0;
  for (const k of names) { n = Math.max(n, series[k].length); for (const v of series[k]) max = Math.max(max, v); }
  if (max === 0) max = 1;
  let svg = `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`;
  names.forEach((k, i) => {
    const pts = series[k].map((v, j) => `${pad + (n > 1 ? j * (w - 2 * pad) / (n - 1) : 0)},${h - pad - v / max * (h - 2 * pad)}`);
    svg += `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${pts.join(" ")}"/>`;
  });
  svg += `<text x="${w - 4}" y="14" text-anchor="end" font-size="11">max ${fmt(max)}</text></svg>`;
  const legend = names.length ? names.map((k, i) => `<span style="color:${COLORS[i % COLORS.length]}">■ ${esc(k)}</span>`).join("")
                              : '<span class="muted">none</span>';
  $(id).innerHTML = svg + `<div class="legend">${legend}</div>`;
}
function rates(batches, key, denom) {
  const out = {};
  batches.forEach((b, j) => {
    for (const r of Object.keys(b[key])) { if (!out[r]) out[r] = new Array(batches.length).fill(0); }
  });
  batches.forEach((b, j) => {
    const d = denom(b);
    for (const r of Object.keys(out)) out[r][j] = d > 0 ? (b[key][r] || 0) / d : 0;
  });
  return out;
}
function render(s) {
  text("brokers", s.source.brokers); text("topic", s.source.topic); text("group", s.source.group_id);
  text("partitions", s.source.partitions.join(", ") || "not known yet");
  text("data_dir", s.sink.data_dir); text("checkpoint_dir", s.sink.checkpoint_dir); text("query_id", s.sink.query_id);
  const last = s.batches.length ? s.batches[s.batches.length - 1] : null;
  text("batches", s.totals.batches); text("last_batch", last ? `#${last.batch_id} at ${time(last.committed_at_us)}` : "none");
  text("records", s.totals.records); text("quarantined", s.totals.quarantined); text("late_lines", s.totals.late_lines);
  text("lag", num(s.lag)); text("watermark", time(s.state.watermark_us));
  text("state", `${s.state.state_bytes} bytes, ${s.state.dedup_ids} dedup ids, ${s.state.open_window_groups} open window groups`);
  $("ready").textContent = s.ready ? "ready" : "not ready"; $("ready").className = s.ready ? "ok" : "firing";
  text("updated", time(s.published_at_us));
  rows("alerts", ["alert", "reason", "state", "value", "threshold", "since", "what"],
       s.alerts.map((a) => [esc(a.alert), esc(a.reason), a.firing ? '<span class="firing">FIRING</span>' : '<span class="ok">ok</span>',
                            a.value === null ? "" : a.value.toPrecision(4), a.threshold, time(a.since_us), esc(a.description)]));
  if (!s.alerts.length) $("alerts").innerHTML = '<tr><td class="l muted">no alert rules configured ([alerts])</td></tr>';
  rows("partitions_lag", ["partition", "lag"], Object.keys(s.lag_by_partition).map((p) => [p, num(s.lag_by_partition[p])]));
  const pct = (v) => (100 * v).toFixed(1) + "%";
  chart("q_chart", rates(s.batches, "quarantined_by_reason", (b) => b.records), pct);
  chart("l_chart", rates(s.batches, "late_by_reason", (b) => b.silver_lines + b.late_lines), pct);
  chart("lag_chart", {lag: s.batches.map((b) => b.lag || 0)}, String);
  rows("recent", ["batch", "committed", "records", "quarantined", "late lines", "lag", "seconds"],
       s.batches.slice(-15).reverse().map((b) => [b.batch_id + (b.replayed ? " (replayed)" : ""), time(b.committed_at_us),
                                                  b.records, b.quarantined, b.late_lines, num(b.lag), b.seconds.toFixed(3)]));
  rows("tables", ["table", "files", "bytes"], Object.keys(s.tables).map((t) => [esc(t), s.tables[t].files, s.tables[t].bytes]));
  const c = s.compaction;
  text("compaction", c ? `compaction: ${c.merges} merges (${c.files_in} files into ${c.files_out}, ${c.files_joined} ` +
                         `of these by joining row groups), ${c.conflicts} abandoned, ${c.errors} failed, ` +
                         `${c.cpu_seconds.toFixed(1)} CPU-s`
                       : "compaction: none in this process");
}
async function poll() {
  try {
    const r = await fetch("/status", {cache: "no-store"});
    render(await r.json());
    text("error", "");
  } catch (e) {
    text("error", "cannot reach the engine: " + e);
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)PAGE";

}  // namespace

std::string_view StatusPageHtml() { return kPage; }

}  // namespace medallion::serve
