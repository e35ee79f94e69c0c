/* sha256.h: SHA-256 (FIPS 180-4), streaming. What the model cache keys on: a collision-resistant
 * digest of a model's rows, so that no database can make the cache hand out another model's
 * weights for its own (a 64-bit non-cryptographic fingerprint can be matched in seconds). */
#ifndef ATTN_SHA256_H
#define ATTN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define ATTN_SHA256_BYTES 32

typedef struct attn_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;           /* total so far */
    unsigned char block[64];    /* [n_bytes % 64] pending bytes */
} attn_sha256;

void attn_sha256_init(attn_sha256 *c);
void attn_sha256_update(attn_sha256 *c, const void *data, size_t n);
/* Writes the digest; c is spent (init it again to reuse). */
void attn_sha256_final(attn_sha256 *c, unsigned char out[ATTN_SHA256_BYTES]);

#endif
