'use strict';
/* The pay-without-login form: find the subscriber by contract or phone, then pay. Plain JS, no
 * build step. Every request that creates a payment carries an Idempotency-Key, so a double click
 * or a retry after a network error never pays twice. */
(function () {
  const $ = (id) => document.getElementById(id);
  const TITLES = { card: 'Банковская карта', sberpay: 'SberPay', yoomoney: 'ЮMoney', sbp: 'СБП — Система быстрых платежей' };
  const MESSAGES = {
    network: 'Нет связи с сервером. Проверьте интернет и попробуйте ещё раз.',
    unavailable: 'Сервис временно недоступен. Попробуйте через минуту.',
    not_found_contract: 'Договор не найден. Проверьте номер.',
    not_found_phone: 'Абонент с таким телефоном не найден. Попробуйте ввести номер договора.',
    ambiguous: 'На этот телефон оформлено несколько договоров — введите номер договора.',
    bad_who: 'Введите номер договора (9 цифр) или номер телефона.',
    closed: 'Договор расторгнут — пополнение невозможно. Обратитесь в офис обслуживания.',
    email: 'Введите email — на него придёт чек.',
    method: 'Выберите способ оплаты.',
    declined: 'Банк не принял платёж. Попробуйте ещё раз или выберите другой способ.',
  };
  const st = { kind: null, value: null, cfg: null, key: null, keyFor: null, busy: false, account: null };

  const digits = (s) => s.replace(/\D/g, '');
  const rub = (s) => {
    const neg = s.startsWith('-');
    const [i, f] = s.replace('-', '').split('.');
    return (neg ? '−' : '') + i.replace(/\B(?=(\d{3})+(?!\d))/g, '\u00a0') + ',' + (f || '00') + '\u00a0₽';
  };
  const plural = (n, one, few, many) => {
    const m10 = n % 10, m100 = n % 100;
    if (m10 === 1 && m100 !== 11) return one;
    if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
    return many;
  };

  function say(text) { $('status').textContent = text || ''; }
  function fail(text, field) {
    $('error').textContent = text || '';
    for (const id of ['who', 'amount', 'email']) $(id).removeAttribute('aria-invalid');
    if (field) { $(field).setAttribute('aria-invalid', 'true'); $(field).focus(); }
  }

  /* A phone if it looks like one (+, brackets, 10 digits from 9, 11 digits from 7/8); else a contract. */
  function detect(raw) {
    const t = raw.trim(), d = digits(t);
    if (t.startsWith('+') || /[()]/.test(t)) return 'phone';
    if (d.length === 11 && (d[0] === '7' || d[0] === '8')) return 'phone';
    if (d.length === 10 && d[0] === '9') return 'phone';
    return 'contract';
  }

  function formatWho(raw) {
    if (detect(raw) === 'phone') {
      let d = digits(raw);
      if (d.length > 10 && (d[0] === '7' || d[0] === '8')) d = d.slice(1);
      else if (raw.trim().startsWith('+7') || raw.trim().startsWith('8')) d = d.slice(1);
      d = d.slice(0, 10);
      let out = '+7';
      if (d.length) out += ' (' + d.slice(0, 3);
      if (d.length >= 3) out += ')';
      if (d.length > 3) out += ' ' + d.slice(3, 6);
      if (d.length > 6) out += '-' + d.slice(6, 8);
      if (d.length > 8) out += '-' + d.slice(8, 10);
      return out;
    }
    return digits(raw).slice(0, 12).replace(/(\d{3})(?=\d)/g, '$1 ');
  }

  async function api(method, path, body, headers) {
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers: Object.assign({ Accept: 'application/json' }, body ? { 'Content-Type': 'application/json' } : {}, headers || {}),
        body: body ? JSON.stringify(body) : undefined,
        cache: 'no-store',
      });
    } catch (e) {
      return { status: 0, data: null, headers: new Headers() };
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    return { status: resp.status, data, headers: resp.headers };
  }

  function errorCode(r) { return r.data && r.data.error ? r.data.error.code : ''; }

  function commonFailure(r) {
    if (r.status === 0) return MESSAGES.network;
    if (r.status === 429) {
      const s = parseInt(r.headers.get('Retry-After') || '5', 10);
      return 'Слишком много попыток. Подождите ' + s + ' ' + plural(s, 'секунду', 'секунды', 'секунд') + ' и попробуйте снова.';
    }
    if (r.status >= 500) return MESSAGES.unavailable;
    return null;
  }

  function resetAccount() {
    st.account = null;
    $('account').hidden = true;
    $('pay').hidden = true;
    $('account-note').hidden = true;
  }

  async function lookup(ev) {
    if (ev) ev.preventDefault();
    if (st.busy) return;
    fail('');
    resetAccount();
    const raw = $('who').value;
    const kind = detect(raw);
    const d = digits(raw);
    const ok = kind === 'phone' ? (d.length === 10 || (d.length === 11 && '78'.includes(d[0]))) : d.length >= 5 && d.length <= 12;
    if (!ok) { fail(MESSAGES.bad_who, 'who'); return; }
    st.kind = kind;
    st.value = kind === 'phone' ? '+7' + d.slice(-10) : d;
    st.busy = true;
    $('find').disabled = true;
    say('Ищем абонента…');
    const r = await api('GET', '/v1/accounts/lookup?' + new URLSearchParams({ [kind]: st.value }));
    st.busy = false;
    $('find').disabled = false;
    say('');
    const common = commonFailure(r);
    if (common) { fail(common); return; }
    if (r.status === 404) { fail(kind === 'phone' ? MESSAGES.not_found_phone : MESSAGES.not_found_contract, 'who'); return; }
    if (r.status === 409) { fail(MESSAGES.ambiguous, 'who'); return; }
    if (r.status !== 200) {
      fail(errorCode(r) === 'invalid_phone' ? 'Проверьте номер телефона: +7 и 10 цифр.' : MESSAGES.bad_who, 'who');
      return;
    }
    showAccount(r.data);
  }

  function showAccount(a) {
    st.account = a;
    $('holder').textContent = a.holder || '—';
    $('contract').textContent = a.contract;
    $('balance').textContent = rub(a.balance);
    $('fee').textContent = rub(a.monthly_fee) + ' в месяц';
    $('days').textContent = a.days_left === null ? '—' :
      a.days_left + ' ' + plural(a.days_left, 'день', 'дня', 'дней');
    $('account').hidden = false;
    if (a.message) { $('account-note').textContent = a.message; $('account-note').hidden = false; }
    if (!a.payable) { fail(MESSAGES.closed); return; }
    const preset = st.presetAmount;
    st.presetAmount = null;
    $('amount').value = (preset || a.recommended_amount).replace('.', ',');
    $('pay').hidden = false;
    say('Абонент найден. Рекомендуемая сумма — ' + rub(a.recommended_amount) + '.');
    $('amount').focus();
  }

  function parseAmount(s) {
    const t = s.trim().replace(/\s/g, '').replace(',', '.');
    if (!/^(0|[1-9]\d{0,8})(\.\d{1,2})?$/.test(t)) return null;
    const [i, f] = t.split('.');
    return i + '.' + ((f || '') + '00').slice(0, 2);
  }
  const kop = (s) => { const [i, f] = s.split('.'); return parseInt(i, 10) * 100 + parseInt(f, 10); };

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  async function pay(ev) {
    ev.preventDefault();
    if (st.busy) return;                 /* a double click lands here and does nothing */
    fail('');
    const amount = parseAmount($('amount').value);
    const min = st.cfg ? st.cfg.amount_min : '1.00', max = st.cfg ? st.cfg.amount_max : '100000.00';
    if (!amount) { fail('Введите сумму в рублях, например 500 или 450,50.', 'amount'); return; }
    if (kop(amount) < kop(min) || kop(amount) > kop(max)) {
      fail('Сумма должна быть от ' + rub(min) + ' до ' + rub(max) + '.', 'amount');
      return;
    }
    const m = document.querySelector('input[name=method]:checked');
    if (!m) { fail(MESSAGES.method); return; }
    const email = $('email').value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(email)) { fail(MESSAGES.email, 'email'); return; }
    if ($('remember').checked) localStorage.setItem('pay.email', email); else localStorage.removeItem('pay.email');

    const body = {
      account: { [st.kind]: st.value }, amount, method: m.value, email,
      return_url: location.origin + '/pay/result',
    };
    const sig = JSON.stringify(body);
    if (st.keyFor !== sig) { st.key = newKey(); st.keyFor = sig; }
    st.busy = true;
    $('go').disabled = true;
    say('Создаём платёж…');
    let r;
    for (let attempt = 0; attempt < 4; attempt++) {
      r = await api('POST', '/v1/payments', body, { 'Idempotency-Key': st.key });
      if (!(r.status === 409 && errorCode(r) === 'idempotency_in_progress')) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    if (r.status === 201 && r.data && r.data.confirmation_url) {
      sessionStorage.setItem('pay.last', JSON.stringify({ kind: st.kind, value: st.value, amount, method: m.value }));
      say('Переходим к оплате…');
      location.assign(r.data.confirmation_url);
      return;
    }
    st.busy = false;
    $('go').disabled = false;
    say('');
    const code = errorCode(r);
    if (r.status === 502) { st.keyFor = null; fail(MESSAGES.declined); return; }
    const common = commonFailure(r);
    if (common) { fail(common); return; }
    if (code === 'amount_out_of_range' || code === 'invalid_amount') { fail('Сумма должна быть от ' + rub(min) + ' до ' + rub(max) + '.', 'amount'); return; }
    if (code === 'invalid_email') { fail(MESSAGES.email, 'email'); return; }
    if (code === 'account_not_found') { fail(MESSAGES.not_found_contract, 'who'); return; }
    if (code === 'account_closed') { fail(MESSAGES.closed); return; }
    if (code === 'method_unavailable') { fail('Этот способ оплаты сейчас недоступен. Выберите другой.'); return; }
    fail(r.data && r.data.error ? r.data.error.message : MESSAGES.unavailable);
  }

  async function loadMethods() {
    const r = await api('GET', '/v1/payment-methods');
    const box = $('methods');
    if (r.status !== 200 || !r.data || !r.data.methods.length) {
      fail(r.status === 0 ? MESSAGES.network : 'Оплата онлайн временно недоступна.');
      return;
    }
    st.cfg = r.data;
    r.data.methods.forEach((m, i) => {
      const label = document.createElement('label');
      label.className = 'method';
      const input = document.createElement('input');
      Object.assign(input, { type: 'radio', name: 'method', value: m, checked: i === 0, id: 'method-' + m });
      label.append(input, document.createTextNode(TITLES[m] || m));
      box.append(label);
    });
    $('amount-hint').textContent = 'От ' + rub(r.data.amount_min) + ' до ' + rub(r.data.amount_max) + '. Можно с копейками.';
  }

  function init() {
    $('who').addEventListener('input', (e) => {
      const v = e.target.value;
      if (e.inputType && e.inputType.startsWith('delete')) return;   /* let people erase freely */
      e.target.value = formatWho(v);
      resetAccount();
    });
    $('lookup').addEventListener('submit', lookup);
    $('pay').addEventListener('submit', pay);
    $('change').addEventListener('click', () => { resetAccount(); $('who').value = ''; $('who').focus(); });
    const saved = localStorage.getItem('pay.email');
    if (saved) { $('email').value = saved; $('remember').checked = true; }

    const q = new URLSearchParams(location.search);
    let who = q.get('contract') || q.get('phone');
    let amount = q.get('amount') && parseAmount(q.get('amount'));
    if (q.get('retry')) {
      try {
        const last = JSON.parse(sessionStorage.getItem('pay.last') || 'null');
        if (last) { who = last.value; amount = last.amount; st.presetMethod = last.method; }
      } catch (e) { /* nothing to restore */ }
    }
    loadMethods().then(() => {
      if (st.presetMethod) { const m = $('method-' + st.presetMethod); if (m) m.checked = true; }
      if (who) {
        $('who').value = formatWho(who);
        st.presetAmount = amount || null;
        lookup();
      } else {
        $('who').focus();
      }
    });
  }
  init();
})();
