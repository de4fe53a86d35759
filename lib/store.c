/* SPDX-License-Identifier: MIT */
#include "lib/store.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/clock.h"
#include "lib/log.h"

/* ------------------------------------------------------------- schema */

/* Version 1: what the measuring tools write. */
static const char schema_v1[] =
    "CREATE TABLE run ("
    " run_id INTEGER PRIMARY KEY,"
    " tool TEXT NOT NULL,"
    " tool_version TEXT NOT NULL,"
    " label TEXT NOT NULL DEFAULT '',"
    " scenario TEXT NOT NULL DEFAULT '',"
    " target TEXT NOT NULL DEFAULT '',"
    " config_text TEXT,"
    " config_sha256 TEXT,"
    " hostname TEXT NOT NULL,"
    " kernel TEXT,"
    " cpu_model TEXT,"
    " ncpu INTEGER,"
    " mem_bytes INTEGER,"
    " boot_id TEXT,"
    " pid INTEGER NOT NULL,"
    " pid_start INTEGER,"
    " seed INTEGER,"
    " params_json TEXT,"
    " timeout_ns INTEGER,"
    " timeout_in_hist INTEGER NOT NULL DEFAULT 0,"
    " started_ns INTEGER NOT NULL,"
    " ended_ns INTEGER,"
    " status TEXT NOT NULL DEFAULT 'running'"
    "  CHECK (status IN ('running','ok','invalid','failed','aborted')),"
    " invalid_reason TEXT,"
    " summary_json TEXT,"
    " dropped_samples INTEGER NOT NULL DEFAULT 0,"
    " coalesced_intervals INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX run_by_label ON run(label, run_id);"
    "CREATE INDEX run_by_scenario ON run(scenario, tool, run_id);"
    "CREATE INDEX run_by_status ON run(status);"
    "CREATE TABLE phase ("
    " phase_id INTEGER PRIMARY KEY,"
    " run_id INTEGER NOT NULL REFERENCES run(run_id),"
    " seq INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " start_ns INTEGER NOT NULL,"
    " end_ns INTEGER,"
    " target TEXT,"
    " target_qps REAL,"
    " target_qps_end REAL,"
    " measured INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (run_id, seq)"
    ") STRICT;"
    "CREATE TABLE interval_stats ("
    " run_id INTEGER NOT NULL REFERENCES run(run_id),"
    " t_ns INTEGER NOT NULL,"
    " dur_ns INTEGER NOT NULL,"
    " target_qps REAL,"
    " sent INTEGER NOT NULL,"
    " answered INTEGER NOT NULL,"
    " timeouts INTEGER NOT NULL,"
    " late INTEGER NOT NULL,"
    " mismatched INTEGER NOT NULL,"
    " malformed INTEGER NOT NULL,"
    " truncated INTEGER NOT NULL,"
    " send_errors INTEGER NOT NULL,"
    " drops INTEGER NOT NULL,"
    " outstanding INTEGER NOT NULL,"
    " bytes_sent INTEGER NOT NULL,"
    " bytes_recv INTEGER NOT NULL,"
    " lag_p99_ns INTEGER,"
    " lag_max_ns INTEGER,"
    " late_sends INTEGER NOT NULL,"
    " conn_active INTEGER,"
    " conn_opened INTEGER,"
    " conn_failed INTEGER,"
    " PRIMARY KEY (run_id, t_ns)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE rcode_count ("
    " run_id INTEGER NOT NULL,"
    " t_ns INTEGER NOT NULL,"
    " rcode INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, t_ns, rcode)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE hist ("
    " run_id INTEGER NOT NULL,"
    " metric TEXT NOT NULL,"
    " labels TEXT NOT NULL DEFAULT '',"
    " t_ns INTEGER NOT NULL,"
    " dur_ns INTEGER NOT NULL,"
    " n INTEGER NOT NULL,"
    " min_v INTEGER,"
    " max_v INTEGER,"
    " sum_v REAL,"
    " counts BLOB NOT NULL,"
    " PRIMARY KEY (run_id, metric, labels, t_ns)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE hist_bucket ("
    " phase_id INTEGER NOT NULL REFERENCES phase(phase_id),"
    " metric TEXT NOT NULL,"
    " labels TEXT NOT NULL DEFAULT '',"
    " idx INTEGER NOT NULL,"
    " lo INTEGER NOT NULL,"
    " hi INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " PRIMARY KEY (phase_id, metric, labels, idx)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE series ("
    " series_id INTEGER PRIMARY KEY,"
    " run_id INTEGER NOT NULL REFERENCES run(run_id),"
    " source TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " labels TEXT NOT NULL,"
    " le REAL,"
    " mtype TEXT,"
    " UNIQUE (run_id, source, name, labels)"
    ") STRICT;"
    "CREATE INDEX series_by_name ON series(run_id, name);"
    "CREATE TABLE sample ("
    " series_id INTEGER NOT NULL,"
    " t_ns INTEGER NOT NULL,"
    " value REAL NOT NULL,"
    " PRIMARY KEY (series_id, t_ns)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE assertion ("
    " assertion_id INTEGER PRIMARY KEY,"
    " run_id INTEGER NOT NULL REFERENCES run(run_id),"
    " phase_id INTEGER REFERENCES phase(phase_id),"
    " name TEXT NOT NULL,"
    " expr TEXT NOT NULL,"
    " observed REAL,"
    " threshold REAL,"
    " op TEXT,"
    " passed INTEGER,"
    " severity TEXT NOT NULL DEFAULT 'fail' CHECK (severity IN ('fail','warn')),"
    " detail TEXT"
    ") STRICT;"
    "CREATE INDEX assertion_by_run ON assertion(run_id);";

/* Version 2: what the report tool caches and decides, plus a view that
 * keeps rate queries short. */
static const char schema_v2[] =
    "CREATE TABLE trial_summary ("
    " run_id INTEGER NOT NULL REFERENCES run(run_id),"
    " phase_id INTEGER NOT NULL REFERENCES phase(phase_id),"
    " metric TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " PRIMARY KEY (run_id, phase_id, metric)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE comparison ("
    " cmp_id INTEGER PRIMARY KEY,"
    " created_ns INTEGER NOT NULL,"
    " scenario TEXT NOT NULL,"
    " base_label TEXT NOT NULL,"
    " cand_label TEXT NOT NULL,"
    " metric TEXT NOT NULL,"
    " n_base INTEGER, n_cand INTEGER,"
    " base_center REAL, cand_center REAL,"
    " delta REAL,"
    " delta_kind TEXT CHECK (delta_kind IN ('ratio','abs')),"
    " ci_lo REAL, ci_hi REAL, p_value REAL,"
    " alpha REAL, min_effect REAL,"
    " test TEXT NOT NULL DEFAULT 'mann-whitney-u',"
    " verdict TEXT NOT NULL CHECK (verdict IN"
    "  ('regressed','improved','no_change','within_noise','insufficient')),"
    " gated INTEGER NOT NULL DEFAULT 1,"
    " run_ids_base TEXT, run_ids_cand TEXT"
    ") STRICT;"
    "CREATE VIEW v_interval AS SELECT run_id, t_ns, dur_ns,"
    " sent * 1e9 / dur_ns AS sent_qps,"
    " answered * 1e9 / dur_ns AS answered_qps,"
    " timeouts * 1e9 / dur_ns AS timeout_qps,"
    " CASE WHEN sent > 0 THEN 100.0 * answered / sent END AS answered_pct,"
    " target_qps, lag_p99_ns, lag_max_ns"
    " FROM interval_stats;";

/* Migration i takes the schema from version i to i + 1. Functions rather
 * than bare SQL so a later step can also move data. */
typedef int (*migrate_fn)(sqlite3 *db);

static int migrate_0_1(sqlite3 *db)
{
	return sqlite3_exec(db, schema_v1, NULL, NULL, NULL);
}

static int migrate_1_2(sqlite3 *db)
{
	return sqlite3_exec(db, schema_v2, NULL, NULL, NULL);
}

static const migrate_fn migrations[] = {migrate_0_1, migrate_1_2};
_Static_assert(DS_ARRAY_SIZE(migrations) == DS_STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* --------------------------------------------------------- statements */

enum {
	ST_INTERVAL,
	ST_RCODE,
	ST_HIST,
	ST_SERIES_GET,
	ST_SERIES_ADD,
	ST_SAMPLE,
	ST_PHASE,
	ST_PHASE_ID,
	ST_PHASE_WIN,
	ST_ASSERT,
	ST_BUCKET_DEL,
	ST_BUCKET_SRC,
	ST_BUCKET_ADD,
	ST_COUNT,
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INTERVAL] = "INSERT OR REPLACE INTO interval_stats(run_id, t_ns, dur_ns, target_qps,"
                    " sent, answered, timeouts, late, mismatched, malformed, truncated,"
                    " send_errors, drops, outstanding, bytes_sent, bytes_recv, lag_p99_ns,"
                    " lag_max_ns, late_sends, conn_active, conn_opened, conn_failed)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                    " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
    [ST_RCODE] = "INSERT OR REPLACE INTO rcode_count(run_id, t_ns, rcode, count)"
                 " VALUES (?1, ?2, ?3, ?4)",
    [ST_HIST] = "INSERT OR REPLACE INTO hist(run_id, metric, labels, t_ns, dur_ns, n, min_v,"
                " max_v, sum_v, counts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_SERIES_GET] = "SELECT series_id FROM series WHERE run_id = ?1 AND source = ?2"
                      " AND name = ?3 AND labels = ?4",
    [ST_SERIES_ADD] = "INSERT INTO series(run_id, source, name, labels, le, mtype)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SAMPLE] = "INSERT OR REPLACE INTO sample(series_id, t_ns, value) VALUES (?1, ?2, ?3)",
    [ST_PHASE] = "INSERT INTO phase(run_id, seq, name, start_ns, end_ns, target, target_qps,"
                 " target_qps_end, measured) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                 " ON CONFLICT(run_id, seq) DO UPDATE SET name = excluded.name,"
                 " start_ns = excluded.start_ns, end_ns = excluded.end_ns,"
                 " target = COALESCE(excluded.target, phase.target), target_qps = excluded.target_qps,"
                 " target_qps_end = excluded.target_qps_end, measured = excluded.measured"
                 " RETURNING phase_id",
    [ST_PHASE_ID] = "SELECT phase_id FROM phase WHERE run_id = ?1 AND seq = ?2",
    [ST_PHASE_WIN] = "SELECT p.run_id, p.start_ns, COALESCE(p.end_ns, r.ended_ns)"
                     " FROM phase p JOIN run r USING (run_id) WHERE p.phase_id = ?1",
    [ST_ASSERT] = "INSERT INTO assertion(run_id, phase_id, name, expr, observed, threshold,"
                  " op, passed, severity, detail)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_BUCKET_DEL] = "DELETE FROM hist_bucket WHERE phase_id = ?1",
    [ST_BUCKET_SRC] = "SELECT metric, labels, counts FROM hist WHERE run_id = ?1"
                      " AND t_ns >= ?2 AND t_ns < ?3 ORDER BY metric, labels",
    [ST_BUCKET_ADD] = "INSERT INTO hist_bucket(phase_id, metric, labels, idx, lo, hi, count)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

struct ds_store {
	sqlite3 *db;
	char *path;
	bool readonly;
	bool writer_active;
	int version;
	/* Why the last failure happened when it was not SQLite's doing
	 * (a corrupt blob, no memory); store_err() prefers it. */
	const char *why;
	sqlite3_stmt *st[ST_COUNT];
	char hostname[256];
	char boot_id[64];
};

static const char *const status_names[] = {
    [DS_STORE_RUNNING] = "running", [DS_STORE_OK] = "ok",           [DS_STORE_INVALID] = "invalid",
    [DS_STORE_FAILED] = "failed",   [DS_STORE_ABORTED] = "aborted",
};

const char *ds_store_status_name(ds_store_status_t st)
{
	if ((unsigned)st >= DS_ARRAY_SIZE(status_names))
		return "unknown";
	return status_names[st];
}

static ds_store_status_t status_parse(const char *s)
{
	for (size_t i = 0; s && i < DS_ARRAY_SIZE(status_names); i++)
		if (!strcmp(s, status_names[i]))
			return (ds_store_status_t)i;
	return DS_STORE_FAILED;
}

/* ---------------------------------------------------------- errors */

/* Turn an SQLite result into a DS code and a message naming the file, so
 * a user reading "results store x.db: writing: disk full (...)" knows what
 * to fix without knowing SQLite. */
static int store_err(ds_store_t *s, const char *path, int rc, ds_err_t *err, const char *what)
{
	sqlite3 *db = s ? s->db : NULL;
	const char *msg = s && s->why ? s->why : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int sys = db ? sqlite3_system_errno(db) : 0;
	const char *why;
	int code;

	if (s)
		s->why = NULL;
	switch (rc & 0xff) {
	case SQLITE_FULL:
		code = DS_ENOSPC;
		why = "disk full";
		break;
	case SQLITE_READONLY:
		code = -EROFS;
		why = "the file or its directory is read-only";
		break;
	case SQLITE_CANTOPEN:
		code = sys ? -sys : DS_EIO;
		why = sys ? strerror(sys) : "cannot open the file";
		break;
	case SQLITE_NOTADB:
		code = DS_EINVAL;
		why = "not an SQLite database";
		break;
	case SQLITE_CORRUPT:
		code = DS_EIO;
		why = "the database file is corrupt";
		break;
	case SQLITE_IOERR:
		code = sys == ENOSPC ? DS_ENOSPC : DS_EIO;
		why = sys == ENOSPC ? "disk full" : "I/O error";
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = DS_EAGAIN;
		why = "locked by another process";
		break;
	case SQLITE_NOMEM:
		code = DS_ENOMEM;
		why = "out of memory";
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		code = -EACCES;
		why = "permission denied";
		break;
	default:
		code = DS_EIO;
		why = "SQLite error";
		break;
	}
	return ds_errf(err, code, "results store %s: %s: %s (%s)", path, what, why, msg);
}

static int serr(ds_store_t *s, int rc, ds_err_t *err, const char *what)
{
	return store_err(s, s->path, rc, err, what);
}

/* Mark a failure that did not come from SQLite; returns an SQLite code so
 * callers can pass it along like any other. */
static int fake(ds_store_t *s, int rc, const char *why)
{
	s->why = why;
	return rc;
}

/* ------------------------------------------------------- small helpers */

/* Make room in a growing array: *(T **)pv doubles (or starts at `first`
 * elements of `size` bytes); *cap follows. The old array stays on
 * failure, for the caller's cleanup. */
static int grow(ds_store_t *s, void *pv, size_t *cap, size_t size, size_t first)
{
	void *old, *t;
	memcpy(&old, pv, sizeof(old));
	size_t c = *cap ? 2 * *cap : first;
	if (!(t = realloc(old, c * size)))
		return fake(s, SQLITE_NOMEM, "out of memory");
	memcpy(pv, &t, sizeof(t));
	*cap = c;
	return SQLITE_OK;
}

static sqlite3_stmt *stmt(ds_store_t *s, int id)
{
	if (!s->st[id] && sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
	                                     &s->st[id], NULL) != SQLITE_OK)
		s->st[id] = NULL;
	return s->st[id];
}

/* Step a statement that returns no rows and make it ready for reuse. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int exec(ds_store_t *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static void rollback(ds_store_t *s)
{
	/* SQLite rolls back by itself on some errors (SQLITE_FULL among them). */
	if (!sqlite3_get_autocommit(s->db))
		exec(s, "ROLLBACK");
}

static int query_int(ds_store_t *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_MISUSE;
	}
	sqlite3_finalize(st);
	return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

/* Non-negative counts stored as INTEGER; -1 means "not applicable". */
static void bind_opt(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	sqlite3_bind_int64(st, i, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int64_t col_opt(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static double col_real(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void read_line(const char *file, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *f = fopen(file, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* Start time of a process in clock ticks since boot (/proc/pid/stat field
 * 22): with the pid it names one process even after the pid is reused. */
static int64_t proc_start(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: fields are
	 * counted from the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++; /* the space before field 3 */
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	return strtoll(p + 1, NULL, 10);
}

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	buf[0] = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		/* x86 says "model name", several ARM kernels only "Hardware". */
		if (!strncmp(line, "model name", 10) ||
		    (!buf[0] && !strncmp(line, "Hardware", 8))) {
			char *v = strchr(line, ':');
			if (!v)
				continue;
			v += 1 + strspn(v + 1, " \t");
			v[strcspn(v, "\n")] = 0;
			snprintf(buf, len, "%s", v);
			if (!strncmp(line, "model name", 10))
				break;
		}
	}
	fclose(f);
}

static int sha256_hex(const char *text, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return DS_EIO;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return DS_OK;
}

/* ------------------------------------------------------------- open */

static bool writer_alive(ds_store_t *s, int64_t pid, int64_t pid_start, const char *boot,
                         const char *host)
{
	/* Another machine's process cannot be checked from here. */
	if (!host || strcmp(host, s->hostname) != 0)
		return true;
	if (!boot || strcmp(boot, s->boot_id) != 0)
		return false;
	if (pid <= 0 || pid > INT_MAX)
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return false;
	int64_t now_start = proc_start((long)pid);
	if (pid_start > 0 && now_start >= 0 && now_start != pid_start)
		return false;
	return true;
}

/* Runs left 'running' by a writer that died can never end by themselves:
 * mark them so reports do not wait for them or count them as good. */
static int sweep_stale(ds_store_t *s, ds_err_t *err)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT run_id, pid, pid_start, boot_id, hostname FROM run"
	                        " WHERE status = 'running'",
	                        -1, &sel, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (writer_alive(s, sqlite3_column_int64(sel, 1), col_opt(sel, 2),
		                 (const char *)sqlite3_column_text(sel, 3),
		                 (const char *)sqlite3_column_text(sel, 4)))
			continue;
		if (n == cap && (rc = grow(s, &ids, &cap, sizeof(*ids), 8)) != SQLITE_OK)
			goto fail;
		ids[n++] = sqlite3_column_int64(sel, 0);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(sel);
	sel = NULL;
	if (n == 0) {
		free(ids);
		return DS_OK;
	}
	rc = sqlite3_prepare_v2(
	    s->db,
	    "UPDATE run SET status = 'aborted',"
	    " invalid_reason = 'writer process ' || pid || ' died before ending the run',"
	    " ended_ns = COALESCE(ended_ns, (SELECT MAX(t_ns + dur_ns)"
	    "  FROM interval_stats i WHERE i.run_id = run.run_id), started_ns)"
	    " WHERE run_id = ?1 AND status = 'running'",
	    -1, &upd, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = exec(s, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(upd, 1, ids[i]);
		if ((rc = step_done(upd)) != SQLITE_OK)
			goto fail;
	}
	rc = exec(s, "COMMIT");
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_finalize(upd);
	free(ids);
	return DS_OK;
fail:
	rollback(s);
	sqlite3_finalize(upd);
	sqlite3_finalize(sel);
	free(ids);
	/* Someone else holding the write lock will sweep another time. */
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return DS_OK;
	return serr(s, rc, err, "marking dead runs aborted");
}

static int migrate(ds_store_t *s, int target, ds_err_t *err)
{
	char sql[128];
	int64_t v;
	int rc = exec(s, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return serr(s, rc, err, "starting the schema migration");
	/* Read again under the lock: another process may have migrated. */
	rc = query_int(s, "PRAGMA user_version", &v);
	if (rc != SQLITE_OK)
		goto fail;
	for (; v < target; v++) {
		rc = migrations[v](s->db);
		if (rc != SQLITE_OK) {
			char what[64];
			snprintf(what, sizeof(what), "migrating the schema to version %d",
			         (int)v + 1);
			int code = serr(s, rc, err, what);
			rollback(s);
			return code;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)v + 1);
		if ((rc = exec(s, sql)) != SQLITE_OK)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", DS_STORE_APP_ID);
	if ((rc = exec(s, sql)) != SQLITE_OK)
		goto fail;
	if ((rc = exec(s, "COMMIT")) != SQLITE_OK)
		goto fail;
	s->version = (int)v;
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "migrating the schema");
	rollback(s);
	return code;
}

/* Percent-encode a path for a file: URI. */
static char *file_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *u = malloc(5 + 3 * n + strlen(query) + 1), *o = u;
	if (!u)
		return NULL;
	memcpy(o, "file:", 5);
	o += 5;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._~-", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	strcpy(o, query);
	return u;
}

static int open_conn(ds_store_t *s, bool immutable)
{
	int oflags =
	    SQLITE_OPEN_NOMUTEX |
	    (s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	char *uri = NULL;
	if (immutable) {
		if (!(uri = file_uri(s->path, "?immutable=1")))
			return fake(s, SQLITE_NOMEM, "out of memory");
		oflags |= SQLITE_OPEN_URI;
	}
	int rc = sqlite3_open_v2(uri ? uri : s->path, &s->db, oflags, NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	return SQLITE_OK;
}

static int read_header(ds_store_t *s, int64_t *app, int64_t *ver, int64_t *ntab)
{
	int rc;
	if ((rc = query_int(s, "PRAGMA application_id", app)) != SQLITE_OK ||
	    (rc = query_int(s, "PRAGMA user_version", ver)) != SQLITE_OK ||
	    (rc = query_int(s, "SELECT count(*) FROM sqlite_schema", ntab)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/* Reading a WAL file needs its -shm, which cannot be created in a
 * read-only directory (a CI artefact, a read-only mount). With no -wal
 * beside it, nobody is writing and nothing is pending, so the file can be
 * read as immutable. */
static bool try_immutable(const char *path, int rc)
{
	char wal[PATH_MAX];
	if ((rc & 0xff) != SQLITE_READONLY && (rc & 0xff) != SQLITE_CANTOPEN)
		return false;
	if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
		return false;
	return access(path, R_OK) == 0 && access(wal, F_OK) != 0 && errno == ENOENT;
}

/* SQLite says "unable to open database file" for most open failures and
 * its errno is from its last fallback attempt; look at the file system
 * to tell the user what to fix. */
static int open_error(ds_store_t *s, int rc, ds_err_t *err, const char *what)
{
	int prim = rc & 0xff;
	if (prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", s->path);
		char *slash = strrchr(dir, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = 0;
		else
			*slash = 0;
		if (access(s->path, F_OK) != 0 && errno == ENOENT) {
			if (s->readonly)
				return ds_errf(err, DS_ENOENT, "results store %s: %s: no such file",
				               s->path, what);
			if (access(dir, F_OK) != 0)
				return ds_errf(err, DS_ENOENT,
				               "results store %s: %s: directory %s does not exist",
				               s->path, what, dir);
		}
		if (!s->readonly && access(dir, W_OK | X_OK) != 0)
			return ds_errf(
			    err, -EACCES,
			    "results store %s: %s: directory %s is not writable (the store"
			    " creates the file and its -wal and -shm files there)",
			    s->path, what, dir);
		if (access(s->path, F_OK) == 0 &&
		    access(s->path, s->readonly ? R_OK : R_OK | W_OK) != 0)
			return ds_errf(err, -EACCES, "results store %s: %s: permission denied",
			               s->path, what);
	}
	return serr(s, rc, err, what);
}

static ds_store_t *open_store(const char *path, unsigned flags, int target, ds_err_t *err)
{
	bool ro = flags & DS_STORE_RDONLY;
	int64_t app, ver, ntab;
	int rc;
	ds_store_t *s = calloc(1, sizeof(*s));

	if (!s || !(s->path = strdup(path))) {
		ds_errf(err, DS_ENOMEM, "results store %s: out of memory", path);
		goto fail;
	}
	s->readonly = ro;
	gethostname(s->hostname, sizeof(s->hostname) - 1);
	read_line("/proc/sys/kernel/random/boot_id", s->boot_id, sizeof(s->boot_id));

	rc = open_conn(s, false);
	/* SQLite quietly falls back to read-only for a write-protected file;
	 * a tool about to measure for minutes must hear it now. */
	if (rc == SQLITE_OK && !ro && sqlite3_db_readonly(s->db, "main") == 1) {
		ds_errf(err, -EROFS, "results store %s: cannot write: the file is read-only", path);
		goto fail;
	}
	/* The first read of the file: garbage shows up here as NOTADB. */
	if (rc == SQLITE_OK)
		rc = read_header(s, &app, &ver, &ntab);
	if (rc != SQLITE_OK && ro && try_immutable(path, rc)) {
		sqlite3_close_v2(s->db);
		s->db = NULL;
		rc = open_conn(s, true);
		if (rc == SQLITE_OK)
			rc = read_header(s, &app, &ver, &ntab);
	}
	if (rc != SQLITE_OK) {
		open_error(s, rc, err, "cannot open");
		goto fail;
	}
	if (app != DS_STORE_APP_ID && (app != 0 || ntab > 0 || ver != 0 || ro)) {
		ds_errf(err, DS_EINVAL,
		        "results store %s: not a dnsurge results store (application_id 0x%08" PRIx32
		        ", %" PRId64 " schema objects)",
		        path, (uint32_t)app, ntab);
		goto fail;
	}
	if (ver > DS_STORE_SCHEMA_VERSION) {
		ds_errf(err, DS_ERANGE,
		        "results store %s: schema version %" PRId64
		        " is newer than this dnsurge " DS_VERSION
		        " understands (%d); use a newer dnsurge",
		        path, ver, DS_STORE_SCHEMA_VERSION);
		goto fail;
	}
	s->version = (int)ver;
	if (ro) {
		if (ver < target) {
			ds_errf(err, DS_ERANGE,
			        "results store %s: schema version %" PRId64
			        " is older than %d; open it read-write once to upgrade it",
			        path, ver, target);
			goto fail;
		}
		return s;
	}

	char mode[16] = "";
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		open_error(s, rc, err, "switching to WAL");
		goto fail;
	}
	if (strcmp(mode, "wal") != 0) {
		ds_errf(err, DS_EIO,
		        "results store %s: the file system does not allow WAL mode (%s)", path,
		        mode);
		goto fail;
	}
	/* In WAL mode NORMAL only syncs at checkpoints: a crash keeps the file
	 * consistent, a power cut may lose the last seconds. */
	rc = exec(s, "PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;"
	             " PRAGMA cache_size = -16384");
	if (rc != SQLITE_OK) {
		serr(s, rc, err, "setting pragmas");
		goto fail;
	}
	if (ver < target && migrate(s, target, err) != DS_OK)
		goto fail;
	if (s->version >= 1 && sweep_stale(s, err) != DS_OK)
		goto fail;
	return s;
fail:
	ds_store_close(s);
	return NULL;
}

ds_store_t *ds_store_open(const char *path, unsigned flags, ds_err_t *err)
{
	return open_store(path, flags, DS_STORE_SCHEMA_VERSION, err);
}

ds_store_t *ds_store_open_version(const char *path, unsigned flags, int version, ds_err_t *err)
{
	if (version < 1 || version > DS_STORE_SCHEMA_VERSION) {
		ds_errf(err, DS_EINVAL, "results store %s: no schema version %d", path, version);
		return NULL;
	}
	return open_store(path, flags, version, err);
}

void ds_store_close(ds_store_t *s)
{
	if (!s)
		return;
	assert(!s->writer_active);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db) {
		if (!s->readonly)
			exec(s, "PRAGMA optimize");
		sqlite3_close_v2(s->db);
	}
	free(s->path);
	free(s);
}

int ds_store_schema_version(ds_store_t *s)
{
	return s->version;
}

struct sqlite3 *ds_store_handle(ds_store_t *s)
{
	return s->db;
}

const char *ds_store_path(ds_store_t *s)
{
	return s->path;
}

int ds_store_checkpoint(ds_store_t *s, ds_err_t *err)
{
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	/* A reader holding an old snapshot only delays the truncation. */
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
		return serr(s, rc, err, "checkpointing");
	return DS_OK;
}

/* --------------------------------------------------------------- runs */

static int check_writable(ds_store_t *s, ds_err_t *err)
{
	if (s->readonly)
		return ds_errf(err, -EROFS, "results store %s: opened read-only", s->path);
	if (s->writer_active)
		return ds_errf(err, DS_EINVAL, "results store %s: a writer thread owns it",
		               s->path);
	return DS_OK;
}

int ds_store_run_begin(ds_store_t *s, const ds_store_run_info_t *ri, int64_t *run_id, ds_err_t *err)
{
	char sha[65], kernel[512], cpu[256];
	struct utsname u;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_writable(s, err)) != DS_OK)
		return rc;
	if (!ri->tool || !*ri->tool)
		return ds_errf(err, DS_EINVAL, "results store %s: a run needs a tool name",
		               s->path);
	if (ri->config_text && sha256_hex(ri->config_text, sha) != DS_OK)
		return ds_errf(err, DS_EIO, "results store %s: SHA-256 failed", s->path);
	kernel[0] = 0;
	if (uname(&u) == 0)
		snprintf(kernel, sizeof(kernel), "%s %s %s %s", u.sysname, u.release, u.version,
		         u.machine);
	cpu_model(cpu, sizeof(cpu));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	rc = sqlite3_prepare_v2(
	    s->db,
	    "INSERT INTO run(tool, tool_version, label, scenario, target, config_text,"
	    " config_sha256, hostname, kernel, cpu_model, ncpu, mem_bytes, boot_id, pid,"
	    " pid_start, seed, params_json, timeout_ns, timeout_in_hist, started_ns)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
	    " ?17, ?18, ?19, ?20)",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	bind_text(st, 1, ri->tool);
	bind_text(st, 2, DS_VERSION);
	bind_text(st, 3, ri->label ? ri->label : "");
	bind_text(st, 4, ri->scenario ? ri->scenario : "");
	bind_text(st, 5, ri->target ? ri->target : "");
	bind_text(st, 6, ri->config_text);
	bind_text(st, 7, ri->config_text ? sha : NULL);
	bind_text(st, 8, s->hostname);
	bind_text(st, 9, kernel[0] ? kernel : NULL);
	bind_text(st, 10, cpu[0] ? cpu : NULL);
	bind_opt(st, 11, ncpu > 0 ? ncpu : -1);
	bind_opt(st, 12, pages > 0 && psz > 0 ? (int64_t)pages * psz : -1);
	bind_text(st, 13, s->boot_id[0] ? s->boot_id : NULL);
	sqlite3_bind_int64(st, 14, getpid());
	bind_opt(st, 15, proc_start(getpid()));
	sqlite3_bind_int64(st, 16, (int64_t)ri->seed);
	bind_text(st, 17, ri->params_json);
	bind_opt(st, 18, ri->timeout_ns > 0 ? ri->timeout_ns : -1);
	sqlite3_bind_int(st, 19, ri->timeout_in_hist);
	sqlite3_bind_int64(st, 20, ri->started_ns ? ri->started_ns : ds_wall_ns());
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		goto fail;
	*run_id = sqlite3_last_insert_rowid(s->db);
	sqlite3_finalize(st);
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "inserting the run");
	sqlite3_finalize(st);
	return code;
}

int ds_store_run_end(ds_store_t *s, int64_t run_id, ds_store_status_t status, const char *reason,
                     const char *summary_json, ds_err_t *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_writable(s, err)) != DS_OK)
		return rc;
	if (status == DS_STORE_RUNNING || (unsigned)status >= DS_ARRAY_SIZE(status_names))
		return ds_errf(err, DS_EINVAL, "results store %s: bad final status", s->path);
	rc = sqlite3_prepare_v2(s->db,
	                        "UPDATE run SET status = ?2, invalid_reason = ?3,"
	                        " summary_json = COALESCE(?4, summary_json), ended_ns = ?5"
	                        " WHERE run_id = ?1",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, ds_store_status_name(status));
	bind_text(st, 3, reason);
	bind_text(st, 4, summary_json);
	sqlite3_bind_int64(st, 5, ds_wall_ns());
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	if (sqlite3_changes(s->db) != 1)
		return ds_errf(err, DS_ENOENT, "results store %s: no run %" PRId64, s->path,
		               run_id);
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "ending the run");
	sqlite3_finalize(st);
	return code;
}

#define RUN_COLS                                                                                   \
	"run_id, tool, tool_version, label, scenario, target, config_text, config_sha256,"         \
	" params_json, hostname, kernel, cpu_model, ncpu, mem_bytes, pid, seed, timeout_ns,"       \
	" timeout_in_hist, started_ns, ended_ns, status, invalid_reason, summary_json,"            \
	" dropped_samples, coalesced_intervals"

static int read_run(sqlite3_stmt *st, ds_store_run_t *r)
{
	memset(r, 0, sizeof(*r));
	r->run_id = sqlite3_column_int64(st, 0);
	r->tool = col_text(st, 1);
	r->tool_version = col_text(st, 2);
	r->label = col_text(st, 3);
	r->scenario = col_text(st, 4);
	r->target = col_text(st, 5);
	r->config_text = col_text(st, 6);
	r->config_sha256 = col_text(st, 7);
	r->params_json = col_text(st, 8);
	r->hostname = col_text(st, 9);
	r->kernel = col_text(st, 10);
	r->cpu_model = col_text(st, 11);
	r->ncpu = sqlite3_column_int64(st, 12);
	r->mem_bytes = sqlite3_column_int64(st, 13);
	r->pid = sqlite3_column_int64(st, 14);
	r->seed = (uint64_t)sqlite3_column_int64(st, 15);
	r->timeout_ns = sqlite3_column_int64(st, 16);
	r->timeout_in_hist = sqlite3_column_int(st, 17) != 0;
	r->started_ns = sqlite3_column_int64(st, 18);
	r->ended_ns = sqlite3_column_int64(st, 19);
	r->status = status_parse((const char *)sqlite3_column_text(st, 20));
	r->invalid_reason = col_text(st, 21);
	r->summary_json = col_text(st, 22);
	r->dropped_samples = (uint64_t)sqlite3_column_int64(st, 23);
	r->coalesced_intervals = (uint64_t)sqlite3_column_int64(st, 24);
	if (!r->tool || !r->tool_version || !r->label || !r->scenario || !r->target ||
	    !r->hostname) {
		ds_store_run_free(r);
		return SQLITE_NOMEM;
	}
	return SQLITE_OK;
}

void ds_store_run_free(ds_store_run_t *r)
{
	char **strs[] = {&r->tool,        &r->tool_version, &r->label,         &r->scenario,
	                 &r->target,      &r->config_text,  &r->config_sha256, &r->params_json,
	                 &r->hostname,    &r->kernel,       &r->cpu_model,     &r->invalid_reason,
	                 &r->summary_json};
	for (size_t i = 0; i < DS_ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

void ds_store_runs_free(ds_store_run_t *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ds_store_run_free(&runs[i]);
	free(runs);
}

int ds_store_run_get(ds_store_t *s, int64_t run_id, ds_store_run_t *out, ds_err_t *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT " RUN_COLS " FROM run WHERE run_id = ?1", -1,
	                            &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return ds_errf(err, DS_ENOENT, "results store %s: no run %" PRId64, s->path,
		               run_id);
	}
	if (rc != SQLITE_ROW || (rc = read_run(st, out)) != SQLITE_OK)
		goto fail;
	sqlite3_finalize(st);
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "reading a run");
	sqlite3_finalize(st);
	return code;
}

int ds_store_runs_list(ds_store_t *s, const char *label, const char *tool, const char *scenario,
                       ds_store_run_t **out, size_t *n, ds_err_t *err)
{
	sqlite3_stmt *st = NULL;
	ds_store_run_t *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc =
	    sqlite3_prepare_v2(s->db,
	                       "SELECT " RUN_COLS " FROM run WHERE (?1 IS NULL OR label = ?1)"
	                       " AND (?2 IS NULL OR tool = ?2) AND (?3 IS NULL OR scenario = ?3)"
	                       " ORDER BY run_id",
	                       -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	bind_text(st, 1, label);
	bind_text(st, 2, tool);
	bind_text(st, 3, scenario);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap && (rc = grow(s, &v, &cap, sizeof(*v), 16)) != SQLITE_OK)
			goto fail;
		if ((rc = read_run(st, &v[cnt])) != SQLITE_OK)
			goto fail;
		cnt++;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "listing runs");
	sqlite3_finalize(st);
	ds_store_runs_free(v, cnt);
	return code;
}

/* ------------------------------------------------------- row writers */

/* One histogram attached to a queued interval. */
struct ihist {
	char *metric;
	char *labels;
	ds_hist_t h;
};

static int put_hist(ds_store_t *s, int64_t run_id, const struct ihist *ih, int64_t t_ns,
                    int64_t dur_ns)
{
	sqlite3_stmt *st = stmt(s, ST_HIST);
	size_t len;
	uint8_t *blob;
	if (!st)
		return sqlite3_errcode(s->db);
	if (!(blob = ds_hist_encode(&ih->h, &len)))
		return fake(s, SQLITE_NOMEM, "out of memory encoding a histogram");
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, ih->metric);
	bind_text(st, 3, ih->labels);
	sqlite3_bind_int64(st, 4, t_ns);
	sqlite3_bind_int64(st, 5, dur_ns);
	bind_u64(st, 6, ih->h.count);
	sqlite3_bind_int64(st, 7, ih->h.min);
	sqlite3_bind_int64(st, 8, ih->h.max);
	sqlite3_bind_double(st, 9, ih->h.sum);
	sqlite3_bind_blob(st, 10, blob, (int)len, SQLITE_STATIC);
	int rc = step_done(st);
	free(blob);
	return rc;
}

static int put_interval(ds_store_t *s, int64_t run_id, const ds_store_interval_t *iv,
                        const struct ihist *h, size_t nh, uint64_t *nhists)
{
	sqlite3_stmt *st = stmt(s, ST_INTERVAL);
	int rc;
	if (!st)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, iv->t_ns);
	sqlite3_bind_int64(st, 3, iv->dur_ns);
	bind_real(st, 4, iv->target_qps);
	const uint64_t counters[] = {iv->sent,        iv->answered,    iv->timeouts,
	                             iv->late,        iv->mismatched,  iv->malformed,
	                             iv->truncated,   iv->send_errors, iv->drops,
	                             iv->outstanding, iv->bytes_sent,  iv->bytes_recv};
	for (size_t i = 0; i < DS_ARRAY_SIZE(counters); i++)
		bind_u64(st, 5 + (int)i, counters[i]);
	bind_opt(st, 17, iv->lag_p99_ns);
	bind_opt(st, 18, iv->lag_max_ns);
	bind_u64(st, 19, iv->late_sends);
	bind_opt(st, 20, iv->conn_active);
	bind_opt(st, 21, iv->conn_opened);
	bind_opt(st, 22, iv->conn_failed);
	if ((rc = step_done(st)) != SQLITE_OK)
		return rc;

	if (!(st = stmt(s, ST_RCODE)))
		return sqlite3_errcode(s->db);
	for (int r = -1; r < DS_STORE_NRCODE; r++) {
		uint64_t c = r < 0 ? iv->rcode_other : iv->rcode[r];
		if (!c)
			continue;
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_int64(st, 2, iv->t_ns);
		sqlite3_bind_int(st, 3, r);
		bind_u64(st, 4, c);
		if ((rc = step_done(st)) != SQLITE_OK)
			return rc;
	}
	for (size_t i = 0; i < nh; i++) {
		/* An empty histogram says nothing interval_stats does not. */
		if (h[i].h.count == 0)
			continue;
		if ((rc = put_hist(s, run_id, &h[i], iv->t_ns, iv->dur_ns)) != SQLITE_OK)
			return rc;
		(*nhists)++;
	}
	return SQLITE_OK;
}

/* Write the merged histograms of one (metric, labels) group of a phase. */
static int put_buckets(ds_store_t *s, int64_t phase_id, const char *metric, const char *labels,
                       const ds_hist_t *h)
{
	sqlite3_stmt *st = stmt(s, ST_BUCKET_ADD);
	uint64_t c;
	int rc;
	if (!st)
		return sqlite3_errcode(s->db);
	for (uint32_t i = 0; ds_hist_next(h, &i, &c); i++) {
		int64_t lo, hi;
		ds_hist_bucket_bounds(i, &lo, &hi);
		/* Narrowed to the exact min and max, so the SQL percentile of
		 * docs/STORE.md gives what ds_hist_quantile() gives. */
		if (lo < h->min)
			lo = h->min;
		if (hi > h->max)
			hi = h->max;
		sqlite3_bind_int64(st, 1, phase_id);
		bind_text(st, 2, metric);
		bind_text(st, 3, labels);
		sqlite3_bind_int(st, 4, (int)i);
		sqlite3_bind_int64(st, 5, lo);
		sqlite3_bind_int64(st, 6, hi);
		bind_u64(st, 7, c);
		if ((rc = step_done(st)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int phase_window(ds_store_t *s, int64_t phase_id, int64_t *run_id, int64_t *t0, int64_t *t1)
{
	sqlite3_stmt *st = stmt(s, ST_PHASE_WIN);
	if (!st)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(st, 1, phase_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*run_id = sqlite3_column_int64(st, 0);
		*t0 = sqlite3_column_int64(st, 1);
		*t1 = sqlite3_column_type(st, 2) == SQLITE_NULL ? INT64_MAX
		                                                : sqlite3_column_int64(st, 2);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = fake(s, SQLITE_NOTFOUND, "no such phase");
	}
	finish(st);
	return rc;
}

/* hist_bucket is derived data: recompute it from the interval histograms
 * of the phase's window, replacing what was there. */
static int rebuild_buckets(ds_store_t *s, int64_t phase_id)
{
	int64_t run_id, t0, t1;
	char *metric = NULL, *labels = NULL;
	ds_hist_t acc;
	int rc;

	ds_hist_init(&acc);
	if ((rc = phase_window(s, phase_id, &run_id, &t0, &t1)) != SQLITE_OK)
		return rc;
	sqlite3_stmt *del = stmt(s, ST_BUCKET_DEL);
	if (!del)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(del, 1, phase_id);
	if ((rc = step_done(del)) != SQLITE_OK)
		return rc;
	sqlite3_stmt *src = stmt(s, ST_BUCKET_SRC);
	if (!src)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(src, 1, run_id);
	sqlite3_bind_int64(src, 2, t0);
	sqlite3_bind_int64(src, 3, t1);
	while ((rc = sqlite3_step(src)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(src, 0);
		const char *l = (const char *)sqlite3_column_text(src, 1);
		if (!m || !l) {
			rc = fake(s, SQLITE_NOMEM, "out of memory");
			goto fail;
		}
		if (metric && (strcmp(m, metric) || strcmp(l, labels))) {
			if ((rc = put_buckets(s, phase_id, metric, labels, &acc)) != SQLITE_OK)
				goto fail;
			ds_hist_reset(&acc);
			free(metric);
			free(labels);
			metric = labels = NULL;
		}
		if (!metric) {
			metric = strdup(m);
			labels = strdup(l);
			if (!metric || !labels) {
				rc = fake(s, SQLITE_NOMEM, "out of memory");
				goto fail;
			}
		}
		int brc = ds_hist_decode(&acc, sqlite3_column_blob(src, 2),
		                         (size_t)sqlite3_column_bytes(src, 2));
		if (brc != DS_OK) {
			rc = brc == DS_ENOMEM
			         ? fake(s, SQLITE_NOMEM, "out of memory")
			         : fake(s, SQLITE_CORRUPT, "a stored histogram is corrupt");
			goto fail;
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	rc = metric ? put_buckets(s, phase_id, metric, labels, &acc) : SQLITE_OK;
fail:
	finish(src);
	free(metric);
	free(labels);
	ds_hist_free(&acc);
	return rc;
}

static int put_phase(ds_store_t *s, int64_t run_id, const ds_store_phase_t *p)
{
	sqlite3_stmt *st = stmt(s, ST_PHASE);
	int64_t phase_id = 0;
	if (!st)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int(st, 2, p->seq);
	bind_text(st, 3, p->name ? p->name : "");
	sqlite3_bind_int64(st, 4, p->start_ns);
	bind_opt(st, 5, p->end_ns > 0 ? p->end_ns : -1);
	bind_text(st, 6, p->target);
	bind_real(st, 7, p->target_qps);
	bind_real(st, 8, p->target_qps_end);
	sqlite3_bind_int(st, 9, p->measured);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		phase_id = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	finish(st);
	if (rc != SQLITE_DONE)
		return rc;
	/* The phase's intervals precede its end in the queue, so the
	 * buckets can be built now, in the same transaction. */
	return p->end_ns > 0 ? rebuild_buckets(s, phase_id) : SQLITE_OK;
}

static int put_assertion(ds_store_t *s, int64_t run_id, const ds_store_assertion_t *a)
{
	sqlite3_stmt *st;
	int64_t phase_id = -1;
	int rc;
	if (a->phase_seq >= 0) {
		if (!(st = stmt(s, ST_PHASE_ID)))
			return sqlite3_errcode(s->db);
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_int(st, 2, a->phase_seq);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			phase_id = sqlite3_column_int64(st, 0);
		finish(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return rc;
	}
	if (!(st = stmt(s, ST_ASSERT)))
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(st, 1, run_id);
	bind_opt(st, 2, phase_id);
	bind_text(st, 3, a->name ? a->name : "");
	bind_text(st, 4, a->expr ? a->expr : "");
	bind_real(st, 5, a->observed);
	bind_real(st, 6, a->threshold);
	bind_text(st, 7, a->op);
	if (a->passed < 0)
		sqlite3_bind_null(st, 8);
	else
		sqlite3_bind_int(st, 8, a->passed != 0);
	bind_text(st, 9, a->severity ? a->severity : "fail");
	bind_text(st, 10, a->detail);
	return step_done(st);
}

/* Run fn(s, run_id, arg) in its own transaction (for callers without a
 * writer thread). */
static int in_tx(ds_store_t *s, ds_err_t *err, const char *what,
                 int (*fn)(ds_store_t *, int64_t, const void *), int64_t id, const void *arg)
{
	int rc = check_writable(s, err);
	if (rc != DS_OK)
		return rc;
	if ((rc = exec(s, "BEGIN IMMEDIATE")) != SQLITE_OK)
		return serr(s, rc, err, what);
	if ((rc = fn(s, id, arg)) != SQLITE_OK || (rc = exec(s, "COMMIT")) != SQLITE_OK) {
		int code = serr(s, rc, err, what);
		rollback(s);
		return code;
	}
	return DS_OK;
}

static int put_phase_cb(ds_store_t *s, int64_t run_id, const void *p)
{
	return put_phase(s, run_id, p);
}

static int put_assertion_cb(ds_store_t *s, int64_t run_id, const void *a)
{
	return put_assertion(s, run_id, a);
}

static int rebuild_cb(ds_store_t *s, int64_t phase_id, const void *unused)
{
	return rebuild_buckets(s, phase_id);
}

int ds_store_phase_put(ds_store_t *s, int64_t run_id, const ds_store_phase_t *p, ds_err_t *err)
{
	return in_tx(s, err, "writing a phase", put_phase_cb, run_id, p);
}

int ds_store_assertion_put(ds_store_t *s, int64_t run_id, const ds_store_assertion_t *a,
                           ds_err_t *err)
{
	return in_tx(s, err, "writing an assertion", put_assertion_cb, run_id, a);
}

int ds_store_phase_buckets_rebuild(ds_store_t *s, int64_t phase_id, ds_err_t *err)
{
	return in_tx(s, err, "rebuilding phase buckets", rebuild_cb, phase_id, NULL);
}

/* ------------------------------------------------------ scrape batches */

struct scrape_sample {
	char *name;
	char *labels;
	char *mtype;
	double value;
};

struct ds_store_scrape {
	char *source;
	int64_t t_ns;
	struct scrape_sample *v;
	size_t n, cap;
};

ds_store_scrape_t *ds_store_scrape_new(const char *source, int64_t t_ns)
{
	ds_store_scrape_t *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	if (!(sc->source = strdup(source ? source : ""))) {
		free(sc);
		return NULL;
	}
	sc->t_ns = t_ns;
	return sc;
}

int ds_store_scrape_add(ds_store_scrape_t *sc, const char *name, const char *labels,
                        const char *mtype, double value)
{
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 64;
		struct scrape_sample *t = realloc(sc->v, cap * sizeof(*t));
		if (!t)
			return DS_ENOMEM;
		sc->v = t;
		sc->cap = cap;
	}
	struct scrape_sample *x = &sc->v[sc->n];
	x->name = strdup(name);
	x->labels = strdup(labels ? labels : "");
	x->mtype = dup_or_null(mtype);
	x->value = value;
	if (!x->name || !x->labels || (mtype && !x->mtype)) {
		free(x->name);
		free(x->labels);
		free(x->mtype);
		return DS_ENOMEM;
	}
	sc->n++;
	return DS_OK;
}

size_t ds_store_scrape_count(const ds_store_scrape_t *sc)
{
	return sc->n;
}

void ds_store_scrape_free(ds_store_scrape_t *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < sc->n; i++) {
		free(sc->v[i].name);
		free(sc->v[i].labels);
		free(sc->v[i].mtype);
	}
	free(sc->v);
	free(sc->source);
	free(sc);
}

struct lpair {
	const char *k, *v;
	size_t klen, vlen;
};

static int lpair_cmp(const void *a, const void *b)
{
	const struct lpair *x = a, *y = b;
	size_t n = DS_MIN(x->klen, y->klen);
	int c = memcmp(x->k, y->k, n);
	if (c)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int ds_store_labels_canon(const char *in, char *out, size_t outsz, double *le)
{
	struct lpair pr[64];
	size_t np = 0;
	const char *p = skip_ws(in);
	bool brace = false;

	if (le)
		*le = NAN;
	if (*p == '{') {
		brace = true;
		p = skip_ws(p + 1);
	}
	while (*p && *p != '}') {
		const char *k = p;
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return DS_EINVAL;
		while (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9'))
			p++;
		size_t klen = (size_t)(p - k);
		p = skip_ws(p);
		if (*p++ != '=')
			return DS_EINVAL;
		p = skip_ws(p);
		if (*p++ != '"')
			return DS_EINVAL;
		const char *v = p;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		if (*p != '"')
			return DS_EINVAL;
		if (np == DS_ARRAY_SIZE(pr))
			return DS_EINVAL;
		pr[np++] = (struct lpair){k, v, klen, (size_t)(p - v)};
		p = skip_ws(p + 1);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p && *p != '}')
			return DS_EINVAL;
	}
	if (brace ? *p != '}' || *skip_ws(p + 1) : *p != 0)
		return DS_EINVAL;

	qsort(pr, np, sizeof(pr[0]), lpair_cmp);
	size_t o = 0;
	for (size_t i = 0; i < np; i++) {
		if (i && !lpair_cmp(&pr[i - 1], &pr[i]))
			return DS_EINVAL;
		size_t need = (i ? 1 : 0) + pr[i].klen + 2 + pr[i].vlen + 1;
		if (o + need + 1 > outsz)
			return DS_ESPACE;
		if (i)
			out[o++] = ',';
		memcpy(out + o, pr[i].k, pr[i].klen);
		o += pr[i].klen;
		out[o++] = '=';
		out[o++] = '"';
		memcpy(out + o, pr[i].v, pr[i].vlen);
		o += pr[i].vlen;
		out[o++] = '"';
		if (le && pr[i].klen == 2 && !memcmp(pr[i].k, "le", 2)) {
			char num[64];
			char *end;
			if (pr[i].vlen < sizeof(num)) {
				memcpy(num, pr[i].v, pr[i].vlen);
				num[pr[i].vlen] = 0;
				double d = strtod(num, &end);
				if (end != num && !*end)
					*le = d;
			}
		}
	}
	if (outsz == 0)
		return DS_ESPACE;
	out[o] = 0;
	return DS_OK;
}

/* One sample: find or create its series, then insert the value. */
static int put_sample(ds_store_t *s, int64_t run_id, const ds_store_scrape_t *sc,
                      const struct scrape_sample *x, const char *canon, double le, bool *written)
{
	sqlite3_stmt *get = stmt(s, ST_SERIES_GET), *add = stmt(s, ST_SERIES_ADD);
	sqlite3_stmt *put = stmt(s, ST_SAMPLE);
	int64_t series_id = -1;
	int rc;

	if (!get || !add || !put)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(get, 1, run_id);
	bind_text(get, 2, sc->source);
	bind_text(get, 3, x->name);
	bind_text(get, 4, canon);
	rc = sqlite3_step(get);
	if (rc == SQLITE_ROW)
		series_id = sqlite3_column_int64(get, 0);
	finish(get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	if (series_id < 0) {
		sqlite3_bind_int64(add, 1, run_id);
		bind_text(add, 2, sc->source);
		bind_text(add, 3, x->name);
		bind_text(add, 4, canon);
		bind_real(add, 5, le);
		bind_text(add, 6, x->mtype);
		if ((rc = step_done(add)) != SQLITE_OK)
			return rc;
		series_id = sqlite3_last_insert_rowid(s->db);
	}
	/* NaN (Prometheus allows it) means "no value" and cannot go into a
	 * NOT NULL REAL column: the series exists, the sample is skipped. */
	if (isnan(x->value))
		return SQLITE_OK;
	sqlite3_bind_int64(put, 1, series_id);
	sqlite3_bind_int64(put, 2, sc->t_ns);
	sqlite3_bind_double(put, 3, x->value);
	if ((rc = step_done(put)) != SQLITE_OK)
		return rc;
	*written = true;
	return SQLITE_OK;
}

static int put_scrape(ds_store_t *s, int64_t run_id, const ds_store_scrape_t *sc, uint64_t *written,
                      uint64_t *bad)
{
	char small[512];
	for (size_t i = 0; i < sc->n; i++) {
		const struct scrape_sample *x = &sc->v[i];
		size_t need = strlen(x->labels) + 1;
		char *canon = need <= sizeof(small) ? small : malloc(need);
		bool ok = false;
		double le;
		int rc = SQLITE_OK;

		if (!canon)
			return fake(s, SQLITE_NOMEM, "out of memory");
		/* A malformed label set is the scraper's problem, not a
		 * reason to lose the rest of the scrape. */
		if (ds_store_labels_canon(x->labels, canon, need, &le) != DS_OK)
			(*bad)++;
		else
			rc = put_sample(s, run_id, sc, x, canon, le, &ok);
		if (canon != small)
			free(canon);
		if (rc != SQLITE_OK)
			return rc;
		if (ok)
			(*written)++;
	}
	return SQLITE_OK;
}

/* ----------------------------------------------------------- writer */

enum { IT_INTERVAL, IT_SCRAPE, IT_PHASE, IT_ASSERT };

struct item {
	struct item *next;
	int kind;
	union {
		struct {
			ds_store_interval_t iv;
			struct ihist *h;
			size_t nh;
		} iv;
		ds_store_scrape_t *sc;
		ds_store_phase_t ph;
		ds_store_assertion_t as;
	} u;
};

struct ds_store_writer {
	ds_store_t *s;
	int64_t run_id;
	ds_store_writer_opts_t o;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* to the writer: work, flush or stop */
	pthread_cond_t done; /* from the writer: a flush cycle finished */
	struct item *head, *tail, *last_iv;
	size_t queued, queued_iv, queued_samples;
	uint64_t flush_req, flush_done;
	bool stop, exited, busy;
	int err_code;
	ds_err_t err;
	ds_store_writer_stats_t st;
};

static void item_free(struct item *it)
{
	switch (it->kind) {
	case IT_INTERVAL:
		for (size_t i = 0; i < it->u.iv.nh; i++) {
			free(it->u.iv.h[i].metric);
			free(it->u.iv.h[i].labels);
			ds_hist_free(&it->u.iv.h[i].h);
		}
		free(it->u.iv.h);
		break;
	case IT_SCRAPE:
		ds_store_scrape_free(it->u.sc);
		break;
	case IT_PHASE:
		free((void *)it->u.ph.name);
		free((void *)it->u.ph.target);
		break;
	case IT_ASSERT:
		free((void *)it->u.as.name);
		free((void *)it->u.as.expr);
		free((void *)it->u.as.op);
		free((void *)it->u.as.severity);
		free((void *)it->u.as.detail);
		break;
	}
	free(it);
}

static void items_free(struct item *it)
{
	while (it) {
		struct item *n = it->next;
		item_free(it);
		it = n;
	}
}

static size_t items_count(const struct item *it)
{
	size_t n = 0;
	for (; it; it = it->next)
		n++;
	return n;
}

static int write_item(ds_store_writer_t *w, const struct item *it, ds_store_writer_stats_t *st)
{
	ds_store_t *s = w->s;
	int rc;
	switch (it->kind) {
	case IT_INTERVAL:
		rc = put_interval(s, w->run_id, &it->u.iv.iv, it->u.iv.h, it->u.iv.nh, &st->hists);
		if (rc == SQLITE_OK)
			st->intervals++;
		return rc;
	case IT_SCRAPE:
		return put_scrape(s, w->run_id, it->u.sc, &st->samples, &st->bad_samples);
	case IT_PHASE:
		return put_phase(s, w->run_id, &it->u.ph);
	case IT_ASSERT:
		return put_assertion(s, w->run_id, &it->u.as);
	}
	return SQLITE_MISUSE;
}

/* One transaction for the whole batch. Row counts go to a scratch copy so
 * a rolled-back batch does not count. */
static int flush_batch(ds_store_writer_t *w, const struct item *batch, ds_store_writer_stats_t *st,
                       ds_err_t *err)
{
	ds_store_t *s = w->s;
	ds_store_writer_stats_t tmp = *st;
	int64_t t0 = ds_now_ns();
	int rc = exec(s, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return serr(s, rc, err, "starting a transaction");
	for (const struct item *it = batch; it; it = it->next)
		if ((rc = write_item(w, it, &tmp)) != SQLITE_OK)
			goto fail;
	if ((rc = exec(s, "COMMIT")) != SQLITE_OK)
		goto fail;
	tmp.commits++;
	int64_t dt = ds_now_ns() - t0;
	if (dt > tmp.max_flush_ns)
		tmp.max_flush_ns = dt;
	*st = tmp;
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "writing results");
	rollback(s);
	return code;
}

static struct timespec mono_ts(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / DS_NS_PER_SEC, .tv_nsec = ns % DS_NS_PER_SEC};
}

/* After a fatal error nothing more is written, but the run row should
 * still say why; on a full disk even this may fail, and then the next
 * open marks the run 'aborted'. */
static void mark_failed(ds_store_writer_t *w, const char *msg)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(w->s->db,
	                       "UPDATE run SET status = 'failed', invalid_reason = ?2,"
	                       " ended_ns = ?3 WHERE run_id = ?1 AND status = 'running'",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, w->run_id);
		bind_text(st, 2, msg);
		sqlite3_bind_int64(st, 3, ds_wall_ns());
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

static void *writer_main(void *arg)
{
	ds_store_writer_t *w = arg;
	int64_t next = ds_now_ns() + w->o.flush_interval_ns;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->flush_req == w->flush_done && ds_now_ns() < next) {
			struct timespec ts = mono_ts(next);
			pthread_cond_timedwait(&w->wake, &w->mu, &ts);
		}
		struct item *batch = w->head;
		w->head = w->tail = w->last_iv = NULL;
		w->queued = w->queued_iv = w->queued_samples = 0;
		uint64_t req = w->flush_req;
		bool stopping = w->stop;
		bool failed = w->err_code != DS_OK;
		ds_store_writer_stats_t st = w->st;
		pthread_mutex_unlock(&w->mu);

		ds_err_t e = {{0}};
		int rc = DS_OK;
		if (batch && !failed)
			rc = flush_batch(w, batch, &st, &e);

		/* A lock held by another process (after busy_timeout) is
		 * worth another try next tick; anything else ends writing. */
		bool retry = rc == DS_EAGAIN && !stopping;
		bool fatal = rc != DS_OK && !retry;
		if (fatal) {
			ds_log(DS_LOG_ERROR, "%s; no more results are written for run %" PRId64,
			       e.msg, w->run_id);
			mark_failed(w, e.msg);
		}

		pthread_mutex_lock(&w->mu);
		st.queued = 0;
		st.dropped_samples = w->st.dropped_samples;
		st.coalesced_intervals = w->st.coalesced_intervals;
		st.lost_items = w->st.lost_items;
		if (retry) {
			/* Put the batch back in front of what arrived meanwhile. */
			struct item *t = batch;
			while (t->next)
				t = t->next;
			t->next = w->head;
			if (!w->head)
				w->tail = t;
			w->head = batch;
			w->queued += items_count(batch);
			w->busy = true;
		} else {
			if (failed || fatal)
				st.lost_items += items_count(batch);
			items_free(batch);
			w->busy = false;
		}
		if (fatal) {
			w->err_code = rc;
			w->err = e;
		}
		w->st = st;
		w->flush_done = req;
		pthread_cond_broadcast(&w->done);
		if (stopping && !w->head)
			break;
		next = ds_now_ns() + w->o.flush_interval_ns;
	}
	w->exited = true;
	pthread_cond_broadcast(&w->done);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

ds_store_writer_t *ds_store_writer_start(ds_store_t *s, int64_t run_id,
                                         const ds_store_writer_opts_t *opts, ds_err_t *err)
{
	ds_store_writer_t *w = NULL;
	pthread_condattr_t ca;
	int64_t one;
	bool mu = false, wake = false, done = false;

	if (check_writable(s, err) != DS_OK)
		return NULL;
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM run WHERE run_id = %" PRId64, run_id);
	int rc = query_int(s, sql, &one);
	if (rc != SQLITE_OK) {
		serr(s, rc, err, "starting the writer");
		return NULL;
	}
	if (one != 1) {
		ds_errf(err, DS_ENOENT, "results store %s: no run %" PRId64, s->path, run_id);
		return NULL;
	}
	if (!(w = calloc(1, sizeof(*w))))
		goto nomem;
	w->s = s;
	w->run_id = run_id;
	if (opts)
		w->o = *opts;
	if (w->o.flush_interval_ns <= 0)
		w->o.flush_interval_ns = DS_NS_PER_SEC;
	if (!w->o.max_queued_samples)
		w->o.max_queued_samples = 200000;
	if (!w->o.max_queued_intervals)
		w->o.max_queued_intervals = 600;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		goto nomem;
	mu = true;
	/* Deadlines on the monotonic clock: wall-clock steps (NTP) must not
	 * stall or hurry the commits. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	wake = pthread_cond_init(&w->wake, &ca) == 0;
	done = pthread_cond_init(&w->done, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!wake || !done)
		goto nomem;
	s->writer_active = true;
	if ((errno = pthread_create(&w->thr, NULL, writer_main, w)) != 0) {
		s->writer_active = false;
		ds_errf(err, -errno, "results store %s: cannot start the writer thread: %s",
		        s->path, strerror(errno));
		goto fail;
	}
	return w;
nomem:
	ds_errf(err, DS_ENOMEM, "results store %s: out of memory", s->path);
fail:
	if (w) {
		if (done)
			pthread_cond_destroy(&w->done);
		if (wake)
			pthread_cond_destroy(&w->wake);
		if (mu)
			pthread_mutex_destroy(&w->mu);
	}
	free(w);
	return NULL;
}

/* Append under the lock. Returns the writer's error (and frees it) once
 * writing has stopped, so producers learn about it at the next handover. */
static int enqueue(ds_store_writer_t *w, struct item *it)
{
	pthread_mutex_lock(&w->mu);
	if (w->err_code != DS_OK || w->stop) {
		int code = w->err_code ? w->err_code : DS_EINVAL;
		w->st.lost_items++;
		pthread_mutex_unlock(&w->mu);
		item_free(it);
		return code;
	}
	it->next = NULL;
	if (w->tail)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->queued++;
	if (it->kind == IT_INTERVAL) {
		w->last_iv = it;
		w->queued_iv++;
	} else if (it->kind == IT_SCRAPE) {
		w->queued_samples += it->u.sc->n;
	}
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	return DS_OK;
}

static void add_sat(uint64_t *a, uint64_t b)
{
	*a = *a + b < *a ? UINT64_MAX : *a + b;
}

/* Fold interval b into a (the queue is full): counters add, gauges take
 * the later value, lags the worse one, histograms merge. */
static int coalesce(struct item *a, const ds_store_interval_t *b, const ds_store_hist_ref_t *h,
                    size_t nh)
{
	ds_store_interval_t *x = &a->u.iv.iv;
	for (size_t i = 0; i < nh; i++) {
		const char *m = h[i].metric ? h[i].metric : "";
		const char *l = h[i].labels ? h[i].labels : "";
		struct ihist *dst = NULL;
		if (!h[i].hist)
			continue;
		for (size_t j = 0; j < a->u.iv.nh && !dst; j++)
			if (!strcmp(a->u.iv.h[j].metric, m) && !strcmp(a->u.iv.h[j].labels, l))
				dst = &a->u.iv.h[j];
		if (!dst) {
			struct ihist *t = realloc(a->u.iv.h, (a->u.iv.nh + 1) * sizeof(*t));
			if (!t)
				return DS_ENOMEM;
			a->u.iv.h = t;
			dst = &t[a->u.iv.nh];
			dst->metric = strdup(m);
			dst->labels = strdup(l);
			ds_hist_init(&dst->h);
			if (!dst->metric || !dst->labels) {
				free(dst->metric);
				free(dst->labels);
				return DS_ENOMEM;
			}
			a->u.iv.nh++;
		}
		if (ds_hist_merge(&dst->h, h[i].hist) != DS_OK)
			return DS_ENOMEM;
	}
	int64_t end = DS_MAX(x->t_ns + x->dur_ns, b->t_ns + b->dur_ns);
	if (!isnan(x->target_qps) && !isnan(b->target_qps) && x->dur_ns + b->dur_ns > 0)
		x->target_qps =
		    (x->target_qps * (double)x->dur_ns + b->target_qps * (double)b->dur_ns) /
		    (double)(x->dur_ns + b->dur_ns);
	x->dur_ns = end - x->t_ns;
	add_sat(&x->sent, b->sent);
	add_sat(&x->answered, b->answered);
	add_sat(&x->timeouts, b->timeouts);
	add_sat(&x->late, b->late);
	add_sat(&x->mismatched, b->mismatched);
	add_sat(&x->malformed, b->malformed);
	add_sat(&x->truncated, b->truncated);
	add_sat(&x->send_errors, b->send_errors);
	add_sat(&x->drops, b->drops);
	add_sat(&x->bytes_sent, b->bytes_sent);
	add_sat(&x->bytes_recv, b->bytes_recv);
	add_sat(&x->late_sends, b->late_sends);
	x->outstanding = b->outstanding;
	x->lag_p99_ns = DS_MAX(x->lag_p99_ns, b->lag_p99_ns);
	x->lag_max_ns = DS_MAX(x->lag_max_ns, b->lag_max_ns);
	x->conn_active = b->conn_active;
	if (b->conn_opened >= 0)
		x->conn_opened = (x->conn_opened < 0 ? 0 : x->conn_opened) + b->conn_opened;
	if (b->conn_failed >= 0)
		x->conn_failed = (x->conn_failed < 0 ? 0 : x->conn_failed) + b->conn_failed;
	for (int r = 0; r < DS_STORE_NRCODE; r++)
		add_sat(&x->rcode[r], b->rcode[r]);
	add_sat(&x->rcode_other, b->rcode_other);
	return DS_OK;
}

void ds_store_interval_init(ds_store_interval_t *iv, int64_t t_ns, int64_t dur_ns)
{
	memset(iv, 0, sizeof(*iv));
	iv->t_ns = t_ns;
	iv->dur_ns = dur_ns;
	iv->target_qps = NAN;
	iv->lag_p99_ns = iv->lag_max_ns = -1;
	iv->conn_active = iv->conn_opened = iv->conn_failed = -1;
}

int ds_store_writer_interval(ds_store_writer_t *w, const ds_store_interval_t *iv,
                             const ds_store_hist_ref_t *hists, size_t nhists)
{
	pthread_mutex_lock(&w->mu);
	if (w->err_code == DS_OK && !w->stop && w->last_iv &&
	    w->queued_iv >= w->o.max_queued_intervals) {
		/* Merging under the lock is a few µs of memory work, never disk. */
		int rc = coalesce(w->last_iv, iv, hists, nhists);
		if (rc == DS_OK)
			w->st.coalesced_intervals++;
		pthread_mutex_unlock(&w->mu);
		return rc;
	}
	pthread_mutex_unlock(&w->mu);

	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		return DS_ENOMEM;
	it->kind = IT_INTERVAL;
	it->u.iv.iv = *iv;
	if (nhists && !(it->u.iv.h = calloc(nhists, sizeof(struct ihist)))) {
		free(it);
		return DS_ENOMEM;
	}
	for (size_t i = 0; i < nhists; i++) {
		struct ihist *d = &it->u.iv.h[i];
		ds_hist_init(&d->h);
		it->u.iv.nh++;
		d->metric = strdup(hists[i].metric ? hists[i].metric : "");
		d->labels = strdup(hists[i].labels ? hists[i].labels : "");
		if (!d->metric || !d->labels ||
		    (hists[i].hist && ds_hist_merge(&d->h, hists[i].hist) != DS_OK)) {
			item_free(it);
			return DS_ENOMEM;
		}
	}
	return enqueue(w, it);
}

int ds_store_writer_scrape(ds_store_writer_t *w, ds_store_scrape_t *sc)
{
	pthread_mutex_lock(&w->mu);
	if (w->err_code == DS_OK && w->queued_samples + sc->n > w->o.max_queued_samples) {
		/* The disk is behind: scrapes are the first thing to give up,
		 * the generator's own numbers the last. */
		w->st.dropped_samples += sc->n;
		pthread_mutex_unlock(&w->mu);
		ds_store_scrape_free(sc);
		return DS_OK;
	}
	pthread_mutex_unlock(&w->mu);
	struct item *it = calloc(1, sizeof(*it));
	if (!it) {
		ds_store_scrape_free(sc);
		return DS_ENOMEM;
	}
	it->kind = IT_SCRAPE;
	it->u.sc = sc;
	return enqueue(w, it);
}

int ds_store_writer_phase(ds_store_writer_t *w, const ds_store_phase_t *p)
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		return DS_ENOMEM;
	it->kind = IT_PHASE;
	it->u.ph = *p;
	it->u.ph.name = strdup(p->name ? p->name : "");
	it->u.ph.target = dup_or_null(p->target);
	if (!it->u.ph.name || (p->target && !it->u.ph.target)) {
		item_free(it);
		return DS_ENOMEM;
	}
	return enqueue(w, it);
}

int ds_store_writer_assertion(ds_store_writer_t *w, const ds_store_assertion_t *a)
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		return DS_ENOMEM;
	it->kind = IT_ASSERT;
	it->u.as = *a;
	it->u.as.name = dup_or_null(a->name);
	it->u.as.expr = dup_or_null(a->expr);
	it->u.as.op = dup_or_null(a->op);
	it->u.as.severity = dup_or_null(a->severity);
	it->u.as.detail = dup_or_null(a->detail);
	if ((a->name && !it->u.as.name) || (a->expr && !it->u.as.expr) || (a->op && !it->u.as.op) ||
	    (a->severity && !it->u.as.severity) || (a->detail && !it->u.as.detail)) {
		item_free(it);
		return DS_ENOMEM;
	}
	return enqueue(w, it);
}

int ds_store_writer_flush(ds_store_writer_t *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t my = ++w->flush_req;
	pthread_cond_signal(&w->wake);
	while (w->flush_done < my && !w->exited)
		pthread_cond_wait(&w->done, &w->mu);
	int rc = w->err_code != DS_OK ? w->err_code : w->busy ? DS_EAGAIN : DS_OK;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int ds_store_writer_error(ds_store_writer_t *w, ds_err_t *err)
{
	pthread_mutex_lock(&w->mu);
	int rc = w->err_code;
	if (rc != DS_OK && err)
		*err = w->err;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void ds_store_writer_stats(ds_store_writer_t *w, ds_store_writer_stats_t *st)
{
	pthread_mutex_lock(&w->mu);
	*st = w->st;
	st->queued = w->queued;
	pthread_mutex_unlock(&w->mu);
}

/* Runs in the caller's thread once the writer has exited: the connection
 * is the caller's again. */
static int finish_run(ds_store_writer_t *w, ds_err_t *err)
{
	ds_store_t *s = w->s;
	sqlite3_stmt *ph = NULL, *upd = NULL;
	int rc = exec(s, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		goto fail;
	/* Phases never ended (the tool stopped mid-phase) and intervals that
	 * arrived after a phase ended get their buckets here. */
	rc = sqlite3_prepare_v2(s->db, "SELECT phase_id FROM phase WHERE run_id = ?1", -1, &ph,
	                        NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(ph, 1, w->run_id);
	while ((rc = sqlite3_step(ph)) == SQLITE_ROW)
		if ((rc = rebuild_buckets(s, sqlite3_column_int64(ph, 0))) != SQLITE_OK)
			goto fail;
	if (rc != SQLITE_DONE)
		goto fail;
	rc = sqlite3_prepare_v2(s->db,
	                        "UPDATE run SET dropped_samples = ?2, coalesced_intervals = ?3"
	                        " WHERE run_id = ?1",
	                        -1, &upd, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(upd, 1, w->run_id);
	bind_u64(upd, 2, w->st.dropped_samples);
	bind_u64(upd, 3, w->st.coalesced_intervals);
	if ((rc = sqlite3_step(upd)) != SQLITE_DONE)
		goto fail;
	if ((rc = exec(s, "COMMIT")) != SQLITE_OK)
		goto fail;
	sqlite3_finalize(ph);
	sqlite3_finalize(upd);
	return ds_store_checkpoint(s, err);
fail:;
	int code = serr(s, rc, err, "finishing the run");
	rollback(s);
	sqlite3_finalize(ph);
	sqlite3_finalize(upd);
	return code;
}

int ds_store_writer_stop(ds_store_writer_t *w, ds_err_t *err)
{
	if (!w)
		return DS_OK;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thr, NULL);
	w->s->writer_active = false;

	int rc = w->err_code;
	if (rc != DS_OK) {
		if (err)
			*err = w->err;
	} else {
		rc = finish_run(w, err);
		if (rc != DS_OK)
			mark_failed(w, err ? err->msg : "finishing the run failed");
	}
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return rc;
}

/* ------------------------------------------------------------ readers */

int ds_store_intervals_load(ds_store_t *s, int64_t run_id, ds_store_interval_t **out, size_t *n,
                            ds_err_t *err)
{
	sqlite3_stmt *st = NULL;
	ds_store_interval_t *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = sqlite3_prepare_v2(
	    s->db,
	    "SELECT t_ns, dur_ns, target_qps, sent, answered, timeouts, late, mismatched,"
	    " malformed, truncated, send_errors, drops, outstanding, bytes_sent, bytes_recv,"
	    " lag_p99_ns, lag_max_ns, late_sends, conn_active, conn_opened, conn_failed"
	    " FROM interval_stats WHERE run_id = ?1 ORDER BY t_ns",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap && (rc = grow(s, &v, &cap, sizeof(*v), 64)) != SQLITE_OK)
			goto fail;
		ds_store_interval_t *x = &v[cnt++];
		ds_store_interval_init(x, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
		x->target_qps = col_real(st, 2);
		uint64_t *counters[] = {&x->sent,        &x->answered,    &x->timeouts,
		                        &x->late,        &x->mismatched,  &x->malformed,
		                        &x->truncated,   &x->send_errors, &x->drops,
		                        &x->outstanding, &x->bytes_sent,  &x->bytes_recv};
		for (size_t i = 0; i < DS_ARRAY_SIZE(counters); i++)
			*counters[i] = (uint64_t)sqlite3_column_int64(st, 3 + (int)i);
		x->lag_p99_ns = col_opt(st, 15);
		x->lag_max_ns = col_opt(st, 16);
		x->late_sends = (uint64_t)sqlite3_column_int64(st, 17);
		x->conn_active = col_opt(st, 18);
		x->conn_opened = col_opt(st, 19);
		x->conn_failed = col_opt(st, 20);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT t_ns, rcode, count FROM rcode_count WHERE run_id = ?1"
	                        " ORDER BY t_ns",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	/* Both lists are sorted by t_ns: walk them together. */
	size_t j = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(st, 0);
		while (j < cnt && v[j].t_ns < t)
			j++;
		if (j == cnt || v[j].t_ns != t)
			continue;
		int r = sqlite3_column_int(st, 1);
		uint64_t c = (uint64_t)sqlite3_column_int64(st, 2);
		if (r >= 0 && r < DS_STORE_NRCODE)
			v[j].rcode[r] = c;
		else
			v[j].rcode_other += c;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "reading intervals");
	sqlite3_finalize(st);
	free(v);
	return code;
}

int ds_store_phases_load(ds_store_t *s, int64_t run_id, ds_store_phase_t **out, size_t *n,
                         ds_err_t *err)
{
	sqlite3_stmt *st = NULL;
	ds_store_phase_t *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc =
	    sqlite3_prepare_v2(s->db,
	                       "SELECT phase_id, seq, name, start_ns, end_ns, target, target_qps,"
	                       " target_qps_end, measured FROM phase WHERE run_id = ?1"
	                       " ORDER BY seq",
	                       -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap && (rc = grow(s, &v, &cap, sizeof(*v), 8)) != SQLITE_OK)
			goto fail;
		ds_store_phase_t *p = &v[cnt];
		memset(p, 0, sizeof(*p));
		p->phase_id = sqlite3_column_int64(st, 0);
		p->seq = sqlite3_column_int(st, 1);
		p->name = col_text(st, 2);
		p->start_ns = sqlite3_column_int64(st, 3);
		p->end_ns = sqlite3_column_int64(st, 4);
		p->target = col_text(st, 5);
		p->target_qps = col_real(st, 6);
		p->target_qps_end = col_real(st, 7);
		p->measured = sqlite3_column_int(st, 8) != 0;
		cnt++;
		if (!p->name) {
			rc = fake(s, SQLITE_NOMEM, "out of memory");
			goto fail;
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "reading phases");
	sqlite3_finalize(st);
	ds_store_phases_free(v, cnt);
	return code;
}

void ds_store_phases_free(ds_store_phase_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((void *)p[i].name);
		free((void *)p[i].target);
	}
	free(p);
}

int ds_store_hist_load(ds_store_t *s, int64_t run_id, const char *metric, const char *labels,
                       int64_t t0, int64_t t1, ds_hist_t *out, ds_err_t *err)
{
	sqlite3_stmt *st = NULL;
	ds_hist_t acc;
	int rc;

	/* Merge into a scratch histogram so an error leaves out untouched. */
	ds_hist_init(&acc);
	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT counts FROM hist WHERE run_id = ?1 AND metric = ?2"
	                        " AND (?3 IS NULL OR labels = ?3) AND t_ns >= ?4 AND t_ns < ?5",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, metric);
	bind_text(st, 3, labels);
	sqlite3_bind_int64(st, 4, t0);
	sqlite3_bind_int64(st, 5, t1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int brc = ds_hist_decode(&acc, sqlite3_column_blob(st, 0),
		                         (size_t)sqlite3_column_bytes(st, 0));
		if (brc != DS_OK) {
			rc = brc == DS_ENOMEM
			         ? fake(s, SQLITE_NOMEM, "out of memory")
			         : fake(s, SQLITE_CORRUPT, "a stored histogram is corrupt");
			goto fail;
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	rc = ds_hist_merge(out, &acc);
	ds_hist_free(&acc);
	if (rc != DS_OK)
		return ds_errf(err, rc, "results store %s: out of memory", s->path);
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "reading histograms");
	sqlite3_finalize(st);
	ds_hist_free(&acc);
	return code;
}

int ds_store_phase_hist_load(ds_store_t *s, int64_t phase_id, const char *metric,
                             const char *labels, ds_hist_t *out, ds_err_t *err)
{
	int64_t run_id, t0, t1;
	int rc = phase_window(s, phase_id, &run_id, &t0, &t1);
	if (rc == SQLITE_NOTFOUND) {
		s->why = NULL;
		return ds_errf(err, DS_ENOENT, "results store %s: no phase %" PRId64, s->path,
		               phase_id);
	}
	if (rc != SQLITE_OK)
		return serr(s, rc, err, "reading a phase");
	return ds_store_hist_load(s, run_id, metric, labels, t0, t1, out, err);
}

void ds_store_series_free(ds_store_series_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].source);
		free(v[i].name);
		free(v[i].labels);
		free(v[i].mtype);
		free(v[i].t_ns);
		free(v[i].value);
	}
	free(v);
}

static int load_samples(ds_store_t *s, sqlite3_stmt *st, ds_store_series_t *x, int64_t t0,
                        int64_t t1)
{
	size_t cap = 0;
	int rc;
	sqlite3_bind_int64(st, 1, x->series_id);
	sqlite3_bind_int64(st, 2, t0);
	sqlite3_bind_int64(st, 3, t1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (x->n == cap) {
			cap = cap ? 2 * cap : 64;
			int64_t *t = realloc(x->t_ns, cap * sizeof(*t));
			if (t)
				x->t_ns = t;
			double *d = realloc(x->value, cap * sizeof(*d));
			if (d)
				x->value = d;
			if (!t || !d) {
				rc = fake(s, SQLITE_NOMEM, "out of memory");
				break;
			}
		}
		x->t_ns[x->n] = sqlite3_column_int64(st, 0);
		x->value[x->n] = sqlite3_column_double(st, 1);
		x->n++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int ds_store_series_load(ds_store_t *s, int64_t run_id, const char *name, int64_t t0, int64_t t1,
                         ds_store_series_t **out, size_t *n, ds_err_t *err)
{
	sqlite3_stmt *st = NULL, *smp = NULL;
	ds_store_series_t *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = sqlite3_prepare_v2(s->db,
	                            "SELECT series_id, source, name, labels, le, mtype FROM series"
	                            " WHERE run_id = ?1 AND (?2 IS NULL OR name = ?2)"
	                            " ORDER BY name, labels, source",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT t_ns, value FROM sample WHERE series_id = ?1"
	                        " AND t_ns >= ?2 AND t_ns < ?3 ORDER BY t_ns",
	                        -1, &smp, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap && (rc = grow(s, &v, &cap, sizeof(*v), 32)) != SQLITE_OK)
			goto fail;
		ds_store_series_t *x = &v[cnt++];
		memset(x, 0, sizeof(*x));
		x->series_id = sqlite3_column_int64(st, 0);
		x->source = col_text(st, 1);
		x->name = col_text(st, 2);
		x->labels = col_text(st, 3);
		x->le = col_real(st, 4);
		x->mtype = col_text(st, 5);
		if (!x->source || !x->name || !x->labels) {
			rc = fake(s, SQLITE_NOMEM, "out of memory");
			goto fail;
		}
		if ((rc = load_samples(s, smp, x, t0, t1)) != SQLITE_OK)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	sqlite3_finalize(smp);
	*out = v;
	*n = cnt;
	return DS_OK;
fail:;
	int code = serr(s, rc, err, "reading scraped series");
	sqlite3_finalize(st);
	sqlite3_finalize(smp);
	ds_store_series_free(v, cnt);
	return code;
}
