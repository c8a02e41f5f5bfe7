/*
 * Vexil — vexild internals shared by the dispatcher and the handlers.
 *
 * The dispatcher (server.c) turns each REQ message into a vx_call: it
 * unpacks the envelope into the worker's arena, finds the method in the
 * registry built from the generated service descriptors, authenticates the
 * credential, unpacks the input and invokes the generated service, whose
 * entries are the handlers in handlers_*.c. A handler validates, acts and
 * answers through the closure, like a Redis command: nothing else.
 */
#ifndef VX_SERVER_H
#define VX_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "auth/auth.h"
#include "common/arena.h"
#include "server/evalcache.h"
#include "server/evalrec.h"
#include "server/replymemo.h"
#include "store/store.h"
#include "vexil/v1/changes.pb-c.h"
#include "vexil/v1/edge.pb-c.h"
#include "vexil/v1/ops.pb-c.h"
#include "vexil/v1/schedule.pb-c.h"
#include "vexil/v1/service.pb-c.h"
#include "vexil/v1/teams.pb-c.h"
#include "wire/wire.h"

typedef struct vx_server_opts {
	const char *data_dir;
	const char *rpc_url;
	const char *pub_url;
	int workers;     /* REP contexts receiving requests */
	int max_conns;   /* connections per socket; more are closed */
	long rate_limit; /* per API key per minute; -1: default 100 */
	size_t max_msg;  /* NNG_OPT_RECVMAXSZ and the arena budget base */
	size_t map_size;
	size_t map_max;
	bool no_sync;
	bool quiet;             /* no per-request log line */
	size_t eval_buffer;     /* evaluation records queued before dropping */
	size_t eval_log_keep;   /* recent evaluations kept per project */
	size_t change_log_keep; /* change log entries kept per project */
	size_t audit_keep;      /* audit entries kept per project; 0: all */
	const char *tls_cert;   /* PEM certificate (chain) for tls+tcp:// URLs */
	const char *tls_key;    /* PEM private key for tls+tcp:// URLs */
	int hash_workers;       /* concurrent Argon2 hashes; 0: 2 (at most 64) */
	size_t hash_queue;      /* hashing requests waiting; 0: 64; more are
	                         * refused RESOURCE_EXHAUSTED */
} vx_server_opts;

typedef struct vx_server vx_server;
typedef struct vx_scheduler vx_scheduler;

/* Opens the store, bootstraps a fresh data dir, binds REP and PUB. */
int vx_server_start(vx_server **out, const vx_server_opts *opts) VX_MUST_USE;
/* Lets in-flight requests finish, then closes sockets and the store. */
void vx_server_stop(vx_server *srv);
/*
 * Readiness of the storage (store.h, vx_store_state): VX_STORE_OK, or the
 * fault that refuses writes now, with a sentence for an operator in why
 * (cap bytes). Reads are served in every state but a failed one where
 * LMDB itself gave up (why says so). Safe from any thread; a few syscalls.
 */
enum vx_store_state vx_server_storage(vx_server *srv, char *why, size_t cap);

/* One request being served. */
typedef struct vx_call {
	vx_server *srv;
	vx_store *store;
	vx_store_reader *reader; /* active when the handler is entered */
	vx_arena *arena;
	ProtobufCAllocator *alloc;
	const char *method;
	vx_principal who;
	vx_evalcache *cache;
	vx_evalrec *records;
	vx_snapshot *snap; /* held until the reply is packed */
	vx_status st;
	const ProtobufCMessage *out;
	/*
	 * The reply's payload already packed (out's type; out is then only a
	 * stand-in): stored bytes sent as they are, valid until the reader is
	 * released, which is after the reply is built. len 0: pack out.
	 */
	ProtobufCBinaryData out_packed;
	/*
	 * Change requests (changes.c). review: set while an approved request's
	 * write runs, which may then change protected environments if its flag
	 * did not change after the request's base revision. protected_*: set
	 * by a flag write that a protected environment stopped, so that
	 * vx_invoke stores it as a change request; protected_diff: what that
	 * write would have changed (vx_flag_diff's lines).
	 */
	const struct vx_review *review;
	const char *protected_env, *protected_diff;
	uint64_t protected_project, protected_base;
	/*
	 * A long-poll that found nothing new sets park_ms (and the project it
	 * waits on) and answers as usual: unless woken is set, the dispatcher
	 * then holds the request until a commit to that project or park_ms,
	 * and serves it again with woken set, answering what it finds then.
	 */
	uint32_t park_ms;
	uint64_t park_project;
	bool woken;
	/* What the slot learnt in this snapshot (readmemo.h); NULL: none. */
	struct vx_readmemo *memo;
	/*
	 * Changes replies shared by the calls asking the same (replymemo.h):
	 * a handler that finds one sets packed (in the call's arena), which
	 * is sent as the whole reply; one that builds its own sets sharing
	 * and share, and the dispatcher keeps the packed reply under share.
	 */
	vx_replymemo *replies;
	const uint8_t *packed;
	size_t packed_len;
	bool sharing;
	vx_replykey share;
} vx_call;

/* The change request whose approved write a call is making. */
struct vx_review {
	uint64_t id;
	uint64_t base_revision;
	const char *approver; /* actor; NULL: approved before, audited then */
};

/* The generated services, initialised with the handlers. */
extern Vexil__V1__ProjectService_Service vx_project_service;
extern Vexil__V1__EnvironmentService_Service vx_environment_service;
extern Vexil__V1__FlagService_Service vx_flag_service;
extern Vexil__V1__RuleService_Service vx_rule_service;
extern Vexil__V1__KeyService_Service vx_key_service;
extern Vexil__V1__AuditService_Service vx_audit_service;
extern Vexil__V1__EvaluationService_Service vx_evaluation_service;
extern Vexil__V1__WatchService_Service vx_watch_service;
extern Vexil__V1__UserService_Service vx_user_service;
extern Vexil__V1__AdminService_Service vx_admin_service;
extern Vexil__V1__AuthService_Service vx_auth_service;
extern Vexil__V1__EdgeService_Service vx_edge_service;
extern Vexil__V1__MemberService_Service vx_member_service;
extern Vexil__V1__SegmentService_Service vx_segment_service;
extern Vexil__V1__OpsService_Service vx_ops_service;

/* The server's own figures, for OpsService/GetStats (handlers_ops.c). */
typedef struct vx_server_figures {
	uint32_t hash_queue_depth;    /* slow-lane requests waiting */
	uint32_t hash_queue_capacity; /* --hash-queue */
	uint64_t hash_refused_total;  /* refused because the lane was full */
	uint32_t subscribers;         /* pipes on the PUB socket */
	uint32_t rpc_connections;     /* pipes on the REP socket */
	uint64_t uptime_seconds;
} vx_server_figures;

void vx_server_figures_get(vx_server *srv, vx_server_figures *out);
extern Vexil__V1__ScheduleService_Service vx_schedule_service;
extern Vexil__V1__StaleService_Service vx_stale_service;
extern Vexil__V1__ChangeService_Service vx_change_service;

/*
 * Runs method m with input in as call c (whose reader is active): applies
 * the input's if_revision to the call's writes and invokes the handler,
 * which answers into c->st and c->out. The one way a request, or a
 * scheduled write, reaches a handler.
 */
void vx_invoke(vx_call *c, const vx_wire_method *m, ProtobufCMessage *in);
/* A registered method by its full name, or NULL. */
const vx_wire_method *vx_server_method(vx_server *srv, const char *name);
vx_scheduler *vx_server_scheduler(vx_server *srv);

/*
 * The scheduler (schedule.c): a thread that applies due schedules, the
 * overdue ones first, as ordinary writes. Start applies what is overdue
 * before it returns. Wake tells it a schedule was made. Stop waits for a
 * write in progress; NULL is fine.
 */
int vx_scheduler_start(vx_scheduler **out, vx_server *srv, vx_store *store,
    vx_evalcache *cache, vx_evalrec *records, bool quiet) VX_MUST_USE;
void vx_scheduler_wake(vx_scheduler *sch);
void vx_scheduler_stop(vx_scheduler *sch);

/*
 * Runs the write m with the packed input as c's caller, in c's arena,
 * with c's reader active. The outcome is in c->st (and c->out).
 */
int vx_run_stored(
    vx_call *c, const vx_wire_method *m, const ProtobufCBinaryData *payload) VX_MUST_USE;
/*
 * A schedule record (pending, at 0) of write m with input in, made by c's
 * caller in project_id, which in names by id from then on; in c's arena.
 */
int vx_schedule_record(vx_call *c, const vx_wire_method *m, ProtobufCMessage *in,
    uint64_t project_id, Vexil__V1__Schedule **out) VX_MUST_USE;
/* The schedules of a project the caller may read (changes: its change
 * requests instead), due first (change requests, with no time: by id). */
int vx_schedules_of(vx_call *c, const char *project, bool changes,
    Vexil__V1__Schedule ***out, size_t *n) VX_MUST_USE;

/*
 * Change requests (changes.c). vx_protect_before notes the state of f's
 * protected environments before a flag write changes f; vx_protect_after
 * then lets the write go on (an approved change request's, after its
 * stale check, or an admin API key's, audited as a bypass) or stops it,
 * setting c->protected_*. vx_change_open stores a stopped write as a
 * change request and answers the call with its id.
 */
struct vx_protect {
	size_t n;
	const char **env;
	ProtobufCBinaryData *before;
	const char *summary; /* the flag's before the write (flagdiff.h) */
};
int vx_protect_before(vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p,
    const Vexil__V1__Flag *f, struct vx_protect *g) VX_MUST_USE;
int vx_protect_after(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p,
    const Vexil__V1__Flag *f, const struct vx_protect *g) VX_MUST_USE;
/* The same for a DeleteFlag of f: every protected environment f has a
 * configuration in is changed. */
int vx_protect_delete(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p,
    const Vexil__V1__Flag *f, const struct vx_protect *g) VX_MUST_USE;
/* The same for a CreateFlag of f: a protected environment it starts
 * enabled in is changed (one it starts off in serves its off variant,
 * which needs no review). */
int vx_protect_create(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const Vexil__V1__Flag *f) VX_MUST_USE;
/*
 * The same for an Import that replaces flag old (NULL: creates) with f,
 * both prepared: an import is never held as a change request, so only an
 * admin API key may change a protected environment with one (audited as a
 * bypass); anyone else's import is refused, naming the environment.
 */
int vx_protect_import(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p,
    const Vexil__V1__Flag *old, const Vexil__V1__Flag *f) VX_MUST_USE;
void vx_change_open(vx_call *c, const vx_wire_method *m, ProtobufCMessage *in);
/*
 * When the write of call `stopped` was stopped by a protected environment,
 * makes schedule sc a change request (review set, awaiting review) and
 * returns 0; otherwise returns VX_ESTATE.
 */
int vx_change_review(vx_call *c, const vx_call *stopped, Vexil__V1__Schedule *sc);
/* Is sc a change request awaiting review (ChangeService's, not a
 * schedule)? An approved timed one is a schedule again. */
bool vx_schedule_in_review(const Vexil__V1__Schedule *sc);
/* AdminService/Import and Export (handlers_migrate.c). */
void vx_admin_import(Vexil__V1__AdminService_Service *svc,
    const Vexil__V1__ImportRequest *in, Vexil__V1__ImportReply_Closure closure,
    void *closure_data);
void vx_admin_export(Vexil__V1__AdminService_Service *svc,
    const Vexil__V1__ExportRequest *in, Vexil__V1__ExportReply_Closure closure,
    void *closure_data);

/* Requests per minute per API key for AuthService/Admit; 0: unlimited. */
void vx_rate_limit_set(uint32_t limit);
/*
 * Takes up to want requests from API key key_id's current window (a fixed
 * window of a minute, kept in memory) and fills rate: the limit, what is
 * left, when the window ends, and limited when fewer than want were left.
 * @return the number taken; want when there is no limit.
 */
uint32_t vx_rate_take(uint64_t key_id, uint32_t want, Vexil__V1__RateLimit *rate);

/*
 * Records a failure on the call and returns err. field and constraint may
 * be NULL. The status code comes from vx_code_from_err(err).
 */
int vx_fail(vx_call *c, int err, const char *field, const char *constraint,
    const char *fmt, ...) VX_PRINTF(5, 6);

/*
 * Answers the call: out on success (rc 0); otherwise the failure recorded
 * with vx_fail(), or a generic one for rc.
 */
void vx_reply(vx_call *c, int rc, const void *out, void *closure, void *closure_data);
#define VX_REPLY(c, rc, out) vx_reply((c), (rc), (out), (void *)closure, closure_data)

/*
 * Resolves a project reference (numeric id or name) in txn and checks
 * that the caller may act on it with role `need`. Records the failure.
 */
int vx_call_project(vx_call *c, MDB_txn *txn, const char *ref, Vexil__V1__Role need,
    Vexil__V1__Project **out) VX_MUST_USE;
/* Same as vx_call_project in the caller's read transaction. */
int vx_call_project_read(
    vx_call *c, const char *ref, Vexil__V1__Project **out) VX_MUST_USE;
/*
 * Same as vx_call_project_read, for a caller that only reads the project:
 * it may be shared with the slot's earlier requests in the same snapshot
 * (readmemo.h), and stays valid until the call ends or its next
 * vx_call_project_view.
 */
int vx_call_project_view(
    vx_call *c, const char *ref, const Vexil__V1__Project **out) VX_MUST_USE;

/*
 * A segment's own fields, and its conditions compiled by the engine; and
 * that every flag of p naming g still compiles with g as it is about to be
 * stored (handlers_segment.c).
 */
int vx_segment_check(vx_call *c, const Vexil__V1__Segment *g) VX_MUST_USE;
int vx_segment_users_compile(vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p,
    Vexil__V1__Segment *g) VX_MUST_USE;

/* ---- validation (validate.c) ---- */

/*
 * A key: 1..max bytes of UTF-8 letters and digits (any script), combining
 * marks, '_', '-' and '.', starting with a letter or digit, in NFC.
 */
int vx_check_key(vx_call *c, const char *field, const char *v, size_t max) VX_MUST_USE;
/* Printable text without control characters, at most max bytes; required
 * when min is 1. */
int vx_check_text(
    vx_call *c, const char *field, const char *v, size_t min, size_t max) VX_MUST_USE;
/* Every name in mask must be one of allowed (NULL-terminated). */
int vx_check_mask(
    vx_call *c, char **mask, size_t n, const char *const *allowed) VX_MUST_USE;
bool vx_mask_has(char **mask, size_t n, const char *name);

#define VX_KEY_MAX 128
#define VX_NAME_MAX 200
#define VX_DESC_MAX 2000
/* A flag's name is free text: the table API's name_flag is a long text
 * column (a 5000-character name is valid there). */
#define VX_FLAG_NAME_MAX 10000

/* Bootstraps a fresh data dir, and loads (or makes) the JWT secret
 * (bootstrap.c). */
int vx_bootstrap(vx_store *s, const char *data_dir) VX_MUST_USE;

/* Makes an SDK key of a project, inside a write (handlers_key.c); *secret
 * is the key in clear, in the call's arena. */
int vx_sdk_key_create(vx_wtxn *w, vx_call *c, uint64_t project_id, const char *env,
    Vexil__V1__SdkKey **out, char **secret) VX_MUST_USE;
/* Revokes an SDK key (a missing or revoked one is fine), inside a write. */
int vx_sdk_key_revoke(vx_wtxn *w, vx_call *c, uint64_t id) VX_MUST_USE;

/* The project every user gets at sign-up, owned by them (RegisterUser). */
#define VX_USER_PROJECT "default"
#define VX_USER_PROJECT_DESC "Your records in the feature-flag table and toggles APIs"

/* Creates a project with the default environments, inside a write. */
int vx_project_create(vx_wtxn *w, vx_call *c, const char *name, const char *description,
    uint64_t owner, Vexil__V1__Project **out) VX_MUST_USE;

/* Creates flag f (id, timestamps and env configs are filled in) in project
 * p, inside a write, recording one change. */
int vx_flag_create(
    vx_wtxn *w, vx_call *c, Vexil__V1__Project *p, Vexil__V1__Flag *f) VX_MUST_USE;

/*
 * Fills in what the server owns of flag f about to be stored in project p,
 * inside a write: its id, project and timestamps (kept from old when it
 * replaces that flag, else new), on/off variants of a boolean flag given
 * none, rule ids, and a default (disabled) config for each environment of
 * p that f does not configure. Checks nothing: vx_flag_check() does.
 */
int vx_flag_prepare(vx_wtxn *w, vx_call *c, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const Vexil__V1__Flag *old) VX_MUST_USE;

/* A flag's config for one environment, or NULL. */
Vexil__V1__FlagEnvConfig *vx_flag_env(const Vexil__V1__Flag *f, const char *env);
/* Appends a default (disabled) config for env to the flag. */
int vx_flag_add_env(vx_call *c, Vexil__V1__Flag *f, const char *env) VX_MUST_USE;
/*
 * Checks a whole flag before it is stored: every field's limits, variant
 * references, environments that exist, rule shapes, and a compile of each
 * environment with the evaluation engine (flagcheck.c).
 */
int vx_flag_check(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f) VX_MUST_USE;
/*
 * Prerequisites (prereqcheck.c): the fields of environment idx's
 * prerequisites; the project's graph with f as it is about to be stored
 * (parents exist, variants exist, no cycle, within the engine's bounds),
 * run when f has any; and, before f is deleted, that no flag requires it.
 */
int vx_prereq_fields_check(vx_call *c, const Vexil__V1__Flag *f, size_t idx) VX_MUST_USE;
int vx_prereq_graph_check(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f) VX_MUST_USE;
int vx_prereq_dependents_check(
    vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f) VX_MUST_USE;
/* Compiles one environment of a flag with the engine, to refuse what it
 * cannot evaluate (compile.c). */
int vx_flag_compile_check(vx_call *c, const Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *cfg, Vexil__V1__Segment *const *segs,
    size_t nsegs) VX_MUST_USE;
/* The limits of a list of conditions; fields are named after `at` ("rules[2]"). */
int vx_conditions_check(
    vx_call *c, const char *at, Vexil__V1__Condition *const *conds, size_t n) VX_MUST_USE;
/*
 * Segments (handlers_segment.c): the project's segments when some rule of
 * f names one (none otherwise), in the call's arena; and the segment names
 * of cfg's rules, which must be segments of segs (FAILED_PRECONDITION).
 */
int vx_segments_for(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f,
    Vexil__V1__Segment ***out, size_t *n) VX_MUST_USE;
int vx_segment_refs_check(vx_call *c, const Vexil__V1__FlagEnvConfig *cfg,
    Vexil__V1__Segment *const *segs, size_t nsegs) VX_MUST_USE;

#endif
