/*
 * precision.c — the `--precision f32|bf16|int8` option shared by the commands
 * that encode (encode, classify, eval, index, search).
 */
#include "clipc.h"
#include "cli.h"

int cli_opt_precision(const char *cmd, const cli_opt *o, const char *val) {
    if (clipc_precision_parse(val, o->dest)) return cli_usage_error(cmd, "--precision must be f32, bf16 or int8, not '%s'", val);
    return 0;
}
