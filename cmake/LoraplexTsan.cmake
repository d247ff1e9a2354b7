# The ThreadSanitizer build (-DLORAPLEX_TSAN=ON, clang): the engine runtime
# and the service, and only the tests of their concurrent parts (adapter
# cache and engine loop, registry, auth, metrics, the end-to-end service and
# HTTP API tests), under -fsanitize=thread. scripts/test.sh (CI) builds it as
# build-tsan and, for time, builds and runs only tsan_self_tests,
# engine_tests, registry_tests and service_e2e_tests.
#
# Abseil: Debian's libabsl is not instrumented, and absl::Mutex tells TSan
# about its locking from inside its own mutex.cc, so with the system library
# every absl::Mutex (ours and gRPC's, which uses absl::Mutex for gpr_mu and
# grpc_core::Mutex) would be invisible and each access it guards a reported
# race. scripts/build-tsan-absl.sh builds the same Abseil (Debian's source
# package of the installed version, identical headers and ABI) with TSan as
# static libraries into LORAPLEX_TSAN_ABSL_PREFIX; find_package(absl) below
# (and gRPC's own find_dependency(absl)) takes that one. The executables
# export their symbols (ENABLE_EXPORTS: -rdynamic), so the dynamic linker
# binds libgrpc's and libgpr's calls into absl (Mutex::Lock, CondVar::Wait,
# ...) to the instrumented copy in the executable, not to libabsl_*.so:
# gRPC's locks become visible to TSan as well.
#
# The same build is the compiler's thread-safety analysis of every unit it
# compiles (-Wthread-safety as an error: ABSL_GUARDED_BY & co. are checked);
# scripts/thread-safety-check.sh covers the remaining units.
include_guard(GLOBAL)

if(NOT LORAPLEX_TSAN)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "LORAPLEX_TSAN needs clang++ (-DCMAKE_CXX_COMPILER=clang++)")
endif()
if(LORAPLEX_SANITIZE OR LORAPLEX_FUZZ)
  message(FATAL_ERROR "LORAPLEX_TSAN excludes LORAPLEX_SANITIZE and LORAPLEX_FUZZ")
endif()
if(NOT LORAPLEX_BUILD_SERVICE OR NOT LORAPLEX_BUILD_TESTS)
  message(FATAL_ERROR "LORAPLEX_TSAN needs LORAPLEX_BUILD_SERVICE and LORAPLEX_BUILD_TESTS")
endif()

set(LORAPLEX_TSAN_ABSL_PREFIX "${PROJECT_BINARY_DIR}/absl-tsan/install" CACHE PATH
    "Abseil built with -fsanitize=thread (scripts/build-tsan-absl.sh)")
set(loraplex_tsan_absl_dir "${LORAPLEX_TSAN_ABSL_PREFIX}/lib/cmake/absl")
if(NOT EXISTS "${loraplex_tsan_absl_dir}/abslConfig.cmake")
  message(FATAL_ERROR
    "No instrumented Abseil in ${LORAPLEX_TSAN_ABSL_PREFIX}: run "
    "scripts/build-tsan-absl.sh ${PROJECT_BINARY_DIR} first")
endif()
# Found before anything else looks for absl (LoraplexDependencies, gRPC).
find_package(absl REQUIRED CONFIG PATHS "${loraplex_tsan_absl_dir}"
             NO_DEFAULT_PATH)

add_compile_options(-fsanitize=thread -fno-omit-frame-pointer
                    -Wthread-safety -Werror=thread-safety)
add_link_options(-fsanitize=thread)
set(CMAKE_ENABLE_EXPORTS ON)

# The runtime options every test runs with (loraplex_add_test sets them in
# the tests' environment; child processes such as loraplex-server inherit
# them):
# - suppressions: third-party code only, each one explained in the file.
# - ignore_noninstrumented_modules: what uninstrumented libraries (libgrpc,
#   libstdc++, LibTorch, ...) do through intercepted calls (malloc, memcpy,
#   send) is not recorded. Their synchronization is invisible to TSan, so
#   those accesses would be reported by the hundred, all inside gRPC.
# - allocator_may_return_null: an impossible allocation fails as it does
#   without TSan (std::bad_alloc) instead of aborting the process; the engine
#   tests check that Create reports it.
set(LORAPLEX_TSAN_OPTIONS
    "suppressions=${PROJECT_SOURCE_DIR}/tests/tsan/tsan.supp:ignore_noninstrumented_modules=1:allocator_may_return_null=1")
# Tests the TSan build does not run (a gtest negative filter for every test
# binary), each with the reason:
# - SentencePieceWithTorchTest: loads libsentencepiece with RTLD_DEEPBIND
#   (engine/tokenizer/sentencepiece_backend.h), which TSan's runtime refuses;
#   it tests that isolation, not concurrency.
set(LORAPLEX_TSAN_EXCLUDED_TESTS "SentencePieceWithTorchTest.*")
