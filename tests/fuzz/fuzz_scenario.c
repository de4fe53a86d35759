/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target "scenario": the scenario parser (scenarios/scenario.h),
 * which reads `dnsurge run` files: sections, durations, rates and ramps,
 * events, thresholds, on top of the Corefile lexer.
 *
 * ds_scn_parse() takes a path (a scenario names files relative to its own
 * folder and is stored with its run as read), so each input is written to
 * a scratch file on tmpfs and parsed from there; ds_scn_parse() itself is
 * left exactly as the runner uses it.
 *
 * Checked beyond crashes: a refusal comes with a "file:line - cause"
 * message; an accepted scenario has a server, at least one load phase,
 * phases with positive durations and no negative rates, events inside
 * the run, and the file text kept as read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scenario.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512];
	/* Imports resolve next to the scratch file; nothing may reach out
	 * of its folder (ds_fuzz_import_escapes()). */
	if (ds_fuzz_import_escapes(data, size) ||
	    ds_fuzz_write("fuzz.scn", data, size, path, sizeof(path)) < 0)
		return 0;
	ds_err_t err = {{0}};
	ds_scn_t *s = ds_scn_parse(path, &err);
	if (!s) {
		DS_FUZZ_CHECK(err.msg[0] != '\0');
		return 0;
	}
	DS_FUZZ_CHECK(s->text != NULL);
	/* Text up to the first NUL is what the lexer saw. */
	DS_FUZZ_CHECK(strncmp(s->text, (const char *)data, strnlen(s->text, size)) == 0);
	DS_FUZZ_CHECK(s->load.nphases >= 1);
	DS_FUZZ_CHECK(s->server.cf.path || s->server.cf.inline_text);
	DS_FUZZ_CHECK(s->nups <= DS_SCN_MAX_UPSTREAMS);
	int64_t total = 0;
	for (size_t i = 0; i < s->load.nphases; i++) {
		const ds_scn_phase_t *p = &s->load.phases[i];
		DS_FUZZ_CHECK(p->name != NULL);
		DS_FUZZ_CHECK(p->dur_ns > 0);
		DS_FUZZ_CHECK(p->r0 >= 0 && p->r1 >= 0);
		DS_FUZZ_CHECK(total <= INT64_MAX - p->dur_ns);
		total += p->dur_ns;
	}
	DS_FUZZ_CHECK(ds_scn_duration(s) == total);
	for (size_t i = 0; i < s->nevents; i++) {
		DS_FUZZ_CHECK(s->events[i].at_ns >= 0 && s->events[i].at_ns <= total);
		DS_FUZZ_CHECK(s->events[i].every_ns >= 0);
	}
	for (size_t i = 0; i < s->nth; i++)
		DS_FUZZ_CHECK(s->th[i].op[0] != '\0');
	ds_scn_upstream_count(s);
	ds_scn_free(s);
	return 0;
}
