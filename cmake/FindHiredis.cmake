# Debian's libhiredis-dev 0.14 ships a HiredisConfig.cmake that only sets
# variables; this module turns it (or a plain search) into an imported target.
# The static archive is preferred: keepalived execs redis_check every interval,
# and each shared library costs dynamic-linking time at every start.
find_path(Hiredis_INCLUDE_DIR hiredis/hiredis.h)
find_library(Hiredis_STATIC_LIBRARY NAMES libhiredis.a)
find_library(Hiredis_SHARED_LIBRARY NAMES hiredis)
if(Hiredis_STATIC_LIBRARY AND NOT RK_SANITIZE)
  set(Hiredis_LIBRARY "${Hiredis_STATIC_LIBRARY}")
else()
  set(Hiredis_LIBRARY "${Hiredis_SHARED_LIBRARY}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Hiredis REQUIRED_VARS Hiredis_LIBRARY Hiredis_INCLUDE_DIR)

if(Hiredis_FOUND AND NOT TARGET Hiredis::hiredis)
  add_library(Hiredis::hiredis UNKNOWN IMPORTED)
  set_target_properties(Hiredis::hiredis PROPERTIES
    IMPORTED_LOCATION "${Hiredis_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Hiredis_INCLUDE_DIR}")
endif()
