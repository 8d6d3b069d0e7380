#!/usr/bin/env bash
# packaging/check.sh: checks what `npm run build && npm run package` left in
# dist/ with each distribution's own tools: lintian (the .debs), makepkg (the
# AUR .SRCINFO, and a package() run against the local files), ruby (the
# Homebrew formula: syntax, then its install and test blocks), shellcheck
# (every shell script), systemd-analyze (the units as packaged), and qemu
# (the linux-arm64 binary's --version and a served, authenticated ping).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: packaging/check.sh [--dist DIR]

Checks the packages in DIR (default dist/) with lintian, makepkg, ruby,
shellcheck, systemd-analyze and qemu-aarch64; exits non-zero on the first
failure. Needs Debian's lintian, makepkg, ruby, shellcheck, qemu-user,
libc6-arm64-cross, curl and systemd (for systemd-analyze).
  --dist DIR   where the binaries and packages are (default dist/)
  -h, --help   this help
EOF
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
dist="$repo/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) dist="$(cd "${2:?--dist needs a directory}" && pwd)"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

step() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'check.sh: FAILED: %s\n' "$*" >&2
  exit 1
}

for tool in lintian makepkg ruby shellcheck qemu-aarch64 systemd-analyze dpkg-deb curl runuser; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (see the apt-get line in .ci/run)"
done
[ -d /usr/aarch64-linux-gnu/lib ] || fail "/usr/aarch64-linux-gnu is missing: apt-get install libc6-arm64-cross"

version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -n1)"
work="$(mktemp -d "${TMPDIR:-/tmp}/lmcp-check.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
chmod 0755 "$work"

debs=("$dist"/lmcp_"$version"-*_amd64.deb "$dist"/lmcp_"$version"-*_arm64.deb)
for f in "${debs[@]}" "$dist/aur/PKGBUILD" "$dist/aur/.SRCINFO" "$dist/brew/lmcp.rb" "$dist/lmcp-linux-x64" "$dist/lmcp-linux-arm64"; do
  [ -f "$f" ] || fail "$f is missing: run npm run build && npm run package"
done

step "shellcheck"
shellcheck "$repo/install/install.sh" "$repo/packaging/check.sh"
shellcheck -s sh "$repo"/packaging/debian/{postinst,prerm,postrm}
shellcheck -s bash "$repo/packaging/aur/lmcp-bin.install"
# A PKGBUILD sets variables makepkg reads (SC2034) and uses ones it sets (SC2154).
shellcheck -s bash -e SC2034,SC2154 "$dist/aur/PKGBUILD"
echo "shellcheck: 0 findings in install.sh, check.sh, postinst, prerm, postrm, lmcp-bin.install, PKGBUILD"

step "lintian"
for deb in "${debs[@]}"; do
  out="$work/lintian.out"
  TMPDIR="$work" lintian --pedantic --display-info --fail-on error,warning "$deb" >"$out" 2>&1 || { cat "$out"; fail "lintian $(basename "$deb")"; }
  summary="$(awk '/^E: /{e++} /^W: /{w++} /^I: /{i++} /^P: /{p++} END {printf "%d errors, %d warnings, %d info, %d pedantic", e, w, i, p}' "$out")"
  overridden="$(TMPDIR="$work" lintian --pedantic --display-info --show-overrides "$deb" 2>/dev/null | grep -c '^O: ' || true)"
  echo "lintian $(basename "$deb"): $summary ($overridden overridden, each with its reason in packaging/debian/lintian-overrides)"
done

step "deb contents"
root="$work/deb-root"
dpkg-deb -x "${debs[0]}" "$root"
for path in usr/bin/lmcp lib/systemd/system/lmcp.service lib/systemd/system/lmcp-hub.service lib/systemd/system/lmcp@.service \
  etc/lmcp/lmcp.toml etc/lmcp/hub.toml etc/lmcp/backends.toml usr/share/doc/lmcp/copyright usr/share/doc/lmcp/changelog.Debian.gz \
  usr/share/man/man1/lmcp.1.gz; do
  [ -e "$root/$path" ] || fail "$(basename "${debs[0]}") lacks /$path"
done
"$root/usr/bin/lmcp" --version
echo "deb: every packaged path is there; the packaged binary runs"

step "systemd-analyze verify (units as packaged, ExecStart pointed at the packaged binary)"
units="$work/units"
mkdir -p "$units"
for unit in lmcp.service lmcp-hub.service lmcp@.service; do
  sed "s#/usr/bin/lmcp#$root/usr/bin/lmcp#" "$root/lib/systemd/system/$unit" >"$units/$unit"
done
cp "$units/lmcp@.service" "$units/lmcp@check.service"
MANPATH="$root/usr/share/man" systemd-analyze verify "$units/lmcp.service" "$units/lmcp-hub.service" "$units/lmcp@check.service"
# The installer's units: the system one as root, the --user one for a user manager.
mkdir -p "$work/prefix/bin" "$work/user" "$work/runtime"
ln -s "$root/usr/bin/lmcp" "$work/prefix/bin/lmcp"
chmod 0700 "$work/runtime"
for role_flag in "" --hub; do
  name=lmcp; [ -z "$role_flag" ] || name=lmcp-hub
  mkdir -p "$work/sys-$name"
  # shellcheck disable=SC2086 # role_flag is one word or none
  HOME="$work/home" bash "$repo/install/install.sh" --print-service --prefix "$work/prefix" $role_flag >"$work/sys-$name/$name.service"
  MANPATH="$root/usr/share/man" systemd-analyze verify "$work/sys-$name/$name.service"
  # shellcheck disable=SC2086
  HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" bash "$repo/install/install.sh" --print-service --user --prefix "$work/prefix" $role_flag >"$work/user/$name.service"
  XDG_RUNTIME_DIR="$work/runtime" MANPATH="$root/usr/share/man" systemd-analyze --user verify "$work/user/$name.service"
done
echo "systemd-analyze: lmcp.service, lmcp-hub.service, lmcp@check.service and the installer's system and user units verify clean"

step "makepkg"
aur="$work/aur"
mkdir -p "$aur"
cp "$dist/aur/PKGBUILD" "$dist/aur/lmcp-bin.install" "$aur/"
chown -R nobody "$aur"
# makepkg refuses to run as root.
(cd "$aur" && runuser -u nobody -- makepkg --printsrcinfo) >"$work/SRCINFO.makepkg"
diff -u "$dist/aur/.SRCINFO" "$work/SRCINFO.makepkg" || fail ".SRCINFO differs from makepkg --printsrcinfo"
echo "makepkg --printsrcinfo: identical to dist/aur/.SRCINFO"
# package() against local copies of the sources: makepkg checks every sha256sum. The copies live
# under $work because makepkg runs as nobody, who may not be able to enter the checkout itself
# (a clone under a 0700 home or mktemp directory).
sources="$work/aur-sources"
mkdir -p "$sources/release" "$sources/repo/packaging"
cp -R "$repo/packaging/systemd" "$repo/packaging/aur" "$repo/packaging/etc" "$repo/packaging/examples" "$sources/repo/packaging/"
cp "$repo/LICENSE" "$sources/repo/"
cp "$dist/lmcp-linux-x64" "$dist/lmcp-linux-arm64" "$sources/release/"
chmod -R a+rX "$sources"
build="$work/aur-build"
mkdir -p "$build"
sed -e "s#^_release=.*#_release=\"file://$sources/release\"#" -e "s#^_source=.*#_source=\"file://$sources/repo\"#" "$dist/aur/PKGBUILD" >"$build/PKGBUILD"
cp "$dist/aur/lmcp-bin.install" "$build/"
chown -R nobody "$build"
(cd "$build" && runuser -u nobody -- makepkg --nodeps --noarchive) >"$work/makepkg.log" 2>&1 || { cat "$work/makepkg.log"; fail "makepkg package()"; }
grep -c "Passed" "$work/makepkg.log" | xargs printf 'makepkg: %s sha256sums passed; '
pkgdir="$build/pkg/lmcp-bin"
for path in usr/bin/lmcp usr/lib/systemd/system/lmcp.service usr/lib/systemd/system/lmcp@.service usr/lib/sysusers.d/lmcp.conf \
  usr/lib/tmpfiles.d/lmcp.conf etc/lmcp/lmcp.toml usr/share/licenses/lmcp-bin/LICENSE usr/share/doc/lmcp-bin/examples/sudoers; do
  [ -e "$pkgdir/$path" ] || fail "the AUR package lacks /$path"
done
echo "package() installed every file"

step "ruby (Homebrew formula)"
ruby -wc "$dist/brew/lmcp.rb"
ruby "$repo/packaging/brew_check.rb" "$dist/brew/lmcp.rb" "$dist" 2>"$work/brew.log" || { cat "$work/brew.log"; fail "the formula's install or test block"; }

step "qemu-aarch64 (linux-arm64 binary)"
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu "$dist/lmcp-linux-arm64")
"${qemu[@]}" --version | tee "$work/arm-version"
grep -q "^lmcp $version (.*, linux-arm64)$" "$work/arm-version" || fail "the arm64 binary's --version"
token="check-$RANDOM-$RANDOM-$RANDOM"
LMCP_TOKEN="$token" HOME="$work/home" "${qemu[@]}" serve --listen 127.0.0.1:0 --name qemu-check 2>"$work/serve.log" &
server_pid=$!
url=""
for _ in $(seq 1 240); do
  url="$(sed -n 's#.*listening on \(http://127\.0\.0\.1:[0-9]*/mcp\).*#\1#p' "$work/serve.log" | head -n1)"
  [ -z "$url" ] || break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; fail "lmcp serve under qemu exited"; }
  sleep 0.25
done
[ -n "$url" ] || { cat "$work/serve.log"; fail "lmcp serve under qemu did not start within 60 s"; }
base="${url%/mcp}"
[ "$(curl -sf "$base/healthz")" = ok ] || fail "GET /healthz"
rpc() { curl -s -o "$work/rpc.out" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "$url"; }
[ "$(rpc wrong-token)" = 401 ] || fail "a wrong token was not refused with 401"
if [ "$(rpc "$token")" != 200 ] || ! grep -q '"result":{}' "$work/rpc.out"; then fail "authenticated ping: $(cat "$work/rpc.out")"; fi
native="$dist/lmcp-linux-$(uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')"
# shellcheck disable=SC2016 # the server's shell expands it
answer="$(LMCP_TOKEN="$token" "$native" call shell '{"command":"echo $((6*7)) $(uname -m)"}' --url "$url")"
case "$answer" in *42*) ;; *) fail "shell through the arm64 server answered: $answer" ;; esac
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || fail "lmcp serve under qemu exited $status on SIGTERM"
echo "qemu: --version, /healthz, 401 for a wrong token, authenticated ping, a shell call, SIGTERM exit 0"

step "tarballs"
for target in linux-x64 linux-arm64 darwin-x64 darwin-arm64; do
  tarball="$dist/lmcp-$version-$target.tar.gz"
  [ -f "$tarball" ] || fail "$tarball is missing"
  listing="$(tar tzf "$tarball")"
  for path in lmcp README.md LICENSE lmcp.1; do
    grep -qx "lmcp-$version-$target/$path" <<<"$listing" || fail "$(basename "$tarball") lacks $path"
  done
done
tar xzf "$dist/lmcp-$version-linux-x64.tar.gz" -C "$work"
"$work/lmcp-$version-linux-x64/lmcp" --version >/dev/null
echo "tarballs: four, each with lmcp, lmcp.1, README.md, LICENSE; the linux-x64 one runs"

step "sizes"
(cd "$dist" && stat -c '%s %n' lmcp-linux-* lmcp-darwin-* lmcp_*.deb lmcp-*.tar.gz | awk '{ printf "%8.1f MB  %s\n", $1 / 1e6, $2 }')
echo
echo "packaging/check.sh: all checks passed"
