/*
 * coffre/progress.h — progress of a long command (rekey, verify, restore,
 * rotate-master, shred), written one of three ways:
 *   PROGRESS_TTY   one line on a terminal, redrawn in place ("\r", at most
 *                  every PROGRESS_PERIOD_MS), cleared by progress_end
 *   PROGRESS_JSON  one JSON object per line: {"event": "progress", ...}
 *   PROGRESS_WIRE  the control socket's "progress: PHASE DONE/TOTAL UNIT"
 *                  lines (the daemon's side; coffre/control.h)
 * or not at all (PROGRESS_OFF).  The clock is injected (tests).
 */
#ifndef COFFRE_PROGRESS_H
#define COFFRE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_PERIOD_MS 100
#define PROGRESS_PHASE_MAX 32
#define PROGRESS_UNIT_MAX 16

enum progress_mode { PROGRESS_OFF, PROGRESS_TTY, PROGRESS_JSON, PROGRESS_WIRE };

struct progress {
	enum progress_mode mode;
	FILE *out;
	uint64_t (*now_ms)(void);       /* monotonic milliseconds */
	uint64_t start_ms, last_ms;     /* the phase's start, the last line */
	bool shown;                     /* a line was written in this phase */
	bool on_screen;                 /* PROGRESS_TTY: a line to clear */
	char phase[PROGRESS_PHASE_MAX];
};

/* A monotonic clock in milliseconds (CLOCK_MONOTONIC). */
uint64_t progress_clock_ms(void);
/* The mode of a command line: JSON with --json, else a line on stderr if
 * it is a terminal, else none. */
enum progress_mode progress_mode_for(bool json, bool stderr_is_tty);
/* out: stderr (TTY), stdout (JSON), the socket (WIRE).  now_ms NULL:
 * progress_clock_ms. */
void progress_init(struct progress *p, enum progress_mode mode, FILE *out,
		   uint64_t (*now_ms)(void));
/* done of total (0: unknown) units ("files", "bytes", ...) of phase.  A
 * line is written when the phase changes, when done reaches total, or
 * PROGRESS_PERIOD_MS after the last one.  Returns true if one was. */
bool progress_update(struct progress *p, const char *phase, const char *unit,
		     uint64_t done, uint64_t total);
/* The end: a terminal's line cleared ("\r", erase to end of line). */
void progress_end(struct progress *p);
/* A wire line's fields (the text after "progress: "): 0, or -EINVAL if it
 * is not one (an old daemon's free text). */
int progress_parse_wire(const char *text, char phase[PROGRESS_PHASE_MAX],
			char unit[PROGRESS_UNIT_MAX], uint64_t *done,
			uint64_t *total);
/* {"event": "result", "ok": B, "exit": N, "message": "TEXT"} and a newline:
 * the last JSON line of a command that has no report of its own. */
void progress_json_result(FILE *f, int exit_status, const char *message);

#endif
