// State machine command codec (Raft log entry data): round trips and hostile input.
#include <catch2/catch.hpp>

#include "tests/wire/wire_test_support.h"
#include "wire/codec.h"
#include "wire/command_generated.h"

namespace conclave::wire {
namespace {

namespace fbc = fb::command;
using namespace std::string_literals;

std::string finish(flatbuffers::FlatBufferBuilder& builder,
                   flatbuffers::Offset<fbc::Command> command) {
  builder.Finish(command);
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                     builder.GetSize());
}

void require_error(const Result<Command>& result, ErrorCode code,
                   const std::string& message_part) {
  REQUIRE_FALSE(result.ok());
  INFO(result.error().message);
  CHECK(result.error().code == code);
  CHECK_THAT(result.error().message, Catch::Contains(message_part));
}

TEST_CASE("command: put and get with every field set round-trip") {
  const Command put{UINT64_MAX, 42, -1234567890123, PutCommand{"config/a\0b"s, "\0\1\2value"s}};
  const Command get{3, 0, INT64_MAX, GetCommand{"config/a"}};
  const Command empty_put{0, 0, 0, PutCommand{"", ""}};
  const Command empty_get{0, 0, INT64_MIN, GetCommand{""}};
  for (const Command& command : {put, get, empty_put, empty_get}) {
    const auto decoded = decode_command(encode_command(command));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == command);
  }
}

TEST_CASE("command: random commands round-trip") {
  Prng prng(0xc0de);
  for (int i = 0; i < 1000; ++i) {
    Command command;
    command.origin_node = test::random_u64(prng);
    command.request_id = test::random_u64(prng);
    command.stamp_ms = static_cast<int64_t>(test::random_u64(prng));
    if (prng.chance(0.5)) {
      command.op = PutCommand{test::random_string(prng, kMaxKeyBytes),
                              test::random_string(prng, prng.chance(0.1) ? kMaxValueBytes : 300)};
    } else {
      command.op = GetCommand{test::random_string(prng, kMaxKeyBytes)};
    }
    const auto decoded = decode_command(encode_command(command));
    REQUIRE(decoded.ok());
    REQUIRE(decoded.value() == command);
  }
}

TEST_CASE("command: keys and values over their limits are too large") {
  Command command{1, 1, 1, PutCommand{std::string(kMaxKeyBytes, 'k'),
                                      std::string(kMaxValueBytes, 'v')}};
  CHECK(decode_command(encode_command(command)).ok());
  std::get<PutCommand>(command.op).value += 'v';
  require_error(decode_command(encode_command(command)), ErrorCode::too_large,
                "command: op: value is 524289 bytes, over the limit of 524288");
  const Command get{1, 1, 1, GetCommand{std::string(kMaxKeyBytes + 1, 'k')}};
  require_error(decode_command(encode_command(get)), ErrorCode::too_large,
                "command: op: key is 1025 bytes, over the limit of 1024");
}

TEST_CASE("command: wrong version, missing or unknown op are rejected") {
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto get = fbc::CreateGetCommand(builder);
    require_error(decode_command(finish(builder, fbc::CreateCommand(builder, 0, 1, 1, 1,
                                                                    fbc::CommandOp::GetCommand,
                                                                    get.Union()))),
                  ErrorCode::malformed, "command has protocol version 0");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_command(finish(builder, fbc::CreateCommand(builder, kProtocolVersion))),
                  ErrorCode::malformed, "command: op is missing");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto get = fbc::CreateGetCommand(builder);
    require_error(decode_command(finish(builder, fbc::CreateCommand(
                                                     builder, kProtocolVersion, 1, 1, 1,
                                                     static_cast<fbc::CommandOp>(3),
                                                     get.Union()))),
                  ErrorCode::malformed, "command: op has unknown type 3");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_command(finish(builder,
                                        fbc::CreateCommand(builder, kProtocolVersion, 1, 1, 1,
                                                           fbc::CommandOp::PutCommand, 0))),
                  ErrorCode::malformed, "command: op has type PutCommand but no table");
  }
}

TEST_CASE("command: empty, oversize, truncated, garbage and mutated buffers are handled") {
  require_error(decode_command(""), ErrorCode::malformed, "command is empty");
  require_error(decode_command(std::string(kMaxFrameBytes + 1, 'x')), ErrorCode::too_large,
                "command is 4194305 bytes");
  const Command command{9, 8, 7, PutCommand{"key", "value\0"s}};
  const std::string valid = encode_command(command);
  for (size_t length = 0; length < valid.size(); ++length) {
    const auto decoded = decode_command(std::string_view(valid).substr(0, length));
    if (decoded.ok()) {
      CHECK(decoded.value() == command);
      CHECK(valid.size() - length < 8);
    }
  }
  Prng prng(0xfeed);
  for (int i = 0; i < 3000; ++i) {
    const auto decoded = decode_command(test::random_bytes(prng, prng.below(200)));
    if (decoded.ok()) CHECK(decode_command(encode_command(decoded.value())).ok());
  }
  for (int i = 0; i < 20000; ++i) {
    const auto decoded = decode_command(test::mutate(prng, valid));
    if (!decoded.ok()) continue;
    const auto again = decode_command(encode_command(decoded.value()));
    REQUIRE(again.ok());
    REQUIRE(again.value() == decoded.value());
  }
}

}  // namespace
}  // namespace conclave::wire
