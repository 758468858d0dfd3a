# lib.sh — shell helpers shared by the bench scripts (sourced, not run).

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Unmount $1 if something is mounted there (lazily if it is busy).
umount_if_mounted() {
	if mountpoint -q "$1"; then
		umount "$1" 2>/dev/null || umount -l "$1"
	fi
}

# PID of the daemon serving mount point $1 (the process whose command line
# names it; coffre and gocryptfs fork, so the parent has exited by now).
daemon_pid() {
	local p arg
	for p in /proc/[0-9]*; do
		while IFS= read -r -d '' arg; do
			if [ "$arg" = "$1" ]; then
				echo "${p#/proc/}"
				return 0
			fi
		done <"$p/cmdline" 2>/dev/null || true
	done
	return 1
}

# The coffre programs a bench runs from the build dir $1: the tests/bin
# pair, which reads its mount configurations from $1/tests/etc-coffre and
# never from /etc/coffre; for a build from before mount configurations (a
# baseline of compare.sh), src/cli's, which mount without one.  Sets
# coffre, coffrectl and coffre_conf (the configuration `coffrectl init`
# writes, "" for such an old build).  coffre_init_args and coffre_conf_opt
# give what init and the mount options need; coffre_conf_rm removes the
# configuration (from the cleanup).
coffre_programs() {
	coffre=$1/tests/bin/coffre
	coffrectl=$1/tests/bin/coffrectl
	coffre_confdir=$1/tests/etc-coffre
	coffre_conf=bench-$(basename "$0" .sh)-$$
	if [ ! -x "$coffre" ] && [ -x "$1/src/cli/coffre" ] &&
	   ! "$1/src/cli/coffre" --help | grep -q 'conf=NAME'; then
		coffre=$1/src/cli/coffre
		coffrectl=$1/src/cli/coffrectl
		coffre_conf=
	fi
}
coffre_init_args() { [ -z "$coffre_conf" ] || printf '%s\n' --conf "$coffre_conf"; }
coffre_conf_opt() { [ -z "$coffre_conf" ] || printf 'conf=%s,' "$coffre_conf"; }
coffre_conf_rm() {
	[ -z "${coffre_conf:-}" ] || rm -f "$coffre_confdir/$coffre_conf.conf"
}
