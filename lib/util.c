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
		/* Digits, an optional dot, digits; at least one digit. Go takes
		 * no sign, exponent or hex inside, so strtod alone would accept
		 * "1e3s" and "0x10s" that CoreDNS refuses. */
		const char *num = p;
		size_t digits = 0;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits++;
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				p++;
				digits++;
			}
		}
		if (digits == 0)
			return DS_EINVAL;
		double v = strtod(num, NULL);
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

/* prefix, then u/div as an exact decimal without trailing zeros ("1.5",
 * "90", "0.001"), then unit: Go prints every digit of a duration and of
 * its seconds. div is a power of ten up to 1e9. */
static const char *fmt_exact(char *buf, size_t len, const char *prefix, uint64_t u, uint64_t div,
                             const char *unit)
{
	char f[16];
	size_t k = 0;
	uint64_t frac = u % div;
	if (frac) {
		f[k++] = '.';
		for (uint64_t d = div / 10; d >= 1; d /= 10)
			f[k++] = (char)('0' + frac / d % 10);
		while (f[k - 1] == '0')
			k--;
	}
	f[k] = '\0';
	snprintf(buf, len, "%s%llu%s%s", prefix, (unsigned long long)(u / div), f, unit);
	return buf;
}

/* |ns|, also for INT64_MIN. */
static uint64_t magnitude(int64_t ns)
{
	return ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
}

const char *ds_fmt_duration(int64_t ns, char *buf, size_t len)
{
	const char *sign = ns < 0 ? "-" : "";
	uint64_t u = magnitude(ns);
	if (u == 0)
		return fmt_exact(buf, len, "", 0, 1, "s");
	if (u < 1000)
		return fmt_exact(buf, len, sign, u, 1, "ns");
	if (u < 1000000)
		return fmt_exact(buf, len, sign, u, 1000, "\xc2\xb5s");
	if (u < 1000000000)
		return fmt_exact(buf, len, sign, u, 1000000, "ms");
	uint64_t h = u / 3600000000000ULL;
	uint64_t m = (u / 60000000000ULL) % 60;
	char pre[48];
	if (h)
		snprintf(pre, sizeof(pre), "%s%lluh%llum", sign, (unsigned long long)h,
		         (unsigned long long)m);
	else if (m)
		snprintf(pre, sizeof(pre), "%s%llum", sign, (unsigned long long)m);
	else
		snprintf(pre, sizeof(pre), "%s", sign);
	return fmt_exact(buf, len, pre, u % 60000000000ULL, 1000000000, "s");
}

const char *ds_fmt_seconds(int64_t ns, char *buf, size_t len)
{
	/* Like Go's strconv.FormatFloat(d.Seconds(), 'f', -1, 64) for ns values. */
	return fmt_exact(buf, len, ns < 0 ? "-" : "", magnitude(ns), 1000000000, "");
}

char *ds_join_words(const char *first, const char *const *v, size_t n)
{
	size_t len = (first ? strlen(first) : 0) + 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	char *p = s;
	*p = '\0';
	if (first)
		p = stpcpy(p, first);
	for (size_t i = 0; i < n; i++) {
		if (p != s)
			*p++ = ' ';
		p = stpcpy(p, v[i]);
	}
	return s;
}
