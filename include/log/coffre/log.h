/*
 * coffre log: the daemon's log lines.  log_msg() writes one line
 *   2026-12-04T10:11:12.345+01:00 coffre[PID] LEVEL: MESSAGE
 * (RFC 3339, local time with its UTC offset, milliseconds; LEVEL the
 * syslog priority's name: error, warning, notice, info) to stderr with a
 * single write(2): no stdio buffer, and lines from several threads never
 * interleave (a line is PIPE_BUF bytes at most).  After log_use_syslog(true)
 * a line is one syslog(3) call at its own priority instead, without the
 * stamp (syslog keeps its own); the caller has called openlog().
 * Control characters in the message are written as '?': a name read from
 * untrusted storage cannot start a line of its own.
 *
 * Anything untrusted storage or a user can trigger over and over (a
 * segment or header that does not authenticate, a missing key record, a
 * request that keeps failing) goes through a rate limit instead, so the
 * log volume is not the attacker's to choose: log_ratelimited() keeps its
 * state static at the call site, log_rl() takes it explicitly (one limit
 * shared by several call sites: one class of message).  At most burst
 * lines per interval pass; the first line that passes after some were
 * suppressed ends with " (and N more like it in the last S s)", S the
 * seconds since the line before it passed.
 *
 * prio is a syslog priority (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO).
 * Never put a plaintext name, a PIN or a key in a line.  libc only.
 */
#ifndef COFFRE_LOG_H
#define COFFRE_LOG_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <time.h>

/* A line, its newline included, is at most this long (the message cut). */
#define LOG_LINE_MAX PIPE_BUF

/* Lines go to syslog(3) (on) or to stderr (off, the default). */
void log_use_syslog(bool on);
/* Whether stderr is journald's stream (JOURNAL_STREAM names it). */
bool log_journal_stream(void);
/* From now on lines go to journald as native entries (path: its socket,
 * NULL for systemd's), with PRIORITY, COFFRE_VOLUME (log_set_volume) and
 * COFFRE_CLASS=tamper for tamper findings; stderr when a send fails.
 * 0 or -errno (nothing changed). */
int log_use_journal(const char *path);
/* The volume id the journal entries carry (never a path or a name). */
void log_set_volume(const char *id);

void log_msg(int prio, const char *fmt, ...)
	__attribute__((cold, format(printf, 2, 3)));

/*
 * A rate limit: at most burst lines in each interval_ms (CLOCK_MONOTONIC)
 * window, the window starting at the first line after the last one ended.
 * interval_ms 0: no limit.  Initialise with LOG_RATELIMIT_INIT; the mutex
 * is held only to count, never while formatting or writing.
 */
struct log_ratelimit {
	pthread_mutex_t mu;
	unsigned int interval_ms;
	unsigned int burst;
	uint64_t begin_ns;            /* the window's start; 0: none yet */
	unsigned int printed;         /* lines passed in this window */
	unsigned int missed;          /* suppressed since the last line passed */
	uint64_t last_ns;             /* when the last line passed */
};

#define LOG_RATELIMIT_INTERVAL_MS 60000
#define LOG_RATELIMIT_BURST 10

#define LOG_RATELIMIT_INIT(interval_ms, burst) \
	{ PTHREAD_MUTEX_INITIALIZER, (interval_ms), (burst), 0, 0, 0, 0 }
#define LOG_RATELIMIT_DEFAULT \
	LOG_RATELIMIT_INIT(LOG_RATELIMIT_INTERVAL_MS, LOG_RATELIMIT_BURST)

/* log_msg() if rl lets the line pass; else count it as suppressed. */
void log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...)
	__attribute__((cold, format(printf, 3, 4)));

/* log_rl() on a limit of its own (the default one) per call site. */
#define log_ratelimited(prio, ...)					\
	do {								\
		static struct log_ratelimit log_rl_site_ =		\
			LOG_RATELIMIT_DEFAULT;				\
		log_rl(&log_rl_site_, (prio), __VA_ARGS__);		\
	} while (0)

/*
 * A finding that stored data was tampered with (does not authenticate, is
 * cut short, has an impossible size): counted, every one, the lines the
 * limit suppresses included, then logged like log_rl().  The count is the
 * metrics' coffre_tamper_total.
 */
void log_rl_tamper(struct log_ratelimit *rl, int prio, const char *fmt, ...)
	__attribute__((cold, format(printf, 3, 4)));
#define log_tampered(prio, ...)						\
	do {								\
		static struct log_ratelimit log_rl_site_ =		\
			LOG_RATELIMIT_DEFAULT;				\
		log_rl_tamper(&log_rl_site_, (prio), __VA_ARGS__);	\
	} while (0)
/* Tamper findings since the process started. */
uint64_t log_tamper_count(void);

/* ---- the pure parts, for the tests */
/* "error", "warning", "notice", "info", ... for a syslog priority. */
const char *log_level_name(int prio);
/* One line into out: with tm, "STAMP coffre[pid] LEVEL: " first (tm's
 * tm_gmtoff the offset); without it the message alone (for syslog).
 * Control characters in msg become '?', trailing newlines go, msg is cut so
 * that the line, the rate limit's tail (missed lines in missed_s seconds,
 * if missed) and a newline fit.  Returns the length, newline included. */
size_t log_format(char out[LOG_LINE_MAX], const struct tm *tm, unsigned msec,
		  long pid, int prio, const char *msg, unsigned missed,
		  unsigned missed_s);
/* Count one line against rl at now (ns, monotonic): true if it passes,
 * with *missed the lines suppressed since the last one passed and
 * *missed_s the seconds since then. */
bool log_rl_count(struct log_ratelimit *rl, uint64_t now, unsigned *missed,
		  unsigned *missed_s);

#endif
