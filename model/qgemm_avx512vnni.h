/* qgemm_avx512vnni.h: what the AVX-512 int8 tables (qgemm_avx512vnni.c, qgemm_amx.c) share: the
 * epilogue that turns int32 sums into floats, one place for that arithmetic so that both
 * give the plain C table's bits (qgemm.h), and the VNNI step on 4 channels.
 * Include only from files compiled with the avx512vnni or amx flags (model/isa.h). */
#ifndef ATTN_QGEMM_AVX512VNNI_H
#define ATTN_QGEMM_AVX512VNNI_H

#include <immintrin.h>
#include <string.h>

#include "qgemm.h"

#define Q8_LANES 16   /* int32 or float per zmm */

static inline __mmask16 q8_first_lanes(int n) {   /* n >= 16: all */
    return n >= Q8_LANES ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* 4 activations of a row, broadcast to every int32 lane. */
static inline __m512i q8_broadcast4(const uint8_t *a) {
    int32_t a4;
    memcpy(&a4, a, sizeof a4);
    return _mm512_set1_epi32(a4);
}

/* What one block of 16 outputs starting at o0 needs from the matrix: loaded once for all the
 * rows of a tile. live is 0 for a padding block (o0 >= OC), which stores nothing. */
typedef struct {
    __m512i wsum;
    __m512 wscale, bias;
    __mmask16 mask;
    int live, has_bias;
} q8_block;

static inline __attribute__((always_inline)) q8_block q8_block_load(
    const attn_q8_matrix *W, const float *b, int o0) {
    q8_block k = {_mm512_setzero_si512(), _mm512_setzero_ps(), _mm512_setzero_ps(), 0,
                  o0 < W->OC, b != NULL};
    if (!k.live) return k;
    k.mask = q8_first_lanes(W->OC - o0);
    k.wsum = _mm512_load_si512(W->wsum + o0);
    k.wscale = _mm512_load_ps(W->wscale + o0);
    if (b) k.bias = _mm512_maskz_loadu_ps(k.mask, b + o0);
    return k;
}

/* out[o0 .. o0+16) of one row from its int32 sums acc (the plain C twin's arithmetic, lane by
 * lane; the bias is added only when there is one, as there: v + 0 would turn -0 into +0).
 * out and res point at the row's output o0. Inlined: a call would clobber every zmm, so a
 * register tile's accumulators would be spilled to the stack first. */
static inline __attribute__((always_inline)) void q8_store_row(
    float *out, __m512i acc, float ascale, int32_t zero, const q8_block *k, const float *res) {
    if (!k->live) return;
    __m512i centred = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(zero), k->wsum));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(centred),
                             _mm512_mul_ps(_mm512_set1_ps(ascale), k->wscale));
    if (k->has_bias) v = _mm512_add_ps(v, k->bias);
    if (res) v = _mm512_add_ps(_mm512_maskz_loadu_ps(k->mask, res), v);
    _mm512_mask_storeu_ps(out, k->mask, v);
}

/* The same for one row and one block, loading the block's constants itself. */
static inline __attribute__((always_inline)) void q8_store_block(
    float *out, __m512i acc, float ascale, int32_t zero,
    const attn_q8_matrix *W, const float *b, const float *res, int o0) {
    const q8_block k = q8_block_load(W, b, o0);
    q8_store_row(out + o0, acc, ascale, zero, &k, res ? res + o0 : NULL);
}

#endif
