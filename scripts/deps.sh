# Sourced by scripts/test and scripts/demo: installs the Debian packages the
# project needs, running `apt-get update` once and only when something is
# missing.
rk_install_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

RK_BUILD_PACKAGES=(build-essential cmake pkg-config libhiredis-dev libcli11-dev libfmt-dev catch2 help2man)
RK_RUNTIME_PACKAGES=(redis-server redis-tools keepalived iproute2 python3)
# Only the tests need these: packaging, man pages and shell lint checks.
RK_TEST_PACKAGES=(dpkg-dev file fakeroot shellcheck man-db groff-base adduser util-linux)
# scripts/checks: formatting, static analysis, sanitizers and fuzzing.
RK_CHECK_PACKAGES=(clang clang-format clang-tidy cppcheck libclang-rt-14-dev)
