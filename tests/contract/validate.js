// Contract test: every response the integration suites received (recorded by
// tests/integration/harness.py) must be described by openapi.yaml — its path, method and status —
// and JSON bodies must validate against the response schema (JSON Schema 2020-12 via Ajv).
// usage: node tests/contract/validate.js DIR_OF_JSONL   (TAP: one line per method, path, status)
'use strict';
const fs = require('fs');
const path = require('path');
const nm = path.join(__dirname, '..', 'node_modules');
const Ajv2020 = require(path.join(nm, 'ajv', 'dist', '2020')).default;
const addFormats = require(path.join(nm, 'ajv-formats'));
const YAML = require(path.join(nm, 'yaml'));

const spec = YAML.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'openapi.yaml'), 'utf8'));
spec.$id = 'openapi';
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi');

const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const deref = (obj) => {
  while (obj && obj.$ref) {
    obj = obj.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }
  return obj;
};
const templates = Object.keys(spec.paths).map((t) => ({
  t,
  re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  literal: !t.includes('{'),
}));
// a literal path wins over a template (/pay/result before /pay/{file})
templates.sort((a, b) => (b.literal - a.literal));

const dir = process.argv[2];
const groups = new Map();
let records = 0;
for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  if (!f.endsWith('.jsonl')) continue;
  for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    records++;
    if (r.webhook) {
      // a webhook the gateway sent: its body against the spec's webhooks section
      const key = 'webhook ' + r.webhook;
      if (!groups.has(key)) groups.set(key, { webhook: r.webhook, recs: [] });
      groups.get(key).recs.push(r);
      continue;
    }
    let p = r.path;
    try { p = decodeURI(p); } catch (e) { /* keep raw */ }
    const m = templates.find((x) => x.re.test(r.path) || x.re.test(p));
    const key = (m ? r.method + ' ' + m.t : 'unmatched') + ' ' + r.status;
    if (!groups.has(key)) groups.set(key, { tpl: m && m.t, method: r.method, status: r.status, recs: [] });
    groups.get(key).recs.push(r);
  }
}

let n = 0, bad = 0;
const validators = new Map();
function validatorFor(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: ref }));
  return validators.get(ref);
}

for (const [key, g] of [...groups.entries()].sort()) {
  n++;
  const problems = [];
  let responses = null;
  let where = null;
  if (g.webhook) {
    const hook = (spec.webhooks || {})[g.webhook];
    if (!hook || !hook.post) problems.push('webhook not in the spec');
    else where = 'openapi#/webhooks/' + esc(g.webhook) + '/post/requestBody/content/application~1json/schema';
  } else if (!g.tpl) {
    // no route: the body must still be the error envelope
    where = 'openapi#/components/schemas/Error';
  } else {
    const op = spec.paths[g.tpl][(g.method === 'HEAD' ? 'get' : g.method.toLowerCase())];
    if (!op && g.status === 405) where = 'openapi#/components/schemas/Error';   /* wrong method: the generic envelope */
    else if (!op) problems.push('method not in the spec');
    else {
      responses = op.responses || {};
      const code = String(g.status);
      const which = responses[code] ? code : responses[code[0] + 'XX'] ? code[0] + 'XX' : responses.default ? 'default' : null;
      if (!which) problems.push('status ' + code + ' not documented');
      else {
        const resp = deref(responses[which]);
        const content = resp.content || {};
        for (const r of g.recs) {
          if (r.method === 'HEAD' || g.status === 304) continue;
          const ct = (r.content_type || '').split(';')[0].trim();
          if (!content[ct] && Object.keys(content).length) { problems.push('content type ' + ct + ' not documented'); break; }
        }
        if (content['application/json'] && content['application/json'].schema) {
          const base = responses[which].$ref
            ? responses[which].$ref.replace(/^#/, 'openapi#')
            : 'openapi#/paths/' + esc(g.tpl) + '/' + (g.method === 'HEAD' ? 'get' : g.method.toLowerCase()) + '/responses/' + which;
          where = base + '/content/application~1json/schema';
        }
      }
    }
  }
  if (where) {
    const v = validatorFor(where);
    for (const r of g.recs) {
      if (r.body_invalid) { problems.push('body is not JSON: ' + r.body_invalid); break; }
      if (r.body === undefined) continue;
      if (!v(r.body)) {
        problems.push(r.suite + ': ' + ajv.errorsText(v.errors) + ' in ' + JSON.stringify(r.body).slice(0, 300));
        if (problems.length > 3) break;
      }
    }
  }
  if (problems.length) {
    bad++;
    console.log('not ok ' + n + ' - ' + key + ' (' + g.recs.length + ' responses)');
    for (const p of problems) console.log('# ' + p);
  } else {
    console.log('ok ' + n + ' - ' + key + ' (' + g.recs.length + ' responses)');
  }
}
console.log('# ' + records + ' responses and webhooks checked');
if (records === 0) { console.log('not ok ' + (++n) + ' - no responses were recorded'); bad++; }
console.log('1..' + n);
process.exit(bad ? 1 : 0);
