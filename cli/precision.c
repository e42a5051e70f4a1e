/*
 * precision.c — the `--precision f32|bf16` option shared by the commands
 * that encode (encode, classify, eval, index, search).
 */
#include "clipc.h"
#include "cli.h"

int cli_parse_precision(const char *cmd, const char *val, clipc_precision *out) {
    if (!val) return cli_usage_error(cmd, "--precision needs a value");
    if (clipc_precision_parse(val, out)) return cli_usage_error(cmd, "--precision must be f32 or bf16, not '%s'", val);
    return 0;
}
