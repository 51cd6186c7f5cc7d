// What the browser scenarios share (pay_form.js, console.js): Chromium's flags, screenshots, and
// scenarios printed as TAP — each in a fresh context, failing on any page JavaScript error, with a
// screenshot when it fails.
'use strict';
const path = require('path');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function check(cond, msg) { if (!cond) throw new Error(msg); }

// A runner writing screenshots to dir, their names starting with prefix.
function runner(dir, prefix) {
  const t = { n: 0, failed: 0 };
  t.shot = async (page, name) => {
    await page.screenshot({ path: path.join(dir, prefix + name + '.png'), fullPage: true });
  };
  t.scenario = async (name, fn, browser, opts) => {
    t.n++;
    const ctx = await browser.newContext(Object.assign({ locale: 'ru-RU' }, opts || {}));
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await fn(page, name);
      check(errors.length === 0, 'JavaScript errors: ' + errors.join('; '));
      console.log('ok ' + t.n + ' - ' + name);
    } catch (e) {
      t.failed++;
      console.log('not ok ' + t.n + ' - ' + name);
      for (const line of String(e && e.stack || e).split('\n').slice(0, 8)) console.log('# ' + line);
      try { await t.shot(page, name + '-FAILED'); } catch (_) { /* page gone */ }
    } finally {
      await ctx.close();
    }
  };
  return t;
}

module.exports = { FLAGS, check, runner };
