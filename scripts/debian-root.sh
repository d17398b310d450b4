# shellcheck shell=bash
# Sourced by scripts/trixie: a cached Debian root made with mmdebstrap, and
# commands run inside it with the source tree at /src.
#
# Nothing done here outlives the command. rk_in_root runs it in a new mount
# namespace and a new PID namespace: every mount (the root onto itself,
# /proc, /sys, /dev, /run, /tmp, /src), every network namespace created
# inside (their /run/netns entries are mounts in that namespace) and every
# process started inside (the kernel kills them all when the namespace's
# first process exits) goes away when the command ends, fails or is
# interrupted. The host never sees the mounts.

RK_ROOT_CACHE=${RK_ROOT_CACHE:-/var/cache/redis-keepalived-tests}
RK_DEBIAN_MIRROR=${RK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
_rk_root_lib=$(realpath "${BASH_SOURCE[0]}")

# Prints the cached root's directory for SUITE and PACKAGE...:
# $RK_ROOT_CACHE/SUITE-<hash of the suite, mirror and sorted package list>.
# A changed package list names another root.
rk_root_dir() {
  local suite=$1 hash
  shift
  hash=$(printf '%s\n' "$suite" "$RK_DEBIAN_MIRROR" "$(printf '%s\n' "$@" | sort -u)" |
    sha256sum | cut -c1-12)
  echo "$RK_ROOT_CACHE/$suite-$hash"
}

# Makes DIR, a SUITE root with PACKAGE... (mmdebstrap, the apt variant),
# unless it exists. It is made under DIR.new and renamed when complete, so an
# interrupted run leaves no root that looks usable. Roots of the same suite
# with another package list are removed.
rk_make_root() {
  local suite=$1 dir=$2 old include
  shift 2
  [ -d "$dir" ] && return 0
  for old in "$RK_ROOT_CACHE/$suite"-*; do
    # Only what rk_root_dir names; --one-file-system, should anything be
    # mounted there by someone else.
    [[ "$old" =~ /$suite-[0-9a-f]{12}(\.new)?$ ]] || continue
    echo "removing $old (another package list, or unfinished)"
    rm -rf --one-file-system "$old"
  done
  mkdir -p "$RK_ROOT_CACHE"
  echo "making $dir: mmdebstrap $suite, $# packages"
  include=$(
    IFS=,
    echo "$*"
  )
  # In namespaces of its own, as the commands run in the root: the /proc,
  # /sys and /dev mmdebstrap mounts in DIR.new go away with it, also when it
  # is interrupted.
  unshare --mount --propagation private --pid --fork --kill-child \
    mmdebstrap --quiet --variant=apt --include="$include" "$suite" "$dir.new" "$RK_DEBIAN_MIRROR"
  mv "$dir.new" "$dir"
}

# Runs CMD... as root inside ROOT, with the directory SRC bound at /src, in
# private mount and PID namespaces (see the top of this file), in place of
# the calling shell. The environment is a clean one: PATH, HOME, LANG, TERM
# and CI.
rk_in_root() {
  local root=$1 src=$2
  shift 2
  # exec: what is sent to the caller's pid reaches unshare itself. unshare
  # blocks SIGINT and SIGTERM while it waits (a Ctrl-C reaches the whole
  # foreground process group anyway), and --kill-child turns its death, a
  # SIGKILL for instance, into a SIGKILL of the namespace's first process,
  # and with it of everything inside. A shell left waiting instead would
  # die alone and leave the stage running.
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner bash
  exec unshare --mount --propagation private --pid --fork --kill-child \
    bash -c '. "$1"; shift; rk_enter_root "$@"' rk_enter_root "$_rk_root_lib" "$root" "$src" "$@"
}

# The first process of rk_in_root's namespaces: mounts, then runs CMD... in
# the chroot and waits for it. It stays the waiting parent (rather than
# exec'ing the command) so that a Ctrl-C reaches the command as in any
# foreground job, and the exit that follows ends whatever is left inside.
rk_enter_root() {
  local root=$1 src=$2 status=0
  shift 2
  set -e
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  # / must be a mount point inside the chroot: `ip netns add` makes / a
  # slave mount and `unshare -m --propagation private` makes it private.
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc" # this PID namespace's processes
  mount -t sysfs sysfs "$root/sys"
  mount --rbind /dev "$root/dev" # with /dev/pts and /dev/shm
  # Empty at each run: /run holds the network namespaces' mounts, the lab's
  # roots and lock; /tmp the tests' servers. Nothing is left in the root.
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  # The host's names, as schroot does: mmdebstrap's /etc/hosts names only
  # localhost, and the witness tests need another name for a loopback address.
  mount --bind -o ro /etc/hosts "$root/etc/hosts"
  mkdir -p "$root/src"
  mount --bind "$src" "$root/src"
  set +e
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" "$@" || status=$?
  return $status
}
