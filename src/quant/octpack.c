/*
 * octpack.c — weight layouts of our own, made at load for the AVX-512 oct
 * kernels (oct.c) and never written to a file: TYPE_Q4_0_OCT and
 * TYPE_Q8_0_OCT.
 *
 * The oct kernels work on 8 blocks at a time and want, for each 64-byte
 * dpbusd operand, dword j of each of the 8 blocks side by side. From the
 * file's layout (a 2-byte scale, then the quants, block after block) they
 * had to pick those bytes out with byte permutes, a third of a Q4_0
 * decode's instructions. So when the model was read into memory, each
 * whole oct of a Q4_0 or Q8_0 weight row is rewritten in place (by oct.c,
 * with those permutes, once) as its 8 scales (16 bytes), then its quant
 * bytes in operand order: byte t of part
 * o (64 bytes each; 2 parts for Q4_0's 16 quant bytes a block, 4 for
 * Q8_0's 32) is quant byte 4·(2o + t/32) + t%4 of block t/4 % 8. It is a
 * permutation of the oct's bytes: the size and row stride stay, and so do
 * the last nb % 8 blocks of a row, which the kernels take as plain blocks.
 *
 * The reference to_float and dot put octs back into plain blocks and take
 * the plain type's steps, so every result has the original rows' bits.
 */
#include "quant_impl.h"

#define OCT_BLOCKS 8

_Static_assert(offsetof(block_q4_0, qs) == 2 && offsetof(block_q8_0, qs) == 2, "a 2-byte scale, then the quants");

/* Offset in a plain oct (blocks of bs bytes, quants after the scale) of
 * byte t of part o of the repacked one. */
static size_t oct_src(size_t bs, int o, int t)
{
    return (size_t)(t / 4 % OCT_BLOCKS) * bs + 2 + 4 * (size_t)(2 * o + t / 32) + (size_t)(t % 4);
}

/* One rearranged oct back to its 8 plain blocks: the reference's reading
 * of the layout, which oct.c makes with the kernels' byte permutes. */
static void oct_unpack(const uint8_t *oct, uint8_t *blocks, size_t bs)
{
    for (int k = 0; k < OCT_BLOCKS; k++) memcpy(blocks + (size_t)k * bs, oct + 2 * k, 2); /* the scales */
    for (size_t o = 0; 16 + 64 * o < OCT_BLOCKS * bs; o++)
        for (int t = 0; t < 64; t++) blocks[oct_src(bs, (int)o, t)] = oct[16 + 64 * o + (size_t)t];
}

/* Blocks i ..< i + 8 (or to the end) of a repacked row of nb blocks, as
 * plain blocks: how many there are. */
static int oct_blocks(const uint8_t *row, int64_t nb, int64_t i, uint8_t *out, size_t bs)
{
    if (i + OCT_BLOCKS <= nb) {
        oct_unpack(row + i * bs, out, bs);
        return OCT_BLOCKS;
    }
    memcpy(out, row + i * bs, (size_t)(nb - i) * bs);
    return (int)(nb - i);
}

void q4_0_oct_unpack(const void *oct, void *blocks) { oct_unpack(oct, blocks, sizeof(block_q4_0)); }
void q8_0_oct_unpack(const void *oct, void *blocks) { oct_unpack(oct, blocks, sizeof(block_q8_0)); }

/* Both types have 32-element blocks and dot with Q8_0 activations. */
static void oct_to_float_ref(const void *src, float *dst, int64_t n, size_t bs, to_float_fn plain)
{
    const int64_t nb = n / QK8_0;
    uint8_t b[OCT_BLOCKS * sizeof(block_q8_0)];
    for (int64_t i = 0; i < nb; i += OCT_BLOCKS) plain(b, dst + i * QK8_0, oct_blocks(src, nb, i, b, bs) * QK8_0);
}

/* The plain type's steps, continuing one sum block by block. */
static float oct_dot_ref(int64_t n, const void *w, const void *a, size_t bs,
                         float (*dot_blocks)(const void *, const void *, int64_t, float))
{
    const block_q8_0 *y = a;
    const int64_t nb = n / QK8_0;
    uint8_t x[OCT_BLOCKS * sizeof(block_q8_0)];
    float s = 0;
    for (int64_t i = 0; i < nb; i += OCT_BLOCKS) s = dot_blocks(x, y + i, oct_blocks(w, nb, i, x, bs), s);
    return s;
}

void q4_0_oct_to_float_ref(const void *src, float *dst, int64_t n)
{
    oct_to_float_ref(src, dst, n, sizeof(block_q4_0), q4_0_to_float_ref);
}

void q8_0_oct_to_float_ref(const void *src, float *dst, int64_t n)
{
    oct_to_float_ref(src, dst, n, sizeof(block_q8_0), q8_0_to_float_ref);
}

float q4_0_oct_dot_ref(int64_t n, const void *w, const void *a)
{
    return oct_dot_ref(n, w, a, sizeof(block_q4_0), q4_0_dot_blocks);
}

float q8_0_oct_dot_ref(int64_t n, const void *w, const void *a)
{
    return oct_dot_ref(n, w, a, sizeof(block_q8_0), q8_0_dot_blocks);
}
