#!/usr/bin/env bash
# install-deps.sh - install the Debian packages rcleak needs, only the missing
# ones. Idempotent: a second run installs nothing and makes no network call.
#
#   tools/install-deps.sh          build + run (clang, libbpf, bpftool, ...)
#   tools/install-deps.sh --test   also what the test suite uses (redis, ...)
set -euo pipefail

build_pkgs=(make gcc clang llvm pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev libdeflate-dev libncurses-dev)
test_pkgs=(redis-server redis-tools iproute2 procps util-linux python3 libcmocka-dev tmux
	libclang-rt-14-dev
	python3-redis libhiredis-dev nodejs strace
	groff-base)

want=("${build_pkgs[@]}")
case "${1:-}" in
	--test) want+=("${test_pkgs[@]}") ;;
	"") ;;
	-h|--help) sed -n '2,7p' "$0"; exit 0 ;;
	*) echo "install-deps.sh: unknown option '$1' (use --test or nothing)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
# npm: Debian's package, unless the installed nodejs bundles its own
if [ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1; then
	missing+=(npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
	exit 1
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged redis-server on 6379 when it can; tests pick
# their own ports and never rely on it.
