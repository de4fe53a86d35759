/* SPDX-License-Identifier: MIT */
/* Process-wide settings and requests to the control loop, kept out of
 * main.c so plugins and unit tests link without the program. */
#include "server/src/server.h"

ds_opts_t ds_opts = {.dns_port = 53};

static atomic_bool reload_requested;

void ds_server_request_reload(void)
{
	atomic_store(&reload_requested, true);
	if (ds_workers)
		ds_worker_wake(ds_control_worker());
}

bool ds_server_take_reload(void)
{
	return atomic_exchange(&reload_requested, false);
}
