/* version: the one version string of smp-agent, smp-collector and smpctl.
 *
 * Kept to this single #define line so the Makefile and packaging can read it
 * without a compiler:
 *   sed -n 's/^#define SMP_VERSION "\(.*\)"$/\1/p' common/version.h */
#ifndef SMP_VERSION_H
#define SMP_VERSION_H

#define SMP_VERSION "0.1.0"

#endif
