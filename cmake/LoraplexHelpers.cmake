# Shared CMake helpers for Loraplex targets.
include_guard(GLOBAL)

# Code includes headers by their path from the repository root
# ("engine/safetensors/safetensors_reader.h"); generated headers live under
# the build tree's root for the same reason.
function(loraplex_target_includes target)
  get_target_property(type ${target} TYPE)
  set(scope PUBLIC)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set(scope INTERFACE)
  endif()
  target_include_directories(${target} ${scope}
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>)
endfunction()

# loraplex_add_library(NAME SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
function(loraplex_add_library name)
  cmake_parse_arguments(L "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(${name} STATIC ${L_SOURCES})
  loraplex_target_includes(${name})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${name} PUBLIC ${L_PUBLIC_LIBS} PRIVATE ${L_PRIVATE_LIBS})
endfunction()

# loraplex_add_test(NAME SOURCES ... LIBS ... [LABELS ...] [TIMEOUT seconds])
# One GoogleTest binary per module; every TEST shows up in ctest by name.
function(loraplex_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  loraplex_target_includes(${name})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    LORAPLEX_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    LORAPLEX_BINARY_DIR="${PROJECT_BINARY_DIR}")
  # An empty LABELS value would swallow the next key, so the property list is
  # built only from what was given.
  set(props TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    list(APPEND props LABELS "${T_LABELS}")
  endif()
  set(filter)
  if(LORAPLEX_TSAN)  # cmake/LoraplexTsan.cmake
    list(APPEND props ENVIRONMENT "TSAN_OPTIONS=${LORAPLEX_TSAN_OPTIONS}")
    set(filter TEST_FILTER "-${LORAPLEX_TSAN_EXCLUDED_TESTS}")
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 120
    ${filter}
    PROPERTIES ${props})
endfunction()
