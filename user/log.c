// SPDX-License-Identifier: GPL-2.0
/* log.c - verbosity shared by every module (-v). */
#include "log.h"

int rcl_verbose;
