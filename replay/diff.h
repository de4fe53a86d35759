/* SPDX-License-Identifier: MIT */
/**
 * \file diff.h
 * \brief Answer diffs of `dnsurge replay --diff`: is the target's answer
 *        the one expected (the capture's response, or a second server's)?
 *
 * Two responses to the same query are compared on respdiff's criteria:
 *
 * - rcode: the header RCODE with the EDNS extended bits;
 * - flags: QR AA TC RD RA AD CD (Z and the opcode are not compared);
 * - answer, authority, additional: each section as a set of records,
 *   order ignored; owner names and the names inside NS, CNAME, PTR,
 *   DNAME, MX, SOA, SRV, KX, RT, AFSDB, PX and NAPTR data are compared
 *   expanded (compression ignored) and without case; TTLs are ignored
 *   unless ds_diff_opts_t.ttl. OPT and TSIG are not part of the
 *   additional section here (EDNS is the transport's business);
 * - no_answer: one side answered and the other did not (timeout).
 *
 * A pair that differs counts once in `different` and once in every class
 * it differs in. A summary (ds_diff_sum_t) keeps the counts and the first
 * few examples of each class as short text (question, expected, got);
 * summaries of several threads merge.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/common.h"
#include "replay/rewrite.h"

/** Mismatch classes; bit (1 << class) in ds_diff_compare()'s result. */
typedef enum ds_diff_class {
	DS_DIFF_RCODE = 0,
	DS_DIFF_FLAGS,
	DS_DIFF_ANSWER,
	DS_DIFF_AUTHORITY,
	DS_DIFF_ADDITIONAL,
	DS_DIFF_NO_ANSWER,
	DS_DIFF_NCLASS,
} ds_diff_class_t;

typedef struct ds_diff_opts {
	bool ttl;                   /**< compare TTLs too */
	/** Rewrite the expected side's names first (capture diffs of a
	 * replay with --rewrite-zone); NULL = none. Borrowed. */
	const ds_rewrite_t *expected_rw;
} ds_diff_opts_t;

/** Growable scratch memory for comparisons (one per thread). */
typedef struct ds_diff_scratch {
	uint8_t *buf;
	size_t cap;
	size_t *off;
	size_t offcap;
} ds_diff_scratch_t;

/** Free a scratch's memory (it stays usable). */
void ds_diff_scratch_free(ds_diff_scratch_t *s);

/**
 * Compare expected with got. Returns the bitmask of classes that differ
 * (0 = equivalent), or DS_EMALF when either message cannot be parsed
 * (records running past the end, bad names), DS_ENOMEM.
 */
int ds_diff_compare(const uint8_t *exp, size_t elen, const uint8_t *got, size_t glen,
		    const ds_diff_opts_t *o, ds_diff_scratch_t *s);

/** One example of a class, short text. */
typedef struct ds_diff_example {
	char *question;  /**< "www.example.com. A" */
	char *expected;  /**< the expected side of that class, e.g. "NOERROR" */
	char *got;       /**< the target's side */
} ds_diff_example_t;

/** Counts and examples. */
typedef struct ds_diff_sum {
	uint64_t compared;     /**< pairs looked at (at least one side answered) */
	uint64_t equal;        /**< equivalent on every criterion */
	uint64_t different;    /**< differing in at least one class */
	uint64_t malformed;    /**< one side could not be parsed */
	uint64_t count[DS_DIFF_NCLASS];
	uint64_t no_answer_got;      /**< no_answer: the target did not answer */
	uint64_t no_answer_expected; /**< no_answer: the capture / other server did not */
	uint64_t both_silent;        /**< neither side answered (not compared) */
	unsigned max_examples;       /**< kept per class */
	unsigned nex[DS_DIFF_NCLASS];
	ds_diff_example_t *ex[DS_DIFF_NCLASS];
	ds_diff_scratch_t scratch;
} ds_diff_sum_t;

/** Start an empty summary keeping up to max_examples per class. */
void ds_diff_sum_init(ds_diff_sum_t *s, unsigned max_examples);
/** Free the examples and the scratch. */
void ds_diff_sum_free(ds_diff_sum_t *s);

/**
 * Compare and account one pair; exp or got NULL means that side did not
 * answer. Returns the class mask as ds_diff_compare() (DS_EMALF counted
 * as malformed), DS_ENOMEM.
 */
int ds_diff_add(ds_diff_sum_t *s, const uint8_t *exp, size_t elen, const uint8_t *got,
		size_t glen, const ds_diff_opts_t *o);
/** dst += src: counts add, examples are kept up to dst's limit. DS_ENOMEM. */
int ds_diff_merge(ds_diff_sum_t *dst, const ds_diff_sum_t *src);

/** Name of a class as printed and in JSON: "rcode", "flags", ... "no_answer". */
const char *ds_diff_class_name(int c);
/**
 * The summary as a JSON object (docs/REPLAY.md): mode, counts, and per
 * class {count, examples: [{question, expected, got}]}. NULL on ENOMEM.
 * mode is "capture" or "server" (it is copied).
 */
cJSON *ds_diff_json(const ds_diff_sum_t *s, const char *mode);
/** Print the summary as text. */
void ds_diff_print(FILE *f, const ds_diff_sum_t *s, const char *mode);
