/*
 * pool.c — several HSMs side by side (DESIGN.md §3 "Several HSMs").
 *
 * The members are tried in their configured order.  A member that fails
 * with a device error, a removed token or a lost session (-ENODEV) is
 * marked down and the call goes to the next one, so the filesystem call
 * never sees the failure.  SoftHSM2 reports a failed GCM tag as
 * CKR_GENERAL_ERROR (-EIO): before failing over on that, the member is
 * probed with the key check value; if it answers correctly the record is
 * bad (-EBADMSG) and no failover happens (no failover storm on one bad
 * record).  A monitor thread reopens members that are down, outside the
 * pool lock so calls never wait for a slow reconnect.  Each member counts
 * its calls and their latency (the metrics; under the pool lock, which a
 * call holds anyway).  A member whose PIN
 * was rejected is never retried: real HSMs lock out after a few tries.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"
#include "coffre/hsm.h"
#include "coffre/io.h"
#include "coffre/log.h"

#define LABEL_MAX 64

struct member {
	char *uri;
	struct hsm *h;                 /* NULL unless up */
	enum hsm_state state;
	char token[33];
	char reason[HSM_REASON_MAX];
	unsigned long failovers;
	uint64_t calls;                /* pool lock */
	struct metrics_hist latency;
	int inject_err;                /* tests: hsm_pool_inject */
	unsigned inject_n;
};

struct hsm_pool {
	pthread_mutex_t lock;
	struct member *m;
	unsigned n;
	char *pin;                     /* secmem */
	size_t pin_len;
	char label[LABEL_MAX];
	uint8_t kcv[COFFRE_KCV_LEN];
	pthread_t monitor;
	unsigned period;               /* seconds between reconnect rounds */
	bool monitoring, stopping;
	pthread_cond_t wake;
	hsm_member_fn *join;           /* hsm_pool_set_join */
	void *join_arg;
};

static void set_reason(struct member *m, enum hsm_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_reason(struct member *m, enum hsm_state st, const char *fmt, ...)
{
	va_list ap;

	m->state = st;
	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
}

/* Open one member and check its master key.  Returns 0 with *out set, or a
 * negative errno with reason filled; -EKEYREJECTED for a different key. */
static int open_member(struct hsm_pool *p, struct member *m, struct hsm **out)
{
	char err[HSM_REASON_MAX] = "";
	struct hsm *h = NULL;
	uint8_t kcv[COFFRE_KCV_LEN];
	int ret;

	ret = hsm_open(m->uri, p->pin, p->pin_len, &h, err, sizeof(err));
	if (ret) {
		set_reason(m, ret == -EACCES ? HSM_PIN_REJECTED : HSM_DOWN, "%s", err);
		return ret;
	}
	snprintf(m->token, sizeof(m->token), "%s", hsm_label(h));
	ret = hsm_kcv(h, p->label, kcv);
	if (ret == -ENOENT) {
		set_reason(m, HSM_NO_KEY, "token %s has no master key %s", m->token,
			   p->label);
	} else if (ret) {
		set_reason(m, HSM_DOWN, "token %s: %s", m->token, strerror(-ret));
	} else if (CRYPTO_memcmp(kcv, p->kcv, sizeof(kcv))) {
		set_reason(m, HSM_DOWN, "token %s holds a different master key "
			   "(key check value)", m->token);
		ret = -EKEYREJECTED;
	}
	if (ret) {
		hsm_close(h);
		return ret;
	}
	*out = h;
	return 0;
}

int hsm_pool_open(const char *const *uris, unsigned n, const char *pin,
		  size_t pin_len, const char *label, const uint8_t kcv[COFFRE_KCV_LEN],
		  struct hsm_pool **out, bool *degraded, char *err, size_t errlen)
{
	struct hsm_pool *p = calloc(1, sizeof(*p));
	unsigned i, up = 0;
	int ret = 0;

	*out = NULL;
	*degraded = false;
	if (!p || n == 0 || pin_len > 1024)
		goto nomem;
	p->m = calloc(n, sizeof(*p->m));
	p->pin = secmem_alloc(pin_len + 1);
	if (!p->m || !p->pin)
		goto nomem;
	memcpy(p->pin, pin, pin_len);
	p->pin_len = pin_len;
	p->n = n;
	snprintf(p->label, sizeof(p->label), "%s", label);
	memcpy(p->kcv, kcv, sizeof(p->kcv));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	for (i = 0; i < n; i++) {
		p->m[i].uri = strdup(uris[i]);
		if (!p->m[i].uri)
			goto nomem;
	}
	for (i = 0; i < n; i++) {
		struct member *m = &p->m[i];

		ret = open_member(p, m, &m->h);
		if (ret == -EACCES || ret == -EKEYREJECTED) {
			/* A wrong PIN or a different master key stops the mount. */
			snprintf(err, errlen, "%s", m->reason);
			goto fail;
		}
		if (ret == 0) {
			m->state = HSM_UP;
			snprintf(m->reason, sizeof(m->reason), "ok");
			up++;
		}
	}
	if (!up) {
		/* Every member answering without the key: the key is gone. */
		ret = -ENOKEY;
		for (i = 0; i < n; i++)
			if (p->m[i].state != HSM_NO_KEY)
				ret = -ENODEV;
		snprintf(err, errlen, "%s%s", ret == -ENODEV ? "no HSM answers: " :
			 "the HSMs answer but none holds the master key: ",
			 p->m[0].reason);
		goto fail;
	}
	*degraded = up < n;
	*out = p;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	ret = -ENOMEM;
fail:
	hsm_pool_close(p);
	return ret;
}

void hsm_pool_close(struct hsm_pool *p)
{
	unsigned i;

	if (!p)
		return;
	if (p->monitoring) {
		pthread_mutex_lock(&p->lock);
		p->stopping = true;
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->monitor, NULL);
	}
	for (i = 0; p->m && i < p->n; i++) {
		hsm_close(p->m[i].h);
		free(p->m[i].uri);
	}
	free(p->m);
	secmem_free(p->pin, p->pin_len + 1);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}

void hsm_pool_set_master(struct hsm_pool *p, const char *label,
			 const uint8_t kcv[COFFRE_KCV_LEN])
{
	pthread_mutex_lock(&p->lock);
	snprintf(p->label, sizeof(p->label), "%s", label);
	memcpy(p->kcv, kcv, sizeof(p->kcv));
	pthread_mutex_unlock(&p->lock);
}

/* With the lock held: take a member out of service. */
static void mark_down(struct member *m, int err)
{
	log_msg(LOG_WARNING, "HSM %s (%s) failed: %s; failing over", m->token,
		m->uri, strerror(-err));
	set_reason(m, HSM_DOWN, "failed: %s", strerror(-err));
	m->failovers++;
	/* The handle is closed by the monitor (or at pool close): closing a
	 * module here could finalize it under a thread still inside it. */
}

typedef int member_op(struct hsm *h, void *arg);

/* Run op on the first healthy member, failing over as described above;
 * each call is counted and timed for the metrics. */
static int with_member(struct hsm_pool *p, member_op *op, void *arg)
{
	unsigned i;
	uint8_t kcv[COFFRE_KCV_LEN];
	uint64_t t0;
	int err = -ENODEV;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		struct member *m = &p->m[i];

		if (m->state != HSM_UP)
			continue;
		t0 = metrics_now_ns();
		err = op(m->h, arg);
		m->calls++;
		metrics_hist_observe(&m->latency, metrics_now_ns() - t0);
		/* A key that is gone from a token whose current master key is
		 * gone too is a dying token (SoftHSM2 shows a deleted token as
		 * "no such object" for a while), not a missing key. */
		if (err == -ENOENT && hsm_kcv(m->h, p->label, kcv) != 0)
			err = -ENODEV;
		if (err == -EIO) {
			/* Ambiguous: a healthy HSM means the input was bad. */
			if (hsm_kcv(m->h, p->label, kcv) == 0 &&
			    CRYPTO_memcmp(kcv, p->kcv, sizeof(kcv)) == 0) {
				err = -EBADMSG;
				break;
			}
			err = -ENODEV;
		}
		if (err != -ENODEV)
			break;
		/* A token that cannot open its files because this process is
		 * out of descriptors has not failed: nobody is failed over. */
		if (io_fds_exhausted()) {
			err = -ENFILE;
			break;
		}
		mark_down(m, err);
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

struct gcm_args {
	const char *label;
	const uint8_t *iv, *aad, *in;
	size_t aad_len, len;
	uint8_t *out;
};

static int seal_op(struct hsm *h, void *arg)
{
	struct gcm_args *a = arg;

	return hsm_gcm_seal(h, a->label, a->iv, a->aad, a->aad_len, a->in, a->len,
			    a->out);
}

static int open_op(struct hsm *h, void *arg)
{
	struct gcm_args *a = arg;

	return hsm_gcm_open(h, a->label, a->iv, a->aad, a->aad_len, a->in, a->len,
			    a->out);
}

int hsm_pool_gcm_seal(struct hsm_pool *p, const char *label, const uint8_t iv[12],
		      const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		      size_t len, uint8_t *out)
{
	struct gcm_args a = { label, iv, aad, pt, aad_len, len, out };

	return with_member(p, seal_op, &a);
}

int hsm_pool_gcm_open(struct hsm_pool *p, const char *label, const uint8_t iv[12],
		      const uint8_t *aad, size_t aad_len, const uint8_t *in,
		      size_t in_len, uint8_t *out)
{
	struct gcm_args a = { label, iv, aad, in, aad_len, in_len, out };

	return with_member(p, open_op, &a);
}

struct kcv_args {
	const char *label;
	uint8_t *kcv;
};

static int kcv_op(struct hsm *h, void *arg)
{
	struct kcv_args *a = arg;

	return hsm_kcv(h, a->label, a->kcv);
}

int hsm_pool_kcv(struct hsm_pool *p, const char *label, uint8_t kcv[COFFRE_KCV_LEN])
{
	struct kcv_args a = { label, kcv };

	return with_member(p, kcv_op, &a);
}

unsigned hsm_pool_size(const struct hsm_pool *p)
{
	return p->n;
}

struct hsm *hsm_pool_member(struct hsm_pool *p, unsigned i)
{
	struct hsm *h;

	pthread_mutex_lock(&p->lock);
	h = i < p->n && p->m[i].state == HSM_UP ? p->m[i].h : NULL;
	pthread_mutex_unlock(&p->lock);
	return h;
}

const char *hsm_state_name(enum hsm_state s)
{
	switch (s) {
	case HSM_UP: return "up";
	case HSM_DOWN: return "down";
	case HSM_NO_KEY: return "no-key";
	case HSM_PIN_REJECTED: return "pin-rejected";
	}
	return "?";
}

unsigned hsm_pool_status(struct hsm_pool *p, struct hsm_member_status *out,
			 unsigned max)
{
	unsigned i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n && i < max; i++) {
		out[i].uri = p->m[i].uri;
		snprintf(out[i].token, sizeof(out[i].token), "%s", p->m[i].token);
		out[i].state = p->m[i].state;
		snprintf(out[i].reason, sizeof(out[i].reason), "%s", p->m[i].reason);
		out[i].failovers = p->m[i].failovers;
		out[i].calls = p->m[i].calls;
		metrics_hist_read(&p->m[i].latency, &out[i].latency);
	}
	pthread_mutex_unlock(&p->lock);
	return i;
}

/* With the lock held: op on member i, or the error a test injected. */
static int run_op(struct hsm_pool *p, unsigned i, struct hsm *h,
		  hsm_member_fn *op, void *arg)
{
	struct member *m = &p->m[i];

	if (m->inject_n) {
		m->inject_n--;
		return m->inject_err;
	}
	return op(h, i, arg);
}

/* With the lock held: the join hook on a member that is back. */
static int join_member(struct hsm_pool *p, unsigned i, struct hsm *h)
{
	return run_op(p, i, h, p->join, p->join_arg);
}

int hsm_pool_each(struct hsm_pool *p, hsm_member_fn *op, void *arg,
		  unsigned *at)
{
	unsigned i;
	int err, done = 0;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		struct member *m = &p->m[i];

		if (m->state != HSM_UP)
			continue;
		err = run_op(p, i, m->h, op, arg);
		if (!err) {
			done++;
			continue;
		}
		/* Out of descriptors, a token cannot open its files: it has
		 * not failed, and nobody is failed over. */
		if ((err == -ENODEV || err == -EIO) && io_fds_exhausted())
			err = -ENFILE;
		if (err == -ENODEV || err == -EIO) {
			mark_down(m, err);
			pthread_cond_signal(&p->wake);
			continue;
		}
		/* A resource error, or one of op's own: stop here. */
		if (at)
			*at = i;
		done = err;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return done;
}

void hsm_pool_set_join(struct hsm_pool *p, hsm_member_fn *join, void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->join = join;
	p->join_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

void hsm_pool_inject(struct hsm_pool *p, unsigned i, int err, unsigned n)
{
	pthread_mutex_lock(&p->lock);
	if (i < p->n) {
		p->m[i].inject_err = err;
		p->m[i].inject_n = n;
	}
	pthread_mutex_unlock(&p->lock);
}

/* Reconnect members that are down, one at a time, without the lock. */
static void reconnect_round(struct hsm_pool *p)
{
	unsigned i;

	for (i = 0; i < p->n; i++) {
		struct member *m = &p->m[i];
		struct member scratch;
		struct hsm *old = NULL, *h = NULL;
		int ret;

		pthread_mutex_lock(&p->lock);
		if (m->state == HSM_UP || m->state == HSM_PIN_REJECTED || p->stopping) {
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		old = m->h;
		m->h = NULL;
		scratch = *m;
		pthread_mutex_unlock(&p->lock);

		hsm_close(old);
		ret = open_member(p, &scratch, &h);

		pthread_mutex_lock(&p->lock);
		snprintf(m->token, sizeof(m->token), "%s", scratch.token);
		if (ret == 0 && p->join) {
			ret = join_member(p, i, h);
			if (ret) {
				/* Closed by the next round, retried then. */
				m->h = h;
				set_reason(m, HSM_DOWN, "catching up failed: %s",
					   strerror(-ret));
				log_msg(LOG_WARNING, "HSM %s (%s) is back but %s",
					m->token, m->uri, m->reason);
				pthread_mutex_unlock(&p->lock);
				continue;
			}
		}
		if (ret == 0) {
			m->h = h;
			m->state = HSM_UP;
			snprintf(m->reason, sizeof(m->reason), "ok (reconnected)");
			log_msg(LOG_NOTICE, "HSM %s (%s) is back", m->token, m->uri);
		} else {
			m->state = scratch.state;
			memcpy(m->reason, scratch.reason, sizeof(m->reason));
		}
		pthread_mutex_unlock(&p->lock);
	}
}

void hsm_pool_reconnect(struct hsm_pool *p)
{
	reconnect_round(p);
}

static void *monitor_main(void *arg)
{
	struct hsm_pool *p = arg;
	struct timespec ts;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (!p->stopping) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += p->period;
			pthread_cond_timedwait(&p->wake, &p->lock, &ts);
		}
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		pthread_mutex_unlock(&p->lock);
		reconnect_round(p);
	}
}

int hsm_pool_monitor(struct hsm_pool *p, unsigned period)
{
	if (p->monitoring)
		return 0;
	p->period = period ? period : 5;
	if (pthread_create(&p->monitor, NULL, monitor_main, p))
		return -EAGAIN;
	p->monitoring = true;
	return 0;
}

bool hsm_pool_check_pin(struct hsm_pool *p, const char *pin, size_t len)
{
	return len == p->pin_len && CRYPTO_memcmp(pin, p->pin, len) == 0;
}

uint64_t hsm_pool_counter_get(struct hsm_pool *p, const char *label)
{
	uint64_t best = 0, v;
	uint8_t buf[8];
	unsigned i, k;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		if (p->m[i].state != HSM_UP ||
		    hsm_data_get(p->m[i].h, label, buf, sizeof(buf)) != 8)
			continue;
		for (v = 0, k = 0; k < 8; k++)
			v = v << 8 | buf[k];
		if (v > best)
			best = v;
	}
	pthread_mutex_unlock(&p->lock);
	return best;
}

unsigned hsm_pool_counter_put(struct hsm_pool *p, const char *label, uint64_t v)
{
	uint8_t buf[8];
	unsigned i, k, done = 0;

	for (k = 0; k < 8; k++)
		buf[k] = (uint8_t)(v >> (56 - 8 * k));
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++)
		if (p->m[i].state == HSM_UP &&
		    hsm_data_put(p->m[i].h, label, buf, sizeof(buf)) == 0)
			done++;
	pthread_mutex_unlock(&p->lock);
	return done;
}
