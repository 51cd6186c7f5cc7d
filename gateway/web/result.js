'use strict';
/* The return page: polls the payment until the bank's answer is in, then shows the result with
 * the printable receipt, or the failure with a retry button. */
(function () {
  const $ = (id) => document.getElementById(id);
  const REASONS = {
    card_declined: 'Банк отклонил платёж. Проверьте данные карты или выберите другой способ.',
    payer_declined: 'Платёж отменён.',
    provider_unavailable: 'Банк не ответил. Деньги не списаны.',
    expired: 'Время на оплату истекло.',
  };
  const rub = (s) => {
    const [i, f] = s.split('.');
    return i.replace(/\B(?=(\d{3})+(?!\d))/g, '\u00a0') + ',' + f + '\u00a0₽';
  };
  const id = new URLSearchParams(location.search).get('id') || '';
  let polls = 0;

  function show(section) {
    $('progress').hidden = section !== 'progress';
    $('done').hidden = section !== 'done';
    $('failed').hidden = section !== 'failed';
  }

  async function poll() {
    polls++;
    let r = null, data = null;
    try {
      r = await fetch('/v1/payments/' + encodeURIComponent(id), { headers: { Accept: 'application/json' }, cache: 'no-store' });
      data = await r.json();
    } catch (e) {
      $('progress-text').textContent = 'Нет связи с сервером, пробуем снова…';
      setTimeout(poll, 3000);
      return;
    }
    if (r.status === 404) {
      $('title').textContent = 'Платёж не найден';
      show('none');
      $('error').textContent = 'Проверьте ссылку или начните оплату заново.';
      return;
    }
    if (r.status !== 200) { setTimeout(poll, 3000); return; }
    if (data.status === 'succeeded' || data.status === 'refunded') {
      $('title').textContent = 'Оплата прошла';
      $('summary').textContent = 'Зачислено ' + rub(data.amount) + '. Платёж № ' + data.number + '.';
      if (data.receipt) {
        $('receipt').href = data.receipt.url;
        $('receipt').textContent = 'Открыть чек № ' + data.receipt.number + ' для печати';
      } else {
        $('receipt').hidden = true;
      }
      show('done');
      return;
    }
    if (data.status === 'failed' || data.status === 'canceled') {
      $('title').textContent = 'Оплата не прошла';
      const code = (data.failure_reason || '').split(':')[0].trim();
      $('reason').textContent = REASONS[code] || 'Платёж не выполнен. Деньги не списаны.';
      show('failed');
      $('retry').focus();
      return;
    }
    if (polls > 80) {
      $('title').textContent = 'Платёж обрабатывается';
      $('progress-text').textContent = 'Банк ещё не подтвердил оплату. Чек придёт на email, когда платёж зачислится.';
      setTimeout(poll, 15000);
      return;
    }
    setTimeout(poll, polls < 10 ? 1000 : 2000);
  }

  $('retry').addEventListener('click', () => { location.assign('/pay?retry=1'); });
  if (!/^[0-9a-fA-F-]{36}$/.test(id)) {
    $('title').textContent = 'Платёж не найден';
    show('none');
    $('error').textContent = 'В ссылке нет номера платежа. Начните оплату заново.';
  } else {
    show('progress');
    poll();
  }
})();
