/*
 * ticker.c — a thread that runs one function at once and then every
 * period seconds until stopped (the health watch, the metrics file): the
 * start, the wait that a stop cuts short, and the stop that joins.
 */
#include <errno.h>
#include <time.h>

#include "fs.h"

static void *tick_main(void *arg)
{
	struct ticker *t = arg;
	struct timespec ts;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		pthread_mutex_unlock(&t->mu);
		t->fn();
		pthread_mutex_lock(&t->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += t->period_s;
		while (!t->stop && pthread_cond_timedwait(&t->wake, &t->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int ticker_start(struct ticker *t, void (*fn)(void), unsigned period_s)
{
	int ret;

	t->fn = fn;
	t->period_s = period_s;
	t->stop = false;
	ret = pthread_create(&t->thread, NULL, tick_main, t);
	t->running = ret == 0;
	return -ret;
}

void ticker_stop(struct ticker *t)
{
	if (!t->running)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	t->running = false;
}
