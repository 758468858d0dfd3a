/*
 * progress.c — the progress of long commands (coffre/progress.h): the
 * throttle, a terminal's line with rate and ETA, JSON lines, and the
 * control socket's progress lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coffre/format.h"
#include "coffre/progress.h"

uint64_t progress_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum progress_mode progress_mode_for(bool json, bool stderr_is_tty)
{
	if (json)
		return PROGRESS_JSON;
	return stderr_is_tty ? PROGRESS_TTY : PROGRESS_OFF;
}

void progress_init(struct progress *p, enum progress_mode mode, FILE *out,
		   uint64_t (*now_ms)(void))
{
	memset(p, 0, sizeof(*p));
	p->mode = out ? mode : PROGRESS_OFF;
	p->out = out;
	p->now_ms = now_ms ? now_ms : progress_clock_ms;
}

/* n units, bytes in KiB/MiB/GiB: into buf. */
static const char *amount(char *buf, size_t cap, const char *unit, uint64_t n)
{
	static const char *const suffix[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	unsigned i = 0;

	if (strcmp(unit, "bytes")) {
		snprintf(buf, cap, "%" PRIu64, n);
		return buf;
	}
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, suffix[i]);
	return buf;
}

/* "rekey: 120/300 files, 45 files/s, ETA 0:04" (bytes: "1.2 MiB/40.0 MiB,
 * 3.0 MiB/s"); the rate once a second has passed, the ETA with a total. */
static void draw_tty(struct progress *p, const char *unit, uint64_t done,
		     uint64_t total, uint64_t now)
{
	bool bytes = !strcmp(unit, "bytes");
	uint64_t ms = now - p->start_ms, eta;
	double rate = ms ? (double)done * 1000.0 / (double)ms : 0;
	char d[32], t[32], r[32];

	fprintf(p->out, "\r%s: %s", p->phase, amount(d, sizeof(d), unit, done));
	if (total)
		fprintf(p->out, "/%s", amount(t, sizeof(t), unit, total));
	if (!bytes)
		fprintf(p->out, " %s", unit);
	if (ms >= 1000 && rate >= 1) {
		fprintf(p->out, ", %s%s%s/s", amount(r, sizeof(r), unit, (uint64_t)rate),
			bytes ? "" : " ", bytes ? "" : unit);
		if (total > done) {
			eta = (uint64_t)((double)(total - done) / rate);
			fprintf(p->out, ", ETA %" PRIu64 ":%02" PRIu64, eta / 60, eta % 60);
		}
	}
	fputs("\033[K", p->out);        /* erase what a longer line left */
	p->on_screen = true;
}

bool progress_update(struct progress *p, const char *phase, const char *unit,
		     uint64_t done, uint64_t total)
{
	uint64_t now;
	bool new_phase;

	if (p->mode == PROGRESS_OFF)
		return false;
	now = p->now_ms();
	new_phase = strncmp(p->phase, phase, sizeof(p->phase) - 1) != 0;
	if (new_phase) {
		snprintf(p->phase, sizeof(p->phase), "%s", phase);
		p->start_ms = now;
		p->shown = false;
	}
	if (p->shown && !(total && done >= total) &&
	    now - p->last_ms < PROGRESS_PERIOD_MS)
		return false;
	p->shown = true;
	p->last_ms = now;
	switch (p->mode) {
	case PROGRESS_TTY:
		draw_tty(p, unit, done, total, now);
		break;
	case PROGRESS_JSON:
		fprintf(p->out, "{\"event\": \"progress\", \"phase\": ");
		json_write_str(p->out, p->phase);
		fprintf(p->out, ", \"unit\": ");
		json_write_str(p->out, unit);
		fprintf(p->out, ", \"done\": %" PRIu64 ", \"total\": ", done);
		if (total)
			fprintf(p->out, "%" PRIu64 "}\n", total);
		else
			fputs("null}\n", p->out);
		break;
	case PROGRESS_WIRE:
		fprintf(p->out, "progress: %s %" PRIu64 "/%" PRIu64 " %s\n", p->phase,
			done, total, unit);
		break;
	case PROGRESS_OFF:
		break;
	}
	fflush(p->out);
	return true;
}

void progress_end(struct progress *p)
{
	if (p->mode == PROGRESS_TTY && p->on_screen) {
		fputs("\r\033[K", p->out);
		fflush(p->out);
	}
	p->on_screen = false;
}

int progress_parse_wire(const char *text, char phase[PROGRESS_PHASE_MAX],
			char unit[PROGRESS_UNIT_MAX], uint64_t *done,
			uint64_t *total)
{
	char tail;

	/* 31 and 15: PROGRESS_PHASE_MAX and PROGRESS_UNIT_MAX less one. */
	if (sscanf(text, "%31s %" SCNu64 "/%" SCNu64 " %15s %c", phase, done, total,
		   unit, &tail) != 4 || *done > (*total ? *total : UINT64_MAX))
		return -EINVAL;
	return 0;
}

void progress_json_result(FILE *f, int exit_status, const char *message)
{
	fprintf(f, "{\"event\": \"result\", \"ok\": %s, \"exit\": %d, \"message\": ",
		exit_status ? "false" : "true", exit_status);
	json_write_str(f, message);
	fputs("}\n", f);
	fflush(f);
}
