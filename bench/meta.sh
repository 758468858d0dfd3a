#!/bin/bash
# meta.sh — metadata workload for one directory (usually a FUSE mount):
# untar a tree of several thousand files, stat every entry, read every file,
# rm -rf it; each phase timed in seconds.  Prints one JSON object:
#   {"files": N, "untar": s, "stat": s, "read": s, "rm": s}
#
# The tarball is made once from /usr/include (about 8 000 files, 135 MB on
# Debian with the build dependencies installed) and cached in
# $BENCH_CACHE (default /var/tmp/coffre-bench).  As root, the page cache is
# dropped before the stat and read phases so they reach the filesystem.
#
# Usage: meta.sh [--tree DIR] DIR
set -euo pipefail

tree=/usr/include
if [ "${1:-}" = --tree ]; then
	tree=$2
	shift 2
fi
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: meta.sh [--tree SRC_DIR] DIR" >&2
	exit 2
fi
dir=$1
cache=${BENCH_CACHE:-/var/tmp/coffre-bench}
tarball=$cache/tree-$(echo "$tree" | tr / _).tar

mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
	tar -C "$(dirname "$tree")" -cf "$tarball.tmp" "$(basename "$tree")"
	mv "$tarball.tmp" "$tarball"
fi

drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}

# Seconds since the epoch with nanoseconds.
now() { date +%s.%N; }

# elapsed START: seconds since START, 3 decimals.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

work=$dir/meta.$$
mkdir "$work"
trap 'rm -rf "$work"' EXIT

drop_caches
t=$(now)
tar -C "$work" -xf "$tarball"
sync -f "$work"
t_untar=$(elapsed "$t")

drop_caches
t=$(now)
files=$(find "$work" -printf '%s %m %U\n' | wc -l)
t_stat=$(elapsed "$t")

# head, not cat: GNU cat costs several times more system time per file,
# which would swamp the filesystem's share on a small tree.
drop_caches
t=$(now)
find "$work" -type f -print0 | xargs -0 head -q -c 1073741824 >/dev/null
t_read=$(elapsed "$t")

t=$(now)
rm -rf "$work"
t_rm=$(elapsed "$t")
trap - EXIT

printf '{"files": %d, "untar": %s, "stat": %s, "read": %s, "rm": %s}\n' \
	"$files" "$t_untar" "$t_stat" "$t_read" "$t_rm"
