# CPack pre-build script for the .deb (CPACK_PRE_BUILD_SCRIPTS): runs on the
# staged tree, after the install and before dpkg-deb, so that `cmake
# --install` stays plain while the package follows Debian's conventions:
# gzipped man pages, a copyright file and a changelog in the doc dir, and
# lintian overrides for the choices made on purpose.
set(root "${CPACK_TEMPORARY_DIRECTORY}")
set(doc "${root}/usr/share/doc/${CPACK_PACKAGE_NAME}")
if(NOT IS_DIRECTORY "${doc}")
  message(FATAL_ERROR "prebuild.cmake: no ${doc} in the staged tree")
endif()

find_program(RK_GZIP gzip REQUIRED)
# -n: no name or time stamp, so the same page gives the same bytes.
file(GLOB_RECURSE pages "${root}/usr/share/man/*")
foreach(page IN LISTS pages)
  if(NOT page MATCHES "\\.gz$")
    execute_process(COMMAND "${RK_GZIP}" -9nf "${page}" COMMAND_ERROR_IS_FATAL ANY)
  endif()
endforeach()

file(COPY_FILE "${CPACK_RESOURCE_FILE_LICENSE}" "${doc}/copyright")

string(TIMESTAMP date "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(version "${CPACK_PACKAGE_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
file(WRITE "${doc}/changelog.Debian"
  "${CPACK_PACKAGE_NAME} (${version}) unstable; urgency=medium\n\n"
  "  * Built with CPack from the upstream source tree.\n\n"
  " -- ${CPACK_DEBIAN_PACKAGE_MAINTAINER}  ${date}\n")
execute_process(COMMAND "${RK_GZIP}" -9nf "${doc}/changelog.Debian" COMMAND_ERROR_IS_FATAL ANY)

set(overrides "${root}/usr/share/lintian/overrides/${CPACK_PACKAGE_NAME}")
file(WRITE "${overrides}"
  "# keepalived execs redis_check every interval: a static binary skips the\n"
  "# dynamic loader at every run.\n"
  "${CPACK_PACKAGE_NAME}: statically-linked-binary [usr/bin/redis_check]\n"
  "# An alternative to the redis-server package's own service, for hosts\n"
  "# without systemd: never enabled by the package, the admin picks one.\n"
  "${CPACK_PACKAGE_NAME}: script-in-etc-init.d-not-registered-via-update-rc.d [etc/init.d/redis-server-rk]\n"
  "${CPACK_PACKAGE_NAME}: missing-systemd-service-for-init.d-script redis-server-rk [etc/init.d/redis-server-rk]\n"
  "# Plain sh, so that it runs the same where lsb-base is missing.\n"
  "${CPACK_PACKAGE_NAME}: init.d-script-does-not-source-init-functions [etc/init.d/redis-server-rk]\n")
