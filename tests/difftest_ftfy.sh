#!/bin/sh
# Differential test (not part of `make test`): N random strings (default
# 100,000; mojibake in all of ftfy's encodings, stacked and partial, HTML
# entities, controls, line breaks, random mixes of ftfy's mojibake
# characters) through clipc's ftfy and the real ftfy 6.3.1; every output must
# be identical.  Needs /usr/bin/python3, a built build/libclipc.a, and
# FTFY_SRC: a folder holding the ftfy and wcwidth packages (e.g. extracted
# from the rspeer/python-ftfy v6.3.1 and jquast/wcwidth repositories).
# Usage: FTFY_SRC=DIR tests/difftest_ftfy.sh [N] [SEED]
set -e
N=${1:-100000}
SEED=${2:-1}
: "${FTFY_SRC:?set FTFY_SRC to the folder holding the ftfy and wcwidth packages}"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cc -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -o "$D/driver" tests/difftest_ftfy_driver.c build/libclipc.a -lutf8proc -lm
/usr/bin/python3 tests/difftest_ftfy.py "$FTFY_SRC" "$D/driver" "$N" "$SEED"
