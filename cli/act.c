/*
 * act.c — the `--act quickgelu|gelu` option of the commands that load a
 * model: the activation to use when the file records none (clipc never
 * guesses it silently; see clipc_load_opts).
 */
#include <string.h>

#include "clipc.h"
#include "cli.h"

int cli_opt_act(const char *cmd, const cli_opt *o, const char *val) {
    clipc_load_opts *lo = o->dest;
    if (!strcmp(val, "quickgelu") || !strcmp(val, "quick_gelu")) lo->act = CLIPC_ACT_QUICKGELU;
    else if (!strcmp(val, "gelu")) lo->act = CLIPC_ACT_GELU;
    else return cli_usage_error(cmd, "--act must be quickgelu or gelu, not '%s'", val);
    lo->act_given = 1;
    return 0;
}
