#!/usr/bin/env sh
# Build and install cosmoscope with its shell completions and man pages.
#   ./install.sh [--prefix DIR] [--uninstall]
# Default prefix: ~/.local for a user, /usr/local for root. Idempotent: run it again to upgrade.
set -eu
cd "$(dirname "$0")"

if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

bin="$prefix/bin/cosmoscope"
bash_c="$prefix/share/bash-completion/completions/cosmoscope"
zsh_c="$prefix/share/zsh/site-functions/_cosmoscope"
fish_c="$prefix/share/fish/vendor_completions.d/cosmoscope.fish"
man_dir="$prefix/share/man/man1"

if [ "$uninstall" = 1 ]; then
  rm -f "$bin" "$bash_c" "$zsh_c" "$fish_c"
  for page in man/*.1; do rm -f "$man_dir/$(basename "$page")"; done
  echo "Removed cosmoscope from $prefix (your config and audit log are kept)."
  exit 0
fi

need=""
command -v cargo >/dev/null 2>&1 || need="$need cargo"
if [ "$(uname -s)" = Linux ]; then
  command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
  pkg-config --exists libudev 2>/dev/null || need="$need libudev-dev"
  pkg-config --exists dbus-1 2>/dev/null || need="$need libdbus-1-dev"
fi
if [ -n "$need" ]; then
  apt_pkgs=$(echo "$need" | sed 's/ cargo//')
  if [ -n "$apt_pkgs" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> installing build dependencies:$apt_pkgs"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $apt_pkgs
    need=$(echo "$need" | grep -o cargo || true)
  fi
  if [ -n "$need" ]; then
    echo "install.sh: missing:$need" >&2
    echo "  cargo: https://rustup.rs ; Debian/Ubuntu: sudo apt-get install pkg-config libudev-dev libdbus-1-dev" >&2
    exit 1
  fi
fi

echo "==> building the release binary (a few minutes the first time)"
cargo build --release --locked --bin cosmoscope

mkdir -p "$prefix/bin" "$(dirname "$bash_c")" "$(dirname "$zsh_c")" "$(dirname "$fish_c")" "$man_dir"
install -m 0755 target/release/cosmoscope "$bin"
install -m 0644 completions/cosmoscope.bash "$bash_c"
install -m 0644 completions/_cosmoscope "$zsh_c"
install -m 0644 completions/cosmoscope.fish "$fish_c"
for page in man/*.1; do install -m 0644 "$page" "$man_dir/"; done

echo "Installed:"
echo "  $bin"
echo "  completions: $bash_c, $zsh_c, $fish_c"
echo "  man pages:   $man_dir/cosmoscope*.1"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "Add $prefix/bin to your PATH." ;; esac
echo "Next: cosmoscope init"
