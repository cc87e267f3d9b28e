#!/bin/sh
# get-model.sh MIRROR_DIR URL DEST — put a model file at DEST: copied from a
# local mirror directory when it has the file, otherwise downloaded.
set -e
mirror=$1 url=$2 dest=$3
name=$(basename "$dest")
mkdir -p "$(dirname "$dest")"
if [ -f "$mirror/$name" ]; then
    cp "$mirror/$name" "$dest.tmp"
else
    command -v curl >/dev/null 2>&1 || { echo "get-model: curl not found; apt-get install -y curl" >&2; exit 1; }
    echo "get-model: downloading $url" >&2
    curl -fL --retry 3 -o "$dest.tmp" "$url"
fi
mv "$dest.tmp" "$dest"
