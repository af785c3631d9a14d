"use strict";
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const ORDER = ["fail", "error", "warn", "unknown", "unreachable", "auth-failed", "host-key-unknown",
                 "host-key-changed", "timeout", "pass", "skip"];
  const MAX_PROOF_HOSTS = 200;
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };
  const fmt = (n) => (n === null || n === undefined) ? "?" : Math.round(n).toLocaleString("en-US");
  const rank = (s) => { const i = ORDER.indexOf(s); return i < 0 ? ORDER.length : i; };

  // ---------------------------------------------------------------- header counts
  const counts = document.getElementById("counts");
  counts.append(el("span", {text: `${D.hosts} host(s), envdoctor ${D.envdoctor}: `}));
  for (const s of Object.keys(D.counts).sort((a, b) => rank(a) - rank(b))) {
    counts.append(el("span", {class: `badge ${s}`, text: `${D.counts[s]} ${s}`}));
  }

  const legend = el("div", {class: "legend"}, el("span", {text: "cells: "}));
  for (const s of ["pass", "warn", "fail", "unknown", "error", "skip"]) legend.append(el("span", {class: `badge ${s}`, text: s}));
  counts.append(legend);

  // ---------------------------------------------------------------- heat map
  const state = {status: "all", name: ""};
  const filters = document.getElementById("status-filters");
  const statuses = ["all"].concat(Object.keys(D.counts).sort((a, b) => rank(a) - rank(b)));
  for (const s of statuses) {
    const b = el("button", {type: "button", "data-status": s, text: s === "all" ? "all" : `${s} (${D.counts[s]})`});
    if (s === "all") b.classList.add("on");
    b.addEventListener("click", () => {
      state.status = s;
      for (const x of filters.children) x.classList.toggle("on", x === b);
      drawRows();
    });
    filters.append(b);
  }
  document.getElementById("name-filter").addEventListener("input", (ev) => {
    state.name = ev.target.value.trim().toLowerCase();
    drawRows();
  });

  const table = document.getElementById("heatmap");
  const head = el("tr", {}, el("th", {text: "hosts"}));
  for (const c of D.columns) head.append(el("th", {class: "col", title: c.title}, el("div", {text: c.id})));
  head.append(el("th", {}));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  table.append(body);

  const groups = D.groups.slice().sort((a, b) => rank(a.status) - rank(b.status) || b.hosts.length - a.hosts.length
                                                 || a.hosts[0].localeCompare(b.hosts[0]));
  function hostLabel(g) {  // the hosts folded: gpu[04,09-10], cpu01
    const shown = g.folded.slice(0, 3).join(", ");
    return g.folded.length > 3 ? `${shown}, …` : shown;
  }
  function matches(g) {
    if (state.status !== "all" && g.status !== state.status) return false;
    return !state.name || g.hosts.some((h) => h.toLowerCase().includes(state.name));
  }
  let selected = null;
  function drawRows() {
    body.replaceChildren();
    let nGroups = 0, nHosts = 0;
    for (const g of groups) {
      if (!matches(g)) continue;
      nGroups += 1; nHosts += g.hosts.length;
      const hostCell = el("td", {class: "host", title: g.hosts.join("\n")},
                          el("span", {class: `badge ${g.status}`, text: g.status}), hostLabel(g),
                          g.hosts.length > 1 ? el("span", {class: "n", text: `×${g.hosts.length}`}) : null);
      hostCell.addEventListener("click", () => { showDoctor(g); document.getElementById("doctor-section").scrollIntoView(); });
      const tr = el("tr", {"data-status": g.status}, hostCell);
      D.columns.forEach((c, i) => {
        const cell = g.cells[i];
        if (!cell) { tr.append(el("td", {class: "cell none", title: `${c.id}: not run on these hosts`})); return; }
        const [st, si, di] = cell;
        const td = el("td", {class: `cell ${st}`, title: `${c.id} (${st}): ${D.strings[si]}`,
                             "data-check": c.id, "data-status": st});
        td.addEventListener("click", () => showDetail(td, g, c, st, D.strings[si], di >= 0 ? D.strings[di] : null));
        tr.append(td);
      });
      tr.append(el("td", {class: "why", text: g.error || ""}));
      body.append(tr);
    }
    document.getElementById("shown").textContent = `${nHosts} host(s) in ${nGroups} row(s)`;
  }
  function showDetail(td, g, c, st, summary, det) {
    if (selected) selected.classList.remove("sel");
    selected = td; td.classList.add("sel");
    const box = document.getElementById("detail");
    box.hidden = false;
    box.style.borderLeftColor = getComputedStyle(td).backgroundColor;
    box.replaceChildren(el("h3", {text: `${c.title} (${c.id}): ${st}`}), el("p", {text: summary}),
                        el("p", {class: "muted", text: `${g.hosts.length} host(s): ${g.folded.join(", ")}`}));
    if (!det) { box.append(el("p", {class: "muted", text: "no further evidence recorded"})); return; }
    appendDetail(box, det);
  }
  function appendDetail(box, det) {  // evidence, cause and fix, as the text report lists them
    if (det.evidence && det.evidence.length) {
      box.append(el("strong", {text: "Evidence"}), el("ul", {}, ...det.evidence.map((e) => el("li", {}, el("code", {text: e})))));
    }
    if (det.details && det.details.length) {  // the text report shows these under -v
      box.append(el("details", {class: "check-details"}, el("summary", {text: `Details (${det.details.length})`}),
                    el("ul", {}, ...det.details.map((d) => el("li", {}, el("code", {text: d}))))));
    }
    if (det.cause) box.append(el("p", {}, el("strong", {text: "Cause: "}), det.cause));
    if (det.fix) box.append(el("p", {}, el("strong", {text: "Fix: "}), det.fix));
    for (const cmd of det.commands || []) box.append(el("pre", {text: `$ ${cmd}`}));
    if (det.playbook) box.append(el("p", {text: `playbook: ${det.playbook} (envdoctor fix applies it)`}));
    else if (det.manual) box.append(el("p", {class: "muted", text: "manual: envdoctor will not apply this for you"}));
  }

  // ---------------------------------------------------------------- the doctor's report of one row
  // In the text report's order: host line, root cause, verdict, counts; the problems with evidence and fix;
  // one folded line for what passed, was not applicable or had no evidence (opened, it lists them).
  const SEVERITY = ["fail", "error", "warn", "unknown"];
  function showDoctor(g) {
    const doc = D.strings[g.doctor];
    const box = document.getElementById("doctor");
    document.getElementById("doctor-section").hidden = false;
    const host = g.hosts.length > 1 ? `${g.folded.join(", ")} (${g.hosts.length} hosts, the same report)` : g.hosts[0];
    box.replaceChildren(el("h2", {id: "doctor-host"}, el("span", {class: `badge ${g.status}`, text: g.status}), host));
    if (g.error) { box.append(el("p", {class: "why", text: g.error})); return; }
    if (doc.root_cause) box.append(el("p", {class: "root-cause"}, el("strong", {text: "Root cause: "}), doc.root_cause));
    if (doc.verdict) box.append(el("p", {class: "verdict"}, el("strong", {text: "Verdict: "}), doc.verdict));
    box.append(el("p", {class: "counts"}, el("strong", {text: "Summary: "}), doc.summary));
    if (doc.read) box.append(el("p", {class: "muted", text: `Read: ${doc.read.join(", ")}`}));
    for (const n of doc.notes || []) box.append(el("p", {class: "muted", text: `Note: ${n}`}));
    const isProblem = (st) => SEVERITY.includes(st) && !(doc.paste && st === "unknown");
    const cells = D.columns.map((c, i) => [c, g.cells[i]]).filter(([, cell]) => cell);
    const order = ([c, cell]) => (c.id === "root_cause" ? -1 : SEVERITY.indexOf(cell[0]));
    const problems = cells.filter(([, cell]) => isProblem(cell[0])).sort((a, b) => order(a) - order(b));
    const list = el("div", {class: "problems"});
    for (const [c, [st, si, di]] of problems) {
      const item = el("div", {class: `problem ${st}-edge`, "data-check": c.id, "data-status": st},
                      el("h3", {}, el("span", {class: `badge ${st}`, text: st}), `${c.title}: ${D.strings[si]}`,
                         el("span", {class: "muted", text: ` (${c.id})`})));
      if (di >= 0) appendDetail(item, D.strings[di]);
      list.append(item);
    }
    box.append(list);
    const rest = cells.filter(([, cell]) => !isProblem(cell[0]));
    if (rest.length) {
      const n = (st) => rest.filter(([, cell]) => cell[0] === st).length;
      const parts = [[n("pass"), "passed"], [n("skip"), "not applicable"],
                     [n("unknown"), doc.paste ? "with no evidence in the paste" : "unknown"]]
        .filter(([k]) => k).map(([k, what]) => `${k} ${what}`);
      const folded = el("details", {class: "folded"}, el("summary", {text: parts.join(", ")}));
      folded.append(el("ul", {}, ...rest.map(([c, [st, si]]) => el("li", {"data-check": c.id},
        el("span", {class: `badge ${st}`, text: st}), `${c.title}: ${D.strings[si]} (${c.id})`))));
      box.append(folded);
    }
  }
  drawRows();
  if (D.groups.length === 1 && D.hosts === 1) {
    // one host: its doctor's report, not a strip of cells; no drift to measure
    showDoctor(D.groups[0]);
    document.getElementById("heatmap-section").hidden = true;
    document.getElementById("drift-section").hidden = true;
    legend.hidden = true;  // it explains the heat map's cells
    document.querySelector("header h1").textContent = `envdoctor report: ${D.groups[0].hosts[0]}`;
    document.title = `envdoctor report: ${D.groups[0].hosts[0]}`;
  }

  // ---------------------------------------------------------------- proof
  const proof = document.getElementById("proof");
  if (!D.proof.length) {
    proof.append(el("p", {class: "muted", text: "no proof-run in this report"}));
  }
  const colour = (st) => getComputedStyle(document.documentElement).getPropertyValue(`--${st || "unknown"}`).trim() || "#78909c";
  const scale = Math.max(1, ...D.proof.flatMap((p) => p.gpus.map((g) => Math.max(g.img_s || 0, g.baseline || 0))));
  for (const p of D.proof.slice(0, MAX_PROOF_HOSTS)) {
    const rows = el("div");
    for (const g of p.gpus) {
      const bar = el("div", {class: "bar", title: `GPU ${g.index} ${g.name || ""}: ${fmt(g.img_s)} img/s` +
                             (g.baseline ? `; published ${fmt(g.baseline)} img/s (${g.baseline_gpu})` : "; no published figure")});
      bar.append(el("div", {class: "fill", style: `width:${100 * (g.img_s || 0) / scale}%;background:${colour(g.status)}`}));
      if (g.baseline) bar.append(el("div", {class: "base", style: `left:${100 * g.baseline / scale}%`}));
      bar.append(el("span", {class: "label", text: `GPU ${g.index} ${g.name || ""}: ${fmt(g.img_s)} img/s` +
                             (g.ratio ? ` = ${g.ratio.toFixed(2)}× published ${fmt(g.baseline)}` : "")}));
      rows.append(el("div", {class: "gpu-row"}, bar, sparkline(g.util, g.index)));
    }
    const label = el("div", {class: "name"}, el("span", {class: `badge ${p.status}`, text: p.status}), p.host,
                     p.constructed ? el("div", {class: "muted", text: "constructed example"}) : null);
    proof.append(el("div", {class: "proof-host", title: p.summary || ""}, label, rows));
  }
  if (D.proof.length > MAX_PROOF_HOSTS) {
    proof.append(el("p", {class: "muted", text: `${D.proof.length - MAX_PROOF_HOSTS} more host(s) with a proof-run not drawn`}));
  }
  if (D.proof.length) {
    proof.append(el("p", {class: "muted", text: "Bar: measured img/s; black line: the published figure for that GPU; right: GPU utilisation (%) over the run."}));
  }
  function sparkline(pts, index) {
    const NS = "http://www.w3.org/2000/svg", W = 260, H = 36;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "util"); svg.setAttribute("width", W); svg.setAttribute("height", H);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const title = document.createElementNS(NS, "title");
    if (!pts || pts.length < 2) {
      title.textContent = `GPU ${index}: utilisation not sampled`;
      svg.append(title);
      return svg;
    }
    const t1 = pts[pts.length - 1][0] || 1;
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", pts.map(([t, u]) => `${(W * t / t1).toFixed(1)},${(H - 2 - (H - 4) * u / 100).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "#1565c0"); line.setAttribute("stroke-width", "1.5");
    const us = pts.map((p) => p[1]);
    title.textContent = `GPU ${index}: utilisation ${Math.min(...us)}–${Math.max(...us)}% over ${t1.toFixed(0)} s`;
    svg.append(title, line);
    return svg;
  }

  // ---------------------------------------------------------------- node acceptance
  if (D.accept.length) {
    document.getElementById("accept-section").hidden = false;
    if (!D.proof.length) document.getElementById("proof-section").hidden = true;
    const box = document.getElementById("accept");
    const metrics = [...new Set(D.accept.flatMap((a) => a.figures.map((f) => f.metric)))];
    for (const m of metrics) {
      const figs = D.accept.flatMap((a) => a.figures.filter((f) => f.metric === m).map((f) => ({...f, host: a.host})));
      const scale = Math.max(1e-9, ...figs.map((f) => Math.max(f.value || 0, f.fail_below || 0, f.warn_below || 0,
                                                                 f.fleet_median || 0)));
      const rows = el("div");
      for (const f of figs) {
        const where = `${f.host} ${f.gpu_index === null || f.gpu_index === undefined ? "node" : "GPU " + f.gpu_index}`;
        const text = `${where}: ${f.value === null || f.value === undefined ? "not measured" : fmt(f.value) + " " + f.unit}` +
                     (f.fail_below ? `; bar ${fmt(f.fail_below)}` : "; no bar") +
                     (f.fleet_median ? `; fleet median ${fmt(f.fleet_median)}` : "");
        const bar = el("div", {class: "bar", title: f.summary});
        bar.append(el("div", {class: "fill", style: `width:${100 * (f.value || 0) / scale}%;background:${colour(f.status)}`}));
        if (f.fail_below) bar.append(el("div", {class: "base", style: `left:${100 * f.fail_below / scale}%`}));
        if (f.fleet_median) bar.append(el("div", {class: "median", style: `left:${100 * f.fleet_median / scale}%`}));
        bar.append(el("span", {class: "label", text}));
        rows.append(el("div", {class: "gpu-row accept-row"}, el("span", {class: `badge ${f.status}`, text: f.status}), bar));
      }
      box.append(el("h3", {text: `${figs[0].title} (${figs[0].unit})`}), rows);
    }
    box.append(el("p", {class: "muted", text: "Bar: the measured figure; black line: the published bar (below it fails); dashed line: the fleet median of that SKU. Hover a bar for its judgement."}));
    if (D.grey.length) {
      box.append(el("h3", {text: "Grey failures: more than 10 % below the fleet median"}),
                 el("ul", {}, ...D.grey.map((g) => el("li", {text: g.summary}))));
    }
  }

  // ---------------------------------------------------------------- drift
  const drift = document.getElementById("drift");
  if (D.multi_node) {
    drift.append(el("p", {}, el("span", {class: `badge ${D.multi_node.status}`, text: D.multi_node.status}),
                    `multi-node job: ${D.multi_node.summary}`));
  }
  if (!D.baseline) {
    drift.append(el("p", {class: "muted", text: "one host: no drift to measure"}));
  } else if (!D.drift.length) {
    drift.append(el("p", {text: "none: every evaluated host agrees"}));
  } else {
    const against = D.baseline.kind === "golden" ? `golden host ${D.baseline.host}` : "the majority";
    drift.append(el("p", {class: "muted", text: `facts on which hosts differ from ${against}`}));
    const t = el("table", {class: "drift"}, el("tr", {}, el("th", {text: "fact"}), el("th", {text: "expected"}),
                                                  el("th", {text: "hosts that differ"})));
    for (const d of D.drift) {
      const cell = el("td");
      for (const [v, hs, n] of d.values) {  // the hosts with one value, folded: gpu[03-04]
        const shown = hs.length > 8 ? hs.slice(0, 8).join(", ") + ` … (${n})` : hs.join(", ");
        cell.append(el("div", {}, el("code", {text: v === null ? "unknown" : v}), `: ${shown}`));
      }
      t.append(el("tr", {}, el("td", {text: d.fact}), el("td", {text: d.expected === null ? "unknown" : d.expected}), cell));
    }
    drift.append(t);
  }
})();
