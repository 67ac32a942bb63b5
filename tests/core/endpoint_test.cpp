// endpoint: parsing and printing socket addresses, and result<T>/errors, the vocabulary every
// verb speaks. No I/O.
#include <couring/endpoint.hpp>
#include <couring/errors.hpp>
#include <couring/result.hpp>

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/un.h>

#include <string>

using namespace couring;

TEST_CASE("endpoint::parse reads IPv4 and IPv6 addresses with ports and prints them back", "[core][endpoint]") {
  auto v4 = endpoint::parse("127.0.0.1:8080");
  REQUIRE(v4);
  CHECK(v4->family() == AF_INET);
  CHECK(v4->port() == 8080);
  CHECK(v4->size() == sizeof(sockaddr_in));
  CHECK(v4->to_string() == "127.0.0.1:8080");

  auto v6 = endpoint::parse("[::1]:443");
  REQUIRE(v6);
  CHECK(v6->family() == AF_INET6);
  CHECK(v6->port() == 443);
  CHECK(v6->size() == sizeof(sockaddr_in6));
  CHECK(v6->to_string() == "[::1]:443");

  auto any = endpoint::parse("0.0.0.0:0");
  REQUIRE(any);
  CHECK(any->port() == 0);
  CHECK(any->to_string() == "0.0.0.0:0");

  auto full = endpoint::parse("[2001:db8::7]:65535");
  REQUIRE(full);
  CHECK(full->port() == 65535);
  CHECK(full->to_string() == "[2001:db8::7]:65535");
}

TEST_CASE("endpoint::parse rejects names, missing or bad ports and malformed brackets with invalid_argument",
          "[core][endpoint]") {
  for (const char* bad : {"", "localhost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:80x", "1.2.3:80", "[::1]", "[::1]80", "[::1:80", "::1:80", "[nope]:80",
                          "[127.0.0.1]:80", ":80"}) {
    INFO("input: \"" << bad << "\"");
    auto e = endpoint::parse(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error() == std::errc::invalid_argument);
  }
}

TEST_CASE("the named endpoints are what they say", "[core][endpoint]") {
  CHECK(endpoint::loopback_v4(1).to_string() == "127.0.0.1:1");
  CHECK(endpoint::any_v4(2).to_string() == "0.0.0.0:2");
  CHECK(endpoint::loopback_v6(3).to_string() == "[::1]:3");
  CHECK(endpoint::any_v6(4).to_string() == "[::]:4");
  CHECK(endpoint().family() == AF_UNSPEC);
  CHECK(endpoint().to_string() == "unspecified");
}

TEST_CASE("endpoint::unix_path keeps the path and refuses one that does not fit sun_path", "[core][endpoint]") {
  auto ok = endpoint::unix_path("/run/app.sock");
  REQUIRE(ok);
  CHECK(ok->family() == AF_UNIX);
  CHECK(ok->port() == 0);
  CHECK(ok->to_string() == "unix:/run/app.sock");

  constexpr std::size_t room = sizeof(sockaddr_un{}.sun_path);
  auto longest = endpoint::unix_path(std::string(room - 1, 'a'));
  CHECK(longest);
  auto too_long = endpoint::unix_path(std::string(room, 'a'));
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error() == std::errc::filename_too_long);
  auto empty = endpoint::unix_path("");
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == std::errc::invalid_argument);
}

TEST_CASE("result holds a value or an error; value() on an error throws system_error with that code",
          "[core][result]") {
  result<int> good = 5;
  REQUIRE(good);
  CHECK(*good == 5);
  CHECK(good.value() == 5);
  CHECK_FALSE(good.error());
  CHECK(good.value_or(9) == 5);

  result<int> bad = std::errc::timed_out;
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == std::errc::timed_out);
  CHECK(bad.value_or(9) == 9);
  try {
    (void)bad.value();
    FAIL("value() of an error did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
  }

  result<void> fine;
  CHECK(fine);
  CHECK_NOTHROW(fine.value());
  result<void> broken = std::errc::broken_pipe;
  CHECK_FALSE(broken);
  CHECK_THROWS_AS(broken.value(), std::system_error);
}

TEST_CASE("couring's own errors have messages and compare as themselves", "[core][result]") {
  std::error_code eof = couring::error::end_of_file;
  CHECK(eof == couring::error::end_of_file);
  CHECK(eof != std::errc::io_error);
  CHECK(std::string(eof.category().name()) == "couring");
  CHECK_FALSE(eof.message().empty());
  std::error_code unavailable = couring::error::backend_unavailable;
  CHECK(unavailable == std::errc::function_not_supported);
}
