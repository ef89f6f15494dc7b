// Agent-to-agent messages over TCP as plain structs. Each is one length-prefixed frame
// (framing.h) holding a FlatBuffers PeerEnvelope (wire/peer.fbs) with a protocol version.
#pragma once

#include <string>

#include "raft/types.h"

namespace conclave::wire {

struct PeerMessage {
  std::string from_name;    // the sending agent's node name
  uint64_t cluster_id = 0;  // the sender's cluster (0: not part of one yet)
  raft::Message raft;
  bool operator==(const PeerMessage&) const = default;
};

}  // namespace conclave::wire
