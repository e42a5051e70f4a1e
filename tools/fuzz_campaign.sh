#!/bin/sh
# fuzz_campaign.sh — runs every libFuzzer target (make fuzz) for SECONDS
# each, one after the other on one core, and prints per target the
# executions, the coverage and the corpus size reached.
#
#   tools/fuzz_campaign.sh [SECONDS]        (default 600; from the repository root)
#
# Each target starts from its committed seeds (tests/fuzz/corpus_<name>/,
# read only) and writes what it finds to a scratch corpus under
# build-fuzz/campaign/<name>/; a crash leaves build-fuzz/campaign/crash-<name>-*
# and the script ends with status 1.  A crash, once fixed, goes into the
# committed corpus (named crash-<what>) so that the default tests replay it
# (tests/test_fuzz_replay.c).  TARGETS="a b" runs only those.
set -u
SECONDS_EACH=${1:-600}
TARGETS=${TARGETS:-"safetensors tokenizer captions config labels vecfile vec8 checkpoint decode options pickle ftfy
         image_webp image_tiff image_heif image_gif image_bmp wordpiece ann"}
make -s fuzz >/dev/null || exit 2
# leaks inside libraries, each with its evidence (tests/fuzz/lsan.supp)
LSAN_OPTIONS="suppressions=$(pwd)/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
OUT=build-fuzz/campaign
mkdir -p "$OUT"
status=0
printf '%-12s %8s %12s %10s %6s %7s %s\n' target seconds execs execs/s cov corpus result
for t in $TARGETS; do
    mkdir -p "$OUT/$t"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    # -close_fd_mask=3: the targets' own messages (option errors, help) stay quiet
    # shellcheck disable=SC2086
    build-fuzz/fuzz_$t "$OUT/$t" "tests/fuzz/corpus_$t" $dict -max_total_time="$SECONDS_EACH" \
        -print_final_stats=1 -close_fd_mask=3 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$OUT/crash-$t-" >"$OUT/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$t.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$OUT/$t.log" | tail -1 | cut -d' ' -f2)
    corpus=$(ls "$OUT/$t" | wc -l)
    result=ok
    if [ $rc -ne 0 ]; then
        result="CRASH (see $OUT/$t.log)"
        status=1
    fi
    printf '%-12s %8s %12s %10s %6s %7s %s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$corpus" "$result"
done
exit $status
