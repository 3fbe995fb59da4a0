// curate report: draws the sections from the JSON block #report-data. Run data (model output)
// only ever reaches the page through textContent, never as HTML.
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const RUNS = DATA.runs;
  const COMPARE = DATA.mode === "compare";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  const content = (id) => document.querySelector("#" + id + " .content");
  const fmt = (v, digits) => {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return v.toLocaleString("en-US");
      return v.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 3 : digits });
    }
    return String(v);
  };
  const seconds = (s) => (s === null || s === undefined) ? "–" : s < 120 ? fmt(s, 2) + " s" : fmt(s / 60, 1) + " min";

  function table(head, rows, numeric) {
    const isNum = (i) => numeric && numeric.includes(i);
    return el("table", {}, [
      el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { class: isNum(i) ? "num" : "", text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) =>
        c instanceof HTMLTableCellElement ? c : c instanceof Node ? el("td", {}, c) : el("td", { class: isNum(i) ? "num" : "", text: fmt(c) }))))),
    ]);
  }

  function plot(container, fig, wide) {
    const div = el("div", { class: "fig" });
    container.appendChild(div);
    Plotly.newPlot(div, fig.data, fig.layout, { displaylogo: false, responsive: true });
    return div;
  }
  function figs(parent, list, wide) {
    const box = el("div", { class: wide ? "figs wide" : "figs" });
    parent.appendChild(box);
    list.forEach((f) => plot(box, f));
    return box;
  }

  // --- status line ------------------------------------------------------------------------------
  function status() {
    const box = document.getElementById("status");
    RUNS.forEach((run) => {
      const p = run.provenance;
      const line = el("div", {}, [
        COMPARE ? el("b", { text: run.label + ": " }) : null,
        run.complete ? el("span", { class: "good", text: "complete" })
          : el("span", { class: "bad", text: p.finished ? "stopped early" : "not finished (running, or killed)" }),
        " · " + p.finished_stages.length + " of " + run.stages.length + " stages · " + seconds(p.seconds) +
        " · started " + (p.started || "?") + " · " + run.path,
      ]);
      box.appendChild(line);
    });
  }

  // --- provenance -------------------------------------------------------------------------------
  function provenance() {
    const c = content("provenance");
    if (COMPARE) {
      const keys = [["recipe", (r) => r.provenance.recipe_name], ["run directory", (r) => r.path],
        ["complete", (r) => r.complete ? "yes" : "no (stopped early)"], ["started", (r) => r.provenance.started],
        ["took", (r) => seconds(r.provenance.seconds)],
        ["engines", (r) => r.provenance.engines.map((e) => e.name + ": " + e.use + (e.model ? " " + e.model : "")).join("; ") || "none"],
        ["packages", (r) => r.provenance.packages.map((p) => p[0] + " " + p[1]).join(", ")]];
      c.appendChild(table(["", ...RUNS.map((r) => r.label)], keys.map(([k, f]) => [k, ...RUNS.map(f)])));
    }
    RUNS.forEach((run) => {
      const p = run.provenance;
      const box = COMPARE ? el("details", {}, el("summary", { text: run.label + ": recipe and details" })) : c;
      if (COMPARE) c.appendChild(box);
      if (!COMPARE) {
        const left = el("div", {}, table(["", ""], [
          ["recipe", p.recipe_name], ["description", p.description || ""], ["recipe file", p.recipe_file || "–"],
          ["run directory", run.path], ["started", p.started], ["finished", p.finished || "–"],
          ["took", seconds(p.seconds)], ["complete", run.complete ? "yes" : "no: the run stopped early"],
        ]));
        const right = el("div", {}, [el("h3", { text: "Engines" }),
          p.engines.length ? table(["name", "engine", "model", "package"],
            p.engines.map((e) => [e.name, e.use, e.model || "", (e.package || "") + " " + (e.version || "")]))
            : el("p", { class: "muted", text: "no engines (no model was called)" }),
          el("h3", { text: "Versions" }), table(["package", "version"], p.packages)]);
        box.appendChild(el("div", { class: "cols" }, [left, right]));
      }
      if (!run.complete) {
        box.appendChild(el("div", { class: "warn" }, [
          el("b", { text: p.finished ? "The run stopped early. " : "The run has not finished: it is still running, or was killed. " }),
          "Finished: " + (p.finished_stages.join(", ") || "none") + ". Not run: " + (p.not_run.join(", ") || "none") +
          ". Run the same command again to resume."]));
      }
      run.warnings.forEach((w) => box.appendChild(el("div", { class: "warn", text: w })));
      box.appendChild(el("details", {}, [el("summary", { text: "recipe (as it ran, --set overrides applied)" }),
        el("pre", { text: p.recipe_yaml })]));
    });
  }

  // --- funnel -----------------------------------------------------------------------------------
  function funnel() {
    const c = content("funnel");
    figs(c, DATA.figures.funnel, true);
    RUNS.forEach((run) => {
      if (COMPARE) c.appendChild(el("h3", { text: run.label }));
      c.appendChild(table(["stage", "component", "status", "rows in", "rows out", "removed", "removed by reason"],
        run.stages.map((s) => [s.id, s.use, s.status, s.rows_in, s.rows_out, s.rows_removed,
          s.reasons.slice(0, 4).map((r) => r[0] + " (" + fmt(r[1]) + ")").join("; ") +
          (s.reasons.length > 4 ? "; +" + (s.reasons.length - 4) + " more" : "")]), [3, 4, 5]));
    });
  }

  // --- timing, requests, tokens -----------------------------------------------------------------
  function timing() {
    const c = content("timing");
    figs(c, DATA.figures.timing, true);
    const usageKeys = ["requests_sent", "requests_cached", "requests_failed", "requests_reasked", "prompt_tokens",
      "completion_tokens", "completion_tokens_per_s", "cost_usd"];
    RUNS.forEach((run) => {
      const prefix = COMPARE ? run.label + ": " : "";
      c.appendChild(el("h3", { text: prefix + "Engine usage" }));
      if (run.usage.length) {
        const keys = usageKeys.filter((k) => run.usage.some((u) => u[k] !== undefined && u[k] !== null));
        const extra = [...new Set(run.usage.flatMap((u) => Object.keys(u)))]
          .filter((k) => k !== "engine" && !usageKeys.includes(k));
        const all = keys.concat(extra);
        c.appendChild(table(["engine", ...all.map((k) => k.replace(/_/g, " "))],
          run.usage.map((u) => [u.engine, ...all.map((k) => u[k])]), all.map((_, i) => i + 1)));
      } else {
        c.appendChild(el("p", { class: "muted", text: "no engine requests in this run" }));
      }
      const perStage = run.stages.filter((s) => Object.keys(s.counters).length || Object.keys(s.metrics).length);
      if (perStage.length) {
        c.appendChild(el("h3", { text: prefix + "Counters and figures per stage" }));
        c.appendChild(table(["stage", "seconds", "counters", "figures (diversity, consistency, ...)"],
          perStage.map((s) => [s.id, fmt(s.seconds, 2),
            Object.entries(s.counters).map(([k, v]) => k + "=" + fmt(v)).join(", "),
            Object.entries(s.metrics).map(([k, v]) => k + "=" + fmt(v, 4)).join(", ")])));
      }
    });
  }

  // --- distributions ----------------------------------------------------------------------------
  function distributions() {
    const c = content("distributions");
    const list = DATA.figures.distributions;
    if (!list.length) {
      c.appendChild(el("p", { class: "muted", text: "no score, pass, length, cluster or category columns found" }));
    }
    const groups = [...new Set(list.map((f) => f.group))];
    groups.forEach((g) => {
      c.appendChild(el("h3", { text: g }));
      figs(c, list.filter((f) => f.group === g));
    });
    const stats = [];
    RUNS.forEach((run) => run.distributions.filter((d) => d.kind === "histogram").forEach((d) =>
      stats.push([...(COMPARE ? [run.label] : []), d.stage, d.column, d.stats.count, d.stats.nulls, d.stats.mean,
        d.stats.min, d.stats.p25, d.stats.median, d.stats.p75, d.stats.max])));
    if (stats.length) {
      c.appendChild(el("h3", { text: "Summary" }));
      const head = [...(COMPARE ? ["run"] : []), "stage", "column", "count", "missing", "mean", "min", "p25",
        "median", "p75", "max"];
      const off = COMPARE ? 1 : 0;
      c.appendChild(table(head, stats, [3, 4, 5, 6, 7, 8, 9, 10].map((i) => i + off)));
    }
    RUNS.forEach((run) => run.distributions.filter((d) => d.kind === "error").forEach((d) =>
      c.appendChild(el("div", { class: "warn", text: d.stage + ": " + d.column + ": " + d.error }))));
  }

  // --- changes between runs ---------------------------------------------------------------------
  function changes() {
    const c = content("changes");
    if (!c) return;
    if (!DATA.changes.length) {
      c.appendChild(el("p", { class: "muted", text: "no comparable figures" }));
      return;
    }
    const rows = DATA.changes.map((ch) => {
      const delta = el("td", { class: "num" + (ch.delta > 0 ? " up" : ch.delta < 0 ? " down" : ""),
        text: ch.delta === null ? "–" : (ch.delta > 0 ? "+" : "") + fmt(ch.delta, 4) });
      return [ch.kind, ch.stage, ch.name, ...ch.values.map((v) => fmt(v, 4)), delta];
    });
    const t = table(["figure", "stage", "name", ...RUNS.map((r) => r.label), "Δ last − first"], rows,
      RUNS.map((_, i) => i + 3));
    c.appendChild(t);
  }

  // --- row browser ------------------------------------------------------------------------------
  function turnsOf(value, role) {
    if (Array.isArray(value) && value.every((m) => m && typeof m === "object" && "content" in m)) return value;
    if (value === null || value === undefined) return [];
    return [{ role: role, content: typeof value === "string" ? value : JSON.stringify(value) }];
  }
  function chat(turns) {
    return turns.map((t) => el("div", { class: "turn " + String(t.role || "") }, [
      el("span", { class: "role", text: t.role || "?" }), String(t.content === null ? "" : t.content)]));
  }
  // columns worth seeing at a glance: rewards, judge scores, verdicts
  const SCORE_KEY = /^(reward|rating|judge|score)$|^(reward|judge)_|_(correct|passed|score)$|^if_all_/;
  const SHOWN = ["messages", "prompt", "response", "chosen", "rejected", "reason"];
  function card(row, kind) {
    const box = el("div", { class: "row " + kind });
    const scores = Object.keys(row).filter((k) => SCORE_KEY.test(k) && row[k] !== null &&
      (typeof row[k] === "number" || typeof row[k] === "boolean")).slice(0, 6);
    box.appendChild(el("div", { class: "row-head" }, [
      String(row.id !== undefined ? row.id : ""), kind === "removed" && row.reason !== undefined
        ? el("span", { class: "reason", text: String(row.reason) }) : null,
      ...scores.map((k) => el("span", { class: "score", text: k + " " + fmt(row[k], 3) }))]));
    const prompt = row.messages !== undefined ? turnsOf(row.messages, "user") : turnsOf(row.prompt, "user");
    if ("chosen" in row && "rejected" in row) {
      box.append(...chat(prompt));
      const sc = row.score_chosen, sr = row.score_rejected;
      const gap = row.score_gap !== undefined && row.score_gap !== null ? row.score_gap
        : (typeof sc === "number" && typeof sr === "number" ? sc - sr : null);
      if (gap !== null) box.appendChild(el("div", { class: "gap", text: "score gap (chosen − rejected): " + fmt(gap, 4) }));
      box.appendChild(el("div", { class: "pair" }, [
        el("div", { class: "chosen" }, [el("h4", { text: "chosen" + (sc !== undefined && sc !== null ? " · " + fmt(sc, 4) : "") }),
          ...chat(turnsOf(row.chosen, "assistant"))]),
        el("div", { class: "rejected" }, [el("h4", { text: "rejected" + (sr !== undefined && sr !== null ? " · " + fmt(sr, 4) : "") }),
          ...chat(turnsOf(row.rejected, "assistant"))])]));
    } else {
      box.append(...chat(prompt.concat(turnsOf(row.response, "assistant"))));
    }
    const rest = Object.keys(row).filter((k) => !SHOWN.includes(k) && k !== "id");
    if (rest.length) {
      const fields = el("table", { class: "fields" }, rest.map((k) => el("tr", {}, [el("td", { text: k }),
        el("td", { text: typeof row[k] === "object" && row[k] !== null ? JSON.stringify(row[k]) : fmt(row[k]) })])));
      box.appendChild(el("details", {}, [el("summary", { text: rest.length + " more columns" }), fields]));
    }
    return box;
  }

  function rows() {
    const c = content("rows");
    const runSel = el("select", { id: "row-run", "aria-label": "run" }, RUNS.map((r, i) => el("option", { value: i, text: r.label })));
    const stageSel = el("select", { id: "row-stage", "aria-label": "stage" });
    const kindSel = el("select", { id: "row-kind", "aria-label": "kept or removed" }, [
      el("option", { value: "kept", text: "kept rows" }), el("option", { value: "removed", text: "removed rows" })]);
    const search = el("input", { id: "row-search", type: "search", placeholder: "search text in rows…" });
    const colSel = el("select", { id: "row-column", "aria-label": "column" });
    const colText = el("input", { id: "row-column-value", type: "search", placeholder: "column contains…" });
    const count = el("span", { id: "row-count", class: "muted" });
    const list = el("div", { id: "row-list" });
    c.appendChild(el("div", { class: "controls" }, [COMPARE ? runSel : null, stageSel, kindSel, search, colSel, colText, count]));
    c.appendChild(list);

    const current = () => RUNS[Number(runSel.value || 0)];
    function fillStages() {
      const run = current();
      const previous = stageSel.value;
      stageSel.replaceChildren(...run.stages.filter((s) => run.rows[s.id]).map((s) =>
        el("option", { value: s.id, text: s.id + " (" + s.use + ")" })));
      const withRemoved = run.stages.find((s) => run.rows[s.id] && run.rows[s.id].removed.length);
      if ([...stageSel.options].some((o) => o.value === previous)) stageSel.value = previous;
      else if (withRemoved && !previous) stageSel.value = withRemoved.id;
    }
    function fillColumns() {
      const data = current().rows[stageSel.value];
      const sample = data ? data[kindSel.value] : [];
      const cols = [...new Set(sample.flatMap((r) => Object.keys(r)))];
      const previous = colSel.value;
      colSel.replaceChildren(el("option", { value: "", text: "any column" }), ...cols.map((k) => el("option", { value: k, text: k })));
      if (cols.includes(previous)) colSel.value = previous;
    }
    function show() {
      const data = current().rows[stageSel.value];
      if (!data) { list.replaceChildren(el("p", { class: "muted", text: "no rows (the stage did not finish)" })); count.textContent = ""; return; }
      const sample = data[kindSel.value];
      const q = search.value.trim().toLowerCase();
      const col = colSel.value, cq = colText.value.trim().toLowerCase();
      const text = (v) => (typeof v === "string" ? v : JSON.stringify(v === undefined ? null : v)).toLowerCase();
      const shown = sample.filter((r) => (!q || text(r).includes(q)) && (!cq || (col ? text(r[col]) : text(r)).includes(cq)));
      const total = kindSel.value === "kept" ? data.kept_total : data.removed_total;
      count.textContent = "showing " + shown.length + " of " + sample.length + " sampled (" + fmt(total) + " " + kindSel.value + ")";
      list.replaceChildren(...shown.map((r) => card(r, kindSel.value)));
    }
    runSel.addEventListener("change", () => { fillStages(); fillColumns(); show(); });
    stageSel.addEventListener("change", () => { fillColumns(); show(); });
    kindSel.addEventListener("change", () => { fillColumns(); show(); });
    [search, colText].forEach((i) => i.addEventListener("input", show));
    colSel.addEventListener("change", show);
    fillStages();
    fillColumns();
    show();
  }

  status();
  provenance();
  changes();
  funnel();
  timing();
  distributions();
  rows();
  document.body.setAttribute("data-ready", "1");
})();
