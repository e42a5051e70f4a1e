#!/bin/sh
# Runs clipc's test suite on a fresh Debian 12 machine: installs the missing
# packages (apt-get, as root), builds, runs the default tests.  The last line
# is "N passed, N failed, N skipped".  Extra arguments go to the test binary
# (e.g. ./test.sh --slow, ./test.sh tokenizer).
set -e
cd "$(dirname "$0")"
sh tools/install-deps.sh
make -j"$(nproc 2>/dev/null || echo 2)" all
exec build/clipc_tests "$@"
