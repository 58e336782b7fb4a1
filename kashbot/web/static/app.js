// kashbot status page: polls the control endpoint with the operator's token and renders with
// textContent only (never innerHTML with data). The token lives in sessionStorage (this tab,
// until it closes) and travels only in the Authorization header, never in a URL.
"use strict";

const TOKEN_KEY = "kashbot.controlToken";
const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    const why = data && typeof data.error === "string" ? data.error : resp.statusText;
    const err = new Error(resp.status + " " + why);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fillTable(id, rows, width, emptyText) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(emptyText, "empty");
    td.colSpan = width;
    tr.appendChild(td);
    body.appendChild(tr);
    return;
  }
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c instanceof Node ? c : cell(c));
    body.appendChild(tr);
  }
}

function signClass(text) {
  return String(text).startsWith("-") ? "neg" : text === "0.00" ? "" : "pos";
}

function shortDecimal(text, places) {
  // display only, on the string (no float): "39.372526468..." -> "39.3725"
  const [whole, frac] = String(text).split(".");
  return frac === undefined ? whole : whole + "." + frac.slice(0, places);
}

function outcomeName(labels, market, outcome) {
  const names = labels[market];
  return names && names[outcome] !== undefined ? outcome + " " + names[outcome] : String(outcome);
}

function render(status, detail) {
  const state = String(detail.state || status.state || "unknown");
  const badge = $("state");
  badge.textContent = state;
  badge.className = "badge " + state;
  $("state-reason").textContent = detail.state_reason || "";
  $("halt").disabled = state === "HALTED";
  $("resume").disabled = state === "ACTIVE";
  // reducing exposure is always allowed, as with `kashbot reduce` (it lifts an operator halt)
  $("reduce").disabled = state === "REDUCING";

  const pnl = status.pnl_usdc || {};
  $("pnl").textContent = (pnl.total || "–") + " USDC";
  $("pnl").className = signClass(pnl.total || "");
  $("pnl-detail").textContent = "realized " + pnl.realized + ", unrealized " + pnl.unrealized;
  const used = status.spend_used_usdc, cap = status.spend_cap_usdc;
  $("spend").textContent = used === null ? "–" : used + " / " + cap + " USDC";
  const meter = $("spend-meter");
  meter.max = Number(cap) || 1;
  meter.value = Number(used) || 0;  // display only: the figures themselves are the server's
  $("requests").textContent =
    status.requests_used_last_minute === null ? "–"
      : status.requests_used_last_minute + " / " + status.requests_budget_per_minute;
  $("requests-detail").textContent =
    "limit " + status.requests_limit_per_minute + ", 429s " + status.quota_rejections;
  $("fills").textContent = String(status.fills);
  $("pending").textContent = status.pending_intents + " intents pending";

  const labels = detail.labels || {};
  fillTable("markets", (status.markets || []).map((m) => [
    m.market_id, m.chain, m.phase + (m.status ? " (" + m.status + ")" : ""),
    (m.pool || []).join(" / "), m.fair ? m.fair.join(" / ") : "–",
    m.age_s === null ? "–" : m.age_s + " s", (m.stale || []).join(", ") || "no",
  ]), 7, "no markets yet");

  const pnlOf = {};
  for (const p of detail.position_pnl || []) pnlOf[p.market_id + "/" + p.outcome] = p.pnl_usdc;
  fillTable("positions", (status.positions || []).map((p) => {
    const v = pnlOf[p.market_id + "/" + p.outcome];
    return [p.market_id, outcomeName(labels, p.market_id, p.outcome), shortDecimal(p.shares, 4), p.cost_usdc,
      p.value_usdc + (p.marked ? "" : " (at cost)"), cell(v, signClass(v || ""))];
  }), 6, "no open positions");

  fillTable("held", (detail.held_trades || []).map((t) => {
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "confirm";
    btn.textContent = "Confirm";
    btn.dataset.tradeId = t.trade_id;
    btn.addEventListener("click", () => confirmTrade(btn, t.trade_id));
    const td = document.createElement("td");
    td.appendChild(btn);
    return [t.trade_id, t.market_id, t.outcome_label ? t.outcome + " " + t.outcome_label : t.outcome,
      t.side, t.amount_usdc + " USDC", td];
  }), 6, "nothing held");

  fillTable("denials", (status.last_denials || []).slice().reverse().map((d) => [d[0], d[1], d[2]]),
    3, "no denials");
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function clearData() {
  for (const id of ["markets", "positions", "held", "denials"]) fillTable(id, [], 7, "–");
  $("state").textContent = "unknown";
  $("state").className = "badge";
  $("state-reason").textContent = "";
  $("updated").textContent = "";
}

let polling = false;
async function poll() {
  if (polling) return;
  if (!token()) {
    clearData();
    showError("Enter the control token (the daemon's control.token file) to see the status.");
    return;
  }
  polling = true;
  try {
    const [status, detail] = await Promise.all([api("GET", "/status"), api("GET", "/status/detail")]);
    render(status, detail);
    showError("");
  } catch (e) {
    if (e.status === 401) clearData();
    showError(e.status === 401 ? "Token refused (401): check the control token." : "Status: " + e.message);
  } finally {
    polling = false;
  }
}

async function act(name) {
  try {
    await api("POST", "/" + name, { reason: "operator via web page" });
    showError("");
  } catch (e) {
    showError(name + " failed: " + e.message);
  }
  poll();
}

async function confirmTrade(btn, tradeId) {
  btn.disabled = true;
  try {
    const r = await api("POST", "/confirm", { trade_id: tradeId });
    showError("");
    btn.textContent = String(r.status);
  } catch (e) {
    showError("confirm " + tradeId + " failed: " + e.message);
    btn.disabled = false;
  }
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token").value.trim();
    $("token").value = "";
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    poll();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    poll();
  });
  for (const name of ["halt", "reduce", "resume"]) $(name).addEventListener("click", () => act(name));
  poll();
  setInterval(poll, POLL_MS);
});
