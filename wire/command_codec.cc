// Command <-> Command table (wire/command.fbs): the data of a Raft log entry.
#include <type_traits>

#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/command_generated.h"

namespace conclave::wire {

namespace fbc = fb::command;
using detail::FieldReader;
using detail::malformed;
using detail::optional_bytes;
using detail::optional_string;
using detail::Where;

namespace {

const detail::VerifyLimits kCommandLimits{.max_bytes = kMaxFrameBytes,
                                          .max_depth = 16,
                                          .max_tables = 16};

using Encoded = std::pair<fbc::CommandOp, flatbuffers::Offset<void>>;

Encoded encode_op(flatbuffers::FlatBufferBuilder& builder, const CommandOp& op) {
  return std::visit(
      [&builder](const auto& body) -> Encoded {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, PutCommand>) {
          const auto key = optional_string(builder, body.key);
          const auto value = optional_bytes(builder, body.value);
          const auto guard = optional_string(builder, body.guard_lock);
          return {fbc::CommandOp::PutCommand,
                  fbc::CreatePutCommand(builder, key, value, guard, body.guard_token, body.cas,
                                        body.cas_revision)
                      .Union()};
        } else if constexpr (std::is_same_v<T, TxnCommand>) {
          const auto request =
              optional_bytes(builder, encode_client_request(ClientRequest{0, 0, body.txn}));
          return {fbc::CommandOp::TxnCommand, fbc::CreateTxnCommand(builder, request).Union()};
        } else if constexpr (std::is_same_v<T, DeleteCommand>) {
          const auto key = optional_string(builder, body.key);
          return {fbc::CommandOp::DeleteCommand,
                  fbc::CreateDeleteCommand(builder, key, body.prefix).Union()};
        } else if constexpr (std::is_same_v<T, GetCommand>) {
          const auto key = optional_string(builder, body.key);
          return {fbc::CommandOp::GetCommand, fbc::CreateGetCommand(builder, key).Union()};
        } else if constexpr (std::is_same_v<T, SessionCreateCommand>) {
          const auto node = optional_string(builder, body.node);
          const auto description = optional_string(builder, body.description);
          return {fbc::CommandOp::SessionCreateCommand,
                  fbc::CreateSessionCreateCommand(builder, node, body.boot_id, body.ttl_ms,
                                                  description)
                      .Union()};
        } else if constexpr (std::is_same_v<T, SessionDestroyCommand>) {
          return {fbc::CommandOp::SessionDestroyCommand,
                  fbc::CreateSessionDestroyCommand(builder, body.session).Union()};
        } else if constexpr (std::is_same_v<T, SessionRenewCommand>) {
          return {fbc::CommandOp::SessionRenewCommand,
                  fbc::CreateSessionRenewCommand(builder, body.session).Union()};
        } else if constexpr (std::is_same_v<T, InvalidateNodeCommand>) {
          const auto node = optional_string(builder, body.node);
          return {fbc::CommandOp::InvalidateNodeCommand,
                  fbc::CreateInvalidateNodeCommand(builder, node, body.boot_id,
                                                   static_cast<uint8_t>(body.reason))
                      .Union()};
        } else if constexpr (std::is_same_v<T, LockAcquireCommand>) {
          const auto name = optional_string(builder, body.name);
          return {fbc::CommandOp::LockAcquireCommand,
                  fbc::CreateLockAcquireCommand(builder, name, body.session, body.limit,
                                                body.wait, body.lock_delay_ms)
                      .Union()};
        } else if constexpr (std::is_same_v<T, LockReleaseCommand>) {
          const auto name = optional_string(builder, body.name);
          return {fbc::CommandOp::LockReleaseCommand,
                  fbc::CreateLockReleaseCommand(builder, name, body.session, body.token).Union()};
        } else if constexpr (std::is_same_v<T, LockCancelCommand>) {
          const auto name = optional_string(builder, body.name);
          return {fbc::CommandOp::LockCancelCommand,
                  fbc::CreateLockCancelCommand(builder, name, body.session).Union()};
        } else {
          static_assert(std::is_same_v<T, TickCommand>);
          return {fbc::CommandOp::TickCommand, fbc::CreateTickCommand(builder).Union()};
        }
      },
      op);
}

template <typename Table>
Result<const Table*> table_of(const Table* table, const Where& where, const char* type_name) {
  if (table == nullptr) {
    return malformed(where, std::string("has type ") + type_name + " but no table");
  }
  return table;
}

#define CONCLAVE_OP_TABLE(variable, Type)                                               \
  auto variable##_or = table_of(table.op_as_##Type(), where, #Type);                    \
  if (!variable##_or.ok()) return variable##_or.error();                                \
  const fbc::Type& variable = *variable##_or.value()

Result<CommandOp> decode_op(const fbc::Command& table, FieldReader& reader, const Where& where) {
  switch (table.op_type()) {
    case fbc::CommandOp::NONE:
      return malformed(where, "is missing (union type NONE)");
    case fbc::CommandOp::PutCommand: {
      CONCLAVE_OP_TABLE(put, PutCommand);
      PutCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(put.key(), kMaxKeyBytes, Where(where, "key"), out.key));
      CONCLAVE_WIRE_TRY(
          reader.read_bytes(put.value(), kMaxValueBytes, Where(where, "value"), out.value));
      CONCLAVE_WIRE_TRY(reader.read_string(put.guard_lock(), kMaxLockNameBytes,
                                           Where(where, "guard_lock"), out.guard_lock));
      out.guard_token = put.guard_token();
      out.cas = put.cas();
      out.cas_revision = put.cas_revision();
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::TxnCommand: {
      CONCLAVE_OP_TABLE(txn, TxnCommand);
      std::string request;
      CONCLAVE_WIRE_TRY(
          reader.read_bytes(txn.request(), kMaxFrameBytes, Where(where, "request"), request));
      Result<ClientRequest> decoded = decode_client_request(request);
      if (!decoded.ok()) return decoded.error();
      auto* body = std::get_if<KvTxnRequest>(&decoded.value().body);
      if (body == nullptr) return malformed(where, "holds a request that is not a transaction");
      return CommandOp(TxnCommand{std::move(*body)});
    }
    case fbc::CommandOp::DeleteCommand: {
      CONCLAVE_OP_TABLE(del, DeleteCommand);
      DeleteCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(del.key(), kMaxKeyBytes, Where(where, "key"), out.key));
      out.prefix = del.prefix();
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::GetCommand: {
      CONCLAVE_OP_TABLE(get, GetCommand);
      GetCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(get.key(), kMaxKeyBytes, Where(where, "key"), out.key));
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::SessionCreateCommand: {
      CONCLAVE_OP_TABLE(create, SessionCreateCommand);
      SessionCreateCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(create.node(), gossip::kMaxNameBytes,
                                           Where(where, "node"), out.node));
      out.boot_id = create.boot_id();
      out.ttl_ms = create.ttl_ms();
      CONCLAVE_WIRE_TRY(reader.read_string(create.description(), kMaxDescriptionBytes,
                                           Where(where, "description"), out.description));
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::SessionDestroyCommand: {
      CONCLAVE_OP_TABLE(destroy, SessionDestroyCommand);
      return CommandOp(SessionDestroyCommand{destroy.session()});
    }
    case fbc::CommandOp::SessionRenewCommand: {
      CONCLAVE_OP_TABLE(renew, SessionRenewCommand);
      return CommandOp(SessionRenewCommand{renew.session()});
    }
    case fbc::CommandOp::InvalidateNodeCommand: {
      CONCLAVE_OP_TABLE(invalidate, InvalidateNodeCommand);
      InvalidateNodeCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(invalidate.node(), gossip::kMaxNameBytes,
                                           Where(where, "node"), out.node));
      out.boot_id = invalidate.boot_id();
      if (invalidate.reason() > static_cast<uint8_t>(SessionEndReason::node_unknown)) {
        return malformed(Where(where, "reason"),
                         "has unknown value " + std::to_string(invalidate.reason()));
      }
      out.reason = static_cast<SessionEndReason>(invalidate.reason());
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::LockAcquireCommand: {
      CONCLAVE_OP_TABLE(acquire, LockAcquireCommand);
      LockAcquireCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(acquire.name(), kMaxLockNameBytes,
                                           Where(where, "name"), out.name));
      out.session = acquire.session();
      out.limit = acquire.limit();
      out.wait = acquire.wait();
      out.lock_delay_ms = acquire.lock_delay_ms();
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::LockReleaseCommand: {
      CONCLAVE_OP_TABLE(release, LockReleaseCommand);
      LockReleaseCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(release.name(), kMaxLockNameBytes,
                                           Where(where, "name"), out.name));
      out.session = release.session();
      out.token = release.token();
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::LockCancelCommand: {
      CONCLAVE_OP_TABLE(cancel, LockCancelCommand);
      LockCancelCommand out;
      CONCLAVE_WIRE_TRY(reader.read_string(cancel.name(), kMaxLockNameBytes,
                                           Where(where, "name"), out.name));
      out.session = cancel.session();
      return CommandOp(std::move(out));
    }
    case fbc::CommandOp::TickCommand: {
      CONCLAVE_OP_TABLE(tick, TickCommand);
      (void)tick;
      return CommandOp(TickCommand{});
    }
  }
  return malformed(where, "has unknown type " +
                              std::to_string(static_cast<unsigned>(table.op_type())));
}

#undef CONCLAVE_OP_TABLE

}  // namespace

const char* session_end_reason_name(SessionEndReason reason) {
  switch (reason) {
    case SessionEndReason::released: return "released";
    case SessionEndReason::node_failed: return "node failed";
    case SessionEndReason::node_left: return "node left";
    case SessionEndReason::node_restarted: return "node restarted";
    case SessionEndReason::expired: return "expired";
    case SessionEndReason::node_unknown: return "node unknown";
  }
  return "unknown";
}

std::string encode_command(const Command& command) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto [op_type, op] = encode_op(builder, command.op);
  fbc::CommandBuilder table(builder);
  table.add_version(kProtocolVersion);
  table.add_stamp_ms(command.stamp_ms);
  table.add_op_type(op_type);
  table.add_op(op);
  table.add_client_id(command.client_id);
  table.add_sequence(command.sequence);
  table.add_ack_below(command.ack_below);
  builder.Finish(table.Finish());
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
  command.stamp_ms = table->stamp_ms();
  command.client_id = table->client_id();
  command.sequence = table->sequence();
  command.ack_below = table->ack_below();
  Result<CommandOp> op = decode_op(*table, reader, Where(command_where, "op"));
  if (!op.ok()) return op.error();
  command.op = std::move(op).value();
  return command;
}

}  // namespace conclave::wire
