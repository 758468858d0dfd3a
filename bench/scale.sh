#!/bin/bash
# scale.sh — the scale benchmark of issue 14 ("Millions of files: bounded
# descriptors and memory"): coffre against gocryptfs in one run, each on its
# own tmpfs backing directory.
#
# Per filesystem: create N small files in M directories (d/NNNNNN/fNNNNNNNN,
# file i in directory i mod M, 64 to 575 bytes each) and syncfs; unmount,
# drop caches and mount again; count the files with `find -type f`; lstat
# every entry (os.walk + os.lstat); read a seeded random 10 % of the files;
# rm -rf the tree.  Each step is timed (files per second), its errors are
# counted and the first one kept, and a sampler reads the daemon's open fds
# and VmRSS/VmHWM every 0.5 s; the peaks are reported per step and overall.
# A step that fails (EMFILE, a dead daemon, a timeout) is reported, and the
# run goes on.  Everything mounted is unmounted on exit, whatever happens.
#
# Usage: scale.sh [--files N] [--dirs M] [--seed S] [--build DIR]
#                 [--fd-limit N] [--only coffre|gocryptfs] [--json FILE]
#                 [--timeout SECONDS] [--max-fds N] [--check]
#   --files N      files to create (default 1000000)
#   --dirs M       directories to spread them over (default 100000)
#   --seed S       seed of the random 10 % read sample (default 14)
#   --build DIR    meson build directory with tests/bin/coffre{,ctl} (they
#                  keep their mount configuration in DIR/tests/etc-coffre)
#                  (default build)
#   --fd-limit N   run the coffre daemon under prlimit --nofile=N:N
#   --only FS      run one filesystem only (coffre or gocryptfs)
#   --json FILE    also write the results there (default: none)
#   --timeout S    give up on a step after S seconds (default 7200)
#   --max-fds N    mount coffre with max_fds=N (default: coffre's, 4096)
#   --bucket       give coffre a bucket (a directory on its tmpfs): the
#                  replicator copies everything as it is made
#   --check        exit 1 unless coffre made no error in any step and its
#                  peak fds stayed within max_fds + 64 (HSM module,
#                  replicator, sockets, calls in flight); for CI
# Needs root (tmpfs mounts, drop_caches), gocryptfs (unless --only coffre),
# softhsm2-util, python3, prlimit for --fd-limit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
files=1000000
dirs=100000
seed=14
build=$root/build
fd_limit=
json=
step_timeout=7200
max_fds=
bucket=0
check=0
fslist=(coffre gocryptfs)

die() { echo "scale.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--files) files=$2; shift 2 ;;
	--dirs) dirs=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--fd-limit) fd_limit=$2; shift 2 ;;
	--only) fslist=("$2"); shift 2 ;;
	--json) json=$2; shift 2 ;;
	--timeout) step_timeout=$2; shift 2 ;;
	--max-fds) max_fds=$2; shift 2 ;;
	--check) check=1; shift ;;
	--bucket) bucket=1; shift ;;
	-h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
for v in "$files" "$dirs" "$step_timeout"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "--files, --dirs and --timeout need positive numbers"
done
[[ $seed =~ ^[0-9]+$ ]] || die "--seed needs a number"
[ -z "$fd_limit" ] || [[ $fd_limit =~ ^[1-9][0-9]*$ ]] || die "--fd-limit needs a positive number"
[ -z "$max_fds" ] || [[ $max_fds =~ ^[1-9][0-9]*$ ]] || die "--max-fds needs a positive number"
[ "$dirs" -le "$files" ] || die "--dirs must not exceed --files"
case ${fslist[0]} in coffre|gocryptfs) ;; *) die "--only takes coffre or gocryptfs" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (tmpfs mounts, drop_caches)"
need=(softhsm2-util python3 mountpoint timeout)
[ "${fslist[*]}" = coffre ] || need+=(gocryptfs)
[ -z "$fd_limit" ] || need+=(prlimit)
for t in "${need[@]}"; do
	command -v "$t" >/dev/null || die "$t not found"
done
# shellcheck source=lib.sh
. "$here/lib.sh"
coffre_programs "$build"
if [ ! -x "$coffre" ] || [ ! -x "$coffrectl" ]; then
	die "no $coffre: build first (meson setup build && meson compile -C build)"
fi
if [ -n "$json" ]; then
	: >"$json" || die "cannot write $json"
	json=$(cd "$(dirname "$json")" && pwd)/$(basename "$json")
fi

tmp=$(mktemp -d /tmp/coffre-scale.XXXXXX)
sampler=

cleanup() {
	local fs
	set +e
	[ -z "$sampler" ] || { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; }
	for fs in coffre gocryptfs; do
		umount_if_mounted "$tmp/mnt-$fs"
		umount_if_mounted "$tmp/$fs"
	done
	coffre_conf_rm
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=lib.sh
. "$here/lib.sh"
now() { date +%s.%N; }


# ---- the workload, one step per call: prints one JSON object
# {"ok": n, "errors": n, "first_error": "...", "seconds": s, ...}
cat >"$tmp/work.py" <<'EOF'
import json, os, random, subprocess, sys, time

step, mnt, nfiles, ndirs, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
top = os.path.join(mnt, "d")
err = {"n": 0, "first": None}

def fail(what, e):
    err["n"] += 1
    if err["first"] is None:
        err["first"] = str(e) if what is None else "%s: %s" % (what, e)

def dpath(d):
    return os.path.join(top, "%06d" % d)

def fpath(i):
    return os.path.join(dpath(i % ndirs), "f%08d" % i)

out = {}
t = time.monotonic()
ok = 0
if step == "create":
    try:
        os.mkdir(top)
    except OSError as e:
        fail("mkdir " + top, e)
    for d in range(ndirs):
        try:
            os.mkdir(dpath(d))
        except OSError as e:
            fail("mkdir " + dpath(d), e)
    for i in range(nfiles):
        p = fpath(i)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, (b"%08d\n" % i) * (8 + i % 64))
            finally:
                os.close(fd)
            ok += 1
        except OSError as e:
            fail("create " + p, e)
    r = subprocess.run(["sync", "-f", mnt], capture_output=True, text=True)
    if r.returncode:
        fail("syncfs", r.stderr.strip())
elif step == "find":
    r = subprocess.run("find %s -type f | wc -l" % top, shell=True,
                       capture_output=True, text=True)
    ok = int(r.stdout.strip() or 0)
    for line in r.stderr.splitlines():
        fail(None, line)
    if ok != nfiles:
        fail("find", "%d files found, %d expected" % (ok, nfiles))
elif step == "stat":
    entries = 0
    for d, subdirs, names in os.walk(top, onerror=lambda e: fail("readdir", e)):
        for n in subdirs + names:
            try:
                os.lstat(os.path.join(d, n))
                entries += 1
                if n in names:
                    ok += 1
            except OSError as e:
                fail("lstat " + os.path.join(d, n), e)
    out["entries"] = entries
elif step == "read":
    sample = random.Random(seed).sample(range(nfiles), max(1, nfiles // 10))
    for i in sample:
        p = fpath(i)
        try:
            with open(p, "rb") as f:
                data = f.read()
            if data != (b"%08d\n" % i) * (8 + i % 64):
                fail("read " + p, "wrong content")
            else:
                ok += 1
        except OSError as e:
            fail("read " + p, e)
elif step == "rm":
    r = subprocess.run(["rm", "-rf", top], capture_output=True, text=True)
    for line in r.stderr.splitlines():
        fail(None, line)
    if r.returncode and not r.stderr:
        fail("rm", "exit status %d" % r.returncode)
    ok = nfiles
    if os.path.lexists(top):
        left = sum(len(n) for _, _, n in os.walk(top))
        ok -= left
        fail("rm", "%d files left" % left)
out.update(ok=ok, errors=err["n"], first_error=err["first"],
           seconds=round(time.monotonic() - t, 3))
print(json.dumps(out))
EOF

# ---- the sampler: "epoch fds VmRSS_kiB VmHWM_kiB" every 0.5 s for PID $1
sample_loop() {
	local pid=$1 out=$2 fds rss hwm
	while [ -d "/proc/$pid" ]; do
		fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || fds=0
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || rss=
		hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || hwm=
		[ -z "$rss" ] || echo "$(now) $fds $rss $hwm" >>"$out"
		sleep 0.5
	done
}
start_sampler() {
	sample_loop "$1" "$tmp/samples-$2.txt" &
	sampler=$!
}
stop_sampler() {
	[ -z "$sampler" ] || { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; }
	sampler=
}

# ---- mounting
do_mount() {
	local fs=$1 mnt=$tmp/mnt-$1 p
	if [ "$fs" = coffre ]; then
		local o
		o="$(coffre_conf_opt)pin_file=$tmp/pin${max_fds:+,max_fds=$max_fds}"
		if [ -n "$fd_limit" ]; then
			prlimit --nofile="$fd_limit:$fd_limit" \
				"$coffre" "$tmp/$fs/backing" "$mnt" -o "$o"
		else
			"$coffre" "$tmp/$fs/backing" "$mnt" -o "$o"
		fi
	else
		gocryptfs -q -nosyslog -passfile "$tmp/pass" "$tmp/$fs/backing" "$mnt"
	fi
	mountpoint -q "$mnt" || return 1
	p=$(daemon_pid "$mnt") || return 1
	echo "$p" >"$tmp/pid-$fs"
	start_sampler "$p" "$fs"
}
do_umount() {
	local pid i
	stop_sampler
	umount_if_mounted "$tmp/mnt-$1"
	# The daemon exits after the unmount (its replicator and HSM session
	# close then): wait for it before its token directory goes.
	pid=$(cat "$tmp/pid-$1" 2>/dev/null || true)
	for i in $(seq 600); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
}

# record FS STEP START END JSON
results=$tmp/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

# run_step FS STEP: the workload step under a timeout, recorded whatever
# happens.
run_step() {
	local fs=$1 step=$2 mnt=$tmp/mnt-$1 t0 out rc=0
	t0=$(now)
	if ! mountpoint -q "$mnt"; then
		record "$fs" "$step" "$t0" "$t0" '{"ok": 0, "errors": 1, "first_error": "not mounted", "seconds": 0}'
		say "$fs $step: not mounted"
		return 0
	fi
	out=$(timeout -k 10 "$step_timeout" python3 "$tmp/work.py" "$step" "$mnt" \
		"$files" "$dirs" "$seed" 2>"$tmp/step.err") || rc=$?
	if [ "$rc" != 0 ] || [ -z "$out" ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			msg="timeout after ${step_timeout}s"
		else
			msg="workload exit status $rc: $(tail -n 1 "$tmp/step.err")"
		fi
		out=$(python3 -c 'import json,sys; print(json.dumps({"ok": 0, "errors": 1, "first_error": sys.argv[1], "seconds": float(sys.argv[2])}))' \
			"$msg" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')")
	fi
	record "$fs" "$step" "$t0" "$(now)" "$out"
	say "$fs $step: $out"
}

# ---- the run
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=tests/softhsm.sh
. "$root/tests/softhsm.sh"
(umask 077; printf '1234' >"$tmp/pin"; printf 'pw\n' >"$tmp/pass")
say "$files files in $dirs directories, seed $seed${fd_limit:+, coffre fd limit $fd_limit}; in $tmp"
start=$(date +%s)
for fs in "${fslist[@]}"; do
	mkdir -p "$tmp/$fs" "$tmp/mnt-$fs"
	mount -t tmpfs -o size=90%,nr_inodes=0,mode=0700 "scale-$fs" "$tmp/$fs"
	mkdir "$tmp/$fs/backing"
	if [ "$fs" = coffre ]; then
		softhsm_setup "$tmp/hsm"
		softhsm_init_token coffre-scale 1234 5678
		mapfile -t init_args < <(coffre_init_args)
		if [ "$bucket" = 1 ]; then
			mkdir "$tmp/coffre/bucket"
			init_args+=(--bucket "$tmp/coffre/bucket")
		fi
		"$coffrectl" init --hsm pkcs11:token=coffre-scale --pin-file "$tmp/pin" \
			"${init_args[@]}" "$tmp/coffre/backing" >/dev/null
	else
		gocryptfs -q -init -passfile "$tmp/pass" -scryptn 10 "$tmp/$fs/backing" >/dev/null
	fi
	if ! do_mount "$fs"; then
		t=$(now)
		record "$fs" mount "$t" "$t" '{"ok": 0, "errors": 1, "first_error": "mount failed", "seconds": 0}'
		say "$fs did not mount"
		do_umount "$fs"
		umount "$tmp/$fs" || umount -l "$tmp/$fs"
		continue
	fi
	drop_caches
	run_step "$fs" create
	# remount: a cold daemon (empty inode cache) and a cold page cache
	t=$(now)
	do_umount "$fs"
	drop_caches
	if do_mount "$fs"; then
		record "$fs" remount "$t" "$(now)" '{"ok": 0, "errors": 0, "first_error": null, "seconds": 0}'
	else
		record "$fs" remount "$t" "$(now)" '{"ok": 0, "errors": 1, "first_error": "mount failed", "seconds": 0}'
		say "$fs did not mount again"
	fi
	run_step "$fs" find
	drop_caches
	run_step "$fs" stat
	drop_caches
	run_step "$fs" read
	run_step "$fs" rm
	do_umount "$fs"
	umount "$tmp/$fs" 2>/dev/null || umount -l "$tmp/$fs"
	rm -rf "${tmp:?}/hsm"
done
seconds=$(($(date +%s) - start))

# ---- report
python3 - "$results" "$tmp" "$json" "$files" "$dirs" "$seed" "$fd_limit" \
	"$max_fds" "$check" \
	"$seconds" "$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	"$(uname -r)" "$(command -v gocryptfs >/dev/null && gocryptfs --version | head -n 1 || echo -)" \
	"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" "${fslist[@]}" <<'EOF'
import datetime, json, os, sys

(results, tmp, out, files, dirs, seed, fdlim, max_fds, check, secs, nproc, cpu,
 kernel, gcfs_v, rev, *fss) = sys.argv[1:]
files, dirs = int(files), int(dirs)
steps = ["create", "remount", "find", "stat", "read", "rm"]
samples = {}
for fs in fss:
    try:
        with open(os.path.join(tmp, "samples-%s.txt" % fs)) as f:
            samples[fs] = [tuple(float(x) for x in l.split()) for l in f if len(l.split()) == 4]
    except FileNotFoundError:
        samples[fs] = []

def peaks(fs, t0=None, t1=None):
    s = [x for x in samples[fs] if t0 is None or t0 - 0.5 <= x[0] <= t1 + 0.5]
    if not s:
        return None
    return {"fds": int(max(x[1] for x in s)), "rss_kib": int(max(x[2] for x in s)),
            "hwm_kib": int(max(x[3] for x in s))}

res = {fs: {} for fs in fss}
for line in open(results):
    fs, step, t0, t1, j = line.rstrip("\n").split("\t", 4)
    r = json.loads(j)
    r["peak"] = peaks(fs, float(t0), float(t1))
    if step != "remount" and r["seconds"] > 0:
        r["files_per_s"] = round((files // 10 if step == "read" else files) / r["seconds"], 1)
    res[fs][step] = r

date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print("coffre scale bench (%s): %d files in %d directories, read sample seed %s%s"
      % (date, files, dirs, seed, ", coffre fd limit " + fdlim if fdlim else ""))
print("machine: %s CPUs, %s, kernel %s; %s; coffre %s; %d s in all"
      % (nproc, cpu, kernel, gcfs_v, rev, int(secs)))
print()
print("| step | " + " | ".join("%s files/s | %s errors | %s peak fds | %s peak RSS MiB" % (fs, fs, fs, fs) for fs in fss) + " |")
print("|---|" + "--:|" * (4 * len(fss)))
for st in steps:
    cells = []
    for fs in fss:
        r = res[fs].get(st)
        if r is None:
            cells += ["-"] * 4
            continue
        fps = r.get("files_per_s")
        p = r["peak"]
        cells += ["-" if fps is None else "%.0f" % fps, str(r["errors"]),
                  "-" if p is None else str(p["fds"]),
                  "-" if p is None else "%.1f" % (p["rss_kib"] / 1024)]
    print("| %s | %s |" % (st, " | ".join(cells)))
print()
print("files/s: files created, found, stat'ed, read (the 10 %% sample: %d) or removed"
      " per second of the step.  Peaks are the daemon's, sampled every 0.5 s." % (files // 10))
for fs in fss:
    p = peaks(fs)
    print("%s overall: peak %s fds, peak RSS %s MiB (VmHWM %s MiB)" % (
        fs, "-" if p is None else p["fds"],
        "-" if p is None else "%.1f" % (p["rss_kib"] / 1024),
        "-" if p is None else "%.1f" % (p["hwm_kib"] / 1024)))
    for st in steps:
        r = res[fs].get(st)
        if r and r["errors"]:
            print("  %s %s: %d errors, first: %s" % (fs, st, r["errors"], r["first_error"]))
    res[fs]["peak"] = p
if out:
    doc = {"date": date, "files": files, "dirs": dirs, "seed": int(seed),
           "coffre_fd_limit": int(fdlim) if fdlim else None, "seconds": int(secs),
           "machine": {"nproc": int(nproc), "cpu": cpu, "kernel": kernel,
                       "gocryptfs": gcfs_v, "coffre_rev": rev},
           "results": res}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
if check == "1" and "coffre" in res:
    bad = ["%s: %d errors (%s)" % (st, r["errors"], r["first_error"])
           for st, r in res["coffre"].items() if st in steps and r["errors"]]
    bad += ["step %s missing" % st for st in steps if st not in res["coffre"]]
    p = peaks("coffre")
    limit = int(max_fds or 4096) + 64
    if p is None or p["fds"] > limit:
        bad.append("peak fds %s > max_fds + 64 = %d" % (p and p["fds"], limit))
    print("check: " + ("; ".join(bad) if bad else "ok"))
    sys.exit(1 if bad else 0)
EOF
