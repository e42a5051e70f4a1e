#!/bin/sh
# Differential test (not part of `make test`): N generated strings (default
# 1,000,000) through clipc's tokenizer and the Python reference BPE of
# ../shared/bench/torch_train.py; every output line must be identical.
# Needs /usr/bin/python3 with python3-regex and torch (Debian), ../shared,
# and a built build/clipc (python3-regex: CLIPC_EXTRA_PKGS=python3-regex make deps).
# Usage: tests/difftest_tokenizer.sh [N] [SEED]
set -e
N=${1:-1000000}
SEED=${2:-1}
CLIPC=${CLIPC:-build/clipc}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
/usr/bin/python3 tests/difftest_tokenizer.py gen "$N" "$SEED" "$D"
"$CLIPC" tokenize --context-length 77 --truncate < "$D/in.jsonl" > "$D/got.jsonl"
"$CLIPC" tokenize --decode < "$D/dec_in.jsonl" > "$D/dec_got.jsonl"
lines=$(wc -l < "$D/expect.jsonl")
diffs=$(diff "$D/expect.jsonl" "$D/got.jsonl" | grep -c '^>' || true)
echo "encode: $lines lines, $diffs differences"
if [ "$diffs" != 0 ]; then
    paste -d '\n' "$D/in.jsonl" "$D/expect.jsonl" "$D/got.jsonl" | awk 'NR%3==1{i=$0} NR%3==2{e=$0} NR%3==0 && $0!=e {print "in:   " i; print "want: " e; print "got:  " $0; if (++k == 5) exit}'
fi
/usr/bin/python3 tests/difftest_tokenizer.py cmpdec "$D"
[ "$diffs" = 0 ]
