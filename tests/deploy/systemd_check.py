#!/usr/bin/python3
"""Checks of deploy/systemd/ that need parsing. Prints "ok - …" / "not ok - …" / "# …" lines
(tests/deploy/tap.sh numbers them).

  systemd_check.py static DIR CONFIG_REF    unit directives, credentials, sample env file
  systemd_check.py security UNIT JSON       `systemd-analyze security --json` verdicts of UNIT
  systemd_check.py trace UNIT_FILE TRACE... what gatewayd did under strace fits UNIT's sandbox

CONFIG_REF is the output of `gatewayd config` (the table of every GATEWAY_* variable).
"""
import json
import os
import re
import subprocess
import sys

failed = 0


def report(good, desc, diag=()):
    global failed
    print(("ok - " if good else "not ok - ") + desc)
    if not good:
        failed += 1
        for d in diag:
            print("#   " + d)


# ---------------------------------------------------------------------------------------------
# unit files

def parse_unit(path, uncomment=False):
    """Returns {section: [(key, value, lineno)]} in file order (keys may repeat)."""
    sections, cur = {}, None
    pending, start = "", 0
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if uncomment and re.match(r"^#[A-Za-z]+=", line):
                line = line[1:]
            if not pending:
                start = n
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = (pending + line).strip(), ""
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                cur = sections.setdefault(m.group(1), [])
                continue
            if cur is None or "=" not in line:
                raise ValueError("%s:%d: not a key=value line: %s" % (path, start, line))
            k, v = line.split("=", 1)
            cur.append((k.strip(), v.strip(), start))
    return sections


def values(unit, section, key):
    """All assignments of key in order; an empty assignment resets the list, as in systemd (for
    CapabilityBoundingSet= and AmbientCapabilities= it also means "none", kept as "")."""
    out = []
    for k, v, _ in unit.get(section, []):
        if k != key:
            continue
        if v == "":
            out = [""] if key in ("CapabilityBoundingSet", "AmbientCapabilities") else []
        else:
            out.append(v)
    return out


def last(unit, section, key):
    vals = values(unit, section, key)
    return vals[-1] if vals else None


def is_yes(v):
    return v is not None and v.lower() in ("yes", "true", "1", "on")


def timespan_s(v):
    """systemd time span ("15", "15s", "1min 30s", "500ms") in seconds; None if unparsable."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
             "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600}
    total, found = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", v or ""):
        if unit and unit not in units:
            return None
        total += float(num) * units.get(unit or "s")
        found = True
    return total if found else None


HARDENING = [  # (key, predicate, what is expected) — the brief's list, for both units
    ("NoNewPrivileges", is_yes, "yes"),
    ("ProtectSystem", lambda v: v == "strict", "strict"),
    ("ProtectHome", is_yes, "yes"),
    ("PrivateTmp", is_yes, "yes"),
    ("PrivateDevices", is_yes, "yes"),
    ("ProtectKernelTunables", is_yes, "yes"),
    ("ProtectKernelModules", is_yes, "yes"),
    ("ProtectKernelLogs", is_yes, "yes"),
    ("ProtectControlGroups", is_yes, "yes"),
    ("MemoryDenyWriteExecute", is_yes, "yes"),
    ("LockPersonality", is_yes, "yes"),
    ("RestrictRealtime", is_yes, "yes"),
    ("RestrictNamespaces", is_yes, "yes"),
    ("SystemCallArchitectures", lambda v: v == "native", "native"),
]


def check_hardening(name, u):
    bad = []
    for key, pred, want in HARDENING:
        v = last(u, "Service", key)
        if not pred(v):
            bad.append("%s=%s (want %s)" % (key, v if v is not None else "<unset>", want))
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        vals = values(u, "Service", key)
        if not vals or vals[-1] != "":
            bad.append("%s= must be set and empty (no capabilities); have %r" % (key, vals))
    fams = " ".join(values(u, "Service", "RestrictAddressFamilies")).split()
    if sorted(fams) != ["AF_INET", "AF_INET6", "AF_UNIX"]:
        bad.append("RestrictAddressFamilies=%s (want AF_INET AF_INET6 AF_UNIX)" % " ".join(fams))
    filt = values(u, "Service", "SystemCallFilter")
    if not filt or filt[0] != "@system-service":
        bad.append("SystemCallFilter= must start with the allow list @system-service; have %r" % filt)
    user = last(u, "Service", "User")
    if not user or user in ("root", "0"):
        bad.append("User=%s: must be a non-root user" % user)
    report(not bad, "%s: hardening directives present with the required values" % name, bad)


def check_credentials(name, u, secrets, where="unit"):
    """Every GATEWAY_*_FILE=%d/ID has LoadCredential=ID:/abs/path and names a secret variable."""
    creds = {}
    for v in values(u, "Service", "LoadCredential"):
        cid, _, path = v.partition(":")
        creds[cid] = path
    bad, used, given = [], set(), set()
    for v in values(u, "Service", "Environment"):
        for assign in v.split():
            var, _, val = assign.strip('"').partition("=")
            if not var.endswith("_FILE"):
                if var in secrets:
                    bad.append("%s: a secret must come from a credential, not Environment=" % var)
                continue
            base = var[:-5]
            given.add(base)
            if base not in secrets:
                bad.append("%s: %s is not a secret variable of `gatewayd config`" % (var, base))
            m = re.match(r"^%d/([A-Za-z0-9_.-]+)$", val)
            if not m:
                bad.append("%s=%s: must point into the credentials directory (%%d/ID)" % (var, val))
                continue
            used.add(m.group(1))
            if m.group(1) not in creds:
                bad.append("%s=%s: no LoadCredential=%s:…" % (var, val, m.group(1)))
            elif not creds[m.group(1)].startswith("/"):
                bad.append("LoadCredential=%s:%s: want an absolute path" % (m.group(1), creds[m.group(1)]))
    for cid in creds:
        if cid not in used:
            bad.append("LoadCredential=%s is loaded but no GATEWAY_*_FILE points at it" % cid)
    report(not bad, "%s: secrets come as LoadCredential= + GATEWAY_*_FILE=%%d/… (%s)"
           % (name, ", ".join(sorted(creds)) or "none"), bad)
    return given


def read_config_ref(path):
    """{name: (default, secret)} from the markdown table `gatewayd config` prints."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\| `(GATEWAY_[A-Z0-9_]+)`( \(or `_FILE`\))? \| (.*?) \|", line)
            if m:
                out[m.group(1)] = (m.group(3).strip("`"), bool(m.group(2)))
    return out


def read_env(path):
    """(assigned {NAME: value}, mentioned {NAME}, syntax errors) of an EnvironmentFile."""
    assigned, mentioned, errors = {}, set(), []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = re.match(r"^#\s?(GATEWAY_[A-Z0-9_]+)=", line)
            if m:
                mentioned.add(m.group(1))
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.match(r"^(GATEWAY_[A-Z0-9_]+)=(.*)$", line)
            if not m:
                errors.append("line %d: not NAME=value: %s" % (n, line))
                continue
            val = m.group(2)
            if len(val) >= 2 and val[0] == val[-1] and val[0] in "\"'":
                val = val[1:-1]
            assigned[m.group(1)] = val
            mentioned.add(m.group(1))
    return assigned, mentioned, errors


def static(d, ref_path):
    ref = read_config_ref(ref_path)
    report(len(ref) > 10, "`gatewayd config` lists the configuration (%d variables)" % len(ref))
    secrets = {k for k, (_, s) in ref.items() if s}
    units = {}
    for name in ("gatewayd.service", "gatewayd-migrate.service"):
        try:
            units[name] = parse_unit(os.path.join(d, name))
        except (OSError, ValueError) as e:
            report(False, "%s parses" % name, [str(e)])
    if len(units) != 2:
        return
    svc, mig = units["gatewayd.service"], units["gatewayd-migrate.service"]

    for name, u in units.items():
        check_hardening(name, u)
    try:
        charge = parse_unit(os.path.join(d, "gatewayd-charge.service"))
        timer = parse_unit(os.path.join(d, "gatewayd-charge.timer"))
    except (OSError, ValueError) as e:
        report(False, "gatewayd-charge.service and .timer parse", [str(e)])
    else:
        check_hardening("gatewayd-charge.service", charge)
        bad = []
        exe = (last(charge, "Service", "ExecStart") or "").split()
        if last(charge, "Service", "Type") != "oneshot" or exe[1:] != ["charge"]:
            bad.append("want Type=oneshot running `gatewayd charge`")
        if last(timer, "Timer", "Unit") != "gatewayd-charge.service" or not last(timer, "Timer", "OnCalendar"):
            bad.append("the timer must start gatewayd-charge.service on a calendar")
        if not is_yes(last(timer, "Timer", "Persistent")):
            bad.append("Persistent=yes: a night missed while down is run at boot")
        report(not bad, "gatewayd-charge.timer runs `gatewayd charge` nightly (oneshot, persistent)", bad)

    bad = []
    if last(svc, "Service", "Type") != "simple":
        bad.append("Type=%s: gatewayd does not call sd_notify, so Type=simple" % last(svc, "Service", "Type"))
    exe = (last(svc, "Service", "ExecStart") or "").split()
    if len(exe) < 2 or not exe[0].startswith("/") or not exe[0].endswith("/gatewayd") or exe[1:] != ["serve"]:
        bad.append("ExecStart=%s: want /…/gatewayd serve" % " ".join(exe))
    if last(svc, "Service", "Restart") != "on-failure":
        bad.append("Restart=%s (want on-failure)" % last(svc, "Service", "Restart"))
    rs = timespan_s(last(svc, "Service", "RestartSec"))
    if not rs or rs <= 0:
        bad.append("RestartSec= must be set (> 0) so a crash loop does not spin")
    if last(svc, "Service", "KillSignal") not in ("SIGTERM", "TERM", "15"):
        bad.append("KillSignal=%s: gatewayd drains in-flight requests on SIGTERM" % last(svc, "Service", "KillSignal"))
    for key in ("Requires", "After"):
        if "gatewayd-migrate.service" not in " ".join(values(svc, "Unit", key)).split():
            bad.append("%s= lacks gatewayd-migrate.service" % key)
    report(not bad, "gatewayd.service: Type=simple, ExecStart serve, Restart/RestartSec, SIGTERM, "
           "Requires+After gatewayd-migrate.service", bad)

    bad = []
    if last(mig, "Service", "Type") != "oneshot":
        bad.append("Type=%s (want oneshot)" % last(mig, "Service", "Type"))
    exe = (last(mig, "Service", "ExecStart") or "").split()
    if len(exe) < 2 or not exe[0].endswith("/gatewayd") or exe[1:] != ["migrate"]:
        bad.append("ExecStart=%s: want /…/gatewayd migrate" % " ".join(exe))
    if is_yes(last(mig, "Service", "RemainAfterExit")):
        bad.append("RemainAfterExit=yes would skip the migration on later starts of gatewayd.service")
    if "gatewayd.service" in " ".join(values(mig, "Unit", "Requires") + values(mig, "Unit", "After")).split():
        bad.append("the migration must not depend on gatewayd.service (ordering cycle)")
    report(not bad, "gatewayd-migrate.service: Type=oneshot running `gatewayd migrate` on every start", bad)

    env_path = os.path.join(d, "gatewayd.env")
    for name, u in units.items():
        ef = values(u, "Service", "EnvironmentFile")
        report(ef == ["/etc/gatewayd/gatewayd.env"], "%s: EnvironmentFile=/etc/gatewayd/gatewayd.env (required, "
               "no '-')" % name, ["have %r" % ef])

    given = check_credentials("gatewayd.service", svc, secrets)
    mig_given = check_credentials("gatewayd-migrate.service", mig, secrets)
    report("GATEWAY_DATABASE_URL" in given and "GATEWAY_MIGRATE_DATABASE_URL" in mig_given
           and "GATEWAY_MIGRATE_DATABASE_URL" not in given,
           "gatewayd.service reads the service role's GATEWAY_DATABASE_URL, gatewayd-migrate.service the owner's "
           "GATEWAY_MIGRATE_DATABASE_URL, each from a credential")

    dropin = os.path.join(d, "credentials.conf.example")
    try:
        extra = check_credentials("credentials.conf.example (uncommented)", parse_unit(dropin, uncomment=True),
                                  secrets)
    except (OSError, ValueError) as e:
        report(False, "credentials.conf.example parses", [str(e)])
        extra = set()
    missing = sorted(secrets - given - extra - mig_given)
    report(not missing, "every secret variable has a credential in gatewayd.service, gatewayd-migrate.service or "
           "credentials.conf.example",
           ["no credential for %s" % m for m in missing])

    assigned, mentioned, errors = read_env(env_path)
    report(not errors, "gatewayd.env is NAME=value lines and comments", errors)
    missing = sorted(set(ref) - mentioned)
    unknown = sorted(mentioned - set(ref))
    report(not missing and not unknown, "gatewayd.env lists every variable of `gatewayd config` (%d) and no other"
           % len(ref), ["missing: %s" % m for m in missing] + ["not a gatewayd variable: %s" % u for u in unknown])
    leaked = sorted(k for k in assigned if k in secrets or (k.endswith("_FILE") and k[:-5] in secrets))
    report(not leaked, "gatewayd.env assigns no secret (they come from credentials)", leaked)

    shutdown = assigned.get("GATEWAY_SHUTDOWN_TIMEOUT", ref.get("GATEWAY_SHUTDOWN_TIMEOUT", ("10", 0))[0])
    stop = timespan_s(last(svc, "Service", "TimeoutStopSec"))
    try:
        sd = float(shutdown)
    except ValueError:
        sd = None
    report(stop is not None and sd is not None and sd < stop <= sd + 30,
           "TimeoutStopSec (%s s) is a little above GATEWAY_SHUTDOWN_TIMEOUT (%s s)" % (stop, shutdown),
           ["SIGKILL would cut the graceful drain short" if stop and sd and stop <= sd else
            "want GATEWAY_SHUTDOWN_TIMEOUT < TimeoutStopSec <= GATEWAY_SHUTDOWN_TIMEOUT + 30"])


# ---------------------------------------------------------------------------------------------
# systemd-analyze security

# Verdicts that may stay "not set": a network service needs the network, and the host's root.
ALLOWED_EXPOSED = {"PrivateNetwork", "IPAddressDeny", "RestrictAddressFamilies_AF_INET_INET6",
                   "RestrictAddressFamilies_AF_UNIX", "RootDirectoryOrRootImage", "DeviceAllow"}


def security(unit, path):
    with open(path, encoding="utf-8") as f:
        verdicts = json.load(f)
    exposed = sorted(e["json_field"] for e in verdicts if not e["set"] and e.get("exposure"))
    unexpected = [e for e in exposed if e not in ALLOWED_EXPOSED]
    report(not unexpected, "%s: systemd-analyze security flags nothing beyond network access (%d verdicts)"
           % (unit, len(verdicts)), ["exposed: " + e for e in unexpected])


# ---------------------------------------------------------------------------------------------
# strace of gatewayd against the unit's sandbox

def expand_filter(spec, seen=None):
    """Names of the system calls a SystemCallFilter item (@group or name) stands for."""
    seen = set() if seen is None else seen
    if not spec.startswith("@"):
        return {spec}
    if spec in seen:
        return set()
    seen.add(spec)
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", spec], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= expand_filter(item, seen)
    return names


def allowed_syscalls(u):
    allow, first = set(), True
    for v in values(u, "Service", "SystemCallFilter"):
        deny = v.startswith("~")
        items = set()
        for spec in v.lstrip("~").split():
            items |= expand_filter(spec)
        if first and not deny:
            allow = items
        elif deny:
            allow -= items
        else:
            allow |= items
        first = False
    return allow | {"execve", "exit", "exit_group", "rt_sigreturn", "getrlimit", "sigreturn"}


LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")


def trace(unit_file, traces):
    u = parse_unit(unit_file)
    allow = allowed_syscalls(u)
    families = set(" ".join(values(u, "Service", "RestrictAddressFamilies")).split())
    writable = ["/tmp/", "/var/tmp/", "/dev/null", "/dev/shm/"] + [
        "/var/lib/" + s + "/" for s in " ".join(values(u, "Service", "StateDirectory")).split()]
    used, denied, wx, fams, writes, proc = {}, {}, [], set(), set(), set()
    for t in traces:
        with open(t, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = LINE.match(line)
                if not m:
                    continue
                name, rest = m.group(2) or m.group(3), m.group(4)
                used[name] = used.get(name, 0) + 1
                if name not in allow:
                    denied.setdefault(name, line.strip()[:160])
                if m.group(2):
                    continue  # "<... name resumed>": the arguments were on the "<unfinished ...>" line
                if name in ("mmap", "mprotect", "pkey_mprotect") and "PROT_EXEC" in rest:
                    if name != "mmap" or "PROT_WRITE" in rest:
                        wx.append(line.strip()[:160])
                if name in ("socket", "socketpair"):
                    fam = rest.split(",", 1)[0].strip()
                    fams.add(fam)
                if name in ("open", "openat", "creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2",
                            "unlink", "unlinkat") and ("open" not in name or WRITE_FLAGS.search(rest)):
                    pm = re.search(r'"([^"]*)"', rest)
                    path = pm.group(1) if pm else "?"
                    if path.startswith("/") and not any(path == w.rstrip("/") or path.startswith(w)
                                                        for w in writable):
                        writes.add("%s %s" % (name, path))
                if name in ("open", "openat"):
                    pm = re.search(r'"(/proc/[^"]*)"', rest)
                    if pm and not re.match(r"^/proc/(self|thread-self|\d+)(/|$)", pm.group(1)):
                        proc.add(pm.group(1))
    report(len(used) > 20, "strace recorded gatewayd's system calls (%d distinct, %d calls)"
           % (len(used), sum(used.values())))
    report(not denied, "every system call gatewayd made is allowed by SystemCallFilter= (%d allowed)" % len(allow),
           ["%s (x%d): %s" % (k, used[k], v) for k, v in sorted(denied.items())])
    if is_yes(last(u, "Service", "MemoryDenyWriteExecute")):
        report(not wx, "no writable+executable mapping (MemoryDenyWriteExecute=yes)", wx[:10])
    bad = sorted(f for f in fams if f not in families)
    report(not bad, "sockets only of RestrictAddressFamilies= (%s used)" % " ".join(sorted(fams)), bad)
    report(not writes, "no file written outside PrivateTmp / StateDirectory (ProtectSystem=strict)", sorted(writes))
    if last(u, "Service", "ProcSubset") == "pid":
        report(not proc, "only per-process files of /proc are read (ProcSubset=pid)", sorted(proc))


def main(argv):
    if len(argv) >= 3 and argv[0] == "static":
        static(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "security":
        security(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "trace":
        trace(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
