#!/usr/bin/env bash
# Refreshes the dashboard's embedded hls.js (assets/dashboard/hls.light.min.js) from the
# npm registry: `scripts/update-hls-js.sh 1.7.4`. The package tarball's SHA-512 must
# equal the registry's `dist.integrity`; the file's SHA-256 is recorded in
# assets/dashboard/hls.js.version, which a unit test checks against the embedded file.
set -euo pipefail
version=${1:?usage: $0 VERSION (e.g. 1.7.4)}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

expected=$(npm view "hls.js@$version" dist.integrity)
tarball=$(cd "$work" && npm pack "hls.js@$version" --silent)
actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
if [ "$actual" != "$expected" ]; then
    echo "integrity mismatch for hls.js@$version: registry $expected, tarball $actual" >&2
    exit 1
fi
tar -xzf "$work/$tarball" -C "$work" package/dist/hls.light.min.js package/LICENSE
cp "$work/package/dist/hls.light.min.js" assets/dashboard/hls.light.min.js
cp "$work/package/LICENSE" assets/dashboard/hls.js.LICENSE
sha=$(sha256sum assets/dashboard/hls.light.min.js | cut -d' ' -f1)
cat > assets/dashboard/hls.js.version <<INFO
version=$version
integrity=$expected
sha256=$sha
INFO
echo "hls.js $version: assets/dashboard/hls.light.min.js ($sha)"
