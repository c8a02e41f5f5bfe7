/*
 * Vexil — evaluation records: counted and logged without ever waiting.
 *
 * An evaluation pushes one record into a bounded lock-free queue (a
 * Vyukov MPMC ring of 128-byte slots, a record taking one to four
 * consecutive ones; the flusher is its only consumer). When the queue is
 * full the record is dropped and counted, so an evaluation never blocks
 * and never allocates. A flusher thread drains the queue every half second
 * (sooner when it is half full) and writes it, 1,024 records a
 * transaction: the per (project, day, environment, flag, variant) counts,
 * aggregated in memory first, and the recent-evaluation log, trimmed to
 * the newest records per project. A flush counts each project's records
 * before it writes, and logs only those that its trim keeps, so a busy
 * project costs `keep` log writes per flush, not one per evaluation.
 */
#ifndef VX_EVALREC_H
#define VX_EVALREC_H

#include <stdint.h>

#include "store/store.h"

typedef struct vx_evalrec vx_evalrec;

/*
 * @param capacity  queue slots, rounded up to a power of two.
 * @param keep      recent records kept per project.
 */
int vx_evalrec_start(vx_evalrec **out, vx_store *s, size_t capacity, size_t keep)
    VX_MUST_USE;
/* Flushes what is queued and stops the flusher. */
void vx_evalrec_stop(vx_evalrec *r);

/*
 * Queues one record; never blocks. Strings are copied (and truncated).
 * kind is VX_COUNT_EVALUATION or VX_COUNT_EXPOSURE; only evaluations go
 * to the recent log, both are counted.
 */
void vx_evalrec_push(vx_evalrec *r, int kind, uint64_t project_id, const char *env,
    const char *flag, const char *variant, const char *reason, const char *user_id);
/*
 * Queues n evaluations of one variant that a client counted itself and
 * reported in aggregate (EdgeEvalRecord.count: Unleash SDK metrics): one
 * slot, counted as n, never in the recent log. Never blocks.
 */
void vx_evalrec_push_count(vx_evalrec *r, uint64_t project_id, const char *env,
    const char *flag, const char *variant, uint64_t n);
/* Records dropped because the queue was full, since start. */
uint64_t vx_evalrec_dropped(vx_evalrec *r);
/* Waits until everything queued before the call has been written. */
void vx_evalrec_flush(vx_evalrec *r);

#endif
