/*
 * expo.c — the Prometheus text exposition format, version 0.0.4
 * (coffre/metrics.h): HELP and TYPE lines, samples with escaped label
 * values, histograms with cumulative buckets ending at +Inf.  Values are
 * integers, and a histogram's sum is printed in seconds from its exact
 * nanoseconds, so nothing goes through floating point.
 */
#include "coffre/metrics.h"

static const char *type_name(enum metric_type t)
{
	return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" :
	       "histogram";
}

void expo_head(FILE *f, enum metric_id id)
{
	const struct metric_def *d = &metric_defs[id];

	/* The table's help texts hold no backslash or newline to escape. */
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
		type_name(d->type));
}

void expo_label_value(FILE *f, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p >= 0x7f)
			fputc('?', f);
		else
			fputc(*p, f);
	}
}

/* name[suffix]{l...[,le="le"]} */
static void series(FILE *f, enum metric_id id, const char *suffix,
		   const struct metric_label *l, size_t nl, const char *le)
{
	fprintf(f, "%s%s", metric_defs[id].name, suffix);
	if (!nl && !le)
		return;
	fputc('{', f);
	for (size_t i = 0; i < nl; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", l[i].name);
		expo_label_value(f, l[i].value);
		fputc('"', f);
	}
	if (le)
		fprintf(f, "%sle=\"%s\"", nl ? "," : "", le);
	fputc('}', f);
}

void expo_u64(FILE *f, enum metric_id id, const struct metric_label *l,
	      size_t nl, uint64_t value)
{
	series(f, id, "", l, nl, NULL);
	fprintf(f, " %llu\n", (unsigned long long)value);
}

void expo_hist(FILE *f, enum metric_id id, const struct metric_label *l,
	       size_t nl, const struct metrics_hist_snap *s)
{
	uint64_t cum = 0;

	for (unsigned b = 0; b <= METRICS_BUCKETS; b++) {
		cum += s->bucket[b];
		series(f, id, "_bucket", l, nl,
		       b < METRICS_BUCKETS ? metrics_bucket_le[b] : "+Inf");
		fprintf(f, " %llu\n", (unsigned long long)cum);
	}
	series(f, id, "_sum", l, nl, NULL);
	fprintf(f, " %llu.%09llu\n", (unsigned long long)(s->sum_ns / 1000000000u),
		(unsigned long long)(s->sum_ns % 1000000000u));
	series(f, id, "_count", l, nl, NULL);
	fprintf(f, " %llu\n", (unsigned long long)cum);
}
