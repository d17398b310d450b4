# libFuzzer targets (fuzz/*_fuzzer.cpp), off by default. With -DRK_FUZZ=ON
# and clang, each target links its own copy of the library compiled with
# coverage instrumentation, ASan and UBSan, so the normal targets stay as
# they are. Include after add_subdirectory(lib): the copy takes the layers' sources.
option(RK_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)

if(RK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(WARNING "RK_FUZZ needs clang++ (libFuzzer); ${CMAKE_CXX_COMPILER_ID} found, "
                    "so no fuzz target is built. Configure with -DCMAKE_CXX_COMPILER=clang++.")
  else()
    set(RK_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all
                           -fno-omit-frame-pointer)
    # Every layer's sources in one library (lib/CMakeLists.txt keeps the
    # layering; this copy only needs to compile the same code instrumented).
    get_property(rk_fuzz_layers GLOBAL PROPERTY RK_LAYER_TARGETS)
    set(rk_fuzz_sources)
    set(rk_fuzz_includes)
    foreach(layer IN LISTS rk_fuzz_layers)
      get_target_property(layer_sources ${layer} SOURCES)
      get_target_property(layer_dir ${layer} SOURCE_DIR)
      list(TRANSFORM layer_sources PREPEND "${layer_dir}/")
      list(APPEND rk_fuzz_sources ${layer_sources})
      list(APPEND rk_fuzz_includes "$<TARGET_PROPERTY:${layer},INTERFACE_INCLUDE_DIRECTORIES>")
    endforeach()
    add_library(rk_fuzz STATIC ${rk_fuzz_sources})
    target_include_directories(rk_fuzz PUBLIC ${rk_fuzz_includes}
      PRIVATE "${OPENSSL_INCLUDE_DIR}")
    target_compile_definitions(rk_fuzz
      PUBLIC $<TARGET_PROPERTY:rk_programs,INTERFACE_COMPILE_DEFINITIONS>
      PRIVATE $<TARGET_PROPERTY:rk_net,COMPILE_DEFINITIONS>)
    target_compile_features(rk_fuzz PUBLIC cxx_std_17)
    target_compile_options(rk_fuzz PUBLIC ${RK_FUZZ_SANITIZERS} -fsanitize=fuzzer-no-link)
    target_link_options(rk_fuzz PUBLIC -fsanitize=fuzzer,address,undefined)
    target_link_libraries(rk_fuzz
      PUBLIC fmt::fmt-header-only Hiredis::hiredis Threads::Threads ${CMAKE_DL_LIBS}
      PRIVATE rk_warnings)

    # One executable per fuzz/<name>_fuzzer.cpp; its seeds are fuzz/corpus/<name>/.
    set(RK_FUZZ_TARGETS parse_info reply)
    foreach(name IN LISTS RK_FUZZ_TARGETS)
      add_executable(fuzz_${name} "${PROJECT_SOURCE_DIR}/fuzz/${name}_fuzzer.cpp")
      target_link_libraries(fuzz_${name} PRIVATE rk_fuzz rk_warnings)
      if(BUILD_TESTING)
        # Replays every checked-in seed once: a regression test, not a fuzz run.
        add_test(NAME fuzz_${name}_corpus
          COMMAND fuzz_${name} -runs=0 "${PROJECT_SOURCE_DIR}/fuzz/corpus/${name}")
        set_tests_properties(fuzz_${name}_corpus PROPERTIES LABELS fuzz TIMEOUT 120)
      endif()
    endforeach()
  endif()
endif()
