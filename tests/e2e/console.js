// End-to-end tests of the operator's console (/admin) in Debian's Chromium, driven by playwright-core.
// usage: node tests/e2e/console.js BASE_URL SCREENSHOT_DIR CREDENTIALS_JSON   (prints TAP; run by
// test_console_e2e.py, which starts PostgreSQL, an SMTP server and gatewayd, and checks afterwards
// in the database and the SMTP server what the browser did)
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'node_modules', 'playwright-core'));

const BASE = process.argv[2];
const SHOTS = process.argv[3];
const CREDS = JSON.parse(process.argv[4]);
const { FLAGS, check, runner } = require(path.join(__dirname, 'tap.js'));
const t = runner(SHOTS, 'console-');
const { shot, scenario } = t;

async function signIn(page, who, name) {
  await page.goto(BASE + '/admin');
  await page.waitForURL(/\/admin\/login$/);
  await page.fill('#login', who);
  await page.fill('#password', CREDS[who]);
  await shot(page, name + '-1-sign-in');
  await Promise.all([page.waitForURL(/\/admin$|\/admin#/), page.click('button[type=submit]')]);
  await page.waitForFunction(() => document.getElementById('me').textContent !== '');
}

async function openPaymentFound(page, query, name) {
  await page.click('nav a[data-view=search]');
  await page.fill('#q', query);
  await page.click('#search-form button[type=submit]');
  await page.waitForSelector('#results table');
  await shot(page, name + '-2-found');
  await Promise.all([page.waitForSelector('#view-payment:not([hidden]) #timeline table'),
                     page.click('#results tbody tr:first-child a')]);
  await shot(page, name + '-3-payment');
}

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS, headless: true });

  await scenario('a_wrong_password_shows_why_and_stays_on_the_sign_in_page', async (page, name) => {
    await page.goto(BASE + '/admin/login');
    await page.fill('#login', 'sup');
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error:not(:empty)');
    check((await page.textContent('.error')).includes('Неверный логин или пароль'), 'the reason is shown');
    check(new URL(page.url()).pathname === '/admin/login', 'still on the sign-in page');
    await shot(page, name);
  }, browser);

  await scenario('support_finds_a_payment_by_phone_and_resends_its_receipt', async (page, name) => {
    await signIn(page, 'sup', name);
    check((await page.textContent('#me')).includes('support'), 'signed in as support');
    check(await page.isHidden('nav a[data-view=audit]'), 'no audit log for support');
    await openPaymentFound(page, '+7 (913) 123-45-67', name);
    check((await page.textContent('#account-info')).includes('+7 *** ***-45-67'), 'the phone masked for support');
    check(await page.isHidden('#refund-box'), 'no refund for support');
    const kinds = await page.$$eval('#timeline tbody tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
    check(kinds.includes('status') && kinds.includes('ledger') && kinds.includes('mail'), 'events in order: ' + kinds);
    await page.fill('#resend-email', 'support-resend@example.net');
    await page.click('#resend-form button[type=submit]');
    await page.waitForSelector('#status:not(:empty)');
    check((await page.textContent('#status')).includes('support-resend@example.net'), 'queued for the new address');
    await shot(page, name + '-4-resent');
  }, browser);

  await scenario('finance_refunds_part_of_a_payment_after_confirming', async (page, name) => {
    await signIn(page, 'fin', name);
    await openPaymentFound(page, '12345', name);
    check((await page.textContent('#account-info')).includes('+79131234567'), 'finance sees the phone in full');
    await page.fill('#refund-amount', '150.00');
    await page.fill('#refund-reason', 'абонент оплатил дважды');
    await page.click('#refund-form button[type=submit]');
    await page.waitForSelector('#refund-confirm:not([hidden])');
    check((await page.textContent('#refund-confirm-text')).includes('150.00'), 'the confirmation names the amount');
    await shot(page, name + '-4-confirm');
    await page.click('#refund-yes');
    await page.waitForFunction(() => document.getElementById('status').textContent.includes('Возврат'));
    await page.waitForFunction(() => document.getElementById('payment-info').textContent.includes('150.00'));
    const rows = await page.$$eval('#timeline tbody tr', (trs) => trs.map((t) => t.textContent));
    check(rows.some((r) => r.includes('refund 150.00')), 'the refund in the payment\'s history');
    await shot(page, name + '-5-refunded');
  }, browser);

  await scenario('finance_uploads_a_partner_registry_and_sees_the_differences', async (page, name) => {
    await signIn(page, 'fin', name);
    await page.click('nav a[data-view=partners]');
    await page.waitForSelector('#partner-rows table');
    await page.selectOption('#reconcile-partner', 'term1');
    await page.fill('#reconcile-date', new Date().toISOString().slice(0, 10));
    await page.setInputFiles('#reconcile-file', { name: 'term1.csv', mimeType: 'text/csv',
      buffer: Buffer.from('partner_txn_id,our_id,date,account,amount\nT-404,,,12345,77.00\n') });
    await page.click('#reconcile-form button[type=submit]');
    await page.waitForSelector('#reconcile-rows table');
    const rows = await page.$$eval('#reconcile-rows tbody tr', (trs) => trs.map((t) => t.textContent));
    check(rows.length === 1 && rows[0].includes('missing_in_ours') && rows[0].includes('T-404'), 'the difference: ' + rows);
    check((await page.textContent('#reconcile-summary')).includes('расхождений 1'), 'the summary');
    await shot(page, name);
  }, browser);

  await scenario('admin_reads_the_audit_log_and_downloads_it', async (page, name) => {
    await signIn(page, 'adm', name);
    await page.click('nav a[data-view=audit]');
    await page.waitForSelector('#audit-rows table');
    const actions = await page.$$eval('#audit-rows tbody tr td:nth-child(5)', (tds) => tds.map((t) => t.textContent));
    for (const a of ['login', 'login.failed', 'receipt.resend', 'refund', 'view.payment', 'reconcile'])
      check(actions.includes(a), 'the audit shows ' + a + ': ' + actions.slice(0, 20));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#audit-rows .tools button')]);
    check(download.suggestedFilename() === 'audit.csv', 'a CSV of the table');
    await shot(page, name);
  }, browser);

  await scenario('admin_rotates_a_partner_password_shown_once', async (page, name) => {
    page.on('dialog', (d) => d.accept());
    await signIn(page, 'adm', name);
    await page.click('nav a[data-view=partners]');
    await page.waitForSelector('#partner-rows table');
    const row = page.locator('#partner-rows tbody tr', { hasText: 'term1' });
    await row.locator('button', { hasText: 'новый пароль' }).click();
    await page.waitForSelector('#secret-box:not([hidden])');
    const text = await page.textContent('#secret-info');
    const m = text.match(/Пароль([0-9a-f]{32})/);
    check(m, 'the new password shown: ' + text);
    console.log('# rotated ' + m[1]);
    await shot(page, name);
  }, browser);

  await scenario('the_console_fits_a_phone_and_signing_out_ends_the_session', async (page, name) => {
    await signIn(page, 'sup', name);
    await page.waitForSelector('#totals');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, 'no sideways scrolling of the page on a phone: ' + overflow);
    await shot(page, name + '-2-phone');
    await Promise.all([page.waitForURL(/\/admin\/login$/), page.click('#logout')]);
    await page.goto(BASE + '/admin');
    check(new URL(page.url()).pathname === '/admin/login', 'signed out: the console sends to the sign-in page');
  }, browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  await browser.close();
  console.log('1..' + t.n);
  process.exit(t.failed ? 1 : 0);
}

main().catch((e) => {
  console.log('not ok ' + (t.n + 1) + ' - the browser run failed: ' + e);
  process.exit(1);
});
