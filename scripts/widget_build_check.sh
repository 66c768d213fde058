#!/usr/bin/env bash
# Fails when the committed widget bundle (static/widget/chatplatform.js) is not a fresh build of
# static/widget/src/, or when it is over the size budget. Needs `npm ci` first (esbuild).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=static/widget/chatplatform.js
BUDGET=${WIDGET_GZIP_BUDGET:-21504} # bytes, gzip -9
tmp=$(mktemp "${TMPDIR:-/tmp}/chatplatform.XXXXXX.js")
trap 'rm -f "$tmp"' EXIT
if [ ! -x node_modules/.bin/esbuild ]; then
  echo "widget build check: esbuild is not installed; run npm ci" >&2
  exit 2
fi
node static/widget/build.mjs --out "$tmp"
if ! cmp -s "$tmp" "$BUNDLE"; then
  echo "widget build check: $BUNDLE differs from a fresh build of static/widget/src/." >&2
  echo "  run npm run build:widget and commit the result" >&2
  diff -u "$BUNDLE" "$tmp" | head -40 >&2 || true
  exit 1
fi
size=$(gzip -9 -c "$BUNDLE" | wc -c)
if [ "$size" -gt "$BUDGET" ]; then
  echo "widget build check: $BUNDLE is $size bytes gzipped, over the $BUDGET byte budget" >&2
  exit 1
fi
echo "widget build check: $BUNDLE is up to date ($size bytes gzipped, budget $BUDGET)"
