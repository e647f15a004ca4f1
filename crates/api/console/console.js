// Orchestra's operator console: a dependency-free ES module. It reads and changes
// everything through /api with the console cookie; what the server answers is rendered
// as text (textContent), never as HTML, so a tool input cannot inject markup.
// docs/console.md describes the pages; docs/adr/0005-operator-console.md why it is built so.

const state = { me: null, csrf: "", decided: new Map(), cards: new Map(), refusals: new Map(), owners: new Map(), inbox: null, stream: null, sessionStream: null, inboxRun: null, inboxAgain: false };

// ---- small helpers -------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function notice(text) {
  document.getElementById("notice").textContent = text || "";
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    location.assign("/console/login");
    throw new Error("signed out");
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { message: text }; }
  return { status: res.status, ok: res.ok, body: json };
}

const usd = (x) => (x === null || x === undefined ? "—" : "$" + Number(x).toFixed(x < 1 ? 4 : 2));
const when = (t) => (t ? new Date(t).toLocaleString() : "—");

function left(expiresAt) {
  const s = Math.round((new Date(expiresAt) - Date.now()) / 1000);
  if (s <= 0) return { text: "expiring", soon: true };
  const m = Math.floor(s / 60), r = s % 60;
  return { text: `${m}:${String(r).padStart(2, "0")} left`, soon: s < 60 };
}

// ---- tool input, as the agent will run it ---------------------------------------------

function diffBlock(oldText, newText) {
  const pre = el("pre", { class: "diff" });
  for (const line of String(oldText ?? "").split("\n")) pre.append(el("span", { class: "del", text: "- " + line }));
  for (const line of String(newText ?? "").split("\n")) pre.append(el("span", { class: "add", text: "+ " + line }));
  return pre;
}

function renderInput(tool, input) {
  const box = el("div", { class: "input" });
  if (!input || typeof input !== "object") {
    box.append(el("pre", { text: JSON.stringify(input, null, 2) }));
    return box;
  }
  if (tool === "Bash" && typeof input.command === "string") {
    box.append(el("pre", { class: "command", text: "$ " + input.command }));
    if (input.description) box.append(el("p", { class: "meta", text: input.description }));
  } else if (tool === "Edit" && "old_string" in input) {
    box.append(el("div", { class: "meta", text: "File: " + input.file_path + (input.replace_all ? " (every occurrence)" : "") }));
    box.append(diffBlock(input.old_string, input.new_string));
  } else if (tool === "MultiEdit" && Array.isArray(input.edits)) {
    box.append(el("div", { class: "meta", text: "File: " + input.file_path + ` (${input.edits.length} edits)` }));
    for (const e of input.edits) box.append(diffBlock(e.old_string, e.new_string));
  } else if (tool === "Write" && "content" in input) {
    box.append(el("div", { class: "meta", text: "File: " + input.file_path + " (written whole)" }));
    const pre = el("pre", { class: "diff" });
    for (const line of String(input.content).split("\n")) pre.append(el("span", { class: "add", text: "+ " + line }));
    box.append(pre);
  } else {
    box.append(el("pre", { text: JSON.stringify(input, null, 2) }));
  }
  return box;
}

// ---- the file on disk, and what the call would leave in it ---------------------------

// Line diff: the common head and tail are kept as context; the middle is aligned by the
// longest common subsequence when small enough, else shown as removed then added.
function lineDiff(before, after) {
  const a = before.split("\n"), b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail), y = b.slice(head, b.length - tail);
  const ops = [];
  if (x.length * y.length <= 250000) {
    const lcs = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
    for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--)
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    let i = 0, j = 0;
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) { ops.push([" ", x[i]]); i++; j++; }
      else if (i < x.length && (j === y.length || lcs[i + 1][j] >= lcs[i][j + 1])) { ops.push(["-", x[i]]); i++; }
      else { ops.push(["+", y[j]]); j++; }
    }
  } else {
    for (const l of x) ops.push(["-", l]);
    for (const l of y) ops.push(["+", l]);
  }
  const context = 3;
  const pre = el("pre", { class: "diff file-diff" });
  pre.append(el("span", { class: "hunk", text: `@@ line ${head + 1} @@` }));
  for (const l of a.slice(Math.max(0, head - context), head)) pre.append(el("span", { text: "  " + l }));
  for (const [op, l] of ops) pre.append(el("span", { class: op === "+" ? "add" : op === "-" ? "del" : "", text: (op === " " ? "  " : op + " ") + l }));
  for (const l of a.slice(a.length - tail, Math.min(a.length, a.length - tail + context))) pre.append(el("span", { text: "  " + l }));
  return pre;
}

async function showFileDiff(a, box) {
  const res = await api("GET", `/api/approvals/${a.id}/file`);
  if (!res.ok) return;
  const f = res.body;
  const note = el("p", { class: "meta file-state" });
  if (f.after !== null && (f.state === "text" || f.state === "missing")) {
    note.textContent = f.state === "missing" ? "Against the file on disk: it does not exist yet; the call creates it." : "Against the file on disk, as it is now:";
    box.replaceChildren(el("div", { class: "meta", text: "File: " + f.path }), note, lineDiff(f.before ?? "", f.after));
  } else {
    note.textContent = f.state === "text" || f.state === "missing" ? "This call does not apply to the file as it is now: " + f.error : "The file on disk is not shown: " + f.error;
    note.classList.add(f.state === "text" || f.state === "missing" ? "error" : "muted");
    box.append(note);
  }
}

// ---- approvals inbox ------------------------------------------------------------------

async function decide(a, card, approved, scope) {
  const reason = card.querySelector("input.reason").value.trim();
  const status = card.querySelector(".card-status");
  card.querySelectorAll("button").forEach((b) => (b.disabled = true));
  const body = { approved, expectedVersion: a.version };
  if (reason) body.reason = reason;
  if (scope) body.scope = scope;
  const res = await api("POST", `/api/approvals/${a.id}/approve`, body);
  if (res.ok) {
    state.refusals.delete(a.id);
    status.textContent = approved ? "Approved." : "Denied.";
  } else {
    // Kept with the approval: the card is drawn again when the inbox is read again.
    const why = (res.body && res.body.message) || `Refused (${res.status}).`;
    state.refusals.set(a.id, why);
    status.textContent = why;
    status.className = "card-status error";
    card.querySelectorAll("button").forEach((b) => (b.disabled = false));
  }
  await refreshInbox();
}

function approvalCard(a) {
  const decided = a.status !== "Pending";
  const card = el("article", { class: "card" + (decided ? " decided" : ""), "data-approval-id": a.id, "data-version": a.version, "aria-labelledby": "t-" + a.id });
  card.append(el("h2", { id: "t-" + a.id }, a.toolName, el("span", { class: "risk risk-" + a.risk, text: a.risk }), a.kind !== "Live" ? el("span", { class: "risk", text: a.kind }) : null));
  const meta = el("div", { class: "meta" },
    el("span", {}, "Session ", el("a", { href: "#/sessions/" + encodeURIComponent(a.sessionId), text: a.sessionId.slice(0, 8) })),
    el("span", { text: "Directory " + (a.workingDirectory || "—") }),
    el("span", { class: "asked-by", text: "Asked by " + a.agentId + (state.owners.get(a.sessionId) ? " in a session started by " + state.owners.get(a.sessionId) : "") }),
    el("span", { text: "Asked " + when(a.createdAt) }));
  card.append(meta);
  if (a.description) card.append(el("p", { class: "description", text: a.description }));
  const input = renderInput(a.toolName, a.toolInput);
  card.append(input);
  if (!decided && ["Edit", "MultiEdit", "Write"].includes(a.toolName)) showFileDiff(a, input);
  if (a.approvalsNeeded > 1) card.append(el("p", { class: "meta", text: `Needs ${a.approvalsNeeded} different approvers; yes so far: ${a.votes.map((v) => v.by).join(", ") || "none"}` }));
  const status = el("p", { class: "card-status", role: "status" });
  if (decided) {
    status.textContent = `${a.status} by ${a.decidedBy || "the deadline"} at ${when(a.decidedAt)}` + (a.reason ? ` — ${a.reason}` : "");
    card.append(status);
    if (state.refusals.has(a.id)) card.append(el("p", { class: "card-status error", role: "alert", text: "Your decision was refused: " + state.refusals.get(a.id) }));
    return card;
  }
  const cd = el("span", { class: "countdown", "data-expires": a.expiresAt });
  meta.append(cd);
  tick(cd);
  const reason = el("input", { class: "reason", type: "text", "aria-label": "Reason (optional)", placeholder: "Reason (optional)", maxlength: "1000",
    onkeydown: (e) => { if (e.key === "Escape") { reason.value = ""; card.querySelector("button.approve").focus(); } } });
  const may = state.me && ["approver", "admin"].includes(state.me.role);
  const actions = el("div", { class: "actions" }, reason,
    el("button", { type: "button", class: "approve", disabled: !may, onclick: () => decide(a, card, true) }, "Approve"),
    el("button", { type: "button", class: "deny", disabled: !may, onclick: () => decide(a, card, false) }, "Deny"),
    a.sessionRule ? el("button", { type: "button", class: "allow-session", disabled: !may, title: "Also allow " + a.sessionRule + " for the rest of the session", onclick: () => decide(a, card, true, "session") }, "Allow for session: " + a.sessionRule) : null);
  card.append(actions, status);
  if (state.refusals.has(a.id)) {
    status.textContent = "Your decision was refused: " + state.refusals.get(a.id);
    status.className = "card-status error";
    status.setAttribute("role", "alert");
  }
  return card;
}

function tick(cd) {
  const l = left(cd.dataset.expires);
  cd.textContent = l.text;
  cd.classList.toggle("soon", l.soon);
}

async function fullApproval(summary) {
  const cached = state.cards.get(summary.id);
  if (cached && cached.version === summary.version && cached.status === summary.status) return cached;
  const res = await api("GET", `/api/approvals/${summary.id}`);
  if (!res.ok) return summary;
  state.cards.set(summary.id, res.body);
  return res.body;
}

// One read of the inbox at a time: a change that arrives during a read is read once more
// after it, so an older answer never draws over a newer one.
async function refreshInbox() {
  if (state.inboxRun) { state.inboxAgain = true; return state.inboxRun; }
  state.inboxRun = (async () => {
    try {
      do { state.inboxAgain = false; await readInbox(); } while (state.inboxAgain);
    } finally { state.inboxRun = null; }
  })();
  return state.inboxRun;
}

// Who started each session an approval belongs to (read once per session).
async function learnOwners(approvals) {
  const unknown = [...new Set(approvals.map((a) => a.sessionId))].filter((id) => !state.owners.has(id));
  await Promise.all(unknown.map(async (id) => {
    const r = await api("GET", `/api/sessions/${encodeURIComponent(id)}`);
    state.owners.set(id, r.ok ? r.body.createdBy || "" : "");
  }));
}

async function readInbox() {
  // Oldest first from the server: with more waiting than one page, the oldest (closest
  // to their deadline) are the ones shown.
  const res = await api("GET", "/api/approvals?status=Pending&pageSize=100&order=oldest");
  if (!res.ok) { notice((res.body && res.body.message) || "Cannot read the approvals."); return; }
  const pending = res.body.items;
  document.getElementById("pending-count").textContent = String(res.body.total);
  const ids = new Set(pending.map((p) => p.id));
  // What was shown as Pending and is no longer: read it once to show who decided.
  for (const [id, a] of state.cards) {
    if (!ids.has(id) && a.status === "Pending") {
      const r = await api("GET", `/api/approvals/${id}`);
      if (r.ok) { state.cards.set(id, r.body); state.decided.set(id, r.body); }
    }
  }
  if (!state.inbox || !document.body.contains(state.inbox)) return;
  const full = await Promise.all(pending.map(fullApproval));
  await learnOwners(full);
  const list = el("div", { id: "pending" });
  if (full.length === 0) list.append(el("p", { class: "empty", text: "Nothing is waiting for a decision." }));
  if (res.body.total > full.length) list.append(el("p", { class: "meta", text: `The oldest ${full.length} of ${res.body.total} are shown; decide them to see the rest.` }));
  for (const a of full) {
    // Keep a card someone is typing a reason in, when nothing about it changed.
    const old = state.inbox.querySelector(`article[data-approval-id="${a.id}"]`);
    if (old && old.dataset.version === String(a.version) && !old.classList.contains("decided") && !state.refusals.has(a.id)) list.append(old);
    else list.append(approvalCard(a));
  }
  const decided = el("div", { id: "decided" });
  const recent = [...state.decided.values()].slice(-20).reverse();
  if (recent.length) decided.append(el("h2", { text: "Decided while this page was open" }));
  for (const a of recent) decided.append(approvalCard(a));
  const focused = document.activeElement;
  state.inbox.replaceChildren(el("h1", { text: "Waiting for a decision (oldest first)" }), list, decided);
  if (focused && state.inbox.contains(focused)) focused.focus();
}

function showInbox(main) {
  state.inbox = el("div", { id: "inbox" }, el("p", { text: "Loading…" }));
  main.replaceChildren(state.inbox);
  refreshInbox();
}

// ---- sessions -------------------------------------------------------------------------

async function showSessions(main) {
  const [res, agents] = await Promise.all([api("GET", "/api/sessions?pageSize=100"), api("GET", "/api/agents")]);
  const view = el("div", { id: "sessions" }, el("h1", { text: "Sessions" }));
  if (agents.ok) for (const a of agents.body) view.append(el("p", { class: "meta", text: `${a.id} ${a.version || ""}: ${a.liveProcesses} of ${a.maxProcesses} process slots in use, ${a.queued} waiting` }));
  if (!res.ok) { view.append(el("p", { class: "error", text: res.body.message })); main.replaceChildren(view); return; }
  const rows = res.body.items.map((s) => el("tr", { "data-session-id": s.id },
    el("td", {}, el("a", { href: "#/sessions/" + s.id, text: s.id.slice(0, 8) })),
    el("td", { text: s.status }), el("td", { text: usd(s.totalCostUsd) }), el("td", { text: String(s.turnCount) }),
    el("td", { class: "process", text: s.process ? (s.process.currentTurnId ? "running a turn" : "idle") : s.suspended ? "suspended" : "—" }),
    el("td", { class: "wide", text: s.workingDirectory }), el("td", { class: "wide", text: when(s.createdAt) })));
  view.append(el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, ["Session", "Status", "Cost", "Turns", "Process"].map((h) => el("th", { text: h })), el("th", { class: "wide", text: "Directory" }), el("th", { class: "wide", text: "Created" }))),
    el("tbody", {}, rows))));
  if (rows.length === 0) view.append(el("p", { text: "No sessions yet." }));
  main.replaceChildren(view);
}

function eventLine(e) {
  const d = e.data || {};
  const text = {
    assistant_text: d.text, thinking: d.text,
    tool_use: `${d.name} ${JSON.stringify(d.input)}`,
    tool_result: typeof d.content === "string" ? d.content : JSON.stringify(d.content),
    permission_request: `asks to use ${d.toolName}: ${JSON.stringify(d.input)}`,
    approval_requested: `approval ${d.approvalId} for ${d.toolName}`,
    approval_decided: `approval ${d.approvalId} ${d.status}`,
    turn_finished: `${d.status}${d.error ? ": " + d.error : ""}`,
    status_changed: `${d.status}${d.reason ? " (" + d.reason + ")" : ""}`,
    result: `${d.subtype} ${usd(d.costUsd)} in ${d.durationMs} ms`,
  }[e.type] ?? JSON.stringify(d);
  return el("li", { "data-type": e.type }, el("span", { class: "type", text: e.type }), String(text ?? ""));
}

async function sessionAction(id, method, path, body) {
  const res = await api(method, path, body);
  notice(res.ok ? "" : (res.body && res.body.message) || `Refused (${res.status}).`);
  await loadSession(id);
  return res;
}

async function loadSession(id) {
  const view = document.getElementById("session");
  if (!view) return;
  const [res, turns] = await Promise.all([api("GET", `/api/sessions/${id}`), api("GET", `/api/sessions/${id}/turns?pageSize=100`)]);
  if (!res.ok) { view.querySelector(".summary").replaceChildren(el("p", { class: "error", text: res.body.message })); return; }
  const s = res.body, p = res.body.process;
  view.querySelector(".summary").replaceChildren(
    el("div", { class: "meta" },
      el("span", { id: "session-status", text: "Status " + s.status }), el("span", { text: "Cost " + usd(s.totalCostUsd) + (s.budgetUsd ? " of " + usd(s.budgetUsd) : "") }),
      el("span", { text: `Turns ${s.turnCount}` + (s.turnBudget ? ` of ${s.turnBudget}` : "") }), el("span", { text: "Directory " + s.workingDirectory }),
      el("span", { text: p ? `Process ${p.pid ?? "?"}, idle ${p.idleSeconds} s` : res.body.suspended ? "Suspended (no process)" : "No process" })),
    s.lastError ? el("p", { class: "error", text: s.lastError }) : "");
  if (turns.ok) {
    view.querySelector(".turns").replaceChildren(el("table", {},
      el("thead", {}, el("tr", {}, ["#", "Status", "Cost", "Duration", "Prompt"].map((h) => el("th", { text: h })))),
      el("tbody", {}, turns.body.items.map((t) => el("tr", {}, el("td", { text: String(t.seq) }), el("td", { text: t.status }), el("td", { text: usd(t.costUsd) }),
        el("td", { text: t.durationMs === null || t.durationMs === undefined ? "—" : `${t.durationMs} ms` }), el("td", { text: t.prompt.slice(0, 200) }))))));
  }
}

function showSession(main, id) {
  const log = el("ul", { class: "events", id: "events", "aria-live": "polite", "aria-label": "Live events" });
  const prompt = el("textarea", { id: "prompt", "aria-label": "Prompt", placeholder: "Send the agent a message" });
  const send = async () => {
    if (!prompt.value.trim()) return;
    const res = await sessionAction(id, "POST", `/api/sessions/${id}/messages`, { prompt: prompt.value });
    if (res.ok) prompt.value = "";
  };
  prompt.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(); if (e.key === "Escape") prompt.blur(); });
  // A viewer sees the controls greyed out (the server would refuse them anyway).
  const may = !!state.me && state.me.role !== "viewer";
  const button = (label, method, path) => el("button", { type: "button", "data-action": label.toLowerCase(), disabled: !may, onclick: () => sessionAction(id, method, `/api/sessions/${id}${path}`) }, label);
  const view = el("div", { id: "session" },
    el("h1", { text: "Session " + id }), el("div", { class: "summary" }),
    el("div", { class: "actions" }, button("Pause", "POST", "/pause"), button("Resume", "POST", "/resume"), button("Interrupt", "POST", "/interrupt"), button("Close", "DELETE", "")),
    el("h2", { text: "Live events" }), log,
    el("div", { class: "actions" }, prompt, el("button", { type: "button", id: "send", disabled: !may, onclick: send }, "Send")),
    el("h2", { text: "Turns" }), el("div", { class: "turns table-wrap" }));
  main.replaceChildren(view);
  loadSession(id);
  const es = new EventSource(`/api/sessions/${id}/events`);
  state.sessionStream = es;
  const on = (ev) => {
    let e; try { e = JSON.parse(ev.data); } catch { return; }
    log.append(eventLine(e));
    log.scrollTop = log.scrollHeight;
    if (["turn_finished", "status_changed", "turn_started"].includes(e.type)) { loadSession(id); refreshHealthSoon(); }
  };
  for (const t of ["assistant_text", "thinking", "tool_use", "tool_result", "permission_request", "permission_denied", "result", "turn_started", "turn_finished", "status_changed", "approval_requested", "approval_decided", "agent_suspended", "agent_resumed", "init", "api_retry", "exited"]) es.addEventListener(t, on);
  es.addEventListener("error", () => { if (es.readyState === EventSource.CLOSED) log.append(el("li", { text: "The event stream ended." })); });
}

// ---- health strip ---------------------------------------------------------------------

// After a change: the strip is read again within a second (changes in a burst share one read).
let healthAt = 0, healthTimer = null;
function refreshHealthSoon() {
  if (healthTimer) return;
  healthTimer = setTimeout(() => { healthTimer = null; refreshHealth(); }, Math.max(0, 1000 - (Date.now() - healthAt)));
}

async function refreshHealth() {
  healthAt = Date.now();
  const strip = document.getElementById("health");
  const [ready, breaker, metrics, agents] = await Promise.all([
    fetch("/health/ready").then((r) => r.json()).catch(() => null),
    api("GET", "/api/diagnostics/circuit-breaker"), api("GET", "/api/diagnostics/metrics"), api("GET", "/api/agents")]);
  const pill = (id, text, good) => el("span", { class: "pill " + (good ? "ok" : "bad"), id, text });
  const db = ready && ready.checks ? ready.checks.find((c) => /database/i.test(c.name)) : null;
  const parts = [pill("health-db", "Database " + (db ? db.status : "unknown"), db && db.status === "Healthy")];
  if (breaker.ok) parts.push(pill("health-telegram", breaker.body.Enabled ? "Telegram breaker " + breaker.body.State : "Telegram off", !breaker.body.Enabled || breaker.body.State === "Closed"));
  if (agents.ok) {
    const live = agents.body.reduce((n, a) => n + a.liveProcesses, 0), max = agents.body.reduce((n, a) => n + a.maxProcesses, 0);
    parts.push(pill("health-slots", `Slots ${live} of ${max}`, live < max || max === 0));
  }
  if (metrics.ok) parts.push(pill("health-undelivered", `Undelivered ${metrics.body.NotificationsPending}`, metrics.body.NotificationsPending === 0));
  strip.replaceChildren(...parts);
}

// ---- routing and start ----------------------------------------------------------------

function route() {
  if (state.sessionStream) { state.sessionStream.close(); state.sessionStream = null; }
  if (state.me) refreshHealthSoon();
  const main = document.getElementById("main");
  const hash = location.hash || "#/approvals";
  const m = hash.match(/^#\/sessions\/([^/]+)$/);
  document.getElementById("nav-approvals").toggleAttribute("aria-current", false);
  document.getElementById("nav-sessions").toggleAttribute("aria-current", false);
  if (m) { document.getElementById("nav-sessions").setAttribute("aria-current", "page"); showSession(main, decodeURIComponent(m[1])); }
  else if (hash.startsWith("#/sessions")) { document.getElementById("nav-sessions").setAttribute("aria-current", "page"); showSessions(main); }
  else { document.getElementById("nav-approvals").setAttribute("aria-current", "page"); showInbox(main); }
}

async function start() {
  const me = await api("GET", "/api/me");
  if (!me.ok) { notice(me.body.message); return; }
  state.me = me.body;
  state.csrf = me.body.csrfToken || "";
  document.getElementById("who").textContent = `${me.body.name} (${me.body.role})`;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await fetch("/console/logout", { method: "POST", headers: { "X-CSRF-Token": state.csrf }, credentials: "same-origin" });
    location.assign("/console/login");
  });
  window.addEventListener("hashchange", route);
  route();
  refreshHealth();
  setInterval(refreshHealth, 5000);
  setInterval(() => document.querySelectorAll(".countdown").forEach(tick), 1000);
  // Live: the inbox stream says when something changed; the list is read again then.
  const es = new EventSource("/api/approvals/events");
  state.stream = es;
  const changed = () => { refreshInbox(); refreshHealthSoon(); };
  es.addEventListener("approval", changed);
  es.addEventListener("changed", changed);
  es.addEventListener("ready", changed);
  document.body.dataset.ready = "true";
}

start();
