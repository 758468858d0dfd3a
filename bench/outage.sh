#!/bin/bash
# outage.sh — coffre's memory during a long bucket outage under a
# create-heavy load (issue 14: "a long bucket outage costs disk, not RAM").
#
# A volume with a bucket, both on one tmpfs; the bucket is bind-remounted
# read-only, and for --minutes a writer makes directories and small files
# (100 per directory) as fast as it can. Every second the daemon's VmRSS,
# open fds and `coffrectl status` (pending paths, in memory, journal
# bytes, inodes cached) are sampled. Then the bucket comes back and the
# time until `coffrectl sync` returns is measured, and the files in the
# backing dir and the bucket are counted (exit 1 on an error, or if the
# bucket holds fewer files than were made). A table every minute and
# a summary go to stdout; every sample to --json FILE.
#
# Usage: outage.sh [--minutes N] [--build DIR] [--json FILE] [--drop-caches]
#   --minutes N     length of the outage (default 10)
#   --build DIR     meson build directory (default build)
#   --json FILE     write the samples and the summary there
#   --drop-caches   have the kernel forget inodes every 10 s, so that the
#                   daemon's own memory shows apart from cached inodes
# Needs root, softhsm2-util, python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
minutes=10
build=$root/build
json=
drop=0

die() { echo "outage.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--minutes) minutes=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--json) json=$2; shift 2 ;;
	--drop-caches) drop=1; shift ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
[[ $minutes =~ ^[1-9][0-9]*$ ]] || die "--minutes needs a positive number"
[ "$(id -u)" = 0 ] || die "must run as root (tmpfs and bind mounts)"
for t in softhsm2-util python3 mountpoint; do
	command -v "$t" >/dev/null || die "$t not found"
done
# shellcheck source=lib.sh
. "$here/lib.sh"
coffre_programs "$build"
[ -x "$coffre" ] && [ -x "$coffrectl" ] || die "no $coffre: build first"
[ -z "$json" ] || json=$(cd "$(dirname "$json")" && pwd)/$(basename "$json")

tmp=$(mktemp -d /tmp/coffre-outage.XXXXXX)
pid=
cleanup() {
	local n
	set +e
	mountpoint -q "$tmp/mnt" && { umount "$tmp/mnt" || umount -l "$tmp/mnt"; }
	for n in $(seq 100); do   # the daemon lets go of the backing dir
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	mountpoint -q "$tmp/fs/bucket" && umount "$tmp/fs/bucket"
	mountpoint -q "$tmp/fs" && umount "$tmp/fs"
	coffre_conf_rm
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=tests/softhsm.sh
. "$root/tests/softhsm.sh"

mkdir -p "$tmp/fs" "$tmp/mnt"
mount -t tmpfs -o size=50%,nr_inodes=0,mode=0700 coffre-outage "$tmp/fs"
mkdir "$tmp/fs/backing" "$tmp/fs/bucket"
(umask 077; printf '1234' >"$tmp/pin")
softhsm_setup "$tmp/hsm"
softhsm_init_token coffre-outage 1234 5678
mapfile -t init_args < <(coffre_init_args)
"$coffrectl" init "${init_args[@]}" --hsm pkcs11:token=coffre-outage \
	--pin-file "$tmp/pin" --bucket "$tmp/fs/bucket" "$tmp/fs/backing" >/dev/null
"$coffre" "$tmp/fs/backing" "$tmp/mnt" -o "$(coffre_conf_opt)pin_file=$tmp/pin"
pid=$(daemon_pid "$tmp/mnt") || die "no daemon"

say "bucket read-only for $minutes min under a create loop; in $tmp"
mount --bind "$tmp/fs/bucket" "$tmp/fs/bucket"
mount -o remount,ro,bind "$tmp/fs/bucket" "$tmp/fs/bucket"

python3 - "$tmp" "$pid" "$coffrectl" "$minutes" "$drop" "$json" <<'EOF'
import json, os, subprocess, sys, threading, time

tmp, pid, ctl, minutes, drop, out = sys.argv[1:]
mnt, deadline = os.path.join(tmp, "mnt"), time.monotonic() + 60 * int(minutes)
made = {"files": 0, "dirs": 0, "errors": 0, "first_error": None}

def writer():
    n = 0
    while time.monotonic() < deadline:
        d = os.path.join(mnt, "d%06d" % (n // 100))
        try:
            if n % 100 == 0:
                os.mkdir(d)
                made["dirs"] += 1
            with open(os.path.join(d, "f%08d" % n), "w") as f:
                f.write("record %d\n" % n * (1 + n % 8))
            made["files"] += 1
        except OSError as e:
            made["errors"] += 1
            made["first_error"] = made["first_error"] or str(e)
        n += 1

def status():
    p = subprocess.run([ctl, "status", mnt, "--json"], capture_output=True, text=True)
    return json.loads(p.stdout) if p.returncode in (0, 1, 2) else {}

def rss_kib():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

t = threading.Thread(target=writer)
start = time.monotonic()
t.start()
samples = []
print("| minute | files made | RSS MiB | fds | pending | in memory | journal MiB | inodes cached |")
print("|--:|--:|--:|--:|--:|--:|--:|--:|")
while t.is_alive():
    time.sleep(1)
    s = status()
    rep = s.get("replication", {})
    smp = {"t": round(time.monotonic() - start, 1), "files": made["files"],
           "rss_kib": rss_kib(), "fds": len(os.listdir("/proc/%s/fd" % pid)),
           "queued": rep.get("queued"), "in_memory": rep.get("in_memory"),
           "journal_bytes": rep.get("journal_bytes"),
           "inodes": s.get("inodes", {}).get("cached")}
    samples.append(smp)
    if drop == "1" and len(samples) % 10 == 0:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
    if len(samples) % 60 == 0 or not t.is_alive():
        print("| %d | %d | %.1f | %d | %s | %s | %.1f | %s |" % (
            round(smp["t"] / 60), smp["files"], smp["rss_kib"] / 1024, smp["fds"],
            smp["queued"], smp["in_memory"], (smp["journal_bytes"] or 0) / 2**20,
            smp["inodes"]), flush=True)
t.join()
# The bucket comes back; how long until it holds everything?
subprocess.run(["mount", "-o", "remount,rw,bind", os.path.join(tmp, "fs", "bucket"),
                os.path.join(tmp, "fs", "bucket")], check=True)
t0 = time.monotonic()
p = subprocess.run([ctl, "sync", mnt, "--timeout", "3600"], capture_output=True, text=True)
catch_up = time.monotonic() - t0

def count(top):
    return sum(len(f) for _, _, f in os.walk(top))
peak = max(samples, key=lambda x: x["rss_kib"])
summary = {"minutes": int(minutes), "files": made["files"], "dirs": made["dirs"],
           "errors": made["errors"], "first_error": made["first_error"],
           "rss_start_mib": round(samples[0]["rss_kib"] / 1024, 1),
           "rss_peak_mib": round(peak["rss_kib"] / 1024, 1),
           "fds_peak": max(x["fds"] for x in samples),
           "journal_peak_mib": round(max(x["journal_bytes"] or 0 for x in samples) / 2**20, 1),
           "catch_up_s": round(catch_up, 1), "sync": p.returncode == 0,
           "rss_after_mib": round(rss_kib() / 1024, 1), "drop_caches": drop == "1",
           "backing_files": count(os.path.join(tmp, "fs", "backing")),
           "bucket_files": count(os.path.join(tmp, "fs", "bucket"))}
print()
print("summary: " + json.dumps(summary))
if out:
    with open(out, "w") as f:
        json.dump({"summary": summary, "samples": samples}, f, indent=1)
        f.write("\n")
sys.exit(0 if made["errors"] == 0 and p.returncode == 0 and
         summary["bucket_files"] >= made["files"] else 1)
EOF
