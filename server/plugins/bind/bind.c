/* SPDX-License-Identifier: MIT */
/*
 * bind ADDRESS|INTERFACE... [{ except ADDRESS... }]: listen only on these
 * addresses instead of every address. An interface name stands for all
 * its addresses. Setup-only: not in the query path.
 */
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>

#include "server/src/server.h"

static int add_iface(ds_plugin_t *p, ds_args_t *a, const char *name, int *found)
{
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs) < 0)
		return DS_OK;
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, name) != 0)
			continue;
		int fam = i->ifa_addr->sa_family;
		if (fam != AF_INET && fam != AF_INET6)
			continue;
		ds_sockaddr_t sa;
		memset(&sa, 0, sizeof(sa));
		memcpy(&sa, i->ifa_addr, fam == AF_INET ? sizeof(struct sockaddr_in)
							: sizeof(struct sockaddr_in6));
		if (fam == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&sa.in6.sin6_addr))
			continue; /* needs a scope; CoreDNS skips these too */
		ds_block_bind(p->block, &sa);
		(*found)++;
	}
	freeifaddrs(ifs);
	return DS_OK;
}

static int bind_setup(ds_plugin_t *p, ds_args_t *occ, size_t n)
{
	for (size_t o = 0; o < n; o++) {
		ds_args_t *a = &occ[o];
		ds_args_next(a);
		int count = 0;
		while (ds_args_next_arg(a)) {
			const char *v = ds_args_val(a);
			uint8_t ip[16];
			int fam = ds_ip_parse(v, ip);
			if (fam) {
				ds_sockaddr_t sa;
				ds_addr_parse(v, 0, &sa); /* a bare IP parses as host, port 0 */
				ds_block_bind(p->block, &sa);
				count++;
				continue;
			}
			int before = count;
			add_iface(p, a, v, &count);
			if (count == before)
				return ds_args_err(a, "not a valid IP address or interface name: '%s'", v);
		}
		if (count == 0)
			return ds_args_err_argcount(a);
		while (ds_args_next_block(a)) {
			/* except ADDRESS...: listen everywhere but there */
			if (strcmp(ds_args_val(a), "except") != 0)
				return ds_args_err(a, "unknown property '%s'", ds_args_val(a));
			while (ds_args_next_arg(a)) {
				ds_sockaddr_t ex;
				if (ds_addr_parse(ds_args_val(a), 0, &ex) < 0)
					return ds_args_err(a, "not a valid IP address: '%s'", ds_args_val(a));
				ds_block_t *b = p->block;
				for (size_t k = 0; k < b->nlisten;) {
					if (ds_addr_eq(&b->listen[k], &ex)) {
						b->listen[k] = b->listen[--b->nlisten];
						continue;
					}
					k++;
				}
			}
		}
	}
	return DS_OK;
}

DS_PLUGIN_DEFINE(bind) = {
	.abi = DS_PLUGIN_ABI,
	.name = "bind",
	.flags = 0,
	.setup = bind_setup,
};
