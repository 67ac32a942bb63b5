// <couring/version.hpp>: the macros match the project's version (meson passes it), and the
// library a program runs with reports the same version as the headers it was built with.
#include <couring/couring.hpp>

#include <catch2/catch.hpp>

#include <string>

#ifndef COURING_PROJECT_VERSION
#error "tests/core/meson.build passes meson.project_version()"
#endif

TEST_CASE("the version macros spell the project's version, and compare as a number", "[core][version]") {
  const std::string parts = std::to_string(COURING_VERSION_MAJOR) + "." + std::to_string(COURING_VERSION_MINOR) + "." +
                            std::to_string(COURING_VERSION_PATCH);
  CHECK(parts == COURING_PROJECT_VERSION);
  CHECK(std::string(COURING_VERSION_STRING) == COURING_PROJECT_VERSION);
  CHECK(COURING_VERSION == COURING_VERSION_MAJOR * 10000 + COURING_VERSION_MINOR * 100 + COURING_VERSION_PATCH);
}

TEST_CASE("the library reports the version its headers carry", "[core][version]") {
  CHECK(std::string(couring::library_version()) == COURING_VERSION_STRING);
}
