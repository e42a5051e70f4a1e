/*
 * exif.c — the `--exif apply|ignore` option shared by the commands that
 * load images (encode, classify, eval, index, search, train).  It sets the
 * library's process-wide choice at once (before any image is decoded), so
 * no command has to carry it to the library calls it makes.
 */
#include <string.h>

#include "clipc.h"
#include "cli.h"

int cli_opt_exif(const char *cmd, const cli_opt *o, const char *val) {
    (void)o;
    if (!strcmp(val, "apply")) clipc_image_set_exif(CLIPC_EXIF_APPLY);
    else if (!strcmp(val, "ignore")) clipc_image_set_exif(CLIPC_EXIF_IGNORE);
    else return cli_usage_error(cmd, "--exif must be apply or ignore, not '%s'", val);
    return 0;
}
