/*
 * The embedded local executor: a REAPI v2 server in a process of its own
 * (spawned by the master when rx_executor_active()), used by the proxy's
 * gRPC client over a unix socket when no backend is configured.
 *
 *   rx_executor.c       module, process body, listeners, shutdown
 *   rx_executor_h2.c    gRPC over HTTP/2 server (nghttp2 memory API)
 *   rx_executor_svc.c   Capabilities, CAS, ByteStream, ActionCache
 *   rx_executor_cas.c   CAS and action cache on disk
 *   rx_executor_lru.c   CAS size cap: index, LRU eviction
 *   rx_executor_op.c    Execute / WaitExecution operations, FIFO slots
 *   rx_executor_run.c   work directory, input tree, output parents
 *   rx_executor_spawn.c supervisor, sandbox, fork/exec of actions
 *   rx_executor_out.c   outputs, Trees, ActionResult
 *
 * Internal names use the prefix rx_ex_.
 */

#ifndef _RX_EXECUTOR_H_INCLUDED_
#define _RX_EXECUTOR_H_INCLUDED_

#include <rx_event.h>
#include <rx_cycle.h>
#include <rx_grpc.h>
#include <rx_reapi.h>

/* protobuf-c names of build.bazel.remote.execution.v2 */
#define rx_re_t(name)    Build__Bazel__Remote__Execution__V2__##name
#define RX_RE_INIT(NAME) BUILD__BAZEL__REMOTE__EXECUTION__V2__##NAME##__INIT
#define rx_re_desc(name)                                                       \
    build__bazel__remote__execution__v2__##name##__descriptor
#define RX_RE_ENUM(name) BUILD__BAZEL__REMOTE__EXECUTION__V2__##name

#define RX_EX_MAX_MSG     (64 * 1024 * 1024) /* one request message */
#define RX_EX_MAX_BATCH   (4 * 1024 * 1024)  /* advertised batch limit */
#define RX_EX_READ_CHUNK  (1024 * 1024)      /* ByteStream.Read chunks */
#define RX_EX_INLINE_MAX  (64 * 1024)        /* stdout/stderr inlined */
#define RX_EX_MAX_DEPTH   64                 /* directory nesting */
#define RX_EX_MAX_ENTRIES 250000 /* files, directories, links of a tree */
#define RX_EX_MAX_PROTO   (16 * 1024 * 1024) /* Action, Command, Directory */
#define RX_EX_KEEP_DONE   300000             /* finished ops stay (ms) */
#define RX_EX_FSIZE_LIMIT (4LL * 1024 * 1024 * 1024)
#define RX_EX_NOFILE      4096
#define RX_EX_DIR_LEN     3072 /* executor.root + subdir */

typedef struct rx_ex_conn_s   rx_ex_conn_t;
typedef struct rx_ex_stream_s rx_ex_stream_t;
typedef struct rx_ex_op_s     rx_ex_op_t;
typedef struct rx_ex_intree_s rx_ex_intree_t; /* rx_executor_run.c */

/* ---- process-wide state (rx_executor.c) ---- */

typedef struct {
    rx_cycle_t *cycle;
    rx_log_t   *log;
    rx_str_t    root; /* executor.root */
    char        cas_dir[RX_EX_DIR_LEN];
    char        ac_dir[RX_EX_DIR_LEN];
    char        work_dir[RX_EX_DIR_LEN];
    char        tmp_dir[RX_EX_DIR_LEN];
    char        worker[128];       /* ExecutedActionMetadata.worker */
    char        sandbox[PATH_MAX]; /* wrapper binary, "" = none */
    rx_uint_t   sandbox_kind;      /* RX_EX_SANDBOX_* */
    rx_uint_t   jobs;
    rx_msec_t   action_timeout;
    uid_t       uid; /* actions run as, when switch_user */
    gid_t       gid;
    unsigned    switch_user : 1; /* executor is root */
    unsigned    sandbox_missing : 1;
    unsigned    quitting : 1;
} rx_ex_ctx_t;

#define RX_EX_SANDBOX_NONE  0
#define RX_EX_SANDBOX_BWRAP 1

extern rx_ex_ctx_t rx_ex;

/** Forks a child that removes @path recursively (falls back to removing
 *  it here); the child is reaped like the others. */
void rx_ex_remove_async(const char *path);
/** Gives @name under @dfd to executor.user when actions switch user. */
rx_int_t rx_ex_chown_at(int dfd, const char *name);
/** Removes @name under @dirfd recursively; best effort. */
void rx_ex_remove_at(int dirfd, const char *name, rx_uint_t depth);

/* ---- digests ---- */

typedef struct {
    u_char  hex[RX_SHA256_HEX_LEN + 1]; /* lowercase, NUL-terminated */
    int64_t size;
} rx_ex_digest_t;

/** Copies a protobuf Digest; RX_ERROR unless 64 lowercase hex and
 *  size >= 0. */
rx_int_t rx_ex_digest_from_pb(rx_ex_digest_t *d, const rx_re_t(Digest) * pb);
/** Fills a protobuf Digest that points into @d. */
void rx_ex_digest_to_pb(rx_re_t(Digest) * pb, rx_ex_digest_t *d);
/** Digest of @len bytes. */
void rx_ex_digest_of(rx_ex_digest_t *d, const u_char *data, size_t len);
/** 1 for the empty blob. */
int rx_ex_digest_empty(const rx_ex_digest_t *d);
/** A protobuf Digest in @pool for @d, NULL on ENOMEM. */
rx_re_t(Digest) * rx_ex_digest_pb(rx_pool_t *pool, const rx_ex_digest_t *d);

/* ---- CAS and action cache (rx_executor_cas.c) ---- */

typedef struct {
    int     fd;
    char    path[PATH_MAX];
    void   *md; /* EVP_MD_CTX */
    int64_t size;
} rx_ex_writer_t;

/* rx_executor_lru.c: the size cap over CAS blobs and action results */
#define RX_EX_CAS 0
#define RX_EX_AC  1

rx_int_t rx_ex_cas_init(rx_cycle_t *cycle);
/** Marks a present blob (RX_EX_CAS) or action result (RX_EX_AC) as just
 *  used, adding it to the index if needed. */
void rx_ex_lru_touch(const rx_ex_digest_t *d, int64_t size, unsigned ac);
/** Drops an entry from the index (it is gone or corrupt). */
void rx_ex_lru_forget(const rx_ex_digest_t *d, unsigned ac);

/** 1 if present (and marks it used), 0 if not. */
int rx_ex_cas_has(const rx_ex_digest_t *d);
/** Verifies and stores; RX_DECLINED on a digest mismatch. */
rx_int_t rx_ex_cas_put(const rx_ex_digest_t *d, const u_char *data, size_t len);
/** Reads a whole blob (at most @max bytes) into @pool: RX_OK,
 *  RX_DECLINED (absent) or RX_ERROR. */
rx_int_t rx_ex_cas_get(rx_pool_t *pool, const rx_ex_digest_t *d, size_t max,
                       rx_str_t *out);
/** Opens a blob for reading; -1 with errno ENOENT when absent. */
int rx_ex_cas_open(const rx_ex_digest_t *d);
/** Path of a blob on disk (for link()). */
void rx_ex_cas_path(const rx_ex_digest_t *d, char *buf, size_t size);
/** Path of an action's cached result on disk. */
void rx_ex_ac_path(const rx_ex_digest_t *d, char *buf, size_t size);

rx_int_t rx_ex_writer_open(rx_ex_writer_t *w);
rx_int_t rx_ex_writer_add(rx_ex_writer_t *w, const u_char *data, size_t len);
/** Finishes: fills @d with the digest of what was written and moves the
 *  file into the CAS. With @expect, RX_DECLINED unless it matches. */
rx_int_t rx_ex_writer_commit(rx_ex_writer_t *w, const rx_ex_digest_t *expect,
                             rx_ex_digest_t *d);
void     rx_ex_writer_abort(rx_ex_writer_t *w);
/** Stores the content of an open file; fills @d. */
rx_int_t rx_ex_cas_put_fd(int fd, rx_ex_digest_t *d);

rx_int_t rx_ex_ac_get(rx_pool_t *pool, const rx_ex_digest_t *action,
                      rx_str_t *out);
rx_int_t rx_ex_ac_put(const rx_ex_digest_t *action, const rx_str_t *data);
void     rx_ex_ac_del(const rx_ex_digest_t *action);

/* ---- gRPC server (rx_executor_h2.c) ---- */

typedef void (*rx_ex_handler_pt)(rx_ex_stream_t *st, u_char *msg, size_t len);
typedef rx_int_t (*rx_ex_pull_pt)(rx_ex_stream_t *st);
typedef void (*rx_ex_cleanup_pt)(rx_ex_stream_t *st);

typedef struct {
    const char      *path;
    rx_ex_handler_pt handler;
    unsigned         client_stream : 1; /* handler per message, then NULL */
} rx_ex_method_t;

struct rx_ex_stream_s {
    rx_pool_t            *pool;
    rx_ex_conn_t         *conn;
    int32_t               id;
    const rx_ex_method_t *method;
    rx_buf_t              in;      /* request bytes not yet parsed */
    rx_buf_t              out;     /* framed response bytes */
    rx_queue_t            link;    /* in conn->streams */
    rx_ex_pull_pt         pull;    /* produces more response on demand */
    rx_ex_cleanup_pt      cleanup; /* the stream goes away */
    void                 *data;    /* the handler's */
    rx_grpc_code_e        code;
    char                 *message;
    char                  path[128];
    rx_uint_t             nin; /* request messages seen */
    unsigned              headers_sent : 1;
    unsigned              finished : 1; /* status decided */
    unsigned              req_done : 1; /* END_STREAM received */
    unsigned              dispatched : 1;
};

rx_int_t rx_ex_h2_init(void);
rx_int_t rx_ex_h2_listen(rx_conn_t *ls);
/** Sends one response message. */
rx_int_t rx_ex_send(rx_ex_stream_t *st, const ProtobufCMessage *m);
/** Ends the call with a status (trailers, or Trailers-Only). */
void rx_ex_finish(rx_ex_stream_t *st, rx_grpc_code_e code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** More data for a pull stream is available. */
void rx_ex_resume(rx_ex_stream_t *st);
/** Streams open on all connections. */
rx_uint_t rx_ex_h2_busy(void);
/** Graceful stop: GOAWAY everywhere, close idle connections. */
void rx_ex_h2_quit(void);
void rx_ex_h2_flush_dirty(void *data);

/* ---- services (rx_executor_svc.c) ---- */

extern const rx_ex_method_t rx_ex_methods[];

/** Checks a stored ActionResult still has all its blobs (marks them). */
int rx_ex_result_complete(const rx_re_t(ActionResult) * r);

/* ---- operations (rx_executor_op.c) ---- */

struct rx_ex_op_s {
    rx_pool_t     *pool;
    rx_queue_t     link;     /* all live operations */
    rx_queue_t     queue;    /* pending FIFO */
    rx_queue_t     watchers; /* rx_ex_watch_t */
    char           name[64];
    rx_ex_digest_t digest; /* action */
    rx_re_t(Action) * action;
    rx_re_t(Command) * command;
    rx_uint_t       stage; /* ExecutionStage.Value */
    pid_t           pid;   /* the action's supervisor, 0: none */
    rx_event_t      timer; /* timeout, then expiry when done */
    rx_msec_t       timeout;
    rx_msec_t       started;   /* rx_current_msec at spawn */
    char           *dir;       /* root/work/<id> */
    char           *exec_root; /* dir/x */
    char           *cwd;       /* exec_root/working_directory */
    int             wstatus;
    rx_grpc_code_e  code; /* ExecuteResponse.status */
    char           *message;
    rx_array_t      missing; /* rx_ex_digest_t */
    rx_ex_intree_t *tree;    /* the input tree while it is created */
    rx_re_t(ActionResult) * result;
    rx_str_t        response; /* packed ExecuteResponse */
    struct timespec ts[10];   /* RX_EX_TS_* */
    unsigned        timed_out : 1;
    unsigned        cached : 1;
    unsigned        done : 1;
};

#define RX_EX_TS_QUEUED    0
#define RX_EX_TS_START     1
#define RX_EX_TS_FETCH     2
#define RX_EX_TS_FETCHED   3
#define RX_EX_TS_EXEC      4
#define RX_EX_TS_EXECUTED  5
#define RX_EX_TS_UPLOAD    6
#define RX_EX_TS_UPLOADED  7
#define RX_EX_TS_COMPLETED 8

void rx_ex_execute(rx_ex_stream_t *st, u_char *msg, size_t len);
void rx_ex_wait_execution(rx_ex_stream_t *st, u_char *msg, size_t len);
/** A child exited: an action's supervisor or a cleaner. */
void rx_ex_ops_reaped(pid_t pid, int status);
/** Queued and running actions. */
rx_uint_t rx_ex_ops_busy(void);
/** TERM / shutdown timeout: kill every running action. */
void rx_ex_ops_kill_all(void);
/** Sets op->code/message; returns RX_ERROR for chaining. */
rx_int_t rx_ex_op_fail(rx_ex_op_t *op, rx_grpc_code_e code, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
/** Records a missing blob (FAILED_PRECONDITION). */
rx_int_t rx_ex_op_missing(rx_ex_op_t *op, const rx_ex_digest_t *d);

/* ---- running actions (rx_executor_run.c) ---- */

/** Builds the work directory and starts the action; RX_ERROR with
 *  op->code set when it cannot run. */
rx_int_t rx_ex_run_start(rx_ex_op_t *op);
/** rx_executor_spawn.c: forks the supervisor and the action. */
rx_int_t rx_ex_spawn(rx_ex_op_t *op);
/** Validates a relative path: no "..", not absolute, no empty parts. */
int rx_ex_path_ok(const char *path);
/** Opens @path under @dirfd without following symlinks anywhere. */
int rx_ex_open_beneath(int dirfd, const char *path, int flags);

/* ---- outputs (rx_executor_out.c) ---- */

/** Fills op->result from the finished action's outputs. */
rx_int_t rx_ex_out_collect(rx_ex_op_t *op);

#endif /* _RX_EXECUTOR_H_INCLUDED_ */
