/*
 * The generation reservation of a session (src/keys/genres.c; FORMAT.md
 * §9.3 "Reservation", §12.7): the start, the raise at half a step, EROFS
 * at the last reserved generation, and seeded random histories (HSM
 * outages of every length) checked against a model: no generation is
 * opened twice or unreserved, writes stop exactly at the last one.
 */
#include <errno.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "coffre/keys.h"

#define S ((uint64_t)V2_HSMGEN_STEP)

static struct genres started(uint64_t committed, uint64_t r)
{
	struct genres g;
	uint64_t want;

	cr_assert_eq(genres_start(&g, committed, r, &want), 0);
	genres_reserved(&g, want);
	return g;
}

Test(genres, start)
{
	struct genres g;
	uint64_t want;

	cr_assert_eq(genres_start(&g, 10, 0, &want), 0);
	cr_assert_eq(g.start, 13);
	cr_assert_eq(want, 13 + S);
	cr_assert_eq(genres_start(&g, 10, 12, &want), 0);
	cr_assert_eq(g.start, 13);
	cr_assert_eq(genres_start(&g, 10, 5000, &want), 0);
	cr_assert_eq(g.start, 5000);
	cr_assert_eq(want, 5000 + S);
	/* An empty table (no record yet): the first session starts at 3. */
	cr_assert_eq(genres_start(&g, 0, 0, &want), 0);
	cr_assert_eq(g.start, 3);
	/* Nothing is used before the reservation is held. */
	cr_assert_eq(g.open, 0);
	cr_assert_not(genres_writable(&g));
	cr_assert_eq(genres_advance(&g), -EROFS);
	cr_assert_eq(genres_raise_due(&g), 3 + S);
	genres_reserved(&g, 3 + S - 1);         /* less than asked: not enough */
	cr_assert_eq(g.open, 0);
	genres_reserved(&g, 3 + S);
	cr_assert_eq(g.open, 3);
	cr_assert(genres_writable(&g));
	cr_assert_eq(genres_raise_due(&g), 0);
	cr_assert_eq(genres_advance(&g), 0);
	cr_assert_eq(g.open, 4);
}

Test(genres, limits)
{
	struct genres g;
	uint64_t want;

	cr_assert_eq(genres_start(&g, V2_GEN_MAX - 3, 0, &want), 0);
	cr_assert_eq(g.start, V2_GEN_MAX);
	cr_assert_eq(want, V2_HSMGEN_RESERVED_MAX);
	cr_assert_eq(genres_start(&g, V2_GEN_MAX - 2, 0, &want), -EOVERFLOW);
	cr_assert_eq(want, 0);
	cr_assert_eq(genres_start(&g, 1, V2_GEN_MAX + 1, &want), -EOVERFLOW);
	cr_assert_eq(genres_start(&g, V2_GEN_MAX + 1, 0, &want), -EINVAL);
	cr_assert_eq(genres_start(&g, 1, V2_HSMGEN_RESERVED_MAX + 1, &want),
		     -EINVAL);
	/* The last generation opens; nothing past it, whatever is reserved. */
	g = started(V2_GEN_MAX - 4, 0);
	cr_assert_eq(g.open, V2_GEN_MAX - 1);
	cr_assert_eq(genres_advance(&g), 0);
	cr_assert_eq(genres_advance(&g), -EOVERFLOW);
	cr_assert_eq(g.open, V2_GEN_MAX);
}

Test(genres, raise_at_half_a_step)
{
	struct genres g = started(100, 0);     /* s = 103 */
	uint64_t half = g.reserved - S / 2;

	while (g.open < half - 1) {
		cr_assert_eq(genres_raise_due(&g), 0);
		cr_assert_eq(genres_advance(&g), 0);
	}
	cr_assert_eq(genres_raise_due(&g), 0);
	cr_assert_eq(genres_advance(&g), 0);
	cr_assert_eq(g.open, half);
	cr_assert_eq(genres_raise_due(&g), half + S);
	/* Still due at the next commit until a raise succeeds. */
	cr_assert_eq(genres_advance(&g), 0);
	cr_assert_eq(genres_raise_due(&g), half + 1 + S);
	genres_reserved(&g, half + 1 + S);
	cr_assert_eq(g.reserved, half + 1 + S);
	cr_assert_eq(genres_raise_due(&g), 0);
	/* A stale, lower confirmation changes nothing. */
	genres_reserved(&g, half + S);
	cr_assert_eq(g.reserved, half + 1 + S);
}

Test(genres, erofs_at_the_last_reserved_generation)
{
	struct genres g = started(7, 0);        /* s = 10 */
	uint64_t last = 10 + S - 1;

	while (g.open < last - 1) {
		cr_assert(genres_writable(&g));
		cr_assert_eq(genres_advance(&g), 0);
	}
	cr_assert(genres_writable(&g));
	cr_assert_eq(genres_advance(&g), 1, "the last one opens, read-only");
	cr_assert_eq(g.open, last);
	cr_assert_not(genres_writable(&g));
	cr_assert_eq(genres_raise_due(&g), last + S);
	/* Never past it unreserved: it stays open for the clean record. */
	cr_assert_eq(genres_advance(&g), -EROFS);
	cr_assert_eq(g.open, last);
	genres_reserved(&g, last + S);
	cr_assert(genres_writable(&g));
	cr_assert_eq(genres_advance(&g), 0);
	cr_assert_eq(g.open, last + 1);
}

/* A model: the generations a session may open are those below every
 * reservation it saw succeed, one after the other from s. */
struct model {
	uint64_t s, held, open;
	bool started;
};

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void one_history(uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1, want;
	uint64_t committed = xorshift(&x) % 1000000, r = 0;
	struct genres g;
	struct model m = { 0 };
	long outage = 0, erofs_seen = 0, steps;
	int ret;

	if (xorshift(&x) % 2)
		r = committed + xorshift(&x) % (3 * S);
	cr_assert_eq(genres_start(&g, committed, r, &want), 0);
	m.s = committed + 3 > r ? committed + 3 : r;
	cr_assert_eq(g.start, m.s);
	cr_assert_eq(want, m.s + S);
	for (steps = 0; steps < 300000; steps++) {
		uint64_t due = genres_raise_due(&g), roll = xorshift(&x);

		/* Outages of every length, some past half a step. */
		if (outage > 0) {
			outage--;
		} else if (roll % 20000 == 0) {
			outage = (long)(xorshift(&x) % (S + S / 2));
		}
		if (!m.started)
			cr_assert_eq(due, m.s + S);
		else if (m.open >= m.held - S / 2)
			cr_assert_eq(due, m.open + S, "step %ld", steps);
		else
			cr_assert_eq(due, 0, "step %ld", steps);
		if (due && outage == 0) {
			genres_reserved(&g, due);
			if (!m.started) {
				m.started = true;
				m.open = m.s;
			}
			m.held = due > m.held ? due : m.held;
		}
		cr_assert_eq(g.reserved, m.held);
		cr_assert_eq(g.open, m.open);
		cr_assert_eq(genres_writable(&g), m.started && m.open + 1 < m.held);
		if (!genres_writable(&g) && m.started)
			erofs_seen++;
		/* A commit (most steps), which opens the next generation. */
		if (roll % 4 == 0)
			continue;
		ret = genres_advance(&g);
		if (!m.started || m.open + 1 >= m.held) {
			cr_assert_eq(ret, -EROFS, "step %ld", steps);
			continue;
		}
		m.open++;
		cr_assert_eq(ret, m.open == m.held - 1 ? 1 : 0);
		/* Opened only below what a successful write reserved. */
		cr_assert_lt(g.open, m.held);
		cr_assert_eq(g.open, m.open);
	}
	cr_log_info("seed %llu: open %llu, EROFS for %ld steps",
		    (unsigned long long)seed, (unsigned long long)m.open,
		    erofs_seen);
}

Test(genres, seeded_histories_against_a_model, .timeout = 120)
{
	uint64_t seed;

	for (seed = 1; seed <= 12; seed++)
		one_history(seed);
}
