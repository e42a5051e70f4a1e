#!/bin/sh
# Writes ~1 MB of English-like text (Debian's licence texts, then package
# changelogs) for `clipc tokenize --bench FILE`.  Usage: tools/make_tokenizer_bench_text.sh OUT
set -e
out=${1:?usage: $0 OUT}
{ cat /usr/share/common-licenses/*; for f in /usr/share/doc/*/changelog.Debian.gz; do zcat "$f"; done; } 2>/dev/null |
    head -c 1000000 > "$out.tmp"
mv "$out.tmp" "$out"
