/* SPDX-License-Identifier: MIT */
/**
 * \file log.h
 * \brief Logging in CoreDNS's line format: "[INFO] plugin/x: text".
 *
 * Lines go to stdout (as CoreDNS's do) in one write() each, so lines from
 * several threads never interleave. ds_log_set_quiet() silences INFO.
 */
#pragma once

#include "lib/common.h"

typedef enum {
	DS_LOG_DEBUG,
	DS_LOG_INFO,
	DS_LOG_WARNING,
	DS_LOG_ERROR,
	DS_LOG_FATAL,
} ds_log_level_t;

/** Log one line; FATAL logs and then exits the process with status 1. */
void ds_log(ds_log_level_t lvl, const char *fmt, ...) DS_PRINTF(2, 3);
/** Log one line prefixed with "plugin/<plugin>: ". */
void ds_plog(ds_log_level_t lvl, const char *plugin, const char *fmt, ...) DS_PRINTF(3, 4);
/** Lines below this level are dropped (default INFO). */
void ds_log_set_level(ds_log_level_t lvl);
/** Quiet mode: drop INFO and DEBUG (the -quiet flag). */
void ds_log_set_quiet(bool quiet);
/** Send log lines to fd instead of stdout (tests). */
void ds_log_set_fd(int fd);
/** Name of a level as printed: "INFO", "WARNING", ... */
const char *ds_log_level_name(ds_log_level_t lvl);
