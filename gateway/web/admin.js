// The operator's console: one page, views chosen by the address's #fragment. Everything shown comes
// from /admin/api/* (JSON) and is written as text (never as HTML). The server checks the session, the
// role and the CSRF token of every request; what this page hides is a convenience, not a guard.
"use strict";

const $ = (id) => document.getElementById(id);
let me = null;

function say(text, isError) {
  $("error").textContent = isError ? text : "";
  $("status").textContent = isError ? "" : text;
}

async function api(method, path, body, headers) {
  const h = Object.assign({ Accept: "application/json" }, headers || {});
  if (method !== "GET") h["X-CSRF-Token"] = me ? me.csrf : "";
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
                                  credentials: "same-origin" });
  if (res.status === 401) {
    location.href = "/admin/login";
    throw new Error("сессия закончилась");
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = new Error((data.error && data.error.message) || "ошибка " + res.status);
    e.status = res.status;
    throw e;
  }
  return data;
}

function csvOf(columns, rows) {
  const q = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return [columns.map((c) => q(c[1])).join(",")]
    .concat(rows.map((r) => columns.map((c) => q(r[c[0]])).join(","))).join("\r\n") + "\r\n";
}

// Renders rows into a table under el; columns: [[key, title, (row) => text or Node]]. A CSV button
// downloads what is shown.
function table(el, columns, rows, name) {
  el.textContent = "";
  if (!rows.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "Ничего нет.";
    el.appendChild(p);
    return;
  }
  const tools = document.createElement("div");
  tools.className = "tools";
  const dl = document.createElement("button");
  dl.type = "button";
  dl.className = "link";
  dl.textContent = "Скачать CSV";
  dl.addEventListener("click", () => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob(["\ufeff" + csvOf(columns, rows)], { type: "text/csv" }));
    a.download = name + ".csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
  });
  tools.appendChild(dl);
  el.appendChild(tools);
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const c of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = c[1];
    head.appendChild(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const c of columns) {
      const td = tr.insertCell();
      const v = c[2] ? c[2](r) : r[c[0]];
      if (v instanceof Node) td.appendChild(v);
      else td.textContent = v === null || v === undefined ? "" : String(v);
      if (c[3]) td.className = c[3];
    }
  }
  el.appendChild(t);
}

function link(text, href) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function facts(el, pairs) {
  el.textContent = "";
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    if (v instanceof Node) dd.appendChild(v);
    else dd.textContent = String(v);
    el.append(dt, dd);
  }
}

function can(perm) {
  return me && me.permissions.indexOf(perm) >= 0;
}

function show(view) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== "view-" + view;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// ---- views ------------------------------------------------------------------------------------

async function overview() {
  show("overview");
  const d = await api("GET", "/admin/api/overview");
  const period = { today: "сегодня", month: "месяц" };
  table($("totals"), [["period", "Период", (r) => period[r.period] || r.period], ["channel", "Канал"],
                      ["method", "Способ"], ["payments", "Платежей"], ["amount", "Сумма, ₽"]], d.totals, "totals");
  table($("pending"), [["number", "Платёж", (r) => link(String(r.number), "#payment/" + r.payment_id)],
                       ["status", "Статус"], ["adapter", "Провайдер"], ["amount", "Сумма, ₽"],
                       ["created_at", "Создан"], ["minutes", "Минут"]], d.pending, "pending");
  table($("failing"), [["number", "Квитанция"], ["payment_id", "Платёж", (r) => link("открыть", "#payment/" + r.payment_id)],
                       ["state", "Состояние"], ["attempts", "Попыток"], ["last_error", "Ошибка", null, "wrap"]],
        d.receipts_failing, "receipts_failing");
  const why = { credentials: "неверный пароль", network: "чужая сеть", signature: "неверная подпись",
                timestamp: "устаревшее время", protocol: "не тот протокол", disabled: "отключён",
                throttled: "слишком много ошибок" };
  table($("refused"), [["partner", "Партнёр"], ["day", "День"], ["reason", "Причина", (r) => why[r.reason] || r.reason],
                       ["refused", "Отказов"], ["last_at", "Последний"]], d.partners_refused, "partners_refused");
}

function searchQuery(form) {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
  return p;
}

async function search(params) {
  show("search");
  const form = $("search-form");
  for (const el of form.elements) if (el.name) el.value = params.get(el.name) || "";
  $("search-csv").href = "/admin/api/payments?" + params + (String(params) ? "&" : "") + "format=csv";
  const d = await api("GET", "/admin/api/payments?" + params);
  table($("results"), [
    ["number", "Платёж", (r) => link(String(r.number), "#payment/" + r.payment_id)], ["created_at", "Создан"],
    ["contract", "Договор"], ["phone", "Телефон"], ["amount", "Сумма, ₽"], ["refunded", "Возвращено"],
    ["channel", "Канал"], ["method", "Способ"], ["partner", "Партнёр"], ["provider_txn_id", "Транзакция"],
    ["status", "Статус"], ["receipt_number", "Квитанция"], ["receipt_state", "Отправка"]], d.rows, "payments");
  say(d.rows.length ? "Найдено: " + d.rows.length : "Ничего не найдено.", false);
}

let current = null;

async function payment(id) {
  show("payment");
  const d = await api("GET", "/admin/api/payments/" + encodeURIComponent(id));
  current = d;
  const p = d.payment, a = d.account, r = d.receipt;
  $("payment-title").textContent = "Платёж № " + p.number;
  facts($("payment-info"), [["Статус", p.status], ["Сумма", p.amount + " ₽"], ["Возвращено", p.refunded + " ₽"],
                            ["Канал", p.channel], ["Способ", p.method], ["Провайдер", p.adapter], ["Партнёр", p.partner],
                            ["Транзакция", p.provider_txn_id], ["Создан", p.created_at], ["Оплачен", p.paid_at],
                            ["Ошибка", p.failure_reason], ["E-mail плательщика", p.payer_email], ["id", p.id]]);
  facts($("account-info"), [["Договор", a.contract], ["Абонент", a.holder_name], ["Состояние", a.status],
                            ["Баланс", a.balance + " ₽"], ["Телефон", a.phone], ["E-mail", a.email]]);
  if (r) {
    facts($("receipt-info"), [["Номер", r.number], ["Отправка", r.state], ["Попыток", r.attempts], ["Отправлена", r.sent_at],
                              ["Адрес", r.email], ["Ошибка", r.last_error], ["Квитанция", link("открыть", r.url)]]);
  } else {
    facts($("receipt-info"), [["Квитанция", "нет (платёж не проведён)"]]);
  }
  $("resend-form").hidden = !(r && can("resend"));
  $("refund-box").hidden = !(can("refund") && (p.status === "succeeded" || p.status === "refunded") &&
                             p.refundable !== "0.00");
  $("refund-confirm").hidden = true;
  table($("timeline"), [["at", "Время"], ["kind", "Что"], ["what", "Событие", null, "wrap"], ["source", "Источник"],
                        ["note", "Подробности", null, "wrap"]], d.timeline, "payment-" + p.number);
}

async function audit(params) {
  show("audit");
  const form = $("audit-form");
  for (const el of form.elements) if (el.name) el.value = params.get(el.name) || "";
  $("audit-csv").href = "/admin/api/audit?" + params + (String(params) ? "&" : "") + "format=csv";
  const d = await api("GET", "/admin/api/audit?" + params);
  table($("audit-rows"), [["at", "Время"], ["login", "Кто"], ["role", "Роль"], ["address", "Адрес"], ["action", "Действие"],
                          ["object", "Объект"], ["details", "Подробности", null, "wrap"]], d.rows, "audit");
}

function actionButton(text, handler) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link";
  b.textContent = text;
  b.addEventListener("click", handler);
  return b;
}

function actions(list) {
  const span = document.createElement("span");
  span.className = "row-actions";
  for (const [text, handler] of list) span.appendChild(actionButton(text, handler));
  return span;
}

async function partnerAction(name, op) {
  const word = { disable: "Отключить", enable: "Включить", rotate: "Выдать новые учётные данные" }[op];
  if (!confirm(word + " — партнёр " + name + "?")) return;
  try {
    const r = await api("POST", "/admin/api/partners/" + encodeURIComponent(name) + "/" + op, {});
    await partners();
    if (op === "rotate") showSecret(r);
    say("Партнёр " + name + ": " + (op === "rotate" ? "новые учётные данные выданы" : r.state) + ".", false);
  } catch (e) {
    say(e.message, true);
  }
}

function showSecret(r) {
  facts($("secret-info"), [["Партнёр", r.name], ["Протокол", r.protocol], ["Логин", r.login], ["Пароль", r.password],
                           ["HMAC-секрет", r.hmac_secret]]);
  $("secret-box").hidden = false;
}

async function partners() {
  show("partners");
  const d = await api("GET", "/admin/api/partners");
  const cols = [["name", "Имя"], ["protocol", "Протокол"], ["login", "Логин"], ["state", "Состояние"], ["min", "Мин., ₽"],
                ["max", "Макс., ₽"], ["networks", "Сети"], ["created", "Создан"]];
  if (can("partners"))
    cols.push(["", "Действия", (r) => actions([[r.state === "active" ? "отключить" : "включить",
                                                 () => partnerAction(r.name, r.state === "active" ? "disable" : "enable")],
                                                ["новый пароль", () => partnerAction(r.name, "rotate")]])]);
  table($("partner-rows"), cols, d.rows, "partners");
  for (const sel of [$("registry-partner"), $("reconcile-partner")]) {
    sel.textContent = "";
    for (const r of d.rows) {
      const o = document.createElement("option");
      o.value = o.textContent = r.name;
      sel.appendChild(o);
    }
  }
  if (!$("registry-date").value) $("registry-date").value = new Date().toISOString().slice(0, 10);
  $("partner-form").hidden = !can("partners");
}

async function staffAction(login, op) {
  const word = { disable: "Отключить", enable: "Включить", reset: "Сбросить пароль" }[op];
  if (!confirm(word + " — " + login + "?")) return;
  try {
    const r = await api("POST", "/admin/api/staff/" + encodeURIComponent(login) + "/" + op, {});
    await staff();
    if (r.password) showPassword(r);
    say(login + ": " + (r.state || "пароль сброшен") + ".", false);
  } catch (e) {
    say(e.message, true);
  }
}

function showPassword(r) {
  facts($("password-info"), [["Логин", r.login], ["Пароль", r.password]]);
  $("password-box").hidden = false;
}

async function staff() {
  show("staff");
  const d = await api("GET", "/admin/api/staff");
  table($("staff-rows"), [["login", "Логин"], ["role", "Роль"], ["state", "Состояние"], ["created", "Создан"],
                          ["last_login", "Последний вход"],
                          ["", "Действия", (r) => actions([[r.state === "active" ? "отключить" : "включить",
                                                            () => staffAction(r.login, r.state === "active" ? "disable" : "enable")],
                                                           ["сбросить пароль", () => staffAction(r.login, "reset")]])]],
        d.rows, "staff");
}

async function route() {
  say("", false);
  const h = location.hash.replace(/^#/, "");
  const [view, rest] = [h.split(/[/?]/)[0], h.slice(h.split(/[/?]/)[0].length + 1)];
  try {
    if (view === "payment" && rest) await payment(decodeURIComponent(rest));
    else if (view === "search") await search(new URLSearchParams(rest));
    else if (view === "audit" && can("audit")) await audit(new URLSearchParams(rest));
    else if (view === "partners" && can("registry")) await partners();
    else if (view === "staff" && can("staff")) await staff();
    else await overview();
  } catch (e) {
    say(e.message, true);
  }
}

// ---- actions ----------------------------------------------------------------------------------

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  location.hash = "search?" + searchQuery(ev.target);
});

$("audit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  location.hash = "audit?" + searchQuery(ev.target);
});

$("resend-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const email = $("resend-email").value.trim();
  const btn = ev.target.querySelector("button");
  btn.disabled = true;
  try {
    const r = await api("POST", "/admin/api/receipts/" + encodeURIComponent(current.receipt.number) + "/resend",
                        email ? { email } : {});
    say("Квитанция " + r.number + " поставлена в очередь на отправку" + (email ? " на " + email : "") + ".", false);
  } catch (e) {
    say(e.message, true);
  } finally {
    btn.disabled = false;
  }
});

let refundKey = null;

$("refund-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const amount = $("refund-amount").value.trim().replace(",", ".");
  if (amount && !/^\d{1,9}(\.\d{1,2})?$/.test(amount)) {
    say("Сумма — рубли и копейки, например 150.00", true);
    return;
  }
  if ($("refund-reason").value.trim().length < 3) {
    say("Укажите причину возврата.", true);
    return;
  }
  refundKey = "console-" + crypto.randomUUID();
  $("refund-confirm-text").textContent = "Вернуть " + (amount || current.payment.refundable) + " ₽ по платежу № " +
    current.payment.number + " (договор " + current.account.contract + ")?";
  $("refund-confirm").hidden = false;
  $("refund-yes").focus();
});

$("refund-no").addEventListener("click", () => {
  $("refund-confirm").hidden = true;
  refundKey = null;
});

$("refund-yes").addEventListener("click", async () => {
  const amount = $("refund-amount").value.trim().replace(",", ".");
  const body = { reason: $("refund-reason").value.trim() };
  if (amount) body.amount = /\./.test(amount) ? amount : amount + ".00";
  $("refund-yes").disabled = true;
  try {
    const r = await api("POST", "/admin/api/payments/" + current.payment.id + "/refunds", body,
                        { "Idempotency-Key": refundKey });
    await payment(current.payment.id);
    say("Возврат " + (r.amount || "") + " ₽: " + (r.status || "принят") + ".", false);
    $("refund-amount").value = "";
    $("refund-reason").value = "";
  } catch (e) {
    say(e.message, true);
  } finally {
    $("refund-yes").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await fetch("/admin/logout", { method: "POST", headers: { "X-CSRF-Token": me.csrf }, credentials: "same-origin" });
  } finally {
    location.href = "/admin/login";
  }
});

$("registry-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const p = new URLSearchParams({ partner: $("registry-partner").value, date: $("registry-date").value });
  location.href = "/admin/api/registries?" + p;          // a CSV file: the browser downloads it
});

$("reconcile-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("reconcile-file").files[0];
  if (!file) return;
  const p = new URLSearchParams({ partner: $("reconcile-partner").value });
  if ($("reconcile-date").value) p.set("date", $("reconcile-date").value);
  const btn = ev.target.querySelector("button");
  btn.disabled = true;
  try {
    const res = await fetch("/admin/api/reconcile?" + p, {
      method: "POST", credentials: "same-origin", body: await file.text(),
      headers: { "Content-Type": "text/csv", "X-CSRF-Token": me.csrf, Accept: "application/json" } });
    const d = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((d.error && d.error.message) || "ошибка " + res.status);
    const s = d.summary;
    $("reconcile-summary").textContent = "У партнёра " + s.theirs + " платежей на " + s.their_total + " ₽, у нас " +
      s.ours + " на " + s.our_total + " ₽; совпало " + s.matched + ", расхождений " + s.problems + ".";
    $("reconcile-summary").hidden = false;
    $("reconcile-rows").hidden = false;
    table($("reconcile-rows"), [["problem", "Расхождение"], ["partner_txn_id", "Транзакция партнёра"], ["our_id", "Наш номер"],
                                ["account", "Договор"], ["their_amount", "У партнёра, ₽"], ["our_amount", "У нас, ₽"],
                                ["detail", "Подробности", null, "wrap"]], d.problems, "reconcile-" + d.partner);
  } catch (e) {
    say(e.message, true);
  } finally {
    btn.disabled = false;
  }
});

$("partner-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { name: f.get("name").trim(), protocol: f.get("protocol") };
  const nets = f.get("networks").trim();
  if (nets) body.networks = nets.split(/[\s,]+/);
  for (const k of ["min", "max"]) {
    const v = f.get(k).trim().replace(",", ".");
    if (v) body[k] = /\./.test(v) ? v : v + ".00";
  }
  try {
    const r = await api("POST", "/admin/api/partners", body);
    ev.target.reset();
    await partners();
    showSecret(r);
    say("Партнёр " + r.name + " добавлен.", false);
  } catch (e) {
    say(e.message, true);
  }
});

$("staff-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const r = await api("POST", "/admin/api/staff", { login: f.get("login").trim(), role: f.get("role") });
    ev.target.reset();
    await staff();
    showPassword(r);
    say("Сотрудник " + r.login + " добавлен.", false);
  } catch (e) {
    say(e.message, true);
  }
});

window.addEventListener("hashchange", route);

(async () => {
  try {
    me = await api("GET", "/admin/api/me");
  } catch (e) {
    say(e.message, true);
    return;
  }
  $("me").textContent = me.login + " (" + me.role + ")";
  for (const el of document.querySelectorAll("nav [data-perm]")) el.hidden = !can(el.dataset.perm);
  route();
})();
