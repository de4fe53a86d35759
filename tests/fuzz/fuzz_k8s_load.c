/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "k8s_load": how the Kubernetes API simulator loads objects
 * (`dnsurge k8s-sim --load FILE`): scenarios/k8s/k8s_load.h reads JSON
 * (one object, a List, an array) or multi-document YAML through libyaml
 * into cJSON trees, and each object goes into a fresh store as k8s-sim
 * loads it (ds_k8s_store_load: kind lookup, metadata filled in, cluster
 * IPs assigned), then the store is sealed and listed.
 *
 * Input: file contents, JSON or YAML (the loader decides by the first
 * non-blank byte). Checked beyond crashes: a refusal comes with a
 * message; every listed object is JSON that parses back, of its
 * resource, with a resourceVersion inside its text; LIST counts match
 * the store's counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/k8s/k8s_load.h"
#include "scenarios/k8s/k8s_store.h"
#include "tests/fuzz/fuzz.h"

static int load_one(void *arg, cJSON *obj, const char *where)
{
	DS_FUZZ_CHECK(obj != NULL && where != NULL);
	ds_err_t e = {{0}};
	int rc = ds_k8s_store_load(arg, obj, &e);
	/* Unknown kinds are skipped by k8s-sim; invalid objects stop it. */
	if (rc == DS_ENOENT)
		return DS_OK;
	DS_FUZZ_CHECK(rc == DS_OK || rc == DS_EINVAL || rc == DS_ENOMEM);
	DS_FUZZ_CHECK(rc == DS_OK || e.msg[0] != '\0');
	return rc;
}

static void check_list(ds_k8s_store_t *st, ds_k8s_res_t res)
{
	ds_k8s_listopts_t lo = {.limit = 0};
	ds_k8s_list_t l;
	ds_k8s_status_t status;
	int rc = ds_k8s_store_list(st, res, &lo, &l, &status);
	DS_FUZZ_CHECK(rc == DS_OK);
	DS_FUZZ_CHECK(l.n == ds_k8s_store_count(st, res));
	for (size_t i = 0; i < l.n; i++) {
		const ds_k8s_obj_t *o = l.items[i];
		DS_FUZZ_CHECK(o->res == res);
		DS_FUZZ_CHECK(o->rv_off + o->rv_len <= o->len && o->rv_len > 0);
		cJSON *j = ds_k8s_obj_parse(o);
		DS_FUZZ_CHECK(cJSON_IsObject(j));
		cJSON_Delete(j);
	}
	ds_k8s_list_release(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ds_k8s_store_opts_t so = {.history = 64, .seed = 1};
	ds_k8s_store_t *st = ds_k8s_store_new(&so);
	if (!st)
		return 0;
	ds_err_t err = {{0}};
	int rc = ds_k8s_load_buf((const char *)data, size, "fuzz.json", load_one, st, &err);
	if (rc == DS_OK) {
		size_t dups = 0;
		DS_FUZZ_CHECK(ds_k8s_store_seal(st, &dups, &err) == DS_OK);
		for (int r = 0; r < DS_K8S_NRES; r++)
			check_list(st, (ds_k8s_res_t)r);
	} else {
		/* The loader's own errors carry a message; a callback's code is passed on. */
		DS_FUZZ_CHECK(rc < 0);
	}
	ds_k8s_store_free(st);
	return 0;
}
