#!/usr/bin/env node
// Validates deploy/k8s/ offline. Prints "ok - …" / "not ok - …" / "# …" lines (tests/deploy/tap.sh
// numbers them).
//
//   node tests/deploy/check_k8s.js K8S_DIR CONFIG_REF CONTAINERFILE
//
// 1. Every YAML document is parsed the way kubectl reads it (YAML 1.1) and validated against the
//    Kubernetes OpenAPI schema bundled in the npm package kubernetes-models (types, enums,
//    required fields, formats), plus a strict unknown-field check — what `kubectl apply` does
//    with server-side field validation — walking the package's type declarations.
// 2. Cross-object rules: selectors match labels, the Service and the PDB select the Deployment's
//    pods and not the migration Job's, probes on /readyz and /healthz, a hardened security
//    context, secrets only as files + GATEWAY_*_FILE, grace period > preStop + shutdown timeout,
//    ConfigMap keys known to `gatewayd config` (CONFIG_REF), the same image and UID as the
//    Containerfile builds.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

let failed = 0;
function report(good, desc, diag = []) {
  console.log((good ? "ok - " : "not ok - ") + desc);
  if (!good) {
    failed++;
    for (const d of diag) console.log("#   " + d);
  }
}

// ---------------------------------------------------------------------------------------------
// strict fields: property names from kubernetes-models' .d.ts files

const ifaceCache = new Map();

function dtsPath(spec, fromDir) {
  const js = spec.startsWith(".") ? path.resolve(fromDir, spec) : require.resolve(spec).replace(/\.js$/, "");
  return js.replace(/\.js$/, "") + ".d.ts";
}

// Splits s at top-level occurrences of sep (outside {} <> () and quotes).
function splitTop(s, sep) {
  const out = [];
  let depth = 0, quote = null, cur = "";
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if ("{<(".includes(ch)) depth++;
    else if ("}>)".includes(ch)) depth--;
    if (!quote && depth === 0 && ch === sep) {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

// Parses a type expression into {kind: "ref"|"array"|"map"|"leaf", of}.
function parseType(t, imports, dir) {
  t = t.trim();
  let m;
  if ((m = t.match(/^Array<([\s\S]*)>$/))) return { kind: "array", of: parseType(m[1], imports, dir) };
  if ((m = t.match(/^\{\s*\[key: string\]:\s*([\s\S]*?);?\s*\}$/))) return { kind: "map", of: parseType(m[1], imports, dir) };
  if (imports[t]) return { kind: "ref", file: dtsPath(imports[t], dir) };
  return { kind: "leaf" };
}

// {props: {name: type}} of the first interface a .d.ts declares, or null (a type alias: a leaf).
function iface(file) {
  if (ifaceCache.has(file)) return ifaceCache.get(file);
  let result = null;
  if (fs.existsSync(file)) {
    const src = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const imports = {};
    for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g))
      for (const name of m[1].split(",")) imports[name.trim()] = m[2];
    const start = src.search(/export interface \w+(\s+extends [^{]+)?\s*\{/);
    if (start >= 0) {
      let i = src.indexOf("{", start) + 1, depth = 1;
      const b = i;
      while (depth > 0 && i < src.length) {
        if (src[i] === "{") depth++;
        else if (src[i] === "}") depth--;
        i++;
      }
      const props = {};
      for (const stmt of splitTop(src.slice(b, i - 1), ";")) {
        const m = stmt.trim().match(/^"([^"]+)"\??:\s*([\s\S]+)$/);
        if (m) props[m[1]] = parseType(m[2], imports, path.dirname(file));
      }
      result = { props };
    }
  }
  ifaceCache.set(file, result);
  return result;
}

function walk(value, type, at, errors) {
  if (value === null || value === undefined || type.kind === "leaf") return;
  if (type.kind === "array") {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, type.of, `${at}[${i}]`, errors));
    return;
  }
  if (type.kind === "map") {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, type.of, `${at}.${k}`, errors);
    return;
  }
  const def = iface(type.file);
  if (!def || typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (!(k in def.props)) errors.push(`${at}.${k}: unknown field`);
    else walk(v, def.props[k], `${at}.${k}`, errors);
  }
}

function modelModule(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

// ---------------------------------------------------------------------------------------------

function loadDocs(dir) {
  const docs = [];
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const text = fs.readFileSync(path.join(dir, f), "utf8");
    const parsed = YAML.parseAllDocuments(text, { version: "1.1", prettyErrors: true });
    const errs = parsed.flatMap((d) => d.errors.concat(d.warnings).map((e) => e.message));
    report(errs.length === 0, `${f}: parses as YAML`, errs);
    parsed.forEach((d, i) => {
      const obj = d.toJS();
      if (obj !== null && obj !== undefined) docs.push({ file: f, index: i, obj });
    });
  }
  return docs;
}

const subset = (a, b) => a && b && Object.entries(a).every(([k, v]) => b[k] === v);
const secondsOf = (q) => (q === undefined ? undefined : Number(q));

function main() {
  const [dir, refPath, containerfile] = process.argv.slice(2);
  if (!dir || !refPath || !containerfile) {
    console.error("usage: check_k8s.js K8S_DIR CONFIG_REF CONTAINERFILE");
    process.exit(2);
  }
  const ref = {};
  for (const line of fs.readFileSync(refPath, "utf8").split("\n")) {
    const m = line.match(/^\| `(GATEWAY_[A-Z0-9_]+)`( \(or `_FILE`\))? \| `?([^|`]*)`? \|/);
    if (m) ref[m[1]] = { secret: !!m[2], def: m[3].trim() };
  }
  const cf = fs.readFileSync(containerfile, "utf8");
  const cfUid = (cf.match(/^USER\s+(\d+)/m) || [])[1];

  const docs = loadDocs(dir);
  const k8s = docs.filter((d) => d.obj.kind !== "Kustomization");

  // schema + strict fields
  for (const { file, obj } of k8s) {
    const name = `${file}: ${obj.kind || "?"}/${(obj.metadata || {}).name || "?"}`;
    if (!obj.apiVersion || !obj.kind || !obj.metadata || !obj.metadata.name) {
      report(false, `${name}: apiVersion, kind and metadata.name are set`);
      continue;
    }
    let Model = null;
    const mod = modelModule(obj.apiVersion, obj.kind);
    try {
      Model = require(mod)[obj.kind];
    } catch (e) {
      /* unknown kind */
    }
    if (!Model) {
      report(false, `${name}: ${obj.apiVersion} ${obj.kind} is a Kubernetes API kind`, [`no ${mod}`]);
      continue;
    }
    let err = null;
    try {
      new Model(obj).validate();
    } catch (e) {
      err = e.message;
    }
    report(!err, `${name}: valid against the Kubernetes ${obj.apiVersion} schema`, err ? [err] : []);
    const unknown = [];
    walk(obj, { kind: "ref", file: require.resolve(mod).replace(/\.js$/, ".d.ts") }, obj.kind, unknown);
    report(unknown.length === 0, `${name}: no unknown field (strict field validation)`, unknown);
  }

  const byKind = (k) => k8s.filter((d) => d.obj.kind === k).map((d) => d.obj);
  const one = (k) => byKind(k)[0];
  const dep = one("Deployment"), svc = one("Service"), pdb = one("PodDisruptionBudget");
  const job = one("Job"), cm = one("ConfigMap"), secret = one("Secret"), hpa = one("HorizontalPodAutoscaler");
  report(dep && svc && pdb && job && cm && secret,
    "Deployment, Service, PodDisruptionBudget, migration Job, ConfigMap and Secret example are present",
    ["kinds: " + k8s.map((d) => d.obj.kind).join(", ")]);
  if (!(dep && svc && pdb && job && cm && secret)) return;

  const pod = dep.spec.template;
  const podLabels = pod.metadata.labels || {};
  const jobLabels = ((job.spec.template.metadata || {}).labels) || {};
  const c = (pod.spec.containers || []).find((x) => x.name === "gatewayd") || pod.spec.containers[0];
  const psc = pod.spec.securityContext || {}, csc = c.securityContext || {};

  // Deployment
  let bad = [];
  if (dep.spec.replicas !== 3) bad.push(`replicas: ${JSON.stringify(dep.spec.replicas)} (want 3)`);
  if (!subset(dep.spec.selector.matchLabels, podLabels)) bad.push("selector.matchLabels do not match the pod template labels");
  if (subset(dep.spec.selector.matchLabels, jobLabels)) bad.push("the Deployment's selector also selects the migration Job's pods");
  report(!bad.length, "Deployment: 3 replicas, selector matches its pod template and not the Job's pods", bad);

  const portNames = new Set((c.ports || []).map((p) => p.name));
  const probe = (p, wantPath) => {
    if (!p || !p.httpGet) return `no httpGet probe (want ${wantPath})`;
    if (p.httpGet.path !== wantPath) return `path ${p.httpGet.path} (want ${wantPath})`;
    const port = p.httpGet.port;
    if (typeof port === "string" ? !portNames.has(port) : !(c.ports || []).some((x) => x.containerPort === port))
      return `port ${port} is not a container port`;
    return null;
  };
  bad = [];
  for (const [key, want] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"], ["startupProbe", "/healthz"]]) {
    const e = probe(c[key], want);
    if (e) bad.push(`${key}: ${e}`);
  }
  if (!(c.ports || []).some((p) => p.containerPort === 8080)) bad.push("no containerPort 8080");
  const listen = (cm.data || {}).GATEWAY_LISTEN || ((cf.match(/^ENV\s+GATEWAY_LISTEN=(\S+)/m) || [])[1]) || "";
  if (!/^(0\.0\.0\.0|\[::\]):8080$/.test(listen)) bad.push(`GATEWAY_LISTEN ${listen}: want 0.0.0.0:8080 (all interfaces, the container port)`);
  report(!bad.length, "Deployment: readinessProbe /readyz, livenessProbe /healthz, startupProbe, listening on port 8080", bad);

  bad = [];
  const res = c.resources || {};
  for (const kind of ["requests", "limits"])
    for (const r of ["cpu", "memory"]) if (!(res[kind] || {})[r]) bad.push(`resources.${kind}.${r} missing`);
  const image = c.image || "";
  if (!/(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$/.test(image.replace(/^[^/]*:\d+\//, "")) || /:latest$/.test(image))
    bad.push(`image ${image}: pin a version tag or digest, not :latest`);
  if (job.spec.template.spec.containers[0].image !== image) bad.push("the migration Job runs another image than the Deployment");
  report(!bad.length, "Deployment: resource requests and limits, pinned image shared with the migration Job", bad);

  const hardened = (podSc, sc, who) => {
    const b = [];
    if (!(sc.runAsNonRoot === true || podSc.runAsNonRoot === true)) b.push(`${who}: runAsNonRoot`);
    if (sc.allowPrivilegeEscalation !== false) b.push(`${who}: allowPrivilegeEscalation: false`);
    if (sc.readOnlyRootFilesystem !== true) b.push(`${who}: readOnlyRootFilesystem: true`);
    if (!((sc.capabilities || {}).drop || []).includes("ALL")) b.push(`${who}: capabilities.drop [ALL]`);
    if ((sc.capabilities || {}).add) b.push(`${who}: capabilities.add must be empty`);
    if (sc.privileged) b.push(`${who}: privileged`);
    const sp = (sc.seccompProfile || podSc.seccompProfile || {}).type;
    if (sp !== "RuntimeDefault" && sp !== "Localhost") b.push(`${who}: seccompProfile RuntimeDefault`);
    const uid = sc.runAsUser !== undefined ? sc.runAsUser : podSc.runAsUser;
    if (uid === 0) b.push(`${who}: runAsUser 0`);
    if (cfUid && uid !== undefined && String(uid) !== cfUid) b.push(`${who}: runAsUser ${uid} differs from the image's USER ${cfUid}`);
    return b;
  };
  bad = hardened(psc, csc, "Deployment").concat(
    hardened(job.spec.template.spec.securityContext || {}, job.spec.template.spec.containers[0].securityContext || {}, "Job"));
  if (pod.spec.automountServiceAccountToken !== false) bad.push("Deployment: automountServiceAccountToken: false (gatewayd never calls the API)");
  report(!bad.length, `security contexts: non-root (UID ${cfUid} as in the Containerfile), no privilege escalation, read-only root, drop ALL, RuntimeDefault seccomp`, bad);

  // graceful stop
  const shutdown = Number((cm.data || {}).GATEWAY_SHUTDOWN_TIMEOUT || (ref.GATEWAY_SHUTDOWN_TIMEOUT || {}).def || 10);
  const pre = ((c.lifecycle || {}).preStop) || {};
  let sleep = pre.sleep ? secondsOf(pre.sleep.seconds) : undefined;
  if (pre.exec && /(^|\/)sleep$/.test((pre.exec.command || [])[0] || "")) sleep = Number(pre.exec.command[1]);
  const grace = pod.spec.terminationGracePeriodSeconds;
  bad = [];
  if (!(sleep > 0)) bad.push("lifecycle.preStop must sleep a few seconds so endpoints drop the pod before SIGTERM");
  if (!(grace > (sleep || 0) + shutdown)) bad.push(`terminationGracePeriodSeconds ${grace} must exceed preStop ${sleep} s + GATEWAY_SHUTDOWN_TIMEOUT ${shutdown} s`);
  report(!bad.length, `graceful stop: preStop sleep ${sleep} s + shutdown ${shutdown} s < terminationGracePeriodSeconds ${grace}`, bad);

  // configuration and secrets
  const cmKeys = Object.keys(cm.data || {});
  bad = cmKeys.filter((k) => !ref[k]).map((k) => `ConfigMap key ${k} is not a gatewayd variable`)
    .concat(cmKeys.filter((k) => ref[k] && ref[k].secret).map((k) => `ConfigMap holds the secret ${k}`))
    .concat(cmKeys.filter((k) => k.endsWith("_FILE")).map((k) => `ConfigMap sets ${k}`));
  report(!bad.length && cmKeys.length > 0, `ConfigMap: ${cmKeys.length} keys, all gatewayd variables, no secret`, bad);

  const secretKeys = new Set(Object.keys(Object.assign({}, secret.data, secret.stringData)));
  const placeholders = Object.entries(Object.assign({}, secret.stringData)).filter(([, v]) => !/CHANGE-ME/.test(String(v)));
  report(!secret.data && placeholders.length === 0, "Secret example holds placeholders only (CHANGE-ME), as stringData",
    placeholders.map(([k]) => `${k} looks like a real value`).concat(secret.data ? ["base64 data: use stringData placeholders"] : []));

  const fileEnv = (spec, who) => {
    const b = [], given = new Set();
    const cont = spec.containers[0];
    const mounts = {};
    for (const v of spec.volumes || []) if (v.secret) mounts[v.name] = v.secret.secretName;
    const secretDirs = (cont.volumeMounts || []).filter((m) => mounts[m.name]).map((m) => [m.mountPath.replace(/\/$/, ""), mounts[m.name]]);
    for (const e of cont.env || []) {
      if (ref[e.name] && ref[e.name].secret) b.push(`${who}: ${e.name} set directly; use ${e.name}_FILE`);
      if (!e.name.endsWith("_FILE")) continue;
      const base = e.name.slice(0, -5);
      if (!ref[base] || !ref[base].secret) b.push(`${who}: ${e.name}: ${base} is not a secret variable`);
      const hit = secretDirs.find(([d]) => path.dirname(e.value || "") === d);
      if (!hit) b.push(`${who}: ${e.name}=${e.value} is not in a mounted Secret`);
      else if (hit[1] !== secret.metadata.name) b.push(`${who}: mounts Secret ${hit[1]}, not ${secret.metadata.name}`);
      else if (!secretKeys.has(path.basename(e.value))) b.push(`${who}: the Secret example has no key ${path.basename(e.value)}`);
      given.add(base);
      if (e.valueFrom && e.valueFrom.secretKeyRef) b.push(`${who}: ${e.name} from secretKeyRef: mount the Secret as files`);
    }
    for (const e of cont.env || []) if (e.valueFrom && e.valueFrom.secretKeyRef) b.push(`${who}: ${e.name} from secretKeyRef puts a secret into the environment`);
    // the pods run as the service role, the migration Job as the schema owner
    const db = who === "Job" ? "GATEWAY_MIGRATE_DATABASE_URL" : "GATEWAY_DATABASE_URL";
    if (!given.has(db)) b.push(`${who}: ${db}_FILE missing`);
    if (who !== "Job" && given.has("GATEWAY_MIGRATE_DATABASE_URL")) b.push(`${who}: the pods must not get the owner's URL`);
    const envFrom = (cont.envFrom || []).map((x) => (x.configMapRef || {}).name);
    if (!envFrom.includes(cm.metadata.name)) b.push(`${who}: envFrom configMapRef ${cm.metadata.name} missing`);
    if ((cont.envFrom || []).some((x) => x.secretRef)) b.push(`${who}: envFrom secretRef puts secrets into the environment`);
    return b;
  };
  bad = fileEnv(pod.spec, "Deployment").concat(fileEnv(job.spec.template.spec, "Job"));
  report(!bad.length, "secrets reach the pods as files of the mounted Secret + GATEWAY_*_FILE, configuration via envFrom ConfigMap", bad);

  // Service, PDB, HPA, Job
  bad = [];
  if (!subset(svc.spec.selector, podLabels)) bad.push("selector does not match the Deployment's pods");
  if (subset(svc.spec.selector, jobLabels)) bad.push("selector also matches the migration Job's pods");
  for (const p of svc.spec.ports || [])
    if (typeof p.targetPort === "string" ? !portNames.has(p.targetPort) : p.targetPort !== undefined && !(c.ports || []).some((x) => x.containerPort === p.targetPort))
      bad.push(`port ${p.name}: targetPort ${p.targetPort} is not a container port`);
  report(!bad.length, "Service: selects the Deployment's pods (not the Job's) and targets the http port", bad);

  bad = [];
  if (pdb.spec.minAvailable !== 2) bad.push(`minAvailable ${pdb.spec.minAvailable} (want 2)`);
  if (!subset(pdb.spec.selector.matchLabels, podLabels)) bad.push("selector does not match the Deployment's pods");
  if (subset(pdb.spec.selector.matchLabels, jobLabels)) bad.push("selector also matches the migration Job's pods");
  if (!(dep.spec.replicas > pdb.spec.minAvailable)) bad.push("replicas must exceed minAvailable or no node can ever be drained");
  report(!bad.length, "PodDisruptionBudget: minAvailable 2 of the Deployment's pods", bad);

  if (hpa) {
    bad = [];
    const t = hpa.spec.scaleTargetRef;
    if (t.kind !== "Deployment" || t.name !== dep.metadata.name) bad.push(`scaleTargetRef ${t.kind}/${t.name}`);
    if (!(hpa.spec.minReplicas > pdb.spec.minAvailable)) bad.push("minReplicas must exceed the PDB's minAvailable");
    if (!(hpa.spec.maxReplicas >= hpa.spec.minReplicas)) bad.push("maxReplicas < minReplicas");
    report(!bad.length, `HorizontalPodAutoscaler: scales the Deployment ${hpa.spec.minReplicas}..${hpa.spec.maxReplicas}`, bad);
  }

  bad = [];
  const jt = job.spec.template.spec;
  if (!["OnFailure", "Never"].includes(jt.restartPolicy)) bad.push(`restartPolicy ${jt.restartPolicy} (OnFailure or Never)`);
  const args = (jt.containers[0].command || []).concat(jt.containers[0].args || []);
  if (args[args.length - 1] !== "migrate") bad.push(`runs ${JSON.stringify(args)}, want [..., "migrate"]`);
  if (!(job.spec.backoffLimit >= 1)) bad.push("backoffLimit: retry while the database is briefly unavailable");
  if (!job.spec.activeDeadlineSeconds) bad.push("activeDeadlineSeconds: bound a stuck migration");
  report(!bad.length, "migration Job: gatewayd migrate, restartPolicy OnFailure/Never, bounded retries and time", bad);

  // the nightly fee run
  const cron = k8s.find((d) => d.obj.kind === "CronJob");
  bad = [];
  if (!cron) {
    bad.push("no CronJob for `gatewayd charge`");
  } else {
    const cs = cron.obj.spec, ct = cs.jobTemplate.spec.template.spec;
    const cargs = (ct.containers[0].command || []).concat(ct.containers[0].args || []);
    if (cargs[cargs.length - 1] !== "charge") bad.push(`runs ${JSON.stringify(cargs)}, want [..., "charge"]`);
    if (cs.concurrencyPolicy !== "Forbid") bad.push("concurrencyPolicy Forbid (a second run would only wait)");
    if (!cs.timeZone) bad.push("timeZone: the fee days are GATEWAY_PARTNER_TZ days");
    if (!cs.jobTemplate.spec.activeDeadlineSeconds) bad.push("activeDeadlineSeconds: bound a stuck run");
  }
  report(!bad.length, "charge CronJob: gatewayd charge nightly in the partner time zone, one at a time, bounded", bad);

  // kustomization
  const kus = docs.find((d) => d.obj.kind === "Kustomization");
  if (kus) {
    const listed = kus.obj.resources || [];
    const missing = listed.filter((r) => !fs.existsSync(path.join(dir, r)));
    const files = new Set(docs.filter((d) => d.obj.kind !== "Kustomization").map((d) => d.file));
    const listedKinds = k8s.filter((d) => listed.includes(d.file)).map((d) => d.obj.kind);
    if (listedKinds.includes("Secret")) missing.push("the example Secret must not be applied with -k");
    report(!missing.length && listed.every((r) => files.has(r)) && listedKinds.includes("Deployment"),
      `kustomization.yaml: resources exist (${listed.join(", ")})`, missing);
  }
}

main();
process.exit(failed ? 1 : 0);
