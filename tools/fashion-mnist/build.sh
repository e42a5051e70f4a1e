#!/bin/sh
# build.sh — Fashion-MNIST as a Karpathy split JSON + PNGs for the quality
# benchmark, built at benchmark time into a build directory (never committed).
#
#   sh tools/fashion-mnist/build.sh [OUT_DIR] [convert options: -v N_VAL (5000) -t TEMPLATES_PER_IMAGE (3, max 8)]
#
# Default OUT_DIR: build/fashion-mnist.  The source is the Debian package
# dataset-fashion-mnist (MIT, Zalando SE), not needed to build or test clipc:
#   CLIPC_EXTRA_PKGS=dataset-fashion-mnist sh tools/install-deps.sh
# Set FASHION_MNIST_DIR to read the IDX files from elsewhere.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/fashion-mnist}
[ $# -gt 0 ] && shift
src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
    echo "fashion-mnist: $src/train-images-idx3-ubyte.gz not found;" \
         "install it with: CLIPC_EXTRA_PKGS=dataset-fashion-mnist sh tools/install-deps.sh" >&2
    exit 1
fi

make -C "$root" -s -j2 build/libclipc.a
pkgs="libcjson libutf8proc spng libjpeg libexif zlib"
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
mkdir -p "$root/build/tools"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -fopenmp \
   -I"$root/include" -I"$root/src" $(pkg-config --cflags $pkgs) \
   -o "$root/build/tools/fashion-mnist-convert" "$root/tools/fashion-mnist/convert.c" \
   "$root/build/libclipc.a" \
   -L$blas -Wl,-rpath,$blas -lopenblas $(pkg-config --libs $pkgs) -lsqlite3 -lm -lpthread

rm -rf "$out/train" "$out/val" "$out/test"
"$root/build/tools/fashion-mnist-convert" "$@" "$src" "$out"
