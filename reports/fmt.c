/* SPDX-License-Identifier: MIT */
#include "reports/fmt.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#include "lib/util.h"
#include "lib/wire.h"

/* Three significant digits keep columns narrow and match the 0.78 %
 * resolution of the histograms: more digits would be noise. */
static const char *sig3(double v, const char *unit, char *buf, size_t len)
{
	int prec = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;
	snprintf(buf, len, "%.*f%s", prec, v, unit);
	return buf;
}

const char *ds_rfmt_lat(double ns, char *buf, size_t len)
{
	if (isnan(ns) || ns < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (ns < 999.5)
		return sig3(ns, "ns", buf, len);
	if (ns < 999.5e3)
		return sig3(ns / 1e3, "µs", buf, len);
	if (ns < 999.5e6)
		return sig3(ns / 1e6, "ms", buf, len);
	return sig3(ns / 1e9, "s", buf, len);
}

const char *ds_rfmt_si(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "-");
		return buf;
	}
	double a = fabs(v);
	if (a < 999.5)
		snprintf(buf, len, a < 10 && v != floor(v) ? "%.2f" : "%.0f", v);
	else if (a < 999.5e3)
		sig3(v / 1e3, "k", buf, len);
	else if (a < 999.5e6)
		sig3(v / 1e6, "M", buf, len);
	else
		sig3(v / 1e9, "G", buf, len);
	return buf;
}

const char *ds_rfmt_pct(double pct, char *buf, size_t len)
{
	if (isnan(pct))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f%%", pct);
	return buf;
}

const char *ds_rfmt_rcode(int rcode, char *buf, size_t len)
{
	char tmp[16];
	if (rcode < 0) {
		snprintf(buf, len, "other");
		return buf;
	}
	const char *s = ds_rcode_str((unsigned)rcode, tmp);
	if (s[0] >= '0' && s[0] <= '9')
		snprintf(buf, len, "RCODE%s", s);
	else
		snprintf(buf, len, "%s", s);
	return buf;
}

const char *ds_rfmt_time(int64_t wall_ns, char *buf, size_t len)
{
	if (!wall_ns) {
		snprintf(buf, len, "-");
		return buf;
	}
	time_t t = (time_t)(wall_ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

const char *ds_rfmt_dur(int64_t ns, char *buf, size_t len)
{
	/* Whole seconds print as Go durations; fractions keep one decimal. */
	if (ns >= 1000000000LL && ns % 1000000000LL)
		ns = (ns + 50000000) / 100000000 * 100000000;
	return ds_fmt_duration(ns, buf, len);
}

int ds_rfmt_width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80; /* continuation bytes take no column */
	return w;
}

void ds_rfmt_cell(FILE *f, const char *s, int w, bool left)
{
	int pad = w - ds_rfmt_width(s);
	if (!left)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
	fputs(s, f);
	if (left)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
}
