/*
 * cmd_tokenize.c -- `clipc tokenize`: the CLIP BPE tokenizer as a JSON Lines
 * filter (text -> ids, or ids -> text with --decode), plus --bench to time it.
 *
 * One output line per input line, so outputs line up with inputs: a line
 * that cannot be processed becomes {"line": N, "error": "..."} and the run
 * goes on; the exit status is then 1.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "cli.h"

static const char usage[] =
    "usage: clipc tokenize [--vocab FILE | --wordpiece FILE | --model FILE] [--context-length N] [--truncate] [--decode]\n"
    "       clipc tokenize [--vocab FILE] --bench FILE\n"
    "\n"
    "OpenAI CLIP's BPE tokenizer (49,408 tokens), as a JSON Lines filter on stdin/stdout.\n"
    "\n"
    "  (default)   reads {\"text\": \"...\"} per line, writes {\"ids\": [...]}: the BPE ids\n"
    "              without <|startoftext|> (49406) and <|endoftext|> (49407).\n";

static const char epilog[] =
    "\n"
    "A line that is not valid JSON, not valid UTF-8, lacks the field, or is too long for\n"
    "the context without --truncate is answered with {\"line\": N, \"error\": \"...\"} (N counts\n"
    "from 1); processing continues and the exit status is 1.  Exit status 2: usage error.\n"
    "Text is taken as given (OpenAI's ftfy.fix_text step is not applied).  A line holding a\n"
    "NUL byte, raw or as \\u0000, is answered with an error (it would cut the text short).\n";

static void put_ids(FILE *out, const char *key, const int32_t *v, int n) {
    fprintf(out, "\"%s\": [", key);
    for (int i = 0; i < n; i++) fprintf(out, i ? ", %d" : "%d", (int)v[i]);
    fputc(']', out);
}

/* A JSON string of s[0..n) (valid UTF-8, may hold NUL bytes, which
 * cJSON's strings cannot carry). */
static void put_json_string(FILE *out, const char *s, size_t n) {
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c < 0x20 || c == 0x7F) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

static void put_error(FILE *out, long line, const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "line", (double)line);
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    fprintf(out, "%s\n", s ? s : "{\"error\": \"out of memory\"}");
    cJSON_free(s);
    cJSON_Delete(o);
}

/* Whether line[0..len) holds a NUL byte, raw or as the JSON escape \u0000
 * (a u after an odd run of backslashes, the last of which escapes it). */
static int has_nul(const char *line, size_t len) {
    if (memchr(line, 0, len)) return 1;
    size_t run = 0; /* backslashes just before i */
    for (size_t i = 0; i < len; i++) {
        if (line[i] == 'u' && run % 2 == 1 && i + 5 <= len && !memcmp(line + i + 1, "0000", 4)) return 1;
        run = line[i] == '\\' ? run + 1 : 0;
    }
    return 0;
}

/* One input line; returns 0 or -1 (after writing the error line). */
static int do_line(clipc_tokenizer *tok, const char *line, size_t len, long ln, int ctx, int truncate,
                   int decode, int32_t *row, FILE *out) {
    if (has_nul(line, len)) { /* cJSON's strings end at a NUL: the text would be cut */
        put_error(out, ln, "a NUL byte in the text (raw or \\u0000); remove it");
        return -1;
    }
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        put_error(out, ln, "invalid JSON (expected one object per line)");
        return -1;
    }
    char msg[1200];
    int rc = 0;
    if (!decode) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
        int32_t *ids = NULL;
        int n = 0;
        clipc_status st;
        if (!cJSON_IsString(t)) {
            put_error(out, ln, "missing string field \"text\"");
            rc = -1;
        } else if ((st = clipc_tokenize(tok, t->valuestring, strlen(t->valuestring), &ids, &n)) ||
                   (ctx && (st = clipc_tokenize_context(tok, t->valuestring, strlen(t->valuestring), ctx,
                                                        truncate, row)))) {
            put_error(out, ln, clipc_last_error());
            rc = -1;
        } else {
            fputc('{', out);
            put_ids(out, "ids", ids, n);
            if (ctx) {
                fputs(", ", out);
                put_ids(out, "context", row, ctx);
            }
            fputs("}\n", out);
        }
        free(ids);
    } else {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "ids");
        int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1, i = 0;
        int32_t *ids = n >= 0 ? malloc(((size_t)n + 1) * sizeof *ids) : NULL;
        if (n < 0 || !ids) {
            put_error(out, ln, n < 0 ? "missing array field \"ids\"" : "out of memory");
            rc = -1;
        } else {
            for (const cJSON *e = a->child; e; e = e->next, i++) {
                if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int32_t)e->valuedouble) {
                    snprintf(msg, sizeof msg, "ids[%d] is not an integer", i);
                    put_error(out, ln, msg);
                    rc = -1;
                    break;
                }
                ids[i] = (int32_t)e->valuedouble;
            }
            char *text = NULL;
            size_t tlen = 0;
            if (!rc && clipc_detokenize_len(tok, ids, n, &text, &tlen)) {
                put_error(out, ln, clipc_last_error());
                rc = -1;
            } else if (!rc) {
                fputs("{\"text\": ", out);
                put_json_string(out, text, tlen);
                fputs("}\n", out);
            }
            free(text);
        }
        free(ids);
    }
    cJSON_Delete(j);
    return rc;
}

static int bench(clipc_tokenizer *tok, const char *path) {
    char *data;
    size_t len;
    clipc_status st = clipc_read_file(path, &data, &len);
    if (st) return cli_report(st);
    long lines = 0;
    for (int pass = 0; pass < 2; pass++) {
        long ntok = 0;
        lines = 0;
        double t0 = clipc_now();
        for (char *p = data, *end = data + len; p < end;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
            int32_t *ids;
            int n;
            if ((st = clipc_tokenize(tok, p, l, &ids, &n))) {
                free(data);
                clipc_error_prefix("%s: line %ld", path, lines + 1);
                return cli_report(st);
            }
            free(ids);
            ntok += n;
            lines++;
            p += l + 1;
        }
        double dt = clipc_now() - t0;
        printf("%s: %zu bytes, %ld lines, %ld tokens: %.3f s, %.0f tokens/s, %.2f MB/s (%s merge cache)\n",
               path, len, lines, ntok, dt, (double)ntok / dt, (double)len / 1e6 / dt, pass ? "warm" : "cold");
    }
    free(data);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *bench_file = NULL, *wordpiece = NULL, *model = NULL;
    int ctx = 0, truncate = 0, decode = 0;
    const cli_opt opts[] = {
        {.name = "--context-length", .kind = CLI_INT, .dest = &ctx, .min = 2, .max = 1 << 20, .metavar = "N",
         .help = "also writes \"context\": [...], clip.tokenize()'s row: 49406, the ids,\n"
                 "49407, zero padding to N ints (CLIP models use 77).  A text with more\n"
                 "than N-2 ids is an error unless --truncate is given."},
        {.name = "--truncate", .kind = CLI_FLAG, .dest = &truncate,
         .help = "keep 49406 + the first N-2 ids and put 49407 last (OpenAI's truncate=True)."},
        {.name = "--decode", .kind = CLI_FLAG, .dest = &decode,
         .help = "reads {\"ids\": [...]} per line, writes {\"text\": \"...\"} as OpenAI's decode()\n"
                 "(each end-of-word becomes a space; broken UTF-8 becomes U+FFFD)."},
        {.name = "--vocab", .kind = CLI_STRING, .dest = &vocab, .metavar = "FILE",
         .help = "bpe_simple_vocab_16e6.txt.gz to use instead of the embedded copy."},
        {.name = "--wordpiece", .kind = CLI_STRING, .dest = &wordpiece, .metavar = "FILE",
         .help = "a WordPiece vocab.txt (BERT/DistilBERT, uncased): [CLS] ... [SEP] ids,\n"
                 "always truncated to --context-length (no --decode)."},
        {.name = "--model", .kind = CLI_STRING, .dest = &model, .metavar = "FILE",
         .help = "the tokenizer of this model: BPE, or a tutorial model's own WordPiece."},
        {.name = "--bench", .kind = CLI_STRING, .dest = &bench_file, .metavar = "FILE",
         .help = "tokenize FILE line by line (twice: cold, then warm merge cache) and\n"
                 "print tokens/s and MB/s."},
    };
    const cli_command cmd = {.cmd = "tokenize", .usage = usage, .epilog = epilog, .width = 11, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (decode && (ctx || truncate)) return cli_usage_error("tokenize", "--decode takes no --context-length/--truncate");
    if (truncate && !ctx) return cli_usage_error("tokenize", "--truncate needs --context-length");
    if (!!vocab + !!wordpiece + !!model > 1)
        return cli_usage_error("tokenize", "give one of --vocab, --wordpiece, --model");
    clipc_tokenizer *tok;
    clipc_status st;
    if (wordpiece) { /* the tutorial's DistilBERT vocabulary */
        char *buf;
        size_t n;
        st = clipc_read_file(wordpiece, &buf, &n);
        if (!st) {
            st = clipc_tokenizer_wordpiece(buf, n, wordpiece, &tok);
            free(buf);
        }
    } else if (model) {
        clipc_model *m = NULL;
        st = clipc_model_load(model, NULL, &m);
        if (!st) st = clipc_model_tokenizer(m, &tok);
        clipc_model_free(m);
    } else {
        st = clipc_tokenizer_load(vocab, &tok);
    }
    if (st) return cli_report(st);
    if (bench_file) {
        int rc = bench(tok, bench_file);
        clipc_tokenizer_free(tok);
        return rc;
    }
    int32_t *row = ctx ? malloc((size_t)ctx * sizeof *row) : NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long ln = 0;
    int bad = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        ln++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (do_line(tok, line, (size_t)len, ln, ctx, truncate, decode, row, stdout)) bad = 1;
    }
    free(line);
    free(row);
    clipc_tokenizer_free(tok);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "clipc tokenize: error writing the output\n");
        return 1;
    }
    return bad;
}
