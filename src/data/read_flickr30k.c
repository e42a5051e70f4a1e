/*
 * read_flickr30k.c — the Flickr30k reader (readers.h): Kaggle's
 * results.csv, "image_name| comment_number| comment" with a header line.
 * The caption may contain '|'; the one known line that lost its second
 * '|' is repaired (and counted).
 */
#include <string.h>
#include <strings.h>

#include "data/readers.h"
#include "clipc.h"
#include "clipc_util.h"

/* Parses a comment number "0".."4" (surrounding white space allowed). */
static int parse_comment_number(const char *s, size_t n) {
    text_trim(&s, &n);
    if (n != 1 || s[0] < '0' || s[0] > '4') return -1;
    return s[0] - '0';
}

clipc_status read_flickr30k(builder *b, const char *buf, size_t len) {
    clipc_status s = text_check(b->path, buf, len, 1);
    if (s) return s;
    line_iter it;
    lines_init(&it, buf, len);
    const char *l;
    size_t n;
    char ex[64];
    int seen_first = 0;
    while (lines_next(&it, &l, &n)) {
        if (text_is_blank(l, n)) continue;
        if (!text_utf8_valid(l, n)) {
            ds_warn(b, W_UTF8, b->path, it.line, "line is not valid UTF-8");
            continue;
        }
        const char *p1 = memchr(l, '|', n);
        if (!seen_first) {
            seen_first = 1;
            const char *f = l;
            size_t fn = p1 ? (size_t)(p1 - l) : n;
            text_trim(&f, &fn);
            if (fn == 10 && strncasecmp(f, "image_name", 10) == 0) continue; /* header */
        }
        if (!p1) {
            ds_warn(b, W_MALFORMED, b->path, it.line, "no '|' separator");
            continue;
        }
        const char *name = l;
        size_t nn = (size_t)(p1 - l);
        text_trim(&name, &nn);
        const char *rest = p1 + 1;
        size_t rn = n - (size_t)(rest - l);
        /* Split at the first two '|' only: the caption is everything after
         * the second and may itself contain '|'. */
        const char *p2 = memchr(rest, '|', rn);
        const char *cap;
        size_t cn;
        int num;
        if (p2) {
            num = parse_comment_number(rest, (size_t)(p2 - rest));
            if (num < 0) {
                const char *t = rest;
                size_t tn = (size_t)(p2 - rest);
                text_trim(&t, &tn);
                ds_warn(b, W_MALFORMED, b->path, it.line, "comment number '%s' is not an integer 0..4",
                        text_excerpt(t, tn, ex, sizeof ex));
                continue;
            }
            cap = p2 + 1;
            cn = n - (size_t)(cap - l);
        } else {
            /* The known broken line "2199200615.jpg| 4   A dog runs ..." lost
             * its second '|': accept "<digit><white space><caption>". */
            const char *t = rest;
            size_t tn = rn;
            text_trim(&t, &tn);
            if (tn >= 3 && t[0] >= '0' && t[0] <= '4' && text_is_space((unsigned char)t[1])) {
                num = t[0] - '0';
                cap = t + 1;
                cn = tn - 1;
                ds_warn(b, W_REPAIRED, b->path, it.line,
                        "no '|' after the comment number; read as number %d + caption", num);
            } else {
                ds_warn(b, W_MALFORMED, b->path, it.line,
                        "expected 'image| number| caption' (only one '|')");
                continue;
            }
        }
        (void)num;
        if (!has_image_ext(name, nn)) {
            ds_warn(b, W_BAD_NAME, b->path, it.line, "'%s'", text_excerpt(name, nn, ex, sizeof ex));
            continue;
        }
        s = builder_pair_add(b, name, nn, cap, cn, it.line, b->path);
        if (s) return s;
    }
    return CLIPC_OK;
}
