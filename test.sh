#!/bin/sh
# Runs clipc's test suite on a fresh Debian 12 machine: installs the missing
# packages (apt-get, as root), builds, runs the default tests.  The last line
# is "N passed, N failed, N skipped".  Extra arguments go to the test binary
# (e.g. ./test.sh --slow, ./test.sh tokenizer).
set -e
cd "$(dirname "$0")"
# Node.js and ONNX Runtime (from the npm registry) run the exported ONNX
# models in tests/test_export_onnx.c; only what is missing is installed.
extra=""
command -v node >/dev/null 2>&1 || extra="nodejs"
command -v npm >/dev/null 2>&1 || extra="$extra npm"
CLIPC_EXTRA_PKGS="$extra" sh tools/install-deps.sh
sh tools/ort/install.sh || echo "test.sh: installing ONNX Runtime failed; the ONNX tests will skip"
make -j"$(nproc 2>/dev/null || echo 2)" all
exec build/clipc_tests "$@"
