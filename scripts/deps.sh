# Sourced by scripts/test and scripts/demo: installs the Debian packages the
# project needs, running `apt-get update` once and only when something is
# missing.
rk_install_packages() {
  local missing=() from_main=() valkey=() package
  for package in "$@"; do
    package=$(rk_package_name "$package")
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  for package in "${missing[@]}"; do
    case "$package" in
      valkey-*) valkey+=("$package") ;;
      *) from_main+=("$package") ;;
    esac
  done
  echo "installing: ${missing[*]}"
  [ ${#valkey[@]} -eq 0 ] || rk_enable_valkey_source
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  [ ${#from_main[@]} -eq 0 ] || rk_apt_install "${from_main[@]}"
  [ ${#valkey[@]} -eq 0 ] || rk_apt_install "${valkey[@]}"
}

# The package that holds PACKAGE on this system. promtool has a package of
# its own from trixie on; bookworm ships it only inside prometheus.
rk_package_name() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  case "$1:$codename" in
    promtool:bookworm) echo prometheus ;;
    *) echo "$1" ;;
  esac
}

# Services whose packages the tests install for a tool they carry, and that
# must not start: bookworm's prometheus brings promtool, and the tests never
# run a Prometheus server.
RK_NO_START=(prometheus)

# apt-get install PACKAGES, with the services of RK_NO_START kept from
# starting: a policy-rc.d (which invoke-rc.d and deb-systemd-invoke obey) for
# this one run, unless the system has a policy of its own (a container's
# usually forbids every start).
rk_apt_install() {
  local policy=/usr/sbin/policy-rc.d rc=0
  if [ -e "$policy" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
    return
  fi
  printf '#!/bin/sh\n# scripts/deps.sh, for one apt-get run: 101 forbids the start.\n' >"$policy"
  # shellcheck disable=SC2016  # $1 is the policy script's argument
  printf 'case "$1" in %s) exit 101 ;; esac\nexit 0\n' "$(IFS='|' && echo "${RK_NO_START[*]}")" \
    >>"$policy"
  chmod 755 "$policy"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" || rc=$?
  rm -f "$policy"
  return $rc
}

# Debian bookworm has no Valkey; bookworm-backports has 8.0 (trixie and later
# have it in main). Adds that source, pinned so that only valkey-* packages
# come from it: every other package keeps priority 100 there (Debian's
# default for backports), below the 500 of bookworm itself.
rk_enable_valkey_source() {
  local codename list=/etc/apt/sources.list.d/rk-bookworm-backports.list
  local pin=/etc/apt/preferences.d/rk-valkey-from-backports
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ "$codename" = bookworm ] || return 0
  if ! grep -Eqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources; then
    echo "adding $list (bookworm-backports, for Valkey)"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
      "http://deb.debian.org/debian bookworm-backports main" >"$list"
  fi
  [ -e "$pin" ] || cat >"$pin" <<'PIN'
# Added by redis-keepalived's scripts/deps.sh: from bookworm-backports, only
# Valkey is installed and upgraded; nothing else.
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100

Package: valkey-*
Pin: release n=bookworm-backports
Pin-Priority: 500
PIN
}

RK_BUILD_PACKAGES=(build-essential cmake pkg-config libhiredis-dev libssl-dev libcli11-dev libfmt-dev catch2)
RK_RUNTIME_PACKAGES=(redis-server redis-tools keepalived iproute2 python3)
# Only the tests need these: packaging and lintian, which checks the .deb,
# man pages, shell lint checks, and the Prometheus parser the metrics test
# reads redis_status --prometheus with, openssl, which makes the TLS tests'
# certificates, logrotate, which reads and runs the shipped
# /etc/logrotate.d file, and promtool with python3-yaml, which check and
# unit-test the shipped alert rules and dashboard (tests/alerts), and
# python3-redis (redis-py), whose writer the lab's clients scenario runs and
# e2e_redispy_writer tests.
RK_TEST_PACKAGES=(dpkg-dev file fakeroot lintian shellcheck man-db groff-base adduser util-linux
  openssl python3-prometheus-client logrotate promtool python3-yaml python3-redis)
# The second server the tests run against (RK_SERVER=valkey-server), from
# bookworm-backports on bookworm.
RK_VALKEY_PACKAGES=(valkey-server)
# scripts/checks: formatting, static analysis, sanitizers and fuzzing.
RK_CHECK_PACKAGES=(clang clang-format clang-tidy cppcheck libclang-rt-14-dev)
