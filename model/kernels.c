/* kernels.c: the run-time CPU check of every kernel family (model/isa.h), and the choice of
 * the kernel table for the CPU the extension runs on.
 *
 * x86_64: cpuid says what the CPU has and xgetbv (XCR0) says whether the OS saves the AVX and
 * AVX-512 register state; a table is handed out only when both agree. The per-ISA files are
 * compiled with their own ISA flags, and nothing in them runs before this check.
 * aarch64: NEON (Advanced SIMD, including f16 conversion) is part of the base architecture.
 *
 * The choice is made once, under pthread_once. ATTN_SIMD=scalar|avx2|avx512|neon asks for a
 * table; a level this CPU lacks (or an unknown name) falls back to the best one available. */
#include "isa.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ATTN_X86 1
#endif

#define FEATURES_MAX 256

static struct {
    int avx2;     /* AVX2 + FMA + F16C, and the OS saves YMM state */
    int avx512;   /* AVX-512 F/BW/DQ/VL plus the above, and the OS saves ZMM + opmask state */
    int neon;
    int vnni;     /* AVX-512 VNNI (the int8 kernels, qgemm.c) */
    int amx_int8; /* AMX-TILE and AMX-INT8, and the OS saves the tile state (qgemm_amx.c) */
    char features[FEATURES_MAX];
    const attn_kernels *best;
} cpu;

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void add_feature(const char *name, int present) {
    if (!present) return;
    size_t used = strlen(cpu.features);
    if (used + strlen(name) + 2 > sizeof cpu.features) return;
    if (used) cpu.features[used++] = ' ';
    strcpy(cpu.features + used, name);
}

#ifdef ATTN_X86
/* XCR0 bits: 1 SSE, 2 AVX (YMM upper halves), 5 opmask, 6 ZMM upper halves, 7 ZMM16-31. */
#define XCR0_AVX_STATE    0x06u
#define XCR0_AVX512_STATE 0xe6u
#define XCR0_TILE_STATE   0x60000u   /* bits 17 (XTILECFG) and 18 (XTILEDATA) */

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    int os_avx = (xcr0 & XCR0_AVX_STATE) == XCR0_AVX_STATE;
    int os_avx512 = (xcr0 & XCR0_AVX512_STATE) == XCR0_AVX512_STATE;

    unsigned max_leaf = __get_cpuid_max(0, NULL);
    unsigned b7 = 0, c7 = 0, d7 = 0, a7_1 = 0;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b7, c7, d7);
        if (a >= 1) __cpuid_count(7, 1, a7_1, b, c, d);
    }
    int avx2 = (b7 >> 5) & 1;
    int f = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1;

    add_feature("avx", avx);
    add_feature("avx2", avx2);
    add_feature("fma", fma);
    add_feature("f16c", f16c);
    add_feature("avx512f", f);
    add_feature("avx512bw", bw);
    add_feature("avx512dq", dq);
    add_feature("avx512vl", vl);
    add_feature("avx512vnni", (c7 >> 11) & 1);
    add_feature("avx512bf16", (a7_1 >> 5) & 1);
    add_feature("avx512fp16", (d7 >> 23) & 1);
    add_feature("amx-int8", (d7 >> 25) & 1);
    add_feature("os-ymm", os_avx);
    add_feature("os-zmm", os_avx512);
    add_feature("os-tiles", (xcr0 & XCR0_TILE_STATE) == XCR0_TILE_STATE);

    cpu.avx2 = avx && avx2 && fma && f16c && os_avx;
    cpu.avx512 = cpu.avx2 && f && bw && dq && vl && os_avx512;
    cpu.vnni = (c7 >> 11) & 1;
    cpu.amx_int8 = ((d7 >> 24) & 1) && ((d7 >> 25) & 1) &&
                   (xcr0 & XCR0_TILE_STATE) == XCR0_TILE_STATE;
}
#endif

static const attn_kernels *table_if_supported(const char *name) {
    if (strcmp(name, "scalar") == 0) return attn_kernels_scalar();
#ifdef ATTN_X86
    if (strcmp(name, "avx2") == 0 && cpu.avx2) return attn_kernels_avx2_table();
    if (strcmp(name, "avx512") == 0 && cpu.avx512) return attn_kernels_avx512_table();
#endif
#ifdef __aarch64__
    if (strcmp(name, "neon") == 0 && cpu.neon) return attn_kernels_neon_table();
#endif
    return NULL;
}

static const attn_kernels *best_supported(void) {
    static const char *const by_preference[] = {"avx512", "avx2", "neon", "scalar"};
    for (size_t i = 0; i < sizeof by_preference / sizeof *by_preference; i++) {
        const attn_kernels *k = table_if_supported(by_preference[i]);
        if (k) return k;
    }
    return attn_kernels_scalar();
}

static void detect_once(void) {
#ifdef ATTN_X86
    detect_x86();
#endif
#ifdef __aarch64__
    cpu.neon = 1;
    add_feature("neon", 1);
#endif
    const char *wanted = getenv("ATTN_SIMD");
    const attn_kernels *k = wanted && *wanted ? table_if_supported(wanted) : NULL;
    cpu.best = k ? k : best_supported();
}

const attn_kernels *attn_kernels_best(void) {
    pthread_once(&cpu_once, detect_once);
    return cpu.best;
}

const attn_kernels *attn_kernels_by_name(const char *name) {
    if (!name) return NULL;
    pthread_once(&cpu_once, detect_once);
    return table_if_supported(name);
}

int attn_cpu_has_vnni(void) {
    pthread_once(&cpu_once, detect_once);
    return cpu.vnni;
}

int attn_cpu_has_amx_int8(void) {
    pthread_once(&cpu_once, detect_once);
    return cpu.amx_int8;
}

const char *attn_cpu_features(void) {
    pthread_once(&cpu_once, detect_once);
    return cpu.features;
}
