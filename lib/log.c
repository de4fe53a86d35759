/* SPDX-License-Identifier: MIT */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ds_log_level_t log_min = DS_LOG_INFO;
static int log_fd = STDOUT_FILENO;

void ds_log_set_level(ds_log_level_t lvl)
{
	log_min = lvl;
}

void ds_log_set_quiet(bool quiet)
{
	log_min = quiet ? DS_LOG_WARNING : DS_LOG_INFO;
}

void ds_log_set_fd(int fd)
{
	log_fd = fd;
}

const char *ds_log_level_name(ds_log_level_t lvl)
{
	static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "FATAL"};
	return lvl <= DS_LOG_FATAL ? names[lvl] : "?";
}

static void vlog(ds_log_level_t lvl, const char *plugin, const char *fmt, va_list ap)
{
	if (lvl < log_min && lvl != DS_LOG_FATAL)
		return;
	char line[2048];
	int n = snprintf(line, sizeof(line), "[%s] ", ds_log_level_name(lvl));
	if (plugin)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "plugin/%s: ", plugin);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line keeps concurrent lines whole. */
	ssize_t w = write(log_fd, line, len);
	(void)w;
	if (lvl == DS_LOG_FATAL)
		exit(1);
}

void ds_log(ds_log_level_t lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}

void ds_plog(ds_log_level_t lvl, const char *plugin, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, plugin, fmt, ap);
	va_end(ap);
}
