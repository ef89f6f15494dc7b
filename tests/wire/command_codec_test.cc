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

TEST_CASE("command: every op with every field set round-trips") {
  const std::vector<CommandOp> ops = {
      PutCommand{"config/a\0b"s, "\0\1\2value"s, "leader", UINT64_MAX},
      PutCommand{"", "", "", 0},
      PutCommand{"cas", "v", "", 0, true, 0},
      PutCommand{"cas", "v", "", 0, true, UINT64_MAX},
      DeleteCommand{"config/", true},
      DeleteCommand{"k", false},
      TxnCommand{KvTxnRequest{{TxnCompare{"a", TxnTarget::version, TxnCompareOp::equal, "", 3}},
                              {TxnOp{TxnOpType::put, "a", "v", false}},
                              {}}},
      GetCommand{"config/a"},
      SessionCreateCommand{"node-d", UINT64_MAX, 30000, "cron"},
      SessionDestroyCommand{17},
      SessionRenewCommand{18},
      InvalidateNodeCommand{"node-d", 5, SessionEndReason::node_restarted},
      LockAcquireCommand{"db/primary", 17, 3, true, 60000},
      LockReleaseCommand{"db/primary", 17},
      LockCancelCommand{"db/primary", 17},
      TickCommand{},
  };
  for (const CommandOp& op : ops) {
    for (const Command& command : {Command{INT64_MIN, UINT64_MAX, 42, 41, op},
                                   Command{0, 0, 0, 0, op}}) {
      const auto decoded = decode_command(encode_command(command));
      REQUIRE(decoded.ok());
      CHECK(decoded.value() == command);
    }
  }
}

TEST_CASE("command: random commands round-trip") {
  Prng prng(0xc0de);
  for (int i = 0; i < 1000; ++i) {
    Command command;
    command.client_id = test::random_u64(prng);
    command.sequence = test::random_u64(prng);
    command.ack_below = test::random_u64(prng);
    command.stamp_ms = static_cast<int64_t>(test::random_u64(prng));
    switch (prng.below(4)) {
      case 0:
        command.op = PutCommand{test::random_string(prng, kMaxKeyBytes),
                                test::random_string(prng, prng.chance(0.1) ? kMaxValueBytes : 300),
                                test::random_string(prng, kMaxLockNameBytes),
                                test::random_u64(prng)};
        break;
      case 1:
        command.op = GetCommand{test::random_string(prng, kMaxKeyBytes)};
        break;
      case 2:
        command.op = LockAcquireCommand{test::random_string(prng, kMaxLockNameBytes),
                                        test::random_u64(prng),
                                        static_cast<uint32_t>(test::random_u64(prng)),
                                        prng.chance(0.5),
                                        static_cast<uint32_t>(test::random_u64(prng))};
        break;
      default:
        command.op = SessionCreateCommand{test::random_string(prng, gossip::kMaxNameBytes),
                                          test::random_u64(prng), test::random_u64(prng),
                                          test::random_string(prng, kMaxDescriptionBytes)};
        break;
    }
    const auto decoded = decode_command(encode_command(command));
    REQUIRE(decoded.ok());
    REQUIRE(decoded.value() == command);
  }
}

TEST_CASE("command: keys, values, names and reasons over their limits are refused") {
  Command command{1, 1, 1, 0,
                  PutCommand{std::string(kMaxKeyBytes, 'k'), std::string(kMaxValueBytes, 'v'),
                             "", 0}};
  CHECK(decode_command(encode_command(command)).ok());
  std::get<PutCommand>(command.op).value += 'v';
  require_error(decode_command(encode_command(command)), ErrorCode::too_large,
                "command: op: value is 524289 bytes, over the limit of 524288");
  const Command get{1, 1, 1, 0, GetCommand{std::string(kMaxKeyBytes + 1, 'k')}};
  require_error(decode_command(encode_command(get)), ErrorCode::too_large,
                "command: op: key is 1025 bytes, over the limit of 1024");
  const Command lock{1, 1, 1, 0,
                     LockAcquireCommand{std::string(kMaxLockNameBytes + 1, 'n'), 1, 1, false, 0}};
  require_error(decode_command(encode_command(lock)), ErrorCode::too_large,
                "command: op: name is 257 bytes");
  flatbuffers::FlatBufferBuilder builder;
  const auto invalidate = fbc::CreateInvalidateNodeCommand(builder, 0, 0, 9).Union();
  fbc::CommandBuilder table(builder);
  table.add_version(kProtocolVersion);
  table.add_op_type(fbc::CommandOp::InvalidateNodeCommand);
  table.add_op(invalidate);
  require_error(decode_command(finish(builder, table.Finish())), ErrorCode::malformed,
                "command: op: reason has unknown value 9");
}

TEST_CASE("command: wrong version, missing or unknown op are rejected") {
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto get = fbc::CreateGetCommand(builder);
    require_error(decode_command(finish(builder, fbc::CreateCommand(builder, 0, 1,
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
                                                     builder, kProtocolVersion, 1,
                                                     static_cast<fbc::CommandOp>(13),
                                                     get.Union()))),
                  ErrorCode::malformed, "command: op has unknown type 13");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_command(finish(builder,
                                        fbc::CreateCommand(builder, kProtocolVersion, 1,
                                                           fbc::CommandOp::PutCommand, 0))),
                  ErrorCode::malformed, "command: op has type PutCommand but no table");
  }
}

TEST_CASE("command: empty, oversize, truncated, garbage and mutated buffers are handled") {
  require_error(decode_command(""), ErrorCode::malformed, "command is empty");
  require_error(decode_command(std::string(kMaxFrameBytes + 1, 'x')), ErrorCode::too_large,
                "command is 4194305 bytes");
  const Command command{9, 8, 7, 6, PutCommand{"key", "value\0"s, "guard", 5}};
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
