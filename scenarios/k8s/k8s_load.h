/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_load.h
 * \brief Reading Kubernetes objects from files shaped like
 *        `kubectl get -o json|yaml`: one object, a List (kind "List" or
 *        "ServiceList" and friends, whose items may lack kind/apiVersion),
 *        or multi-document YAML. JSON is parsed with cJSON, YAML with
 *        libyaml and converted to the same cJSON trees.
 *
 * YAML scalars are typed by the YAML 1.2 core schema (true/false, null/~,
 * integers, floats; everything else and every quoted scalar is a string),
 * so `yes`/`on` stay strings, unlike YAML 1.1 readers. Explicit tags are
 * ignored (a plain `!!str 80` is a number).
 */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/common.h"

/**
 * Called for each object found; obj is borrowed (the callback may modify
 * it but not keep it). where names the file and item for messages.
 * A non-zero return stops loading and is returned.
 */
typedef int (*ds_k8s_load_cb)(void *arg, cJSON *obj, const char *where);

/** Load path ("-" is stdin). JSON when the first non-blank byte is '{' or '['. */
int ds_k8s_load_file(const char *path, ds_k8s_load_cb cb, void *arg, ds_err_t *err);
/** Load from memory; name is used in messages. */
int ds_k8s_load_buf(const char *data, size_t len, const char *name, ds_k8s_load_cb cb, void *arg,
		    ds_err_t *err);
/** Parse YAML text (every document) into a JSON array of documents; NULL on error. */
cJSON *ds_k8s_yaml_parse(const char *data, size_t len, ds_err_t *err);
