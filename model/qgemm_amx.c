/* qgemm_amx.c: the AMX int8 table (see qgemm.h). An AMX tile multiply (tdpbusd) takes 16 rows
 * of 64 uint8 activations and 64 x 16 int8 weights and adds the products into 16 x 16 int32
 * sums: 16,384 multiply-adds in one instruction (measured here: 2.6 T multiply-adds/s a core,
 * 8x AVX-512 VNNI). The sums are vpdpbusd's (exact int32, no saturation), and the epilogue is
 * the VNNI table's (qgemm_avx512vnni.h), so the outputs are the plain C table's bits.
 *
 * The epilogue (int32 sums to floats, bias, residual), not the multiplies, is most of the
 * time at the encoder's shapes: 1.6-1.9x the VNNI table at C = 128-256, 2.3x at C = 1024
 * (tests/bench/bench_encoder, int8 rows). The tile unit and the vector units did not overlap
 * (measured: software-pipelining the next tokens' sums against these tokens' epilogue, in two
 * sets of tiles, was no faster), so the tiles do the most work per load: 2 A x 2 B tiles.
 *
 * The packed weights need no new layout: a block's 16 consecutive groups of 4 input channels
 * (64 B each, qgemm.h) are exactly a B tile of 16 rows x 64 B in the VNNI order tdpbusd
 * wants. Activations are read as A tiles of 16 token rows x 64 B with the row stride CP.
 * Rows past T in the last A tile are the scratch's padding rows, zeroed by quantize_amx.
 * CP is a multiple of 64 (qgemm.h pads C), so the tiles cover every channel. (Before that
 * padding, channels past the last whole tile were added with VNNI in the epilogue, which made
 * en-topic's projection, C = 144, slower here than on the VNNI table.)
 *
 * Compiled with the amx flags (model/isa.h: the avx512vnni ones plus -mamx-tile -mamx-int8).
 * qgemm.c hands this table out only after the VNNI checks, cpuid's AMX-TILE and
 * AMX-INT8 bits, XCR0's tile state bits and Linux's permission (arch_prctl) for this process.
 * Each call loads the tile configuration and releases the tiles before returning, so no
 * thread keeps AMX state between calls. */
#include "isa.h"

#include <string.h>

#include "qgemm_avx512vnni.h"

#define TILE_K 64                                 /* input channels (bytes) per tile row */
#define TILE_OUT (ATTN_Q8_TILE_ROWS * Q8_LANES)   /* int32 sums in one C tile */
_Static_assert(ATTN_Q8_PANEL_K % TILE_K == 0, "CP must be whole tiles");

/* The tile registers: C tiles 0-3 (2 x 2 blocks of 16 tokens x 16 outputs), A tiles 4-5 (16
 * tokens each), B tiles 6-7 (16 outputs each). Every tile is 16 rows of 64 bytes. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static void load_tile_config(void) {
    _Alignas(64) tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = ATTN_Q8_TILE_ROWS;
        cfg.colsb[i] = TILE_K;
    }
    _tile_loadconfig(&cfg);
}

/* The VNNI quantiser, then zero activations in the padding rows up to a whole A tile. */
static void quantize_amx(uint8_t *u, float *ascale, int32_t *zero, const float *x, int T,
                         int C, int CP) {
    attn_qgemm_avx512vnni_table()->quantize(u, ascale, zero, x, T, C, CP);
    const int padded = (T + ATTN_Q8_TILE_ROWS - 1) / ATTN_Q8_TILE_ROWS * ATTN_Q8_TILE_ROWS;
    memset(u + (size_t)T * CP, 0, (size_t)(padded - T) * CP);
}

/* Two blocks of 16 outputs: what one sweep of the tiles computes. */
typedef struct {
    const attn_q8_matrix *W;
    const int8_t *w[2];   /* the blocks' packed weights */
    q8_block block[2];    /* their scales, sums and bias */
    int o0;               /* first output */
} block_pair;

/* The call's arguments, as the kernel table gets them. */
typedef struct {
    float *out;
    const uint8_t *u;
    const float *ascale;
    const int32_t *zero;
    const float *residual;
} gemm_args;

/* Token t of the pair p: its 32 outputs from row r of the C tiles stored at acc. */
static inline __attribute__((always_inline)) void store_row(
    const block_pair *p, int t, const int32_t acc[2][TILE_OUT], int r, const gemm_args *g) {
    const int OC = p->W->OC;
    float *row = g->out + (size_t)t * OC + p->o0;
    const float *res = g->residual ? g->residual + (size_t)t * OC + p->o0 : NULL;
    q8_store_row(row, _mm512_load_si512(acc[0] + r * Q8_LANES), g->ascale[t], g->zero[t],
                 &p->block[0], res);
    q8_store_row(row + Q8_LANES, _mm512_load_si512(acc[1] + r * Q8_LANES), g->ascale[t],
                 g->zero[t], &p->block[1], res ? res + Q8_LANES : NULL);
}

/* Sums for 32 tokens (two A tiles from u) x the pair's 32 outputs into acc[2][2]:
 * [tokens 0-15 | 16-31][block 0 | block 1]. */
static void sums_32x32(int32_t acc[2][2][TILE_OUT], const uint8_t *u, const block_pair *p) {
    const int CP = p->W->CP;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int k = 0; k < p->W->CP; k += TILE_K) {
        _tile_loadd(4, u + k, CP);
        _tile_loadd(5, u + (size_t)ATTN_Q8_TILE_ROWS * CP + k, CP);
        _tile_loadd(6, p->w[0] + (size_t)k * ATTN_Q8_BLOCK_OC, TILE_K);
        _tile_loadd(7, p->w[1] + (size_t)k * ATTN_Q8_BLOCK_OC, TILE_K);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
    }
    _tile_stored(0, acc[0][0], TILE_K);
    _tile_stored(1, acc[0][1], TILE_K);
    _tile_stored(2, acc[1][0], TILE_K);
    _tile_stored(3, acc[1][1], TILE_K);
}

/* The same for the last 16 tokens (one A tile) into acc[0]. */
static void sums_16x32(int32_t acc[2][2][TILE_OUT], const uint8_t *u, const block_pair *p) {
    _tile_zero(0);
    _tile_zero(1);
    for (int k = 0; k < p->W->CP; k += TILE_K) {
        _tile_loadd(4, u + k, p->W->CP);
        _tile_loadd(6, p->w[0] + (size_t)k * ATTN_Q8_BLOCK_OC, TILE_K);
        _tile_loadd(7, p->w[1] + (size_t)k * ATTN_Q8_BLOCK_OC, TILE_K);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
    }
    _tile_stored(0, acc[0][0], TILE_K);
    _tile_stored(1, acc[0][1], TILE_K);
}

/* Pairs of output blocks (32 outputs; OCP is a multiple of 64, so pairs are whole), each
 * swept over the tokens 32 at a time while its weights stay in L1. */
static void gemm_amx(float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
                     const attn_q8_matrix *W, const float *b, const float *residual, int T) {
    const int R = ATTN_Q8_TILE_ROWS;
    const gemm_args g = {out, u, ascale, zero, residual};
    const size_t block_bytes = (size_t)W->CP * ATTN_Q8_BLOCK_OC;
    _Alignas(64) int32_t acc[2][2][TILE_OUT];   /* [16 tokens][block] */
    load_tile_config();
    for (int blk = 0; blk < W->OCP / ATTN_Q8_BLOCK_OC; blk += 2) {
        block_pair p = {.W = W, .o0 = blk * ATTN_Q8_BLOCK_OC};
        for (int j = 0; j < 2; j++) {
            p.w[j] = W->q + (size_t)(blk + j) * block_bytes;
            p.block[j] = q8_block_load(W, b, p.o0 + j * ATTN_Q8_BLOCK_OC);
        }
        for (int t = 0; t < T; t += 2 * R) {
            const int rows = T - t < 2 * R ? T - t : 2 * R;
            const uint8_t *ut = u + (size_t)t * W->CP;
            if (rows > R)
                sums_32x32(acc, ut, &p);
            else
                sums_16x32(acc, ut, &p);
            for (int i = 0; i < rows; i++) store_row(&p, t + i, acc[i / R], i % R, &g);
        }
    }
    _tile_release();
}

static const attn_q8_kernels table = {"amx", quantize_amx, gemm_amx};

const attn_q8_kernels *attn_qgemm_amx_table(void) { return &table; }

