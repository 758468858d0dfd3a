/*
 * coffre log: the daemon's log lines.  log_msg() writes one line
 * "coffre: MESSAGE\n" to stderr with a single write(2): no stdio buffer,
 * and lines from several threads never interleave (a line is PIPE_BUF
 * bytes at most, so it stays whole on the syslog relay's pipe too).
 * Control characters in the message are written as '?': a name read from
 * untrusted storage cannot start a line of its own.
 *
 * Anything untrusted storage or a user can trigger over and over (a
 * segment or header that does not authenticate, a missing key record, a
 * request that keeps failing) goes through a rate limit instead, so the
 * log volume is not the attacker's to choose: log_ratelimited() keeps its
 * state static at the call site, log_rl() takes it explicitly (one limit
 * shared by several call sites).  At most burst lines per interval pass;
 * the first line that passes after some were suppressed ends with
 * " (N similar messages suppressed)".
 *
 * prio is a syslog priority (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO).
 * The output is plain text for now; the priority is carried down to the
 * one function that writes the line.  libc only.
 */
#ifndef COFFRE_LOG_H
#define COFFRE_LOG_H

#include <pthread.h>
#include <stdint.h>
#include <syslog.h>

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
};

#define LOG_RATELIMIT_INTERVAL_MS 5000
#define LOG_RATELIMIT_BURST 10

#define LOG_RATELIMIT_INIT(interval_ms, burst) \
	{ PTHREAD_MUTEX_INITIALIZER, (interval_ms), (burst), 0, 0, 0 }
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

#endif
