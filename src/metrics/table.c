/*
 * table.c — every metric coffre exports, in one table (coffre/metrics.h):
 * both `coffrectl metrics` and the metrics file print from it, and the
 * README's list follows it.  Base units: seconds and bytes.  Every sample
 * also carries volume="<uuid>" (never a plaintext name); HSM metrics carry
 * hsm="<index from 1>" and token="<token label>" (never a PIN or a module
 * path).
 */
#include "coffre/metrics.h"

const struct metric_def metric_defs[M_COUNT] = {
	[M_BUILD_INFO] = { "coffre_build_info", METRIC_GAUGE,
		"Always 1; the version label says which coffre serves the volume." },
	[M_HEALTH] = { "coffre_health_level", METRIC_GAUGE,
		"What coffrectl status exits with: 0 healthy, 1 degraded, 2 failing." },
	[M_FUSE_REQUESTS] = { "coffre_fuse_requests_total", METRIC_COUNTER,
		"FUSE requests served, by operation." },
	[M_FUSE_DURATION] = { "coffre_fuse_request_duration_seconds", METRIC_HISTOGRAM,
		"Time from a FUSE request's arrival in the daemon to its reply, by operation." },
	[M_READ_BYTES] = { "coffre_read_bytes_total", METRIC_COUNTER,
		"Plaintext bytes returned by reads." },
	[M_WRITTEN_BYTES] = { "coffre_written_bytes_total", METRIC_COUNTER,
		"Plaintext bytes accepted by writes." },
	[M_EIO] = { "coffre_eio_total", METRIC_COUNTER,
		"FUSE requests answered with EIO." },
	[M_TAMPER] = { "coffre_tamper_total", METRIC_COUNTER,
		"Stored objects found not to authenticate (segments, headers, names, "
		"symlinks, xattrs, key records), rate-limited log lines included." },
	[M_HSM_UP] = { "coffre_hsm_up", METRIC_GAUGE,
		"1 if the HSM is in service, 0 if it is down, lacks the key or rejected the PIN." },
	[M_HSM_CALLS] = { "coffre_hsm_calls_total", METRIC_COUNTER,
		"Calls the pool made to the HSM (unseal, seal, key check)." },
	[M_HSM_DURATION] = { "coffre_hsm_call_duration_seconds", METRIC_HISTOGRAM,
		"Time of each call the pool made to the HSM." },
	[M_HSM_FAILOVERS] = { "coffre_hsm_failovers_total", METRIC_COUNTER,
		"Times the HSM failed a call and was taken out of service." },
	[M_KEY_CACHE_HITS] = { "coffre_key_cache_hits_total", METRIC_COUNTER,
		"Directory key lookups answered from the key cache." },
	[M_KEY_CACHE_MISSES] = { "coffre_key_cache_misses_total", METRIC_COUNTER,
		"Directory key lookups that had to read and unseal a key record." },
	[M_KEY_CACHE_ENTRIES] = { "coffre_key_cache_entries", METRIC_GAUGE,
		"Directory keys held in the key cache." },
	[M_REPL_PENDING] = { "coffre_replication_pending", METRIC_GAUGE,
		"Paths waiting to be copied to the bucket (journal records included: an upper bound)." },
	[M_REPL_LAG] = { "coffre_replication_lag_seconds", METRIC_GAUGE,
		"Age of the oldest change not yet in the bucket; 0 when caught up." },
	[M_REPL_BEHIND] = { "coffre_replication_behind_bytes", METRIC_GAUGE,
		"Backing bytes of the pending files held in memory." },
	[M_REPL_ERRORS] = { "coffre_replication_errors_total", METRIC_COUNTER,
		"Replication attempts that failed and were retried after a back-off." },
};
