/*
 * libvexil — the client API for Vexil's own code (vexilctl, the gateway,
 * the tests): the public header, include/vexil/vexil.h, with the internal
 * headers (common/common.h, wire/wire.h) its users inside the tree may
 * rely on. Programs outside the tree include <vexil/vexil.h> alone.
 */
#ifndef VEXIL_H
#define VEXIL_H

#include "common/common.h"
#include "vexil/vexil.h"
#include "wire/wire.h"

#endif
