/*
 * POSIX client paths (REMOTEEXEC.md §8), rootRel (§6.5.2) and input root
 * detection (§6.5.1). Everything is lexical: no filesystem access.
 * Results live in @pool and are NUL-terminated (len excludes the NUL).
 */

#ifndef _RX_EXEC_PATH_H_INCLUDED_
#define _RX_EXEC_PATH_H_INCLUDED_

#include <rx_config.h>
#include <rx_core.h>

/** 1 if @p starts with "/". */
int rx_path_is_abs(const rx_str_t *p);
/** clean(p): drops "." and resolves ".."; clean("") = ".". */
rx_int_t rx_path_clean(rx_pool_t *pool, const rx_str_t *p, rx_str_t *out);
/** join(a, b): empty arguments dropped, no ".." resolution, "" if empty. */
rx_int_t rx_path_join(rx_pool_t *pool, const rx_str_t *a, const rx_str_t *b,
                      rx_str_t *out);
/** dir(p): all but the last element, not cleaned; "." or "/" at the top. */
rx_int_t rx_path_dir(rx_pool_t *pool, const rx_str_t *p, rx_str_t *out);
/** rel(base, target): RX_ERROR when not computable (exactly one absolute,
 *  or the rest of base after the common part is all ".."). */
rx_int_t rx_path_rel(rx_pool_t *pool, const rx_str_t *base,
                     const rx_str_t *target, rx_str_t *out);
/** rootRel (§6.5.2): RX_OK and @out ("" for the root itself), or
 *  RX_DECLINED when out of root. A relative @name is joined to @cwd first
 *  (no cleaning). RX_ERROR on allocation failure. */
rx_int_t rx_exec_root_rel(rx_pool_t *pool, const rx_str_t *root,
                          const rx_str_t *cwd, const rx_str_t *name,
                          rx_str_t *out);

typedef struct {
    rx_str_t        cwd;    /* already cleaned and absolute */
    const rx_str_t *inputs; /* Input.filename as sent */
    rx_uint_t       ninputs;
    rx_str_t        argv0; /* cmd_files[0].path as sent */
    char          **args;  /* ExecReq.arg (sysroot scanning) */
    rx_uint_t       nargs;
    unsigned        allow_chroot : 1; /* platform has_nsjail */
    unsigned        exclude_usr : 1;  /* [FORK] ignore candidates under /usr */
    rx_str_t        exec_root;        /* RequesterInfo.exec_root, may be "" */
} rx_exec_root_in_t;

/** §6.5.1: RX_OK with @root and *need_chroot; RX_ERROR with *err set to
 *  the BAD_REQUEST message ("input root detection failed: ..."), or with
 *  *err NULL on allocation failure. Borrows @in; results live in @pool. */
rx_int_t rx_exec_input_root(rx_pool_t *pool, const rx_exec_root_in_t *in,
                            rx_str_t *root, int *need_chroot, const char **err);

#endif /* _RX_EXEC_PATH_H_INCLUDED_ */
