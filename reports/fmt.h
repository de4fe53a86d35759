/* SPDX-License-Identifier: MIT */
/**
 * \file fmt.h
 * \brief Number formatting shared by the report subcommands: latencies
 *        with their unit, rates, RCODE names, timestamps.
 *
 * Every function writes into the caller's buffer and returns it, so calls
 * can sit inside one printf.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** A latency in ns as "312µs", "4.10ms", "1.20s" (3 significant digits); "-" for NAN or < 0. */
const char *ds_rfmt_lat(double ns, char *buf, size_t len);
/** A count with an SI suffix: "950", "12.3k", "1.20M"; "-" for NAN. */
const char *ds_rfmt_si(double v, char *buf, size_t len);
/** A percentage with two decimals ("99.95%"); "-" for NAN. */
const char *ds_rfmt_pct(double pct, char *buf, size_t len);
/** RCODE name: "NOERROR" ... "BADCOOKIE", "RCODE12", "other" for -1. */
const char *ds_rfmt_rcode(int rcode, char *buf, size_t len);
/** Wall ns as UTC "2026-11-25 22:38:08Z"; "-" for 0. */
const char *ds_rfmt_time(int64_t wall_ns, char *buf, size_t len);
/** A duration in ns as "30s", "1m30s", "250ms". */
const char *ds_rfmt_dur(int64_t ns, char *buf, size_t len);
/** Columns s takes on a terminal: UTF-8 characters, not bytes ("µs" is 2). */
int ds_rfmt_width(const char *s);
/** Print s padded with spaces to w columns, left- or right-aligned. */
void ds_rfmt_cell(FILE *f, const char *s, int w, bool left);
