// Agent-to-agent messages over TCP as plain structs. Each is one length-prefixed frame
// (framing.h) holding a FlatBuffers PeerEnvelope (wire/peer.fbs) with a protocol version.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "gossip/types.h"
#include "raft/types.h"
#include "wire/client_messages.h"

namespace conclave::wire {

// A client request that an agent (the origin) sends to the leader on behalf of a local
// client or of itself. The leader answers with a ForwardResponse of the same forward_id.
struct ForwardRequest {
  uint64_t forward_id = 0;  // the origin's id for this attempt
  uint64_t client_id = 0;   // exactly-once identity: the origin's boot id
  uint64_t sequence = 0;    // writes: the origin's sequence number (0 for reads)
  uint64_t ack_below = 0;   // every sequence below it has been answered at the origin
  uint32_t timeout_ms = 0;  // how long the origin still waits for this answer
  ClientRequest request;
  bool operator==(const ForwardRequest&) const = default;
};

struct ForwardResponse {
  uint64_t forward_id = 0;
  std::string leader;       // the leader as the answering server knows it (a redirect hint)
  ClientResponse response;
  bool operator==(const ForwardResponse&) const = default;
};

// Gossip's TCP fallback probe of `target` (gossip::TcpProbe) and its answer.
struct GossipProbe {
  uint64_t sequence = 0;
  std::string target;
  bool operator==(const GossipProbe&) const = default;
};
struct GossipProbeAck {
  uint64_t sequence = 0;
  bool operator==(const GossipProbeAck&) const = default;
};

// Gossip's push-pull over TCP (gossip::TcpSync): a gossip packet holding one Sync.
struct GossipSync {
  gossip::Packet packet;
  bool operator==(const GossipSync&) const = default;
};

// `conclave keyring ...` fanned out by the agent a client asked (agent/keyring_service.h): the
// operation for the receiving agent to do, and what it did (a KeyringResponse naming only it).
struct KeyringPeerRequest {
  uint64_t request_id = 0;  // the origin's, echoed in the answer
  KeyringRequest request;
  bool operator==(const KeyringPeerRequest&) const = default;
};
struct KeyringPeerResponse {
  uint64_t request_id = 0;
  AgentKeyring result;
  bool operator==(const KeyringPeerResponse&) const = default;
};

using PeerPayload = std::variant<raft::Message, ForwardRequest, ForwardResponse, GossipProbe,
                                 GossipProbeAck, GossipSync, KeyringPeerRequest,
                                 KeyringPeerResponse>;

struct PeerMessage {
  std::string from_name;    // the sending agent's node name
  uint64_t cluster_id = 0;  // the sender's cluster (0: not part of one yet)
  PeerPayload payload;
  bool operator==(const PeerMessage&) const = default;
};

}  // namespace conclave::wire
