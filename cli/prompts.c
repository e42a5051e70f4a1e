/*
 * prompts.c — the prompt options shared by `clipc classify` and `clipc eval`:
 * --template T (one, repeatable), --templates NAME (a set built into the
 * library: imagenet = OpenAI's 80 ImageNet templates), --templates-file F
 * and --classes-file F (one entry per line).  Templates from all of them add
 * up in command-line order; the library ensembles them (normalised mean of
 * the normalised text embeddings, clipc_zeroshot_weights).
 */
#include <stdlib.h>
#include <string.h>

#include "clipc.h"
#include "clipc_util.h"
#include "cli.h"

static int push(cli_strings *l, const char *s, int own) {
    const char **nv = realloc(l->v, sizeof *nv * (size_t)(l->n + 1));
    if (!nv) return -1;
    l->v = nv;
    if (own) {
        char **no = realloc(l->owned, sizeof *no * (size_t)(l->n_owned + 1));
        char *d = no ? strdup(s) : NULL;
        if (no) l->owned = no;
        if (!d) return -1;
        l->owned[l->n_owned++] = d;
        s = d;
    }
    l->v[l->n++] = s;
    return 0;
}

void cli_strings_free(cli_strings *l) {
    for (int i = 0; i < l->n_owned; i++) free(l->owned[i]);
    free(l->owned);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int cli_opt_template(const char *cmd, const cli_opt *o, const char *val) {
    (void)cmd;
    if (push(o->dest, val, 0)) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    return 0;
}

int cli_opt_templates(const char *cmd, const cli_opt *o, const char *val) {
    int n;
    const char *const *set = clipc_prompt_templates(val, &n);
    if (!set)
        return cli_usage_error(cmd, "--templates: unknown set '%s' (known: %s)", val, clipc_prompt_template_names());
    for (int i = 0; i < n; i++)
        if (push(o->dest, set[i], 0)) return cli_report(clipc_error(CLIPC_ERR_NOMEM, "out of memory"));
    return 0;
}

clipc_status cli_read_lines(const char *path, cli_strings *l) {
    char *data;
    size_t len;
    clipc_status s = clipc_read_file(path, &data, &len);
    if (s) return s;
    int line = 1;
    for (char *p = data, *end = data + len; p < end && !s; line++) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        if (memchr(p, 0, (size_t)(e - p))) {
            s = clipc_error(CLIPC_ERR_FORMAT, "%s:%d: a NUL byte in the text; remove it", path, line);
            break;
        }
        char *b = e;
        while (b > p && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t')) b--;
        *b = 0; /* inside data, which has a NUL after its last byte */
        int blank = 1;
        for (char *q = p; q < b; q++) blank &= *q == ' ' || *q == '\t';
        if (!blank && push(l, p, 1)) s = clipc_error(CLIPC_ERR_NOMEM, "out of memory");
        p = e + 1;
    }
    free(data);
    return s;
}

int cli_opt_lines_file(const char *cmd, const cli_opt *o, const char *val) {
    (void)cmd;
    cli_strings *l = o->dest;
    int before = l->n;
    clipc_status s = cli_read_lines(val, l);
    if (!s && l->n == before) s = clipc_error(CLIPC_ERR_FORMAT, "%s: no entries (one per line)", val);
    return s ? cli_report(s) : 0;
}
