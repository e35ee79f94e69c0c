/* test_sha256.c: SHA-256 against the FIPS 180-4 / NIST example vectors, fed whole and in
 * pieces of every size (the streaming must not change the digest), plus a million 'a'. */
#include "check.h"
#include "sha256.h"

#include <stdio.h>
#include <string.h>

static void hex(const unsigned char *d, char *out) {
    for (int i = 0; i < ATTN_SHA256_BYTES; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* Digest of s fed in pieces of `piece` bytes (0: at once), as hex. */
static void digest(const char *s, size_t n, size_t piece, char *out) {
    attn_sha256 c;
    unsigned char d[ATTN_SHA256_BYTES];
    attn_sha256_init(&c);
    if (!piece) piece = n ? n : 1;
    for (size_t i = 0; i < n; i += piece) attn_sha256_update(&c, s + i, n - i < piece ? n - i : piece);
    attn_sha256_final(&c, d);
    hex(d, out);
}

int main(void) {
    static const struct { const char *in, *want; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char got[2 * ATTN_SHA256_BYTES + 1];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        for (size_t piece = 0; piece <= 70; piece++) {
            digest(v[i].in, strlen(v[i].in), piece, got);
            CHECK_MSG(strcmp(got, v[i].want) == 0, "vector %zu, pieces of %zu: %s", i, piece, got);
        }
    static char million[1000000];
    memset(million, 'a', sizeof million);
    digest(million, sizeof million, 4099, got);
    CHECK(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    return CHECK_DONE();
}
