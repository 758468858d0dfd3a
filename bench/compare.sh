#!/bin/bash
# compare.sh — coffre against gocryptfs and a no-crypto FUSE passthrough,
# in one run, on the same machine, each on its own tmpfs backing directory.
#
# Sets up the three filesystems (coffre on a throw-away SoftHSM2 token),
# runs every fio job in bench/fio and the metadata workload bench/meta.sh
# on each, N times (median), records each daemon's peak RSS (VmHWM), runs
# crypto_bench, prints a table of absolute figures and coffre's speed
# relative to each peer, and writes bench/results/latest.json (and .txt).
# Everything it mounts is unmounted on exit, whatever happens.
#
# Usage: compare.sh [--repeat N] [--quick] [--perf] [--build DIR]
#                   [--coffre-opts OPTS] [--peer-bdi]
#   --repeat N  runs per workload (default 3, 1 with --quick); median kept
#   --quick     small sizes, 3 s random jobs, small tree: under 5 minutes
#   --perf      afterwards, profile coffre (perf record -g) during a
#               sequential write and a 4 KiB random write; reports go to
#               bench/results/perf-*.txt
#   --build DIR meson build directory holding tests/bin/coffre{,ctl} (and
#               bench/passthrough, bench/crypto_bench if bench/ is built
#               there; otherwise they are compiled here with cc)
#   --coffre-opts OPTS  extra mount options for coffre (crypto_threads=1)
#   --peer-bdi  give gocryptfs coffre's readahead and dirty-page share too
#               (by default it runs with the kernel's FUSE defaults)
# Needs root (tmpfs mounts, drop_caches), fio, gocryptfs, softhsm2-util,
# python3, and perf for --perf.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
repeat=
quick=0
do_perf=0
coffre_opts=
peer_bdi=0
build=${BUILD_DIR:-$root/build-bench}
fslist=(coffre gocryptfs passthrough)

die() { echo "compare.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--repeat) repeat=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--perf) do_perf=1; shift ;;
	--build) build=$2; shift 2 ;;
	--coffre-opts) coffre_opts=,$2; shift 2 ;;
	--peer-bdi) peer_bdi=1; shift ;;
	-h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
done
if [ "$quick" = 1 ]; then
	: "${repeat:=1}"
	export BENCH_SIZE=128m BENCH_JOBSIZE=64m BENCH_RUNTIME=3
	tree=/usr/include/linux
	crypto_args=(-t 0.2 -r 1)
else
	: "${repeat:=3}"
	export BENCH_SIZE=512m BENCH_JOBSIZE=256m BENCH_RUNTIME=10
	tree=/usr/include
	crypto_args=(-t 0.2 -r 9)
fi
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat needs a positive number"
[ "$(id -u)" = 0 ] || die "must run as root (tmpfs mounts, drop_caches)"
for t in fio gocryptfs softhsm2-util python3 mountpoint; do
	command -v "$t" >/dev/null || die "$t not found"
done
[ "$do_perf" = 0 ] || command -v perf >/dev/null || die "perf not found"
# shellcheck source=lib.sh
. "$here/lib.sh"
coffre_programs "$build"
[ -x "$coffre" ] && [ -x "$coffrectl" ] ||
	die "no $coffre: build first (meson setup build-bench && ninja -C build-bench)"

tmp=$(mktemp -d /tmp/coffre-bench.XXXXXX)
perf_pid=

cleanup() {
	local fs
	set +e
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null
		wait "$perf_pid" 2>/dev/null
	fi
	for fs in "${fslist[@]}"; do
		umount_if_mounted "$tmp/mnt-$fs"
	done
	for fs in "${fslist[@]}"; do
		umount_if_mounted "$tmp/$fs"
	done
	coffre_conf_rm
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- the helper programs: from the build dir, else compiled here
mkdir -p "$tmp/bin"
cflags=(-std=c17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror)
passthrough=$build/bench/passthrough
if [ ! -x "$passthrough" ]; then
	passthrough=$tmp/bin/passthrough
	# shellcheck disable=SC2046
	cc "${cflags[@]}" -DFUSE_USE_VERSION=314 $(pkg-config --cflags fuse3) \
		-I"$root/src" -I"$root/include/control" "$here/passthrough.c" \
		"$root/src/fs/bdi.c" "$root/src/control/mountinfo.c" -o "$passthrough" \
		$(pkg-config --libs fuse3) -pthread
fi
crypto_bench=$build/bench/crypto_bench
if [ ! -x "$crypto_bench" ]; then
	crypto_bench=$tmp/bin/crypto_bench
	[ -f "$build/src/crypto/libcoffre_crypto.a" ] || die "no crypto library in $build"
	cc "${cflags[@]}" -I"$root/include/crypto" -I"$root/src" "$here/crypto_bench.c" \
		"$build/src/crypto/libcoffre_crypto.a" -lcrypto -pthread -o "$crypto_bench"
fi

# shellcheck source=lib.sh
. "$here/lib.sh"

# ---- mount the three filesystems
say "setting up in $tmp"
for fs in "${fslist[@]}"; do
	mkdir -p "$tmp/$fs" "$tmp/mnt-$fs"
	mount -t tmpfs -o size=6g,mode=0700 "bench-$fs" "$tmp/$fs"
	mkdir "$tmp/$fs/backing"
done
# shellcheck source=../tests/softhsm.sh
. "$root/tests/softhsm.sh"
softhsm_setup "$tmp/hsm"
softhsm_init_token coffre-bench 1234 5678
(umask 077; printf '1234' >"$tmp/pin")
mapfile -t init_args < <(coffre_init_args)
"$coffrectl" init "${init_args[@]}" --hsm pkcs11:token=coffre-bench \
	--pin-file "$tmp/pin" "$tmp/coffre/backing" >/dev/null
"$coffre" "$tmp/coffre/backing" "$tmp/mnt-coffre" \
	-o "$(coffre_conf_opt)pin_file=$tmp/pin$coffre_opts"
gocryptfs -q -init -extpass 'echo pw' -scryptn 10 "$tmp/gocryptfs/backing" >/dev/null
gocryptfs -q -extpass 'echo pw' "$tmp/gocryptfs/backing" "$tmp/mnt-gocryptfs"
"$passthrough" "$tmp/passthrough/backing" "$tmp/mnt-passthrough"
declare -A pid
for fs in "${fslist[@]}"; do
	mountpoint -q "$tmp/mnt-$fs" || die "$fs did not mount"
	pid[$fs]=$(daemon_pid "$tmp/mnt-$fs") || die "no daemon found for $fs"
done
# Each mount's bdi (MAJ:MIN in /proc/self/mountinfo; the tmp path has no
# characters mountinfo escapes).
bdi_of() { echo "/sys/class/bdi/$(awk -v m="$1" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)"; }
if [ "$peer_bdi" = 1 ]; then
	echo 1024 >"$(bdi_of "$tmp/mnt-gocryptfs")/read_ahead_kb"
	echo 10 >"$(bdi_of "$tmp/mnt-gocryptfs")/max_ratio"
fi
bdi=$tmp/bdi.txt
for fs in "${fslist[@]}"; do
	b=$(bdi_of "$tmp/mnt-$fs")
	echo "$fs $(cat "$b/read_ahead_kb") $(cat "$b/max_ratio")"
done >"$bdi"

# ---- workloads
raw=$tmp/raw.tsv
: >"$raw"

# fio_value JSON METRIC: write_bw / read_bw in MiB/s, *_iops, rw_iops.
fio_value() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
m = sys.argv[2]
if m == "rw_iops":
    print("%.1f" % (j["read"]["iops"] + j["write"]["iops"]))
else:
    d, k = m.split("_")
    print("%.1f" % (j[d]["bw"] / 1024 if k == "bw" else j[d]["iops"]))
EOF
}

# run_fio FS REP JOB METRIC
run_fio() {
	local out=$tmp/fio-$1-$3.json v
	if ! BENCH_DIR=$tmp/mnt-$1 timeout 600 fio --output-format=json \
		--output="$out" "$here/fio/$3.fio" >/dev/null 2>"$tmp/fio.err"; then
		echo "compare.sh: $3 failed on $1: $(tail -n 3 "$tmp/fio.err")" >&2
		return 0
	fi
	v=$(fio_value "$out" "$4")
	printf '%s\t%s\t%s\t%s\n' "$1" "$3" "$2" "$v" >>"$raw"
	say "$1 $3 #$2: $v"
}

# run_suite FS REP: every workload once on FS.
run_suite() {
	local fs=$1 rep=$2 mnt=$tmp/mnt-$1 m ph
	drop_caches
	run_fio "$fs" "$rep" seqwrite write_bw
	drop_caches
	run_fio "$fs" "$rep" seqread read_bw
	drop_caches
	run_fio "$fs" "$rep" randread read_iops
	run_fio "$fs" "$rep" randread-direct read_iops
	run_fio "$fs" "$rep" randwrite write_iops
	rm -rf "${mnt:?}"/*
	run_fio "$fs" "$rep" seqwrite-2jobs write_bw
	rm -rf "${mnt:?}"/*
	run_fio "$fs" "$rep" randrw-mix rw_iops
	rm -rf "${mnt:?}"/*
	if m=$("$here/meta.sh" --tree "$tree" "$mnt"); then
		for ph in untar stat read rm; do
			printf '%s\tmeta-%s\t%s\t%s\n' "$fs" "$ph" "$rep" \
				"$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$m" "$ph")" >>"$raw"
		done
		say "$fs meta #$rep: $m"
	else
		echo "compare.sh: meta.sh failed on $fs" >&2
	fi
}

start=$(date +%s)
for rep in $(seq 1 "$repeat"); do
	for fs in "${fslist[@]}"; do
		run_suite "$fs" "$rep"
	done
done

rss=$tmp/rss.tsv
: >"$rss"
for fs in "${fslist[@]}"; do
	printf '%s\t%s\t%s\n' "$fs" \
		"$(awk '/^VmHWM/ { print $2 }' "/proc/${pid[$fs]}/status")" \
		"$(awk '/^VmRSS/ { print $2 }' "/proc/${pid[$fs]}/status")" >>"$rss"
done
suite_seconds=$(($(date +%s) - start))

say "crypto_bench ${crypto_args[*]}"
"$crypto_bench" "${crypto_args[@]}" -j "$tmp/crypto.json" >"$tmp/crypto.txt"

# ---- profiles of coffre (optional)
mkdir -p "$here/results"
profile() {
	local job=$1 data=$tmp/perf-$1.data
	perf record -q -g -p "${pid[coffre]}" -o "$data" 2>/dev/null &
	perf_pid=$!
	sleep 1
	BENCH_DIR=$tmp/mnt-coffre fio "$here/fio/$job.fio" >/dev/null
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
	perf_pid=
	{
		echo "# coffre daemon during fio/$job.fio, $(date -u +%FT%TZ)"
		echo "# self time by object (perf report --no-children --sort dso)"
		perf report -i "$data" --stdio --no-children --sort dso \
			-g none --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$'
		echo
		echo "# hottest symbols, self time (perf report --no-children)"
		perf report -i "$data" --stdio --no-children --sort dso,symbol \
			-g none --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$'
		echo
		echo "# hottest symbols including callees (perf report --children)"
		perf report -i "$data" --stdio --children --sort symbol \
			-g none --percent-limit 5 2>/dev/null | grep -v '^#' | grep -v '^$'
	} >"$here/results/perf-$job.txt"
	say "profile written to bench/results/perf-$job.txt"
}
if [ "$do_perf" = 1 ]; then
	drop_caches
	profile seqwrite
	drop_caches
	profile seqread
	profile randwrite
	rm -rf "${tmp:?}/mnt-coffre"/*
fi

# ---- report
machine_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
python3 - "$raw" "$rss" "$bdi" "pin_file=...$coffre_opts" \
	"$tmp/crypto.json" "$here/results/latest.json" \
	"$repeat" "$quick" "$suite_seconds" "$(nproc)" "$machine_cpu" \
	"$(uname -r)" "$(free -g | awk '/^Mem/ { print $2 }')" \
	"$(fio --version)" "$(gocryptfs --version | head -n 1)" \
	"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	<<'EOF' | tee "$here/results/latest.txt"
import datetime, json, statistics, sys

(raw, rss, bdi, copts, crypto, out, repeat, quick, secs, nproc, cpu, kernel,
 mem, fio_v, gcfs_v, rev) = sys.argv[1:]
fss = ["coffre", "gocryptfs", "passthrough"]
peers = fss[1:]
# workload -> (unit, higher is better, description)
work = {
    "seqwrite": ("MiB/s", True, "seq write 1M, end fsync"),
    "seqread": ("MiB/s", True, "seq read 1M, cold cache"),
    "randread": ("IOPS", True, "4K rand read, buffered"),
    "randread-direct": ("IOPS", True, "4K rand read, O_DIRECT"),
    "randwrite": ("IOPS", True, "4K rand write, buffered"),
    "seqwrite-2jobs": ("MiB/s", True, "2 parallel seq writers"),
    "randrw-mix": ("IOPS", True, "4 jobs 4K randrw 70/30"),
    "meta-untar": ("s", False, "untar tree (+syncfs)"),
    "meta-stat": ("s", False, "stat every entry"),
    "meta-read": ("s", False, "read every file"),
    "meta-rm": ("s", False, "rm -rf tree"),
}
runs = {}
for line in open(raw):
    fs, w, _, v = line.rstrip("\n").split("\t")
    runs.setdefault(w, {}).setdefault(fs, []).append(float(v))
rssv = {}
for line in open(rss):
    fs, hwm, cur = line.split()
    rssv[fs] = {"vmhwm_kib": int(hwm), "vmrss_kib": int(cur)}

results = {}
for w, (unit, higher, desc) in work.items():
    r = {"unit": unit, "higher_is_better": higher, "description": desc}
    for fs in fss:
        v = runs.get(w, {}).get(fs)
        r[fs] = {"median": statistics.median(v) if v else None, "runs": v or []}
    for p in peers:
        c, q = r["coffre"]["median"], r[p]["median"]
        ratio = None
        if c and q:
            ratio = c / q if higher else q / c
        r["speed_vs_" + p] = ratio
    results[w] = r

def fmt(v):
    if v is None:
        return "-"
    return "%.2f" % v if v < 100 else "%.0f" % v

date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print("coffre bench (%s), %s runs each, median%s" %
      (date, repeat, ", --quick" if quick == "1" else ""))
print("machine: %s CPUs, %s, %s GiB RAM, kernel %s" % (nproc, cpu, mem, kernel))
print("%s, %s, coffre %s" % (fio_v, gcfs_v, rev))
bdiv = {}
for line in open(bdi):
    fs, ra, ratio = line.split()
    bdiv[fs] = {"read_ahead_kb": int(ra), "max_ratio": int(ratio)}
print("coffre -o %s; bdi read_ahead_kb / max_ratio: %s" % (copts, ", ".join(
    "%s %d KiB / %d %%" % (fs, b["read_ahead_kb"], b["max_ratio"]) for fs, b in bdiv.items())))
print()
hdr = "| workload | unit | coffre | gocryptfs | passthrough | coffre vs gocryptfs | coffre vs passthrough |"
print(hdr)
print("|---|---|--:|--:|--:|--:|--:|")
for w, r in results.items():
    print("| %s (%s) | %s | %s | %s | %s | %s | %s |" % (
        w, r["description"], r["unit"],
        fmt(r["coffre"]["median"]), fmt(r["gocryptfs"]["median"]),
        fmt(r["passthrough"]["median"]),
        "-" if r["speed_vs_gocryptfs"] is None else "%.2fx" % r["speed_vs_gocryptfs"],
        "-" if r["speed_vs_passthrough"] is None else "%.2fx" % r["speed_vs_passthrough"]))
print()
print("\"coffre vs X\" is coffre's speed relative to X (>1: coffre faster;"
      " for times, X's time / coffre's time).")
print("Daemon peak RSS (VmHWM) over the suite: " + ", ".join(
    "%s %.1f MiB" % (fs, rssv[fs]["vmhwm_kib"] / 1024) for fs in fss if fs in rssv))
doc = {
    "date": date,
    "repeat": int(repeat),
    "quick": quick == "1",
    "suite_seconds": int(secs),
    "machine": {"nproc": int(nproc), "cpu": cpu, "mem_gib": int(mem),
                "kernel": kernel, "fio": fio_v, "gocryptfs": gcfs_v,
                "coffre_rev": rev},
    "coffre_mount_options": copts,
    "bdi": bdiv,
    "results": results,
    "rss": rssv,
    "crypto": json.load(open(crypto)),
}
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
EOF
echo >&2
cat "$tmp/crypto.txt"
cat "$tmp/crypto.txt" >>"$here/results/latest.txt"
say "JSON: bench/results/latest.json (suite took ${suite_seconds}s)"
