/*
 * Unit tests for src/log: the formatter alone (RFC 3339 stamp, offsets,
 * levels, the rate limit's tail, cuts), the rate limit's counting on a
 * clock of the test's own, and with stderr (fd 2) on a pipe or, to count
 * the writes, on a datagram socket (one datagram per write(2)): the line
 * format, a message cut to PIPE_BUF and control characters replaced, errno
 * kept, the burst limit per call site, the suppressed count on the first
 * line of a later window, no limit at interval 0, and several threads
 * logging at once (whole lines only, the limit counted exactly).  Lines
 * read back have their "STAMP coffre[PID] LEVEL: " checked and turned
 * into "coffre: " (plain()).
 */
#include <regex.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coffre/log.h"

static int saved_stderr = -1;
static int rd = -1;                    /* the other end of fd 2 */

static void on_pipe(void)
{
	int p[2];

	saved_stderr = dup(2);
	cr_assert(saved_stderr >= 0);
	cr_assert(pipe2(p, O_CLOEXEC) == 0);
	cr_assert(dup2(p[1], 2) == 2);
	close(p[1]);
	rd = p[0];
}

static void on_dgram(void)
{
	int s[2];

	saved_stderr = dup(2);
	cr_assert(saved_stderr >= 0);
	cr_assert(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, s) == 0);
	cr_assert(dup2(s[1], 2) == 2);
	close(s[1]);
	rd = s[0];
}

static void restore(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
	if (rd >= 0)
		close(rd);
	rd = -1;
}

/* Each line's "STAMP coffre[PID] LEVEL: " checked and made "coffre: ",
 * in place; the new length. */
static size_t plain(char *buf, size_t n)
{
	static regex_t re;
	static bool compiled;
	char pfx[64];
	size_t r = 0, w = 0, p;
	regmatch_t m;

	if (!compiled) {
		cr_assert(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
				  "[0-9]{2}\\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} coffre\\[[0-9]+\\] "
				  "(error|warning|notice|info): ", REG_EXTENDED) == 0);
		compiled = true;
	}
	snprintf(pfx, sizeof(pfx), "coffre[%ld] ", (long)getpid());
	while (r < n) {
		char save = buf[n];

		buf[n] = '\0';
		cr_assert(regexec(&re, buf + r, 1, &m, 0) == 0, "no stamp: %.80s", buf + r);
		buf[n] = save;
		cr_assert(strstr(buf + r, pfx) == buf + r + 30);
		r += (size_t)m.rm_eo;
		memcpy(buf + w, "coffre: ", 8);
		w += 8;
		for (p = r; p < n && buf[p] != '\n'; p++)
			;
		memmove(buf + w, buf + r, p - r + (p < n));
		w += p - r + (p < n);
		r = p + 1;
	}
	buf[w] = '\0';
	return w;
}

/* Everything written to fd 2 so far (fd 2 is left open), plain(). */
static char *drain(size_t *len)
{
	static char buf[1 << 16];
	int fl = fcntl(rd, F_GETFL);
	size_t n = 0;
	ssize_t r;

	fcntl(rd, F_SETFL, fl | O_NONBLOCK);
	while (n < sizeof(buf) - 1 &&
	       (r = read(rd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	fcntl(rd, F_SETFL, fl);
	buf[n] = '\0';
	n = plain(buf, n);
	if (len)
		*len = n;
	return buf;
}

/* One datagram (one write(2)), raw length in *raw, plain(); -1 if none. */
static ssize_t recv_plain(char *got, size_t cap, ssize_t *raw)
{
	ssize_t n = recv(rd, got, cap - 1, MSG_DONTWAIT);

	if (raw)
		*raw = n;
	if (n <= 0)
		return n;
	got[n] = '\0';
	return (ssize_t)plain(got, (size_t)n);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

Test(log, line_format, .init = on_pipe, .fini = restore)
{
	log_msg(LOG_ERR, "%s: %s segment %d", "authentication failed", "/b/x", 3);
	log_msg(LOG_NOTICE, "plain");
	cr_assert_str_eq(drain(NULL), "coffre: authentication failed: /b/x segment 3\n"
			 "coffre: plain\n");
}

Test(log, one_write_per_line, .init = on_dgram, .fini = restore)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(300, 1);
	char msg[3000], want[3100], got[PIPE_BUF + 64];
	ssize_t n;

	memset(msg, 'x', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	log_msg(LOG_INFO, "long %s", msg);
	n = recv_plain(got, sizeof(got), NULL);
	snprintf(want, sizeof(want), "coffre: long %s\n", msg);
	cr_assert_eq(n, (ssize_t)strlen(want));
	cr_assert(!memcmp(got, want, (size_t)n));

	/* The suffix is part of the same write. */
	log_rl(&rl, LOG_ERR, "first");
	log_rl(&rl, LOG_ERR, "dropped");
	sleep_ms(350);
	log_rl(&rl, LOG_ERR, "again");
	n = recv_plain(got, sizeof(got), NULL);
	cr_assert_eq(n, 14);
	cr_assert(!memcmp(got, "coffre: first\n", 14));
	n = recv_plain(got, sizeof(got), NULL);
	cr_assert(n > 0);
	cr_assert_str_eq(got, "coffre: again (and 1 more like it in the last 1 s)\n");
	cr_assert_eq(recv(rd, got, sizeof(got), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
}

Test(log, long_message_cut_to_pipe_buf, .init = on_dgram, .fini = restore)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(300, 1);
	static char msg[10000], got[2 * PIPE_BUF];
	const char *tail = " (and 2 more like it in the last 1 s)\n";
	ssize_t n, raw;

	memset(msg, 'y', sizeof(msg) - 1);
	log_msg(LOG_ERR, "%s", msg);
	n = recv_plain(got, sizeof(got), &raw);
	cr_assert_eq(raw, PIPE_BUF);
	cr_assert(!memcmp(got, "coffre: yyy", 11));
	cr_assert_eq(got[n - 2], 'y');
	cr_assert_eq(got[n - 1], '\n');

	/* A cut message still ends with the suppressed count. */
	for (int k = 0; k < 3; k++)
		log_rl(&rl, LOG_ERR, "%s", msg);
	sleep_ms(350);
	log_rl(&rl, LOG_ERR, "%s", msg);
	cr_assert_eq(recv(rd, got, sizeof(got), MSG_DONTWAIT), PIPE_BUF);
	n = recv(rd, got, sizeof(got), MSG_DONTWAIT);
	cr_assert_eq(n, PIPE_BUF);
	cr_assert(!memcmp(got + PIPE_BUF - strlen(tail), tail, strlen(tail)));
	cr_assert_eq(got[PIPE_BUF - strlen(tail) - 1], 'y');
}

Test(log, control_characters_and_errno, .init = on_pipe, .fini = restore)
{
	errno = ENOSPC;
	log_msg(LOG_WARNING, "entry %s skipped\n", "a\nb\tc\rd\x7f" "e");
	cr_assert_eq(errno, ENOSPC);
	log_ratelimited(LOG_WARNING, "%s", "x\ncoffre: forged");
	cr_assert_eq(errno, ENOSPC);
	log_msg(LOG_INFO, "%s", "");
	cr_assert_str_eq(drain(NULL), "coffre: entry a?b?c?d?e skipped\n"
			 "coffre: x?coffre: forged\n"
			 "coffre: \n");
}

static void burst_site(int k)
{
	log_ratelimited(LOG_ERR, "line %d", k);
}

Test(log, burst_limit_per_call_site, .init = on_pipe, .fini = restore)
{
	char want[256] = "";
	size_t len = 0;

	for (int k = 0; k < 25; k++)
		burst_site(k);
	/* Another call site has a limit of its own. */
	for (int k = 0; k < 3; k++)
		log_ratelimited(LOG_ERR, "other %d", k);
	for (int k = 0; k < LOG_RATELIMIT_BURST; k++)
		len += (size_t)snprintf(want + len, sizeof(want) - len,
					"coffre: line %d\n", k);
	snprintf(want + len, sizeof(want) - len,
		 "coffre: other 0\ncoffre: other 1\ncoffre: other 2\n");
	cr_assert_str_eq(drain(NULL), want);
}

Test(log, suppressed_count_in_next_window, .init = on_pipe, .fini = restore)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(300, 3);

	for (int k = 0; k < 8; k++)
		log_rl(&rl, LOG_ERR, "m%d", k);
	cr_assert_str_eq(drain(NULL), "coffre: m0\ncoffre: m1\ncoffre: m2\n");
	sleep_ms(350);
	log_rl(&rl, LOG_ERR, "m8");
	log_rl(&rl, LOG_ERR, "m9");
	cr_assert_str_eq(drain(NULL), "coffre: m8 (and 5 more like it in the last 1 s)\n"
			 "coffre: m9\n");
	/* A window with nothing suppressed: no count on the next one. */
	sleep_ms(350);
	log_rl(&rl, LOG_ERR, "m10");
	cr_assert_str_eq(drain(NULL), "coffre: m10\n");
	/* Suppressed lines over several windows add up until one passes. */
	log_rl(&rl, LOG_ERR, "m11");
	log_rl(&rl, LOG_ERR, "m12");
	log_rl(&rl, LOG_ERR, "m13");
	sleep_ms(350);
	for (int k = 14; k < 20; k++)
		log_rl(&rl, LOG_ERR, "m%d", k);
	cr_assert_str_eq(drain(NULL), "coffre: m11\ncoffre: m12\n"
			 "coffre: m14 (and 1 more like it in the last 1 s)\n"
			 "coffre: m15\ncoffre: m16\n");
	sleep_ms(350);
	log_rl(&rl, LOG_ERR, "m20");
	cr_assert_str_eq(drain(NULL), "coffre: m20 (and 3 more like it in the last 1 s)\n");
}

Test(log, interval_zero_is_no_limit, .init = on_pipe, .fini = restore)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(0, 1);

	for (int k = 0; k < 30; k++)
		log_rl(&rl, LOG_ERR, "n%d", k);
	cr_assert_eq(count_lines(drain(NULL)), 30);
}

/* ---- threads */

#define THREADS 6
#define LINES 400
#define BODY 900

static struct log_ratelimit shared_rl = LOG_RATELIMIT_INIT(600000, 50);

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char body[BODY + 1];

	memset(body, 'a' + t, BODY);
	body[BODY] = '\0';
	for (int k = 0; k < LINES; k++)
		log_msg(LOG_INFO, "t%d %d %s", t, k, body);
	return NULL;
}

static void *limited(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int k = 0; k < LINES; k++)
		log_rl(&shared_rl, LOG_ERR, "t%d %d", t, k);
	return NULL;
}

/* Check one line "coffre: tT K BODY" of thread T; count it. */
static void check_line(const char *line, size_t len, int next[THREADS])
{
	int t, k, off = 0;

	const char *body = strstr(line, ": t");

	cr_assert(body && body - line < 64, "not a whole line: %.60s", line);
	len -= (size_t)(body + 2 - line);
	line = body + 2;
	cr_assert(sscanf(line, "t%d %d %n", &t, &k, &off) == 2 && off > 0,
		  "not a whole line: %.60s", line);
	cr_assert(t >= 0 && t < THREADS);
	cr_assert_eq(k, next[t], "thread %d: line %d after %d", t, k, next[t] - 1);
	next[t]++;
	cr_assert_eq(len, (size_t)off + BODY, "thread %d line %d: %zu bytes", t, k, len);
	for (size_t i = (size_t)off; i < len; i++)
		cr_assert_eq(line[i], 'a' + t, "thread %d line %d mixed at %zu", t, k, i);
}

Test(log, threads_write_whole_lines, .init = on_pipe, .fini = restore)
{
	static char buf[THREADS * LINES * (BODY + 96)];
	pthread_t th[THREADS];
	int next[THREADS] = { 0 }, done = 0;
	size_t n = 0, at = 0;
	ssize_t r;

	for (int t = 0; t < THREADS; t++)
		cr_assert(pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t) == 0);
	/* Drain while they write: the pipe holds far less than all of it. */
	while (done < THREADS * LINES) {
		r = read(rd, buf + n, sizeof(buf) - n);
		cr_assert(r > 0);
		n += (size_t)r;
		for (char *nl; (nl = memchr(buf + at, '\n', n - at)); at = (size_t)(nl - buf) + 1) {
			check_line(buf + at, (size_t)(nl - buf) - at, next);
			done++;
		}
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		cr_assert_eq(next[t], LINES);
	}
	cr_assert_eq(at, n);
}

Test(log, threads_share_one_limit, .init = on_pipe, .fini = restore)
{
	pthread_t th[THREADS];
	const char *s;

	for (int t = 0; t < THREADS; t++)
		cr_assert(pthread_create(&th[t], NULL, limited, (void *)(intptr_t)t) == 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	s = drain(NULL);
	cr_assert_eq(count_lines(s), 50);
	cr_assert_eq(shared_rl.printed, 50);
	cr_assert_eq(shared_rl.missed, THREADS * LINES - 50);
	for (; *s; s = strchr(s, '\n') + 1)
		cr_assert(!strncmp(s, "coffre: t", 9));
}

/* ---- the pure parts */

Test(log, format_rfc3339_offsets_and_levels)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 11, .tm_mday = 4, .tm_hour = 9,
			 .tm_min = 5, .tm_sec = 7, .tm_gmtoff = 3600 };
	char out[LOG_LINE_MAX];
	size_t n;

	n = log_format(out, &tm, 42, 812, LOG_WARNING, "bucket down", 0, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "2026-12-04T09:05:07.042+01:00 coffre[812] warning: bucket down\n");
	tm.tm_gmtoff = -(9 * 3600 + 30 * 60);
	n = log_format(out, &tm, 999, 1, LOG_ERR, "x\n", 0, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "2026-12-04T09:05:07.999-09:30 coffre[1] error: x\n");
	tm.tm_gmtoff = 0;
	n = log_format(out, &tm, 0, 7, LOG_NOTICE | LOG_DAEMON, "a\tb", 41, 60);
	out[n] = '\0';
	cr_assert_str_eq(out, "2026-12-04T09:05:07.000+00:00 coffre[7] notice: a?b "
			 "(and 41 more like it in the last 60 s)\n");
	cr_assert_str_eq(log_level_name(LOG_INFO), "info");
	/* Without a stamp (syslog's): the message and the tail alone. */
	n = log_format(out, NULL, 0, 0, LOG_ERR, "segment does not authenticate", 3, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "segment does not authenticate (and 3 more like it "
			 "in the last 1 s)\n");
}

Test(log, format_cuts_the_message_not_the_tail)
{
	static char msg[2 * LOG_LINE_MAX];
	struct tm tm = { .tm_year = 126 };
	const char *tail = " (and 4294967295 more like it in the last 4294967295 s)\n";
	char out[LOG_LINE_MAX];
	size_t n;

	memset(msg, 'z', sizeof(msg) - 1);
	n = log_format(out, &tm, 0, 2147483647, LOG_ERR, msg, UINT_MAX, UINT_MAX);
	cr_assert_eq(n, LOG_LINE_MAX);
	cr_assert(!memcmp(out + n - strlen(tail), tail, strlen(tail)));
	cr_assert_eq(out[n - strlen(tail) - 1], 'z');
}

#define S 1000000000ull

Test(log, rate_limit_counts_on_a_given_clock)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 2);
	unsigned missed = 99, secs = 99;

	cr_assert(log_rl_count(&rl, 100 * S, &missed, &secs));
	cr_assert_eq(missed, 0);
	cr_assert(log_rl_count(&rl, 101 * S, &missed, &secs));
	for (int k = 0; k < 41; k++)
		cr_assert(!log_rl_count(&rl, 102 * S + (uint64_t)k, &missed, &secs));
	/* Still in the window: suppressed. */
	cr_assert(!log_rl_count(&rl, 159 * S, &missed, &secs));
	/* The next window: the count, and the seconds since the last line. */
	cr_assert(log_rl_count(&rl, 161 * S, &missed, &secs));
	cr_assert_eq(missed, 42);
	cr_assert_eq(secs, 60);
	cr_assert(log_rl_count(&rl, 161 * S + 1, &missed, &secs));
	cr_assert_eq(missed, 0);
	/* A clock read before another thread opened the window counts in it. */
	cr_assert(!log_rl_count(&rl, 150 * S, &missed, &secs));
	cr_assert_eq(rl.missed, 1);
}

/* Every tamper finding counts, the lines the limit suppresses included. */
Test(log, tamper_counts_every_finding, .init = on_pipe, .fini = restore)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 1);
	uint64_t before = log_tamper_count();

	for (int i = 0; i < 3; i++)
		log_rl_tamper(&rl, LOG_ERR, "segment %d does not authenticate", i);
	log_rl(&rl, LOG_ERR, "not a finding");
	cr_assert_eq(log_tamper_count() - before, 3);
}

/* ---- journal.c: native entries */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int journal_listener(char path[108])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(path, 108, "/tmp/coffre-journal-%ld", (long)getpid());
	unlink(path);
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void next_entry(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);

	cr_assert_gt(n, 0, "an entry was sent");
	buf[n] = '\0';
}

Test(journal, entries_carry_priority_volume_and_class)
{
	char path[108], buf[LOG_LINE_MAX + 512];
	int fd = journal_listener(path);

	cr_assert_eq(log_use_journal(path), 0);
	log_set_volume("00112233445566778899aabbccddeeff");
	log_msg(LOG_WARNING, "hsm 1 down\tnow");
	next_entry(fd, buf, sizeof(buf));
	cr_assert(strstr(buf, "PRIORITY=4\n"), "%s", buf);
	cr_assert(strstr(buf, "SYSLOG_IDENTIFIER=coffre\n"), "%s", buf);
	cr_assert(strstr(buf, "MESSAGE=hsm 1 down?now\n"), "a control character "
		  "cannot start a field of its own: %s", buf);
	cr_assert(strstr(buf, "COFFRE_VOLUME=00112233445566778899aabbccddeeff\n"));
	cr_assert_null(strstr(buf, "COFFRE_CLASS="));
	cr_assert_null(strstr(buf, "coffre["), "no stamp: the journal keeps its own");
	log_tampered(LOG_ERR, "segment 3 of %s does not authenticate", "ab/cd");
	next_entry(fd, buf, sizeof(buf));
	cr_assert(strstr(buf, "PRIORITY=3\n") && strstr(buf, "COFFRE_CLASS=tamper\n"),
		  "%s", buf);
	/* The journal gone: the line goes to stderr instead (not lost). */
	close(fd);
	unlink(path);
	log_msg(LOG_ERR, "after the journal");
}

Test(journal, stream_is_recognised_by_device_and_inode)
{
	struct stat st;
	char v[64];

	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	cr_assert(log_journal_stream());
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	cr_assert_not(log_journal_stream());
	setenv("JOURNAL_STREAM", "garbage", 1);
	cr_assert_not(log_journal_stream());
	unsetenv("JOURNAL_STREAM");
	cr_assert_not(log_journal_stream());
}
