/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "k8s_watch": the kubernetes plugin's decoding of what the
 * API sends, from JSON objects to the view's records
 * (server/plugins/kubernetes/objects.h: ds_k8s_apply) and the copy-on-write
 * view that publishes them (view.h), as the watcher thread drives them.
 *
 * Input: a stream of JSON values, one after another as a watch stream
 * sends them, each one of
 *  - a watch event {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
 *    "object": {...}}: applied as the client applies events;
 *  - a list {"items": [...]}: a relist (begin_list, upserts, sweep);
 *  - anything else: upserted as a single object.
 * An object's "kind" (a list's: "ServiceList") picks the resource;
 * without a known kind it is taken as the resource of the watch it would
 * have come from (the value's position in the stream), so any shape
 * reaches every converter. The
 * store is published after each value. The client's streaming splitter,
 * which cuts these values out of the bytes, is target k8s_stream.
 *
 * Checked beyond crashes: malformed objects are skipped, never an error;
 * publishing always succeeds and leaves nothing pending.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/plugins/kubernetes/labels.h"
#include "server/plugins/kubernetes/objects.h"
#include "server/plugins/kubernetes/view.h"
#include "tests/fuzz/fuzz.h"

static ds_k8s_selector_t *labels;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* A selector, so that objects that stop matching are deleted. */
	char err[256];
	if (ds_k8s_selector_parse("!fuzz-skip,tier notin (hidden)", &labels, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_k8s_watch: selector: %s\n", err);
		abort();
	}
	return 0;
}

static void on_latency(void *arg, int kind, int64_t trigger_ns)
{
	DS_FUZZ_CHECK(kind == DS_K8S_LAT_CLUSTER_IP || kind == DS_K8S_LAT_HEADLESS);
}

static int kind_of(const cJSON *obj, unsigned n)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	int kind = ds_k8s_kind_from_str(cJSON_IsString(k) ? k->valuestring : NULL);
	return kind >= 0 ? kind : (int)(n % DS_K8S_NKINDS);
}

static void apply(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, int kind, bool del,
		  const cJSON *obj)
{
	bool skipped = false;
	int rc = ds_k8s_apply(s, o, kind, del, obj, on_latency, NULL, &skipped);
	/* Only running out of memory may fail: bad objects are skipped. */
	DS_FUZZ_CHECK(rc == DS_OK || rc == DS_ENOMEM);
}

static void value(ds_k8s_store_t *s, const ds_k8s_objopts_t *o, const cJSON *v, unsigned n)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(v, "object");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(v, "items");
	if (cJSON_IsString(type) && obj) {
		const char *t = type->valuestring;
		if (!strcmp(t, "ERROR") || !strcmp(t, "BOOKMARK"))
			return;
		apply(s, o, kind_of(obj, n), !strcmp(t, "DELETED"), obj);
	} else if (cJSON_IsArray(items)) {
		/* "ServiceList" and friends name the resource listed. */
		const cJSON *lk = cJSON_GetObjectItemCaseSensitive(v, "kind");
		char k[32] = "";
		size_t kl = cJSON_IsString(lk) ? strlen(lk->valuestring) : 0;
		if (kl > 4 && kl < sizeof(k) && !strcmp(lk->valuestring + kl - 4, "List")) {
			memcpy(k, lk->valuestring, kl - 4);
			k[kl - 4] = '\0';
		}
		int kind = ds_k8s_kind_from_str(k);
		if (kind < 0)
			kind = (int)(n % DS_K8S_NKINDS);
		ds_k8s_store_begin_list(s, kind);
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
			apply(s, o, kind, false, it);
		int rc = ds_k8s_store_sweep(s, kind);
		DS_FUZZ_CHECK(rc == DS_OK || rc == DS_ENOMEM);
	} else {
		apply(s, o, kind_of(v, n), false, v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* cJSON wants a terminated buffer even with a length. */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ds_k8s_store_t *s = ds_k8s_store_new(2);
	if (!s) {
		free(text);
		return 0;
	}
	const ds_k8s_objopts_t o = {
	    .endpoint_pod_names = (size & 1) != 0, /* both ways over the corpus */
	    .endpoints = true,
	    .pods = true,
	    .labels = labels,
	    .ns_labels = labels,
	};
	const char *p = text, *end = text + size;
	for (unsigned n = 0; p < end && n < 1000; n++) {
		const char *next = NULL;
		cJSON *v = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &next, false);
		if (!v)
			break; /* the client gives up on a malformed stream too */
		value(s, &o, v, n);
		cJSON_Delete(v);
		DS_FUZZ_CHECK(ds_k8s_store_publish(s) == DS_OK);
		DS_FUZZ_CHECK(!ds_k8s_store_pending(s));
		DS_FUZZ_CHECK(next && next > p && next <= end);
		p = next;
	}
	DS_FUZZ_CHECK(ds_k8s_store_view(s) != NULL);
	ds_k8s_store_free(s);
	free(text);
	return 0;
}
