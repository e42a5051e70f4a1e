/*
 * export_onnx_dir.c — clipc_model_export_onnx: the folder of an Immich CLIP
 * model around the two ONNX graphs (export_onnx.c).  What Immich's
 * machine-learning service reads (immich_ml/models/clip/):
 *   config.json                    open_clip's model config: text_cfg.context_length
 *                                  (and tokenizer_kwargs, absent here)
 *   visual/preprocess_cfg.json     size, mean, std, interpolation, resize_mode
 *   textual/tokenizer.json         a Hugging Face `tokenizers` file (Tokenizer.from_file)
 *   textual/tokenizer_config.json  pad_token (Immich pads to context_length with it)
 * special_tokens_map.json is written too, as Hugging Face's CLIP folders have it.
 *
 * tokenizer.json is OpenAI's BPE in Hugging Face's form: the vocabulary
 * (the 256 byte symbols in bytes_to_unicode order, the same with </w>, one
 * entry per merge, then <|startoftext|> 49406 and <|endoftext|> 49407) and
 * the merges come from the merges file embedded in the library; the
 * normaliser, pre-tokeniser and post-processor are those of Hugging Face's
 * CLIPTokenizerFast (NFC, whitespace runs to one space, lowercase; OpenAI's
 * split regex; byte-level symbols; SOT ... EOT around the ids).  Padding
 * with <|endoftext|> gives the same embeddings as OpenAI's zeros: the text
 * graph pools at the FIRST largest id, and under the causal mask the
 * positions after it do not reach it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cJSON.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/error.h"
#include "formats/onnx_writer.h"
#include "model/export_onnx.h"
#include "model/model.h"
#include "text/vocab_data.h"

static clipc_status write_json(const char *dir, const char *leaf, cJSON *o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, leaf);
    char *s = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!s) return clipc_error(CLIPC_ERR_NOMEM, "%s: out of memory writing JSON", path);
    size_t n = strlen(s);
    s[n] = '\n'; /* cJSON_Print's terminator becomes the file's last newline */
    clipc_status st = clipc_write_file_atomic(path, s, n + 1);
    free(s);
    return st;
}

static cJSON *floats3(const double *v) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < 3; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* open_clip's model config (the fields Immich and open_clip read). */
static cJSON *model_config(const clipc_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "embed_dim", c->embed_dim);
    cJSON_AddBoolToObject(o, "quick_gelu", c->act == CLIPC_ACT_QUICKGELU);
    cJSON *v = cJSON_AddObjectToObject(o, "vision_cfg");
    cJSON_AddNumberToObject(v, "image_size", c->image_resolution);
    if (c->vision_arch == CLIPC_VISION_RESNET) { /* open_clip: a list of stage depths, no patch size */
        cJSON_AddItemToObject(v, "layers", cJSON_CreateIntArray(c->vision_blocks, 4));
        cJSON_AddNumberToObject(v, "width", c->vision_width);
        cJSON_AddNumberToObject(v, "head_width", 32 * c->vision_width / c->vision_heads);
        cJSON_AddNullToObject(v, "patch_size");
    } else {
        cJSON_AddNumberToObject(v, "layers", c->vision_layers);
        cJSON_AddNumberToObject(v, "width", c->vision_width);
        cJSON_AddNumberToObject(v, "head_width", c->vision_width / c->vision_heads);
        cJSON_AddNumberToObject(v, "patch_size", c->vision_patch_size);
    }
    cJSON *t = cJSON_AddObjectToObject(o, "text_cfg");
    cJSON_AddNumberToObject(t, "context_length", c->context_length);
    cJSON_AddNumberToObject(t, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(t, "width", c->transformer_width);
    cJSON_AddNumberToObject(t, "heads", c->transformer_heads);
    cJSON_AddNumberToObject(t, "layers", c->transformer_layers);
    return o;
}

/* The model's preprocessing (image/preprocess.c) as open_clip writes it:
 * OpenAI's constants as open_clip has them, or the mean/std the model file
 * records (clipc_model_transform).  open_clip's config has no resize other
 * than the crop, so a model resizing to more than its crop is refused. */
static cJSON *preprocess_config(const clipc_model *m) {
    const clipc_config *c = &m->cfg;
    double mean[3] = {0.48145466, 0.4578275, 0.40821073}, std[3] = {0.26862954, 0.26130258, 0.27577711};
    clipc_transform tf, arch;
    clipc_model_transform(m, &tf);
    clipc_config_transform(c, &arch);
    if (!transform_equal(&tf, &arch))
        for (int k = 0; k < 3; k++) mean[k] = tf.mean[k], std[k] = tf.std[k];
    cJSON *o = cJSON_CreateObject();
    int sz[2] = {c->image_resolution, c->image_resolution};
    cJSON_AddItemToObject(o, "size", cJSON_CreateIntArray(sz, 2));
    cJSON_AddStringToObject(o, "mode", "RGB");
    cJSON_AddItemToObject(o, "mean", floats3(mean));
    cJSON_AddItemToObject(o, "std", floats3(std));
    cJSON_AddStringToObject(o, "interpolation", "bicubic");
    cJSON_AddStringToObject(o, "resize_mode", "shortest");
    cJSON_AddNumberToObject(o, "fill_color", 0);
    return o;
}

static cJSON *special_tokens(int with_config, int ctx) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bos_token", "<|startoftext|>");
    cJSON_AddStringToObject(o, "eos_token", "<|endoftext|>");
    cJSON_AddStringToObject(o, "pad_token", "<|endoftext|>");
    cJSON_AddStringToObject(o, "unk_token", "<|endoftext|>");
    if (with_config) {
        cJSON_AddNumberToObject(o, "model_max_length", ctx);
        cJSON_AddBoolToObject(o, "do_lower_case", 1);
        cJSON_AddStringToObject(o, "errors", "replace");
        cJSON_AddStringToObject(o, "tokenizer_class", "CLIPTokenizer");
    }
    return o;
}

static clipc_status merges_text(char **out, size_t *out_len) {
    size_t n;
    const unsigned char *gz = vocab_gz(&n);
    size_t cap = 2u << 20;
    char *buf = NULL;
    for (;;) { /* the file is about 1.6 MB: grow until it fits */
        char *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            return clipc_error(CLIPC_ERR_NOMEM, "out of memory unpacking the BPE merges");
        }
        buf = nb;
        z_stream zs = {0};
        if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) break;
        zs.next_in = (Bytef *)gz;
        zs.avail_in = (uInt)n;
        zs.next_out = (Bytef *)buf;
        zs.avail_out = (uInt)(cap - 1);
        int rc = inflate(&zs, Z_FINISH);
        size_t len = cap - 1 - zs.avail_out;
        inflateEnd(&zs);
        if (rc == Z_STREAM_END) {
            buf[len] = 0;
            *out = buf;
            *out_len = len;
            return CLIPC_OK;
        }
        if (rc != Z_BUF_ERROR || cap > (64u << 20)) break;
        cap *= 2;
    }
    free(buf);
    return clipc_error(CLIPC_ERR_FORMAT, "the embedded BPE merges do not unpack");
}

/* GPT-2's bytes_to_unicode: the code point of byte b's symbol, and the
 * order of the 256 symbols in the vocabulary (printable bytes first). */
static void byte_symbols(int cp[256], int order[256]) {
    int n = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            cp[b] = b;
            order[n++] = b;
        }
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            cp[b] = 0x100 + extra++;
            order[n++] = b;
        }
}

static void utf8_put(char *s, int cp) {
    if (cp < 0x80) {
        s[0] = (char)cp, s[1] = 0;
    } else { /* < 0x800: every symbol of bytes_to_unicode */
        s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F)), s[2] = 0;
    }
}

static cJSON *tokenizer_model(const char *txt, int vocab_size, clipc_status *st) {
    cJSON *m = cJSON_CreateObject(), *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    int cp[256], order[256], id = 0;
    byte_symbols(cp, order);
    char sym[16];
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 256; i++, id++) {
            utf8_put(sym, cp[order[i]]);
            if (w) strcat(sym, "</w>");
            cJSON_AddItemToObject(vocab, sym, cJSON_CreateNumber(id));
        }
    const char *p = strchr(txt, '\n'); /* line 0 is a header */
    int n_merges = vocab_size - 512 - 2;
    for (int k = 0; k < n_merges && p; k++) {
        const char *line = p + 1, *end = strchr(line, '\n'), *sp = strchr(line, ' ');
        if (!end || !sp || sp > end || end - line > 200) {
            *st = clipc_error(CLIPC_ERR_FORMAT, "embedded BPE merges: line %d is not 'a b'", k + 1);
            break;
        }
        char pair[256], joined[256];
        memcpy(pair, line, (size_t)(end - line));
        pair[end - line] = 0;
        snprintf(joined, sizeof joined, "%.*s%.*s", (int)(sp - line), line, (int)(end - sp - 1), sp + 1);
        cJSON_AddItemToArray(merges, cJSON_CreateString(pair));
        cJSON_AddItemToObject(vocab, joined, cJSON_CreateNumber(id++));
        p = end;
    }
    cJSON_AddItemToObject(vocab, "<|startoftext|>", cJSON_CreateNumber(id++));
    cJSON_AddItemToObject(vocab, "<|endoftext|>", cJSON_CreateNumber(id++));
    if (!*st && id != vocab_size)
        *st = clipc_error(CLIPC_ERR_UNSUPPORTED, "ONNX export: the model's vocabulary has %d ids, OpenAI's BPE %d",
                          vocab_size, id);
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    cJSON_AddStringToObject(m, "unk_token", "<|endoftext|>");
    cJSON_AddStringToObject(m, "continuing_subword_prefix", "");
    cJSON_AddStringToObject(m, "end_of_word_suffix", "</w>");
    cJSON_AddBoolToObject(m, "fuse_unk", 0);
    cJSON_AddBoolToObject(m, "byte_fallback", 0);
    cJSON_AddItemToObject(m, "vocab", vocab);
    cJSON_AddItemToObject(m, "merges", merges);
    return m;
}

/* The fixed parts of Hugging Face's CLIP tokenizer.json. */
static const char tokenizer_pipeline[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
    "\"added_tokens\":[{\"id\":49406,\"content\":\"<|startoftext|>\",\"single_word\":false,\"lstrip\":false,"
    "\"rstrip\":false,\"normalized\":true,\"special\":true},{\"id\":49407,\"content\":\"<|endoftext|>\","
    "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Replace\","
    "\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"},{\"type\":\"Lowercase\"}]},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"<\\\\|startoftext\\\\|>|<\\\\|endoftext\\\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\\\p{L}]+|[\\\\p{N}]|"
    "[^\\\\s\\\\p{L}\\\\p{N}]+\"},\"behavior\":\"Removed\",\"invert\":true},{\"type\":\"ByteLevel\","
    "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]},"
    "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"<|endoftext|>\",49407],"
    "\"cls\":[\"<|startoftext|>\",49406],\"trim_offsets\":false,\"add_prefix_space\":false},"
    "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}}";

static clipc_status write_tokenizer_json(const char *dir, int vocab_size) {
    char *txt = NULL;
    size_t len = 0;
    clipc_status st = merges_text(&txt, &len);
    if (st) return st;
    cJSON *o = cJSON_Parse(tokenizer_pipeline);
    cJSON *m = o ? tokenizer_model(txt, vocab_size, &st) : NULL;
    free(txt);
    if (!o || !m || st) {
        cJSON_Delete(o);
        cJSON_Delete(m);
        return st ? st : clipc_error(CLIPC_ERR_NOMEM, "out of memory building tokenizer.json");
    }
    cJSON_AddItemToObject(o, "model", m);
    return write_json(dir, "textual/tokenizer.json", o);
}

/* dir: created when missing; when present it must be an empty folder
 * (or force). */
static clipc_status prepare_dir(const char *dir, int force) {
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0777) != 0)
            return clipc_error(CLIPC_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        return clipc_error(CLIPC_ERR_INVALID, "%s: exists and is not a folder", dir);
    } else if (!force) {
        DIR *d = opendir(dir);
        if (!d) return clipc_error(CLIPC_ERR_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
        struct dirent *e;
        int used = 0;
        while (!used && (e = readdir(d))) used = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        closedir(d);
        if (used) return clipc_error(CLIPC_ERR_INVALID, "%s: the folder is not empty (--force writes into it)", dir);
    }
    const char *sub[2] = {"visual", "textual"};
    for (int i = 0; i < 2; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return clipc_error(CLIPC_ERR_IO, "%s: cannot create the folder: %s", p, strerror(errno));
    }
    return CLIPC_OK;
}

clipc_status clipc_model_export_onnx(const clipc_model *m, const char *dir, unsigned flags) {
    clipc_status s = export_onnx_check(m);
    if (s) return s;
    clipc_transform tf;
    clipc_model_transform(m, &tf);
    if (tf.resize != tf.size)
        return clipc_error(CLIPC_ERR_UNSUPPORTED, "export onnx: the model resizes images to %d before its %d crop; "
                           "open_clip's preprocess_cfg cannot say so", tf.resize, tf.size);
    if (strlen(dir) > 3000) return clipc_error(CLIPC_ERR_INVALID, "%.40s...: folder name too long", dir);
    if ((s = prepare_dir(dir, (flags & CLIPC_ONNX_FORCE) != 0))) return s;
    char path[4096];
    snprintf(path, sizeof path, "%s/visual/model.onnx", dir);
    if ((s = export_onnx_graph(m, 0, flags, path, ONNX_MAX_BYTES))) return s;
    snprintf(path, sizeof path, "%s/textual/model.onnx", dir);
    if ((s = export_onnx_graph(m, 1, flags, path, ONNX_MAX_BYTES))) return s;
    if ((s = write_json(dir, "config.json", model_config(&m->cfg)))) return s;
    if ((s = write_json(dir, "visual/preprocess_cfg.json", preprocess_config(m)))) return s;
    if ((s = write_json(dir, "textual/tokenizer_config.json", special_tokens(1, m->cfg.context_length)))) return s;
    if ((s = write_json(dir, "textual/special_tokens_map.json", special_tokens(0, 0)))) return s;
    return write_tokenizer_json(dir, m->cfg.vocab_size);
}
