/* SPDX-License-Identifier: MIT */
#include "scenarios/k8s/k8s_patch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int merge_into(cJSON *target, const cJSON *patch, bool strategic)
{
	for (const cJSON *p = patch->child; p; p = p->next) {
		if (strategic && p->string[0] == '$')
			continue;
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
			continue;
		}
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);
		if (cJSON_IsObject(p)) {
			if (!cJSON_IsObject(t)) {
				cJSON *o = cJSON_CreateObject();
				if (!o)
					return DS_ENOMEM;
				if (t)
					cJSON_ReplaceItemInObjectCaseSensitive(target, p->string,
									       o);
				else
					cJSON_AddItemToObject(target, p->string, o);
				t = o;
			}
			int rc = merge_into(t, p, strategic);
			if (rc)
				return rc;
			continue;
		}
		cJSON *copy = cJSON_Duplicate(p, true);
		if (!copy)
			return DS_ENOMEM;
		if (t)
			cJSON_ReplaceItemInObjectCaseSensitive(target, p->string, copy);
		else
			cJSON_AddItemToObject(target, p->string, copy);
	}
	return DS_OK;
}

int ds_k8s_merge_patch(cJSON **target, const cJSON *patch, bool strategic)
{
	if (!cJSON_IsObject(patch)) {
		cJSON *copy = cJSON_Duplicate(patch, true);
		if (!copy)
			return DS_ENOMEM;
		cJSON_Delete(*target);
		*target = copy;
		return DS_OK;
	}
	if (!cJSON_IsObject(*target)) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			return DS_ENOMEM;
		cJSON_Delete(*target);
		*target = o;
	}
	return merge_into(*target, patch, strategic);
}

/* ---- JSON pointer (RFC 6901) ---- */

/* Decode one reference token (~1 -> '/', ~0 -> '~'). */
static char *ptr_token(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '~' && i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1')) {
			out[o++] = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	return out;
}

/* An array index token: digits only, no leading zero; -1 if not one. */
static long array_index(const char *tok)
{
	if (!*tok || (tok[0] == '0' && tok[1]))
		return -1;
	for (const char *p = tok; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	long v = strtol(tok, NULL, 10);
	return errno ? -1 : v;
}

/*
 * Resolve all but the last token of path: *parent gets the container and
 * *last the decoded last token (caller frees). path "" (the root) gives
 * parent NULL.
 */
static int resolve(cJSON *root, const char *path, cJSON **parent, char **last, ds_err_t *err)
{
	*parent = NULL;
	*last = NULL;
	if (!*path)
		return DS_OK;
	if (*path != '/')
		return ds_errf(err, DS_EINVAL, "invalid JSON pointer \"%s\"", path);
	cJSON *cur = root;
	const char *p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		char *tok = ptr_token(p, len);
		if (!tok)
			return DS_ENOMEM;
		if (!slash) {
			*parent = cur;
			*last = tok;
			return DS_OK;
		}
		cJSON *next = NULL;
		if (cJSON_IsObject(cur)) {
			next = cJSON_GetObjectItemCaseSensitive(cur, tok);
		} else if (cJSON_IsArray(cur)) {
			long i = array_index(tok);
			if (i >= 0)
				next = cJSON_GetArrayItem(cur, (int)i);
		}
		free(tok);
		if (!next)
			return ds_errf(err, DS_EINVAL, "path \"%s\" does not exist", path);
		cur = next;
		p = slash + 1;
	}
}

static cJSON *get_at(cJSON *root, const char *path, ds_err_t *err)
{
	cJSON *parent;
	char *last;
	if (resolve(root, path, &parent, &last, err))
		return NULL;
	if (!parent)
		return root;
	cJSON *v = NULL;
	if (cJSON_IsObject(parent)) {
		v = cJSON_GetObjectItemCaseSensitive(parent, last);
	} else if (cJSON_IsArray(parent)) {
		long i = array_index(last);
		if (i >= 0)
			v = cJSON_GetArrayItem(parent, (int)i);
	}
	free(last);
	if (!v)
		ds_errf(err, DS_EINVAL, "path \"%s\" does not exist", path);
	return v;
}

/* Detach the value at path; NULL (with err) when absent or the root. */
static cJSON *detach_at(cJSON *root, const char *path, ds_err_t *err)
{
	cJSON *parent;
	char *last;
	if (resolve(root, path, &parent, &last, err))
		return NULL;
	if (!parent) {
		ds_errf(err, DS_EINVAL, "cannot remove the document root");
		return NULL;
	}
	cJSON *v = NULL;
	if (cJSON_IsObject(parent)) {
		v = cJSON_DetachItemFromObjectCaseSensitive(parent, last);
	} else if (cJSON_IsArray(parent)) {
		long i = array_index(last);
		if (i >= 0 && i < cJSON_GetArraySize(parent))
			v = cJSON_DetachItemFromArray(parent, (int)i);
	}
	free(last);
	if (!v)
		ds_errf(err, DS_EINVAL, "path \"%s\" does not exist", path);
	return v;
}

/* Add (or with replace=true, replace) value at path; takes ownership of value. */
static int put_at(cJSON **root, const char *path, cJSON *value, bool replace, ds_err_t *err)
{
	cJSON *parent;
	char *last;
	int rc = resolve(*root, path, &parent, &last, err);
	if (rc) {
		cJSON_Delete(value);
		return rc;
	}
	if (!parent) {
		cJSON_Delete(*root);
		*root = value;
		return DS_OK;
	}
	rc = DS_OK;
	if (cJSON_IsObject(parent)) {
		bool exists = cJSON_GetObjectItemCaseSensitive(parent, last) != NULL;
		if (replace && !exists) {
			rc = ds_errf(err, DS_EINVAL, "path \"%s\" does not exist", path);
		} else if (exists) {
			cJSON_ReplaceItemInObjectCaseSensitive(parent, last, value);
			value = NULL;
		} else {
			cJSON_AddItemToObject(parent, last, value);
			value = NULL;
		}
	} else if (cJSON_IsArray(parent)) {
		int n = cJSON_GetArraySize(parent);
		long i = !replace && !strcmp(last, "-") ? n : array_index(last);
		if (i < 0 || i > n || (replace && i == n)) {
			rc = ds_errf(err, DS_EINVAL, "array index in \"%s\" is out of range", path);
		} else if (replace) {
			cJSON_ReplaceItemInArray(parent, (int)i, value);
			value = NULL;
		} else if (i == n) {
			cJSON_AddItemToArray(parent, value);
			value = NULL;
		} else {
			cJSON_InsertItemInArray(parent, (int)i, value);
			value = NULL;
		}
	} else {
		rc = ds_errf(err, DS_EINVAL, "path \"%s\": parent is not a container", path);
	}
	cJSON_Delete(value);
	free(last);
	return rc;
}

static int apply_op(cJSON **doc, const cJSON *op, ds_err_t *err)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "op"));
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "path"));
	const char *from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "from"));
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
	if (!name || !path)
		return ds_errf(err, DS_EINVAL, "JSON patch operation needs \"op\" and \"path\"");
	if (!strcmp(name, "add") || !strcmp(name, "replace")) {
		if (!value)
			return ds_errf(err, DS_EINVAL, "\"%s\" operation needs a value", name);
		cJSON *v = cJSON_Duplicate(value, true);
		if (!v)
			return DS_ENOMEM;
		return put_at(doc, path, v, name[0] == 'r', err);
	}
	if (!strcmp(name, "remove")) {
		cJSON *v = detach_at(*doc, path, err);
		if (!v)
			return DS_EINVAL;
		cJSON_Delete(v);
		return DS_OK;
	}
	if (!strcmp(name, "test")) {
		cJSON *v = get_at(*doc, path, err);
		if (!v)
			return DS_EINVAL;
		if (!value || !cJSON_Compare(v, value, true))
			return ds_errf(err, DS_EINVAL, "test operation failed at \"%s\"", path);
		return DS_OK;
	}
	if (!strcmp(name, "move") || !strcmp(name, "copy")) {
		if (!from)
			return ds_errf(err, DS_EINVAL, "\"%s\" operation needs \"from\"", name);
		cJSON *v;
		if (name[0] == 'm') {
			size_t fl = strlen(from);
			if (!strncmp(path, from, fl) && path[fl] == '/')
				return ds_errf(err, DS_EINVAL, "cannot move \"%s\" into itself",
					       from);
			v = detach_at(*doc, from, err);
		} else {
			cJSON *src = get_at(*doc, from, err);
			v = src ? cJSON_Duplicate(src, true) : NULL;
		}
		if (!v)
			return DS_EINVAL;
		return put_at(doc, path, v, false, err);
	}
	return ds_errf(err, DS_EINVAL, "unknown JSON patch operation \"%s\"", name);
}

int ds_k8s_json_patch(cJSON **target, const cJSON *ops, ds_err_t *err)
{
	if (!cJSON_IsArray(ops))
		return ds_errf(err, DS_EINVAL, "a JSON patch must be an array of operations");
	/* Work on a copy so a failing operation leaves the target untouched. */
	cJSON *doc = cJSON_Duplicate(*target, true);
	if (!doc)
		return DS_ENOMEM;
	for (const cJSON *op = ops->child; op; op = op->next) {
		int rc = apply_op(&doc, op, err);
		if (rc) {
			cJSON_Delete(doc);
			return rc;
		}
	}
	cJSON_Delete(*target);
	*target = doc;
	return DS_OK;
}
