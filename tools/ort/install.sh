#!/bin/sh
# Installs ONNX Runtime's Node.js binding (CPU; libonnxruntime.so is inside
# the package) into tools/ort/node_modules, for tools/ort/run.js and the test
# export_onnx (tests/test_export_onnx.c), and for the benchmark peer; and
# the Node.js binding of Hugging Face's Rust `tokenizers` (the library
# Immich reads textual/tokenizer.json with), for tools/ort/tokenize.js.
# --ignore-scripts: the package's install script only fetches optional GPU
# files from a host outside the npm registry.  Needs node and npm (Debian:
# nodejs npm).  Does nothing when the version is already there.
set -e
cd "$(dirname "$0")"
VERSION=1.30.0
TOKENIZERS=0.6.0
if [ -f node_modules/onnxruntime-node/package.json ] &&
    grep -q "\"version\": *\"$VERSION\"" node_modules/onnxruntime-node/package.json &&
    [ -f node_modules/@anush008/tokenizers/package.json ] &&
    grep -q "\"version\": *\"$TOKENIZERS\"" node_modules/@anush008/tokenizers/package.json; then
    exit 0
fi
command -v npm >/dev/null || { echo "tools/ort/install.sh: npm not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
npm install --no-save --ignore-scripts --no-package-lock --no-audit --no-fund "onnxruntime-node@$VERSION" \
    "@anush008/tokenizers@$TOKENIZERS" >&2
node -e "require('onnxruntime-node'); require('@anush008/tokenizers')" ||
    { echo "tools/ort/install.sh: onnxruntime-node or @anush008/tokenizers does not load" >&2; exit 1; }
