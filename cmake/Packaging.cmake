# A Debian package with CPack: from the build dir, `cpack -G DEB` gives
# redis-keepalived_<version>-<release>_<arch>.deb holding everything
# `cmake --install` puts under /usr and /etc (cmake/Install.cmake,
# cmake/Manpages.cmake, tools/CMakeLists.txt).
#
# Depends comes from the binaries' shared libraries (dpkg-shlibdeps, from
# dpkg-dev, and file), plus adduser for the postinst. CPack hands it every
# ELF file staged, rk-openssl.so in its private dir included: that is where
# libssl3 (libssl3t64 on Debian 13) comes from. No tool links the shim (it
# is dlopen()ed), so dpkg-shlibdeps needs no shlibs file and no private-dir
# hint to resolve anything. The postinst creates
# the keepalived_script system user if missing, its state dir and log file;
# `make install` creates no users.
include_guard(GLOBAL)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "${PROJECT_NAME}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "The redis-keepalived authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keepalived hooks that fail a Redis pair over without losing writes")
# One string: a list would eat the semicolons. CPackDeb indents the lines.
set(CPACK_PACKAGE_DESCRIPTION [=[
Small native keepalived hooks for a Redis master/replica pair behind a
virtual IP: a vrrp_script health check (redis_check) and notify hooks
(redis_master, redis_backup, redis_fault, redis_stop), plus redis_status.
redis_master promotes a node only once it holds every write its peer holds,
judged from replication ids and offsets read while the peer's writes are
paused; redis_backup never replaces a dataset with an empty peer's.
Overlapping hooks are ordered through a state dir. Also an LSB init script
for redis-server and a systemd drop-in that starts keepalived after Redis.]=])
set(CPACK_PACKAGE_HOMEPAGE_URL "${PROJECT_HOMEPAGE_URL}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
# Debug info stays in the build tree; the package gets stripped binaries.
set(CPACK_STRIP_FILES ON)

set(RK_DEB_MAINTAINER "The redis-keepalived authors <maintainers@redis-keepalived.invalid>"
  CACHE STRING "Maintainer field of the .deb (Name <email>)")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${RK_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_RELEASE "1")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# The hooks are useless without both, but either may run on another host
# in a lab; Recommends is installed by default all the same.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "keepalived, redis-server")

# Files under /etc are the admin's once installed: dpkg keeps local changes
# on upgrade.
set(RK_DEB_CONFFILES "${PROJECT_BINARY_DIR}/deb/conffiles")
file(WRITE "${RK_DEB_CONFFILES}"
  "/etc/init.d/redis-server-rk\n/etc/default/redis-server-rk\n/etc/logrotate.d/redis-keepalived\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${RK_DEB_CONFFILES}"
  "${PROJECT_SOURCE_DIR}/cmake/deb/postinst"
  "${PROJECT_SOURCE_DIR}/cmake/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Gzipped man pages, copyright, changelog, lintian overrides (CMake 3.19+).
set(CPACK_PRE_BUILD_SCRIPTS "${PROJECT_SOURCE_DIR}/cmake/deb/prebuild.cmake")

set(CPACK_SOURCE_GENERATOR "TGZ")
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/\\\\.cache/" "__pycache__")

include(CPack)
