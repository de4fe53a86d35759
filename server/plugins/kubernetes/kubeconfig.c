/* SPDX-License-Identifier: MIT */
/* API address and credentials: endpoint/tls, kubeconfig (libyaml), in-cluster. */
#include "server/plugins/kubernetes/kubeconfig.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "lib/clock.h"
#include "lib/log.h"

const char *ds_k8s_sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount";

void ds_k8s_conn_free(ds_k8s_conn_t *c)
{
	free(c->server);
	free(c->host);
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c->username);
	if (c->password)
		memset(c->password, 0, strlen(c->password));
	free(c->password);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	if (c->key_data)
		memset(c->key_data, 0, c->key_len);
	free(c->key_data);
	free(c->tls_server_name);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

int ds_k8s_base64(const char *in, uint8_t **out, size_t *len)
{
	size_t n = strlen(in);
	uint8_t *o = malloc(n / 4 * 3 + 4);
	if (!o)
		return DS_ENOMEM;
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;
	bool pad = false;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else if (c == '=') {
			pad = true;
			continue;
		} else if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		else {
			free(o);
			return DS_EINVAL;
		}
		if (pad) { /* data after padding */
			free(o);
			return DS_EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits >= 6) { /* one lone character: not base64 */
		free(o);
		return DS_EINVAL;
	}
	*out = o;
	*len = k;
	return DS_OK;
}

/* "host:port" of a URL's authority (default port by scheme). */
static char *host_of(const char *url)
{
	const char *p = strstr(url, "://");
	bool https = strncmp(url, "https", 5) == 0;
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	char buf[512];
	if (n >= sizeof(buf) - 8)
		n = sizeof(buf) - 8;
	memcpy(buf, p, n);
	buf[n] = '\0';
	/* a port already there (after a bracketed IPv6 address if any) */
	const char *close = strrchr(buf, ']');
	const char *colon = strrchr(close ? close : buf, ':');
	if (!colon)
		snprintf(buf + n, sizeof(buf) - n, ":%s", https ? "443" : "80");
	return strdup(buf);
}

static int set_server(ds_k8s_conn_t *c, const char *url, ds_err_t *err, const char *what)
{
	if (!url || !url[0])
		return ds_errf(err, DS_EINVAL, "%s: the API server address is empty", what);
	char *u;
	if (strstr(url, "://")) {
		if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
			return ds_errf(err, DS_EINVAL,
			               "%s: unsupported scheme in '%s' (http or https)", what, url);
		u = strdup(url);
	} else if (asprintf(&u, "https://%s", url) < 0) {
		u = NULL;
	}
	if (!u)
		return DS_ENOMEM;
	size_t n = strlen(u);
	while (n > 8 && u[n - 1] == '/')
		u[--n] = '\0';
	c->server = u;
	c->host = host_of(u);
	return c->host ? DS_OK : DS_ENOMEM;
}

static int readable(const char *path, ds_err_t *err, const char *what, const char *field)
{
	if (access(path, R_OK) == 0)
		return DS_OK;
	return ds_errf(err, DS_EINVAL, "%s: %s %s: %s", what, field, path, strerror(errno));
}

int ds_k8s_conn_endpoint(ds_k8s_conn_t *c, const char *url, const char *cert, const char *key,
                         const char *ca, ds_err_t *err)
{
	memset(c, 0, sizeof(*c));
	int rc = DS_ENOMEM;
	if (!(c->origin = strdup("endpoint")))
		goto fail;
	rc = set_server(c, url, err, "endpoint");
	if (rc < 0)
		goto fail;
	if (cert) {
		rc = readable(cert, err, "tls", "client certificate");
		if (rc < 0 || (rc = readable(key, err, "tls", "client key")) < 0 ||
		    (rc = readable(ca, err, "tls", "CA certificate")) < 0)
			goto fail;
		c->cert_file = strdup(cert);
		c->key_file = strdup(key);
		c->ca_file = strdup(ca);
		if (!c->cert_file || !c->key_file || !c->ca_file) {
			rc = DS_ENOMEM;
			goto fail;
		}
	}
	return DS_OK;
fail:
	ds_k8s_conn_free(c);
	return rc;
}

/* ------------------------------------------------------------- kubeconfig */

typedef struct kc {
	yaml_document_t doc;
	const char *path;
	char dir[4096];
	ds_err_t *err;
} kc_t;

static yaml_node_t *node(kc_t *k, int id)
{
	return id ? yaml_document_get_node(&k->doc, id) : NULL;
}

static bool scalar_is(yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && strlen(s) == n->data.scalar.length &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static yaml_node_t *map_get(kc_t *k, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_is(node(k, p->key), key))
			return node(k, p->value);
	return NULL;
}

/* A scalar as a string ("" for null or a non-scalar), malloc'd. */
static char *sval(yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *v = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!strcmp(v, "null") || !strcmp(v, "~") || !v[0]))
		return NULL;
	return strndup(v, n->data.scalar.length);
}

/* The entry named name in a list of {name, <field>: {...}}; its <field> map. */
static yaml_node_t *named(kc_t *k, const char *list, const char *field, const char *name)
{
	yaml_node_t *seq = map_get(k, yaml_document_get_root_node(&k->doc), list);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		yaml_node_t *e = node(k, *i);
		if (scalar_is(map_get(k, e, "name"), name)) {
			yaml_node_t *f = map_get(k, e, field);
			return f ? f : e; /* present but empty: an empty map */
		}
	}
	return NULL;
}

/* A path from the kubeconfig, relative to its directory. */
static char *kc_path(kc_t *k, const char *p)
{
	char *out;
	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", k->dir, p) < 0)
		return NULL;
	return out;
}

static int kc_file(kc_t *k, yaml_node_t *m, const char *field, const char *owner, char **out)
{
	char *v = sval(map_get(k, m, field));
	if (!v)
		return DS_OK;
	*out = kc_path(k, v);
	free(v);
	if (!*out)
		return DS_ENOMEM;
	if (access(*out, R_OK) != 0)
		return ds_errf(k->err, DS_EINVAL, "kubeconfig %s: %s: %s %s: %s", k->path, owner,
		               field, *out, strerror(errno));
	return DS_OK;
}

static int kc_data(kc_t *k, yaml_node_t *m, const char *field, const char *owner, uint8_t **out,
                   size_t *len)
{
	char *v = sval(map_get(k, m, field));
	if (!v)
		return DS_OK;
	int rc = ds_k8s_base64(v, out, len);
	free(v);
	if (rc == DS_EINVAL)
		return ds_errf(k->err, DS_EINVAL, "kubeconfig %s: %s: invalid base64 in %s",
		               k->path, owner, field);
	return rc;
}

int ds_k8s_conn_kubeconfig(ds_k8s_conn_t *c, const char *path, const char *context, ds_err_t *err)
{
	memset(c, 0, sizeof(*c));
	kc_t k = {.path = path, .err = err};
	yaml_parser_t parser;
	bool have_doc = false;
	char *ctxname = NULL, *cluster = NULL, *user = NULL, *s = NULL;
	char owner[300];
	int rc;
	FILE *f = fopen(path, "rb");
	if (!f)
		return ds_errf(err, DS_EINVAL, "kubeconfig %s: cannot read: %s", path,
		               strerror(errno));
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(k.dir, sizeof(k.dir), "%s", dirname(tmp));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &k.doc)) {
		rc = ds_errf(err, DS_EINVAL, "kubeconfig %s:%zu: not valid YAML: %s", path,
		             parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		fclose(f);
		return rc;
	}
	have_doc = true;
	yaml_parser_delete(&parser);
	fclose(f);
	yaml_node_t *root = yaml_document_get_root_node(&k.doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		rc = ds_errf(err, DS_EINVAL,
		             "kubeconfig %s: not a kubeconfig (no mapping at the top)", path);
		goto fail;
	}
	ctxname = context ? strdup(context) : sval(map_get(&k, root, "current-context"));
	if (!ctxname) {
		rc = ds_errf(err, DS_EINVAL,
		             "kubeconfig %s: current-context is not set and no context was given",
		             path);
		goto fail;
	}
	yaml_node_t *ctx = named(&k, "contexts", "context", ctxname);
	if (!ctx) {
		rc = ds_errf(err, DS_EINVAL, "kubeconfig %s: context \"%s\" not found in contexts",
		             path, ctxname);
		goto fail;
	}
	cluster = sval(map_get(&k, ctx, "cluster"));
	user = sval(map_get(&k, ctx, "user"));
	if (!cluster) {
		rc = ds_errf(err, DS_EINVAL, "kubeconfig %s: context \"%s\": cluster is not set",
		             path, ctxname);
		goto fail;
	}
	yaml_node_t *cl = named(&k, "clusters", "cluster", cluster);
	if (!cl) {
		rc = ds_errf(err, DS_EINVAL, "kubeconfig %s: cluster \"%s\" not found in clusters",
		             path, cluster);
		goto fail;
	}
	snprintf(owner, sizeof(owner), "cluster \"%s\"", cluster);
	s = sval(map_get(&k, cl, "server"));
	if (!s) {
		rc = ds_errf(err, DS_EINVAL, "kubeconfig %s: %s: server is not set", path, owner);
		goto fail;
	}
	char what[4200];
	snprintf(what, sizeof(what), "kubeconfig %s: %s: server", path, owner);
	if ((rc = set_server(c, s, err, what)) < 0)
		goto fail;
	if ((rc = kc_file(&k, cl, "certificate-authority", owner, &c->ca_file)) < 0 ||
	    (rc = kc_data(&k, cl, "certificate-authority-data", owner, &c->ca_data, &c->ca_len)) <
	        0)
		goto fail;
	free(s);
	s = sval(map_get(&k, cl, "insecure-skip-tls-verify"));
	c->insecure = s && !strcmp(s, "true");
	c->tls_server_name = sval(map_get(&k, cl, "tls-server-name"));
	if (user) {
		yaml_node_t *u = named(&k, "users", "user", user);
		if (!u) {
			rc = ds_errf(err, DS_EINVAL,
			             "kubeconfig %s: user \"%s\" not found in users", path, user);
			goto fail;
		}
		snprintf(owner, sizeof(owner), "user \"%s\"", user);
		if (map_get(&k, u, "exec") || map_get(&k, u, "auth-provider")) {
			rc = ds_errf(err, DS_EINVAL,
			             "kubeconfig %s: %s: exec and auth-provider credential plugins "
			             "are not supported by dnsurged; use a token, tokenFile or a "
			             "client certificate",
			             path, owner);
			goto fail;
		}
		c->token = sval(map_get(&k, u, "token"));
		c->username = sval(map_get(&k, u, "username"));
		c->password = sval(map_get(&k, u, "password"));
		if ((rc = kc_file(&k, u, "tokenFile", owner, &c->token_file)) < 0 ||
		    (rc = kc_file(&k, u, "client-certificate", owner, &c->cert_file)) < 0 ||
		    (rc = kc_file(&k, u, "client-key", owner, &c->key_file)) < 0 ||
		    (rc = kc_data(&k, u, "client-certificate-data", owner, &c->cert_data,
		                  &c->cert_len)) < 0 ||
		    (rc = kc_data(&k, u, "client-key-data", owner, &c->key_data, &c->key_len)) < 0)
			goto fail;
		if ((c->cert_file || c->cert_data) != (c->key_file || c->key_data)) {
			rc = ds_errf(err, DS_EINVAL,
			             "kubeconfig %s: %s: a client certificate needs a client key "
			             "and the other way round",
			             path, owner);
			goto fail;
		}
	}
	if (asprintf(&c->origin, "kubeconfig %s", path) < 0)
		c->origin = NULL;
	rc = DS_OK;
	goto out;
fail:
	ds_k8s_conn_free(c);
out:
	free(s);
	free(ctxname);
	free(cluster);
	free(user);
	if (have_doc)
		yaml_document_delete(&k.doc);
	return rc;
}

/* ------------------------------------------------------------- in-cluster */

int ds_k8s_conn_in_cluster(ds_k8s_conn_t *c, ds_err_t *err)
{
	memset(c, 0, sizeof(*c));
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !host[0] || !port || !port[0])
		return ds_errf(err, DS_EINVAL,
		               "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST "
		               "and KUBERNETES_SERVICE_PORT must be defined");
	char *url;
	if (asprintf(&url, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
		return DS_ENOMEM;
	int rc = set_server(c, url, err, "in-cluster");
	free(url);
	if (rc < 0)
		goto fail;
	rc = DS_ENOMEM;
	if (asprintf(&c->token_file, "%s/token", ds_k8s_sa_dir) < 0) {
		c->token_file = NULL;
		goto fail;
	}
	if (access(c->token_file, R_OK) != 0) {
		rc = ds_errf(err, DS_EINVAL,
		             "in-cluster: cannot read the service account token %s: %s",
		             c->token_file, strerror(errno));
		goto fail;
	}
	if (asprintf(&c->ca_file, "%s/ca.crt", ds_k8s_sa_dir) < 0) {
		c->ca_file = NULL;
		goto fail;
	}
	if (access(c->ca_file, R_OK) != 0) {
		/* client-go logs this and carries on with the system's roots */
		ds_plog(DS_LOG_ERROR, "kubernetes", "Expected to load root CA config from %s: %s",
		        c->ca_file, strerror(errno));
		free(c->ca_file);
		c->ca_file = NULL;
	}
	if (!(c->origin = strdup("in-cluster")))
		goto fail;
	return DS_OK;
fail:
	ds_k8s_conn_free(c);
	return rc;
}

const char *ds_k8s_conn_token(const ds_k8s_conn_t *c, char **buf, int64_t *read_ns)
{
	if (c->token)
		return c->token;
	if (!c->token_file)
		return NULL;
	int64_t now = ds_now_ns();
	if (*buf && now - *read_ns < 60 * DS_NS_PER_SEC)
		return *buf;
	FILE *f = fopen(c->token_file, "rb");
	if (!f)
		return *buf; /* keep the last one: the file is being rotated */
	char tmp[16384];
	size_t n = fread(tmp, 1, sizeof(tmp) - 1, f);
	fclose(f);
	while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r' || tmp[n - 1] == ' '))
		n--;
	tmp[n] = '\0';
	char *t = strdup(tmp);
	memset(tmp, 0, sizeof(tmp));
	if (!t)
		return *buf;
	if (*buf) {
		memset(*buf, 0, strlen(*buf));
		free(*buf);
	}
	*buf = t;
	*read_ns = now;
	return t;
}
