/*
 * test_progress.c — progress lines (coffre/progress.h): the throttle on an
 * injected clock, the terminal's redraw and clear, the JSON shape, the
 * wire lines and their parsing, nothing written when off.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/progress.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct sink {
	FILE *f;
	char *buf;
	size_t len;
};

static void sink_open(struct sink *s)
{
	s->buf = NULL;
	s->len = 0;
	s->f = open_memstream(&s->buf, &s->len);
	cr_assert(s->f);
	fake_now = 1000;
}

static const char *sink_text(struct sink *s)
{
	fflush(s->f);
	return s->buf;
}

static void sink_close(struct sink *s)
{
	fclose(s->f);
	free(s->buf);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

Test(progress, mode_of_the_command_line)
{
	cr_assert_eq(progress_mode_for(true, true), PROGRESS_JSON);
	cr_assert_eq(progress_mode_for(true, false), PROGRESS_JSON);
	cr_assert_eq(progress_mode_for(false, true), PROGRESS_TTY);
	cr_assert_eq(progress_mode_for(false, false), PROGRESS_OFF);
}

Test(progress, off_writes_nothing)
{
	struct progress p;
	struct sink s;

	sink_open(&s);
	progress_init(&p, PROGRESS_OFF, s.f, fake_clock);
	cr_assert_not(progress_update(&p, "rekey", "files", 0, 10));
	cr_assert_not(progress_update(&p, "rekey", "files", 10, 10));
	progress_end(&p);
	cr_assert_eq(strlen(sink_text(&s)), 0);
	sink_close(&s);
}

Test(progress, tty_redraws_at_most_every_period_and_clears)
{
	struct progress p;
	struct sink s;
	uint64_t i;

	sink_open(&s);
	progress_init(&p, PROGRESS_TTY, s.f, fake_clock);
	cr_assert(progress_update(&p, "rekey", "files", 0, 100));   /* first */
	for (i = 1; i < 50; i++) {       /* 49 updates within 49 ms */
		fake_now++;
		cr_assert_not(progress_update(&p, "rekey", "files", i, 100));
	}
	fake_now = 1000 + PROGRESS_PERIOD_MS;
	cr_assert(progress_update(&p, "rekey", "files", 60, 100));
	fake_now++;
	cr_assert(progress_update(&p, "rekey", "files", 100, 100)); /* the end */
	cr_assert_eq(count(sink_text(&s), "\r"), 3);
	cr_assert_eq(count(sink_text(&s), "\n"), 0);
	cr_assert(strstr(sink_text(&s), "\rrekey: 60/100 files"));
	progress_end(&p);
	cr_assert(strstr(sink_text(&s), "\r\033[K") ==
		  sink_text(&s) + strlen(sink_text(&s)) - 4);
	sink_close(&s);
}

Test(progress, tty_rate_and_eta_once_a_second_passed)
{
	struct progress p;
	struct sink s;

	sink_open(&s);
	progress_init(&p, PROGRESS_TTY, s.f, fake_clock);
	progress_update(&p, "copy", "files", 0, 300);
	fake_now += 2000;
	progress_update(&p, "copy", "files", 100, 300);
	cr_assert(strstr(sink_text(&s), "100/300 files, 50 files/s, ETA 0:04"),
		  "%s", sink_text(&s));
	progress_end(&p);
	sink_close(&s);
}

Test(progress, tty_bytes_and_unknown_total)
{
	struct progress p;
	struct sink s;

	sink_open(&s);
	progress_init(&p, PROGRESS_TTY, s.f, fake_clock);
	progress_update(&p, "verify", "bytes", 3u << 20, 0);
	cr_assert(strstr(sink_text(&s), "verify: 3.0 MiB\033[K"), "%s", sink_text(&s));
	cr_assert_null(strstr(sink_text(&s), "ETA"));
	progress_end(&p);
	sink_close(&s);
}

Test(progress, json_lines_and_a_new_phase_always_shows)
{
	struct progress p;
	struct sink s;

	sink_open(&s);
	progress_init(&p, PROGRESS_JSON, s.f, fake_clock);
	progress_update(&p, "rekey", "files", 0, 2);
	cr_assert_not(progress_update(&p, "rekey", "files", 1, 2));
	cr_assert(progress_update(&p, "rekey", "files", 2, 2));
	cr_assert(progress_update(&p, "rewrap \"keys\"", "keys", 1, 0));
	progress_end(&p);
	progress_json_result(s.f, 0, "done\n");
	cr_assert_str_eq(sink_text(&s),
		"{\"event\": \"progress\", \"phase\": \"rekey\", \"unit\": \"files\", "
		"\"done\": 0, \"total\": 2}\n"
		"{\"event\": \"progress\", \"phase\": \"rekey\", \"unit\": \"files\", "
		"\"done\": 2, \"total\": 2}\n"
		"{\"event\": \"progress\", \"phase\": \"rewrap \\\"keys\\\"\", "
		"\"unit\": \"keys\", \"done\": 1, \"total\": null}\n"
		"{\"event\": \"result\", \"ok\": true, \"exit\": 0, \"message\": "
		"\"done\\u000a\"}\n");
	sink_close(&s);
}

Test(progress, wire_lines_parse_back)
{
	char phase[PROGRESS_PHASE_MAX], unit[PROGRESS_UNIT_MAX];
	uint64_t done, total;
	struct progress p;
	struct sink s;

	sink_open(&s);
	progress_init(&p, PROGRESS_WIRE, s.f, fake_clock);
	progress_update(&p, "rekey", "files", 7, 9);
	cr_assert_str_eq(sink_text(&s), "progress: rekey 7/9 files\n");
	cr_assert_eq(progress_parse_wire("rekey 7/9 files\n", phase, unit, &done,
					 &total), 0);
	cr_assert_str_eq(phase, "rekey");
	cr_assert_str_eq(unit, "files");
	cr_assert_eq(done, 7);
	cr_assert_eq(total, 9);
	cr_assert_eq(progress_parse_wire("shred 5/0 files", phase, unit, &done,
					 &total), 0);
	cr_assert_eq(total, 0);
	/* An old daemon's free text is not a wire line. */
	cr_assert_neq(progress_parse_wire("rewrapped 3/9 directory keys\n", phase,
					  unit, &done, &total), 0);
	cr_assert_neq(progress_parse_wire("rekey 10/9 files", phase, unit, &done,
					  &total), 0);
	sink_close(&s);
}
