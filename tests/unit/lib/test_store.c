/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/store: schema creation and migration, run lifecycle,
 * the writer thread (round trip, backpressure, disk full), a writer killed
 * mid-run, and the errors a user sees for files that are not stores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "lib/store.h"

/* ------------------------------------------------------------ helpers */

struct tmp {
	char dir[64];
	char db[128];
};

static void tmp_make(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/ds_store_test_XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/results.db", t->dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void tmp_clean(struct tmp *t)
{
	chmod(t->dir, 0700);
	nftw(t->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Run SQL on a plain connection, as another program would. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static int64_t q_int(ds_store_t *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = INT64_MIN;
	assert_int_equal(sqlite3_prepare_v2(ds_store_handle(db), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void q_text(ds_store_t *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *st;
	out[0] = 0;
	assert_int_equal(sqlite3_prepare_v2(ds_store_handle(db), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static void assert_integrity_ok(const char *path)
{
	ds_err_t err;
	ds_store_t *db = ds_store_open(path, DS_STORE_RDONLY, &err);
	if (!db)
		fail_msg("%s", err.msg);
	char res[64];
	q_text(db, "PRAGMA integrity_check", res, sizeof(res));
	assert_string_equal(res, "ok");
	ds_store_close(db);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static int64_t new_run(ds_store_t *db, const char *label)
{
	ds_err_t err;
	int64_t id = -1;
	ds_store_run_info_t ri = {.tool = "load",
	                          .label = label,
	                          .scenario = "unit",
	                          .target = "127.0.0.1:5300/udp",
	                          .config_text = "abc",
	                          .params_json = "{\"qps\":1000}",
	                          .seed = UINT64_MAX - 1,
	                          .timeout_ns = 2 * DS_NS_PER_SEC,
	                          .timeout_in_hist = true};
	if (ds_store_run_begin(db, &ri, &id, &err) != DS_OK)
		fail_msg("%s", err.msg);
	return id;
}

static bool hist_equal(const ds_hist_t *a, const ds_hist_t *b)
{
	if (a->count != b->count || a->min != b->min || a->max != b->max)
		return false;
	uint32_t i = 0, j = 0;
	uint64_t ca, cb;
	for (;;) {
		bool ma = ds_hist_next(a, &i, &ca), mb = ds_hist_next(b, &j, &cb);
		if (ma != mb)
			return false;
		if (!ma)
			return true;
		if (i != j || ca != cb)
			return false;
		i++;
		j++;
	}
}

/* ------------------------------------------------------ schema tests */

static void test_create_and_migrate(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);

	/* a new file gets the whole schema, WAL and the application id */
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	if (!db)
		fail_msg("%s", err.msg);
	assert_int_equal(ds_store_schema_version(db), DS_STORE_SCHEMA_VERSION);
	assert_int_equal(q_int(db, "PRAGMA application_id"), DS_STORE_APP_ID);
	assert_int_equal(q_int(db, "PRAGMA user_version"), DS_STORE_SCHEMA_VERSION);
	char mode[16];
	q_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(q_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND"
	                           " name IN ('run','phase','interval_stats','rcode_count','hist',"
	                           "'hist_bucket','series','sample','assertion','trial_summary',"
	                           "'comparison')"),
	                 11);
	/* STRICT tables refuse a text timestamp */
	assert_int_not_equal(sqlite3_exec(ds_store_handle(db),
	                                  "INSERT INTO sample VALUES (1, 'yesterday', 1.0)", NULL,
	                                  NULL, NULL),
	                     SQLITE_OK);
	ds_store_close(db);
	/* reopening is a no-op */
	db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	assert_int_equal(ds_store_schema_version(db), DS_STORE_SCHEMA_VERSION);
	ds_store_close(db);
	tmp_clean(&t);

	/* a file written by an older dnsurge (version 1) keeps its data */
	tmp_make(&t);
	db = ds_store_open_version(t.db, 0, 1, &err);
	if (!db)
		fail_msg("%s", err.msg);
	assert_int_equal(ds_store_schema_version(db), 1);
	assert_int_equal(
	    q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'trial_summary'"), 0);
	int64_t run = new_run(db, "old");
	assert_int_equal(ds_store_run_end(db, run, DS_STORE_OK, NULL, NULL, &err), DS_OK);
	ds_store_close(db);
	/* read-only tools do not migrate: they say how to */
	db = ds_store_open(t.db, DS_STORE_RDONLY, &err);
	assert_null(db);
	assert_contains(err.msg, t.db);
	assert_contains(err.msg, "older");
	db = ds_store_open(t.db, 0, &err);
	if (!db)
		fail_msg("%s", err.msg);
	assert_int_equal(ds_store_schema_version(db), 2);
	assert_int_equal(q_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(
	    q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'trial_summary'"), 1);
	ds_store_run_t r;
	assert_int_equal(ds_store_run_get(db, run, &r, &err), DS_OK);
	assert_string_equal(r.label, "old");
	assert_int_equal(r.status, DS_STORE_OK);
	ds_store_run_free(&r);
	ds_store_close(db);
	tmp_clean(&t);

	/* user_version 0 with our application id: migrated from scratch */
	tmp_make(&t);
	raw_exec(t.db, "PRAGMA application_id = 1145983828; PRAGMA user_version = 0;");
	db = ds_store_open(t.db, 0, &err);
	if (!db)
		fail_msg("%s", err.msg);
	assert_int_equal(ds_store_schema_version(db), DS_STORE_SCHEMA_VERSION);
	assert_int_equal(q_int(db, "SELECT count(*) FROM run"), 0);
	ds_store_close(db);
	assert_integrity_ok(t.db);
	tmp_clean(&t);
}

static void test_newer_version(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	ds_store_close(db);
	raw_exec(t.db, "PRAGMA user_version = 99");
	for (int ro = 0; ro < 2; ro++) {
		memset(&err, 0, sizeof(err));
		db = ds_store_open(t.db, ro ? DS_STORE_RDONLY : 0, &err);
		assert_null(db);
		assert_contains(err.msg, t.db);
		assert_contains(err.msg, "schema version 99 is newer");
	}
	tmp_clean(&t);
}

static void test_not_a_store(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);

	/* a text file */
	FILE *f = fopen(t.db, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is a pcap list, not a database\n", f);
	fclose(f);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_null(db);
	assert_contains(err.msg, t.db);
	assert_contains(err.msg, "not an SQLite database");
	db = ds_store_open(t.db, DS_STORE_RDONLY, &err);
	assert_null(db);
	assert_contains(err.msg, "not an SQLite database");
	/* the file is left as it was */
	struct stat sb;
	assert_int_equal(stat(t.db, &sb), 0);
	assert_int_equal(sb.st_size, 200 * 36);
	unlink(t.db);

	/* another program's SQLite database */
	raw_exec(t.db, "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT)");
	db = ds_store_open(t.db, 0, &err);
	assert_null(db);
	assert_contains(err.msg, t.db);
	assert_contains(err.msg, "not a dnsurge results store");
	unlink(t.db);

	/* a missing file opened read-only */
	db = ds_store_open(t.db, DS_STORE_RDONLY, &err);
	assert_null(db);
	assert_contains(err.msg, t.db);
	assert_contains(err.msg, "no such file");
	/* a missing directory */
	char deep[256];
	snprintf(deep, sizeof(deep), "%s/no/such/dir/r.db", t.dir);
	assert_int_equal(ds_store_open(deep, 0, &err) == NULL, true);
	assert_contains(err.msg, deep);
	assert_contains(err.msg, "does not exist");
	tmp_clean(&t);
}

static void test_corrupt_file(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	new_run(db, "x");
	ds_store_close(db);
	/* Scribble over the schema page after the 100-byte file header. */
	int fd = open(t.db, O_WRONLY);
	assert_true(fd >= 0);
	uint8_t junk[1024];
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 100), (ssize_t)sizeof(junk));
	close(fd);
	db = ds_store_open(t.db, 0, &err);
	assert_null(db);
	assert_contains(err.msg, t.db);
	assert_contains(err.msg, "corrupt");
	tmp_clean(&t);
}

/* Root ignores file modes, so the permission checks run in a child that
 * gives up root first. The child reports with its exit status and the
 * messages through a pipe (no cmocka in the child). */
static int perm_child(const struct tmp *t, int fd)
{
	ds_err_t err;
	char path[3][160];
	ds_store_t *db;
	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 77;
	/* read-only file; new file in a read-only directory; writable file in
	 * a read-only directory (no room for its -wal and -shm) */
	snprintf(path[0], sizeof(path[0]), "%s", t->db);
	snprintf(path[1], sizeof(path[1]), "%s/ro/new.db", t->dir);
	snprintf(path[2], sizeof(path[2]), "%s/ro/existing.db", t->dir);
	for (int i = 0; i < 3; i++) {
		if ((db = ds_store_open(path[i], 0, &err)) != NULL)
			return 10 + i;
		if (write(fd, err.msg, strlen(err.msg) + 1) < 0)
			return 2;
	}
	/* reading them still works, directory or not */
	for (int i = 0; i < 3; i += 2) {
		if (!(db = ds_store_open(path[i], DS_STORE_RDONLY, &err))) {
			if (write(fd, err.msg, strlen(err.msg) + 1) < 0)
				return 2;
			return 20 + i;
		}
		ds_store_close(db);
	}
	return 0;
}

static void test_read_only(void **st)
{
	struct tmp t;
	ds_err_t err;
	char ro[160], existing[192];
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	ds_store_close(db);
	snprintf(ro, sizeof(ro), "%s/ro", t.dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	snprintf(existing, sizeof(existing), "%s/existing.db", ro);
	db = ds_store_open(existing, 0, &err);
	assert_non_null(db);
	ds_store_close(db);
	if (geteuid() == 0)
		assert_int_equal(chown(existing, 65534, 65534), 0);
	assert_int_equal(chmod(ro, 0555), 0);
	assert_int_equal(chmod(t.db, 0444), 0);
	assert_int_equal(chmod(t.dir, 0755), 0);

	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(perm_child(&t, p[1]));
	}
	close(p[1]);
	char buf[4096] = {0};
	size_t got = 0;
	ssize_t r;
	while ((r = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	chmod(ro, 0755);
	if (WEXITSTATUS(status) == 77) {
		tmp_clean(&t);
		skip();
	}
	const char *m[4];
	m[0] = buf;
	for (int i = 1; i < 4; i++)
		m[i] = m[i - 1] + strlen(m[i - 1]) + 1;
	if (WEXITSTATUS(status) != 0)
		fail_msg("child failed at step %d: %s | %s | %s | %s", WEXITSTATUS(status), m[0],
		         m[1], m[2], m[3]);
	assert_contains(m[0], t.db);
	assert_contains(m[0], "read-only");
	assert_contains(m[1], "/ro/new.db");
	assert_contains(m[1], "is not writable");
	assert_contains(m[2], "/ro/existing.db");
	assert_contains(m[2], "is not writable");
	tmp_clean(&t);
}

/* ------------------------------------------------------------- runs */

static void test_run_lifecycle(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	int64_t t0 = ds_wall_ns();
	int64_t a = new_run(db, "v1.2");
	int64_t b = new_run(db, "v1.3");
	ds_store_run_info_t ri = {.tool = "replay", .label = "v1.3", .scenario = "pcap"};
	int64_t c;
	assert_int_equal(ds_store_run_begin(db, &ri, &c, &err), DS_OK);
	ds_store_run_info_t bad = {.tool = ""};
	assert_int_equal(ds_store_run_begin(db, &bad, &c, &err), DS_EINVAL);

	ds_store_run_t r;
	assert_int_equal(ds_store_run_get(db, a, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_RUNNING);
	assert_int_equal(r.pid, getpid());
	assert_string_equal(r.tool, "load");
	assert_string_equal(r.target, "127.0.0.1:5300/udp");
	assert_string_equal(r.config_text, "abc");
	/* SHA-256("abc"), FIPS 180-2 test vector */
	assert_string_equal(r.config_sha256,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(r.params_json, "{\"qps\":1000}");
	assert_true(r.seed == UINT64_MAX - 1);
	assert_int_equal(r.timeout_ns, 2 * DS_NS_PER_SEC);
	assert_true(r.timeout_in_hist);
	assert_true(r.hostname[0] != 0);
	assert_non_null(r.kernel);
	assert_true(r.ncpu > 0);
	assert_true(r.mem_bytes > 0);
	assert_true(r.started_ns >= t0 && r.started_ns <= ds_wall_ns());
	assert_int_equal(r.ended_ns, 0);
	assert_null(r.invalid_reason);
	ds_store_run_free(&r);

	/* a second connection must not take a live writer's run for dead */
	ds_err_t err2;
	ds_store_t *db2 = ds_store_open(t.db, 0, &err2);
	assert_non_null(db2);
	assert_int_equal(ds_store_run_get(db2, a, &r, &err2), DS_OK);
	assert_int_equal(r.status, DS_STORE_RUNNING);
	ds_store_run_free(&r);
	ds_store_close(db2);

	assert_int_equal(ds_store_run_end(db, a, DS_STORE_OK, NULL, "{\"p99_ns\":12345}", &err),
	                 DS_OK);
	assert_int_equal(
	    ds_store_run_end(db, b, DS_STORE_INVALID, "generator lag 25 ms", NULL, &err), DS_OK);
	assert_int_equal(ds_store_run_end(db, 999, DS_STORE_OK, NULL, NULL, &err), DS_ENOENT);
	assert_contains(err.msg, t.db);
	assert_int_equal(ds_store_run_end(db, a, DS_STORE_RUNNING, NULL, NULL, &err), DS_EINVAL);
	assert_int_equal(ds_store_run_get(db, 999, &r, &err), DS_ENOENT);

	assert_int_equal(ds_store_run_get(db, a, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_OK);
	assert_string_equal(r.summary_json, "{\"p99_ns\":12345}");
	assert_true(r.ended_ns >= r.started_ns);
	ds_store_run_free(&r);
	assert_int_equal(ds_store_run_get(db, b, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_INVALID);
	assert_string_equal(r.invalid_reason, "generator lag 25 ms");
	ds_store_run_free(&r);

	ds_store_run_t *runs;
	size_t n;
	assert_int_equal(ds_store_runs_list(db, NULL, NULL, NULL, &runs, &n, &err), DS_OK);
	assert_int_equal(n, 3);
	assert_int_equal(runs[0].run_id, a);
	assert_int_equal(runs[2].run_id, c);
	ds_store_runs_free(runs, n);
	assert_int_equal(ds_store_runs_list(db, "v1.3", NULL, NULL, &runs, &n, &err), DS_OK);
	assert_int_equal(n, 2);
	ds_store_runs_free(runs, n);
	assert_int_equal(ds_store_runs_list(db, "v1.3", "load", "unit", &runs, &n, &err), DS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].run_id, b);
	ds_store_runs_free(runs, n);
	assert_int_equal(ds_store_runs_list(db, "v9", NULL, NULL, &runs, &n, &err), DS_OK);
	assert_int_equal(n, 0);
	ds_store_runs_free(runs, n);
	ds_store_close(db);
	tmp_clean(&t);
}

/* 'running' rows of a dead writer become 'aborted' at the next open;
 * rows from another host are left alone. */
static void test_stale_runs(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	int64_t other_boot = new_run(db, "a");
	int64_t other_host = new_run(db, "b");
	int64_t dead_pid = new_run(db, "c");
	int64_t live = new_run(db, "d");
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "UPDATE run SET boot_id = 'an-earlier-boot' WHERE run_id = %lld;"
	         "UPDATE run SET hostname = 'elsewhere.example', pid = 1 WHERE run_id = %lld;"
	         "UPDATE run SET pid = %d WHERE run_id = %lld;",
	         (long long)other_boot, (long long)other_host, INT32_MAX, (long long)dead_pid);
	assert_int_equal(sqlite3_exec(ds_store_handle(db), sql, NULL, NULL, NULL), SQLITE_OK);
	/* an interval tells when the dead run stopped */
	snprintf(sql, sizeof(sql),
	         "INSERT INTO interval_stats(run_id, t_ns, dur_ns, sent, answered, timeouts, late,"
	         " mismatched, malformed, truncated, send_errors, drops, outstanding, bytes_sent,"
	         " bytes_recv, late_sends) VALUES (%lld, 5000, 1000, 0,0,0,0,0,0,0,0,0,0,0,0,0)",
	         (long long)other_boot);
	assert_int_equal(sqlite3_exec(ds_store_handle(db), sql, NULL, NULL, NULL), SQLITE_OK);
	ds_store_close(db);

	db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	ds_store_run_t r;
	assert_int_equal(ds_store_run_get(db, other_boot, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_ABORTED);
	assert_int_equal(r.ended_ns, 6000);
	assert_contains(r.invalid_reason, "died");
	ds_store_run_free(&r);
	assert_int_equal(ds_store_run_get(db, dead_pid, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_ABORTED);
	assert_int_equal(r.ended_ns, r.started_ns);
	ds_store_run_free(&r);
	assert_int_equal(ds_store_run_get(db, other_host, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_RUNNING);
	ds_store_run_free(&r);
	assert_int_equal(ds_store_run_get(db, live, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_RUNNING);
	ds_store_run_free(&r);
	ds_store_close(db);
	tmp_clean(&t);
}

/* ----------------------------------------------------------- writer */

static void test_labels_canon(void **st)
{
	char out[256];
	double le;
	assert_int_equal(ds_store_labels_canon("{zone=\".\", server=\"dns://:53\", le=\"0.004\"}",
	                                       out, sizeof(out), &le),
	                 DS_OK);
	assert_string_equal(out, "le=\"0.004\",server=\"dns://:53\",zone=\".\"");
	assert_true(le == 0.004);
	assert_int_equal(
	    ds_store_labels_canon("le=\"+Inf\",a=\"x\\\"y,z\",", out, sizeof(out), &le), DS_OK);
	assert_string_equal(out, "a=\"x\\\"y,z\",le=\"+Inf\"");
	assert_true(isinf(le) && le > 0);
	assert_int_equal(ds_store_labels_canon("", out, sizeof(out), &le), DS_OK);
	assert_string_equal(out, "");
	assert_true(isnan(le));
	assert_int_equal(ds_store_labels_canon("{}", out, sizeof(out), NULL), DS_OK);
	assert_string_equal(out, "");
	/* malformed */
	const char *bad[] = {"a=x",      "a=\"x",    "=\"x\"",          "a=\"1\",a=\"2\"",
	                     "{a=\"1\"", "a=\"1\"}", "a=\"1\" b=\"2\"", "1a=\"x\""};
	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++)
		if (ds_store_labels_canon(bad[i], out, sizeof(out), &le) != DS_EINVAL)
			fail_msg("accepted %s", bad[i]);
	const char *in = "b=\"2\",a=\"1\"";
	assert_int_equal(ds_store_labels_canon(in, out, 5, NULL), DS_ESPACE);
	assert_int_equal(ds_store_labels_canon(in, out, strlen(in) + 1, NULL), DS_OK);
	assert_string_equal(out, "a=\"1\",b=\"2\"");
}

/* Percentile the way docs/STORE.md tells people to compute it. */
static int64_t sql_percentile(ds_store_t *db, int64_t phase_id, double q)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	const char *sql = "SELECT hi FROM (SELECT hi, SUM(count) OVER (ORDER BY idx) AS cum,"
	                  " SUM(count) OVER () AS n FROM hist_bucket WHERE phase_id = ?1"
	                  " AND metric = 'response_time' AND labels = '')"
	                  " WHERE cum >= MAX(1, CEIL(?2 * n)) ORDER BY hi LIMIT 1";
	assert_int_equal(sqlite3_prepare_v2(ds_store_handle(db), sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, phase_id);
	sqlite3_bind_double(st, 2, q);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_writer_round_trip(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	int64_t run = new_run(db, "rt");
	ds_store_writer_opts_t o = {.flush_interval_ns = 20 * DS_NS_PER_MS};
	ds_store_writer_t *w = ds_store_writer_start(db, run, &o, &err);
	if (!w)
		fail_msg("%s", err.msg);
	/* the connection belongs to the writer now */
	int64_t other;
	ds_store_run_info_t ri = {.tool = "load"};
	assert_int_equal(ds_store_run_begin(db, &ri, &other, &err), DS_EINVAL);

	const int64_t T0 = 1700000000LL * DS_NS_PER_SEC, S = DS_NS_PER_SEC;
	ds_rng_t rng;
	ds_rng_seed(&rng, 11);
	ds_hist_t all, steady, h, lag;
	ds_hist_init(&all);
	ds_hist_init(&steady);
	ds_hist_init(&h);
	ds_hist_init(&lag);
	ds_store_phase_t warm = {.seq = 0,
	                         .name = "warmup",
	                         .start_ns = T0,
	                         .target = "1000 qps",
	                         .target_qps = 1000,
	                         .target_qps_end = NAN};
	ds_store_phase_t stdy = {.seq = 1,
	                         .name = "steady",
	                         .start_ns = T0 + 2 * S,
	                         .target = "5000 qps",
	                         .target_qps = 5000,
	                         .target_qps_end = NAN,
	                         .measured = true};
	assert_int_equal(ds_store_writer_phase(w, &warm), DS_OK);
	uint64_t sent_total = 0;
	for (int i = 0; i < 6; i++) {
		if (i == 2) {
			warm.end_ns = T0 + 2 * S;
			assert_int_equal(ds_store_writer_phase(w, &warm), DS_OK);
			assert_int_equal(ds_store_writer_phase(w, &stdy), DS_OK);
		}
		ds_store_interval_t iv;
		ds_store_interval_init(&iv, T0 + i * S, S);
		iv.target_qps = i < 2 ? 1000 : 5000;
		iv.sent = 1000 + (uint64_t)i;
		iv.answered = 990;
		iv.timeouts = 10;
		iv.late = 1;
		iv.drops = (uint64_t)i;
		iv.lag_p99_ns = 1000 * i;
		iv.lag_max_ns = 5000 * i;
		iv.rcode[0] = 980;
		iv.rcode[2] = 10;
		iv.rcode_other = i; /* sparse: 0 for the first interval */
		sent_total += iv.sent;
		ds_hist_reset(&h);
		ds_hist_reset(&lag);
		for (int k = 0; k < 2000; k++) {
			int64_t v = 20000 + (int64_t)ds_rng_below(&rng, 100000) * (1 + i);
			ds_hist_record(&h, v);
			ds_hist_record(&all, v);
			if (i >= 2)
				ds_hist_record(&steady, v);
		}
		ds_hist_record(&lag, 777);
		ds_store_hist_ref_t refs[] = {{"response_time", NULL, &h}, {"sched_lag", "", &lag}};
		assert_int_equal(ds_store_writer_interval(w, &iv, refs, 2), DS_OK);
		/* the caller may reuse its histograms at once */
		ds_hist_reset(&h);

		ds_store_scrape_t *sc = ds_store_scrape_new("prom:127.0.0.1:9153", T0 + i * S);
		assert_non_null(sc);
		assert_int_equal(ds_store_scrape_add(sc, "coredns_dns_requests_total",
		                                     "server=\"dns://:53\",zone=\".\"", "counter",
		                                     100.0 * i),
		                 DS_OK);
		assert_int_equal(
		    ds_store_scrape_add(sc, "coredns_dns_request_duration_seconds_bucket",
		                        "{zone=\".\",le=\"0.004\",server=\"dns://:53\"}",
		                        "histogram", 90.0 * i),
		    DS_OK);
		assert_int_equal(ds_store_scrape_add(sc,
		                                     "coredns_dns_request_duration_seconds_bucket",
		                                     "le=\"+Inf\",server=\"dns://:53\",zone=\".\"",
		                                     "histogram", 100.0 * i),
		                 DS_OK);
		assert_int_equal(ds_store_scrape_add(sc, "broken", "le=", NULL, 1), DS_OK);
		assert_int_equal(ds_store_scrape_count(sc), 4);
		assert_int_equal(ds_store_writer_scrape(w, sc), DS_OK);
		if (i == 3)
			assert_int_equal(ds_store_writer_flush(w), DS_OK);
	}
	stdy.end_ns = T0 + 6 * S;
	assert_int_equal(ds_store_writer_phase(w, &stdy), DS_OK);
	ds_store_assertion_t as = {.phase_seq = 1,
	                           .name = "p99",
	                           .expr = "latency p(99) < 5ms",
	                           .observed = 0.004,
	                           .threshold = 0.005,
	                           .op = "<",
	                           .passed = 1};
	assert_int_equal(ds_store_writer_assertion(w, &as), DS_OK);
	ds_store_assertion_t as2 = {.phase_seq = -1,
	                            .name = "hits",
	                            .expr = "cache hit ratio",
	                            .observed = NAN,
	                            .threshold = 0.8,
	                            .passed = -1,
	                            .severity = "warn",
	                            .detail = "no traffic"};
	assert_int_equal(ds_store_writer_assertion(w, &as2), DS_OK);
	assert_int_equal(ds_store_writer_flush(w), DS_OK);
	ds_store_writer_stats_t ws;
	ds_store_writer_stats(w, &ws);
	assert_int_equal(ws.intervals, 6);
	assert_int_equal(ws.hists, 12);
	assert_int_equal(ws.samples, 18);
	assert_int_equal(ws.bad_samples, 6);
	assert_int_equal(ws.dropped_samples, 0);
	assert_int_equal(ws.queued, 0);
	assert_true(ws.commits >= 2);
	assert_int_equal(ds_store_writer_error(w, &err), DS_OK);
	assert_int_equal(ds_store_writer_stop(w, &err), DS_OK);
	assert_int_equal(ds_store_run_end(db, run, DS_STORE_OK, NULL, NULL, &err), DS_OK);
	/* stop truncated the WAL */
	char wal[160];
	struct stat sb;
	snprintf(wal, sizeof(wal), "%s-wal", t.db);
	assert_true(stat(wal, &sb) != 0 || sb.st_size < 64 * 1024);

	/* intervals */
	ds_store_interval_t *iv;
	size_t n;
	assert_int_equal(ds_store_intervals_load(db, run, &iv, &n, &err), DS_OK);
	assert_int_equal(n, 6);
	uint64_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(iv[i].t_ns, T0 + (int64_t)i * S);
		assert_int_equal(iv[i].dur_ns, S);
		assert_true(iv[i].target_qps == (i < 2 ? 1000 : 5000));
		assert_int_equal(iv[i].answered, 990);
		assert_int_equal(iv[i].drops, i);
		assert_int_equal(iv[i].lag_max_ns, 5000 * (int64_t)i);
		assert_int_equal(iv[i].conn_active, -1);
		assert_int_equal(iv[i].rcode[0], 980);
		assert_int_equal(iv[i].rcode[2], 10);
		assert_int_equal(iv[i].rcode[3], 0);
		assert_int_equal(iv[i].rcode_other, i);
		sent += iv[i].sent;
	}
	assert_int_equal(sent, sent_total);
	free(iv);
	/* qps per second through the view */
	assert_int_equal(q_int(db, "SELECT CAST(answered_qps AS INTEGER) FROM v_interval LIMIT 1"),
	                 990);

	/* histograms: the whole run, and per phase, equal what was recorded */
	ds_hist_t got;
	ds_hist_init(&got);
	assert_int_equal(
	    ds_store_hist_load(db, run, "response_time", NULL, INT64_MIN, INT64_MAX, &got, &err),
	    DS_OK);
	assert_true(hist_equal(&got, &all));
	assert_true(got.sum == all.sum);
	const double qs[] = {0, 0.5, 0.9, 0.99, 0.999, 1};
	for (size_t k = 0; k < DS_ARRAY_SIZE(qs); k++)
		assert_int_equal(ds_hist_quantile(&got, qs[k]), ds_hist_quantile(&all, qs[k]));
	ds_store_phase_t *ph;
	assert_int_equal(ds_store_phases_load(db, run, &ph, &n, &err), DS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ph[0].name, "warmup");
	assert_int_equal(ph[0].end_ns, T0 + 2 * S);
	assert_string_equal(ph[1].target, "5000 qps");
	assert_true(ph[1].measured);
	assert_true(isnan(ph[1].target_qps_end));
	ds_hist_reset(&got);
	assert_int_equal(
	    ds_store_phase_hist_load(db, ph[1].phase_id, "response_time", "", &got, &err), DS_OK);
	assert_true(hist_equal(&got, &steady));
	for (size_t k = 0; k < DS_ARRAY_SIZE(qs); k++)
		if (qs[k] > 0)
			assert_int_equal(sql_percentile(db, ph[1].phase_id, qs[k]),
			                 ds_hist_quantile(&steady, qs[k]));
	assert_int_equal(q_int(db, "SELECT SUM(count) FROM hist_bucket WHERE metric ="
	                           " 'response_time'"),
	                 (int64_t)all.count);
	int64_t warm_id = ph[0].phase_id;
	ds_store_phases_free(ph, n);
	ds_hist_reset(&got);
	assert_int_equal(ds_store_phase_hist_load(db, warm_id, "sched_lag", NULL, &got, &err),
	                 DS_OK);
	assert_int_equal(got.count, 2);
	assert_int_equal(ds_store_phase_hist_load(db, 4242, "sched_lag", NULL, &got, &err),
	                 DS_ENOENT);
	ds_hist_free(&got);

	/* scraped series: canonical labels, parsed le, samples by time */
	ds_store_series_t *sr;
	assert_int_equal(ds_store_series_load(db, run,
	                                      "coredns_dns_request_duration_seconds_bucket",
	                                      INT64_MIN, INT64_MAX, &sr, &n, &err),
	                 DS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(sr[0].labels, "le=\"+Inf\",server=\"dns://:53\",zone=\".\"");
	assert_true(isinf(sr[0].le));
	assert_string_equal(sr[1].labels, "le=\"0.004\",server=\"dns://:53\",zone=\".\"");
	assert_true(sr[1].le == 0.004);
	assert_string_equal(sr[1].mtype, "histogram");
	assert_string_equal(sr[1].source, "prom:127.0.0.1:9153");
	assert_int_equal(sr[1].n, 6);
	assert_int_equal(sr[1].t_ns[5], T0 + 5 * S);
	assert_true(sr[1].value[5] == 450.0);
	ds_store_series_free(sr, n);
	assert_int_equal(ds_store_series_load(db, run, NULL, T0 + 2 * S, T0 + 4 * S, &sr, &n, &err),
	                 DS_OK);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sr[i].n, 2);
	ds_store_series_free(sr, n);

	/* assertions, with the phase resolved from its seq */
	assert_int_equal(q_int(db, "SELECT count(*) FROM assertion a JOIN phase p USING (phase_id)"
	                           " WHERE p.name = 'steady' AND a.passed = 1"),
	                 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM assertion WHERE phase_id IS NULL AND"
	                           " passed IS NULL AND observed IS NULL AND severity = 'warn'"),
	                 1);

	ds_hist_free(&all);
	ds_hist_free(&steady);
	ds_hist_free(&h);
	ds_hist_free(&lag);
	ds_store_close(db);
	assert_integrity_ok(t.db);
	tmp_clean(&t);
}

/* A slow disk must never block producers: scrapes are dropped, intervals
 * merged, and both counted. */
static void test_writer_backpressure(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	int64_t run = new_run(db, "bp");
	/* an hour between commits: everything stays queued */
	ds_store_writer_opts_t o = {.flush_interval_ns = 3600 * DS_NS_PER_SEC,
	                            .max_queued_samples = 10,
	                            .max_queued_intervals = 2};
	ds_store_writer_t *w = ds_store_writer_start(db, run, &o, &err);
	assert_non_null(w);
	ds_hist_t h;
	ds_hist_init(&h);
	ds_hist_record(&h, 1000);
	ds_store_hist_ref_t ref = {"response_time", NULL, &h};
	for (int i = 0; i < 5; i++) {
		ds_store_interval_t iv;
		ds_store_interval_init(&iv, (i + 1) * DS_NS_PER_SEC, DS_NS_PER_SEC);
		iv.sent = 10;
		iv.outstanding = (uint64_t)i;
		iv.lag_max_ns = i == 3 ? 99 : 1;
		iv.rcode[0] = 10;
		assert_int_equal(ds_store_writer_interval(w, &iv, &ref, 1), DS_OK);
	}
	for (int i = 0; i < 3; i++) {
		ds_store_scrape_t *sc = ds_store_scrape_new("prom", i);
		for (int k = 0; k < 6; k++) {
			char lbl[32];
			snprintf(lbl, sizeof(lbl), "k=\"%d\"", k);
			ds_store_scrape_add(sc, "m", lbl, "gauge", k);
		}
		assert_int_equal(ds_store_writer_scrape(w, sc), DS_OK);
	}
	ds_store_writer_stats_t ws;
	ds_store_writer_stats(w, &ws);
	assert_int_equal(ws.coalesced_intervals, 3);
	assert_int_equal(ws.dropped_samples, 12);
	assert_int_equal(ws.queued, 3);
	assert_int_equal(ws.commits, 0);
	assert_int_equal(ds_store_writer_stop(w, &err), DS_OK);
	ds_hist_free(&h);

	ds_store_interval_t *iv;
	size_t n;
	assert_int_equal(ds_store_intervals_load(db, run, &iv, &n, &err), DS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(iv[0].sent, 10);
	/* the second row absorbed intervals 2..5 */
	assert_int_equal(iv[1].t_ns, 2 * DS_NS_PER_SEC);
	assert_int_equal(iv[1].dur_ns, 4 * DS_NS_PER_SEC);
	assert_int_equal(iv[1].sent, 40);
	assert_int_equal(iv[1].rcode[0], 40);
	assert_int_equal(iv[1].outstanding, 4);
	assert_int_equal(iv[1].lag_max_ns, 99);
	free(iv);
	ds_hist_t got;
	ds_hist_init(&got);
	assert_int_equal(
	    ds_store_hist_load(db, run, "response_time", "", INT64_MIN, INT64_MAX, &got, &err),
	    DS_OK);
	assert_int_equal(got.count, 5);
	ds_hist_free(&got);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sample"), 6);
	ds_store_run_t r;
	assert_int_equal(ds_store_run_get(db, run, &r, &err), DS_OK);
	assert_int_equal(r.dropped_samples, 12);
	assert_int_equal(r.coalesced_intervals, 3);
	ds_store_run_free(&r);
	ds_store_close(db);
	tmp_clean(&t);
}

/* SQLITE_FULL (here from max_page_count) stops the writer with a clear
 * error; the run is marked failed, not lost, and the file stays sound. */
static void test_disk_full(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	int64_t run = new_run(db, "full");
	int64_t pages = q_int(db, "PRAGMA page_count");
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages + 8);
	assert_int_equal(sqlite3_exec(ds_store_handle(db), sql, NULL, NULL, NULL), SQLITE_OK);
	ds_store_writer_opts_t o = {.flush_interval_ns = 3600 * DS_NS_PER_SEC};
	ds_store_writer_t *w = ds_store_writer_start(db, run, &o, &err);
	assert_non_null(w);
	ds_log_set_quiet(true); /* the writer's ERROR line is expected */
	ds_log_set_level(DS_LOG_FATAL);
	ds_hist_t h;
	ds_hist_init(&h);
	ds_rng_t rng;
	ds_rng_seed(&rng, 5);
	for (int k = 0; k < 20000; k++)
		ds_hist_record(&h, (int64_t)(ds_rng_next(&rng) >> 2));
	ds_store_hist_ref_t ref = {"response_time", NULL, &h};
	int rc = DS_OK;
	for (int i = 0; i < 200 && rc == DS_OK; i++) {
		ds_store_interval_t iv;
		ds_store_interval_init(&iv, i * DS_NS_PER_SEC, DS_NS_PER_SEC);
		assert_int_equal(ds_store_writer_interval(w, &iv, &ref, 1), DS_OK);
		rc = ds_store_writer_flush(w);
	}
	assert_int_equal(rc, DS_ENOSPC);
	ds_err_t werr;
	assert_int_equal(ds_store_writer_error(w, &werr), DS_ENOSPC);
	assert_contains(werr.msg, t.db);
	assert_contains(werr.msg, "disk full");
	/* producers learn it at the next handover */
	ds_store_interval_t iv;
	ds_store_interval_init(&iv, 0, 1);
	assert_int_equal(ds_store_writer_interval(w, &iv, NULL, 0), DS_ENOSPC);
	assert_int_equal(ds_store_writer_stop(w, &err), DS_ENOSPC);
	assert_contains(err.msg, "disk full");
	ds_log_set_level(DS_LOG_INFO);
	ds_log_set_quiet(false);
	ds_hist_free(&h);
	ds_store_close(db);

	assert_integrity_ok(t.db);
	db = ds_store_open(t.db, DS_STORE_RDONLY, &err);
	assert_non_null(db);
	ds_store_run_t r;
	assert_int_equal(ds_store_run_get(db, run, &r, &err), DS_OK);
	assert_int_equal(r.status, DS_STORE_FAILED);
	assert_contains(r.invalid_reason, "disk full");
	ds_store_run_free(&r);
	/* what was committed before the disk filled is still there */
	assert_true(q_int(db, "SELECT count(*) FROM interval_stats") >= 1);
	ds_store_close(db);
	tmp_clean(&t);
}

/* A writer SIGKILLed mid-run: the file is consistent, committed intervals
 * are there, and the next open marks the run aborted. */
static void test_killed_writer(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		ds_store_t *db = ds_store_open(t.db, 0, &err);
		if (!db)
			_exit(1);
		int64_t run;
		ds_store_run_info_t ri = {.tool = "load", .label = "killed"};
		if (ds_store_run_begin(db, &ri, &run, &err) != DS_OK)
			_exit(2);
		ds_store_writer_opts_t o = {.flush_interval_ns = 5 * DS_NS_PER_MS};
		ds_store_writer_t *w = ds_store_writer_start(db, run, &o, &err);
		if (!w)
			_exit(3);
		ds_hist_t h;
		ds_hist_init(&h);
		ds_store_hist_ref_t ref = {"response_time", NULL, &h};
		for (int64_t i = 0;; i++) {
			ds_store_interval_t iv;
			ds_store_interval_init(&iv, (i + 1) * DS_NS_PER_SEC, DS_NS_PER_SEC);
			iv.sent = 7;
			ds_hist_record(&h, 1000 + i);
			if (ds_store_writer_interval(w, &iv, &ref, 1) != DS_OK)
				_exit(4);
			if (i == 49) {
				/* tell the parent how many are surely committed */
				if (ds_store_writer_flush(w) != DS_OK)
					_exit(5);
				int64_t done = i + 1;
				if (write(p[1], &done, sizeof(done)) != sizeof(done))
					_exit(6);
			}
			usleep(200);
		}
	}
	close(p[1]);
	int64_t committed = 0;
	assert_int_equal(read(p[0], &committed, sizeof(committed)), sizeof(committed));
	close(p[0]);
	usleep(100 * 1000); /* let it write more, mid-transaction or not */
	assert_int_equal(kill(pid, SIGKILL), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	ds_store_t *db = ds_store_open(t.db, 0, &err);
	if (!db)
		fail_msg("%s", err.msg);
	char res[64];
	q_text(db, "PRAGMA integrity_check", res, sizeof(res));
	assert_string_equal(res, "ok");
	ds_store_run_t *runs;
	size_t n;
	assert_int_equal(ds_store_runs_list(db, "killed", NULL, NULL, &runs, &n, &err), DS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].status, DS_STORE_ABORTED);
	assert_int_equal(runs[0].pid, pid);
	int64_t run = runs[0].run_id;
	ds_store_interval_t *iv;
	size_t ni;
	assert_int_equal(ds_store_intervals_load(db, run, &iv, &ni, &err), DS_OK);
	assert_true((int64_t)ni >= committed);
	/* ended_ns is the end of the last committed interval */
	assert_int_equal(runs[0].ended_ns, iv[ni - 1].t_ns + iv[ni - 1].dur_ns);
	for (size_t i = 0; i < ni; i++)
		assert_int_equal(iv[i].sent, 7);
	free(iv);
	ds_store_runs_free(runs, n);
	/* every committed interval has its histogram */
	ds_hist_t h;
	ds_hist_init(&h);
	assert_int_equal(
	    ds_store_hist_load(db, run, "response_time", NULL, INT64_MIN, INT64_MAX, &h, &err),
	    DS_OK);
	assert_int_equal(h.count, ni * (ni + 1) / 2);
	ds_hist_free(&h);
	ds_store_close(db);
	tmp_clean(&t);
}

static void test_direct_writes(void **st)
{
	struct tmp t;
	ds_err_t err;
	tmp_make(&t);
	ds_store_t *db = ds_store_open(t.db, 0, &err);
	assert_non_null(db);
	int64_t run = new_run(db, "direct");
	ds_store_phase_t p = {.seq = 0,
	                      .name = "steady",
	                      .start_ns = 100,
	                      .end_ns = 200,
	                      .target_qps = NAN,
	                      .target_qps_end = NAN,
	                      .measured = true};
	assert_int_equal(ds_store_phase_put(db, run, &p, &err), DS_OK);
	ds_store_assertion_t a = {.phase_seq = 0,
	                          .name = "errors",
	                          .expr = "servfail < 1%",
	                          .observed = 0.5,
	                          .threshold = 1,
	                          .op = "<",
	                          .passed = 1};
	assert_int_equal(ds_store_assertion_put(db, run, &a, &err), DS_OK);
	assert_int_equal(q_int(db, "SELECT count(*) FROM assertion WHERE phase_id IS NOT NULL"), 1);
	assert_int_equal(ds_store_phase_buckets_rebuild(db, 1, &err), DS_OK);
	assert_int_equal(ds_store_phase_buckets_rebuild(db, 77, &err) != DS_OK, true);
	ds_store_close(db);
	/* read-only handles refuse writes with a message */
	db = ds_store_open(t.db, DS_STORE_RDONLY, &err);
	assert_non_null(db);
	assert_int_equal(ds_store_phase_put(db, run, &p, &err), -EROFS);
	assert_contains(err.msg, t.db);
	ds_store_close(db);
	tmp_clean(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_and_migrate), cmocka_unit_test(test_newer_version),
	    cmocka_unit_test(test_not_a_store),        cmocka_unit_test(test_corrupt_file),
	    cmocka_unit_test(test_read_only),          cmocka_unit_test(test_run_lifecycle),
	    cmocka_unit_test(test_stale_runs),         cmocka_unit_test(test_labels_canon),
	    cmocka_unit_test(test_writer_round_trip),  cmocka_unit_test(test_writer_backpressure),
	    cmocka_unit_test(test_disk_full),          cmocka_unit_test(test_killed_writer),
	    cmocka_unit_test(test_direct_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
