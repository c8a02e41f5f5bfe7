/*
 * Vexil — a service's options from its environment.
 *
 * Every option --NAME of vexild and vexil-gateway can also be set as
 * VEXIL_NAME in the environment: upper-cased, with '-' as '_' (--data is
 * VEXIL_DATA, --max-conns VEXIL_MAX_CONNS, --no-sync VEXIL_NO_SYNC). So a
 * service manager or a container needs no wrapper script. The command line
 * wins: the options found in the environment are put before the real
 * arguments, and the last of an option is the one that counts.
 */
#ifndef VX_ENVOPTS_H
#define VX_ENVOPTS_H

#include <stddef.h>

#include "common/common.h"

/* The variable for an option: "max-conns" gives "VEXIL_MAX_CONNS" in out. */
void vx_envopts_name(char *out, size_t cap, const char *option);

/*
 * Builds the command line the binary then parses: argv[0], then
 * "--NAME VALUE" for each option of spec whose variable is set and not
 * empty, then argv[1..]. spec lists the options, space-separated, a
 * trailing '=' on those that take a value ("data= rpc= no-sync"); an
 * option that takes none is set by any value but 0, false, no or off.
 * @param[out] out_argc, out_argv  the new line; it lives until the
 *             process exits (or the next call) and is freed then.
 * @return 0, or VX_ENOMEM.
 */
int vx_envopts_argv(
    const char *spec, int argc, char **argv, int *out_argc, char ***out_argv) VX_MUST_USE;

#endif
