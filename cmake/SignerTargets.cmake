# INTERFACE targets every signerd target links: warnings, hardening, sanitizers, coverage.

add_library(signer_warnings INTERFACE)
target_compile_options(signer_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes
  -Wmissing-prototypes -Wformat=2 -Wformat-security -Wvla -Wundef -Wconversion
  -Wno-sign-conversion -Wimplicit-fallthrough -Wnull-dereference)
if(SIGNER_WERROR)
  target_compile_options(signer_warnings INTERFACE -Werror)
endif()

add_library(signer_hardening INTERFACE)
target_compile_options(signer_hardening INTERFACE
  -fstack-protector-strong -fstack-clash-protection -fcf-protection=full -fPIE
  $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
target_link_options(signer_hardening INTERFACE -pie -Wl,-z,relro,-z,now,-z,noexecstack)

add_library(signer_sanitizers INTERFACE)
if(SIGNER_SANITIZE)
  target_compile_options(signer_sanitizers INTERFACE
    -fsanitize=${SIGNER_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(signer_sanitizers INTERFACE -fsanitize=${SIGNER_SANITIZE})
endif()

# libFuzzer: every library carries coverage; the fuzz programs link the fuzzer's main.
if(SIGNER_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "-DSIGNER_FUZZ=ON needs clang (CC=clang)")
  endif()
  target_compile_options(signer_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

# gcov's line and branch counts (tools/coverage). Unoptimised, so that a line and a branch of the
# source are one in the object code: at -O2 gcc folds, merges and drops branches, and the report
# would count what the compiler made of the code rather than the code.
option(SIGNER_COVERAGE "Build with gcov coverage (gcc, -O0; tools/coverage)" OFF)
add_library(signer_coverage INTERFACE)
if(SIGNER_COVERAGE)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU")
    message(FATAL_ERROR "-DSIGNER_COVERAGE=ON needs gcc (CC=gcc)")
  endif()
  if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    # -O0 after -O2: glibc's _FORTIFY_SOURCE (on outside Debug) warns without optimisation
    message(FATAL_ERROR "-DSIGNER_COVERAGE=ON needs -DCMAKE_BUILD_TYPE=Debug")
  endif()
  target_compile_options(signer_coverage INTERFACE --coverage -O0)
  target_link_options(signer_coverage INTERFACE --coverage)
endif()

add_library(signer_build_flags INTERFACE)
target_link_libraries(signer_build_flags INTERFACE signer_warnings signer_hardening signer_sanitizers
  signer_coverage)
target_compile_definitions(signer_build_flags INTERFACE _GNU_SOURCE)
# the crash-safety tests' fault points (common/fault.h): tools/test builds with them; a build for
# use (tools/build, tools/quickstart, cmake --install) has none
if(SIGNER_FAULTS)
  target_compile_definitions(signer_build_flags INTERFACE SIGNER_FAULTS)
endif()

# signer_module(NAME SOURCES ... HEADERS ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A static library per module. Its public headers are linked into an include root of its own
# (build/include/NAME/<path from the repository root>), so "common/cursor.h" is visible only to
# targets that link common. Dependencies linked PRIVATE do not pass their headers on: a module
# that includes what it does not depend on fails to build.
function(signer_module name)
  cmake_parse_arguments(M "" "" "SOURCES;HEADERS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(root ${CMAKE_BINARY_DIR}/include/${name})
  foreach(h IN LISTS M_HEADERS)
    get_filename_component(abs ${h} ABSOLUTE)
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${abs})
    get_filename_component(dir ${root}/${rel} DIRECTORY)
    file(MAKE_DIRECTORY ${dir})
    file(CREATE_LINK ${abs} ${root}/${rel} SYMBOLIC)
  endforeach()
  add_library(${name} STATIC ${M_SOURCES} ${M_HEADERS})
  target_include_directories(${name} PUBLIC ${root})
  target_link_libraries(${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE signer_build_flags ${M_PRIVATE_DEPS})
endfunction()
