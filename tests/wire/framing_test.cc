// Length-prefixed framing over a byte stream.
#include <catch2/catch.hpp>

#include "common/prng.h"
#include "wire/framing.h"

namespace conclave::wire {
namespace {

using namespace std::string_literals;

// Every payload the reader yields until it needs more bytes; fails the test on an error.
std::vector<std::string> drain(FrameReader& reader) {
  std::vector<std::string> payloads;
  while (true) {
    auto next = reader.next();
    REQUIRE(next.ok());
    if (!next.value()) return payloads;
    payloads.push_back(*next.value());
  }
}

TEST_CASE("framing: the length prefix is 4 bytes big-endian") {
  CHECK(frame("abc") == "\0\0\0\3abc"s);
  CHECK(frame(std::string(0x01020304 & 0xffff, 'x')).substr(0, 4) == "\0\0\x03\x04"s);
}

TEST_CASE("framing: frames fed byte by byte come out whole") {
  const std::vector<std::string> payloads = {"first", "\0binary\0"s, std::string(1000, 'z')};
  std::string stream;
  for (const auto& payload : payloads) stream += frame(payload);
  FrameReader reader(kFrameHeaderBytes + 2000);
  std::vector<std::string> received;
  for (char byte : stream) {
    reader.feed(std::string_view(&byte, 1));
    for (auto& payload : drain(reader)) received.push_back(std::move(payload));
  }
  CHECK(received == payloads);
  CHECK(reader.buffered_bytes() == 0);
}

TEST_CASE("framing: several frames in one feed, and random splits") {
  Prng prng(5);
  std::vector<std::string> payloads;
  std::string stream;
  for (int i = 0; i < 200; ++i) {
    std::string payload(1 + prng.below(300), '\0');
    for (char& c : payload) c = static_cast<char>(prng.below(256));
    stream += frame(payload);
    payloads.push_back(std::move(payload));
  }
  {
    FrameReader reader(300);
    reader.feed(stream);
    CHECK(drain(reader) == payloads);
  }
  {
    FrameReader reader(300);
    std::vector<std::string> received;
    for (size_t at = 0; at < stream.size();) {
      const size_t chunk = std::min<size_t>(stream.size() - at, 1 + prng.below(700));
      reader.feed(std::string_view(stream).substr(at, chunk));
      at += chunk;
      for (auto& payload : drain(reader)) received.push_back(std::move(payload));
      // Only unconsumed bytes stay buffered: at most one partial frame.
      CHECK(reader.buffered_bytes() < kFrameHeaderBytes + 300);
    }
    CHECK(received == payloads);
  }
}

TEST_CASE("framing: a truncated frame stays buffered") {
  FrameReader reader(100);
  const std::string framed = frame("hello");
  reader.feed(framed.substr(0, 6));
  auto next = reader.next();
  REQUIRE(next.ok());
  CHECK_FALSE(next.value().has_value());
  CHECK(reader.buffered_bytes() == 6);
  reader.feed(framed.substr(6));
  next = reader.next();
  REQUIRE(next.ok());
  CHECK(next.value() == std::optional<std::string>("hello"));
  CHECK(reader.buffered_bytes() == 0);

  reader.feed("\0\0"s);  // half a header
  CHECK(reader.buffered_bytes() == 2);
}

TEST_CASE("framing: a zero length is malformed and the reader stays failed") {
  FrameReader reader(100);
  reader.feed(frame("ok") + "\0\0\0\0"s + frame("after"));
  auto first = reader.next();
  REQUIRE(first.ok());
  CHECK(first.value() == std::optional<std::string>("ok"));
  for (int i = 0; i < 2; ++i) {
    const auto next = reader.next();
    REQUIRE_FALSE(next.ok());
    CHECK(next.error().code == ErrorCode::malformed);
    CHECK_THAT(next.error().message, Catch::Contains("length is 0"));
  }
  reader.feed(frame("ignored"));
  CHECK_FALSE(reader.next().ok());
  CHECK(reader.buffered_bytes() == 0);  // a failed reader keeps nothing
}

TEST_CASE("framing: a length over the maximum is too large, checked before the payload arrives") {
  FrameReader reader(100);
  reader.feed(frame(std::string(101, 'x')).substr(0, 4));  // only the header
  const auto next = reader.next();
  REQUIRE_FALSE(next.ok());
  CHECK(next.error().code == ErrorCode::too_large);
  CHECK_THAT(next.error().message, Catch::Contains("length 101 bytes is over the limit of 100"));
  CHECK(reader.next().error().code == ErrorCode::too_large);

  FrameReader exact(100);
  exact.feed(frame(std::string(100, 'x')));
  CHECK(drain(exact).size() == 1);

  FrameReader huge(100);
  huge.feed("\xff\xff\xff\xff"s);
  CHECK(huge.next().error().code == ErrorCode::too_large);
}

}  // namespace
}  // namespace conclave::wire
