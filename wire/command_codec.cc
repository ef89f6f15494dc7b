// Command <-> Command table (wire/command.fbs): the data of a Raft log entry.
#include <type_traits>

#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/command_generated.h"

namespace conclave::wire {

namespace fbc = fb::command;
using detail::FieldReader;
using detail::malformed;
using detail::Where;

namespace {

const detail::VerifyLimits kCommandLimits{.max_bytes = kMaxFrameBytes,
                                          .max_depth = 16,
                                          .max_tables = 16};

}  // namespace

std::string encode_command(const Command& command) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto [op_type, op] = std::visit(
      [&builder](const auto& body) -> std::pair<fbc::CommandOp, flatbuffers::Offset<void>> {
        using T = std::decay_t<decltype(body)>;
        const auto key = detail::optional_string(builder, body.key);
        if constexpr (std::is_same_v<T, PutCommand>) {
          const auto value = detail::optional_bytes(builder, body.value);
          return {fbc::CommandOp::PutCommand, fbc::CreatePutCommand(builder, key, value).Union()};
        } else {
          static_assert(std::is_same_v<T, GetCommand>);
          return {fbc::CommandOp::GetCommand, fbc::CreateGetCommand(builder, key).Union()};
        }
      },
      command.op);
  builder.Finish(fbc::CreateCommand(builder, kProtocolVersion, command.origin_node,
                                    command.request_id, command.stamp_ms, op_type, op));
  return detail::finish_to_string(builder);
}

Result<Command> decode_command(std::string_view bytes) {
  const Where command_where("command");
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<fbc::Command>(bytes, kCommandLimits, command_where);
  if (!verified.ok()) return verified.error();
  const auto* table = verified.value().root<fbc::Command>();
  CONCLAVE_WIRE_TRY(detail::check_version(table->version(), command_where));

  FieldReader reader(bytes.size());
  Command command;
  command.origin_node = table->origin_node();
  command.request_id = table->request_id();
  command.stamp_ms = table->stamp_ms();
  const Where op_where(command_where, "op");
  switch (table->op_type()) {
    case fbc::CommandOp::NONE:
      return malformed(op_where, "is missing (union type NONE)");
    case fbc::CommandOp::PutCommand: {
      const fbc::PutCommand* put = table->op_as_PutCommand();
      if (put == nullptr) return malformed(op_where, "has type PutCommand but no table");
      PutCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(put->key(), kMaxKeyBytes, Where(op_where, "key"),
                                           out.key));
      CONCLAVE_WIRE_TRY(reader.read_bytes(put->value(), kMaxValueBytes,
                                          Where(op_where, "value"), out.value));
      command.op = std::move(out);
      return command;
    }
    case fbc::CommandOp::GetCommand: {
      const fbc::GetCommand* get = table->op_as_GetCommand();
      if (get == nullptr) return malformed(op_where, "has type GetCommand but no table");
      GetCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(get->key(), kMaxKeyBytes, Where(op_where, "key"),
                                           out.key));
      command.op = std::move(out);
      return command;
    }
  }
  return malformed(op_where, "has unknown type " +
                                 std::to_string(static_cast<unsigned>(table->op_type())));
}

}  // namespace conclave::wire
