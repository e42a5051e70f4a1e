#!/bin/sh
# Installs the Debian 12 packages clipc needs to build and test, only those missing.
# Runs apt-get as root (or through sudo when available).
set -e
PKGS="build-essential pkg-config libopenblas-openmp-dev libcjson-dev libutf8proc-dev
libspng-dev libjpeg62-turbo-dev libexif-dev zlib1g-dev libsqlite3-dev libssl-dev libdnnl-dev
libwebp-dev libtiff-dev libheif-dev libgif-dev libopenmpi-dev openmpi-bin libfaiss-dev libmicrohttpd-dev
chromium python3 python3-numpy python3-venv python3-pip python3-setuptools python3-wheel libprotobuf-c-dev protobuf-c-compiler"
[ -n "$CLIPC_EXTRA_PKGS" ] && PKGS="$PKGS $CLIPC_EXTRA_PKGS"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
