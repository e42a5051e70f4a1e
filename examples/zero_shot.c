/*
 * zero_shot.c — the smallest useful program against the installed library:
 * zero-shot classification of one image.
 *
 *   cc zero_shot.c $(pkg-config --cflags --libs clipc) -o zero_shot
 *   ./zero_shot model.safetensors photo.jpg cat dog car
 *
 * Prints "label probability" lines, best first.
 */
#include <clipc.h>
#include <stdio.h>
#include <stdlib.h>
#include "clipc.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL IMAGE LABEL...\n", argv[0]);
        return 2;
    }
    clipc_model *m = NULL;
    clipc_tokenizer *tok = NULL;
    int n = argc - 3, rc = 1;
    const char *templates[] = {"a photo of a {}.", "a picture of a {}."};
    if (clipc_model_load(argv[1], NULL, &m) || clipc_tokenizer_load(NULL, &tok)) goto out;
    int E = clipc_model_config(m)->embed_dim;
    float *w = malloc(sizeof(float) * (size_t)n * E), *img = malloc(sizeof(float) * E), *p = malloc(sizeof(float) * n);
    int *idx = malloc(sizeof(int) * n);
    if (w && img && p && idx && !clipc_zeroshot_weights(m, tok, (const char *const *)argv + 3, n, templates, 2, w) &&
        !clipc_embed_image_file(m, argv[2], img) && !clipc_classify(img, 1, w, n, E, 100.0f, p, NULL)) {
        int k = clipc_topk(p, n, n, idx);
        for (int i = 0; i < k; i++) printf("%s %.6f\n", argv[3 + idx[i]], (double)p[idx[i]]);
        rc = 0;
    }
    free(w);
    free(img);
    free(p);
    free(idx);
out:
    if (rc) fprintf(stderr, "zero_shot: %s\n", clipc_last_error());
    clipc_tokenizer_free(tok);
    clipc_model_free(m);
    return rc;
}
