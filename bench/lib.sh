# lib.sh — shell helpers shared by the bench scripts (sourced, not run).

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

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
