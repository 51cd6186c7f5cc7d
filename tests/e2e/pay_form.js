// End-to-end tests of the pay form in Debian's Chromium, driven by playwright-core.
// usage: node tests/e2e/pay_form.js BASE_URL SCREENSHOT_DIR   (prints TAP; run by test_e2e.py,
// which starts PostgreSQL and gatewayd and checks the database after each scenario)
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'node_modules', 'playwright-core'));

const BASE = process.argv[2];
const SHOTS = process.argv[3];
const { FLAGS, check, runner } = require(path.join(__dirname, 'tap.js'));
const t = runner(SHOTS, '');
const { shot, scenario } = t;
const results = {};

async function findAccount(page, who, name) {
  await page.goto(BASE + '/pay');
  await page.fill('#who', who);
  await shot(page, name + '-1-typed');
  await page.click('#find');
}

async function payOnSandbox(page, card, name) {
  await page.waitForURL(/\/sandbox\/pay/);
  await shot(page, name + '-3-bank-page');
  await page.fill('#card', card);
  await page.fill('#exp', '12/39');
  await page.fill('#cvc', '123');
  await Promise.all([page.waitForURL(/\/pay\/result/), page.click('button[type=submit]')]);
}

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS, headless: true });

  await scenario('pay_by_contract_with_sandbox_card', async (page, name) => {
    await findAccount(page, '12345', name);
    await page.waitForSelector('#pay:not([hidden])');
    check((await page.textContent('#holder')) === 'И****в И**н И******ч', 'masked holder shown');
    check((await page.inputValue('#amount')) !== '', 'recommended amount pre-filled');
    check((await page.textContent('#days')).match(/\d+ (день|дня|дней)/), 'days left shown');
    await page.fill('#amount', '500');
    await page.fill('#email', 'e2e@example.com');
    await page.check('#remember');
    await shot(page, name + '-2-form');
    await page.click('#go');
    await payOnSandbox(page, '4111 1111 1111 1111', name);
    await page.waitForSelector('#done:not([hidden])', { timeout: 15000 });
    await shot(page, name + '-4-result');
    check((await page.textContent('#title')) === 'Оплата прошла', 'success title');
    check((await page.textContent('#summary')).includes('500,00'), 'amount in summary');
    const href = await page.getAttribute('#receipt', 'href');
    check(/\/v1\/receipts\/[0-9a-f]{32,}$/.test(href), 'receipt link ' + href);
    results.contract_payment = new URL(page.url()).searchParams.get('id');
    // the receipt link opens the printable receipt
    const [receipt] = await Promise.all([page.context().waitForEvent('page'), page.click('#receipt')]);
    await receipt.waitForLoadState();
    check((await receipt.textContent('h1')) === 'Квитанция об оплате', 'printable receipt page');
    check((await receipt.textContent('body')).includes('500,00'), 'receipt shows the amount');
    await shot(receipt, name + '-5-receipt');
    await receipt.close();
    // the email is remembered on this device
    await page.goto(BASE + '/pay');
    check((await page.inputValue('#email')) === 'e2e@example.com', 'email remembered');
  }, browser);

  await scenario('pay_by_phone_formatted_as_typed', async (page, name) => {
    await page.goto(BASE + '/pay');
    await page.type('#who', '89131234567');
    check((await page.inputValue('#who')) === '+7 (913) 123-45-67', 'phone formatted: ' + await page.inputValue('#who'));
    await shot(page, name + '-1-typed');
    await page.click('#find');
    await page.waitForSelector('#pay:not([hidden])');
    await page.fill('#amount', '250,50');
    await page.fill('#email', 'phone@example.com');
    await shot(page, name + '-2-form');
    await page.click('#go');
    await payOnSandbox(page, '4111111111111111', name);
    await page.waitForSelector('#done:not([hidden])', { timeout: 15000 });
    await shot(page, name + '-4-result');
    check((await page.textContent('#summary')).includes('250,50'), 'amount with kopecks');
    results.phone_payment = new URL(page.url()).searchParams.get('id');
  }, browser);

  await scenario('declined_card_shows_failure_and_retry', async (page, name) => {
    await findAccount(page, '700000001', name);
    await page.waitForSelector('#pay:not([hidden])');
    await page.fill('#amount', '300');
    await page.fill('#email', 'declined@example.com');
    await page.click('#go');
    await payOnSandbox(page, '4000 0000 0000 0002', name);
    await page.waitForSelector('#failed:not([hidden])', { timeout: 15000 });
    await shot(page, name + '-4-result');
    check((await page.textContent('#title')) === 'Оплата не прошла', 'failure title');
    check((await page.textContent('#reason')).includes('Банк отклонил'), 'reason shown');
    results.declined_payment = new URL(page.url()).searchParams.get('id');
    await page.click('#retry');
    await page.waitForSelector('#pay:not([hidden])');
    check((await page.inputValue('#amount')) === '300,00', 'retry restores the amount: ' + await page.inputValue('#amount'));
    await shot(page, name + '-5-retry');
  }, browser);

  await scenario('unknown_contract_is_announced', async (page, name) => {
    await findAccount(page, '999 999 999', name);
    await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
    await shot(page, name + '-2-error');
    check((await page.textContent('#error')).includes('Договор не найден'), 'not found message');
    check((await page.getAttribute('#error', 'role')) === 'alert', 'error is announced');
    check((await page.getAttribute('#who', 'aria-invalid')) === 'true', 'field marked invalid');
    check(await page.isHidden('#pay'), 'no pay form');
  }, browser);

  await scenario('amount_out_of_limits_is_explained', async (page, name) => {
    await findAccount(page, '12345', name);
    await page.waitForSelector('#pay:not([hidden])');
    await page.fill('#amount', '250000');
    await page.fill('#email', 'a@example.com');
    await page.click('#go');
    await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
    await shot(page, name + '-2-error');
    check((await page.textContent('#error')).includes('Сумма должна быть от'), 'limits message');
    check(page.url().includes('/pay'), 'stayed on the form');
  }, browser);

  await scenario('double_click_pays_once', async (page, name) => {
    await findAccount(page, '700000002', name);
    await page.waitForSelector('#pay:not([hidden])');
    await page.fill('#amount', '123');
    await page.fill('#email', 'double@example.com');
    // a real double click with the mouse, then two more submits in the same tick
    const box = await page.locator('#go').boundingBox();
    await Promise.all([
      page.waitForURL(/\/sandbox\/pay/),
      (async () => {
        await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
        await page.evaluate(() => { const f = document.getElementById('pay'); f.requestSubmit(); f.requestSubmit(); })
          .catch(() => { /* the page may already be navigating */ });
      })(),
    ]);
    await shot(page, name + '-3-bank-page');
  }, browser);

  await scenario('deep_link_prefills_the_form', async (page, name) => {
    await page.goto(BASE + '/pay?contract=12345&amount=777');
    await page.waitForSelector('#pay:not([hidden])');
    await shot(page, name + '-1-prefilled');
    check((await page.inputValue('#amount')) === '777,00', 'amount from the link: ' + await page.inputValue('#amount'));
    check((await page.inputValue('#who')) === '123 45', 'contract from the link: ' + await page.inputValue('#who'));
  }, browser);

  await scenario('mobile_viewport_is_usable', async (page, name) => {
    await findAccount(page, '12345', name);
    await page.waitForSelector('#pay:not([hidden])');
    await shot(page, name + '-2-form');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 375, 'no horizontal scroll on a phone: ' + width);
    const box = await page.locator('#go').boundingBox();
    check(box.height >= 44, 'the button is big enough to tap: ' + box.height);
    // keyboard order: the first field takes focus, Tab reaches the button
    await page.goto(BASE + '/pay');
    // the script focuses the field once it has run: wait for that (a slow, sanitized build is slower)
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'who', null,
      { timeout: 15000 }).catch(() => {});
    check(await page.evaluate(() => document.activeElement.id) === 'who', 'focus starts on the field');
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.id) === 'find', 'Tab goes to the button');
  }, browser, { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  await scenario('network_failure_is_explained', async (page, name) => {
    await page.goto(BASE + '/pay');
    await page.fill('#who', '12345');
    await page.route('**/v1/accounts/lookup**', (route) => route.abort('failed'));
    await page.click('#find');
    await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
    await shot(page, name + '-2-error');
    check((await page.textContent('#error')).includes('Нет связи'), 'network message');
  }, browser);

  await scenario('rate_limit_is_explained', async (page, name) => {
    await page.goto(BASE + '/pay');
    await page.route('**/v1/accounts/lookup**', (route) => route.fulfill({
      status: 429, headers: { 'Retry-After': '7', 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many' } }) }));
    await page.fill('#who', '12345');
    await page.click('#find');
    await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
    check((await page.textContent('#error')).includes('Подождите 7 секунд'), 'rate limit message');
  }, browser);

  await scenario('suspended_account_is_explained_and_payable', async (page, name) => {
    await findAccount(page, '123450001', name);
    await page.waitForSelector('#pay:not([hidden])');
    await shot(page, name + '-2-form');
    check((await page.textContent('#account-note')).includes('приостановлены'), 'suspended note');
  }, browser);

  await browser.close();
  console.log('# ids ' + JSON.stringify(results));
  console.log('1..' + t.n);
  process.exit(t.failed ? 1 : 0);
}

main().catch((e) => { console.log('not ok - harness: ' + e); console.log('1..' + (t.n + 1)); process.exit(1); });
