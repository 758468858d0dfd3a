/*
 * test_metrics.c — src/metrics: label values escaped as the 0.0.4 text
 * format wants, histogram buckets cumulative and ending at +Inf with
 * _count equal to it, sums in seconds, the bounds in order, the table's
 * names and types following Prometheus's conventions, threads counting
 * without losing events.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/metrics.h"

/* What f wrote, NUL-terminated (freed by the caller). */
static char *written(void (*fn)(FILE *, void *), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void write_value(FILE *f, void *arg)
{
	expo_label_value(f, arg);
}

Test(expo, label_escapes)
{
	char *s = written(write_value, "a\\b\"c\nd\te\x7f\xc3\xa9z");

	cr_assert_str_eq(s, "a\\\\b\\\"c\\nd?e???z");
	free(s);
}

static void write_sample(FILE *f, void *arg)
{
	const struct metric_label l[] = {
		{ "volume", "5f0c" }, { "token", "hsm \"a\"\\" },
	};

	(void)arg;
	expo_head(f, M_HSM_FAILOVERS);
	expo_u64(f, M_HSM_FAILOVERS, l, 2, 3);
	expo_u64(f, M_EIO, NULL, 0, 18446744073709551615ull);
}

Test(expo, head_and_samples)
{
	char *s = written(write_sample, NULL);

	cr_assert_str_eq(s,
		"# HELP coffre_hsm_failovers_total Times the HSM failed a call and "
		"was taken out of service.\n"
		"# TYPE coffre_hsm_failovers_total counter\n"
		"coffre_hsm_failovers_total{volume=\"5f0c\",token=\"hsm \\\"a\\\"\\\\\"} 3\n"
		"coffre_eio_total 18446744073709551615\n");
	free(s);
}

static void write_hist(FILE *f, void *arg)
{
	const struct metric_label l[] = { { "op", "read" } };

	expo_hist(f, M_FUSE_DURATION, l, 1, arg);
}

Test(expo, histogram_cumulative)
{
	struct metrics_hist h;
	struct metrics_hist_snap s;
	char *out, *line, *save;
	uint64_t prev = 0, v;
	unsigned buckets = 0;

	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, 10000);          /* 10 µs: first bucket */
	metrics_hist_observe(&h, 50000);          /* on the bound: first */
	metrics_hist_observe(&h, 50001);          /* second */
	metrics_hist_observe(&h, 2000000);        /* 2 ms: le 0.0025 */
	metrics_hist_observe(&h, 30000000000ull); /* 30 s: +Inf only */
	metrics_hist_read(&h, &s);
	cr_assert_eq(metrics_hist_count(&s), 5);
	out = written(write_hist, &s);
	cr_assert(strstr(out, "coffre_fuse_request_duration_seconds_bucket{op=\"read\",le=\"5e-05\"} 2\n"));
	cr_assert(strstr(out, "{op=\"read\",le=\"0.0001\"} 3\n"));
	cr_assert(strstr(out, "{op=\"read\",le=\"0.001\"} 3\n"));
	cr_assert(strstr(out, "{op=\"read\",le=\"0.0025\"} 4\n"));
	cr_assert(strstr(out, "{op=\"read\",le=\"10\"} 4\n"));
	cr_assert(strstr(out, "coffre_fuse_request_duration_seconds_bucket{op=\"read\",le=\"+Inf\"} 5\n"));
	cr_assert(strstr(out, "coffre_fuse_request_duration_seconds_sum{op=\"read\"} 30.002110001\n"));
	cr_assert(strstr(out, "coffre_fuse_request_duration_seconds_count{op=\"read\"} 5\n"));
	/* Every bucket line: never decreasing, +Inf last, then sum, count. */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, "_bucket"))
			continue;
		v = strtoull(strrchr(line, ' ') + 1, NULL, 10);
		cr_assert_geq(v, prev, "%s", line);
		prev = v;
		buckets++;
	}
	cr_assert_eq(buckets, METRICS_BUCKETS + 1);
	free(out);
}

Test(hist, bounds_ascending_and_printed)
{
	for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
		cr_assert_float_eq(strtod(metrics_bucket_le[b], NULL),
				   metrics_bucket_ns[b] / 1e9, 1e-12);
		if (b)
			cr_assert_gt(metrics_bucket_ns[b], metrics_bucket_ns[b - 1]);
	}
	cr_assert_eq(metrics_bucket_ns[0], 50000);
	cr_assert_eq(metrics_bucket_ns[METRICS_BUCKETS - 1], 10000000000ull);
}

Test(table, names_and_types)
{
	for (unsigned i = 0; i < M_COUNT; i++) {
		const struct metric_def *d = &metric_defs[i];
		size_t n;

		cr_assert(d->name && d->help, "metric %u", i);
		n = strlen(d->name);
		cr_assert(!strncmp(d->name, "coffre_", 7), "%s", d->name);
		cr_assert_eq(d->type == METRIC_COUNTER,
			     n > 6 && !strcmp(d->name + n - 6, "_total"), "%s", d->name);
		cr_assert(!strchr(d->help, '\\') && !strchr(d->help, '\n'), "%s", d->name);
		for (unsigned j = 0; j < i; j++)
			cr_assert_str_neq(d->name, metric_defs[j].name);
	}
}

static struct metrics_hist shared;

static void *observer(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 100000; i++)
		metrics_hist_observe(&shared, i % 3 ? 1000 : 20000000);
	return NULL;
}

Test(hist, threads_lose_nothing)
{
	pthread_t t[4];
	struct metrics_hist_snap s;

	for (unsigned i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, observer, NULL);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	metrics_hist_read(&shared, &s);
	cr_assert_eq(metrics_hist_count(&s), 400000);
	cr_assert_eq(s.bucket[0], 4 * 66666);
}
