/*
 * test_kvcache.c — the paged KV cache at the block level: growth on demand,
 * sharing by fork, copy-on-write, truncation, freeing and the pool limit.
 */
#include "testutil.h"

#include "kvcache.h"

/* Tests use an F32 cache so that values compare exactly. */
static void fill(struct kv_cache *kv, int seq, int pos, float v)
{
    assert_true(kv_prepare_write(kv, seq, pos));
    for (int l = 0; l < kv->n_layer; l++) {
        for (int i = 0; i < kv->k_dim; i++) ((float *)kv_k(kv, seq, l, pos))[i] = v + l + i * 0.001f;
        for (int i = 0; i < kv->v_dim; i++) ((float *)kv_v(kv, seq, l, pos))[i] = -v - l - i * 0.001f;
    }
}

static void expect(const struct kv_cache *kv, int seq, int pos, float v)
{
    for (int l = 0; l < kv->n_layer; l++) {
        for (int i = 0; i < kv->k_dim; i++) assert_float_equal(((float *)kv_k(kv, seq, l, pos))[i], v + l + i * 0.001f, 0);
        for (int i = 0; i < kv->v_dim; i++) assert_float_equal(((float *)kv_v(kv, seq, l, pos))[i], -v - l - i * 0.001f, 0);
    }
}

static void test_grows_with_tokens(void **state)
{
    (void)state;
    struct kv_cache kv;
    assert_int_equal(kv_init(&kv, TYPE_F32, 3, 8, 6, 4, 100, 2), 0);
    assert_int_equal(kv_blocks_used(&kv), 0);
    int s = kv_seq_new(&kv);
    for (int p = 0; p < 10; p++) {
        fill(&kv, s, p, (float)p);
        assert_int_equal(kv_blocks_used(&kv), p / 4 + 1);
    }
    for (int p = 0; p < 10; p++) expect(&kv, s, p, (float)p);
    assert_int_equal(kv.n_allocated, 3); /* memory follows the tokens: 3 blocks of 4 */
    kv_free(&kv);
}

static void test_fork_shares_and_copies_on_write(void **state)
{
    (void)state;
    struct kv_cache kv;
    assert_int_equal(kv_init(&kv, TYPE_F32, 2, 4, 4, 4, 100, 4), 0);
    int a = kv_seq_new(&kv);
    for (int p = 0; p < 6; p++) fill(&kv, a, p, (float)p);   /* blocks: [0-3] full, [4-5] partial */
    int b = kv_seq_fork(&kv, a, 6);
    assert_true(b >= 0 && b != a);
    assert_int_equal(kv_blocks_used(&kv), 2);
    assert_int_equal(kv_blocks_shared(&kv), 2);
    /* b writes into the shared partial block: it gets a copy, a keeps its data. */
    fill(&kv, b, 6, 100.0f);
    assert_int_equal(kv_blocks_used(&kv), 3);
    assert_int_equal(kv_blocks_shared(&kv), 1);
    assert_int_equal(kv.n_cow, 1);
    for (int p = 0; p < 6; p++) { expect(&kv, a, p, (float)p); expect(&kv, b, p, (float)p); }
    expect(&kv, b, 6, 100.0f);
    /* a writes position 6 too: its block is no longer shared, no copy. */
    fill(&kv, a, 6, 200.0f);
    assert_int_equal(kv.n_cow, 1);
    expect(&kv, a, 6, 200.0f);
    expect(&kv, b, 6, 100.0f);
    /* Overwriting a position inside the shared full block copies that block. */
    fill(&kv, b, 1, 300.0f);
    assert_int_equal(kv.n_cow, 2);
    expect(&kv, a, 1, 1.0f);
    expect(&kv, b, 1, 300.0f);
    assert_int_equal(kv_blocks_shared(&kv), 0);
    kv_free(&kv);
}

static void test_free_returns_blocks(void **state)
{
    (void)state;
    struct kv_cache kv;
    assert_int_equal(kv_init(&kv, TYPE_F32, 1, 2, 2, 2, 8, 4), 0);
    int a = kv_seq_new(&kv);
    for (int p = 0; p < 8; p++) fill(&kv, a, p, (float)p);
    int b = kv_seq_fork(&kv, a, 5); /* shares blocks 0..2 */
    assert_int_equal(kv_blocks_used(&kv), 4);
    assert_int_equal(kv_blocks_shared(&kv), 3);
    kv_seq_free(&kv, a);
    assert_int_equal(kv_blocks_used(&kv), 3); /* only a's last block was its own */
    assert_int_equal(kv_blocks_shared(&kv), 0);
    for (int p = 0; p < 5; p++) expect(&kv, b, p, (float)p);
    kv_seq_free(&kv, b);
    assert_int_equal(kv_blocks_used(&kv), 0);
    for (int i = 0; i < kv.n_allocated; i++) assert_int_equal(kv.refcount[i], 0);
    /* Freed blocks are reused before new ones are allocated. */
    int c = kv_seq_new(&kv);
    for (int p = 0; p < 8; p++) fill(&kv, c, p, 1.0f);
    assert_int_equal(kv.n_allocated, 4);
    kv_free(&kv);
}

static void test_pool_limit(void **state)
{
    (void)state;
    struct kv_cache kv;
    assert_int_equal(kv_init(&kv, TYPE_F32, 1, 2, 2, 4, 2, 2), 0);
    int a = kv_seq_new(&kv);
    for (int p = 0; p < 8; p++) fill(&kv, a, p, 0.0f);
    assert_false(kv_prepare_write(&kv, a, 8));  /* a third block would exceed the pool */
    int b = kv_seq_fork(&kv, a, 8);
    assert_false(kv_prepare_write(&kv, b, 0)); /* copy-on-write needs a block too */
    assert_int_equal(kv_blocks_available(&kv), 0);
    kv_seq_truncate(&kv, a, 3);
    kv_seq_free(&kv, b);
    assert_int_equal(kv_blocks_used(&kv), 1);
    assert_true(kv_prepare_write(&kv, a, 4));
    kv_free(&kv);
}

static void test_seq_slots(void **state)
{
    (void)state;
    struct kv_cache kv;
    assert_int_equal(kv_init(&kv, TYPE_F32, 1, 2, 2, 4, 8, 2), 0);
    assert_int_equal(kv_seq_new(&kv), 0);
    assert_int_equal(kv_seq_new(&kv), 1);
    assert_int_equal(kv_seq_new(&kv), -1);
    kv_seq_free(&kv, 0);
    assert_int_equal(kv_seq_new(&kv), 0);
    kv_free(&kv);
    assert_int_equal(kv_init(&kv, TYPE_F32, 0, 2, 2, 4, 8, 2), -1);
    assert_int_equal(kv_init(&kv, TYPE_Q8_0, 1, 2, 2, 4, 8, 2), -1);
    /* An F16 cache stores half-precision values and takes half the bytes. */
    assert_int_equal(kv_init(&kv, TYPE_F16, 2, 4, 4, 4, 8, 1), 0);
    assert_int_equal(kv_block_bytes(&kv), 2 * 4 * 8 * 2);
    int s = kv_seq_new(&kv);
    assert_true(kv_prepare_write(&kv, s, 0));
    const float src[4] = {1.0f, -2.5f, 0.1f, 65504.0f};
    kv_store(&kv, kv_k(&kv, s, 1, 0), src, 4);
    for (int i = 0; i < 4; i++) assert_float_equal(fp16_to_fp32(((uint16_t *)kv_k(&kv, s, 1, 0))[i]), src[i], 1e-3 * (src[i] < 0 ? -src[i] : src[i]));
    kv_free(&kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_with_tokens),
        cmocka_unit_test(test_fork_shares_and_copies_on_write),
        cmocka_unit_test(test_free_returns_blocks),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_seq_slots),
    };
    return cmocka_run_group_tests_name("kvcache", tests, NULL, NULL);
}
