# Man pages. Section 1 is generated at build time by help2man from each
# built tool's --help and --version, so the page and --help cannot disagree;
# man/<tool>.h2m adds what --help does not say (what the tool decides, exit
# status as keepalived sees it, the keepalived.conf lines, files). Section 5
# (the options file) is written by hand in man/.
#
# Needs RK_TOOLS (tools/CMakeLists.txt) and help2man, a build dependency:
# Debian package help2man.
include_guard(GLOBAL)
include(GNUInstallDirs)

option(RK_MANPAGES "Generate and install the man pages (needs help2man)" ON)
if(NOT RK_MANPAGES)
  return()
endif()

find_program(HELP2MAN_EXECUTABLE help2man)
if(NOT HELP2MAN_EXECUTABLE)
  message(FATAL_ERROR
    "help2man not found. It generates the tools' man pages from their --help and is a build "
    "dependency: install the Debian package help2man (apt-get install help2man), or configure "
    "with -DRK_MANPAGES=OFF to build without man pages.")
endif()
if(NOT RK_TOOLS)
  message(FATAL_ERROR "Manpages.cmake: RK_TOOLS is empty; include it after add_subdirectory(tools)")
endif()

set(RK_MAN_DIR "${PROJECT_BINARY_DIR}/man")
file(MAKE_DIRECTORY "${RK_MAN_DIR}")
set(RK_MAN_PAGES)
foreach(tool IN LISTS RK_TOOLS)
  set(page "${RK_MAN_DIR}/${tool}.1")
  set(extra "${PROJECT_SOURCE_DIR}/man/${tool}.h2m")
  set(include_args)
  if(EXISTS "${extra}")
    set(include_args --include "${extra}")
  else()
    message(AUTHOR_WARNING "man/${tool}.h2m is missing: ${tool}.1 gets only what --help says")
    set(extra)
  endif()
  add_custom_command(
    OUTPUT "${page}"
    COMMAND "${HELP2MAN_EXECUTABLE}" --no-info --section 1
            --source "${PROJECT_NAME} ${PROJECT_VERSION}"
            --manual "redis-keepalived manual"
            ${include_args}
            --output "${page}.tmp"
            "$<TARGET_FILE:${tool}>"
    # Rename only on success: a failed run must not leave a page that
    # looks up to date.
    COMMAND "${CMAKE_COMMAND}" -E rename "${page}.tmp" "${page}"
    DEPENDS ${tool} ${extra}
    COMMENT "Generating man page ${tool}.1 from ${tool} --help"
    VERBATIM)
  list(APPEND RK_MAN_PAGES "${page}")
endforeach()
add_custom_target(manpages ALL DEPENDS ${RK_MAN_PAGES})

if(NOT CMAKE_SKIP_INSTALL_RULES)
  install(FILES ${RK_MAN_PAGES} DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
  install(FILES "${PROJECT_SOURCE_DIR}/man/redis-keepalived.conf.5"
    DESTINATION "${CMAKE_INSTALL_MANDIR}/man5")
endif()
