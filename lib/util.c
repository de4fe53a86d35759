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

/* u/div as an exact decimal without trailing zeros ("1.5", "90", "0.001")
 * followed by unit: Go's Duration.String() prints every digit. div is a
 * power of ten. */
static void fmt_exact(char *buf, size_t len, uint64_t u, uint64_t div, const char *unit)
{
	char f[24];
	size_t k = 0;
	uint64_t frac = u % div;
	if (frac) {
		f[k++] = '.';
		for (uint64_t d = div / 10; d >= 1 && k < sizeof(f) - 1; d /= 10)
			f[k++] = (char)('0' + frac / d % 10);
		while (f[k - 1] == '0')
			k--;
	}
	f[k] = '\0';
	snprintf(buf, len, "%llu%s%s", (unsigned long long)(u / div), f, unit);
}

const char *ds_fmt_duration(int64_t ns, char *buf, size_t len)
{
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	size_t o = 0;
	if (ns < 0 && len > 1) {
		buf[o++] = '-';
		buf[o] = '\0';
	}
	/* Magnitude without overflow for INT64_MIN. */
	uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	char *b = buf + o;
	size_t l = len - o;
	if (u < 1000) {
		snprintf(b, l, "%lluns", (unsigned long long)u);
	} else if (u < 1000000) {
		fmt_exact(b, l, u, 1000, "\xc2\xb5s");
	} else if (u < 1000000000) {
		fmt_exact(b, l, u, 1000000, "ms");
	} else {
		uint64_t h = u / 3600000000000ULL;
		uint64_t m = (u / 60000000000ULL) % 60;
		uint64_t sns = u % 60000000000ULL;
		int n = 0;
		if (h)
			n = snprintf(b, l, "%lluh%llum", (unsigned long long)h, (unsigned long long)m);
		else if (m)
			n = snprintf(b, l, "%llum", (unsigned long long)m);
		if ((size_t)n < l)
			fmt_exact(b + n, l - (size_t)n, sns, 1000000000, "s");
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
