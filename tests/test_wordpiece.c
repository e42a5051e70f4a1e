/*
 * test_wordpiece.c — BERT's uncased WordPiece tokenizer (text/wordpiece.c,
 * text/bert_basic.c) against tests/data/wordpiece/cases.json, made by
 * tools/make_wordpiece_goldens.py (an independent Python implementation of
 * BERT's BasicTokenizer + WordpieceTokenizer) over its vocab.txt: accents,
 * CJK, punctuation, unknown and over-long words, truncation, empty text,
 * control characters, and 400 random strings; ids compared exactly.  Also
 * the vocabulary's validation messages and invalid UTF-8.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_tutorial.h"
#include "clipc_util.h"
#include "harness.h"

#define WP_DIR "tests/data/wordpiece"

TEST(wordpiece_matches_python_reference) {
    clipc_wordpiece *wp = clipc_wordpiece_load(WP_DIR "/vocab.txt");
    REQUIRE(wp);
    CHECK(clipc_wordpiece_vocab_size(wp) == 233);
    char *js;
    size_t jl;
    REQUIRE_OK(clipc_read_file(WP_DIR "/cases.json", &js, &jl));
    cJSON *root = cJSON_ParseWithLength(js, jl);
    free(js);
    REQUIRE(root && cJSON_IsArray(root));
    int n = 0, bad = 0;
    int32_t ids[64];
    cJSON *c;
    cJSON_ArrayForEach(c, root) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        int ml = cJSON_GetObjectItem(c, "max_len")->valueint;
        cJSON *ref = cJSON_GetObjectItem(c, "ids");
        REQUIRE(ml <= 64 && cJSON_GetArraySize(ref) == ml);
        int got = clipc_wordpiece_encode(wp, text, ids, ml), nonpad = 0, same = 1;
        for (int i = 0; i < ml; i++) {
            int r = cJSON_GetArrayItem(ref, i)->valueint;
            nonpad += r != 0;
            same &= ids[i] == r;
        }
        if (!same || got != nonpad) {
            if (bad++ < 5) {
                char line[512] = "";
                for (int i = 0; i < ml && strlen(line) < 480; i++)
                    snprintf(line + strlen(line), sizeof line - strlen(line), "%d ", ids[i]);
                CHECKF(0, "case %d (max_len %d, %.40s): got %s(%d non-pad)", n, ml, text, line, got);
            }
        }
        n++;
    }
    CHECKF(bad == 0, "%d of %d cases differ", bad, n);
    CHECK(n == 464);
    cJSON_Delete(root);
    clipc_wordpiece_free(wp);
}

static clipc_wordpiece *from(const char *s) { return clipc_wordpiece_from_buffer(s, strlen(s), "v.txt"); }

TEST(wordpiece_vocab_errors) {
    struct { const char *vocab, *msg; } bad[] = {
        {"[PAD]\n[UNK]\n[CLS]\n[SEP]\ndog\ncat\ndog\n", "v.txt:7: duplicate token 'dog' (first on line 5)"},
        {"[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n", "v.txt:3: empty token"},
        {"[PAD]\n[CLS]\n[SEP]\ndog\n", "v.txt: the vocabulary has no [UNK] token"},
        {"[UNK]\n[PAD]\n[CLS]\n[SEP]\n", "v.txt:2: [PAD] must be the first token (id 0)"},
        {"", "v.txt: empty vocabulary"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(from(bad[i].vocab) == NULL);
        CHECKF(strstr(clipc_last_error(), bad[i].msg) != NULL, "vocab %zu: got '%s'", i, clipc_last_error());
    }
    CHECK(clipc_wordpiece_from_buffer("[PAD]\n\0x\n", 9, "v.txt") == NULL);
    CHECK(strstr(clipc_last_error(), "v.txt: NUL byte") != NULL);
    CHECK(clipc_wordpiece_load("tests/data/wordpiece/no-such-vocab.txt") == NULL);
    CHECK(strstr(clipc_last_error(), "no-such-vocab.txt") != NULL);
    /* A last line without "\n" counts; "\r" is part of a token, as HF reads it. */
    clipc_wordpiece *wp = from("[PAD]\n[UNK]\n[CLS]\n[SEP]\ndog\r\ncat");
    REQUIRE(wp);
    CHECK(clipc_wordpiece_vocab_size(wp) == 6);
    int32_t ids[6];
    CHECK(clipc_wordpiece_encode(wp, "Cat dog", ids, 6) == 4);
    CHECK(ids[0] == 2 && ids[1] == 5 && ids[2] == 1 && ids[3] == 3 && ids[4] == 0 && ids[5] == 0);
    CHECK(clipc_wordpiece_encode(wp, "cat", ids, 1) == -1);
    CHECK(strstr(clipc_last_error(), "max_len 1 leaves no room for [CLS] and [SEP]") != NULL);
    clipc_wordpiece_free(wp);
}

/* Invalid UTF-8 becomes U+FFFD, which the clean-up drops. */
TEST(wordpiece_invalid_utf8_dropped) {
    clipc_wordpiece *wp = clipc_wordpiece_load(WP_DIR "/vocab.txt");
    REQUIRE(wp);
    int32_t a[16], b[16];
    int na = clipc_wordpiece_encode(wp, "dog\xff\xfe cat\xc3", a, 16);
    int nb = clipc_wordpiece_encode(wp, "dog cat", b, 16);
    CHECK(na == nb && na == 4 && !memcmp(a, b, sizeof a));
    clipc_wordpiece_free(wp);
}
