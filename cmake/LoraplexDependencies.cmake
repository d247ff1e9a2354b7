# Finds every third-party dependency once. All come from Debian 12's packages
# (scripts/install-deps.sh); on a GPU host, CMAKE_PREFIX_PATH points at
# unpacked .debs plus PyTorch's LibTorch (shared/device/README.md).
include_guard(GLOBAL)

find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# RE2 and SentencePiece ship only pkg-config files on Debian 12, whose
# prefixes are hard-coded to /usr; find_path/find_library honour
# CMAKE_PREFIX_PATH, so they also work with relocated packages.
find_path(RE2_INCLUDE_DIR re2/re2.h REQUIRED)
find_library(RE2_LIBRARY re2 REQUIRED)
if(NOT TARGET loraplex::re2)
  add_library(loraplex::re2 UNKNOWN IMPORTED)
  set_target_properties(loraplex::re2 PROPERTIES
    IMPORTED_LOCATION ${RE2_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${RE2_INCLUDE_DIR})
endif()
if(NOT LORAPLEX_SANITIZE)
  # LibTorch: linked PRIVATE by loraplex_engine only (see engine/CMakeLists.txt).
  find_package(Torch REQUIRED)
  find_package(Protobuf REQUIRED)
  find_package(gRPC CONFIG REQUIRED)
  find_package(prometheus-cpp CONFIG REQUIRED)

  # cpp-httplib (libcpp-httplib-dev): the /metrics server and the tools' HTTP
  # client. Debian builds it as a shared library (libcpp-httplib.so.0.11)
  # with OpenSSL, zlib and Brotli support; every translation unit that
  # includes httplib.h must see the same defines, or the classes' layouts
  # differ from the library's. (Found like RE2, so that relocated packages
  # work; the .pc file's prefix is hard-coded to /usr.)
  find_package(OpenSSL REQUIRED)
  find_package(ZLIB REQUIRED)
  find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
  find_library(HTTPLIB_LIBRARY cpp-httplib REQUIRED)
  if(NOT TARGET loraplex::httplib)
    add_library(loraplex::httplib UNKNOWN IMPORTED)
    set_target_properties(loraplex::httplib PROPERTIES
      IMPORTED_LOCATION ${HTTPLIB_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${HTTPLIB_INCLUDE_DIR}
      INTERFACE_COMPILE_DEFINITIONS
        "CPPHTTPLIB_OPENSSL_SUPPORT;CPPHTTPLIB_ZLIB_SUPPORT;CPPHTTPLIB_BROTLI_SUPPORT"
      INTERFACE_LINK_LIBRARIES "OpenSSL::SSL;OpenSSL::Crypto;ZLIB::ZLIB")
  endif()
endif()

find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h REQUIRED)
find_library(SENTENCEPIECE_LIBRARY sentencepiece REQUIRED)
if(NOT TARGET loraplex::sentencepiece)
  add_library(loraplex::sentencepiece INTERFACE IMPORTED)
  set_target_properties(loraplex::sentencepiece PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES ${SENTENCEPIECE_INCLUDE_DIR})
  # Linked only by the loraplex_sentencepiece module (engine/tokenizer):
  # see engine/tokenizer/sentencepiece_backend.h.
  set_property(TARGET loraplex::sentencepiece PROPERTY INTERFACE_LINK_LIBRARIES
    ${SENTENCEPIECE_LIBRARY})
endif()

if(LORAPLEX_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(LORAPLEX_BUILD_BENCH AND NOT LORAPLEX_SANITIZE)
  find_package(benchmark REQUIRED)
endif()
