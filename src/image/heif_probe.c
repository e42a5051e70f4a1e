/*
 * heif_probe.c — what decoding a HEIF/AVIF file will cost, read from the
 * container and the codecs' own headers before libheif decodes a pixel.
 *
 * Why: libheif checks the size each image declares (its `ispe` property),
 * and decode_heif checks that against the limits every decoder applies.
 * But the decoder allocates and decodes what the coded stream says: an AV1
 * sequence header or an HEVC SPS can code 16384 x 16384 pixels under an
 * `ispe` of 17 x 11.  Such a 558-byte AVIF cost 11 s and 3.5 GB inside
 * libaom before failing (the image_heif fuzz target stopped on two
 * like it).  And a grid image is decoded tile by tile, where the tiles'
 * sizes and count are the file's to choose.  So before decoding:
 *   - each coded image (an `av01` or `hvc1` item, reached or not) has an
 *     `ispe` of at most 2^28 pixels and codes at most what it declares, up
 *     to the codec's block alignment (64 pixels);
 *   - the primary image with everything decoded for it (a grid's tiles,
 *     an overlay's or identity item's inputs, an alpha plane) comes to at
 *     most HEIF_MAX_DECODED pixels.
 * Anything this cannot read is left to libheif, which refuses malformed
 * boxes itself; the probe only ever refuses.
 *
 * The box layouts are ISO/IEC 14496-12 (iloc, iinf/infe, iref, iprp/ipco/
 * ipma, idat) and 23008-12 (ispe, grid), the AV1 sequence header is AV1
 * spec 5.5, the HEVC SPS H.265 7.3.2.2 up to pic_height_in_luma_samples.
 */
#include <stdlib.h>
#include <string.h>

#include "clipc_util.h"
#include "image/decoders.h"

#define MAX_ITEMS 4096
#define MAX_PROPS 4096
#define MAX_DEPTH 16
#define ALIGN_SLACK 64

typedef struct {
    const uint8_t *p;
    size_t len, pos; /* bytes */
    int bad;
} rd;

static uint64_t get(rd *r, int n) { /* n big-endian bytes, 0 past the end (and r->bad) */
    if (n <= 0) return 0;
    if (r->pos + (size_t)n > r->len) {
        r->bad = 1;
        r->pos = r->len;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | r->p[r->pos++];
    return v;
}

/* A box at r: its type and its payload as a reader; 0 at the end or on a
 * box that does not fit. */
static int next_box(rd *r, uint32_t *type, rd *body) {
    if (r->pos + 8 > r->len) return 0;
    size_t start = r->pos;
    uint64_t size = get(r, 4);
    *type = (uint32_t)get(r, 4);
    if (size == 1) size = get(r, 8);
    else if (size == 0) size = r->len - start;
    if (r->bad || size < r->pos - start || size > r->len - start) return 0;
    body->p = r->p + r->pos, body->len = start + size - r->pos, body->pos = 0, body->bad = 0;
    r->pos = start + size;
    return 1;
}

#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

typedef struct {
    uint32_t id, type;
    uint32_t ispe_w, ispe_h;
    const uint8_t *config; /* av1C / hvcC payload */
    size_t config_len;
    int method; /* iloc construction method */
    uint64_t base;
    int n_ext;
    uint64_t ext_off[8], ext_len[8];
    int state;   /* 0 not yet, 1 being counted (a loop: libheif refuses it), 2 done */
    uint64_t px; /* pixels decoded for it, once done */
} item;

typedef struct {
    uint32_t from, to;
} ref;

typedef struct {
    item *it;
    int n;
    uint32_t primary;
    const uint8_t *idat;
    size_t idat_len;
    ref *dimg, *auxl; /* iref's references of those types, dimg sorted by from */
    int n_dimg, n_auxl;
    const uint8_t *file;
    size_t file_len;
    long budget; /* OBUs and NAL units left to look at */
} heif;

static item *find(heif *h, uint32_t id) {
    for (int i = 0; i < h->n; i++)
        if (h->it[i].id == id) return &h->it[i];
    return NULL;
}

static item *find_or_add(heif *h, uint32_t id) {
    item *t = find(h, id);
    if (t || h->n >= MAX_ITEMS) return t;
    t = &h->it[h->n++];
    memset(t, 0, sizeof *t);
    t->id = id;
    return t;
}

static void read_iinf(heif *h, rd b) {
    int v = (int)get(&b, 1);
    get(&b, 3);
    get(&b, v == 0 ? 2 : 4);
    uint32_t t;
    rd e;
    while (next_box(&b, &t, &e))
        if (t == FOURCC('i', 'n', 'f', 'e')) {
            int ev = (int)get(&e, 1);
            get(&e, 3);
            if (ev < 2) continue;
            uint32_t id = (uint32_t)get(&e, ev == 2 ? 2 : 4);
            get(&e, 2); /* protection index */
            uint32_t type = (uint32_t)get(&e, 4);
            item *it = e.bad ? NULL : find_or_add(h, id);
            if (it) it->type = type;
        }
}

static void read_iloc(heif *h, rd b) {
    int v = (int)get(&b, 1);
    get(&b, 3);
    int a = (int)get(&b, 1), c = (int)get(&b, 1);
    int off_size = a >> 4, len_size = a & 15, base_size = c >> 4, idx_size = v >= 1 ? c & 15 : 0;
    uint64_t count = get(&b, v < 2 ? 2 : 4);
    for (uint64_t i = 0; i < count && !b.bad; i++) {
        uint32_t id = (uint32_t)get(&b, v < 2 ? 2 : 4);
        int method = v >= 1 ? (int)(get(&b, 2) & 15) : 0;
        get(&b, 2); /* data reference index */
        uint64_t base = get(&b, base_size);
        uint64_t n = get(&b, 2);
        item *it = b.bad ? NULL : find_or_add(h, id);
        if (it) it->method = method, it->base = base, it->n_ext = 0;
        for (uint64_t k = 0; k < n && !b.bad; k++) {
            get(&b, idx_size);
            uint64_t o = get(&b, off_size), l = get(&b, len_size);
            if (it && it->n_ext < 8) it->ext_off[it->n_ext] = o, it->ext_len[it->n_ext++] = l;
        }
    }
}

/* ipco: the properties in order (index 1 = the first); ipma: which go to
 * which item.  Only ispe, av1C and hvcC matter here. */
static void read_iprp(heif *h, rd b) {
    uint32_t t;
    rd box, ipco = {0}, ipma = {0};
    int have_ipco = 0;
    while (next_box(&b, &t, &box)) {
        if (t == FOURCC('i', 'p', 'c', 'o')) ipco = box, have_ipco = 1;
        if (t == FOURCC('i', 'p', 'm', 'a') && !ipma.p) ipma = box;
    }
    if (!have_ipco || !ipma.p) return;
    /* the properties indexed once (an association names one by number) */
    struct prop {
        uint32_t type;
        rd body;
    } *props = malloc(sizeof(struct prop) * MAX_PROPS);
    if (!props) return; /* left to libheif */
    int np = 0;
    while (np < MAX_PROPS && next_box(&ipco, &props[np].type, &props[np].body)) np++;
    int v = (int)get(&ipma, 1);
    int flags = (int)get(&ipma, 3);
    uint64_t count = get(&ipma, 4);
    for (uint64_t i = 0; i < count && !ipma.bad; i++) {
        uint32_t id = (uint32_t)get(&ipma, v < 1 ? 2 : 4);
        int n = (int)get(&ipma, 1);
        item *it = ipma.bad ? NULL : find_or_add(h, id);
        for (int k = 0; k < n && !ipma.bad; k++) {
            uint64_t idx = get(&ipma, flags & 1 ? 2 : 1) & (flags & 1 ? 0x7fff : 0x7f);
            if (!it || !idx || idx > (uint64_t)np) continue;
            uint32_t pt = props[idx - 1].type;
            rd prop = props[idx - 1].body;
            if (pt == FOURCC('i', 's', 'p', 'e')) {
                get(&prop, 4);
                uint32_t w = (uint32_t)get(&prop, 4), hh = (uint32_t)get(&prop, 4);
                if (!prop.bad) it->ispe_w = w, it->ispe_h = hh;
            } else if (pt == FOURCC('a', 'v', '1', 'C') || pt == FOURCC('h', 'v', 'c', 'C')) {
                it->config = prop.p, it->config_len = prop.len;
            }
        }
    }
    free(props);
}

/* ------------------------------------------------------------- bits */

typedef struct {
    const uint8_t *p;
    size_t len, bit;
} bits;

static uint64_t f(bits *b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++, b->bit++)
        v = v << 1 | (b->bit < 8 * b->len ? (uint64_t)(b->p[b->bit >> 3] >> (7 - (b->bit & 7)) & 1) : 0);
    return v;
}

static uint64_t ue(bits *b) { /* Exp-Golomb (HEVC) */
    int z = 0;
    while (z < 32 && !f(b, 1)) z++;
    return z >= 32 ? UINT32_MAX : ((uint64_t)1 << z) - 1 + f(b, z);
}

static void uvlc(bits *b) { /* AV1's, value unused */
    int z = 0;
    while (z < 32 && !f(b, 1)) z++;
    if (z < 32) f(b, z);
}

/* AV1 spec 5.5.1: the sequence header up to max_frame_height_minus_1. */
static void av1_sequence_header(const uint8_t *p, size_t len, uint64_t *w, uint64_t *h) {
    bits b = {p, len, 0};
    f(&b, 3);
    f(&b, 1);
    int reduced = (int)f(&b, 1);
    if (reduced) {
        f(&b, 5);
    } else {
        int timing = (int)f(&b, 1), model = 0, buf_len = 0;
        if (timing) {
            f(&b, 32), f(&b, 32);
            if (f(&b, 1)) uvlc(&b);
            model = (int)f(&b, 1);
            if (model) buf_len = (int)f(&b, 5) + 1, f(&b, 32), f(&b, 5), f(&b, 5);
        }
        int delay = (int)f(&b, 1), ops = (int)f(&b, 5) + 1;
        for (int i = 0; i < ops; i++) {
            f(&b, 12);
            if (f(&b, 5) > 7) f(&b, 1);
            if (model && f(&b, 1)) f(&b, buf_len), f(&b, buf_len), f(&b, 1);
            if (delay && f(&b, 1)) f(&b, 4);
        }
    }
    int wb = (int)f(&b, 4) + 1, hb = (int)f(&b, 4) + 1;
    uint64_t fw = f(&b, wb) + 1, fh = f(&b, hb) + 1;
    if (b.bit > 8 * len) return; /* cut short: libaom/dav1d refuse it */
    if (fw > *w) *w = fw;
    if (fh > *h) *h = fh;
}

/* Every sequence header OBU in p (OBUs with their sizes, as AVIF stores them). */
static void av1_scan(const uint8_t *p, size_t len, uint64_t *w, uint64_t *h, long *budget) {
    size_t i = 0;
    while (i < len && --*budget > 0) {
        uint8_t hdr = p[i++];
        int type = hdr >> 3 & 15, ext = hdr >> 2 & 1, has_size = hdr >> 1 & 1;
        i += (size_t)ext;
        uint64_t size = 0;
        if (has_size) {
            for (int k = 0; k < 8; k++) {
                if (i >= len) return;
                uint8_t c = p[i++];
                size |= (uint64_t)(c & 0x7f) << (7 * k);
                if (!(c & 0x80)) break;
            }
        } else {
            size = i <= len ? len - i : 0;
        }
        if (i > len || size > len - i) return;
        if (type == 1) av1_sequence_header(p + i, (size_t)size, w, h);
        i += (size_t)size;
    }
}

/* H.265 7.3.2.2: an SPS NAL unit (its 2-byte header first) up to the
 * picture size; emulation prevention bytes removed first. */
static void hevc_sps(const uint8_t *p, size_t len, uint64_t *w, uint64_t *h) {
    if (len < 3 || (p[0] >> 1 & 63) != 33) return;
    size_t n = len - 2 < 256 ? len - 2 : 256; /* the fields needed sit in the first bytes */
    uint8_t raw[256];
    size_t m = 0;
    for (size_t i = 0, zeros = 0; i < n; i++) {
        uint8_t c = p[2 + i];
        if (zeros >= 2 && c == 3) {
            zeros = 0;
            continue;
        }
        zeros = c ? 0 : zeros + 1;
        raw[m++] = c;
    }
    bits b = {raw, m, 0};
    f(&b, 4);
    int sub = (int)f(&b, 3);
    f(&b, 1);
    f(&b, 96); /* general profile, tier, level */
    int prof[8] = {0}, lev[8] = {0};
    for (int i = 0; i < sub; i++) prof[i] = (int)f(&b, 1), lev[i] = (int)f(&b, 1);
    if (sub > 0)
        for (int i = sub; i < 8; i++) f(&b, 2);
    for (int i = 0; i < sub; i++) {
        if (prof[i]) f(&b, 88);
        if (lev[i]) f(&b, 8);
    }
    ue(&b);
    if (ue(&b) == 3) f(&b, 1);
    uint64_t pw = ue(&b), ph = ue(&b);
    if (b.bit > 8 * m) return;
    if (pw > *w) *w = pw;
    if (ph > *h) *h = ph;
}

/* hvcC's parameter set arrays (ISO/IEC 14496-15 8.3.3.1). */
static void hvcc_scan(const uint8_t *p, size_t len, uint64_t *w, uint64_t *h, int *nal_len, long *budget) {
    rd r = {p, len, 0, 0};
    get(&r, 21);
    *nal_len = (int)(get(&r, 1) & 3) + 1;
    int arrays = (int)get(&r, 1);
    for (int a = 0; a < arrays && !r.bad; a++) {
        get(&r, 1);
        int n = (int)get(&r, 2);
        for (int k = 0; k < n && !r.bad && --*budget > 0; k++) {
            size_t l = (size_t)get(&r, 2);
            if (r.bad || l > r.len - r.pos) return;
            hevc_sps(r.p + r.pos, l, w, h);
            r.pos += l;
        }
    }
}

/* The item's coded data, extent by extent, scanned for sequence headers or SPSs. */
static void item_coded_size(heif *h, item *it, uint64_t *w, uint64_t *hh) {
    int nal_len = 4;
    int av1 = it->type == FOURCC('a', 'v', '0', '1');
    if (it->config && av1 && it->config_len > 4) av1_scan(it->config + 4, it->config_len - 4, w, hh, &h->budget);
    if (it->config && !av1) hvcc_scan(it->config, it->config_len, w, hh, &nal_len, &h->budget);
    for (int e = 0; e < it->n_ext; e++) {
        const uint8_t *src = it->method == 1 ? h->idat : it->method == 0 ? h->file : NULL;
        size_t src_len = it->method == 1 ? h->idat_len : h->file_len;
        uint64_t off = it->base + it->ext_off[e], len = it->ext_len[e];
        if (!src || off > src_len) continue;
        if (len == 0 || len > src_len - off) len = src_len - off;
        const uint8_t *p = src + off;
        if (av1) {
            av1_scan(p, (size_t)len, w, hh, &h->budget);
            continue;
        }
        for (size_t i = 0; i + (size_t)nal_len <= len && --h->budget > 0;) {
            uint64_t l = 0;
            for (int k = 0; k < nal_len; k++) l = l << 8 | p[i + k];
            i += (size_t)nal_len;
            if (l > len - i) break;
            hevc_sps(p + i, (size_t)l, w, hh);
            i += (size_t)l;
        }
    }
}

static int cmp_ref(const void *a, const void *b) {
    uint32_t x = ((const ref *)a)->from, y = ((const ref *)b)->from;
    return x < y ? -1 : x > y;
}

/* iref's dimg references (sorted by the deriving item) and auxl ones.
 * Read as libheif 1.15 reads them: each reference's box header gives its
 * type, and its size is not used (the fields follow one another to the end
 * of iref); the image_heif fuzz target found a grid whose dimg box claimed
 * 1.8 GB, which a box walker skipped and libheif read. */
static clipc_status read_iref(heif *h, rd b, const char *name) {
    int v = (int)get(&b, 1), size = v == 0 ? 2 : 4;
    get(&b, 3);
    size_t cap = b.len / (size_t)size + 1;
    h->dimg = malloc(sizeof(ref) * cap), h->auxl = malloc(sizeof(ref) * cap);
    if (!h->dimg || !h->auxl) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    while (b.pos < b.len && !b.bad) {
        if (get(&b, 4) == 1) get(&b, 8); /* the size, 64-bit when 1 */
        uint32_t t = (uint32_t)get(&b, 4);
        if (t == FOURCC('u', 'u', 'i', 'd')) get(&b, 16);
        uint32_t from = (uint32_t)get(&b, size);
        uint64_t count = get(&b, 2);
        for (uint64_t k = 0; k < count && !b.bad; k++) {
            uint32_t to = (uint32_t)get(&b, size);
            if (b.bad) break;
            if (t == FOURCC('d', 'i', 'm', 'g')) h->dimg[h->n_dimg++] = (ref){from, to};
            if (t == FOURCC('a', 'u', 'x', 'l')) h->auxl[h->n_auxl++] = (ref){from, to};
        }
    }
    qsort(h->dimg, (size_t)h->n_dimg, sizeof(ref), cmp_ref);
    return CLIPC_OK;
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* Pixels decoded for item id: a coded item's (the larger of what it codes
 * and declares), a derived item's inputs, each as often as it is
 * referenced.  An error when an item codes more than it declares. */
static clipc_status decoded_pixels(heif *h, uint32_t id, const char *name, int depth, uint64_t *px) {
    *px = 0;
    item *it = find(h, id);
    if (!it || it->state == 1) return CLIPC_OK; /* libheif refuses missing items and loops */
    if (depth > MAX_DEPTH) /* real files: a grid of tiles, maybe under an identity item */
        return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt HEIF/AVIF file: derived images nested over %d deep", name,
                           MAX_DEPTH);
    if (it->state == 2) {
        *px = it->px;
        return CLIPC_OK;
    }
    it->state = 1;
    if (it->type == FOURCC('a', 'v', '0', '1') || it->type == FOURCC('h', 'v', 'c', '1')) {
        uint64_t w = 0, hh = 0;
        item_coded_size(h, it, &w, &hh);
        if (h->budget <= 0)
            return clipc_error(CLIPC_ERR_RANGE, "%s: HEIF/AVIF file too complex to check before decoding (over "
                               "16 million coded units)", name);
        uint64_t iw = it->ispe_w, ih = it->ispe_h;
        /* every image item has an ispe (ISO/IEC 23008-12 6.5.3.1); libheif
         * decodes a grid tile without one at whatever size its stream codes
         * (the ten-minute campaign's third slow input) */
        if (!iw || !ih)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt HEIF/AVIF file: image %u declares no size (no ispe)",
                               name, (unsigned)id);
        if (iw * ih > (1ull << 28)) /* a tile or an alpha plane: the limit of an image */
            return clipc_error(CLIPC_ERR_RANGE, "%s: HEIF/AVIF image %u too large (%llux%llu; limit: 2^28 pixels)", name,
                               (unsigned)id, (unsigned long long)iw, (unsigned long long)ih);
        if (w > iw + ALIGN_SLACK || hh > ih + ALIGN_SLACK)
            return clipc_error(CLIPC_ERR_FORMAT,
                               "%s: corrupt HEIF/AVIF file: its %s stream codes %llu x %llu pixels where the image "
                               "declares %llu x %llu (refused before decoding)",
                               name, it->type == FOURCC('a', 'v', '0', '1') ? "AV1" : "HEVC", (unsigned long long)w,
                               (unsigned long long)hh, (unsigned long long)iw, (unsigned long long)ih);
        *px = (w > iw ? w : iw) * (hh > ih ? hh : ih);
    } else if (it->type == FOURCC('g', 'r', 'i', 'd') || it->type == FOURCC('i', 'o', 'v', 'l') ||
               it->type == FOURCC('i', 'd', 'e', 'n')) {
        ref key = {id, 0};
        ref *r = h->n_dimg ? bsearch(&key, h->dimg, (size_t)h->n_dimg, sizeof(ref), cmp_ref) : NULL;
        /* what it is derived from must be known: otherwise the probe has
         * misread the file, and libheif might decode anything */
        if (!r)
            return clipc_error(CLIPC_ERR_FORMAT, "%s: corrupt HEIF/AVIF file: derived image %u has no input images",
                               name, (unsigned)id);
        while (r > h->dimg && r[-1].from == id) r--;
        for (; r && r < h->dimg + h->n_dimg && r->from == id && *px <= HEIF_MAX_DECODED; r++) {
            uint64_t one;
            clipc_status s = decoded_pixels(h, r->to, name, depth + 1, &one);
            if (s) return s;
            *px = add_sat(*px, one);
        }
    }
    it->state = 2, it->px = *px;
    return CLIPC_OK;
}

clipc_status heif_probe(const uint8_t *buf, size_t len, const char *name) {
    rd file = {buf, len, 0, 0}, meta = {0}, b;
    uint32_t t;
    int have_meta = 0;
    while (next_box(&file, &t, &b))
        if (t == FOURCC('m', 'e', 't', 'a') && !have_meta) meta = b, have_meta = 1;
    if (!have_meta) return CLIPC_OK;
    heif h;
    memset(&h, 0, sizeof h);
    h.file = buf, h.file_len = len, h.budget = 16l << 20;
    h.it = malloc(sizeof(item) * MAX_ITEMS);
    if (!h.it) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory", name);
    get(&meta, 4); /* FullBox */
    rd iinf = {0}, iloc = {0}, iprp = {0}, iref = {0};
    int have = 0;
    while (next_box(&meta, &t, &b)) {
        if (t == FOURCC('p', 'i', 't', 'm')) {
            int v = (int)get(&b, 1);
            get(&b, 3);
            h.primary = (uint32_t)get(&b, v == 0 ? 2 : 4);
        } else if (t == FOURCC('i', 'i', 'n', 'f') && !(have & 1)) {
            iinf = b, have |= 1;
        } else if (t == FOURCC('i', 'l', 'o', 'c') && !(have & 2)) {
            iloc = b, have |= 2;
        } else if (t == FOURCC('i', 'p', 'r', 'p') && !(have & 4)) {
            iprp = b, have |= 4;
        } else if (t == FOURCC('i', 'r', 'e', 'f') && !(have & 8)) {
            iref = b, have |= 8;
        } else if (t == FOURCC('i', 'd', 'a', 't') && !h.idat) {
            h.idat = b.p, h.idat_len = b.len;
        }
    }
    if (have & 1) read_iinf(&h, iinf);
    if (have & 2) read_iloc(&h, iloc);
    if (have & 4) read_iprp(&h, iprp);
    clipc_status s = have & 8 ? read_iref(&h, iref, name) : CLIPC_OK;
    uint64_t total = 0, px;
    /* every coded image first, reached or not (what libheif reaches is
     * its reading of the references, which may differ from this one) */
    for (int i = 0; i < h.n && !s; i++)
        if (h.it[i].type == FOURCC('a', 'v', '0', '1') || h.it[i].type == FOURCC('h', 'v', 'c', '1'))
            s = decoded_pixels(&h, h.it[i].id, name, 0, &px);
    if (!s) s = decoded_pixels(&h, h.primary, name, 0, &total);
    /* an alpha plane (an auxl item pointing at the primary) is decoded too */
    for (int k = 0; k < h.n_auxl && !s; k++)
        if (h.auxl[k].to == h.primary && !(s = decoded_pixels(&h, h.auxl[k].from, name, 1, &px)))
            total = add_sat(total, px);
    if (!s && total > HEIF_MAX_DECODED)
        s = clipc_error(CLIPC_ERR_RANGE,
                        "%s: HEIF/AVIF image too costly to decode (its coded images come to %llu pixels; limit: 2^29, "
                        "twice the 2^28 of an image, for an image and its alpha plane)",
                        name, (unsigned long long)total);
    free(h.it);
    free(h.dimg);
    free(h.auxl);
    return s;
}
