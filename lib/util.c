/* SPDX-License-Identifier: MIT */
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ds_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	if (!s || !*s)
		return DS_EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return DS_EINVAL;
	*out = v;
	return DS_OK;
}

int ds_parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return DS_EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno)
		return DS_EINVAL;
	*out = v;
	return DS_OK;
}

int ds_parse_duration(const char *s, int64_t *ns)
{
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	if (strcmp(p, "0") == 0) {
		*ns = 0;
		return DS_OK;
	}
	if (!*p)
		return DS_EINVAL;
	double total = 0;
	while (*p) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return DS_EINVAL;
		char *end;
		double v = strtod(p, &end);
		if (end == p)
			return DS_EINVAL;
		p = end;
		double mult;
		if (strncmp(p, "ns", 2) == 0) {
			mult = 1;
			p += 2;
		} else if (strncmp(p, "us", 2) == 0) {
			mult = 1e3;
			p += 2;
		} else if (strncmp(p, "\xc2\xb5s", 3) == 0) {
			mult = 1e3;
			p += 3;
		} else if (strncmp(p, "ms", 2) == 0) {
			mult = 1e6;
			p += 2;
		} else if (*p == 's') {
			mult = 1e9;
			p++;
		} else if (*p == 'm') {
			mult = 60e9;
			p++;
		} else if (*p == 'h') {
			mult = 3600e9;
			p++;
		} else {
			return DS_EINVAL; /* missing unit */
		}
		total += v * mult;
	}
	if (total > 9.2e18)
		return DS_EINVAL;
	*ns = (int64_t)(total + 0.5) * (neg ? -1 : 1);
	return DS_OK;
}

const char *ds_fmt_duration(int64_t ns, char *buf, size_t len)
{
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	const char *sign = ns < 0 ? "-" : "";
	uint64_t u = (uint64_t)(ns < 0 ? -ns : ns);
	if (u < 1000) {
		snprintf(buf, len, "%s%lluns", sign, (unsigned long long)u);
	} else if (u < 1000000) {
		snprintf(buf, len, "%s%gus", sign, (double)u / 1e3);
	} else if (u < 1000000000) {
		snprintf(buf, len, "%s%gms", sign, (double)u / 1e6);
	} else {
		uint64_t h = u / 3600000000000ULL;
		uint64_t m = (u / 60000000000ULL) % 60;
		double s = (double)(u % 60000000000ULL) / 1e9;
		if (h)
			snprintf(buf, len, "%s%lluh%llum%gs", sign, (unsigned long long)h,
				 (unsigned long long)m, s);
		else if (m)
			snprintf(buf, len, "%s%llum%gs", sign, (unsigned long long)m, s);
		else
			snprintf(buf, len, "%s%gs", sign, s);
	}
	return buf;
}

const char *ds_fmt_seconds(int64_t ns, char *buf, size_t len)
{
	/* Exact decimal of ns/1e9 without trailing zeros, like Go's
	 * strconv.FormatFloat(d.Seconds(), 'f', -1, 64) for ns values. */
	long long sec = ns / 1000000000LL;
	long long frac = ns % 1000000000LL;
	if (frac < 0)
		frac = -frac;
	if (frac == 0) {
		snprintf(buf, len, "%lld", sec);
		return buf;
	}
	char f[16];
	snprintf(f, sizeof(f), "%09lld", frac);
	size_t n = strlen(f);
	while (n > 0 && f[n - 1] == '0')
		f[--n] = '\0';
	snprintf(buf, len, "%s%lld.%s", (ns < 0 && sec == 0) ? "-" : "", sec, f);
	return buf;
}
