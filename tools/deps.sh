#!/bin/sh
# deps.sh build|test|fuzz — make sure the Debian packages infer needs are installed.
# Installs them with apt-get when running as root (or through sudo), otherwise
# prints the exact command to run and fails.
set -e
build_pkgs="gcc make pkg-config libopenblas-openmp-dev libcjson-dev libpcre2-dev"
test_pkgs="libcmocka-dev"
fuzz_pkgs="clang libclang-rt-dev libomp-dev"
case "$1" in
    build) want="$build_pkgs" ;;
    test)  want="$build_pkgs $test_pkgs" ;;
    fuzz)  want="$build_pkgs $fuzz_pkgs" ;;
    *) echo "usage: $0 build|test|fuzz" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" = 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps: missing packages; run as root: apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
