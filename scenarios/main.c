/* SPDX-License-Identifier: MIT */
/*
 * dnsurge: the toolkit's one program. Each verb lives in its own folder
 * as a library exposing ds_<verb>_main(); a verb whose library is not
 * linked in yet is a weak NULL symbol and says so.
 */
#include <stdio.h>
#include <string.h>

#include "lib/common.h"

int ds_load_main(int argc, char **argv) __attribute__((weak));
int ds_run_main(int argc, char **argv) __attribute__((weak));
int ds_replay_main(int argc, char **argv) __attribute__((weak));
int ds_report_main(int argc, char **argv) __attribute__((weak));
int ds_k8s_sim_main(int argc, char **argv) __attribute__((weak));

static const struct verb {
	const char *name;
	const char *help;
} verbs[] = {
	{"run", "run a surge scenario: servers, upstreams, load, faults, thresholds"},
	{"load", "open-loop synthetic load against a DNS server"},
	{"replay", "replay pcap captures against a server and diff the answers"},
	{"report", "show, compare, plot and export stored results"},
	{"k8s-sim", "simulated Kubernetes API server for scenarios"},
};

static int (*verb_fn(const char *name))(int, char **)
{
	if (!strcmp(name, "run"))
		return ds_run_main;
	if (!strcmp(name, "load"))
		return ds_load_main;
	if (!strcmp(name, "replay"))
		return ds_replay_main;
	if (!strcmp(name, "report"))
		return ds_report_main;
	if (!strcmp(name, "k8s-sim"))
		return ds_k8s_sim_main;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dnsurge VERB [options]   (dnsurge VERB --help for a verb's options)\n\nverbs:\n");
	for (size_t i = 0; i < DS_ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-8s %s%s\n", verbs[i].name, verbs[i].help,
			verb_fn(verbs[i].name) ? "" : " (not built yet)");
	fprintf(f, "\n  version  print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *v = argv[1];
	if (!strcmp(v, "-h") || !strcmp(v, "--help") || !strcmp(v, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(v, "version") || !strcmp(v, "--version") || !strcmp(v, "-version")) {
		printf("dnsurge %s\n", DS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < DS_ARRAY_SIZE(verbs); i++) {
		if (strcmp(v, verbs[i].name))
			continue;
		int (*fn)(int, char **) = verb_fn(v);
		if (!fn) {
			fprintf(stderr, "dnsurge: '%s' is not built into this version yet\n", v);
			return 2;
		}
		return fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "dnsurge: unknown verb '%s'\n\n", v);
	usage(stderr);
	return 2;
}
