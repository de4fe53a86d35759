/* SPDX-License-Identifier: MIT */
/**
 * \file net.h
 * \brief Socket addresses: parse "host:port" / "[v6]:port", format, compare.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "lib/common.h"

/** An IPv4 or IPv6 socket address. */
typedef union ds_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
} ds_sockaddr_t;

#define DS_ADDRSTR_MAX 64

/**
 * Parse "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53", ":53" (any address)
 * or "" (any address, default port). default_port is used when none is
 * given. No name resolution. Returns DS_OK or DS_EINVAL.
 */
int ds_addr_parse(const char *s, int default_port, ds_sockaddr_t *out);
/** Length of the address for bind()/connect(). */
socklen_t ds_addr_len(const ds_sockaddr_t *a);
int ds_addr_port(const ds_sockaddr_t *a);
void ds_addr_set_port(ds_sockaddr_t *a, int port);
int ds_addr_family(const ds_sockaddr_t *a);
/** True for 0.0.0.0 / :: */
bool ds_addr_is_any(const ds_sockaddr_t *a);
bool ds_addr_eq(const ds_sockaddr_t *a, const ds_sockaddr_t *b);
/** "1.2.3.4:53" or "[::1]:53" */
const char *ds_addr_str(const ds_sockaddr_t *a, char *buf, size_t len);
/** Host part only, IPv6 without brackets. */
const char *ds_addr_host(const ds_sockaddr_t *a, char *buf, size_t len);
/** Host part as CoreDNS prints {remote}: IPv6 in brackets. */
const char *ds_addr_host_bracketed(const ds_sockaddr_t *a, char *buf, size_t len);
/** Parse a bare IP (v4 or v6); returns AF_INET/AF_INET6 or 0. */
int ds_ip_parse(const char *s, uint8_t out[16]);

/** Set O_NONBLOCK. */
int ds_set_nonblock(int fd);
