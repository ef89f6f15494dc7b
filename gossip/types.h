// Plain value types of the gossip core: members, the messages of the SWIM protocol and a packet.
//
// wire/ converts Packet to and from FlatBuffers (one UDP datagram, at most
// Options::max_packet_bytes); the core only ever sees these structs.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace conclave::gossip {

// A member's state as this node believes it (SWIM §4.2 suspicion, plus a graceful leave).
enum class MemberState : uint8_t { alive = 0, suspect = 1, dead = 2, left = 3 };

const char* member_state_name(MemberState state);

// What a member says about itself is opaque to gossip: `metadata`, at most kMaxMetadataBytes,
// set by the agent (agent/node_meta.h: role, RPC address, identity, user tags) and carried in
// every alive update. A newer alive update (higher incarnation) replaces it, so a change
// spreads like any other update.

// "Member `name` at `address` is in `state` as of `incarnation`" (SWIM §4.2). Higher
// incarnations override lower ones; at equal incarnation suspect overrides alive, and dead/left
// override both. Only the member itself raises its incarnation (to refute a suspicion).
struct MemberUpdate {
  std::string name;
  std::string address;  // host:port of its UDP gossip socket
  uint64_t incarnation = 0;
  MemberState state = MemberState::alive;
  std::string metadata; // opaque to gossip, at most kMaxMetadataBytes
  std::string from;     // who declared the suspicion or death (empty for alive)
  // The cluster the member says it belongs to (0: none yet). A member of one cluster never
  // merges a member of another (see Options::cluster_id).
  uint64_t cluster_id = 0;

  bool operator==(const MemberUpdate&) const = default;
};

// Direct probe (SWIM §3.1). `target` is the name the sender believes it is probing; empty when
// probing a seed address whose name is not known yet.
struct Ping {
  uint64_t sequence = 0;
  std::string target;
  bool operator==(const Ping&) const = default;
};

// Answer to a Ping, or relayed answer to a PingReq (same sequence as the request it answers).
struct Ack {
  uint64_t sequence = 0;
  bool operator==(const Ack&) const = default;
};

// Indirect probe request (SWIM §3.1, k indirect probes): "ping `target` at `target_address`
// for me and relay its Ack with my `sequence`". With `nack`, a relay that gets no Ack within
// its probe timeout answers with a Nack (Lifeguard §IV-A), so the requester can tell "the
// target is silent" from "my own packets are not getting through".
struct PingReq {
  uint64_t sequence = 0;
  std::string target;
  std::string target_address;
  bool nack = false;
  bool operator==(const PingReq&) const = default;
};

// A relay's "I pinged the target for you and heard nothing" (same sequence as the PingReq).
struct Nack {
  uint64_t sequence = 0;
  bool operator==(const Nack&) const = default;
};

// Anti-entropy exchange of whole member lists (push-pull). A join sends one to each seed with
// `is_reply = false`; the receiver merges it and answers with its own list (`is_reply = true`).
// `members` may be a truncated list when the whole one does not fit a packet.
struct Sync {
  bool is_reply = false;
  std::vector<MemberUpdate> members;
  bool operator==(const Sync&) const = default;
};

// "The name `name` belongs to the live member at `holder_address`; the agent at
// `claimant_address` announced itself under it too and is refused." Sent by a member that
// knows the holder to both ends, so the newcomer can stop with an error that names the
// conflict and the holder can log it. A live member's address never changes on a claim.
struct NameConflict {
  std::string name;
  std::string holder_address;
  std::string claimant_address;
  bool operator==(const NameConflict&) const = default;
};

// "This member belongs to cluster `cluster_id`, not yours": the answer to a packet from
// another cluster's member, which is dropped. Each side then forgets the other.
struct WrongCluster {
  uint64_t cluster_id = 0;
  bool operator==(const WrongCluster&) const = default;
};

using Message =
    std::variant<Ping, Ack, PingReq, Sync, MemberUpdate, Nack, NameConflict, WrongCluster>;

// One datagram: the sender's name, its cluster (0: none yet) and its messages (probe traffic
// with piggybacked updates).
struct Packet {
  std::string from;
  std::vector<Message> messages;
  uint64_t cluster_id = 0;
  bool operator==(const Packet&) const = default;
};

// Limits on what a packet may hold; wire/ rejects inbound packets beyond them.
constexpr size_t kMaxNameBytes = 128;
constexpr size_t kMaxAddressBytes = 256;
constexpr size_t kMaxMetadataBytes = 512;
constexpr size_t kMaxMessagesPerPacket = 64;
// One Sync sent over TCP (gossip::TcpSync), by the encoded-size bound: room for about 3,000
// members with the longest names, addresses and metadata, 20,000 typical ones; a longer list
// is split into several. Well inside one agent-to-agent frame (wire::kMaxFrameBytes).
constexpr size_t kMaxSyncStreamBytes = 3 * 1024 * 1024;

// A conservative upper bound of the encoded size of one message / a packet header, used by the
// core to fill packets without exceeding max_packet_bytes. wire/ tests that every encoding
// stays within these bounds.
size_t encoded_size_bound(const Message& message);
size_t packet_header_size_bound(const std::string& from);
// The header bound plus every message's bound: what `packet` can take on the wire at most.
size_t packet_size_bound(const Packet& packet);

}  // namespace conclave::gossip
