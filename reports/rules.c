/* SPDX-License-Identifier: MIT */
#include "reports/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/util.h"

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(d, yaml_document_get_node(d, p->key));
		if (k && !strcmp(k, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static int kv_list(yaml_document_t *d, yaml_node_t *m, ds_rule_kv_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!m || m->type != YAML_MAPPING_NODE)
		return DS_OK;
	size_t cap = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	if (!cap)
		return DS_OK;
	*out = calloc(cap, sizeof(**out));
	if (!*out)
		return DS_ENOMEM;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(d, yaml_document_get_node(d, p->key));
		const char *v = scalar(d, yaml_document_get_node(d, p->value));
		if (!k || !v)
			continue;
		(*out)[*n].key = strdup(k);
		(*out)[*n].value = strdup(v);
		if (!(*out)[*n].key || !(*out)[*n].value) {
			free((*out)[*n].key);
			free((*out)[*n].value);
			return DS_ENOMEM;
		}
		(*n)++;
	}
	return DS_OK;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int ds_rules_load(const char *path, ds_rules_t *out, ds_err_t *err)
{
	yaml_parser_t p;
	yaml_document_t d;
	bool have_doc = false;
	int rc;

	memset(out, 0, sizeof(*out));
	out->path = strdup(path);
	FILE *f = fopen(path, "rb");
	if (!f)
		return ds_errf(err, errno == ENOENT ? DS_ENOENT : -errno, "%s: %s", path,
		               strerror(errno));
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &d)) {
		rc = ds_errf(err, DS_EINVAL, "%s:%zu: %s", path, p.problem_mark.line + 1,
		             p.problem ? p.problem : "YAML error");
		goto out;
	}
	have_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&d);
	yaml_node_t *groups = map_get(&d, root, "groups");
	if (!groups || groups->type != YAML_SEQUENCE_NODE) {
		rc = ds_errf(err, DS_EINVAL, "%s: no 'groups:' list: not a Prometheus rule file",
		             path);
		goto out;
	}
	for (yaml_node_item_t *g = groups->data.sequence.items.start;
	     g < groups->data.sequence.items.top; g++) {
		yaml_node_t *gn = yaml_document_get_node(&d, *g);
		const char *gname = scalar(&d, map_get(&d, gn, "name"));
		yaml_node_t *rules = map_get(&d, gn, "rules");
		if (!rules || rules->type != YAML_SEQUENCE_NODE)
			continue;
		for (yaml_node_item_t *r = rules->data.sequence.items.start;
		     r < rules->data.sequence.items.top; r++) {
			yaml_node_t *rn = yaml_document_get_node(&d, *r);
			yaml_node_t *en = map_get(&d, rn, "expr");
			const char *alert = scalar(&d, map_get(&d, rn, "alert"));
			const char *record = scalar(&d, map_get(&d, rn, "record"));
			const char *expr = scalar(&d, en);
			const char *forv = scalar(&d, map_get(&d, rn, "for"));
			int line = (int)rn->start_mark.line + 1;
			if (!expr || (!alert && !record)) {
				rc = ds_errf(err, DS_EINVAL,
				             "%s:%d: a rule needs 'expr' and 'alert' or "
				             "'record'",
				             path, line);
				goto out;
			}
			ds_rule_t *nr = realloc(out->r, (out->n + 1) * sizeof(*nr));
			if (!nr) {
				rc = ds_errf(err, DS_ENOMEM, "out of memory");
				goto out;
			}
			out->r = nr;
			ds_rule_t *x = &out->r[out->n++];
			memset(x, 0, sizeof(*x));
			x->group = dup_or_null(gname ? gname : "");
			x->alert = dup_or_null(alert);
			x->record = dup_or_null(record);
			x->expr = dup_or_null(expr);
			x->line = line;
			x->expr_line = (int)en->start_mark.line + 1;
			if (forv && ds_parse_duration(forv, &x->for_ns) < 0) {
				rc = ds_errf(err, DS_EINVAL, "%s:%d: for: '%s' is not a duration",
				             path, line, forv);
				goto out;
			}
			if (kv_list(&d, map_get(&d, rn, "labels"), &x->labels, &x->nlabels) < 0 ||
			    kv_list(&d, map_get(&d, rn, "annotations"), &x->annotations,
			            &x->nannotations) < 0 ||
			    !x->group || !x->expr) {
				rc = ds_errf(err, DS_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	rc = DS_OK;
out:
	if (have_doc)
		yaml_document_delete(&d);
	yaml_parser_delete(&p);
	fclose(f);
	return rc;
}

static void kv_free(ds_rule_kv_t *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void ds_rules_free(ds_rules_t *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		ds_rule_t *r = &rs->r[i];
		free(r->group);
		free(r->alert);
		free(r->record);
		free(r->expr);
		kv_free(r->labels, r->nlabels);
		kv_free(r->annotations, r->nannotations);
	}
	free(rs->r);
	free(rs->path);
	memset(rs, 0, sizeof(*rs));
}

const char *ds_rule_annotation(const ds_rule_t *r, const char *key)
{
	for (size_t i = 0; i < r->nannotations; i++)
		if (!strcmp(r->annotations[i].key, key))
			return r->annotations[i].value;
	for (size_t i = 0; i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}
