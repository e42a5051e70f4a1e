/*
 * clipc.h — the public API of clipc, a CLIP (Contrastive Language-Image
 * Pre-training) library in C.
 *
 * Conventions
 *   - Every function that can fail returns a clipc_status; CLIPC_OK is 0.  On
 *     failure clipc_last_error() returns a one-line message naming the file,
 *     the tensor or the line that was wrong.  The message is per thread.
 *   - The library never exits, aborts or prints on bad input: the CLI decides.
 *   - Arrays are row-major float32.  Images are NCHW, channel order R, G, B.
 *   - Objects come in create/free pairs; free(NULL) is a no-op.
 *
 * The sections below follow the data flow: errors, configs, model files,
 * images, tokenizer, model, training.
 */
#ifndef CLIPC_H
#define CLIPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

typedef enum {
    CLIPC_OK = 0,
    CLIPC_ERR_IO,          /* a file could not be opened, read or written */
    CLIPC_ERR_FORMAT,      /* a file's contents are malformed */
    CLIPC_ERR_INVALID,     /* a bad argument or option value */
    CLIPC_ERR_NOMEM,       /* an allocation failed */
    CLIPC_ERR_UNSUPPORTED, /* well-formed but not something clipc handles */
    CLIPC_ERR_RANGE        /* a value out of its allowed range (e.g. text too long) */
} clipc_status;

/* The message of the last error on this thread ("" if none). */
const char *clipc_last_error(void);
/* A short name for a status code ("io", "format", ...). */
const char *clipc_status_name(clipc_status s);

/* ----------------------------------------------------------------- configs */

typedef enum { CLIPC_ACT_QUICKGELU = 0, CLIPC_ACT_GELU = 1 } clipc_act;

/* The shape of a CLIP model: OpenAI's constructor arguments plus the head
 * counts, which OpenAI derives (vision) or takes as an argument (text). */
typedef struct {
    int embed_dim;          /* shared embedding size */
    int image_resolution;   /* input images are image_resolution^2 */
    int vision_layers;
    int vision_width;
    int vision_patch_size;
    int vision_heads;
    int context_length;     /* text positions (77 for OpenAI) */
    int vocab_size;         /* 49408 for OpenAI's BPE */
    int transformer_width;  /* text tower width */
    int transformer_heads;
    int transformer_layers;
    clipc_act act;          /* QuickGELU for OpenAI weights */
} clipc_config;

/* Fills *cfg with a named config: "tiny", "small", "seed-b16", "b32",
 * "ViT-B-32" (= b32 with a 12-layer text tower), "ViT-B-16", "ViT-L-14". */
clipc_status clipc_config_named(const char *name, clipc_config *cfg);
/* Checks that every field is positive and consistent (widths divisible by
 * heads, resolution divisible by patch size). */
clipc_status clipc_config_validate(const clipc_config *cfg);
/* Space-separated list of the names clipc_config_named accepts. */
const char *clipc_config_names(void);
/* Number of float parameters of a model with this config. */
size_t clipc_config_param_count(const clipc_config *cfg);

/* ----------------------------------------------------------------- threads */

/* Sets the number of threads used by OpenMP regions and OpenBLAS (0 = all
 * cores).  Results are deterministic for a given thread count. */
void clipc_set_threads(int n);
int clipc_get_threads(void);

/* ------------------------------------------------------------------ images */

/* A decoded image: interleaved 8-bit samples, channels 1 (grey), 2 (grey +
 * alpha), 3 (RGB) or 4 (RGBA), rows top to bottom. */
typedef struct {
    int width, height, channels;
    uint8_t *data; /* width*height*channels bytes, owned */
} clipc_image;

/* Decodes a PNG or JPEG file (recognised by its magic bytes, not its
 * extension) and applies the JPEG's EXIF orientation.  Palette PNGs are
 * expanded.  Refuses images larger than 2^28 pixels. */
clipc_status clipc_image_load(const char *path, clipc_image *out);
/* The same from a memory buffer; `name` is used in error messages. */
clipc_status clipc_image_decode(const void *buf, size_t len, const char *name, clipc_image *out);
void clipc_image_free(clipc_image *img);

/* OpenAI's CLIP preprocessing, bit-exact with Pillow: bicubic resize of the
 * short side to `size` (Pillow's fixed-point resampler), center crop with
 * round-half-to-even, conversion to RGB as Pillow's convert("RGB"), then
 * (x/255 - mean)/std.  `out` receives 3*size*size floats (CHW).  If `rgb_u8`
 * is not NULL it receives the size*size*3 uint8 RGB crop before
 * normalisation. */
clipc_status clipc_preprocess(const clipc_image *img, int size, float *out, uint8_t *rgb_u8);

/* --------------------------------------------------------------- tokenizer */

typedef struct clipc_tokenizer clipc_tokenizer;

#define CLIPC_SOT 49406
#define CLIPC_EOT 49407

/* Loads OpenAI's BPE merges (bpe_simple_vocab_16e6.txt.gz).  path == NULL
 * uses the vocabulary embedded in the library.  Encoding is OpenAI's
 * SimpleTokenizer with ftfy.fix_text taken as the identity: double HTML
 * unescape, whitespace collapse, lower(), the CLIP split regex, BPE.  Text
 * must be valid UTF-8 (else CLIPC_ERR_INVALID). */
clipc_status clipc_tokenizer_load(const char *path, clipc_tokenizer **out);
void clipc_tokenizer_free(clipc_tokenizer *tok);
/* BPE ids of `text` (UTF-8, `len` bytes) without SOT/EOT.  *ids is
 * malloc'ed (free it); *n receives the count. */
clipc_status clipc_tokenize(clipc_tokenizer *tok, const char *text, size_t len,
                            int32_t **ids, int *n);
/* clip.tokenize(): SOT + ids + EOT zero-padded to `ctx` ints in `out`.  When
 * the ids do not fit: with truncate, keep SOT + the first ctx-2 ids and put
 * EOT last; without, CLIPC_ERR_RANGE. */
clipc_status clipc_tokenize_context(clipc_tokenizer *tok, const char *text, size_t len,
                                    int ctx, int truncate, int32_t *out);
/* ids -> text as OpenAI's decode() (each "</w>" becomes a space).  *text is
 * malloc'ed, NUL-terminated. */
clipc_status clipc_detokenize(clipc_tokenizer *tok, const int32_t *ids, int n, char **text);
/* The same, also giving the length: the text contains a NUL byte where
 * the ids hold token 0x00 (id 188), which strlen() would stop at. */
clipc_status clipc_detokenize_len(clipc_tokenizer *tok, const int32_t *ids, int n, char **text,
                                  size_t *len);
/* A clipc_tokenizer may be used from several threads at once (its merge
 * cache is locked). */

/* ------------------------------------------------------------------- model */

typedef struct clipc_model clipc_model;

/* Options for clipc_model_load.  Head counts are taken, in this order, from
 * the file's metadata, a config.json beside the file, these overrides, and
 * only then OpenAI's width/64 rule (with a warning through `warn`). */
typedef struct {
    int vision_heads;   /* 0 = not given */
    int text_heads;     /* 0 = not given */
    int copy;           /* 1 = copy weights to private memory instead of mmap */
    void (*warn)(const char *msg, void *ud); /* may be NULL */
    void *warn_ud;
} clipc_load_opts;

/* Loads a model from a safetensors file with OpenAI's state-dict names. */
clipc_status clipc_model_load(const char *path, const clipc_load_opts *opts, clipc_model **out);
/* A freshly initialised model (OpenAI's init for the text tower; see
 * docs for the vision tower), deterministic for a seed. */
clipc_status clipc_model_create(const clipc_config *cfg, uint64_t seed, clipc_model **out);
/* Writes the model as safetensors (OpenAI key names, config in
 * __metadata__), atomically. */
clipc_status clipc_model_save(const clipc_model *m, const char *path);
void clipc_model_free(clipc_model *m);
const clipc_config *clipc_model_config(const clipc_model *m);

/* encode_image: `pixels` is [n, 3, R, R] preprocessed; out is [n, embed_dim],
 * unnormalised.  Safe to call from several threads on one model. */
clipc_status clipc_encode_image(const clipc_model *m, const float *pixels, int n, float *out);
/* encode_text: `ids` is [n, context_length] as clipc_tokenize_context gives;
 * out is [n, embed_dim], unnormalised. */
clipc_status clipc_encode_text(const clipc_model *m, const int32_t *ids, int n, float *out);

/* In-place L2 normalisation of n rows of length d. */
void clipc_l2_normalize(float *x, int n, int d);

#ifdef __cplusplus
}
#endif
#endif /* CLIPC_H */
