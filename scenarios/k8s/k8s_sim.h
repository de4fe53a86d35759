/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_sim.h
 * \brief `dnsurge k8s-sim`: the simulated Kubernetes API server scenarios
 *        point dnsurged's kubernetes plugin at. See docs/K8S-SIM.md.
 */
#pragma once

/**
 * The verb: argv[0] is "k8s-sim". Runs until SIGINT or SIGTERM and
 * returns 0; 2 for usage, configuration and input errors; 1 when the
 * server cannot start.
 */
int ds_k8s_sim_main(int argc, char **argv);
