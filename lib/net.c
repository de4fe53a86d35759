/* SPDX-License-Identifier: MIT */
#include "lib/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int *port)
{
	char *end;
	if (!*s)
		return DS_EINVAL;
	long v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 65535)
		return DS_EINVAL;
	*port = (int)v;
	return DS_OK;
}

int ds_addr_parse(const char *s, int default_port, ds_sockaddr_t *out)
{
	char host[128];
	int port = default_port;
	memset(out, 0, sizeof(*out));
	const char *colon;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || (size_t)(rb - s - 1) >= sizeof(host))
			return DS_EINVAL;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		if (rb[1] == ':') {
			if (parse_port(rb + 2, &port) < 0)
				return DS_EINVAL;
		} else if (rb[1]) {
			return DS_EINVAL;
		}
	} else if ((colon = strchr(s, ':')) && !strchr(colon + 1, ':')) {
		/* exactly one colon: host:port (host may be empty) */
		if ((size_t)(colon - s) >= sizeof(host))
			return DS_EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (parse_port(colon + 1, &port) < 0)
			return DS_EINVAL;
	} else {
		if (strlen(s) >= sizeof(host))
			return DS_EINVAL;
		strcpy(host, s);
	}
	if (port < 0 || port > 65535)
		return DS_EINVAL;
	if (host[0] == '\0') {
		/* Any address: IPv6 wildcard accepts IPv4 too (dual-stack). */
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_addr = in6addr_any;
		out->in6.sin6_port = htons((uint16_t)port);
		return DS_OK;
	}
	if (inet_pton(AF_INET, host, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		out->in4.sin_port = htons((uint16_t)port);
		return DS_OK;
	}
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons((uint16_t)port);
		return DS_OK;
	}
	return DS_EINVAL;
}

int ds_ip_parse(const char *s, uint8_t out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	return 0;
}

socklen_t ds_addr_len(const ds_sockaddr_t *a)
{
	return a->sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6);
}

int ds_addr_port(const ds_sockaddr_t *a)
{
	return ntohs(a->sa.sa_family == AF_INET ? a->in4.sin_port : a->in6.sin6_port);
}

void ds_addr_set_port(ds_sockaddr_t *a, int port)
{
	if (a->sa.sa_family == AF_INET)
		a->in4.sin_port = htons((uint16_t)port);
	else
		a->in6.sin6_port = htons((uint16_t)port);
}

int ds_addr_family(const ds_sockaddr_t *a)
{
	return a->sa.sa_family;
}

bool ds_addr_is_any(const ds_sockaddr_t *a)
{
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_addr.s_addr == htonl(INADDR_ANY);
	return memcmp(&a->in6.sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}

bool ds_addr_eq(const ds_sockaddr_t *a, const ds_sockaddr_t *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
}

const char *ds_addr_host(const ds_sockaddr_t *a, char *buf, size_t len)
{
	if (a->sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->in4.sin_addr, buf, (socklen_t)len);
	else if (a->sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "?");
	return buf;
}

const char *ds_addr_host_bracketed(const ds_sockaddr_t *a, char *buf, size_t len)
{
	if (a->sa.sa_family != AF_INET6)
		return ds_addr_host(a, buf, len);
	char h[INET6_ADDRSTRLEN];
	ds_addr_host(a, h, sizeof(h));
	snprintf(buf, len, "[%s]", h);
	return buf;
}

const char *ds_addr_str(const ds_sockaddr_t *a, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];
	ds_addr_host(a, h, sizeof(h));
	if (a->sa.sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%d", h, ds_addr_port(a));
	else
		snprintf(buf, len, "%s:%d", h, ds_addr_port(a));
	return buf;
}

int ds_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return DS_OK;
}
