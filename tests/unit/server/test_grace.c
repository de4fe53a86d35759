/* SPDX-License-Identifier: MIT */
/* Unit tests for server/src/grace: a retired table is freed only after
 * every worker that was reading it has left, never while one still may;
 * readers that start after the swap do not hold it back; a table that
 * cannot be tracked is leaked, not freed; and under threads that read
 * while the control side swaps, nothing is read after it was freed (the
 * sanitizer build turns that into a failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/src/grace.h"

static int freed;

static void count_free(void *p)
{
	freed++;
	free(p);
}

static void test_waits_for_readers(void **state)
{
	(void)state;
	ds_grace_t g;
	assert_int_equal(ds_grace_init(&g, 3, "test"), DS_OK);
	freed = 0;
	/* Worker 1 is inside a read when the table is retired. */
	uint64_t v1 = ds_grace_enter(&g, 1);
	assert_true(ds_grace_retire(&g, malloc(16), count_free));
	/* Worker 2 starts after the swap: it cannot hold the old table. */
	uint64_t v2 = ds_grace_enter(&g, 2);
	ds_grace_reclaim(&g, false);
	assert_int_equal(freed, 0);
	assert_int_equal(ds_grace_pending(&g), 1);
	/* Worker 1 leaves and enters again: a new read sees the new table. */
	ds_grace_leave(&g, 1, v1);
	v1 = ds_grace_enter(&g, 1);
	ds_grace_reclaim(&g, false);
	assert_int_equal(freed, 1);
	assert_int_equal(ds_grace_pending(&g), 0);
	ds_grace_leave(&g, 1, v1);
	ds_grace_leave(&g, 2, v2);
	/* NULL (nothing was published before) is not retired. */
	assert_true(ds_grace_retire(&g, NULL, count_free));
	assert_int_equal(ds_grace_pending(&g), 0);
	ds_grace_fini(&g);
}

static void test_order_kept_and_fini(void **state)
{
	(void)state;
	ds_grace_t g;
	assert_int_equal(ds_grace_init(&g, 2, "test"), DS_OK);
	freed = 0;
	uint64_t v = ds_grace_enter(&g, 0);
	assert_true(ds_grace_retire(&g, malloc(1), count_free)); /* held by worker 0 */
	ds_grace_leave(&g, 0, v);
	v = ds_grace_enter(&g, 0);
	assert_true(ds_grace_retire(&g, malloc(1), count_free)); /* held again */
	ds_grace_leave(&g, 0, v);
	ds_grace_reclaim(&g, false);
	assert_int_equal(freed, 2);
	/* Workers stopped: fini frees whatever still waits. */
	v = ds_grace_enter(&g, 1);
	assert_true(ds_grace_retire(&g, malloc(1), count_free));
	ds_grace_fini(&g);
	assert_int_equal(freed, 3);
	(void)v;
}

static void test_too_many_leaks(void **state)
{
	(void)state;
	ds_grace_t g;
	assert_int_equal(ds_grace_init(&g, 1, "test"), DS_OK);
	freed = 0;
	uint64_t v = ds_grace_enter(&g, 0);
	for (int i = 0; i < DS_GRACE_RETIRED_MAX; i++)
		assert_true(ds_grace_retire(&g, malloc(1), count_free));
	/* One more cannot be tracked: the caller keeps ownership, nothing is
	 * freed under the reader. */
	void *extra = malloc(1);
	assert_false(ds_grace_retire(&g, extra, count_free));
	assert_int_equal(freed, 0);
	ds_grace_leave(&g, 0, v);
	ds_grace_reclaim(&g, false);
	assert_int_equal(freed, DS_GRACE_RETIRED_MAX);
	free(extra);
	ds_grace_fini(&g);
}

/* Readers check a table's canary while the main thread swaps tables
 * and reclaims; a freed table is poisoned before free(). */
struct table {
	uint64_t canary;
	uint64_t body[15];
};
#define CANARY 0x6772616365ULL

static ds_grace_t tg;
static _Atomic(struct table *) cur;
static atomic_bool stop;
static atomic_ulong bad, reads;
static unsigned long tfreed;

static void table_free(void *p)
{
	struct table *t = p;
	t->canary = 0xdead;
	free(t);
	tfreed++;
}

static struct table *table_new(void)
{
	struct table *t = malloc(sizeof(*t));
	t->canary = CANARY;
	return t;
}

static void *reader(void *arg)
{
	unsigned wid = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&stop)) {
		uint64_t v = ds_grace_enter(&tg, wid);
		const struct table *t = atomic_load(&cur);
		if (t->canary != CANARY)
			atomic_fetch_add(&bad, 1);
		ds_grace_leave(&tg, wid, v);
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	enum { READERS = 3, SWAPS = 20000 };
	assert_int_equal(ds_grace_init(&tg, READERS, "test"), DS_OK);
	atomic_store(&cur, table_new());
	pthread_t th[READERS];
	for (uintptr_t i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, (void *)i), 0);
	/* Swap until the readers have done many reads, within 5 s. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < SWAPS || atomic_load(&reads) < 100000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 5)
			break;
		ds_grace_reclaim(&tg, false);
		/* A full list would leak (tested above): wait for readers. */
		if (ds_grace_pending(&tg) == DS_GRACE_RETIRED_MAX)
			continue;
		struct table *old = atomic_exchange(&cur, table_new());
		assert_true(ds_grace_retire(&tg, old, table_free));
	}
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	ds_grace_fini(&tg);
	table_free(atomic_load(&cur));
	assert_int_equal(atomic_load(&bad), 0);
	assert_true(atomic_load(&reads) >= 100000);
	assert_true(tfreed > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_for_readers),
		cmocka_unit_test(test_order_kept_and_fini),
		cmocka_unit_test(test_too_many_leaks),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
