/*
 * log.c — one line per write(2) on stderr, and the rate limit (see
 * coffre/log.h).  libc only.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffre/log.h"

#define PREFIX "coffre: "
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* The one place a line leaves the process.  The priority is not written
 * yet: a journald-native output would take it from here. */
static void log_write(int prio, const char *line, size_t len)
{
	(void)prio;
	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR)
		;
}

/* Build "coffre: MESSAGE[ (N similar messages suppressed)]\n", at most
 * PIPE_BUF bytes (the message is cut to fit), and write it. */
static void __attribute__((format(printf, 3, 0)))
log_line(int prio, unsigned int missed, const char *fmt, va_list ap)
{
	char line[PIPE_BUF], tail[64] = "";
	size_t len = PREFIX_LEN, room, tlen = 0;
	int n;

	if (missed)
		tlen = (size_t)snprintf(tail, sizeof(tail),
					" (%u similar message%s suppressed)",
					missed, missed == 1 ? "" : "s");
	memcpy(line, PREFIX, PREFIX_LEN);
	room = sizeof(line) - PREFIX_LEN - tlen - 1;
	n = vsnprintf(line + len, room + 1, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > room)
		n = (int)room;
	while (n > 0 && line[len + (size_t)n - 1] == '\n')
		n--;
	for (size_t k = len; k < len + (size_t)n; k++)
		if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f)
			line[k] = '?';
	len += (size_t)n;
	memcpy(line + len, tail, tlen);
	len += tlen;
	line[len++] = '\n';
	log_write(prio, line, len);
}

void log_msg(int prio, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_line(prio, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Count one line against rl: true if it may pass, with *missed the lines
 * suppressed since the last one that passed. */
static bool log_rl_pass(struct log_ratelimit *rl, unsigned int *missed)
{
	struct timespec ts;
	uint64_t now;
	bool pass;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	pthread_mutex_lock(&rl->mu);
	/* Another thread may have opened a window after our clock read. */
	if (now < rl->begin_ns)
		now = rl->begin_ns;
	if (!rl->begin_ns ||
	    now - rl->begin_ns >= (uint64_t)rl->interval_ms * 1000000u) {
		rl->begin_ns = now ? now : 1;
		rl->printed = 0;
	}
	pass = rl->printed < rl->burst;
	if (pass) {
		rl->printed++;
		*missed = rl->missed;
		rl->missed = 0;
	} else if (rl->missed < UINT_MAX) {
		rl->missed++;
	}
	pthread_mutex_unlock(&rl->mu);
	return pass;
}

void log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...)
{
	int saved = errno;
	unsigned int missed;
	va_list ap;

	if (log_rl_pass(rl, &missed)) {
		va_start(ap, fmt);
		log_line(prio, missed, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}
