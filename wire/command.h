// A state machine command as a plain struct: what agent/node puts in a Raft log entry's data.
//
// Encoded with FlatBuffers (wire/command.fbs), because log entries are persisted and shipped
// between agents: the format is append-only like every other wire format.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace conclave::wire {

struct PutCommand {
  std::string key;
  std::string value;
  bool operator==(const PutCommand&) const = default;
};

// A linearizable read: applied in log order, answered with the value as of that point.
struct GetCommand {
  std::string key;
  bool operator==(const GetCommand&) const = default;
};

struct Command {
  uint64_t origin_node = 0;  // raft NodeId of the agent whose client is waiting for the answer
  uint64_t request_id = 0;   // that agent's id for the waiting request
  int64_t stamp_ms = 0;      // time stamped by the proposing agent (state machine time source)
  std::variant<PutCommand, GetCommand> op;
  bool operator==(const Command&) const = default;
};

}  // namespace conclave::wire
