/*
 * Unit tests of src/remoteexec/rx_exec_rules.c: compiler kinds,
 * relocatability checks (REMOTEEXEC.md §7.1–§7.4), outputs computed from
 * the command line (§6.6, §7.1–§7.3) and target normalization (§6.3.1).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec_rules.h>
#include "tap.h"

#define MAXA 24
#define NOPE ((const char *) 0)

typedef struct {
    const char  *name;
    rx_cc_kind_e kind;
} kind_case_t;

typedef struct {
    const char *name;
    const char *args[MAXA];
    const char *env[4];
    int         exp;
    const char *reason; /* expected reason when not relocatable */
} reloc_case_t;

typedef struct {
    const char *name;
    const char *args[MAXA];
    const char *files[6];
    const char *dirs[4];
} out_case_t;

typedef struct {
    const char *name;
    const char *target;
    const char *exp; /* NOPE: error */
} target_case_t;

static rx_str_t    s(const char *p);
static rx_uint_t   count(const char *const *v);
static const char *at(const char *const *v, rx_uint_t i);
static void        test_kinds(void);
static void        test_relocatable(rx_pool_t *pool);
static void        run_reloc_case(rx_pool_t *pool, const reloc_case_t *c);
static void        test_outputs(rx_pool_t *pool);
static int         arr_is(const rx_array_t *a, const char *const *exp);
static void        test_targets(rx_pool_t *pool);
static void        test_oom(void);

/* clang-format off */
static const kind_case_t kind_cases[] = {
    {"gcc", RX_CC_GCC},
    {"g++", RX_CC_GCC},
    {"clang", RX_CC_GCC},
    {"clang++", RX_CC_GCC},
    {"clang-cl", RX_CC_CLANG_CL},
    {"javac", RX_CC_JAVAC},
    {"cl.exe", RX_CC_OTHER},
    {"clang-tidy", RX_CC_OTHER},
    {"", RX_CC_OTHER},
    {"gcc-12", RX_CC_OTHER},
    {"Clang", RX_CC_OTHER},
    {"clang ", RX_CC_OTHER},
};

#define CLANG "../../third_party/llvm-build/bin/clang"
#define NOENV {NULL}

static const reloc_case_t reloc_cases[] = {
    /* gcc / clang (§7.1) */
    {"clang", {CLANG, "-c", "../../a.cc", "-o", "obj/a.o"}, NOENV, 1, NULL},
    {"gcc", {"gcc", "-c", "a.c"}, NOENV, 1, NULL},
    {"clang", {"/usr/bin/clang", "-c", "a.c"}, NOENV, 0,
     "abs path: /usr/bin/clang"},
    {"g++", {"g++", "-c", "/src/a.cc"}, NOENV, 0, "abs path: /src/a.cc"},
    {"clang++", {CLANG, "-c", "a.cc", "-o", "/out/a.o"}, NOENV, 0,
     "abs path: /out/a.o"},
    {"clang", {CLANG, "-o/out/a.o", "a.c"}, NOENV, 0, "abs path: -o/out/a.o"},
    {"clang", {CLANG, "-oobj/a.o", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-I", "/usr/include", "a.c"}, NOENV, 0,
     "abs path: /usr/include"},
    {"clang", {CLANG, "-I", "../include", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-I/usr/include", "a.c"}, NOENV, 0,
     "abs path: -I/usr/include"},
    {"clang", {CLANG, "-I../include", "-Igen", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-isystem/abs", "a.c"}, NOENV, 0,
     "abs path: -isystem/abs"},
    {"clang", {CLANG, "-isystem", "/abs", "a.c"}, NOENV, 0, "abs path: /abs"},
    {"clang", {CLANG, "-isystem", "../sys", "-isystemrel", "a.c"}, NOENV, 1,
     NULL},
    {"clang", {CLANG, "--sysroot=/abs", "a.c"}, NOENV, 0,
     "abs path: --sysroot=/abs"},
    {"clang", {CLANG, "--sysroot=../sys", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "--sysroot", "/abs", "a.c"}, NOENV, 0,
     "abs path: /abs"},
    {"clang", {CLANG, "--sysroot", "../sys", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-resource-dir=/abs", "a.c"}, NOENV, 0,
     "abs path: -resource-dir=/abs"},
    {"clang", {CLANG, "--include=/abs.h", "a.c"}, NOENV, 0,
     "abs path: --include=/abs.h"},
    {"clang", {CLANG, "--include/abs.h", "a.c"}, NOENV, 0,
     "abs path: --include/abs.h"},
    {"clang", {CLANG, "-include=/x.h", "a.c"}, NOENV, 0,
     "abs path: -include=/x.h"},
    {"clang", {CLANG, "-include", "/x.h", "a.c"}, NOENV, 0, "abs path: /x.h"},
    {"clang", {CLANG, "-include", "x.h", "-includey.h", "a.c"}, NOENV, 1,
     NULL},
    {"clang", {CLANG, "-F/fw", "a.c"}, NOENV, 0, "abs path: -F/fw"},
    {"clang", {CLANG, "-F", "/fw", "a.c"}, NOENV, 0, "abs path: /fw"},
    {"clang", {CLANG, "-F", "../fw", "-Ffw", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-B/bin", "a.c"}, NOENV, 0, "abs path: -B/bin"},
    {"clang", {CLANG, "-B", "../bin", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-fcrash-diagnostics-dir=/tmp", "a.c"}, NOENV, 0,
     "abs path: -fcrash-diagnostics-dir=/tmp"},
    {"clang", {CLANG, "-fprofile-sample-use=/p.prof", "a.c"}, NOENV, 0,
     "abs path: -fprofile-sample-use=/p.prof"},
    {"clang", {CLANG, "-fprofile-sample-use=../p.prof", "a.c"}, NOENV, 1,
     NULL},
    {"clang", {CLANG, "-fsanitize-blacklist=/b.txt", "a.c"}, NOENV, 0,
     "abs path: -fsanitize-blacklist=/b.txt"},
    {"clang", {CLANG, "-fprofile-instr-use=/p", "a.c"}, NOENV, 0,
     "abs path: -fprofile-instr-use=/p"},
    {"clang", {CLANG, "-MF", "/abs/a.d", "a.c"}, NOENV, 0,
     "abs path: /abs/a.d"},
    {"clang", {CLANG, "-MMD", "-MF", "obj/a.d", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-isysroot", "/sdk", "a.c"}, NOENV, 0, "abs path: /sdk"},
    {"clang", {CLANG, "-idirafter", "/inc", "a.c"}, NOENV, 0,
     "abs path: /inc"},
    {"clang", {CLANG, "-idirafter", "inc", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-c", "a.c", "-o"}, NOENV, 1, NULL},
    /* .hmap */
    {"clang", {CLANG, "-I", "foo.hmap", "a.c"}, NOENV, 0,
     "hmap file: foo.hmap"},
    {"clang", {CLANG, "-Ifoo.hmap", "a.c"}, NOENV, 0, "hmap file: -Ifoo.hmap"},
    {"clang", {CLANG, "-isystem", "x.hmap", "a.c"}, NOENV, 0,
     "hmap file: x.hmap"},
    {"clang", {CLANG, "foo.hmap", "a.c"}, NOENV, 1, NULL},
    /* debug builds */
    {"clang", {CLANG, "-g", "-c", "a.c"}, NOENV, 0, "debug build: -g"},
    {"clang", {CLANG, "-gsplit-dwarf", "-g2", "a.c"}, NOENV, 0,
     "debug build: -gsplit-dwarf"},
    {"clang", {CLANG, "-g", "-g0", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-g0", "-g1", "a.c"}, NOENV, 0, "debug build: -g1"},
    {"clang", {CLANG, "-g", "-fdebug-compilation-dir", ".", "a.c"}, NOENV, 1,
     NULL},
    {"clang", {CLANG, "-fdebug-compilation-dir", ".", "-g", "a.c"}, NOENV, 1,
     NULL},
    {"clang", {CLANG, "-g", "-Xclang", "-fdebug-compilation-dir", "-Xclang",
               ".", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-g", "-Xclang", "-fdebug-compilation-dir", "-Xclang",
               "/abs", "a.c"}, NOENV, 0, "abs path: /abs"},
    {"clang", {CLANG, "-g", "-fdebug-compilation-dir=.", "a.c"}, NOENV, 0,
     "debug build: -g"},
    {"clang", {CLANG, "-mllvm", "-fdebug-compilation-dir", "a.c"}, NOENV, 0,
     "fdebug-compilation-dir not supported for llvm"},
    {"clang", {CLANG, "--pnacl-allow-translate", "a.c"}, NOENV, 0,
     "pnacl-allow-translate"},
    /* sub-tools */
    {"clang", {CLANG, "-Wa,--fatal-warnings", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-Wa,--fatal-warnings,--fatal-warnings", "a.c"},
     NOENV, 1, NULL},
    {"clang", {CLANG, "-Wa,--fatal-warnings,-g", "a.c"}, NOENV, 0,
     "unsupported subcommand args as: -g"},
    {"clang", {CLANG, "-Wa,", "a.c"}, NOENV, 0,
     "unsupported subcommand args as: "},
    {"clang", {CLANG, "-Wl,-z,defs", "a.c"}, NOENV, 0,
     "unsupported subcommand args ld: -z"},
    {"clang", {CLANG, "-Wp,-DX", "a.c"}, NOENV, 0,
     "unsupported subcommand args cpp: -DX"},
    {"clang", {CLANG, "-mllvm", "-asan-globals=0", "-mllvm",
               "-regalloc=pbqp", "-mllvm", "-pbqp-coalescing", "-mllvm",
               "-instcombine-lower-dbg-declare=0", "-mllvm",
               "-basic-aa-recphi=0", "-mllvm",
               "-sanitizer-coverage-prune-blocks=1", "-mllvm",
               "-enable-dse-memoryssa=true", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-mllvm", "-inline-threshold=0", "a.c"}, NOENV, 0,
     "llvm unknown arg: -inline-threshold=0"},
    {"clang", {CLANG, "-Xclang", "-load", "-Xclang", "../p.so", "a.c"},
     NOENV, 1, NULL},
    {"clang", {CLANG, "-Xclang", "-load", "-Xclang", "/p.so", "a.c"},
     NOENV, 0, "clang abs path: /p.so"},
    {"clang", {CLANG, "-Xclang", "-add-plugin", "-Xclang",
               "find-bad-constructs", "-Xclang",
               "-plugin-arg-find-bad-constructs", "-Xclang", "check-ipc",
               "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-Xclang", "-mllvm", "-Xclang", "-whatever", "a.c"},
     NOENV, 1, NULL},
    {"clang", {CLANG, "-Xclang", "-debug-info-kind=constructor", "-Xclang",
               "-fno-experimental-new-pass-manager", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-Xclang", "-emit-llvm", "a.c"}, NOENV, 0,
     "clang unknown arg: -emit-llvm"},
    {"clang", {CLANG, "-Xclang", "-I/abs", "a.c"}, NOENV, 0,
     "abs path: -I/abs"},
    {"clang", {CLANG, "-Xclang", "-Ifoo", "-c", "a.c"}, NOENV, 0,
     "clang unknown arg: -c"},
    {"clang", {CLANG, "a.c", "-Xclang"}, NOENV, 1, NULL},
    /* accepted and unknown flags */
    {"clang", {CLANG, "-DFOO=/abs", "-Wall", "-w", "-UBAR", "-O2", "-fPIC",
               "-m64", "-march=x86-64", "-nostdinc++", "-std=c++17",
               "--param=ssp-buffer-size=4", "--target=x86_64-linux-gnu",
               "-arch", "x86_64", "-target", "x86_64-linux-gnu",
               "-integrated-as", "-pedantic", "-pipe", "-pie", "-pthread",
               "-c", "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-MMD", "-MD", "-M", "-Qunused-arguments",
               "-static-libgcc", "-fno-experimental-new-pass-manager",
               "a.c"}, NOENV, 1, NULL},
    {"clang", {CLANG, "-x", "c++", "a.c"}, NOENV, 0, "unknown flag: -x"},
    {"clang", {CLANG, "-E", "a.c"}, NOENV, 0, "unknown flag: -E"},
    {"clang", {CLANG, "--save-temps", "a.c"}, NOENV, 0,
     "unknown flag: --save-temps"},
    {"clang", {CLANG, "-", "a.c"}, NOENV, 0, "unknown flag: -"},
    /* environment */
    {"clang", {CLANG, "a.c"}, {"PWD=/home/u/src", "LANG=C", "EMPTY="}, 1,
     NULL},
    {"clang", {CLANG, "a.c"}, {"HOME=/home/u"}, 0,
     "abs path in env HOME=/home/u"},
    {"clang", {CLANG, "a.c"}, {"PWDX=/x"}, 0, "abs path in env PWDX=/x"},
    {"clang", {CLANG, "a.c"}, {"=/x"}, 0, "abs path in env =/x"},
    {"clang", {CLANG, "a.c"}, {"FOO"}, 0, "bad environment variable: FOO"},
    {"clang", {CLANG, "a.c"}, {"A=b=/c"}, 1, NULL},

    /* clang-cl (§7.2) */
    {"clang-cl", {"clang-cl", "/nologo", "/c", "../../a.cc", "/Foobj/a.obj",
                  "/showIncludes", "/showIncludes:user", "-Wall",
                  "-Wno-foo", "-DX", "/DY", "-fcolor-diagnostics",
                  "-m64", "--target=x86_64-pc-windows-msvc"},
     NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/Fo/abs/a.obj", "a.cc"}, NOENV, 0,
     "abs path: /Fo/abs/a.obj"},
    {"clang-cl", {"clang-cl", "/Fo", "a.cc"}, NOENV, 0, "unknown flag: /Fo"},
    {"clang-cl", {"clang-cl", "/FC", "a.cc"}, NOENV, 0,
     "needs full path: /FC"},
    {"clang-cl", {"clang-cl", "/FA../x", "/FIpch.h", "/FRx", "/FUm.dll",
                  "/Faa.asm", "/Fdx.pdb", "/Fea.exe", "/Flx", "/Fmx",
                  "/Fpa.pch", "/Frx", "/Fxx", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/FI/abs/pch.h", "a.cc"}, NOENV, 0,
     "abs path: /FI/abs/pch.h"},
    {"clang-cl", {"clang-cl", "-imsvc/sdk", "a.cc"}, NOENV, 0,
     "abs path: -imsvc/sdk"},
    {"clang-cl", {"clang-cl", "-imsvc../sdk", "/winsysroot../w",
                  "/vctoolsdir../vc", "/winsdkdir../sdk", "a.cc"},
     NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/winsysroot/w", "a.cc"}, NOENV, 0,
     "abs path: /winsysroot/w"},
    {"clang-cl", {"clang-cl", "/w14996", "/w24996", "/w34996", "/w44996",
                  "/wd4996", "/we4000", "/wo5999", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/w16000", "a.cc"}, NOENV, 0,
     "unknown flag: /w16000"},
    {"clang-cl", {"clang-cl", "/wd3999", "a.cc"}, NOENV, 0,
     "unknown flag: /wd3999"},
    {"clang-cl", {"clang-cl", "/wd499", "a.cc"}, NOENV, 0,
     "unknown flag: /wd499"},
    {"clang-cl", {"clang-cl", "/wx4996", "a.cc"}, NOENV, 0,
     "unknown flag: /wx4996"},
    {"clang-cl", {"clang-cl", "/wd49a6", "a.cc"}, NOENV, 0,
     "unknown flag: /wd49a6"},
    {"clang-cl", {"clang-cl", "/W14996", "a.cc"}, NOENV, 0,
     "unknown flag: /W14996"},
    {"clang-cl", {"clang-cl", "/w", "/W0", "/W1", "/W2", "/W3", "/W4",
                  "/Wall", "/WX", "/Wv", "/Wv:18", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/W5", "a.cc"}, NOENV, 0, "unknown flag: /W5"},
    {"clang-cl", {"clang-cl", "/O1", "/O2", "/Ob0", "/Ob1", "/Ob2", "/Ob3",
                  "/Od", "/Og", "/Oi", "/Oi-", "/Os", "/Ot", "/Ox", "/Oy",
                  "/Oy-", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/O3", "a.cc"}, NOENV, 0, "unknown flag: /O3"},
    {"clang-cl", {"clang-cl", "/Brepro", "/Brepro-", "/FS", "/Gy", "/Gy-",
                  "/bigobj", "/utf-8", "/X", "/Z7", "/Zi", "/ZI", "/MD",
                  "/MT", "/LD", "/MDd", "/MTd", "/LDd", "/Tc", "/Tp", "/TC",
                  "/TP", "/Gd", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/Gr", "/Gv", "/Gz", "/GR", "/GR-", "/GS",
                  "/GS-", "/Gr-", "/Gw", "/Gw-", "/GF", "/EHsc",
                  "/Zc:inline", "/arch:AVX2", "/clang:-O3", "/guard:cf",
                  "/std:c++17", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "/src/a.cc"}, NOENV, 0,
     "unknown flag: /src/a.cc"},
    {"clang-cl", {"clang-cl", "-I", "/inc", "a.cc"}, NOENV, 0,
     "abs path: /inc"},
    {"clang-cl", {"clang-cl", "-I", "../inc", "-I../x", "-isystem", "s",
                  "-include", "i.h", "-MF", "a.d", "-isysroot", "r", "-o",
                  "a.obj", "-B", "b", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "-pie", "a.cc"}, NOENV, 0,
     "unknown flag: -pie"},
    {"clang-cl", {"clang-cl", "-static-libgcc", "a.cc"}, NOENV, 0,
     "unknown flag: -static-libgcc"},
    {"clang-cl", {"clang-cl", "-target", "x", "a.cc"}, NOENV, 0,
     "unknown flag: -target"},
    {"clang-cl", {"clang-cl", "--sysroot", "x", "a.cc"}, NOENV, 0,
     "unknown flag: --sysroot"},
    {"clang-cl", {"clang-cl", "-idirafter", "x", "a.cc"}, NOENV, 0,
     "unknown flag: -idirafter"},
    {"clang-cl", {"clang-cl", "-Ffw", "a.cc"}, NOENV, 0,
     "unknown flag: -Ffw"},
    {"clang-cl", {"clang-cl", "-g", "-gcodeview", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "-Xclang", "-fdebug-compilation-dir",
                  "-Xclang", ".", "a.cc"}, NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "-Xclang", "-fdebug-compilation-dir",
                  "-Xclang", "/abs", "a.cc"}, NOENV, 0,
     "clang-cl abs path: /abs"},
    {"clang-cl", {"clang-cl", "-fdebug-compilation-dir", ".", "a.cc"},
     NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "-Xclang", "-add-plugin", "-Xclang",
                  "blink-gc-plugin", "-Xclang",
                  "-plugin-arg-blink-gc-plugin", "-Xclang", "no-members",
                  "-Xclang", "-debug-info-kind=limited", "a.cc"},
     NOENV, 1, NULL},
    {"clang-cl", {"clang-cl", "-Xclang", "-plugin-arg-find-bad-constructs",
                  "-Xclang", "x", "a.cc"}, NOENV, 0,
     "clang-cl unknown arg: -plugin-arg-find-bad-constructs"},
    {"clang-cl", {"clang-cl", "-Xclang", "-emit-llvm", "a.cc"}, NOENV, 0,
     "clang-cl unknown arg: -emit-llvm"},
    {"clang-cl", {"clang-cl", "-mllvm", "-asan-globals=0", "a.cc"}, NOENV,
     1, NULL},
    {"clang-cl", {"clang-cl", "-mllvm", "-bogus", "a.cc"}, NOENV, 0,
     "llvm unknown arg: -bogus"},
    {"clang-cl", {"clang-cl", "-Wa,--fatal-warnings", "a.cc"}, NOENV, 0,
     "unsupported subcommand args as: --fatal-warnings"},
    {"clang-cl", {"clang-cl", "-Wl,x", "a.cc"}, NOENV, 0,
     "unsupported subcommand args ld: x"},
    {"clang-cl", {"clang-cl", "--pnacl-allow-translate", "a.cc"}, NOENV, 0,
     "unknown flag: --pnacl-allow-translate"},
    {"clang-cl", {"clang-cl", "a.cc"}, {"HOME=/abs", "FOO"}, 1, NULL},

    /* javac (§7.3) and others (§7.4) */
    {"javac", {"/usr/bin/javac", "-d", "/abs", "-bogus", "A.java"},
     {"FOO", "HOME=/h"}, 1, NULL},
    {"cl.exe", {"cl.exe", "/c", "a.cc"}, NOENV, 0, NULL},
    {"clang-tidy", {"clang-tidy", "a.cc"}, NOENV, 0, NULL},
    {"", {"x"}, NOENV, 0, NULL},
};

static const out_case_t out_cases[] = {
    /* gcc / clang */
    {"clang", {CLANG, "-c", "a.c", "-o", "obj/a.o"}, {"obj/a.o"}, {NULL}},
    {"gcc", {"gcc", "-c", "a.c", "-oobj/a.o"}, {"obj/a.o"}, {NULL}},
    {"g++", {"g++", "-o", "x.o", "-c", "a.c", "-o", "y.o"}, {"y.o"}, {NULL}},
    {"clang++", {CLANG, "-MMD", "-MF", "a.d", "-MFb.d", "-o", "a.o", "a.c"},
     {"a.d", "b.d", "a.o"}, {NULL}},
    {"clang", {CLANG, "-o", "obj/a.o", "-MF", "obj/a.d"},
     {"obj/a.d", "obj/a.o"}, {NULL}},
    {"clang", {CLANG, "-gsplit-dwarf", "-c", "a.c", "-o", "obj/a.o"},
     {"obj/a.o", "obj/a.dwo"}, {NULL}},
    {"clang", {CLANG, "-o", "obj/a.obj", "-gsplit-dwarf"},
     {"obj/a.obj", "obj/a.obj.dwo"}, {NULL}},
    {"clang", {CLANG, "-gsplit-dwarf", "-c", "a.c"}, {NULL}, {NULL}},
    {"clang", {CLANG, "-MF", "a.d", "-c", "a.c"}, {"a.d"}, {NULL}},
    {"clang", {CLANG, "-c", "a.c"}, {NULL}, {NULL}},
    {"clang", {CLANG, "-c", "a.c", "-o"}, {NULL}, {NULL}},
    {"clang", {CLANG, "-c", "a.c", "-MF"}, {NULL}, {NULL}},
    /* clang-cl */
    {"clang-cl", {"clang-cl", "/c", "a.cc", "/Foobj/a.obj"}, {"obj/a.obj"},
     {NULL}},
    {"clang-cl", {"clang-cl", "-Foobj/a.obj"}, {"obj/a.obj"}, {NULL}},
    {"clang-cl", {"clang-cl", "/o", "x.exe", "-o", "y"}, {"x.exe", "y"},
     {NULL}},
    {"clang-cl", {"clang-cl", "/ox.exe", "-oy"}, {"x.exe", "y"}, {NULL}},
    {"clang-cl", {"clang-cl", "/Fipre.i", "/Faa.asm", "/Fea.exe",
                  "-Fpa.pch"}, {"pre.i", "a.asm", "a.exe", "a.pch"}, {NULL}},
    {"clang-cl", {"clang-cl", "/Fo", "/Fdx.pdb", "/FIx.h", "/c"}, {NULL},
     {NULL}},
    {"clang-cl", {"clang-cl", "a.cc", "/o"}, {NULL}, {NULL}},
    /* javac */
    {"javac", {"javac", "-d", "out/classes", "-s", "out/gen", "A.java"},
     {NULL}, {"out/classes", "out/gen"}},
    {"javac", {"javac", "A.java", "-d"}, {NULL}, {NULL}},
    {"javac", {"javac", "-o", "x", "A.java"}, {NULL}, {NULL}},
    /* others */
    {"cl.exe", {"cl.exe", "/c", "/Foa.obj", "-o", "x"}, {NULL}, {NULL}},
    {"clang-tidy", {"clang-tidy", "-o", "x"}, {NULL}, {NULL}},
    {"", {"cc", "-o", "x"}, {NULL}, {NULL}},
};

static const target_case_t target_cases[] = {
    {"clang", "x86_64-linux-gnu", "x86_64-linux"},
    {"clang", "x86_64-unknown-linux-gnu", "x86_64-linux"},
    {"clang", "x86_64-pc-linux-gnu", "x86_64-linux"},
    {"clang", "x86_64-linux", "x86_64-linux"},
    {"clang", "i686-pc-linux-gnu", "i686-linux"},
    {"clang", "i386-pc-linux-gnu", "i686-linux"},
    {"clang", "i486-linux-gnu", "i686-linux"},
    {"clang", "i986-linux", "i686-linux"},
    {"clang", "i86-linux", "i86-linux"},
    {"clang", "ia86-linux", "ia86-linux"},
    {"clang", "i6860-linux", "i6860-linux"},
    {"clang", "amd64-pc-linux-gnu", "x86_64-linux"},
    {"clang", "armv7a-cros-linux-gnueabihf", "armv7a-cros-linux-gnueabihf"},
    {"clang", "armv7a-cros-linux-gnueabi", "armv7a-cros-linux-gnueabi"},
    {"clang", "x86_64-cros-linux-gnu", "x86_64-cros-linux"},
    {"clang", "x86_64-apple-darwin10", "x86_64-darwin"},
    {"clang", "x86_64-apple-darwin16.5.0", "x86_64-darwin"},
    {"clang", "i686-apple-darwin11", "i686-darwin"},
    {"clang", "x86_64-apple-macosx10.15", "x86_64-macosx10.15"},
    {"clang", "x86_64-pc-darwin", "x86_64-darwin"},
    {"clang", "arm-eabi", "arm-eabi"},
    {"clang", "arm-none-eabi", "arm-none-eabi"},
    {"clang", "arm-linux-androideabi", "arm-linux-androideabi"},
    {"clang", "aarch64-linux-android", "aarch64-linux-android"},
    {"clang", "i686-android-linux", "i686-linux"},
    {"clang", "mipsel-linux-uclibc", "mipsel-linux-uclibc"},
    {"clang", "x86_64-apple-darwin-macho", "x86_64-darwin-macho"},
    {"clang", "x86_64-pc-windows-msvc", "x86_64-windows-msvc"},
    {"clang", "i386-pc-windows-msvc", "i686-windows-msvc"},
    {"clang", "sh-linux-gnu", "sh-linux"},
    {"clang", "x86_64-nacl", "x86_64-nacl"},
    {"clang", "x86_64--nacl", "x86_64-nacl"},
    {"clang", "x86_64--darwin", "x86_64-darwin"},
    {"clang", "wasm32-unknown-unknown", "wasm32-unknown"},
    {"clang", "x86_64-", "x86_64"},
    {"clang", "gnu-gnu", "gnu"},
    {"clang", "x86_64", NOPE},
    {"clang", "x86_64-unknown-linux-gnu-extra", NOPE},
    {"clang", "x86_64-dummy-long-target", NOPE},
    {"clang", "x86_64-too-long-target-name-but-linux-msvc", NOPE},
    {"clang", "---", NOPE},
    /* skipped */
    {"clang", "", ""},
    {"javac", "java", "java"},
    {"clang", "java", "java"},
    {"cl.exe", "x64", "x64"},
    {"cl.exe", "x86_64-unknown-linux-gnu-extra",
     "x86_64-unknown-linux-gnu-extra"},
};
/* clang-format on */


static rx_str_t
s(const char *p)
{
    rx_str_t r;

    r.data = (u_char *) p;
    r.len = strlen(p);
    return r;
}

static rx_uint_t
count(const char *const *v)
{
    rx_uint_t n;

    for (n = 0; v[n]; n++) {
        /* void */
    }
    return n;
}

/* v[i] or "" past the end, for test names */
static const char *
at(const char *const *v, rx_uint_t i)
{
    return i < count(v) ? v[i] : "";
}

static void
test_kinds(void)
{
    rx_str_t name;
    size_t   i;

    for (i = 0; i < rx_nelems(kind_cases); i++) {
        name = s(kind_cases[i].name);
        is_int(rx_exec_compiler_kind(&name), kind_cases[i].kind,
               "compiler kind of \"%s\"", kind_cases[i].name);
    }
}

static void
run_reloc_case(rx_pool_t *pool, const reloc_case_t *c)
{
    const char *reason;
    rx_str_t    name;
    int         r;

    name = s(c->name);
    reason = "unset";
    r = rx_exec_relocatable(pool, &name, (char **) c->args, count(c->args),
                            (char **) c->env, count(c->env), &reason);
    if (c->exp) {
        ok(r == 1, "%s %s ... relocatable", c->name, at(c->args, 1));
        if (r != 1) {
            printf("#   reason: %s\n", reason ? reason : "(null)");
        }
        return;
    }
    ok(r == 0 && reason != NULL
           && (c->reason == NULL || strcmp(reason, c->reason) == 0),
       "%s %s ... not relocatable: %s", c->name, at(c->args, 1),
       c->reason ? c->reason : "(any reason)");
    if (r != 0 || reason == NULL
        || (c->reason != NULL && strcmp(reason, c->reason) != 0)) {
        printf("#   got %d, reason: %s\n", r, reason ? reason : "(null)");
    }
}

static void
test_relocatable(rx_pool_t *pool)
{
    size_t i;

    for (i = 0; i < rx_nelems(reloc_cases); i++) {
        run_reloc_case(pool, &reloc_cases[i]);
    }
}

static int
arr_is(const rx_array_t *a, const char *const *exp)
{
    rx_str_t *v = a->elts;
    rx_uint_t i, n;

    n = count(exp);
    if (a->nelts != n) {
        printf("#   got %u elements, expected %u\n", (unsigned) a->nelts,
               (unsigned) n);
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (v[i].len != strlen(exp[i])
            || memcmp(v[i].data, exp[i], v[i].len) != 0
            || v[i].data[v[i].len] != '\0') {
            printf("#   element %u: got \"%.*s\", expected \"%s\"\n",
                   (unsigned) i, (int) v[i].len, (char *) v[i].data, exp[i]);
            return 0;
        }
    }
    return 1;
}

static void
test_outputs(rx_pool_t *pool)
{
    const out_case_t *c;
    rx_array_t        files, dirs;
    rx_str_t          name;
    size_t            i;
    rx_int_t          rc;

    for (i = 0; i < rx_nelems(out_cases); i++) {
        c = &out_cases[i];
        rx_array_init(&files, pool, 1, sizeof(rx_str_t));
        rx_array_init(&dirs, pool, 1, sizeof(rx_str_t));
        name = s(c->name);
        rc = rx_exec_outputs(pool, &name, (char **) c->args, count(c->args),
                             &files, &dirs);
        ok(rc == RX_OK && arr_is(&files, c->files) && arr_is(&dirs, c->dirs),
           "outputs of %s %s %s ... (%u files, %u dirs)", c->name,
           at(c->args, 1), at(c->args, 2), (unsigned) count(c->files),
           (unsigned) count(c->dirs));
    }
}

static void
test_targets(rx_pool_t *pool)
{
    const target_case_t *c;
    rx_str_t             name, target, out;
    rx_int_t             rc;
    size_t               i;

    for (i = 0; i < rx_nelems(target_cases); i++) {
        c = &target_cases[i];
        name = s(c->name);
        target = s(c->target);
        rc = rx_exec_normalize_target(pool, &name, &target, &out);
        if (c->exp == NOPE) {
            is_int(rc, RX_ERROR, "target \"%s\" is malformed", c->target);
            continue;
        }
        ok(rc == RX_OK && out.len == strlen(c->exp)
               && memcmp(out.data, c->exp, out.len) == 0
               && out.data[out.len] == '\0',
           "target %s \"%s\" -> \"%s\"", c->name, c->target, c->exp);
        if (rc != RX_OK || out.len != strlen(c->exp)
            || memcmp(out.data, c->exp, out.len) != 0) {
            printf("#   got rc %d \"%.*s\"\n", (int) rc,
                   rc == RX_OK ? (int) out.len : 0,
                   rc == RX_OK ? (char *) out.data : "");
        }
    }
}

/* no memory: outputs and targets fail, relocatability says "no" */
static void
test_oom(void)
{
    static const char *const args[] = {"clang", "-Wa,-x", "-o", "a.o",
                                       "-MF",   "a.d",    NULL};
    rx_array_t               files, dirs;
    rx_pool_t               *pool;
    rx_str_t                 name, target, out;
    const char              *reason;

    pool = rx_create_pool(1024, &rx_log_stderr);
    rx_array_init(&files, pool, 1, sizeof(rx_str_t));
    rx_array_init(&dirs, pool, 1, sizeof(rx_str_t));
    pool->limit = 1;
    pool->total = 1;
    name = s("clang");
    is_int(
        rx_exec_relocatable(pool, &name, (char **) args, 6, NULL, 0, &reason),
        0, "relocatable without memory is 0");
    ok(reason != NULL, "with a reason: %s", reason ? reason : "(null)");
    is_int(rx_exec_outputs(pool, &name, (char **) args, 6, &files, &dirs),
           RX_ERROR, "outputs fail without memory");
    target = s("x86_64-linux-gnu");
    is_int(rx_exec_normalize_target(pool, &name, &target, &out), RX_ERROR,
           "target normalization fails without memory");
    rx_destroy_pool(pool);
}

int
main(void)
{
    rx_pool_t *pool;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    if (pool == NULL) {
        return 1;
    }
    test_kinds();
    test_relocatable(pool);
    test_outputs(pool);
    test_targets(pool);
    rx_destroy_pool(pool);
    test_oom();
    return done_testing();
}
