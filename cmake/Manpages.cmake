# Man pages. Section 1 is made at build time by rk_manpage (tools/manpage,
# not installed) from man/<tool>.1.in, troff written by hand (what the tool
# decides, its exit status as keepalived sees it, files, examples), with its
# synopsis, description and OPTIONS section filled in from the options the
# tool itself defines (tools/common), so the page and --help cannot
# disagree. Section 5 (the options file) is written by hand in man/.
#
# Needs RK_TOOLS (tools/CMakeLists.txt) and nothing beyond the build's own
# dependencies.
include_guard(GLOBAL)
include(GNUInstallDirs)

option(RK_MANPAGES "Generate and install the man pages" ON)
if(NOT RK_MANPAGES)
  return()
endif()
if(NOT RK_TOOLS)
  message(FATAL_ERROR "Manpages.cmake: RK_TOOLS is empty; include it after add_subdirectory(tools)")
endif()

add_executable(rk_manpage "${PROJECT_SOURCE_DIR}/tools/manpage/main.cpp")
target_link_libraries(rk_manpage PRIVATE rk_cli rk_warnings rk_sanitizers)

set(RK_MAN_DIR "${PROJECT_BINARY_DIR}/man")
file(MAKE_DIRECTORY "${RK_MAN_DIR}")
set(RK_MAN_PAGES)
foreach(tool IN LISTS RK_TOOLS)
  set(page "${RK_MAN_DIR}/${tool}.1")
  set(source "${PROJECT_SOURCE_DIR}/man/${tool}.1.in")
  if(NOT EXISTS "${source}")
    message(FATAL_ERROR "man/${tool}.1.in is missing: every tool has a man page")
  endif()
  add_custom_command(
    OUTPUT "${page}"
    COMMAND rk_manpage ${tool} "${source}" "${PROJECT_NAME} ${PROJECT_VERSION}" "${page}.tmp"
    # Rename only on success: a failed run must not leave a page that
    # looks up to date.
    COMMAND "${CMAKE_COMMAND}" -E rename "${page}.tmp" "${page}"
    DEPENDS rk_manpage "${source}"
    COMMENT "Generating man page ${tool}.1"
    VERBATIM)
  list(APPEND RK_MAN_PAGES "${page}")
endforeach()
add_custom_target(manpages ALL DEPENDS ${RK_MAN_PAGES})

if(NOT CMAKE_SKIP_INSTALL_RULES)
  install(FILES ${RK_MAN_PAGES} DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
  install(FILES "${PROJECT_SOURCE_DIR}/man/redis-keepalived.conf.5"
    DESTINATION "${CMAKE_INSTALL_MANDIR}/man5")
endif()
