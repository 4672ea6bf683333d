#!/usr/bin/env bash
# Screenshots of the offline-built site (tools/build_docs.py) as a reader sees it, with KaTeX served
# locally instead of from its CDN. Needs Debian's chromium and npm (not used by CI).
#   bash tools/screenshot.sh index.html coding_rate.html ...   -> _screens/<page>.png
set -euo pipefail
cd "$(dirname "$0")/.."
site=$(mktemp -d); port=${PORT:-8765}
cp -r _smalldocs/_docs/. "$site/"
ver=$(grep -o 'katex@[0-9.]*' "$site/index.html" | head -1 | cut -d@ -f2)
if [ ! -d "/tmp/katex-$ver/package" ]; then
  mkdir -p "/tmp/katex-$ver" && (cd "/tmp/katex-$ver" && npm pack -q "katex@$ver" >/dev/null && tar xzf "katex-$ver.tgz")
fi
cp -r "/tmp/katex-$ver/package/dist" "$site/katex"
grep -rl "cdn.jsdelivr.net/npm/katex@$ver/dist" "$site" --include='*.html' | xargs sed -i "s#https://cdn.jsdelivr.net/npm/katex@$ver/dist#/katex#g"
(cd "$site" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) & srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$site"' EXIT
sleep 1; mkdir -p _screens
for pg in "${@:-index.html}"; do
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --window-size=1280,${HEIGHT:-2400} --virtual-time-budget=5000 \
    --screenshot="_screens/${pg%.html}.png" "http://127.0.0.1:$port/$pg" 2>/dev/null
  echo "_screens/${pg%.html}.png"
done
