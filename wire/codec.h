// Encoders and decoders for every wire format. The only code that includes FlatBuffers.
//
// Decoders verify the buffer (flatbuffers::Verifier), the protocol version, the limits below and
// every enum value before building a plain struct; any failure is an Error with
// code = malformed (or too_large) and a message naming what was wrong. They never crash on any
// input and never read outside `bytes`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "gossip/types.h"
#include "wire/client_messages.h"
#include "wire/command.h"
#include "wire/node_meta.h"
#include "wire/state_records.h"
#include "wire/peer_messages.h"

namespace conclave::wire {

// Every envelope carries this; a decoder rejects any other version.
// Version 2: gossip members carry opaque metadata (identity, role, RPC address) instead of
// tags; peer envelopes carry the cluster id.
constexpr uint16_t kProtocolVersion = 2;

// Named limits (the only place they are defined).
constexpr size_t kMaxGossipPacketBytes = 1400;      // one UDP datagram
constexpr size_t kMaxFrameBytes = 4 * 1024 * 1024;  // one TCP / Unix-socket frame payload
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxValueBytes = 512 * 1024;
constexpr size_t kMaxLockNameBytes = 256;
constexpr size_t kMaxDescriptionBytes = 256;
// Sessions, locks and holders listed in one answer (`session ls`, `lock ls`), and the most
// holders, waiters or cached answers one state record holds.
constexpr size_t kMaxListedItems = 10000;
// One row of the replicated state (a lock with its queue, a client's cached answers).
constexpr size_t kMaxStateRecordBytes = 8 * 1024 * 1024;
constexpr size_t kMaxEntriesPerMessage = 1024;
// Voters, and learners, in one Raft membership entry.
constexpr size_t kMaxGroupMembers = 64;
// As many members as gossip tracks (gossip::Options::max_members). At typical sizes (~100
// bytes each) that fits one frame; lists near the string limits would need paging with the
// response's `more` flag, which comes with larger clusters.
constexpr size_t kMaxMembersPerResponse = 10000;

std::string encode_gossip_packet(const gossip::Packet& packet);
Result<gossip::Packet> decode_gossip_packet(std::string_view bytes);
// A gossip packet sent over TCP (push-pull, wire::GossipSync): the same encoding, up to
// gossip::kMaxSyncStreamBytes, and it must hold Sync messages only (anything else is refused,
// so the stream path cannot carry probes or updates around the datagram limits).
std::string encode_gossip_sync_packet(const gossip::Packet& packet);
Result<gossip::Packet> decode_gossip_sync_packet(std::string_view bytes);

std::string encode_peer_message(const PeerMessage& message);
Result<PeerMessage> decode_peer_message(std::string_view bytes);

std::string encode_client_request(const ClientRequest& request);
Result<ClientRequest> decode_client_request(std::string_view bytes);
// The request_id of a client request that decode_client_request refused (a key or value over
// its limit, an unknown request type), so the refusal can still be answered to the request
// that caused it. 0 when not even the envelope is sound.
uint64_t request_id_of_client_request(std::string_view bytes);

std::string encode_client_response(const ClientResponse& response);
Result<ClientResponse> decode_client_response(std::string_view bytes);

std::string encode_node_meta(const NodeMeta& meta);
Result<NodeMeta> decode_node_meta(std::string_view bytes);

std::string encode_state_meta(const StateMeta& meta);
Result<StateMeta> decode_state_meta(std::string_view bytes);
std::string encode_kv_entry(const KvEntry& entry);
Result<KvEntry> decode_kv_entry(std::string_view bytes);
std::string encode_session_record(const SessionRecord& session);
Result<SessionRecord> decode_session_record(std::string_view bytes);
std::string encode_lock_record(const LockRecord& lock);
Result<LockRecord> decode_lock_record(std::string_view bytes);
std::string encode_dedup_client(const DedupClient& client);
Result<DedupClient> decode_dedup_client(std::string_view bytes);

std::string encode_command(const Command& command);
Result<Command> decode_command(std::string_view bytes);

}  // namespace conclave::wire
