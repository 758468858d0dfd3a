/*
 * hist.c — latency histograms with fixed buckets (coffre/metrics.h): one
 * relaxed fetch-add for the bucket and one for the sum per observation,
 * the bucket found by a scan of 17 bounds.
 */
#include <time.h>

#include "coffre/metrics.h"

const uint64_t metrics_bucket_ns[METRICS_BUCKETS] = {
	50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000,
	1000000000, 2500000000, 5000000000, 10000000000,
};

const char *const metrics_bucket_le[METRICS_BUCKETS] = {
	"5e-05", "0.0001", "0.00025", "0.0005",
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
	"0.1", "0.25", "0.5",
	"1", "2.5", "5", "10",
};

uint64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_hist_observe(struct metrics_hist *h, uint64_t ns)
{
	unsigned b = 0;

	while (b < METRICS_BUCKETS && ns > metrics_bucket_ns[b])
		b++;
	metrics_add(&h->bucket[b], 1);
	metrics_add(&h->sum_ns, ns);
}

void metrics_hist_read(const struct metrics_hist *h, struct metrics_hist_snap *s)
{
	for (unsigned b = 0; b <= METRICS_BUCKETS; b++)
		s->bucket[b] = metrics_get(&h->bucket[b]);
	s->sum_ns = metrics_get(&h->sum_ns);
}

uint64_t metrics_hist_count(const struct metrics_hist_snap *s)
{
	uint64_t n = 0;

	for (unsigned b = 0; b <= METRICS_BUCKETS; b++)
		n += s->bucket[b];
	return n;
}
