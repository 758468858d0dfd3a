/*
 * log.c — the daemon's log lines (see coffre/log.h): the formatter, the
 * one write(2) per line to stderr or the one syslog(3) call, and the rate
 * limit.  libc only.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffre/log.h"
#include "log_private.h"

static bool to_syslog;

void log_use_syslog(bool on)
{
	to_syslog = on;
}

const char *log_level_name(int prio)
{
	switch (LOG_PRI(prio)) {
	case LOG_EMERG: return "emerg";
	case LOG_ALERT: return "alert";
	case LOG_CRIT: return "crit";
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

size_t log_format(char out[LOG_LINE_MAX], const struct tm *tm, unsigned msec,
		  long pid, int prio, const char *msg, unsigned missed,
		  unsigned missed_s)
{
	char tail[96] = "";
	size_t len = 0, tlen = 0, mlen = strlen(msg), room;
	long off = tm ? tm->tm_gmtoff / 60 : 0;
	int n;

	if (missed)
		tlen = (size_t)snprintf(tail, sizeof(tail),
					" (and %u more like it in the last %u s)",
					missed, missed_s ? missed_s : 1);
	if (tm) {
		n = snprintf(out, LOG_LINE_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03u"
			     "%c%02ld:%02ld ", tm->tm_year + 1900, tm->tm_mon + 1,
			     tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec,
			     msec % 1000, off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
			     (off < 0 ? -off : off) % 60);
		len = n > 0 ? (size_t)n : 0;
		n = snprintf(out + len, LOG_LINE_MAX - len, "coffre[%ld] %s: ", pid,
			     log_level_name(prio));
		len += n > 0 ? (size_t)n : 0;
	}
	room = LOG_LINE_MAX - len - tlen - 1;
	while (mlen > 0 && msg[mlen - 1] == '\n')
		mlen--;
	if (mlen > room)
		mlen = room;
	for (size_t k = 0; k < mlen; k++)
		out[len + k] = (unsigned char)msg[k] < 0x20 || msg[k] == 0x7f ? '?' : msg[k];
	len += mlen;
	memcpy(out + len, tail, tlen);
	len += tlen;
	out[len++] = '\n';
	return len;
}

/* Format and write one line: to the journal or syslog without the stamp
 * (they keep their own), else to fd 2 with a single write(2). */
static void __attribute__((format(printf, 5, 0)))
log_line(int prio, const char *class, unsigned missed, unsigned missed_s,
	 const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal_active() || to_syslog) {
		len = log_format(line, NULL, 0, 0, prio, msg, missed, missed_s);
		if (log_journal_send(prio, line, len - 1, class))
			return;
		if (to_syslog) {
			line[len - 1] = '\0';
			syslog(LOG_PRI(prio), "%s", line);
			return;
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	len = log_format(line, &tm, (unsigned)(ts.tv_nsec / 1000000), (long)getpid(),
			 prio, msg, missed, missed_s);
	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR)
		;
}

void log_msg(int prio, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_line(prio, NULL, 0, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

bool log_rl_count(struct log_ratelimit *rl, uint64_t now, unsigned *missed,
		  unsigned *missed_s)
{
	bool pass;

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
		/* The seconds since the last line that passed, rounded up. */
		*missed_s = now > rl->last_ns ?
			    (unsigned)((now - rl->last_ns + 999999999u) / 1000000000u) : 0;
		rl->missed = 0;
		rl->last_ns = now;
	} else if (rl->missed < UINT_MAX) {
		rl->missed++;
	}
	pthread_mutex_unlock(&rl->mu);
	return pass;
}

static void __attribute__((format(printf, 4, 0)))
rl_line(struct log_ratelimit *rl, int prio, const char *class, const char *fmt,
	va_list ap)
{
	int saved = errno;
	unsigned missed, missed_s;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (log_rl_count(rl, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
			 &missed, &missed_s))
		log_line(prio, class, missed, missed_s, fmt, ap);
	errno = saved;
}

void log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rl_line(rl, prio, NULL, fmt, ap);
	va_end(ap);
}

/* Every tamper finding, the suppressed lines included. */
static _Atomic uint64_t tampered;

void log_rl_tamper(struct log_ratelimit *rl, int prio, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add_explicit(&tampered, 1, memory_order_relaxed);
	va_start(ap, fmt);
	rl_line(rl, prio, "tamper", fmt, ap);
	va_end(ap);
}

uint64_t log_tamper_count(void)
{
	return atomic_load_explicit(&tampered, memory_order_relaxed);
}
