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
