#!/usr/bin/python3
"""Structural lint of deploy/container/Containerfile and its runtime packages against the binary.
Prints "ok - …" / "not ok - …" / "# …" lines (tests/deploy/tap.sh numbers them). No container
engine is needed: hadolint is not in Debian, so the rules that matter here are checked directly.

  container_check.py CONTAINERFILE GATEWAYD CONFIG_REF [BUILD_CONTEXT_COPY_DIR]

CONFIG_REF is the output of `gatewayd config` (secret variables are marked "(or `_FILE`)").
With BUILD_CONTEXT_COPY_DIR, the build stage's COPY sources are copied there from the repository
(the current directory) so that the caller can dry-run `make` on exactly what the image gets.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

failed = 0
# Packages the runtime stage may carry although no library of the binary is in them:
# the CA bundle for outbound TLS, time zones of receipts and registries, the HEALTHCHECK client.
NON_LIBRARY_OK = {"ca-certificates", "tzdata", "curl"}
BUILD_ONLY = {"gcc", "make", "pkg-config", "cpp", "build-essential", "libc6-dev", "clang", "binutils"}
REQUIRED_DEV = ["libevent-dev", "libssl-dev", "libpq-dev", "libjansson-dev", "libcurl4-openssl-dev",
                "pkg-config", "make", "gcc"]


def report(good, desc, diag=()):
    global failed
    print(("ok - " if good else "not ok - ") + desc)
    if not good:
        failed += 1
        for d in diag:
            print("#   " + d)


# ---------------------------------------------------------------------------------------------
# Containerfile

def instructions(path):
    """[(lineno, INSTRUCTION, args)] with continuation lines joined and comments dropped."""
    out, buf, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue  # comment inside a continued instruction
            if not buf:
                start = n
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
                continue
            buf += line
            parts = buf.strip().split(None, 1)
            out.append((start, parts[0].upper(), parts[1] if len(parts) > 1 else ""))
            buf = ""
    return out


def stages(instrs):
    """[{"from": image, "name": alias, "ins": [...]}]"""
    out = []
    for n, ins, args in instrs:
        if ins == "FROM":
            m = re.match(r"^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", args, re.I)
            out.append({"from": m.group(1) if m else args, "name": (m.group(2) if m else None) or str(len(out)),
                        "line": n, "ins": []})
        elif out:
            out[-1]["ins"].append((n, ins, args))
    return out


def apt_packages(stage):
    """Packages named by `apt-get install` in a stage's RUN instructions, and the RUN texts."""
    pkgs, runs = [], []
    for _, ins, args in stage["ins"]:
        if ins != "RUN":
            continue
        runs.append(args)
        for cmd in re.split(r"&&|;|\|\|", args):
            words = shlex.split(cmd)
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1:]
                pkgs += [w for w in after if not w.startswith("-")]
    return pkgs, runs


def exec_form(args):
    try:
        v = json.loads(args)
        return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None
    except ValueError:
        return None


def lint(path, secrets, copy_dir):
    instrs = instructions(path)
    st = stages(instrs)
    report(len(st) >= 2, "multi-stage build (%d stages: %s)" % (len(st), ", ".join(s["name"] for s in st)))
    if len(st) < 2:
        return None
    build, run = st[0], st[-1]

    bad = []
    for s in st:
        img = s["from"]
        if "$" in img:
            bad.append("FROM %s: use a literal image so the pin is reviewable" % img)
        elif not re.match(r"^(docker\.io/(library/)?)?debian:(12|bookworm)", img):
            bad.append("FROM %s: want Debian 12 (bookworm)" % img)
        elif not (re.search(r"@sha256:[0-9a-f]{64}$", img) or
                  re.match(r"^.*debian:(12\.\d+|bookworm-\d{8})(-slim)?(@sha256:[0-9a-f]{64})?$", img)):
            bad.append("FROM %s: pin a point release (12.N-slim), a dated tag or a digest, not a moving tag" % img)
    if not run["from"].split("@")[0].endswith("-slim"):
        bad.append("runtime stage FROM %s: want the slim image" % run["from"])
    report(not bad, "base images pinned Debian 12 (%s)" % ", ".join(sorted({s["from"] for s in st})), bad)

    bpkgs, bruns = apt_packages(build)
    missing = [p for p in REQUIRED_DEV if p not in bpkgs]
    makes = [r for r in bruns if re.search(r"(^|[\s;&])make(\s|$)", r)]
    report(not missing and makes, "build stage installs the -dev packages and runs make",
           ["missing: %s" % " ".join(missing)] if missing else ["no RUN make"])

    rpkgs, rruns = apt_packages(run)
    bad = [p for p in rpkgs if p.endswith("-dev") or p in BUILD_ONLY]
    report(rpkgs and not bad, "runtime stage installs no -dev package or build tool (%s)" % " ".join(rpkgs),
           ["build-only package in the runtime stage: %s" % p for p in bad] or ["no apt-get install found"])
    bad = []
    for r in bruns + rruns:
        if re.search(r"apt(-get)? install", r):
            if "--no-install-recommends" not in r:
                bad.append("apt-get install without --no-install-recommends")
            if "rm -rf /var/lib/apt/lists" not in r:
                bad.append("apt lists not removed in the same RUN")
    report(not bad, "apt-get install --no-install-recommends and apt lists removed in the same layer", bad)

    # the last USER of the runtime stage decides; numeric so runAsNonRoot can verify it
    users = [a.strip() for _, i, a in run["ins"] if i == "USER"]
    user = users[-1] if users else None
    uid = user.split(":")[0] if user else None
    created = any(re.search(r"useradd\b.*--uid\s+%s\b" % re.escape(uid or "x"), r) for r in rruns)
    report(bool(uid) and uid.isdigit() and uid != "0" and created,
           "runtime stage runs as a created non-root numeric user (USER %s)" % user,
           ["USER must be numeric and not 0, created with useradd --uid in the runtime stage"])

    hc = [a for _, i, a in run["ins"] if i == "HEALTHCHECK"]
    tool_ok = bool(hc) and (not re.search(r"\bcurl\b", hc[-1]) or "curl" in rpkgs)
    report(bool(hc) and "/healthz" in hc[-1] and "CMD" in hc[-1] and tool_ok,
           "HEALTHCHECK probes /healthz with a tool the image has",
           ["have: %s" % (hc[-1] if hc else "<none>")])

    ep = [exec_form(a) for _, i, a in run["ins"] if i == "ENTRYPOINT"]
    cmd = [exec_form(a) for _, i, a in run["ins"] if i == "CMD"]
    expose = " ".join(a for _, i, a in run["ins"] if i == "EXPOSE").split()
    env = " ".join(a for _, i, a in run["ins"] if i == "ENV")
    bad = []
    if not ep or not ep[-1] or os.path.basename(ep[-1][0]) != "gatewayd":
        bad.append("ENTRYPOINT must be the exec form [\".../gatewayd\"]")
    if not cmd or cmd[-1] != ["serve"]:
        bad.append('CMD must be ["serve"]')
    if "8080" not in expose and "8080/tcp" not in expose:
        bad.append("EXPOSE 8080 missing")
    if not re.search(r"\bGATEWAY_LISTEN=0\.0\.0\.0:8080\b", env):
        bad.append("ENV GATEWAY_LISTEN=0.0.0.0:8080 missing")
    copies = [a for _, i, a in run["ins"] if i == "COPY"]
    if not any("--from=" in c and "gatewayd" in c for c in copies):
        bad.append("runtime stage must COPY --from=<build> the binary")
    report(not bad, 'ENTRYPOINT ["…/gatewayd"], CMD ["serve"], EXPOSE 8080, GATEWAY_LISTEN=0.0.0.0:8080, binary '
           'copied from the build stage', bad)

    # secrets: no secret variable, no credential-looking ENV/ARG/LABEL, no key or env files copied
    bad = []
    for n, ins, args in instrs:
        if ins in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", args) + ([args.split()[0]] if args else []):
                if name in secrets or (name.endswith("_FILE") and name[:-5] in secrets) or \
                        re.search(r"PASSW|SECRET|TOKEN|PRIVATE|API_?KEY|_KEY$", name, re.I):
                    bad.append("line %d: %s %s" % (n, ins, name))
        if ins in ("COPY", "ADD"):
            if re.search(r"\.env\b|\.pem\b|\.key\b|credentials|secret|id_rsa|\.pgpass", args, re.I):
                bad.append("line %d: %s %s" % (n, ins, args))
            if ins == "COPY" and re.match(r"^(--\S+\s+)*\.\s", args):
                bad.append("line %d: COPY . copies the whole context (var/, .git, local secrets)" % n)
        if ins == "RUN" and re.search(r"postgres(ql)?://[^/\s]*:[^@\s]*@", args):
            bad.append("line %d: a connection string with a password" % n)
    report(not bad, "no secret in the image (ENV/ARG/LABEL names, copied files, connection strings)", bad)

    if copy_dir:
        bad = []
        for n, ins, args in build["ins"]:
            if ins != "COPY" or "--from=" in args:
                continue
            words = [w for w in args.split() if not w.startswith("--")]
            for src in words[:-1]:
                if not os.path.exists(src):
                    bad.append("line %d: COPY %s: not in the repository" % (n, src))
                    continue
                dst = os.path.join(copy_dir, src.rstrip("/"))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if os.path.isdir(src):
                    shutil.copytree(src, dst, dirs_exist_ok=True)
                else:
                    shutil.copy2(src, dst)
        report(not bad, "build stage COPY sources exist (%s)" % copy_dir, bad)
    return rpkgs


# ---------------------------------------------------------------------------------------------
# libraries -> Debian packages

def dpkg_db():
    """{package: {"deps": [[alternatives]], "priority": str, "essential": bool}} of installed packages,
    plus {virtual: [providers]}."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${Package}\t${db:Status-Abbrev}\t${Priority}\t${Essential}\t${Pre-Depends}\t"
                          "${Depends}\t${Provides}\n"], capture_output=True, text=True, check=True).stdout
    db, provides = {}, {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 7 or not f[1].startswith("ii"):
            continue
        deps = []
        for dep in (f[4] + ", " + f[5]).split(","):
            alts = [re.sub(r"[\s(:].*$", "", a.strip()) for a in dep.split("|") if a.strip()]
            if alts:
                deps.append(alts)
        db[f[0]] = {"deps": deps, "priority": f[2], "essential": f[3] == "yes"}
        for p in f[6].split(","):
            p = re.sub(r"[\s(].*$", "", p.strip())
            if p:
                provides.setdefault(p, []).append(f[0])
    return db, provides


def closure(roots, db, provides):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        if p not in db:
            for real in provides.get(p, []):
                todo.append(real)
            seen.add(p)
            continue
        seen.add(p)
        for alts in db[p]["deps"]:
            inst = [a for a in alts if a in db or a in provides]
            if inst:
                todo.append(inst[0])
    return seen


def owner(path):
    """Debian package that ships path (tries the /usr-merged and resolved spellings)."""
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        cands.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
    for c in cands:
        r = subprocess.run(["dpkg-query", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            for line in r.stdout.splitlines():
                pkg, _, p = line.partition(": ")
                if p.strip() == c:
                    return pkg.split(":")[0]
    return None


def libraries(binary, rpkgs):
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
    libs = {}
    for line in ldd.stdout.splitlines():
        m = re.match(r"^\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"^\s*(/\S+)\s+\(", line)
        if m:
            libs[os.path.basename(m.group(1))] = m.group(m.lastindex)
    report(ldd.returncode == 0 and libs, "ldd %s lists %d shared libraries" % (binary, len(libs)),
           [ldd.stdout + ldd.stderr])
    if not libs:
        return
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)

    db, provides = dpkg_db()
    owners, unknown = {}, []
    for soname, path in sorted(libs.items()):
        pkg = owner(path)
        if pkg:
            owners[soname] = pkg
        else:
            unknown.append("%s (%s): no Debian package ships it" % (soname, path))
    report(not unknown, "every library maps to a Debian package (dpkg -S): %d packages" % len(set(owners.values())),
           unknown)
    mapping = ["%-26s %s%s" % (so, owners[so], "  (NEEDED)" if so in needed else "") for so in sorted(owners)]

    # debian:*-slim is Debian's minbase: the Priority: required packages (and apt).
    base = closure([p for p, v in db.items() if v["priority"] == "required" or v["essential"]] + ["apt"],
                   db, provides)
    missing_pkgs = [p for p in rpkgs if p not in db]
    report(not missing_pkgs, "runtime packages are known to dpkg here (same Debian release as the image)",
           ["not installed here, cannot map: %s" % p for p in missing_pkgs])
    image = closure(rpkgs, db, provides) | base

    direct = sorted({owners[s] for s in needed if s in owners})
    bad = [p for p in direct if p not in rpkgs and p not in base]
    report(not bad, "the runtime stage installs the package of every library gatewayd links directly (%s)"
           % " ".join(direct), ["%s: add to the runtime stage's apt-get install" % p for p in bad] + mapping)

    bad = sorted({"%s (%s)" % (s, p) for s, p in owners.items() if p not in image})
    report(not bad, "every library ldd lists is in the runtime image (installed packages, their dependencies, "
           "or the slim base)", bad + (mapping if bad else []))

    used = set(owners.values())
    extra = [p for p in rpkgs if p not in used and p not in NON_LIBRARY_OK]
    report(not extra, "the runtime stage installs no library package the binary does not load (besides %s)"
           % ", ".join(p for p in rpkgs if p in NON_LIBRARY_OK),
           ["%s: no library of gatewayd comes from it (rebuild build/gatewayd if it should)" % p for p in extra])


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    path, binary, ref = argv[:3]
    secrets = set()
    with open(ref, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\| `(GATEWAY_[A-Z0-9_]+)` \(or `_FILE`\)", line)
            if m:
                secrets.add(m.group(1))
    rpkgs = lint(path, secrets, argv[3] if len(argv) == 4 else None)
    if rpkgs:
        libraries(binary, rpkgs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
