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
/* The image tower: OpenAI's VisionTransformer or ModifiedResNet. */
/* The image tower: OpenAI's VisionTransformer or ModifiedResNet, or the
 * tutorial's torchvision/timm ResNet (seed 002: global average pool, no head
 * of its own; its projection head is `head`). */
typedef enum { CLIPC_VISION_VIT = 0, CLIPC_VISION_RESNET = 1, CLIPC_VISION_TV_RESNET = 2 } clipc_vision_arch;
/* The text tower: OpenAI's causal transformer over BPE ids, or the
 * tutorial's DistilBERT (post-LN, [CLS] pooling) over WordPiece ids. */
typedef enum { CLIPC_TEXT_CLIP = 0, CLIPC_TEXT_DISTILBERT = 1 } clipc_text_arch;
/* How the towers' features reach the shared space: OpenAI's bias-free
 * matrices (visual.proj, text_projection), or the tutorial's projection
 * heads: seed 002's bias-free Linear, or the notebook's MLP head (Linear,
 * GELU, Linear, dropout, residual, LayerNorm). */
typedef enum { CLIPC_HEAD_OPENAI = 0, CLIPC_HEAD_LINEAR = 1, CLIPC_HEAD_MLP = 2 } clipc_head;

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
    /* ---- image tower architecture (appended so that positional
     * initializers of ViT configs leave it 0 = ViT).  A ModifiedResNet
     * (OpenAI's RN50, RN101, RN50x4, ...) has vision_blocks[4] bottleneck
     * blocks per stage, vision_width the stem width (stage i has planes
     * width * 2^i, 4 * planes out), vision_heads the attention pool's heads
     * (OpenAI: width * 32 / 64, head dim 64), image_resolution a multiple
     * of 32; its vision_layers and vision_patch_size are 0 (ViT only). */
    clipc_vision_arch vision_arch;
    int vision_blocks[4];
    /* ---- the tutorial's model (seed 002), appended for the same reason.
     * CLIPC_VISION_TV_RESNET: vision_width is the stem width (64 for
     * ResNet-50), vision_blocks[4] the Bottleneck blocks per stage ({3, 4,
     * 6, 3}), the pooled feature 32 * vision_width wide (2048);
     * vision_layers, vision_patch_size and vision_heads are 0.
     * CLIPC_TEXT_DISTILBERT: transformer_width/heads/layers as DistilBERT's
     * dim/n_heads/n_layers (768/12/6; the FFN is 4 x width), vocab_size its
     * WordPiece vocabulary (30522), context_length the tokenizer's max
     * length ([CLS] and [SEP] included; the tutorial's 200) and
     * text_positions the rows of the position table (512). */
    clipc_text_arch text_arch;
    clipc_head head;
    int text_positions;
} clipc_config;

/* Fills *cfg with a named config: "tiny", "emoji", "small", "seed-b16", "b32",
 * "ViT-B-32" (= b32 with a 12-layer text tower), "ViT-B-16", "ViT-L-14",
 * and OpenAI's ModifiedResNet shapes "RN50", "RN101", "RN50x4", "RN50x16",
 * "RN50x64" (plus "rn-tiny", a small ResNet for tests and demos), and the
 * tutorial's model (seed 002) "tutorial-rn50" (ResNet-50 + DistilBERT +
 * linear heads to 256) with "tutorial-tiny" for tests. */
clipc_status clipc_config_named(const char *name, clipc_config *cfg);
/* 1 for the tutorial's family (torchvision ResNet + DistilBERT + projection
 * heads): its text goes through WordPiece, not OpenAI's BPE. */
int clipc_config_is_tutorial(const clipc_config *cfg);
/* Checks that every field is positive and consistent (widths divisible by
 * heads, resolution divisible by patch size). */
clipc_status clipc_config_validate(const clipc_config *cfg);
/* Space-separated list of the names clipc_config_named accepts. */
const char *clipc_config_names(void);
/* The config as a one-line JSON object with OpenAI's constructor names plus
 * vision_heads and act (malloc'ed; NULL when out of memory). */
char *clipc_config_json(const clipc_config *cfg);
/* Number of float parameters of a model with this config. */
size_t clipc_config_param_count(const clipc_config *cfg);

/* ----------------------------------------------------------------- threads */

/* Sets the number of threads used by OpenMP regions and OpenBLAS (0 = all
 * cores).  Results are deterministic for a given thread count. */
void clipc_set_threads(int n);
int clipc_get_threads(void);

/* OpenBLAS's kernels are chosen once, when the library is loaded, from
 * OPENBLAS_CORETYPE or else the CPU's model number; Debian 12's OpenBLAS
 * gives CPUs newer than itself its slowest (SSE3) kernels, 3-4x below what
 * they run.  This returns the OPENBLAS_CORETYPE value ("SkylakeX",
 * "Haswell", ...) that this process should have been started with, or NULL
 * when the choice is fine or OPENBLAS_CORETYPE is set.  A program fixes it
 * by setting the variable and executing itself again before any work, as
 * the clipc program does. */
const char *clipc_blas_core_override(void);
/* The OpenBLAS core in use ("SkylakeX", "Zen", "Prescott", ...). */
const char *clipc_blas_core_name(void);
/* One line naming the kernels in use: oneDNN's version and instruction set
 * (as DNNL_MAX_CPU_ISA caps it) and OpenBLAS's core type. */
void clipc_kernels_describe(char *buf, size_t n);

/* ------------------------------------------------------------------ images */

/* A decoded image: interleaved 8-bit samples, channels 1 (grey), 2 (grey +
 * alpha), 3 (RGB) or 4 (RGBA), rows top to bottom. */
typedef struct {
    int width, height, channels;
    uint8_t *data; /* width*height*channels bytes, owned */
    /* 1 when Pillow would hold the source as a palette ("P") or bilevel ("1")
     * image: Image.resize always resamples those with NEAREST, so
     * clipc_preprocess does too.  0 for images you build yourself. */
    int nearest;
} clipc_image;

/* Whether the EXIF orientation stored in a JPEG is applied when decoding.  OpenAI's pipeline
 * (PIL.Image.open + convert("RGB")) IGNORES it, so CLIPC_EXIF_IGNORE gives
 * OpenAI-exact pixels; CLIPC_EXIF_APPLY (the default, better for photo
 * search: a portrait photo is seen upright) applies it as
 * PIL.ImageOps.exif_transpose does.  A TIFF's Orientation tag is always
 * applied (Pillow applies it when it loads a TIFF), and so are HEIC/AVIF
 * rotations (irot/imir), which are part of the image. */
typedef enum { CLIPC_EXIF_APPLY = 0, CLIPC_EXIF_IGNORE = 1 } clipc_exif_mode;
/* The process-wide choice used by clipc_image_load / clipc_image_decode and
 * everything built on them (encoding, the index, training); set it before
 * starting work, not while other threads decode. */
void clipc_image_set_exif(clipc_exif_mode m);
clipc_exif_mode clipc_image_get_exif(void);

/* Decodes an image file, recognised by its magic bytes, not its extension:
 * JPEG, PNG, WebP, TIFF (first page), GIF (first frame), BMP, HEIC and AVIF,
 * to the pixels Pillow 9.4 holds after Image.open (so that
 * clipc_preprocess's convert("RGB") equals Image.open(f).convert("RGB");
 * HEIC/AVIF, which Debian's Pillow cannot open, as libheif decodes them).
 * Palette images are expanded (PNG with tRNS to RGBA) and marked `nearest`;
 * 16-bit samples keep their high byte, 16-bit grey PNGs are clipped to 255
 * (Pillow's "I" -> "RGB"); CMYK/YCCK JPEGs become RGB with Pillow's
 * conversion (Pillow resizes those in CMYK and converts after, so their
 * preprocessed pixels may differ from OpenAI's by a few levels when a resize
 * happens).  Applies a JPEG's EXIF orientation unless clipc_image_set_exif
 * chose CLIPC_EXIF_IGNORE.  Refuses images over 2^28 pixels or 65535 on a
 * side, and aspect ratios over 1:1000 (CLIPC_ERR_RANGE); formats it does not
 * read are CLIPC_ERR_UNSUPPORTED, damaged files CLIPC_ERR_FORMAT. */
clipc_status clipc_image_load(const char *path, clipc_image *out);
/* The same from a memory buffer; `name` is used in error messages. */
clipc_status clipc_image_decode(const void *buf, size_t len, const char *name, clipc_image *out);
/* As above with an explicit EXIF choice instead of the process-wide one. */
clipc_status clipc_image_load_ex(const char *path, clipc_exif_mode exif, clipc_image *out);
clipc_status clipc_image_decode_ex(const void *buf, size_t len, const char *name, clipc_exif_mode exif,
                                   clipc_image *out);
void clipc_image_free(clipc_image *img);
/* 1 when the file name or path ends in an image extension (any case):
 * .jpg .jpeg .jpe .jfif .png .webp .tif .tiff .gif .bmp .dib .heic .heif .hif
 * .avif, else 0: the files clipc treats as images when it lists folders or
 * reads caption files (the decoder itself goes by magic bytes). */
int clipc_image_path_supported(const char *path);

/* OpenAI's CLIP preprocessing, bit-exact with Pillow: bicubic resize of the
 * short side to `size` (Pillow's fixed-point resampler), center crop with
 * round-half-to-even, conversion to RGB as Pillow's convert("RGB"), then
 * (x/255 - mean)/std.  `out` receives 3*size*size floats (CHW).  If `rgb_u8`
 * is not NULL it receives the size*size*3 uint8 RGB crop before
 * normalisation.  CLIPC_ERR_RANGE for an aspect ratio over 1:1000 or a
 * resize target over 2^27 pixels. */
clipc_status clipc_preprocess(const clipc_image *img, int size, float *out, uint8_t *rgb_u8);

/* An image transform: bicubic resize of the short side to `resize`, centre
 * crop of size x size, (x/255 - mean) / std per channel. */
typedef struct {
    int size;      /* the crop: the model's image_resolution */
    int resize;    /* the short side after the resize, >= size */
    float mean[3], std[3];
    /* 0: OpenAI's order, resize in the file's own mode, then
     * convert("RGB") (palette images resized NEAREST, RGBA premultiplied);
     * 1: Image.open(f).convert("RGB") first, then the resize (the seed's
     * dataset, torchvision's ImageFolder).  Same pixels for RGB and grey
     * files. */
    int rgb_first;
} clipc_transform;
/* The transform of this config's architecture (a model's own is
 * clipc_model_transform: a model file may record another).  OpenAI's models (ViT, ModifiedResNet): OpenAI's
 * _transform, resize = size and CLIP's mean/std (0.48145466, 0.4578275,
 * 0.40821073) / (0.26862954, 0.26130258, 0.27577711), rgb_first 0.  The
 * tutorial's family (seed 002: its dataset's convert("RGB"), then timm's
 * resnet50 eval transform, bicubic, crop_pct 0.95): resize =
 * floor(size / 0.95) (235 for 224), ImageNet's mean/std (0.485, 0.456,
 * 0.406) / (0.229, 0.224, 0.225), rgb_first 1. */
void clipc_config_transform(const clipc_config *cfg, clipc_transform *t);
/* clipc_preprocess with any transform (the same steps and rounding: with
 * OpenAI's transform it gives clipc_preprocess's bits).  `out` receives
 * 3*t->size^2 floats, `rgb_u8` (may be NULL) the uint8 crop. */
clipc_status clipc_preprocess_transform(const clipc_image *img, const clipc_transform *t, float *out,
                                        uint8_t *rgb_u8);

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
/* The tutorial's DistilBERT (seed 002): a clipc_tokenizer over a WordPiece
 * vocab.txt held in memory (n bytes; name for errors).  Through it
 * clipc_tokenize gives the pieces without [CLS]/[SEP] and
 * clipc_tokenize_context gives [CLS] pieces [SEP] padded with 0, ALWAYS
 * truncated to ctx keeping [SEP] (the tutorial's truncation=True);
 * clipc_detokenize is not available. */
clipc_status clipc_tokenizer_wordpiece(const char *vocab, size_t n, const char *name, clipc_tokenizer **out);
int clipc_tokenizer_is_wordpiece(const clipc_tokenizer *tok);
/* The WordPiece tokenizer itself and the tutorial model's files: clipc_tutorial.h. */


/* ---------------------------------------------------------------- datasets */

/* A caption dataset: images (a path relative to an image root, a split, an
 * id) and captions (UTF-8 text, the image it describes).  The captions of
 * image i are the contiguous indices first..first+count-1 given by
 * clipc_dataset_image_captions(), in file order.
 *
 * Formats, recognised by content (or forced with opts.format):
 *   karpathy  Karpathy's split JSON (dataset_flickr8k/flickr30k/coco.json):
 *             images[].filename (+ filepath for COCO), split, imgid,
 *             sentences[].raw/sentid; other keys ignored, any order; an
 *             image with no sentences is kept as image-only.
 *   flickr8k  Flickr8k.token.txt ("name#n<TAB>caption", key split at the
 *             last '#'), plus Flickr_8k.{train,dev,test}Images.txt beside it
 *             when present (-> splits train/val/test).
 *   flickr30k Kaggle's results.csv ("image_name| comment_number| comment"):
 *             comment number must be 0..4; the known line lacking its
 *             second '|' ("x.jpg| 4   caption") is repaired and reported.
 *   csv, tsv  "image,caption" rows, header optional (a header may name the
 *             columns image/filename/image_name/path and caption/text/
 *             comment/sentence/raw, in any position), RFC 4180 quoting.
 *   folder    a directory: every image file below it (the names
 *             clipc_image_path_supported takes; recursive, sorted)
 *             with captions in the same-named .txt, one per non-empty line.
 * All text files: UTF-8 with optional BOM, LF or CRLF.
 *
 * Problems in the data (malformed lines, invalid UTF-8, empty or duplicate
 * captions, missing image files, ...) are skipped and reported through
 * opts.warn once per kind, as "<file>:<line>: <kind>: <detail> (<n> in all;
 * <action>)" with the first occurrence.  Loading fails only when the file is
 * unreadable or not text (NUL bytes, lines over 1 MiB, UTF-16), the JSON
 * does not parse, an option is bad, or no image is left. */

typedef struct clipc_dataset clipc_dataset;

typedef enum {
    CLIPC_DS_AUTO = 0,
    CLIPC_DS_KARPATHY,
    CLIPC_DS_FLICKR8K,
    CLIPC_DS_FLICKR30K,
    CLIPC_DS_CSV,
    CLIPC_DS_TSV,
    CLIPC_DS_FOLDER
} clipc_dataset_format;

typedef enum {
    CLIPC_SPLIT_NONE = 0, /* the file says nothing about splits */
    CLIPC_SPLIT_TRAIN,
    CLIPC_SPLIT_VAL,      /* Karpathy "val", Flickr8k devImages */
    CLIPC_SPLIT_TEST,
    CLIPC_SPLIT_RESTVAL   /* COCO's extra training images */
} clipc_split;

typedef struct {
    clipc_dataset_format format; /* CLIPC_DS_AUTO = by content */
    /* Folder the image paths are relative to.  NULL = the caption file's
     * directory, except: Flickr8k (token file or "dataset": "flickr8k")
     * uses Flicker8k_Dataset/ or Flickr8k_Dataset/ beside the file if one
     * exists, Flickr30k uses flickr30k_images/ beside it if it exists, and
     * a folder dataset uses the folder itself. */
    const char *image_root;
    /* "train", "val", "test", "restval", or NULL / "all" for every image.
     * Asking for a split from a file without split information fails. */
    const char *split;            /* "train", "val", "test", "restval", a list "val,test", or NULL/"all" */
    int check_images; /* 1 = stat every image file, skip missing ones */
    void (*warn)(const char *msg, void *ud); /* may be NULL */
    void *warn_ud;
} clipc_dataset_opts;

/* Loads a dataset from a caption file or folder; opts may be NULL. */
clipc_status clipc_dataset_load(const char *path, const clipc_dataset_opts *opts,
                                clipc_dataset **out);
void clipc_dataset_free(clipc_dataset *ds);

clipc_dataset_format clipc_dataset_get_format(const clipc_dataset *ds);
/* "karpathy", "flickr8k", "flickr30k", "csv", "tsv", "folder" ("auto"). */
const char *clipc_dataset_format_name(clipc_dataset_format f);
/* Inverse of clipc_dataset_format_name; CLIPC_ERR_INVALID for unknown names. */
clipc_status clipc_dataset_format_parse(const char *name, clipc_dataset_format *f);
/* "train", "val", "test", "restval", "" for CLIPC_SPLIT_NONE. */
const char *clipc_split_name(clipc_split s);

int clipc_dataset_n_images(const clipc_dataset *ds);
int clipc_dataset_n_captions(const clipc_dataset *ds);
/* The image root actually used (never NULL; "" = current directory). */
const char *clipc_dataset_image_root(const clipc_dataset *ds);
/* Image i's path relative to the root (COCO: "filepath/filename"). */
const char *clipc_dataset_image_path(const clipc_dataset *ds, int i);
/* root + "/" + relative path into buf (snprintf semantics: returns the
 * length it needs; the result is complete only if that is < cap). */
int clipc_dataset_image_fullpath(const clipc_dataset *ds, int i, char *buf, size_t cap);
clipc_split clipc_dataset_image_split(const clipc_dataset *ds, int i);
/* Karpathy imgid when the file has one, else the image's 0-based position
 * in file order (before any filtering). */
int64_t clipc_dataset_image_id(const clipc_dataset *ds, int i);
/* Number of captions of image i; *first receives the index of the first. */
int clipc_dataset_image_captions(const clipc_dataset *ds, int i, int *first);
/* Caption c's text (UTF-8, trimmed, NUL-terminated). */
const char *clipc_dataset_caption(const clipc_dataset *ds, int c);
int clipc_dataset_caption_image(const clipc_dataset *ds, int c);
/* Karpathy: sentid (-1 if absent); line formats: the caption's line number
 * in the file (folder: in its .txt file). */
int64_t clipc_dataset_caption_id(const clipc_dataset *ds, int c);

/* Batch sampler for contrastive training.  Each epoch visits every image
 * that has captions exactly once, in a seeded random order, pairing it with
 * one of its captions chosen at random; a batch never holds two captions of
 * one image nor two captions with the same normalised text (ASCII lower-case,
 * white space collapsed) — an image whose captions all clash is deferred to
 * the next batch.  The epoch plan is a pure function of (seed, epoch), so
 * the state is a few integers and resuming from it continues bit-exactly. */
typedef struct clipc_sampler clipc_sampler;

/* Over a dataset (which must outlive the sampler).  Pairs are (image index,
 * caption index) into the dataset.  drop_last = 1 drops a final partial batch
 * of each epoch. */
clipc_status clipc_sampler_create(const clipc_dataset *ds, int batch_size, uint64_t seed,
                                  int drop_last, clipc_sampler **out);
/* The same over plain arrays: image i has captions cap_offsets[i] ..
 * cap_offsets[i+1]-1 whose texts are texts[...] (copied as needed). */
clipc_status clipc_sampler_create_raw(int n_images, const int *cap_offsets,
                                      const char *const *texts, int batch_size, uint64_t seed,
                                      int drop_last, clipc_sampler **out);
void clipc_sampler_free(clipc_sampler *s);
/* The next batch: images[k], captions[k] for k < *n (arrays of batch_size).
 * Crosses into the next epoch by itself; *epoch (may be NULL) receives the
 * epoch the batch belongs to. */
clipc_status clipc_sampler_next(clipc_sampler *s, int *images, int *captions, int *n,
                                int64_t *epoch);
/* Batches in the epoch the next batch belongs to (deferrals can add one or
 * two, so it varies between epochs). */
int clipc_sampler_batches_in_epoch(const clipc_sampler *s);

#define CLIPC_SAMPLER_STATE_WORDS 8
/* Serialise / restore the position: magic, seed, epoch, batch index, batch
 * size, drop_last, a fingerprint of the data and a check word.  Restoring
 * onto a sampler over different data or batch size fails. */
void clipc_sampler_get_state(const clipc_sampler *s, uint64_t state[CLIPC_SAMPLER_STATE_WORDS]);
clipc_status clipc_sampler_set_state(clipc_sampler *s,
                                     const uint64_t state[CLIPC_SAMPLER_STATE_WORDS]);

/* Cross-modal retrieval metrics (Karpathy/VSE++ protocol): sim is
 * [n_images x n_texts] row-major, text_image[t] the image of text t.
 *   i2t: for image i, rank = 1 + number of texts of OTHER images scoring
 *        >= its best-scoring own text; hit@K if rank <= K.  Images with no
 *        text are left out (n_i2t counts the others).
 *   t2i: for text t, rank = 1 + number of OTHER images scoring >= its own
 *        image; hit@K if rank <= K.
 * Ties count against the item (pessimistic), so the result does not depend
 * on sort order.  Recalls are fractions in [0,1]; median rank is
 * floor(median of ranks) as in VSE++ (np.floor(np.median(r)) + 1 on 0-based
 * ranks); mean rank is the mean 1-based rank.  NaN in sim is an error. */
#define CLIPC_METRICS_MAX_K 8
typedef struct {
    int n_k;
    int k[CLIPC_METRICS_MAX_K];
    double i2t_recall[CLIPC_METRICS_MAX_K];
    double t2i_recall[CLIPC_METRICS_MAX_K];
    double i2t_median_rank, i2t_mean_rank;
    double t2i_median_rank, t2i_mean_rank;
    int n_i2t, n_t2i; /* queries counted in each direction */
} clipc_retrieval_metrics;

/* ks == NULL (or n_k == 0) means K = 1, 5, 10.  If i2t_ranks / t2i_ranks are
 * not NULL they receive each query's rank ([n_images], 0 for images without
 * texts; [n_texts]). */
clipc_status clipc_retrieval_eval(const float *sim, int n_images, int n_texts,
                                  const int *text_image, const int *ks, int n_k,
                                  clipc_retrieval_metrics *out, int *i2t_ranks,
                                  int *t2i_ranks);

/* Zero-shot classification accuracy: logits [n x n_classes], labels[n].
 * acc[j] = fraction of rows whose label is in the top ks[j] (ties count
 * against the label).  Convenience: clipc_zeroshot_accuracy gives top-1 and
 * top-5 (top-5 = top-n_classes when there are fewer classes). */
clipc_status clipc_topk_accuracy(const float *logits, int n, int n_classes, const int *labels,
                                 const int *ks, int n_k, double *acc);
clipc_status clipc_zeroshot_accuracy(const float *logits, int n, int n_classes,
                                     const int *labels, double *top1, double *top5);

/* ------------------------------------------------------------------- model */

typedef struct clipc_model clipc_model;

/* Arithmetic of clipc_encode_image / clipc_encode_text (inference only;
 * training is always float32).  BF16: weight matrices and GEMM inputs in
 * bfloat16, products accumulated and everything else kept in float32
 * (docs/performance.md gives its accuracy: cosine >= 0.999 to f32).
 * INT8: the towers' weight matrices in s8 (per output channel), GEMM
 * inputs in s8 (per row), products in s32; the ResNet image tower, layer
 * norms, attention and the residual stream stay float32. */
typedef enum { CLIPC_PRECISION_F32 = 0, CLIPC_PRECISION_BF16 = 1, CLIPC_PRECISION_INT8 = 2 } clipc_precision;

/* Options for clipc_model_load.  Head counts and the activation are taken,
 * in this order, from the file's metadata, the config file beside it
 * (config.json: clipc's or Hugging Face's; open_clip_config.json), these
 * options, and only then the shapes: OpenAI's width/64 rule for heads and,
 * for OpenAI's exact released shapes, QuickGELU (each with one line through
 * `warn`).  An activation found nowhere is an error that names --act.  An
 * option that contradicts the file is ignored with a warning. */
typedef struct {
    int vision_heads;   /* 0 = not given */
    int text_heads;     /* 0 = not given */
    int act_given;      /* 1: `act` is the caller's choice (--act) */
    clipc_act act;
    int copy;           /* 1 = copy weights to private memory instead of mmap */
    void (*warn)(const char *msg, void *ud); /* may be NULL */
    void *warn_ud;
    clipc_precision precision; /* applied with clipc_model_set_precision */
    /* 0: a tensor holding NaN or inf is refused (CLIPC_ERR_FORMAT, naming
     * it); 1: loaded anyway with a warning through `warn` (for forensics). */
    int allow_nonfinite;
} clipc_load_opts;

/* Loads a model from a safetensors file, a PyTorch zip checkpoint or a
 * TorchScript archive (recognised by content; F32, F16, BF16 or F64 weights;
 * nothing in a .pt is executed: docs/using.md "Loading PyTorch files"), with
 * OpenAI's / open_clip's state-dict names or Hugging Face CLIPModel names
 * (q/k/v joined into in_proj, projections transposed), recognised by the key
 * names. */
clipc_status clipc_model_load(const char *path, const clipc_load_opts *opts, clipc_model **out);

/* Where a model file came from and where each undetermined value was found. */
typedef enum {
    CLIPC_LAYOUT_OPENAI = 0, /* OpenAI's state-dict names, no clipc metadata */
    CLIPC_LAYOUT_CLIPC,      /* OpenAI's names, written by clipc (metadata model=clipc) */
    CLIPC_LAYOUT_OPEN_CLIP,  /* OpenAI's names with open_clip_config.json beside the file */
    CLIPC_LAYOUT_HF          /* Hugging Face CLIPModel names (config.json beside) */
} clipc_layout;
typedef enum {
    CLIPC_FROM_DEFAULT = 0,      /* a library default (not used for act/heads) */
    CLIPC_FROM_METADATA,         /* the safetensors __metadata__ */
    CLIPC_FROM_CONFIG_JSON,      /* config.json beside the file (clipc's or HF's) */
    CLIPC_FROM_OPEN_CLIP_CONFIG, /* open_clip_config.json beside the file */
    CLIPC_FROM_OPTION,           /* clipc_load_opts (--act, --vision-heads, ...) */
    CLIPC_FROM_SHAPES            /* OpenAI's rules from the tensor shapes */
} clipc_origin;
typedef struct {
    clipc_layout layout;
    clipc_origin act, vision_heads, text_heads;
} clipc_model_origins;
/* The layout of the file m was loaded from and the origin of its activation
 * and head counts (a created model: CLIPC_LAYOUT_CLIPC, CLIPC_FROM_DEFAULT). */
clipc_model_origins clipc_model_origin(const clipc_model *m);
/* "openai", "clipc", "open_clip", "hf" / "metadata", "config.json", ... */
const char *clipc_layout_name(clipc_layout l);
const char *clipc_origin_name(clipc_origin o);

/* Element type of an exported file. */
typedef enum { CLIPC_DTYPE_F32 = 0, CLIPC_DTYPE_F16, CLIPC_DTYPE_BF16 } clipc_dtype;
/* "f32" / "f16" / "bf16"; parse returns 0, or -1 for an unknown name. */
const char *clipc_dtype_name(clipc_dtype d);
int clipc_dtype_parse(const char *name, clipc_dtype *out);
/* Writes m as safetensors at path, atomically, in `layout`:
 * CLIPC_LAYOUT_CLIPC/OPENAI: OpenAI's names with clipc's metadata (as
 * clipc_model_save); CLIPC_LAYOUT_HF: Hugging Face CLIPModel names (q/k/v
 * split, projections transposed) and a config.json beside path (written
 * atomically too).  F16/BF16 round to nearest even. */
clipc_status clipc_model_export(const clipc_model *m, const char *path, clipc_layout layout, clipc_dtype dtype);
/* Writes m's encoders as ONNX models (opset 17, float32) in the folder
 * layout of Immich's CLIP models: dir/visual/model.onnx (input
 * pixel_values float32 [N,3,R,R], output image_embeds [N,E]),
 * dir/textual/model.onnx (input_ids int64 [N,context_length] ->
 * text_embeds [N,E]), dir/config.json (open_clip's model config),
 * dir/visual/preprocess_cfg.json and dir/textual/{tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json}.  The embeddings are
 * unnormalised (clipc_encode_image / clipc_encode_text's).  Each file is
 * written atomically; dir is created if missing and refused when it holds
 * anything unless flags has CLIPC_ONNX_FORCE.  CLIPC_ONNX_IMMICH_IO names
 * the inputs as Immich feeds them: `image`, and `text` as int32 ids.
 * Only OpenAI's towers (ViT or ModifiedResNet, the text transformer) are
 * exported (CLIPC_ERR_UNSUPPORTED otherwise), and each file must stay
 * under 2 GB. */
#define CLIPC_ONNX_FORCE 1u
#define CLIPC_ONNX_IMMICH_IO 2u
clipc_status clipc_model_export_onnx(const clipc_model *m, const char *dir, unsigned flags);

/* What `clipc info` prints about a model file. */
typedef struct {
    clipc_config cfg;
    clipc_model_origins origin;
    size_t n_params;          /* float parameters of the model */
    int n_tensors;            /* tensors in the file */
    int n_dtypes;
    const char *dtype_names[16];
    int dtype_counts[16];     /* tensors of each dtype in the file */
    int n_meta;
    char **meta_keys, **meta_vals; /* the file's __metadata__, sorted by key */
    clipc_transform transform; /* the image transform (clipc_model_transform) */
} clipc_model_info;
/* Loads path (with opts; weights mapped, not copied) and describes it. */
clipc_status clipc_model_inspect(const char *path, const clipc_load_opts *opts, clipc_model_info *out);
void clipc_model_info_free(clipc_model_info *info);
/* A freshly initialised model (OpenAI's init for the text tower; see
 * docs for the vision tower), deterministic for a seed. */
clipc_status clipc_model_create(const clipc_config *cfg, uint64_t seed, clipc_model **out);
/* Writes the model as safetensors (OpenAI key names, config in
 * __metadata__), atomically. */
clipc_status clipc_model_save(const clipc_model *m, const char *path);
void clipc_model_free(clipc_model *m);
const clipc_config *clipc_model_config(const clipc_model *m);
/* The image transform the model expects: the one its file records
 * (metadata image_mean, image_std, image_resize, written by clipc for the
 * tutorial's family) or else its architecture's (clipc_config_transform).
 * Every command preprocesses a model's images with it. */
void clipc_model_transform(const clipc_model *m, clipc_transform *t);
/* Sets the precision of this model's encoders.  BF16 converts the weights
 * once (half the f32 size again in memory) and needs a CPU with AVX512_BF16:
 * without one the model stays F32 and `warn` (may be NULL) gets one line.
 * clipc_model_precision tells which is in effect.  Call it before encoding,
 * not while another thread encodes; training resets a model to F32. */
clipc_status clipc_model_set_precision(clipc_model *m, clipc_precision p, void (*warn)(const char *msg, void *ud),
                                       void *warn_ud);
clipc_precision clipc_model_precision(const clipc_model *m);
/* "f32" / "bf16" / "int8"; parse returns 0, or -1 for an unknown name. */
const char *clipc_precision_name(clipc_precision p);
int clipc_precision_parse(const char *name, clipc_precision *out);

/* encode_image: `pixels` is [n, 3, R, R] preprocessed; out is [n, embed_dim],
 * unnormalised.  Safe to call from several threads on one model. */
clipc_status clipc_encode_image(const clipc_model *m, const float *pixels, int n, float *out);
/* encode_text: `ids` is [n, context_length] as clipc_tokenize_context gives;
 * out is [n, embed_dim], unnormalised. */
clipc_status clipc_encode_text(const clipc_model *m, const int32_t *ids, int n, float *out);
/* The tokenizer of the model's text tower (free with clipc_tokenizer_free):
 * OpenAI's BPE, or for the tutorial's DistilBERT a WordPiece over the
 * vocabulary the model carries (error when it carries none). */
clipc_status clipc_model_tokenizer(const clipc_model *m, clipc_tokenizer **out);

/* In-place L2 normalisation of n rows of length d. */
void clipc_l2_normalize(float *x, int n, int d);

/* ------------------------------------------------------- using a model ---- */
/* Thread safety: a clipc_model is read-only after load/create, and
 * clipc_encode_image / clipc_encode_text reuse activations the model keeps for
 * small batches (a second caller at the same moment allocates its own) and
 * make its packed f32 weights once, so one model handle may be used from
 * several threads at once (each call
 * also uses OpenMP/BLAS threads: set clipc_set_threads(1) when you run
 * your own threads).  A clipc_tokenizer guards its cache with a mutex and may
 * be shared too.  Training mutates a model: do not encode while it runs.
 *
 * Example (examples/zero_shot.c):
 *     clipc_model *m; clipc_tokenizer *tok;
 *     clipc_model_load("model.safetensors", NULL, &m);
 *     clipc_tokenizer_load(NULL, &tok);
 *     const char *labels[] = {"cat", "dog"}, *tmpl[] = {"a photo of a {}."};
 *     float w[2 * E], img[E], p[2];
 *     clipc_zeroshot_weights(m, tok, labels, 2, tmpl, 1, w);
 *     clipc_embed_image_file(m, "pet.jpg", img);
 *     clipc_classify(img, 1, w, 2, E, 100.0f, p);   // p[0] = P(cat) */

/* Loads, preprocesses and encodes one image file; out receives the
 * L2-normalised embedding (embed_dim floats).  Errors name the file. */
clipc_status clipc_embed_image_file(const clipc_model *m, const char *path, float *out);
/* Tokenizes (truncating texts longer than the context; *n_truncated, which
 * may be NULL, receives how many were) and encodes n texts; out [n x
 * embed_dim] is L2-normalised. */
clipc_status clipc_embed_texts(const clipc_model *m, clipc_tokenizer *tok, const char *const *texts, int n,
                               float *out, int *n_truncated);
/* Cosine similarity: out[i*n_b + j] = cos(a_i, b_j) for a [n_a x d] and b
 * [n_b x d] (any norms; zero rows give 0).  One sgemm. */
clipc_status clipc_similarity(const float *a, int n_a, const float *b, int n_b, int d, float *out);
/* Zero-shot classifier weights with prompt ensembling, OpenAI's way: for
 * each label, every template (a "{}" in it is replaced by the label; a
 * template without "{}" gets the label appended after a space) is encoded,
 * the L2-normalised text embeddings are averaged and the mean is
 * renormalised.  out is [n_labels x embed_dim].  n_templates == 0 uses
 * {"a photo of a {}."}. */
clipc_status clipc_zeroshot_weights(const clipc_model *m, clipc_tokenizer *tok, const char *const *labels,
                                    int n_labels, const char *const *templates, int n_templates, float *out);
/* A named set of prompt templates for clipc_zeroshot_weights: "imagenet"
 * (OpenAI's 80 ImageNet templates, in their notebook's order) or "default"
 * ({"a photo of a {}."}); *n receives the count.  NULL for an unknown name. */
const char *const *clipc_prompt_templates(const char *name, int *n);
/* The known names, for messages: "imagenet, default". */
const char *clipc_prompt_template_names(void);
/* Class probabilities: probs[i*n_labels + c] = softmax_c(scale * cos(img_i,
 * w_c)).  OpenAI's zero-shot notebook and open_clip use scale = 100 (the
 * clamp value of exp(logit_scale)); pass clipc_model_logit_scale(m) to use
 * the model's own temperature instead.  logits (may be NULL) receives the
 * scaled cosines. */
clipc_status clipc_classify(const float *image_emb, int n, const float *weights, int n_labels, int d, float scale,
                            float *probs, float *logits);
/* exp(logit_scale) of the model (the training temperature's inverse). */
float clipc_model_logit_scale(const clipc_model *m);
/* Top-k of one row of scores: idx[j] best first (ties: lower index first);
 * returns min(k, n). */
int clipc_topk(const float *scores, int n, int k, int *idx);
/* Retrieval metrics from embeddings: the cosine similarity of image_emb
 * [n_images x d] and text_emb [n_texts x d] (clipc_similarity) scored by
 * clipc_retrieval_eval with K = 1, 5, 10.  What `clipc eval` computes. */
clipc_status clipc_eval_embeddings(const float *image_emb, int n_images, const float *text_emb, int n_texts, int d,
                                   const int *text_image, clipc_retrieval_metrics *out);
/* ---------------------------------------------------------------- training */

/* clipc_train_run: contrastive training (both towers, symmetric loss,
 * learnable logit scale clamped to [0, ln 100]) over a caption dataset, with
 * evaluation each epoch, checkpoints and bit-exact resume.  See docs/train.md.
 *
 * Options start from clipc_train_opts_default() (= recipe "cpu-small") and
 * clipc_train_recipe() ("seed", "tutorial", "cpu-small", "cpu-tiny"); every
 * field can then be changed.  Strings are borrowed for the call. */
typedef struct {
    int kind;               /* CLIPC_TRAIN_STEP, _EPOCH, _CHECKPOINT, _INFO */
    int64_t epoch, epochs;  /* 0-based epoch, total */
    int64_t step, total_steps;           /* optimizer steps done, planned */
    int64_t batch_in_epoch, batches_in_epoch;
    double loss;            /* this step's loss (mean over its micro-batches) */
    double chance;          /* ln(batch): the loss of a model that learned nothing */
    double lr, grad_norm;
    double pairs_per_s, eta_s;
    /* CLIPC_TRAIN_EPOCH only (NaN when there is no validation split): */
    double train_loss, val_loss, i2t[3], t2i[3], mean_recall;
    int bad_images;         /* pairs skipped so far because of unreadable images */
    const char *message;    /* CLIPC_TRAIN_INFO / _CHECKPOINT: what happened */
} clipc_train_progress;

enum { CLIPC_TRAIN_STEP = 0, CLIPC_TRAIN_EPOCH = 1, CLIPC_TRAIN_CHECKPOINT = 2, CLIPC_TRAIN_INFO = 3 };

typedef struct {
    /* data */
    const char *data;        /* caption file or folder (any clipc_dataset format) */
    const char *image_root;  /* NULL = the dataset's default */
    const char *train_split; /* "train" (NULL/"all" = every image) */
    const char *val_split;   /* "val"; NULL or "" = no evaluation */
    int augment, fast_decode, workers, prefetch; /* augment: 1 = random resized crop + flip,
                              * 2 = the crop without the flip (icons, text), 0 = off */
    int shift;               /* augmentation: translate by up to N pixels, white fill (0 = off) */
    const char *cache;       /* preprocessed cache file or NULL */
    /* model */
    const char *config;      /* named config for a model from scratch */
    const char *init;        /* safetensors model to fine-tune from, or NULL */
    const char *init_act;    /* quickgelu|gelu: --init's activation if its file records none */
    /* optimisation */
    int epochs, batch_size, accum;
    int adam;                /* 1 = Adam with coupled L2 (torch.optim.Adam), 0 = AdamW */
    double lr, lr_image, lr_text, lr_proj, lr_logit_scale; /* group lrs < 0: = lr */
    double wd, wd_image, wd_text, wd_proj;                   /* group wd < 0: = wd */
    int decay_all;           /* 1 = decay biases, norms, embeddings, logit_scale too */
    double beta1, beta2, eps, grad_clip;
    const char *schedule;    /* "cosine" (per step, after warm-up), "cosine-epoch", "constant" */
    int warmup;              /* warm-up steps */
    double warmup_frac;      /* > 0: warm-up as this fraction of the run instead (needed with minutes) */
    double min_lr;
    /* Length of the run: epochs, or `steps` optimizer steps (> 0: replaces
     * epochs), or a wall-clock budget of `minutes` for the training loop
     * (> 0: the schedule runs on f = elapsed / budget, a step starts only if
     * the mean step time says it ends within the budget; evaluation and
     * checkpoint writes are not counted; not deterministic, replay a run
     * with steps = the steps it did). */
    int steps;
    double minutes;
    int plateau, plateau_patience; /* ReduceLROnPlateau on the best metric */
    double plateau_factor;
    double dropout;
    const char *freeze;      /* NULL, "image" (LiT) or "text" */
    int freeze_layers;       /* lock the first N blocks of each tower (+ embeddings) */
    /* run */
    uint64_t seed;
    int threads;             /* 0 = all cores */
    const char *out_dir;     /* required */
    const char *resume;      /* a run folder (uses its `last`) or a ckpt-<step> folder; the
                              * run then takes its options from the checkpoint (epochs must
                              * be 0 or the same; out_dir NULL = that run folder) */
    const char *best_metric; /* "recall" (mean of R@1/5/10 both ways), "loss" (validation loss) */
    int save_every;          /* also keep every N-th epoch's checkpoint (0 = none) */
    int ckpt_every_steps;    /* a checkpoint every N steps as well (0 = epochs only) */
    int keep_last;           /* newest checkpoints kept besides best and every-N (>= 1) */
    int log_every;           /* metrics.jsonl / progress every N steps */
    int64_t stop_after_steps;/* stop like SIGINT once this many steps are done (0 = never) */
    double max_memory_gb;    /* 0 = MemAvailable */
    int overlap_allreduce;   /* mpirun: 1 = start the gradient allreduce bucket by bucket during the
                              * backward (the same bits as 0 at 2 ranks; docs/distributed.md) */
    /* ---- the tutorial's model (seed 002) */
    const char *head;        /* from scratch: linear (seed 002) or mlp (the notebook); NULL = the config's */
    const char *vocab;       /* WordPiece vocab.txt of a DistilBERT trained from scratch (or of --init) */
    const char *init_image;  /* torchvision/timm resnet50 weights for the image tower */
    const char *init_text;   /* Hugging Face DistilBERT folder or file for the text tower */
    const char *loss;        /* clip (CE against the diagonal, seed 002) or soft (the notebook's targets) */
    int learn_temperature;   /* 1 = train logit_scale (the tutorial fixes it) */
    double temperature;      /* > 0: start from this temperature; 0 = the loss's (0.07; soft: 1.0) */
    void (*progress)(const clipc_train_progress *p, void *ud);
    void (*warn)(const char *msg, void *ud);
    /* Called at each stage of a checkpoint write ("model", "state", "renamed",
     * "pointer"): a fault-injection point for crash tests. */
    void (*checkpoint_hook)(const char *stage, int64_t step, void *ud);
    /* The clock of the training loop in seconds (a --minutes budget, its
     * schedule, the step rate); NULL = clipc_now().  Read once per optimizer
     * step and around each evaluation/checkpoint.  Tests hand a fake one. */
    double (*clock)(void *ud);
    void *ud;
} clipc_train_opts;

typedef struct {
    int64_t step, epoch;     /* where the run ended */
    int stopped;             /* 1 = interrupted (stop request), checkpoint written */
    double final_loss, best_metric;
    int bad_images;
    double seconds;
    double train_seconds;    /* the training loop without evaluation and checkpoints (the
                              * time a minutes budget counts) */
    int finished;            /* 1 = resumed a run that had already ended: nothing done */
} clipc_train_result;

void clipc_train_opts_default(clipc_train_opts *o);

/* Every field of clipc_train_opts that is an option, described once: the
 * CLI's flags (--name) and --help, config.json and the options a checkpoint
 * stores all come from this table (clipc_train_options gives it and its
 * length). */
typedef enum { CLIPC_OPT_STR, CLIPC_OPT_INT, CLIPC_OPT_INT64, CLIPC_OPT_DOUBLE, CLIPC_OPT_U64 } clipc_opt_type;
typedef struct {
    const char *name;        /* the flag without "--": "batch" */
    const char *field;       /* the field of clipc_train_opts and its key in stored JSON: "batch_size" */
    clipc_opt_type type;     /* const char *, int, int64_t, double, uint64_t */
    size_t offset;           /* offsetof(clipc_train_opts, field) */
    int stored;              /* 1 = part of the run (stored, taken back on resume); 0 = of this process */
    const char *help;
} clipc_option;
const clipc_option *clipc_train_options(int *n);
/* Applies a recipe's settings to *o (other fields untouched). */
clipc_status clipc_train_recipe(const char *name, clipc_train_opts *o);
const char *clipc_train_recipe_names(void);
/* Runs training; `res` may be NULL.  Returns CLIPC_OK also when stopped by
 * clipc_train_request_stop() (res->stopped = 1). */
clipc_status clipc_train_run(const clipc_train_opts *o, clipc_train_result *res);
/* Asks a running clipc_train_run to finish its current step, write a
 * checkpoint and return.  Async-signal-safe (call it from a SIGINT handler). */
void clipc_train_request_stop(void);
/* Data-parallel training (docs/distributed.md).  Under Open MPI's mpirun
 * (OMPI_COMM_WORLD_SIZE set) clipc_dist_init initialises MPI and every rank
 * then runs clipc_train_run with the same options: --batch is the global
 * batch, each rank takes its slice of it, rank 0 alone writes files and
 * reports progress.  Without mpirun it does nothing: one rank.
 * clipc_dist_finalize ends MPI (call it before a normal exit);
 * clipc_dist_abort(code) ends every rank at once after an error (MPI_Abort;
 * returns only when there is a single rank, to let the caller exit). */
clipc_status clipc_dist_init(int *argc, char ***argv);
int clipc_dist_rank(void);
int clipc_dist_size(void);
void clipc_dist_finalize(void);
void clipc_dist_abort(int code);
/* Bytes clipc_train_run needs for a config and batch size (activations,
 * parameters, gradients, Adam state, batches). */
size_t clipc_train_memory_bytes(const clipc_config *cfg, int batch_size);

#ifdef __cplusplus
}
#endif
#endif /* CLIPC_H */
