// Escucha operator dashboard: a small single-page app over the JSON API of
// docs/api.md. No libraries, no build step. Every value from the API is put in
// the page with textContent or setAttribute, never as HTML.
"use strict";
(function () {
  const I18N = window.ESCUCHA_I18N;
  const C = window.EscuchaCharts;
  let lang = "es";
  try { lang = localStorage.getItem("escucha.lang") === "en" ? "en" : "es"; } catch (e) { /* storage off */ }

  const state = { session: null, taxonomy: null, route: null, cleanup: null };

  // ---------- small helpers ----------
  function t(key, vars) {
    let s = (I18N[lang] && I18N[lang][key]) || I18N.es[key] || key;
    if (vars) for (const k of Object.keys(vars)) s = s.split("{" + k + "}").join(String(vars[k]));
    return s;
  }
  // el("a", {href: "#/x", class: "c"}, "text", child, ...): text children become text nodes.
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "text") n.textContent = String(v);
        else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of kids) add(n, c);
    return n;
  }
  function add(parent, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { for (const x of c) add(parent, x); return; }
    parent.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  const locale = () => (lang === "es" ? "es-CL" : "en-GB");
  function fmtNum(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return t("none");
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits === undefined ? 1 : digits,
      minimumFractionDigits: 0 }).format(v);
  }
  function fmtPct(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return t("none");
    return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: digits === undefined ? 0 : digits })
      .format(v);
  }
  function fmtSigned(v, digits) {
    if (v === null || v === undefined) return t("none");
    const f = Math.pow(10, digits === undefined ? 1 : digits);
    const r = Math.round(v * f) / f;
    if (r === 0) return fmtNum(0, 0); // never "-0" or "+0"
    return r > 0 ? "+" + fmtNum(r, digits) : fmtNum(r, digits);
  }
  function fmtTime(iso) {
    if (!iso) return t("none");
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(d);
  }
  function fmtDate(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short" }).format(d);
  }
  function ago(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return t("none");
    const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
    if (s < 60) return t("ago_s");
    if (s < 3600) return t("ago_m", { n: Math.floor(s / 60) });
    if (s < 86400 * 2) return t("ago_h", { n: Math.floor(s / 3600) });
    return t("ago_d", { n: Math.floor(s / 86400) });
  }
  function timeEl(iso, text) { return el("time", { datetime: iso || null, title: iso ? fmtTime(iso) : null }, text); }
  function label(obj) { // label_es / label_en, else the taxonomy's label of the topic, else its id
    return (lang === "en" ? obj.label_en || obj.label_es : obj.label_es || obj.label_en) ||
      (obj.topic ? catLabel(obj.topic) : t("none"));
  }
  function channelName(c) { const k = "channel_" + c; return I18N.es[k] ? t(k) : String(c || t("none")); }
  function langName(c) { const k = "lang_" + c; return I18N.es[k] ? t(k) : String(c || t("none")); }

  // ---------- API ----------
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || "HTTP " + status);
      this.status = status; this.body = body;
    }
  }
  async function api(path, opts) {
    opts = opts || {};
    const o = { method: opts.method || "GET", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (opts.body !== undefined) { o.headers["Content-Type"] = "application/json"; o.body = JSON.stringify(opts.body); }
    if (o.method !== "GET" && state.session && state.session.csrf) o.headers["X-Escucha-CSRF"] = state.session.csrf;
    const r = await fetch(path, o);
    let body = null;
    const text = await r.text();
    if (text) { try { body = JSON.parse(text); } catch (e) { body = null; } }
    if (r.status === 401 && !opts.noRedirect) { signedOut(); throw new ApiError(401, body); }
    if (!r.ok) throw new ApiError(r.status, body);
    return body;
  }
  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) u.set(k, v);
    const s = u.toString();
    return s ? "?" + s : "";
  }

  // The taxonomy (categories and subcategories with es/en labels) for filters and corrections:
  // GET /v1/taxonomy, the file escucha-api itself loads.
  async function taxonomy() {
    if (state.taxonomy) return state.taxonomy;
    const tx = await api("/v1/taxonomy");
    state.taxonomy = (tx && tx.categories) || [];
    return state.taxonomy;
  }
  function catLabel(id) {
    if (!id) return t("unclassified");
    // "other" and its subcategories are the classifier's, not the agency taxonomy's
    const k = "topic_" + String(id).replace("/", "_");
    if (/^other(\/|$)/.test(id) && I18N.es[k]) return t(k);
    for (const c of state.taxonomy || []) {
      if (c.id === id) return (c.labels && (c.labels[lang] || c.labels.es)) || id;
      for (const s of c.subcategories || []) if (s.id === id) return (s.labels && (s.labels[lang] || s.labels.es)) || id;
    }
    return id;
  }

  // ---------- shell ----------
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  function announce(msg) { live.textContent = ""; window.setTimeout(() => { live.textContent = msg; }, 30); }

  const PAGES = [
    ["priorities", "nav_priorities"], ["cases", "nav_cases"], ["plans", "nav_plans"], ["inbox", "nav_inbox"],
    ["review", "nav_review"], ["satisfaction", "nav_satisfaction"], ["health", "nav_health"]
  ];
  function renderShell() {
    document.documentElement.lang = lang;
    document.title = t("app_name");
    document.getElementById("skip").textContent = t("skip");
    const brand = document.getElementById("brand");
    brand.textContent = t("app_name");
    const nav = document.getElementById("nav");
    nav.setAttribute("aria-label", t("nav_label"));
    const ul = document.getElementById("nav-list");
    clear(ul);
    const signedIn = !!state.session;
    nav.hidden = !signedIn;
    for (const [id, key] of PAGES) {
      const cur = state.route && state.route.page === id;
      ul.appendChild(el("li", null, el("a", { href: "#/" + id, "aria-current": cur ? "page" : null, id: "nav-" + id }, t(key))));
    }
    const sw = document.getElementById("lang-switch");
    sw.textContent = t("lang_switch");
    sw.setAttribute("lang", lang === "es" ? "en" : "es");
    sw.setAttribute("title", t("lang_switch_label")); // the name stays the visible text (WCAG 2.5.3)
    const out = document.getElementById("sign-out");
    out.textContent = t("sign_out");
    out.hidden = !signedIn;
    const who = document.getElementById("who");
    who.textContent = signedIn ? t("signed_in_as", { agency: state.session.agency, roles: (state.session.roles || []).join(", ") }) : "";
  }

  function page(titleKey, introKey, ...kids) {
    clear(main);
    const h1 = el("h1", { id: "page-title", tabindex: "-1" }, t(titleKey));
    main.appendChild(h1);
    if (introKey) main.appendChild(el("p", { class: "intro" }, t(introKey)));
    add(main, kids);
    return h1;
  }
  function loading(where) { const p = el("p", { class: "loading", role: "status" }, t("loading")); clear(where); where.appendChild(p); }
  function showError(where, err, retry) {
    clear(where);
    const msg = err && err.status === 403 ? t("error_forbidden") : err && err.status === 404 ? t("error_notfound") : t("error_generic");
    where.appendChild(el("div", { class: "error", role: "alert" }, el("p", null, msg),
      retry ? el("button", { type: "button", onclick: retry }, t("retry")) : null));
  }
  function selectField(id, labelKey, options, value, onchange) {
    const s = el("select", { id: id, name: id, onchange: onchange });
    for (const [v, text] of options) {
      const o = el("option", { value: v }, text);
      if (String(v) === String(value)) o.selected = true;
      s.appendChild(o);
    }
    return el("div", { class: "field" }, el("label", { for: id }, t(labelKey)), s);
  }

  // ---------- routing ----------
  function parseRoute() {
    const h = location.hash.replace(/^#\/?/, "");
    const [path, query] = h.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    return { page: parts[0] || "priorities", arg: parts[1] || null, params: new URLSearchParams(query || "") };
  }
  async function route() {
    if (state.cleanup) { state.cleanup(); state.cleanup = null; }
    state.route = parseRoute();
    if (!state.session) { renderShell(); return renderSignIn(); }
    renderShell();
    const r = state.route;
    const fn = { priorities: renderPriorities, cases: r.arg ? renderCase : renderCases,
      plans: r.arg ? renderPlan : renderPlans, inbox: renderInbox,
      review: renderReview, satisfaction: renderSatisfaction, health: renderHealth }[r.page] || renderPriorities;
    await fn(r);
  }
  function focusTitle() { const h = document.getElementById("page-title"); if (h) h.focus({ preventScroll: false }); }

  // ---------- sign-in ----------
  function signedOut() {
    state.session = null;
    if (state.route && state.route.page !== "signin") { renderShell(); renderSignIn(); }
  }
  function renderSignIn() {
    const msg = el("div", { id: "signin-msg", role: "alert" });
    const input = el("input", { id: "key", name: "key", type: "password", autocomplete: "current-password",
      required: true, spellcheck: "false", "aria-describedby": "signin-hint" });
    const form = el("form", { id: "signin-form", class: "card narrow" },
      el("div", { class: "field" }, el("label", { for: "key" }, t("signin_key")), input),
      el("p", { id: "signin-hint", class: "hint" }, t("signin_demo_hint")),
      el("button", { type: "submit", class: "primary" }, t("signin_submit")), msg);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      msg.textContent = "";
      try {
        await api("/v1/session", { method: "POST", body: { key: input.value.trim() }, noRedirect: true });
        input.value = "";
        await loadSession();
        if (!location.hash || location.hash === "#/signin") location.hash = "#/priorities";
        else route();
      } catch (e) {
        msg.textContent = e.status === 401 || e.status === 400 || e.status === 403 ? t("signin_bad") : t("error_generic");
        input.select();
      }
    });
    page("signin_title", "signin_intro", form);
    input.focus();
  }
  // GET /v1/session answers 200 {"authenticated": false} without a live session.
  async function loadSession() {
    const s = await api("/v1/session", { noRedirect: true });
    state.session = s && s.authenticated ? s : null;
    if (state.session) { try { await taxonomy(); } catch (e) { state.taxonomy = []; } }
  }

  // ---------- priorities ----------
  async function renderPriorities(r) {
    const win = r.params.get("window") || "day";
    const level = r.params.get("level") || "1";
    const go = () => { location.hash = "#/priorities" + qs({ window: document.getElementById("f-window").value,
      level: document.getElementById("f-level").value }); };
    const body = el("div", { id: "prio-body" });
    const cases = el("div", { id: "open-cases-box" });
    page("prio_title", "prio_intro", cases,
      el("form", { class: "toolbar", "aria-label": t("filters"), onsubmit: (e) => e.preventDefault() },
        selectField("f-window", "window", [["hour", t("window_hour")], ["day", t("window_day")], ["week", t("window_week")]], win, go),
        selectField("f-level", "level", [["1", t("level_1")], ["2", t("level_2")]], level, go)),
      body);
    focusTitle();
    loading(body);
    openCases(cases); // at the same time as the priorities
    let d;
    try { d = await api("/v1/priorities" + qs({ window: win, level: level })); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const items = (d && d.items) || [];
    if (d && d.computed_at) body.appendChild(el("p", { class: "meta" }, t("computed_at", { at: fmtTime(d.computed_at) }),
      d.window_start ? " · " + t("window_start", { at: fmtTime(d.window_start) }) : ""));
    if (!items.length) { body.appendChild(el("p", { class: "empty" }, t("prio_empty"))); return; }
    const ol = el("ol", { class: "cards", id: "priorities" });
    for (const it of items) ol.appendChild(priorityCard(it));
    body.appendChild(ol);
  }
  function priorityCard(it) {
    const name = label(it);
    const hid = "prio-" + it.rank;
    const parts = el("dl", { class: "parts" });
    const part = (k, v, extra) => { parts.appendChild(el("div", null, el("dt", null, t(k)), el("dd", null, v, extra ? el("span", { class: "sub" }, " (" + extra + ")") : null))); };
    part("volume", fmtNum(it.volume, 0));
    part("negative_share", fmtPct(it.negative_share), it.negative_low !== undefined && it.negative_low !== null
      ? t("between", { low: fmtPct(it.negative_low), high: fmtPct(it.negative_high) }) : null);
    part("spike", it.spike_z === null || it.spike_z === undefined ? t("none") : fmtSigned(it.spike_z, 1) + " σ");
    part("nps_impact", fmtSigned(it.nps_impact, 1));
    part("csat_impact", it.csat_impact === null || it.csat_impact === undefined ? t("none") : fmtSigned(it.csat_impact * 100, 1) + " pp");
    part("urgent_share", fmtPct(it.urgent_share));
    const trend = Array.isArray(it.trend) ? it.trend : [];
    const spark = trend.length ? C.sparkline(trend, {
      label: t("trend_label", { n: trend.length }) + ". " + t("trend_desc", { first: trend[0], last: trend[trend.length - 1], max: Math.max.apply(null, trend) })
    }) : null;
    const expl = lang === "en" ? it.explanation_en || it.explanation_es : it.explanation_es || it.explanation_en;
    return el("li", { class: "card priority", "aria-labelledby": hid },
      el("div", { class: "card-head" },
        el("span", { class: "rank", "aria-hidden": "true" }, String(it.rank)),
        el("h2", { id: hid }, el("span", { class: "visually-hidden" }, t("rank", { n: it.rank }) + ": "),
          el("span", { class: "topic-name" }, name)),
        el("span", { class: "score", title: t("score") }, el("span", { class: "visually-hidden" }, t("score") + " "), fmtNum(it.score, 2))),
      el("p", { class: "topic-id" }, it.topic),
      expl ? el("p", { class: "explanation" }, expl) : null,
      el("div", { class: "prio-grid" },
        spark ? el("figure", { class: "spark" }, spark, el("figcaption", null, t("trend_label", { n: trend.length }))) : null,
        el("div", null, el("h3", { class: "small" }, t("score_parts")), parts)),
      it.action_plan_id
        ? el("p", null, el("a", { class: "plan-link", href: "#/plans/" + encodeURIComponent(it.action_plan_id) }, t("view_plan")))
        : el("p", { class: "muted" }, t("no_plan")));
  }

  // ---------- urgent cases ----------
  // A case is one urgent item (a person in danger), shown apart from the statistics. Its card is
  // marked by a heading, an "Urgent" label with an icon and a thick border, not by colour alone.
  function caseCard(c, headTag) {
    const hid = "case-" + c.id;
    const ack = c.acknowledged;
    return el("li", { class: "card case-card", "aria-labelledby": hid, "data-id": c.id },
      el("div", { class: "card-head" },
        el("span", { class: "case-flag" }, el("span", { class: "case-icon", "aria-hidden": "true" }, "!"), t("case_urgent")),
        el(headTag || "h3", { id: hid, class: "case-name" }, catLabel(c.subcategory || c.category)),
        statusBadge(c.status)),
      el("p", { class: "meta" }, timeEl(c.received_at, t("case_received", { age: ago(c.received_at), channel: channelName(c.channel) }))),
      c.reason ? el("p", { class: "case-reason" }, t("case_reason", { reason: c.reason }),
        c.confidence !== null && c.confidence !== undefined ? " (" + t("case_confidence", { pct: fmtPct(c.confidence) }) + ")" : "") : null,
      el("p", { class: ack ? "case-ack done" : "case-ack" }, ack ? t("case_acked", { actor: ack.actor, age: ago(ack.at) }) : t("case_not_acked")),
      ticketList(c.tickets),
      el("p", null, el("a", { class: "case-link", href: "#/cases/" + encodeURIComponent(c.id), "aria-describedby": hid }, t("case_open_link"))));
  }
  // The open cases at the top of the main view (nothing when the key may not read them).
  async function openCases(box) {
    let d;
    try { d = await api("/v1/cases" + qs({ status: "open", limit: 50 })); } catch (e) { return; }
    if (!document.body.contains(box)) return; // the page changed meanwhile
    const items = (d && d.items) || [];
    clear(box);
    if (!items.length) { box.appendChild(el("p", { class: "cases-none", id: "cases-none" }, t("cases_none_open"))); return; }
    box.appendChild(el("section", { class: "cases-panel", id: "open-cases", "aria-labelledby": "h-open-cases" },
      el("h2", { id: "h-open-cases" }, el("span", { class: "case-icon", "aria-hidden": "true" }, "!"), " ",
        t("cases_open_title", { n: items.length + (d.next_cursor ? "+" : "") })),
      el("p", { class: "intro" }, t("cases_open_intro")),
      el("ul", { class: "cards", id: "open-cases-list" }, items.map((c) => caseCard(c, "h3")))));
  }
  async function renderCases(r) {
    const st = r.params.get("status") || "";
    const body = el("div", { id: "cases-body" });
    page("cases_title", "cases_intro",
      el("form", { class: "toolbar", "aria-label": t("filters"), onsubmit: (e) => e.preventDefault() },
        selectField("f-status", "status", [["", t("status_all")], ["open", t("status_open")], ["closed", t("status_closed")]], st,
          () => { location.hash = "#/cases" + qs({ status: document.getElementById("f-status").value }); })),
      body);
    focusTitle();
    loading(body);
    let d;
    try { d = await api("/v1/cases" + qs({ status: st, limit: 100 })); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const items = (d && d.items) || [];
    if (!items.length) { body.appendChild(el("p", { class: "empty" }, t("cases_empty"))); return; }
    body.appendChild(el("ul", { class: "cards", id: "cases" }, items.map((c) => caseCard(c, "h2"))));
  }
  function auditTable(audit) {
    return el("section", { "aria-labelledby": "h-audit" }, el("h2", { id: "h-audit" }, t("audit")),
      el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "h-audit" }, el("table", { id: "audit-table" },
        el("thead", null, el("tr", null, ["audit_at", "audit_actor", "audit_action", "audit_detail"].map((k) => el("th", { scope: "col" }, t(k))))),
        el("tbody", null, audit.map((a) => el("tr", null, el("td", null, timeEl(a.at, fmtTime(a.at))), el("td", null, a.actor || ""),
          el("td", null, a.action || ""), el("td", { class: "detail" }, auditDetail(a.detail))))))));
  }
  async function renderCase(r) {
    const body = el("div", { id: "case-body" });
    page("case_title", null, el("p", null, el("a", { href: "#/cases" }, "← " + t("back_cases"))), body);
    focusTitle();
    loading(body);
    let c;
    try { c = await api("/v1/cases/" + encodeURIComponent(r.arg)); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const roles = (state.session && state.session.roles) || [];
    const canAck = roles.indexOf("review") >= 0 || roles.indexOf("admin") >= 0;
    const result = el("p", { class: "result", role: "status", id: "ack-result" });
    const ackBtn = canAck && c.status === "open" ? el("button", { type: "button", class: "primary", id: "case-ack" }, t("case_ack")) : null;
    if (ackBtn) ackBtn.addEventListener("click", async () => {
      ackBtn.disabled = true;
      try {
        await api("/v1/cases/" + encodeURIComponent(c.id) + "/ack", { method: "POST" });
        announce(t("case_ack_done"));
        await renderCase(r);
        const res = document.getElementById("ack-result");
        if (res) res.textContent = t("case_ack_done");
      } catch (e) {
        ackBtn.disabled = false;
        result.textContent = t("case_ack_failed", { msg: e.message });
      }
    });
    const card = caseCard(c, "h2");
    card.removeChild(card.lastChild); // the link to this very page
    add(body, [
      el("ul", { class: "cards" }, card),
      el("section", { "aria-labelledby": "h-case-text" }, el("h2", { id: "h-case-text", class: "section" }, t("case_text")),
        el("blockquote", { class: "case-text", lang: c.language || null }, c.text || "")),
      el("div", { class: "actions" }, ackBtn), result,
      el("p", { class: "hint" }, t("case_view_note")),
      auditTable(Array.isArray(c.audit) ? c.audit : [])
    ]);
  }

  // ---------- action plans ----------
  function ticketList(tickets) {
    if (!tickets || !tickets.length) return el("p", { class: "muted" }, t("no_tickets"));
    return el("ul", { class: "tickets" }, tickets.map((tk) => el("li", null,
      tk.url ? el("a", { class: "ticket-link", href: tk.url, target: "_blank", rel: "noopener noreferrer" },
        t("ticket_link", { tool: tk.tool || "", key: tk.key || "" }))
        : el("span", null, t("ticket_link", { tool: tk.tool || "", key: tk.key || "" })),
      tk.status ? el("span", { class: "badge" }, t("ticket_status", { status: tk.status })) : null)));
  }
  function statusBadge(s) {
    const k = s === "open" ? "status_open" : s === "closed" ? "status_closed" : null;
    return el("span", { class: "badge status-" + (s === "open" || s === "closed" ? s : "other") }, k ? t(k) : String(s || t("none")));
  }
  // A reminder: an open plan whose tickets have not moved for the API's --stale-after days.
  function staleBadge(p) {
    if (!p.stale) return null;
    return el("span", { class: "badge stale", title: p.last_movement_at ? t("stale_since", { when: fmtTime(p.last_movement_at) }) : null },
      t("stale", { age: ago(p.last_movement_at) }));
  }
  async function renderPlans(r) {
    const st = r.params.get("status") || "";
    const body = el("div", { id: "plans-body" });
    page("plans_title", "plans_intro",
      el("form", { class: "toolbar", "aria-label": t("filters"), onsubmit: (e) => e.preventDefault() },
        selectField("f-status", "status", [["", t("status_all")], ["open", t("status_open")], ["closed", t("status_closed")]], st,
          () => { location.hash = "#/plans" + qs({ status: document.getElementById("f-status").value }); })),
      body);
    focusTitle();
    loading(body);
    let d;
    try { d = await api("/v1/action-plans" + qs({ status: st })); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const items = (d && d.items) || [];
    if (!items.length) { body.appendChild(el("p", { class: "empty" }, t("plans_empty"))); return; }
    const ul = el("ul", { class: "cards", id: "plans" });
    for (const p of items) {
      const hid = "plan-" + p.id;
      const summary = String(p.summary || "");
      ul.appendChild(el("li", { class: "card plan", "aria-labelledby": hid },
        el("div", { class: "card-head" }, el("h2", { id: hid }, label(p)), statusBadge(p.status), staleBadge(p)),
        el("p", { class: "meta" }, timeEl(p.opened_at, t("opened", { age: ago(p.opened_at) })),
          p.closed_at ? [" · ", timeEl(p.closed_at, t("closed", { age: ago(p.closed_at) }))] : null),
        summary ? el("p", { class: "summary" }, summary.length > 400 ? summary.slice(0, 400) + "…" : summary) : null,
        el("h3", { class: "small" }, t("tickets")), ticketList(p.tickets),
        el("p", null, el("a", { href: "#/plans/" + encodeURIComponent(p.id), "aria-describedby": hid }, t("plan_detail")))));
    }
    body.appendChild(ul);
  }
  // An audit row's detail (a JSON object) as short "name: value" pairs; nested values and
  // the long explanation texts are left out (they are on the page already).
  function auditDetail(d) {
    if (d === null || d === undefined) return "";
    if (typeof d !== "object") return String(d);
    const parts = [];
    for (const [k, v] of Object.entries(d)) {
      if (v === null || typeof v === "object" || /^explanation/.test(k)) continue;
      let x = typeof v === "number" && !Number.isInteger(v) ? fmtNum(v, 2) : String(v);
      if (x.length > 80) x = x.slice(0, 79) + "…";
      parts.push(k + ": " + x);
    }
    return parts.join(" · ");
  }
  async function renderPlan(r) {
    const body = el("div", { id: "plan-body" });
    page("plans_title", null, el("p", null, el("a", { href: "#/plans" }, "← " + t("back_plans"))), body);
    focusTitle();
    loading(body);
    let p;
    try { p = await api("/v1/action-plans/" + encodeURIComponent(r.arg)); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    document.getElementById("page-title").textContent = label(p);
    const recs = Array.isArray(p.recommendations) ? p.recommendations : [];
    const quotes = Array.isArray(p.quotes) ? p.quotes : [];
    const audit = Array.isArray(p.audit) ? p.audit : [];
    add(body, [
      el("p", { class: "meta" }, statusBadge(p.status), staleBadge(p), " ", timeEl(p.opened_at, t("opened", { age: ago(p.opened_at) })),
        p.closed_at ? [" · ", timeEl(p.closed_at, t("closed", { age: ago(p.closed_at) }))] : null),
      p.summary ? el("p", { class: "summary" }, String(p.summary)) : null,
      el("section", { "aria-labelledby": "h-tickets" }, el("h2", { id: "h-tickets" }, t("tickets")), ticketList(p.tickets)),
      recs.length ? el("section", { "aria-labelledby": "h-recs" }, el("h2", { id: "h-recs" }, t("recommendations")),
        el("ul", null, recs.map((x) => el("li", null, typeof x === "string" ? x : (x.text || x[lang] || x.es || JSON.stringify(x)))))) : null,
      quotes.length ? el("section", { "aria-labelledby": "h-quotes" }, el("h2", { id: "h-quotes" }, t("quotes")),
        quotes.map((q) => el("blockquote", { lang: (q && q.language) || null }, typeof q === "string" ? q : (q.text || "")))) : null,
      p.priority ? el("section", { "aria-labelledby": "h-snap" }, el("h2", { id: "h-snap" }, t("priority_snapshot")),
        el("p", null, t("score") + ": " + fmtNum(p.priority.score, 2) + " · " + t("volume") + ": " + fmtNum(p.priority.volume, 0)),
        el("p", null, (lang === "en" ? p.priority.explanation_en : p.priority.explanation_es) || "")) : null,
      audit.length ? el("section", { "aria-labelledby": "h-audit" }, el("h2", { id: "h-audit" }, t("audit")),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "h-audit" }, el("table", null,
          el("thead", null, el("tr", null, ["audit_at", "audit_actor", "audit_action", "audit_detail"].map((k) => el("th", { scope: "col" }, t(k))))),
          el("tbody", null, audit.map((a) => el("tr", null, el("td", null, timeEl(a.at, fmtTime(a.at))), el("td", null, a.actor || ""),
            el("td", null, a.action || ""), el("td", { class: "detail" }, auditDetail(a.detail)))))))) : null
    ]);
  }

  // ---------- inbox ----------
  const SENTIMENTS = ["NEGATIVE", "NEUTRAL", "POSITIVE"];
  const CHANNELS = ["web", "email", "whatsapp", "sms", "call", "chat", "social", "survey", "open311", "in_person", "other"];
  function categoryOptions(withAny) {
    const o = withAny ? [["", t("any")]] : [];
    for (const c of state.taxonomy || []) o.push([c.id, (c.labels && (c.labels[lang] || c.labels.es)) || c.id]);
    return o;
  }
  function feedbackItem(it, extra) {
    const cls = el("p", { class: "classification" },
      el("span", { class: "chip cat" }, catLabel(it.category), it.subcategory ? " › " + catLabel(it.subcategory) : ""),
      it.confidence !== null && it.confidence !== undefined ? el("span", { class: "chip" }, t("confidence", { pct: fmtPct(it.confidence) })) : null,
      it.sentiment ? el("span", { class: "chip sent-" + String(it.sentiment).toLowerCase() }, t("sentiment_" + it.sentiment)) : null,
      it.urgent ? el("span", { class: "chip urgent" }, t("urgent_badge")) : null,
      it.nps !== null && it.nps !== undefined ? el("span", { class: "chip" }, t("nps_value", { v: it.nps })) : null,
      it.csat !== null && it.csat !== undefined ? el("span", { class: "chip" }, t("csat_value", { v: it.csat })) : null);
    return [
      el("p", { class: "meta" }, timeEl(it.received_at, t("received", { at: fmtTime(it.received_at) })), " · ",
        channelName(it.channel), " · ", langName(it.language), it.service ? " · " + it.service : ""),
      el("p", { class: "text", lang: it.language || null }, it.text || ""),
      cls, extra || null];
  }
  async function renderInbox(r) {
    const p = r.params;
    const f = (k) => p.get(k) || "";
    const input = (id, key, type, extra) => el("div", { class: "field" }, el("label", { for: id }, t(key)),
      el("input", Object.assign({ id: id, name: id.slice(2), type: type, value: f(id.slice(2)) }, extra || {})));
    const form = el("form", { id: "inbox-filters", class: "filters", "aria-label": t("filters") },
      el("div", { class: "field wide" }, el("label", { for: "f-q" }, t("search")),
        el("input", { id: "f-q", name: "q", type: "search", value: f("q"), placeholder: t("search_ph") })),
      selectField("f-category", "category", categoryOptions(true), f("category")),
      selectField("f-sentiment", "sentiment", [["", t("any")]].concat(SENTIMENTS.map((s) => [s, t("sentiment_" + s)])), f("sentiment")),
      selectField("f-channel", "channel", [["", t("any")]].concat(CHANNELS.map((c) => [c, channelName(c)])), f("channel")),
      selectField("f-urgent", "urgent", [["", t("any")], ["true", t("yes")], ["false", t("no")]], f("urgent")),
      selectField("f-language", "language", [["", t("any")], ["es", t("lang_es")], ["en", t("lang_en")], ["pt", t("lang_pt")]], f("language")),
      input("f-from", "from", "date"), input("f-to", "to", "date"),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, t("apply")),
        el("a", { href: "#/inbox", class: "button" }, t("clear"))));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = {};
      for (const k of ["q", "category", "sentiment", "channel", "urgent", "language", "from", "to"]) v[k] = document.getElementById("f-" + k).value.trim();
      location.hash = "#/inbox" + qs(v);
    });
    const list = el("ol", { id: "inbox-list", class: "items" });
    const status = el("p", { id: "inbox-count", class: "meta", role: "status" });
    const more = el("button", { type: "button", id: "inbox-more", hidden: true }, t("more"));
    const body = el("div", { id: "inbox-body" });
    page("inbox_title", "inbox_intro", form, body);
    focusTitle();
    loading(body);
    const q = { limit: 25 };
    for (const k of ["q", "category", "sentiment", "channel", "urgent", "language"]) q[k] = f(k);
    if (f("from")) q.from = f("from") + "T00:00:00Z";
    if (f("to")) q.to = f("to") + "T23:59:59Z";
    let shown = 0;
    async function load(cursor) {
      let d;
      try { d = await api("/v1/feedback" + qs(Object.assign({}, q, { cursor: cursor || "" }))); } catch (e) {
        if (e.status !== 401) showError(body, e, () => route()); return false;
      }
      const items = (d && d.items) || [];
      let first = null;
      for (const it of items) {
        const li = el("li", { class: "card item", tabindex: "-1", "data-id": it.id }, feedbackItem(it));
        if (!first) first = li;
        list.appendChild(li);
      }
      shown += items.length;
      status.textContent = shown ? t("inbox_count", { n: shown }) : t("inbox_empty");
      more.hidden = !d.next_cursor;
      more.onclick = async () => {
        more.disabled = true;
        const n = list.children.length;
        await load(d.next_cursor);
        more.disabled = false;
        const li = list.children[n]; if (li) li.focus();
      };
      return first;
    }
    const ok = await load(null);
    if (ok === false) return;
    clear(body);
    add(body, [status, list, more]);
  }

  // ---------- review queue ----------
  async function renderReview() {
    const cats = state.taxonomy || [];
    const keys = el("aside", { class: "card keys", "aria-labelledby": "h-keys" },
      el("h2", { id: "h-keys" }, t("review_keys")),
      el("ul", null, ["key_jk", "key_c", "key_num", "key_s"].map((k) => el("li", null, t(k)))),
      el("p", { class: "hint" }, t("key_hint")),
      el("ol", { class: "cat-keys" }, cats.slice(0, 9).map((c) => el("li", null, (c.labels && (c.labels[lang] || c.labels.es)) || c.id))));
    const body = el("div", { id: "review-body" });
    page("review_title", "review_intro", el("div", { class: "review-layout" }, body, keys));
    focusTitle();
    loading(body);
    let d;
    try { d = await api("/v1/review-queue" + qs({ limit: 50 })); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const items = (d && d.items) || [];
    if (!items.length) { body.appendChild(el("p", { class: "empty" }, t("review_empty"))); return; }
    const list = el("ol", { id: "review-list", class: "items" });
    body.appendChild(list);
    let cur = 0;
    const rows = [];
    items.forEach((it, i) => {
      const n = "r" + i;
      const catSel = el("select", { id: n + "-cat", name: "category" });
      for (const [v, text] of categoryOptions(false)) catSel.appendChild(el("option", { value: v }, text));
      if (it.category && ![...catSel.options].some((o) => o.value === it.category)) catSel.appendChild(el("option", { value: it.category }, catLabel(it.category)));
      catSel.value = it.category || (cats[0] && cats[0].id) || "";
      const subSel = el("select", { id: n + "-sub", name: "subcategory" });
      const fillSubs = (keep) => {
        clear(subSel);
        const c = cats.find((x) => x.id === catSel.value);
        for (const s of (c && c.subcategories) || []) subSel.appendChild(el("option", { value: s.id }, (s.labels && (s.labels[lang] || s.labels.es)) || s.id));
        if (keep && it.subcategory && ![...subSel.options].some((o) => o.value === it.subcategory)) subSel.appendChild(el("option", { value: it.subcategory }, catLabel(it.subcategory)));
        if (keep && it.subcategory) subSel.value = it.subcategory;
      };
      fillSubs(true);
      catSel.addEventListener("change", () => fillSubs(false));
      const sentSel = el("select", { id: n + "-sent", name: "sentiment" }, SENTIMENTS.map((s) => el("option", { value: s }, t("sentiment_" + s))));
      sentSel.value = it.sentiment || "NEUTRAL";
      const result = el("p", { class: "result", role: "status" });
      const send = async (body, btn) => {
        btn.disabled = true;
        try {
          await api("/v1/feedback/" + encodeURIComponent(it.id) + "/review", { method: "POST", body: body });
          li.classList.add("done");
          result.textContent = t("reviewed_ok");
          announce(t("reviewed_ok"));
          for (const x of [catSel, subSel, sentSel, confirm, save]) x.disabled = true;
          if (i === cur) move(1);
        } catch (e) {
          btn.disabled = false;
          result.textContent = t("review_failed", { msg: e.message });
        }
      };
      const confirm = el("button", { type: "button", class: "confirm" }, t("confirm"));
      confirm.addEventListener("click", () => send({ category: it.category, subcategory: it.subcategory, sentiment: it.sentiment }, confirm));
      const save = el("button", { type: "button", class: "primary save" }, t("save_correction"));
      save.addEventListener("click", () => send({ category: catSel.value, subcategory: subSel.value, sentiment: sentSel.value }, save));
      const reason = it.reason ? t("reason_" + it.reason) : null;
      const li = el("li", { class: "card item review-item", tabindex: "-1", "data-id": it.id, "aria-label": t("item_n", { i: i + 1, n: items.length }) },
        reason ? el("p", { class: "reason" }, el("span", { class: "chip reason-chip" }, t("reason") + ": " + reason)) : null,
        feedbackItem(it),
        el("form", { class: "correct", onsubmit: (e) => e.preventDefault() },
          el("div", { class: "field" }, el("label", { for: n + "-cat" }, t("category")), catSel),
          el("div", { class: "field" }, el("label", { for: n + "-sub" }, t("subcategory")), subSel),
          el("div", { class: "field" }, el("label", { for: n + "-sent" }, t("sentiment")), sentSel),
          el("div", { class: "actions" }, confirm, save)),
        result);
      rows.push({ li, catSel, fillSubs, confirm, save });
      list.appendChild(li);
    });
    function setCur(i, focus) {
      cur = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach((r, k) => { r.li.classList.toggle("current", k === cur); r.li.setAttribute("aria-current", k === cur ? "true" : "false"); });
      if (focus) { rows[cur].li.focus(); rows[cur].li.scrollIntoView({ block: "nearest" }); }
    }
    function move(step) {
      let i = cur + step;
      while (i >= 0 && i < rows.length && rows[i].li.classList.contains("done")) i += step;
      if (i >= 0 && i < rows.length) setCur(i, true);
    }
    setCur(0, false);
    list.addEventListener("focusin", (e) => { const k = rows.findIndex((r) => r.li.contains(e.target)); if (k >= 0 && k !== cur) setCur(k, false); });
    const onKey = (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const tag = (e.target && e.target.tagName) || "";
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (tag === "BUTTON" && (e.key === "Enter" || e.key === " "))) return;
      const row = rows[cur];
      if (e.key === "j") { move(1); e.preventDefault(); }
      else if (e.key === "k") { move(-1); e.preventDefault(); }
      else if (e.key === "c" && !row.confirm.disabled) { row.confirm.click(); e.preventDefault(); }
      else if (e.key === "s" && !row.save.disabled) { row.save.click(); e.preventDefault(); }
      else if (/^[1-9]$/.test(e.key)) {
        const c = cats[Number(e.key) - 1];
        if (c && !row.catSel.disabled) { row.catSel.value = c.id; row.fillSubs(false); announce(t("category") + ": " + ((c.labels && (c.labels[lang] || c.labels.es)) || c.id)); e.preventDefault(); }
      }
    };
    document.addEventListener("keydown", onKey);
    state.cleanup = () => document.removeEventListener("keydown", onKey);
  }

  // ---------- satisfaction ----------
  function interval(low, high, fmt) {
    if (low === null || low === undefined || high === null || high === undefined) return "";
    return t("between", { low: fmt(low), high: fmt(high) });
  }
  const npsFmt = (v) => fmtNum(v, 0);
  const csatFmt = (v) => fmtPct(v, 0);
  async function renderSatisfaction(r) {
    const win = r.params.get("window") || "week";
    const body = el("div", { id: "sat-body" });
    page("sat_title", "sat_intro",
      el("form", { class: "toolbar", "aria-label": t("filters"), onsubmit: (e) => e.preventDefault() },
        selectField("f-window", "window", [["day", t("window_day")], ["week", t("window_week")]], win,
          () => { location.hash = "#/satisfaction" + qs({ window: document.getElementById("f-window").value }); })),
      body);
    focusTitle();
    loading(body);
    let d;
    try { d = await api("/v1/satisfaction" + qs({ window: win })); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const o = d.overall || {};
    const stat = (key, v, lo, hi, n, fmt, id) => el("div", { class: "card stat", id: id },
      el("h2", null, t(key)), el("p", { class: "big" }, v === null || v === undefined ? t("none") : fmt(v)),
      el("p", { class: "sub" }, interval(lo, hi, fmt)), el("p", { class: "sub" }, n ? t("answers", { n: n }) : t("no_answers")));
    const series = Array.isArray(d.series) ? d.series : [];
    const chans = Array.isArray(d.by_channel) ? d.by_channel : [];
    const cats = Array.isArray(d.by_category) ? d.by_category : [];
    const table = (rows, nameOf, caption) => el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
      el("table", null, el("caption", { class: "visually-hidden" }, caption),
      el("thead", null, el("tr", null, el("th", { scope: "col" }, caption), el("th", { scope: "col" }, t("nps")), el("th", { scope: "col" }, t("interval")),
        el("th", { scope: "col" }, t("csat")), el("th", { scope: "col" }, t("interval")))),
      el("tbody", null, rows.map((x) => el("tr", null, el("th", { scope: "row" }, nameOf(x)),
        el("td", null, x.nps === null || x.nps === undefined ? t("none") : npsFmt(x.nps) + " (n=" + (x.nps_n || 0) + ")"),
        el("td", null, interval(x.nps_low, x.nps_high, npsFmt)),
        el("td", null, x.csat === null || x.csat === undefined ? t("none") : csatFmt(x.csat) + " (n=" + (x.csat_n || 0) + ")"),
        el("td", null, interval(x.csat_low, x.csat_high, csatFmt)))))));
    const bars = (key, lo, hi, min, max, fmt, title) => {
      const rows = chans.filter((x) => x[key] !== null && x[key] !== undefined)
        .map((x) => ({ label: channelName(x.channel), value: x[key], low: x[lo], high: x[hi] }));
      return rows.length ? el("figure", { class: "chart" }, C.barsWithInterval(rows, { min: min, max: max, fmt: fmt, label: title }),
        el("figcaption", null, title)) : null;
    };
    const line = (key, min, max, fmt, title) => {
      const pts = series.filter((x) => x[key] !== null && x[key] !== undefined).map((x) => ({ x: fmtDate(x.start), y: x[key] }));
      return pts.length ? el("figure", { class: "chart" }, C.line(pts, { min: min, max: max, fmt: fmt, label: title }), el("figcaption", null, title)) : null;
    };
    add(body, [
      el("section", { "aria-labelledby": "h-overall" }, el("h2", { id: "h-overall", class: "section" }, t("overall")),
        el("div", { class: "stats" }, stat("nps", o.nps, o.nps_low, o.nps_high, o.nps_n, npsFmt, "stat-nps"),
          stat("csat", o.csat, o.csat_low, o.csat_high, o.csat_n, csatFmt, "stat-csat"))),
      el("section", { "aria-labelledby": "h-time" }, el("h2", { id: "h-time", class: "section" }, t("over_time")),
        el("div", { class: "charts" }, line("nps", -100, 100, npsFmt, t("chart_nps_time")), line("csat", 0, 1, csatFmt, t("chart_csat_time")))),
      el("section", { "aria-labelledby": "h-chan" }, el("h2", { id: "h-chan", class: "section" }, t("by_channel")),
        el("div", { class: "charts" }, bars("nps", "nps_low", "nps_high", -100, 100, npsFmt, t("chart_nps_channel")),
          bars("csat", "csat_low", "csat_high", 0, 1, csatFmt, t("chart_csat_channel"))),
        table(chans, (x) => channelName(x.channel), t("channel"))),
      cats.length ? el("section", { "aria-labelledby": "h-cat" }, el("h2", { id: "h-cat", class: "section" }, t("by_category")),
        table(cats, (x) => catLabel(x.category), t("category"))) : null
    ]);
  }

  // ---------- health ----------
  async function renderHealth() {
    const body = el("div", { id: "health-body" });
    page("health_title", "health_intro", el("p", null, el("button", { type: "button", onclick: () => route() }, t("refresh"))), body);
    focusTitle();
    loading(body);
    let d;
    try { d = await api("/v1/health"); } catch (e) {
      if (e.status !== 401) showError(body, e, () => route()); return;
    }
    clear(body);
    const lag = Array.isArray(d.consumer_lag) ? d.consumer_lag : [];
    add(body, [
      el("div", { class: "stats" },
        el("div", { class: "card stat", id: "stat-dlq" }, el("h2", null, t("dlq")), el("p", { class: "big" }, fmtNum(d.dlq && d.dlq.count, 0)),
          d.dlq && d.dlq.count !== null && d.dlq.count !== undefined ? null : el("p", { class: "sub" }, t("not_reported"))),
        el("div", { class: "card stat", id: "stat-model" }, el("h2", null, t("model_version")), el("p", { class: "big mono" }, d.model_version || t("none")))),
      el("section", { "aria-labelledby": "h-lag" }, el("h2", { id: "h-lag", class: "section" }, t("consumer_lag")),
        lag.length ? null : el("p", { class: "empty", id: "lag-none" }, t("lag_none")),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "h-lag", hidden: !lag.length }, el("table", { id: "lag-table" },
          el("thead", null, el("tr", null, el("th", { scope: "col" }, t("group")), el("th", { scope: "col" }, t("topic")),
            el("th", { scope: "col", class: "num" }, t("lag")), el("th", { scope: "col" }, t("status")))),
          el("tbody", null, lag.map((x) => el("tr", null, el("td", null, x.group || ""), el("td", null, x.topic || ""),
            el("td", { class: "num" }, fmtNum(x.lag, 0)),
            el("td", null, el("span", { class: "badge " + (x.lag > 1000 ? "status-other" : "status-open") }, x.lag > 1000 ? t("lag_behind") : t("lag_ok")))))))))
    ]);
  }

  // ---------- start ----------
  document.getElementById("lang-switch").addEventListener("click", () => {
    lang = lang === "es" ? "en" : "es";
    try { localStorage.setItem("escucha.lang", lang); } catch (e) { /* storage off */ }
    route().then(() => document.getElementById("lang-switch").focus());
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    try { await api("/v1/session", { method: "DELETE", noRedirect: true }); } catch (e) { /* signed out anyway */ }
    signedOut();
    location.hash = "#/signin";
  });
  window.addEventListener("hashchange", () => { route(); });
  (async function boot() {
    try { await loadSession(); } catch (e) { state.session = null; }
    await route();
  })();
})();
