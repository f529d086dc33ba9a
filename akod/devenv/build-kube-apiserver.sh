#!/usr/bin/env bash
# Build kube-apiserver v1.20.2 and fetch etcd 3.4.23 from Debian bookworm's packages, for the test
# suite's real Kubernetes API (see shared/reference/k8s-test-env.md §3).
#
# Nothing is installed into the system and the system's apt config is not touched: the source
# package, Go 1.19 and etcd are unpacked into a private work dir. The two binaries are cached
# outside the tree, keyed by version, in $AKOD_K8S_CACHE (default ~/.cache/akod/k8s-1.20.2):
# a second call returns at once. Prints the cache directory on its last line.
set -euo pipefail
VERSION=1.20.2
CACHE=${AKOD_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/akod/k8s-$VERSION}
if [ -x "$CACHE/kube-apiserver" ] && [ -x "$CACHE/etcd" ]; then
  echo "$CACHE"; exit 0
fi
mkdir -p "$CACHE"
W=$(mktemp -d "${TMPDIR:-/tmp}/akod-k8s-build.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
mkdir -p apt/lists/partial apt/cache/archives/partial root
URI=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
if [ -z "$URI" ]; then
  URI=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
fi
echo "deb-src $URI bookworm main" > apt/sources.list
APTO=(-o Dir::Etc::SourceList="$W/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o Dir::State::Lists="$W/apt/lists" -o Dir::Cache="$W/apt/cache")
apt-get "${APTO[@]}" update -qq >&2
apt-get "${APTO[@]}" source --download-only kubernetes/bookworm -qq >&2 2>/dev/null
# apt-get download uses the system's lists; make sure they exist.
if ! apt-cache policy golang-1.19-go 2>/dev/null | grep -q Candidate; then apt-get update -qq >&2; fi
apt-get download -qq golang-1.19-go golang-1.19-src rsync libpopt0 libxxhash0 \
                      golang-github-modern-go-reflect2-dev etcd-server >&2 2>/dev/null
for d in *.deb; do dpkg -x "$d" root; done
tar xzf kubernetes_*.orig.tar.gz
cd kubernetes-$VERSION
# vendored reflect2 v1.0.1 panics under Go >= 1.18; swap in Debian's v1.0.2
rm -rf vendor/github.com/modern-go/reflect2
cp -r "$W/root/usr/share/gocode/src/github.com/modern-go/reflect2" vendor/github.com/modern-go/
rm -f vendor/github.com/modern-go/reflect2/go.mod
export GOROOT="$W/root/usr/lib/go-1.19" GOCACHE="$W/gocache" GOPROXY=off CGO_ENABLED=0 HOME="$W"
export PATH="$GOROOT/bin:$W/root/usr/bin:$PATH" LD_LIBRARY_PATH="$W/root/usr/lib/x86_64-linux-gnu"
make WHAT=cmd/kube-apiserver >&2
cp _output/bin/kube-apiserver "$CACHE/kube-apiserver.tmp"
cp "$W/root/usr/bin/etcd" "$CACHE/etcd.tmp"
mv "$CACHE/kube-apiserver.tmp" "$CACHE/kube-apiserver"
mv "$CACHE/etcd.tmp" "$CACHE/etcd"
"$CACHE/kube-apiserver" --version >&2
echo "$CACHE"
