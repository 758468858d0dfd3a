/*
 * coffre metrics: counters and latency histograms cheap enough for the
 * data path, the one table of every metric coffre exports (name, help,
 * type), and the writer of the Prometheus text exposition format, version
 * 0.0.4, that `coffrectl metrics` and `-o metrics_file=` both print.
 *
 * Counters and histograms are relaxed atomics: no lock, no ordering, one
 * fetch-add per event.  A reader sees each value whole but not the set of
 * them at one instant (a histogram's _count may trail its _sum by a few
 * events), which is what Prometheus expects of a scrape.  libc only.
 */
#ifndef COFFRE_METRICS_H
#define COFFRE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- histograms: fixed buckets, 50 µs to 10 s, then +Inf */
#define METRICS_BUCKETS 17
/* Upper bounds in nanoseconds, and as Prometheus prints them (le="..."). */
extern const uint64_t metrics_bucket_ns[METRICS_BUCKETS];
extern const char *const metrics_bucket_le[METRICS_BUCKETS];

struct metrics_hist {
	_Atomic uint64_t bucket[METRICS_BUCKETS + 1];  /* per bucket, not
							  cumulative; last: +Inf */
	_Atomic uint64_t sum_ns;
};
/* A copy to print or to carry across modules. */
struct metrics_hist_snap {
	uint64_t bucket[METRICS_BUCKETS + 1];
	uint64_t sum_ns;
};

/* CLOCK_MONOTONIC in nanoseconds (vDSO: no system call). */
uint64_t metrics_now_ns(void);
/* Count one observation of ns nanoseconds. */
void metrics_hist_observe(struct metrics_hist *h, uint64_t ns);
void metrics_hist_read(const struct metrics_hist *h, struct metrics_hist_snap *s);
/* Observations in a snapshot (its _count). */
uint64_t metrics_hist_count(const struct metrics_hist_snap *s);

static inline void metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t metrics_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- the table: every metric, its help and type, in the order printed */
enum metric_id {
	M_BUILD_INFO,
	M_HEALTH,
	M_FUSE_REQUESTS,
	M_FUSE_DURATION,
	M_READ_BYTES,
	M_WRITTEN_BYTES,
	M_EIO,
	M_TAMPER,
	M_HSM_UP,
	M_HSM_CALLS,
	M_HSM_DURATION,
	M_HSM_FAILOVERS,
	M_KEY_CACHE_HITS,
	M_KEY_CACHE_MISSES,
	M_KEY_CACHE_ENTRIES,
	M_REPL_PENDING,
	M_REPL_LAG,
	M_REPL_BEHIND,
	M_REPL_ERRORS,
	M_COUNT
};

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_def {
	const char *name;             /* coffre_..., counters end in _total */
	enum metric_type type;
	const char *help;
};
extern const struct metric_def metric_defs[M_COUNT];

/* ---- the exposition writer */
struct metric_label {
	const char *name;             /* a valid label name */
	const char *value;            /* any bytes: escaped */
};

/* "# HELP name ...\n# TYPE name type\n": once per metric, before its
 * samples. */
void expo_head(FILE *f, enum metric_id id);
/* One sample, `name{labels} value`. */
void expo_u64(FILE *f, enum metric_id id, const struct metric_label *l,
	      size_t nl, uint64_t value);
/* A histogram's samples: cumulative _bucket{...,le="..."} lines ending
 * with le="+Inf", then _sum (seconds) and _count. */
void expo_hist(FILE *f, enum metric_id id, const struct metric_label *l,
	       size_t nl, const struct metrics_hist_snap *s);
/* A label value as 0.0.4 wants it: backslash, double quote and newline
 * escaped (\\, \", \n); other control characters, DEL and bytes past
 * ASCII become '?', so the output is always valid UTF-8 text. */
void expo_label_value(FILE *f, const char *v);

#endif
