/* SPDX-License-Identifier: MIT */
/* Meters: counters plus three histograms (meter.h). */
#include <string.h>

#include "loadgen/meter.h"

void ds_meter_init(ds_meter_t *m)
{
	memset(m, 0, sizeof(*m));
	ds_hist_init(&m->response);
	ds_hist_init(&m->service);
	ds_hist_init(&m->lag);
}

void ds_meter_free(ds_meter_t *m)
{
	ds_hist_free(&m->response);
	ds_hist_free(&m->service);
	ds_hist_free(&m->lag);
}

void ds_meter_reset(ds_meter_t *m)
{
	ds_hist_t r = m->response, s = m->service, l = m->lag;
	memset(m, 0, sizeof(*m));
	m->response = r;
	m->service = s;
	m->lag = l;
	ds_hist_reset(&m->response);
	ds_hist_reset(&m->service);
	ds_hist_reset(&m->lag);
}

int ds_meter_merge(ds_meter_t *d, const ds_meter_t *s)
{
	d->sent += s->sent;
	d->answered += s->answered;
	d->timeouts += s->timeouts;
	d->late += s->late;
	d->mismatched += s->mismatched;
	d->malformed += s->malformed;
	d->truncated += s->truncated;
	d->send_errors += s->send_errors;
	d->refused += s->refused;
	d->drops += s->drops;
	d->late_sends += s->late_sends;
	d->bytes_sent += s->bytes_sent;
	d->bytes_recv += s->bytes_recv;
	for (int i = 0; i < 16; i++)
		d->rcode[i] += s->rcode[i];
	d->conn_opened += s->conn_opened;
	d->conn_failed += s->conn_failed;
	int rc = ds_hist_merge(&d->response, &s->response);
	if (rc == DS_OK)
		rc = ds_hist_merge(&d->service, &s->service);
	if (rc == DS_OK)
		rc = ds_hist_merge(&d->lag, &s->lag);
	return rc;
}
