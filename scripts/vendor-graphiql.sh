#!/usr/bin/env bash
# Copies React, ReactDOM and GraphiQL, at the versions examples/web/package.json pins, from
# examples/web/node_modules into src/http/graphiql/, and rewrites the page's tags for them: the
# URL (which carries the package version, so browsers may cache it for good) and the integrity
# hash. To update GraphiQL: change the versions in package.json, `npm install` there, run this.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
web=$repo/examples/web
out=$repo/src/http/graphiql
page=$out/page.html

# Installed as package.json and package-lock.json pin them, or this stops here.
npm ls --prefix "$web" graphiql react react-dom >/dev/null

vendor() {
  local package=$1 file=$2
  local name version integrity
  name=$(basename "$file")
  version=$(node -p "require('$web/node_modules/$package/package.json').version")
  cp "$web/node_modules/$package/$file" "$out/$name"
  integrity="sha384-$(openssl dgst -sha384 -binary "$out/$name" | openssl base64 -A)"
  local tag="\"/graphiql/$package@[^/\"]*/$name\" integrity=\"[^\"]*\""
  if [ "$(grep -c "$tag" "$page")" != 1 ]; then
    echo "$page has no single tag for $package/$name" >&2
    exit 1
  fi
  sed -i "s#$tag#\"/graphiql/$package@$version/$name\" integrity=\"$integrity\"#" "$page"
  echo "$package@$version $name $(wc -c <"$out/$name") bytes $integrity"
}

vendor react umd/react.production.min.js
vendor react-dom umd/react-dom.production.min.js
vendor graphiql graphiql.min.js
vendor graphiql graphiql.min.css
