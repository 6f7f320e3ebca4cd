/*
 * Compiler-specific rules (REMOTEEXEC.md §7.1–§7.4): relocatability of a
 * request, outputs computed from the command line (§6.6), and target
 * normalization (§6.3.1). Pure functions; results live in @pool.
 */

#ifndef _RX_EXEC_RULES_H_INCLUDED_
#define _RX_EXEC_RULES_H_INCLUDED_

#include <rx_config.h>
#include <rx_core.h>

typedef enum {
    RX_CC_GCC = 0, /* gcc g++ clang clang++ */
    RX_CC_CLANG_CL,
    RX_CC_JAVAC,
    RX_CC_OTHER /* cl.exe, clang-tidy, unknown names */
} rx_cc_kind_e;

/** The rule set for a command_spec name (exact match). */
rx_cc_kind_e rx_exec_compiler_kind(const rx_str_t *name);
/** Relocatability (§7.1–§7.4) of @args (including argv[0]) and @env:
 *  1 relocatable, 0 not, with *reason set (static or in @pool). An
 *  "unknown flag: ..." reason is the one counted per compiler name. */
int rx_exec_relocatable(rx_pool_t *pool, const rx_str_t *name, char **args,
                        rx_uint_t nargs, char **env, rx_uint_t nenv,
                        const char **reason);
/** Outputs computed from @args when the client sent no expected outputs
 *  (§6.6, §7.1–§7.3): pushes rx_str_t copies (client paths as written)
 *  into @files and @dirs, arrays of rx_str_t set up by the caller. */
rx_int_t rx_exec_outputs(rx_pool_t *pool, const rx_str_t *name, char **args,
                         rx_uint_t nargs, rx_array_t *files, rx_array_t *dirs);
/** §6.3.1: RX_OK with @out; when skipped (target "" or "java", name
 *  "cl.exe") @out is a copy of @target. RX_ERROR on a malformed target
 *  (or allocation failure). */
rx_int_t rx_exec_normalize_target(rx_pool_t *pool, const rx_str_t *name,
                                  const rx_str_t *target, rx_str_t *out);

#endif /* _RX_EXEC_RULES_H_INCLUDED_ */
