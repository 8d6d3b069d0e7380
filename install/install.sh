#!/usr/bin/env bash
# install.sh: installs lmcp on Linux or macOS. Picks the binary for this OS
# and CPU, checks its SHA-256 against SHA256SUMS, installs it, mints a token
# (never replacing one), sets up the service (systemd unit, systemd --user
# unit, or launchd agent) and prints the client configuration. Running it
# again changes nothing that is already right.
set -euo pipefail

# The release downloads; packaging/config.ts names the same repository (a test keeps them equal).
RELEASES="https://github.com/lmcp-dev/lmcp/releases"

usage() {
  cat <<EOF
Usage: install.sh [options]

Installs the lmcp binary, mints a token, starts lmcp serve as a service, and
prints what an MCP client needs to connect.

  --binary SRC     where the binary comes from (default: the latest release):
                     a URL base holding lmcp-OS-ARCH and SHA256SUMS,
                     a directory holding them (e.g. dist/ after npm run build),
                     or the binary itself (SHA256SUMS beside it, or --sha256)
  --version X.Y.Z  install that release instead of the latest
  --sha256 HEX     the expected SHA-256 of the binary (instead of SHA256SUMS)
  --prefix DIR     install DIR/bin/lmcp (default /usr/local as root, else ~/.local)
  --user           as root, install for root alone: ~/.local, ~/.config/lmcp,
                   a systemd --user unit (default as root: the system service)
  --hub            set up lmcp hub (and its hub-token) instead of lmcp serve
  --no-service     install the binary and token only; start nothing
  --print-service  print the unit or launchd plist that would be installed, and exit
  --uninstall      stop and remove the service and the binary; keep the token
  --purge          with --uninstall: remove the token too
  -h, --help       this help

As root on Linux the server runs as the system user lmcp (created if missing)
from /etc/systemd/system/lmcp.service, with its token in /etc/lmcp/token.
Otherwise it runs as you: a systemd --user unit on Linux, a LaunchAgent
(~/Library/LaunchAgents/dev.lmcp.serve.plist) on macOS, token in
~/.config/lmcp/token. With --no-service the token goes where \`lmcp serve\`
run by you looks for it (~/.config/lmcp/token, or under \$XDG_CONFIG_HOME).
The token is printed only in the client configuration.
LMCP_INSTALL_OS and LMCP_INSTALL_ARCH override the detected OS (linux,
darwin) and CPU (x64, arm64).
EOF
}

say() { printf '%s\n' "$*" >&2; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

source_arg=""
release_version=""
expected_sha=""
prefix=""
role="serve"
service=1
user_mode=0
print_service=0
uninstall=0
purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) source_arg="${2:?--binary needs a URL, directory or file}"; shift 2 ;;
    --version) release_version="${2:?--version needs X.Y.Z}"; shift 2 ;;
    --sha256) expected_sha="${2:?--sha256 needs a hex digest}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --user) user_mode=1; shift ;;
    --hub) role="hub"; shift ;;
    --no-service) service=0; shift ;;
    --print-service) print_service=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; printf '\ninstall.sh: unknown option "%s"\n' "$1" >&2; exit 2 ;;
  esac
done
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || die "--purge goes with --uninstall"

# --- where things go -------------------------------------------------------

os="${LMCP_INSTALL_OS:-}"
if [ -z "$os" ]; then
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) die "unsupported OS $(uname -s): lmcp is built for Linux and macOS" ;;
  esac
fi
arch="${LMCP_INSTALL_ARCH:-}"
if [ -z "$arch" ]; then
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "unsupported CPU $(uname -m): lmcp is built for x86_64 and arm64" ;;
  esac
  # A shell under Rosetta reports x86_64 on Apple Silicon; the native binary is better.
  if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then arch=arm64; fi
fi
asset="lmcp-$os-$arch"

# system: root on Linux, the packaged unit as user lmcp; user: a systemd --user
# unit; agent: a macOS LaunchAgent. Without a service, the token goes where
# `lmcp serve` run by this user looks for it.
if [ "$(id -u)" = 0 ] && [ "$user_mode" = 0 ]; then system=1; else system=0; fi
if [ "$os" = darwin ]; then
  mode=agent
  [ "$system" = 0 ] || [ "$service" = 0 ] || [ "$print_service" = 1 ] ||
    die "a LaunchAgent belongs to a user: run install.sh as that user (not root), or pass --no-service"
elif [ "$system" = 1 ]; then
  mode=system
else
  mode=user
fi
if [ -z "$prefix" ]; then
  if [ "$system" = 1 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
bin="$prefix/bin/lmcp"

case "${XDG_CONFIG_HOME:-}" in /*) config_home="$XDG_CONFIG_HOME" ;; *) config_home="$HOME/.config" ;; esac
user_config="$config_home/lmcp"
token_name=token
[ "$role" = serve ] || token_name=hub-token
if [ "$mode" = system ] && [ "$service" = 1 ]; then token_dir=/etc/lmcp; else token_dir="$user_config"; fi
token_file="$token_dir/$token_name"

# Sets unit_name, label and service_file for a role (serve or hub) in this mode.
service_paths() {
  unit_name="lmcp.service"
  [ "$1" = serve ] || unit_name="lmcp-hub.service"
  label="dev.lmcp.$1"
  case "$mode" in
    system) service_file="/etc/systemd/system/$unit_name" ;;
    user) service_file="$config_home/systemd/user/$unit_name" ;;
    agent) service_file="$HOME/Library/LaunchAgents/$label.plist" ;;
  esac
}
service_paths "$role"
marker="# Installed by lmcp's install.sh; install.sh --uninstall removes it."

# --- service files ---------------------------------------------------------

# The unit: packaging/systemd/lmcp.service (or lmcp-hub.service) with this
# ExecStart; see the comments there for each line. A test checks the two agree.
system_unit() {
  local what env_file kill_lines
  if [ "$role" = serve ]; then
    what="MCP server (shell and file access for AI agents)"; env_file=lmcp.env; kill_lines="KillMode=process"
  else
    what="hub (one MCP endpoint for a fleet of hosts)"; env_file=hub.env; kill_lines=$'KillMode=mixed\nLimitNOFILE=65536'
  fi
  cat <<EOF
$marker
# What each line is for: packaging/systemd/$unit_name in the lmcp source.
[Unit]
Description=lmcp $what
Documentation=man:lmcp(1) https://github.com/lmcp-dev/lmcp#readme
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User=lmcp
Group=lmcp
Environment=LMCP_SYSTEM=1
Environment=LMCP_STATE_DIR=/var/lib/lmcp
StateDirectory=lmcp
StateDirectoryMode=0750
WorkingDirectory=~
EnvironmentFile=-/etc/lmcp/$env_file
ExecStart=$bin $role
ExecReload=/bin/kill -HUP \$MAINPID
TimeoutStopSec=30s
$kill_lines
Restart=on-failure
RestartSec=2s
RestartPreventExitStatus=2

[Install]
WantedBy=multi-user.target
EOF
}

# A systemd --user unit: the same service, run as this user with its own token and state.
user_unit() {
  local args="$role"
  [ "$role" = serve ] || args="hub --backends $user_config/backends.toml"
  cat <<EOF
$marker
[Unit]
Description=lmcp $role (for $(id -un))
Documentation=man:lmcp(1) https://github.com/lmcp-dev/lmcp#readme

[Service]
Type=exec
ExecStart=$bin $args
ExecReload=/bin/kill -HUP \$MAINPID
TimeoutStopSec=30s
# shell_bg jobs survive a restart (see packaging/systemd/lmcp.service).
KillMode=process
Restart=on-failure
RestartSec=2s
RestartPreventExitStatus=2

[Install]
WantedBy=default.target
EOF
}

# packaging/launchd/dev.lmcp.$role.plist with its placeholders filled in (a test checks they agree).
launchd_plist() {
  local extra=""
  [ "$role" = serve ] || extra="
    <string>--backends</string>
    <string>$user_config/backends.toml</string>"
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Installed by lmcp's install.sh; install.sh with the uninstall option removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>$label</string>
  <key>ProgramArguments</key>
  <array>
    <string>$bin</string>
    <string>$role</string>$extra
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>PATH</key>
    <string>/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Interactive</string>
  <key>ExitTimeOut</key>
  <integer>30</integer>
  <key>StandardOutPath</key>
  <string>$HOME/Library/Logs/lmcp/$role.log</string>
  <key>StandardErrorPath</key>
  <string>$HOME/Library/Logs/lmcp/$role.log</string>
</dict>
</plist>
EOF
}

service_text() {
  case "$mode" in
    system) system_unit ;;
    user) user_unit ;;
    agent) launchd_plist ;;
  esac
}

if [ "$print_service" = 1 ]; then
  service_text
  exit 0
fi

# --- helpers ---------------------------------------------------------------

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  fi
}

download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "need curl or wget to download $1"
  fi
}

run_systemctl() {
  if [ "$mode" = user ]; then systemctl --user "$@"; else systemctl "$@"; fi
}

# Replaces $2 with the content of $1 when they differ; true when it did.
replace_if_changed() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 1; fi
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.lmcp-new.$$"
  chmod "${3:-0644}" "$2.lmcp-new.$$"
  mv -f "$2.lmcp-new.$$" "$2"
}

stop_service() {
  [ -f "$service_file" ] && grep -q "install.sh" "$service_file" || return 0
  case "$mode" in
    system | user)
      run_systemctl disable --now "$unit_name" >/dev/null 2>&1 || true ;;
    agent)
      launchctl bootout "gui/$(id -u)/$label" >/dev/null 2>&1 || true ;;
  esac
  rm -f "$service_file"
  [ "$mode" = agent ] || run_systemctl daemon-reload >/dev/null 2>&1 || true
  say "removed $service_file"
}

# --- uninstall -------------------------------------------------------------

if [ "$uninstall" = 1 ]; then
  if [ "$service" = 1 ]; then
    for role in serve hub; do
      service_paths "$role"
      stop_service
    done
  fi
  if [ -e "$bin" ]; then rm -f "$bin" && say "removed $bin"; else say "no $bin to remove"; fi
  if [ "$purge" = 1 ]; then
    for name in token hub-token; do
      if [ -e "$token_dir/$name" ]; then rm -f "$token_dir/$name" && say "removed $token_dir/$name"; fi
    done
  else
    say "kept the token in $token_dir (pass --purge with --uninstall to remove it)"
  fi
  exit 0
fi

# --- fetch and verify ------------------------------------------------------

work="$(mktemp -d "${TMPDIR:-/tmp}/lmcp-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ -z "$source_arg" ]; then
  if [ -n "$release_version" ]; then source_arg="$RELEASES/download/v${release_version#v}"; else source_arg="$RELEASES/latest/download"; fi
fi
case "$source_arg" in
  http://* | https://*)
    say "downloading $source_arg/$asset"
    download "$source_arg/$asset" "$work/$asset" || die "cannot download $source_arg/$asset"
    [ -n "$expected_sha" ] || download "$source_arg/SHA256SUMS" "$work/SHA256SUMS" || die "cannot download $source_arg/SHA256SUMS"
    ;;
  *)
    if [ -d "$source_arg" ]; then
      [ -f "$source_arg/$asset" ] || die "$source_arg has no $asset (build it with: npm run build -- --target $os-$arch)"
      cp "$source_arg/$asset" "$work/$asset"
      sums="$source_arg/SHA256SUMS"
    elif [ -f "$source_arg" ]; then
      asset="$(basename "$source_arg")"
      cp "$source_arg" "$work/$asset"
      sums="$(dirname "$source_arg")/SHA256SUMS"
    else
      die "--binary $source_arg: no such file, directory or URL"
    fi
    if [ -z "$expected_sha" ]; then
      [ -f "$sums" ] || die "no SHA256SUMS beside $source_arg: pass --sha256 HEX to say what the binary must hash to"
      cp "$sums" "$work/SHA256SUMS"
    fi
    ;;
esac

if [ -z "$expected_sha" ]; then
  expected_sha="$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1; exit }' "$work/SHA256SUMS")"
  [ -n "$expected_sha" ] || die "SHA256SUMS lists no $asset"
fi
actual_sha="$(sha256_of "$work/$asset")"
if [ "$actual_sha" != "$(printf '%s' "$expected_sha" | tr 'A-F' 'a-f')" ]; then
  die "SHA-256 mismatch for $asset: expected $expected_sha, got $actual_sha; refusing to install it"
fi
say "verified $asset (sha256 $actual_sha)"
chmod 0755 "$work/$asset"
"$work/$asset" --version >/dev/null 2>&1 || die "$asset does not run on this machine ($(uname -sm))"

# --- install ---------------------------------------------------------------

binary_changed=0
if replace_if_changed "$work/$asset" "$bin" 0755; then
  binary_changed=1
  say "installed $bin ($("$bin" --version))"
else
  say "$bin is already this build ($("$bin" --version))"
fi

if [ "$mode" = system ] && [ "$service" = 1 ] && ! id lmcp >/dev/null 2>&1; then
  nologin="$(command -v nologin || echo /usr/sbin/nologin)"
  useradd --system --user-group --home-dir /var/lib/lmcp --create-home --shell "$nologin" lmcp
  chmod 0750 /var/lib/lmcp
  say "created the system user lmcp (home /var/lib/lmcp)"
fi

if [ -e "$token_file" ]; then
  say "kept the existing token in $token_file"
else
  # The service user must reach its token through /etc/lmcp; lmcp makes a missing user directory 0700.
  if [ "$token_dir" = /etc/lmcp ] && [ ! -d /etc/lmcp ]; then mkdir -p /etc/lmcp && chmod 0755 /etc/lmcp; fi
  "$bin" token --out "$token_file" # says where it wrote; never prints the token
  [ "$mode" != system ] || [ "$service" = 0 ] || chown lmcp:lmcp "$token_file"
fi

if [ "$role" = hub ]; then
  backends="$user_config/backends.toml"
  [ "$mode" != system ] || [ "$service" = 0 ] || backends=/etc/lmcp/backends.toml
  if [ ! -e "$backends" ]; then
    mkdir -p "$(dirname "$backends")"
    printf '%s\n' "# The hosts lmcp hub reaches: one [[backend]] table each (see docs/hub.md)." \
      "# [[backend]]" "# name = \"riemann\"" "# url = \"http://riemann.lan:8765/mcp\"" "# token_file = \"/etc/lmcp/tokens/riemann\"" >"$backends"
    say "wrote an empty registry $backends"
  fi
fi

# --- service ---------------------------------------------------------------

if [ "$service" = 1 ]; then
  service_text >"$work/service"
  unit_changed=0
  if replace_if_changed "$work/service" "$service_file"; then unit_changed=1; say "wrote $service_file"; fi
  case "$mode" in
    system | user)
      command -v systemctl >/dev/null 2>&1 || die "no systemctl: pass --no-service and start \`$bin $role\` under your init system"
      [ "$unit_changed" = 0 ] || run_systemctl daemon-reload
      run_systemctl enable "$unit_name" >/dev/null 2>&1
      if [ "$unit_changed" = 1 ] || [ "$binary_changed" = 1 ]; then run_systemctl restart "$unit_name"; else run_systemctl start "$unit_name"; fi
      say "started $unit_name ($([ "$mode" = user ] && echo "systemctl --user status $unit_name" || echo "systemctl status $unit_name"))"
      if [ "$mode" = user ]; then
        say "to keep it running after you log out: loginctl enable-linger $(id -un)"
      fi
      ;;
    agent)
      mkdir -p "$HOME/Library/Logs/lmcp"
      domain="gui/$(id -u)"
      if launchctl print "$domain/$label" >/dev/null 2>&1; then
        if [ "$unit_changed" = 1 ]; then
          launchctl bootout "$domain/$label" 2>/dev/null || true
          launchctl bootstrap "$domain" "$service_file"
        elif [ "$binary_changed" = 1 ]; then
          launchctl kickstart -k "$domain/$label"
        fi
      else
        launchctl bootstrap "$domain" "$service_file"
      fi
      say "loaded $label (logs in ~/Library/Logs/lmcp/$role.log)"
      ;;
  esac
fi

# --- what the client needs -------------------------------------------------

case ":$PATH:" in *":$prefix/bin:"*) ;; *) say "note: $prefix/bin is not in PATH" ;; esac
say ""
say "Client configuration (it holds the token):"
if [ "$role" = serve ]; then
  "$bin" client-config --token-file "$token_file"
else
  "$bin" client-config --hub --token-file "$token_file"
fi
