/*
 * libvexil — the change subscription and the live local cache, for
 * Vexil's own code: the public include/vexil/watch.h with the internal
 * headers of vexil_eval.h. Programs outside the tree include
 * <vexil/watch.h>.
 */
#ifndef VEXIL_WATCH_H
#define VEXIL_WATCH_H

#include "vexil/watch.h"
#include "vexil_eval.h"

#endif
