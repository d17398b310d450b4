# What `cmake --install` (and so the .deb) puts beside the tools, whose own
# install rule is in tools/CMakeLists.txt:
#   share/doc/redis-keepalived/            README.md, LICENSE, operations.md
#   share/doc/redis-keepalived/examples/   keepalived.conf for both nodes,
#                                          toolkit.conf, the Redis ACL user,
#                                          the Prometheus alert rules and
#                                          the Grafana dashboard
#   etc/init.d/redis-server-rk             LSB init script for redis-server
#   etc/default/redis-server-rk            its settings
#   etc/logrotate.d/redis-keepalived       rotation of the sample log file
#   lib/systemd/system/keepalived.service.d/redis-keepalived.conf
#                                          start keepalived after Redis
#   lib/systemd/system/redis-watch.service the track_file watcher
#   lib/systemd/system/redis-server-rk.service
#                                          -> /dev/null: the init script is
#                                          masked under systemd
#   lib/tmpfiles.d/redis-keepalived.conf   state dir and log file for the
#                                          hooks' user
#   share/doc/redis-keepalived/examples/redis-watch.init
#                                          the watcher under sysvinit
# Nothing here creates users or touches the running system: the package's
# postinst does that (cmake/Packaging.cmake), docs/operations.md says how by
# hand.
include_guard(GLOBAL)
include(GNUInstallDirs)

if(NOT CMAKE_SKIP_INSTALL_RULES)
  set(_rk_src "${PROJECT_SOURCE_DIR}")

  install(FILES "${_rk_src}/README.md" "${_rk_src}/LICENSE" "${_rk_src}/docs/operations.md"
    DESTINATION "${CMAKE_INSTALL_DOCDIR}")

  file(GLOB _rk_examples CONFIGURE_DEPENDS "${_rk_src}/keepalived/*.conf")
  install(FILES ${_rk_examples} DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
  # Monitoring examples to copy and adapt (README, "Alerts"; tests/alerts
  # checks them).
  install(FILES "${_rk_src}/docs/monitoring/redis-keepalived-rules.yml"
    "${_rk_src}/docs/monitoring/redis-keepalived-dashboard.json"
    DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")

  # systemd units are looked up in <prefix>/lib/systemd, never in the
  # multiarch libdir GNUInstallDirs picks for /usr on Debian.
  install(FILES "${_rk_src}/systemd/keepalived.service.d/redis-keepalived.conf"
    DESTINATION "lib/systemd/system/keepalived.service.d")
  install(FILES "${_rk_src}/systemd/redis-watch.service" DESTINATION "lib/systemd/system")
  # The init script is for hosts without systemd. Under systemd the unit of
  # that name is masked (a link to /dev/null, as Debian masks init scripts
  # that have no place there), so systemd-sysv-generator never turns it into
  # a second service starting the redis-server that redis-server.service
  # runs. file(INSTALL) copies the link as a link.
  file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/systemd")
  file(CREATE_LINK /dev/null "${PROJECT_BINARY_DIR}/systemd/redis-server-rk.service" SYMBOLIC)
  install(FILES "${PROJECT_BINARY_DIR}/systemd/redis-server-rk.service"
    DESTINATION "lib/systemd/system")
  install(PROGRAMS "${_rk_src}/init.d/redis-watch" DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples"
    RENAME "redis-watch.init")
  install(FILES "${_rk_src}/systemd/redis-keepalived.tmpfiles"
    DESTINATION "lib/tmpfiles.d" RENAME "redis-keepalived.conf")

  # Configuration lives in <prefix>/etc, except for the prefix /usr, whose
  # configuration is /etc (FHS; GNUInstallDirs makes the same exception).
  # The prefix is only known at install time (`cmake --install --prefix`,
  # cpack), so the destination is chosen then. file(INSTALL) adds DESTDIR
  # and records the files in install_manifest.txt.
  install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(_rk_etc \"/etc\")
    else()
      set(_rk_etc \"\${CMAKE_INSTALL_PREFIX}/etc\")
    endif()
    file(INSTALL DESTINATION \"\${_rk_etc}/init.d\" TYPE PROGRAM
      FILES \"${_rk_src}/init.d/redis-server-rk\")
    file(INSTALL DESTINATION \"\${_rk_etc}/default\" TYPE FILE
      RENAME redis-server-rk FILES \"${_rk_src}/init.d/redis-server-rk.default\")
    file(INSTALL DESTINATION \"\${_rk_etc}/logrotate.d\" TYPE FILE
      FILES \"${_rk_src}/logrotate/redis-keepalived\")
  ")
endif()
