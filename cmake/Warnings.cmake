# Warnings and sanitizers live in INTERFACE targets that our own targets link;
# nothing here touches global flags, so the project can be embedded safely.
add_library(rk_warnings INTERFACE)
target_compile_options(rk_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>)
if(RK_WERROR)
  target_compile_options(rk_warnings INTERFACE -Werror)
endif()

add_library(rk_sanitizers INTERFACE)
if(RK_SANITIZE)
  target_compile_options(rk_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(rk_sanitizers INTERFACE -fsanitize=address,undefined)
  # GCC's manual warns that sanitizers raise false -Wmaybe-uninitialized
  # reports; GCC 12 gives them inside libstdc++'s <regex> (Catch2's main),
  # which -Werror would turn into a failed build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(rk_sanitizers INTERFACE -Wno-maybe-uninitialized)
  endif()
endif()
