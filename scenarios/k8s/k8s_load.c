/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_load.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deeper YAML than this is not a Kubernetes object; stop before the stack does. */
#define MAX_DEPTH 200

static bool all_digits(const char *s, int base)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (base == 16  ? !isxdigit((unsigned char)*s)
		    : base == 8 ? (*s < '0' || *s > '7')
				: !isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

/* A plain scalar typed as the YAML 1.2 core schema does. */
static cJSON *plain_scalar(const char *v)
{
	if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	    !strcmp(v, "NULL"))
		return cJSON_CreateNull();
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		return cJSON_CreateTrue();
	if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		return cJSON_CreateFalse();
	const char *d = v + (*v == '-' || *v == '+');
	if (all_digits(d, 10))
		return cJSON_CreateNumber(strtod(v, NULL));
	if (!strncmp(v, "0x", 2) && all_digits(v + 2, 16))
		return cJSON_CreateNumber((double)strtoull(v + 2, NULL, 16));
	if (!strncmp(v, "0o", 2) && all_digits(v + 2, 8))
		return cJSON_CreateNumber((double)strtoull(v + 2, NULL, 8));
	/* Floats: [-+]digits[.digits][e[-+]digits], or .digits */
	const char *p = d;
	bool digits = false;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits = true;
		}
	}
	if (digits && (*p == 'e' || *p == 'E')) {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!isdigit((unsigned char)*p))
			return cJSON_CreateString(v);
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (digits && !*p && strchr(v, '.'))
		return cJSON_CreateNumber(strtod(v, NULL));
	if (digits && !*p && (strchr(v, 'e') || strchr(v, 'E')))
		return cJSON_CreateNumber(strtod(v, NULL));
	return cJSON_CreateString(v);
}

static cJSON *convert(yaml_document_t *doc, yaml_node_t *node, int depth, ds_err_t *err)
{
	if (depth > MAX_DEPTH) {
		ds_errf(err, DS_EINVAL, "YAML nested too deeply (or a recursive alias)");
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		const char *v = (const char *)node->data.scalar.value;
		/* libyaml's loader tags every untagged scalar !!str, so an explicit
		 * tag cannot be told apart: the style alone decides. */
		if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return cJSON_CreateString(v);
		return plain_scalar(v);
	}
	case YAML_SEQUENCE_NODE: {
		cJSON *a = cJSON_CreateArray();
		if (!a)
			return NULL;
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			cJSON *c = convert(doc, yaml_document_get_node(doc, *it), depth + 1, err);
			if (!c) {
				cJSON_Delete(a);
				return NULL;
			}
			cJSON_AddItemToArray(a, c);
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			return NULL;
		for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
		     pr < node->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(doc, pr->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				ds_errf(err, DS_EINVAL, "line %lu: mapping keys must be scalars",
					(unsigned long)node->start_mark.line + 1);
				cJSON_Delete(o);
				return NULL;
			}
			cJSON *v =
			    convert(doc, yaml_document_get_node(doc, pr->value), depth + 1, err);
			if (!v) {
				cJSON_Delete(o);
				return NULL;
			}
			const char *key = (const char *)k->data.scalar.value;
			/* Later keys win, as Go's YAML decoders do for duplicates. */
			if (cJSON_GetObjectItemCaseSensitive(o, key))
				cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
			else
				cJSON_AddItemToObject(o, key, v);
		}
		return o;
	}
	default:
		return cJSON_CreateNull();
	}
}

cJSON *ds_k8s_yaml_parse(const char *data, size_t len, ds_err_t *err)
{
	yaml_parser_t p;
	cJSON *docs = cJSON_CreateArray();
	if (!docs || !yaml_parser_initialize(&p)) {
		cJSON_Delete(docs);
		ds_errf(err, DS_ENOMEM, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	for (;;) {
		yaml_document_t doc;
		if (!yaml_parser_load(&p, &doc)) {
			ds_errf(err, DS_EINVAL, "line %lu: %s",
				(unsigned long)p.problem_mark.line + 1,
				p.problem ? p.problem : "YAML syntax error");
			goto fail;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break; /* end of stream */
		}
		bool empty = root->type == YAML_SCALAR_NODE && !root->data.scalar.length &&
			     root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		cJSON *j = empty ? NULL : convert(&doc, root, 0, err);
		yaml_document_delete(&doc);
		if (empty)
			continue; /* "---" with nothing after it */
		if (!j)
			goto fail;
		cJSON_AddItemToArray(docs, j);
	}
	yaml_parser_delete(&p);
	return docs;
fail:
	yaml_parser_delete(&p);
	cJSON_Delete(docs);
	return NULL;
}

/* "ServiceList" -> "Service": items of a typed list carry no kind. */
static void item_kind(const char *list_kind, char *out, size_t len)
{
	size_t n = strlen(list_kind);
	if (n > 4 && !strcmp(list_kind + n - 4, "List") && strcmp(list_kind, "List"))
		snprintf(out, len, "%.*s", (int)(n - 4), list_kind);
	else
		out[0] = 0;
}

static int visit(cJSON *o, const char *name, int idx, ds_k8s_load_cb cb, void *arg, ds_err_t *err)
{
	char where[512];
	if (!cJSON_IsObject(o))
		return ds_errf(err, DS_EINVAL, "%s: document %d is not an object", name, idx + 1);
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "kind"));
	cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items");
	if (kind && cJSON_IsArray(items) && strlen(kind) >= 4 &&
	    !strcmp(kind + strlen(kind) - 4, "List")) {
		char ik[128];
		item_kind(kind, ik, sizeof(ik));
		const char *av =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "apiVersion"));
		int i = 0;
		cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			if (ik[0] && cJSON_IsObject(it)) {
				if (!cJSON_GetObjectItemCaseSensitive(it, "kind"))
					cJSON_AddStringToObject(it, "kind", ik);
				if (av && !cJSON_GetObjectItemCaseSensitive(it, "apiVersion"))
					cJSON_AddStringToObject(it, "apiVersion", av);
			}
			snprintf(where, sizeof(where), "%s: item %d", name, i);
			int rc = visit(it, where, i, cb, arg, err);
			if (rc)
				return rc;
			i++;
		}
		return DS_OK;
	}
	snprintf(where, sizeof(where), "%s", name);
	return cb(arg, o, where);
}

int ds_k8s_load_buf(const char *data, size_t len, const char *name, ds_k8s_load_cb cb, void *arg,
		    ds_err_t *err)
{
	size_t i = 0;
	while (i < len && isspace((unsigned char)data[i]))
		i++;
	cJSON *docs;
	if (i < len && (data[i] == '{' || data[i] == '[')) {
		const char *end = NULL;
		cJSON *j = cJSON_ParseWithLengthOpts(data, len, &end, false);
		if (!j) {
			const char *at = cJSON_GetErrorPtr();
			size_t off = at && at >= data && at <= data + len ? (size_t)(at - data) : 0;
			return ds_errf(err, DS_EINVAL, "%s: invalid JSON near byte %zu", name, off);
		}
		if (cJSON_IsArray(j)) {
			docs = j;
		} else {
			docs = cJSON_CreateArray();
			cJSON_AddItemToArray(docs, j);
		}
	} else {
		ds_err_t e;
		docs = ds_k8s_yaml_parse(data, len, &e);
		if (!docs)
			return ds_errf(err, DS_EINVAL, "%s: %s", name, e.msg);
	}
	int rc = DS_OK, idx = 0, ndocs = cJSON_GetArraySize(docs);
	cJSON *d;
	cJSON_ArrayForEach(d, docs)
	{
		char where[300];
		if (ndocs > 1)
			snprintf(where, sizeof(where), "%s: document %d", name, idx + 1);
		else
			snprintf(where, sizeof(where), "%s", name);
		if ((rc = visit(d, where, idx++, cb, arg, err)))
			break;
	}
	cJSON_Delete(docs);
	return rc;
}

int ds_k8s_load_file(const char *path, ds_k8s_load_cb cb, void *arg, ds_err_t *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return ds_errf(err, DS_ENOENT, "%s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return ds_errf(err, DS_ENOMEM, "%s: out of memory", path);
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	bool bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad) {
		free(buf);
		return ds_errf(err, DS_EIO, "%s: read error", path);
	}
	int rc = ds_k8s_load_buf(buf, len, path, cb, arg, err);
	free(buf);
	return rc;
}
