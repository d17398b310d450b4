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

# The overrides, each with its reason, are kept in cmake/deb/lintian-overrides.
configure_file("${CMAKE_CURRENT_LIST_DIR}/lintian-overrides"
  "${root}/usr/share/lintian/overrides/${CPACK_PACKAGE_NAME}" COPYONLY)

# 0644 files and 0755 directories whatever the umask of the checkout or of
# this run: under umask 002 a clone has 0664 files and the staging makes 0775
# directories, which lintian flags (non-standard-file-perm, -dir-perm). The
# install rules give every other file its mode.
file(CHMOD "${doc}/copyright" "${doc}/changelog.Debian.gz"
  "${root}/usr/share/lintian/overrides/${CPACK_PACKAGE_NAME}"
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(GLOB_RECURSE entries LIST_DIRECTORIES true "${root}/*")
set(dirs "${root}")
foreach(entry IN LISTS entries)
  if(IS_DIRECTORY "${entry}" AND NOT IS_SYMLINK "${entry}")
    list(APPEND dirs "${entry}")
  endif()
endforeach()
file(CHMOD ${dirs} PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
  WORLD_READ WORLD_EXECUTE)
