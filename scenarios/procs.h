/* SPDX-License-Identifier: MIT */
/**
 * \file procs.h
 * \brief Child processes of a scenario: start, signal, stop, and make sure
 *        none outlives the runner.
 *
 * Every child gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the runner
 * even when the runner is killed with SIGKILL, and is recorded in a table
 * so ds_procs_kill_all() can stop whatever is left (Ctrl-C, errors).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "lib/common.h"

typedef struct ds_proc {
	pid_t pid;
	char name[64];
	char log[512];      /**< stdout+stderr go here */
	int status;         /**< wait status once exited */
	bool exited;
} ds_proc_t;

/**
 * Start argv[0] with argv, extra environment "K=V" strings (NULL-ended),
 * output appended to logpath. Returns DS_OK and fills p.
 */
int ds_proc_start(ds_proc_t *p, const char *name, char *const argv[], char *const env[],
		  const char *logpath, ds_err_t *err);
/** Send a signal (no-op if it has exited). */
void ds_proc_signal(ds_proc_t *p, int sig);
/** Reap without blocking; true if it has exited. */
bool ds_proc_poll(ds_proc_t *p);
/** SIGTERM, wait up to grace_ms, then SIGKILL and reap. */
void ds_proc_stop(ds_proc_t *p, int grace_ms);
/** Stop every child still registered (SIGKILL after a short grace). */
void ds_procs_kill_all(void);
/** Number of registered children still running (tests: "none left"). */
int ds_procs_running(void);
/** Last lines of a child's log, for error messages. */
const char *ds_proc_tail(const ds_proc_t *p, char *buf, size_t len);
