"""`GET /dashboard`: one self-contained page (no CDN, no build step) that asks for an API key
and draws each template's funnel (clicks on tracked links included) and the inbound weekday x hour heatmap from the analytics
routes. The key stays in the tab (sessionStorage) and goes only to this origin; data is put in
the page with textContent, never as HTML, since template names are the tenants' own text."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wa-notify dashboard</title>
<style>
  :root { --ink:#1d2433; --muted:#667085; --line:#e4e7ec; --sent:#94a3b8; --delivered:#3b82f6; --read:#16a34a; --failed:#dc2626; --replied:#9333ea; --clicked:#f59e0b; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #f8fafc; }
  header { background: #0f172a; color: #fff; padding: 14px 24px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0 16px 0 0; }
  header label { font-size: 12px; color: #cbd5e1; display: flex; flex-direction: column; gap: 2px; }
  header input { font: inherit; padding: 5px 8px; border-radius: 6px; border: 1px solid #334155; background: #1e293b; color: #fff; }
  header button { font: inherit; padding: 6px 16px; border-radius: 6px; border: 0; background: #22c55e; color: #052e16; font-weight: 600; cursor: pointer; align-self: end; }
  main { padding: 20px 24px; display: grid; gap: 20px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 20px; }
  h2 { font-size: 15px; margin: 0 0 12px; }
  #status { color: var(--muted); }
  #status.error { color: var(--failed); font-weight: 600; }
  .legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); margin-bottom: 10px; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
  .funnel { display: grid; grid-template-columns: 220px 1fr 340px; gap: 6px 14px; align-items: center; }
  .funnel .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .funnel .name small { color: var(--muted); font-weight: 400; }
  .bars { display: grid; gap: 2px; }
  .bar { height: 9px; border-radius: 3px; min-width: 2px; }
  .nums { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
  table.heat { border-collapse: separate; border-spacing: 2px; font-size: 11px; }
  table.heat th { color: var(--muted); font-weight: 500; padding: 0 2px; }
  table.heat td { width: 26px; height: 20px; border-radius: 3px; text-align: center; color: #0f172a; font-variant-numeric: tabular-nums; }
  .empty { color: var(--muted); font-style: italic; }
</style>
</head>
<body>
<header>
  <h1>wa-notify</h1>
  <label>API key <input id="key" type="password" autocomplete="off" size="34" placeholder="Bearer key of your platform"></label>
  <label>From <input id="from" type="date"></label>
  <label>To <input id="to" type="date"></label>
  <label>Time zone <input id="tz" type="text" size="16" placeholder="UTC"></label>
  <button id="load" type="button">Load</button>
  <span id="status" role="status">Enter your API key and press Load.</span>
</header>
<main>
  <section>
    <h2>Funnel per template</h2>
    <div class="legend"><span><i style="background:var(--sent)"></i>sent</span><span><i style="background:var(--delivered)"></i>delivered</span>
      <span><i style="background:var(--read)"></i>read</span><span><i style="background:var(--replied)"></i>replied</span>
      <span><i style="background:var(--clicked)"></i>clicked</span>
      <span><i style="background:var(--failed)"></i>failed</span></div>
    <div id="funnel" class="funnel"><span class="empty">No data loaded.</span></div>
  </section>
  <section>
    <h2>Inbound messages by weekday and hour <span id="heat-total" class="nums"></span></h2>
    <div id="heatmap"><span class="empty">No data loaded.</span></div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const c of children) node.append(c);
  return node;
};
const pct = (x) => (x === null || x === undefined) ? "-" : (100 * x).toFixed(1) + "%";
const duration = (s) => s === null ? "-" : s < 60 ? "< 1 min" : s < 5400 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";

$("key").value = sessionStorage.getItem("wa-notify-key") || "";
$("tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

async function get(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + $("key").value.trim() } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body.title || response.status) + (body.detail ? ": " + body.detail : ""));
  return body;
}

function drawFunnel(report) {
  const box = $("funnel");
  box.replaceChildren();
  if (!report.items.length) { box.append(el("span", { className: "empty", textContent: "No messages in this range." })); return; }
  const top = Math.max(1, ...report.items.map((r) => r.sent + r.failed));
  for (const row of report.items) {
    const bar = (n, color) => el("div", { className: "bar", title: n, style: `width:${(100 * n / top).toFixed(2)}%;background:var(--${color})` });
    box.append(
      el("div", { className: "name", title: row.template.name }, row.template.name + " ", el("small", { textContent: row.template.language })),
      el("div", { className: "bars" }, bar(row.sent, "sent"), bar(row.delivered, "delivered"), bar(row.read, "read"), bar(row.replied, "replied"), bar(row.clicked || 0, "clicked"), bar(row.failed, "failed")),
      el("div", { className: "nums", textContent:
        `${row.sent} sent · ${pct(row.delivery_rate)} delivered · ${pct(row.read_rate)} read · ${row.replied} replied · ` +
        `${row.clicked || 0} clicked (${pct(row.click_rate)}) · ` +
        `${row.failed} failed (${pct(row.failure_rate)}) · median read ${duration(row.median_time_to_read_seconds)}` }),
    );
  }
}

function drawHeatmap(activity) {
  const max = Math.max(1, ...activity.counts.flat());
  const head = el("tr", {}, el("th"));
  for (const h of activity.hours) head.append(el("th", { textContent: String(h).padStart(2, "0") }));
  const table = el("table", { className: "heat" }, head);
  activity.counts.forEach((row, d) => {
    const tr = el("tr", {}, el("th", { textContent: activity.weekdays[d] }));
    row.forEach((n, h) => {
      const alpha = n ? 0.15 + 0.85 * n / max : 0.04;
      tr.append(el("td", { textContent: n || "", title: `${activity.weekdays[d]} ${h}:00 ${n}`, style: `background:rgba(22,163,74,${alpha.toFixed(3)})` }));
    });
    table.append(tr);
  });
  $("heatmap").replaceChildren(table);
  $("heat-total").textContent = `(${activity.total} in ${activity.timezone})`;
}

async function load() {
  const status = $("status");
  status.className = "";
  status.textContent = "Loading...";
  sessionStorage.setItem("wa-notify-key", $("key").value.trim());
  const range = new URLSearchParams();
  if ($("from").value) range.set("from", $("from").value);
  if ($("to").value) range.set("to", $("to").value);
  const activityQuery = new URLSearchParams(range);
  if ($("tz").value.trim()) activityQuery.set("timezone", $("tz").value.trim());
  try {
    const [report, activity] = await Promise.all([get("/v1/analytics/templates?" + range), get("/v1/analytics/activity?" + activityQuery)]);
    drawFunnel(report);
    drawHeatmap(activity);
    status.textContent = `${report.from} to ${report.to}: ${report.items.length} templates`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.className = "error";
    status.textContent = error.message;
  }
}
$("load").addEventListener("click", load);
$("key").addEventListener("keydown", (e) => { if (e.key === "Enter") load(); });
</script>
</body>
</html>
"""


def _script_hash() -> str:
    import base64
    import hashlib

    script = PAGE.split("<script>", 1)[1].split("</script>", 1)[0]
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


# Only this page's own script runs (by hash), and it may only call this origin.
HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; script-src '{_script_hash()}'; style-src 'unsafe-inline'; connect-src 'self'; "
                               "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
