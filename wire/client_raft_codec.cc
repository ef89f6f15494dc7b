// The client protocol's `conclave raft` admin bodies (wire/client.fbs).
#include <type_traits>

#include "gossip/types.h"
#include "wire/client_codec_parts.h"
#include "wire/codec.h"

namespace conclave::wire::detail {
namespace {

// A server id in hex, or a node name: both fit a gossip name.
constexpr size_t kMaxTargetBytes = gossip::kMaxNameBytes;
constexpr size_t kMaxHealthBytes = 16;

Error no_table(const Where& where, const char* type_name) {
  return malformed(where, std::string("has type ") + type_name + " but no table");
}

}  // namespace

EncodedRequest encode_raft_admin_request(flatbuffers::FlatBufferBuilder& builder,
                                         const RaftAdminRequest& body) {
  const auto target = optional_string(builder, std::string_view(body.target));
  return {fbc::RequestBody::RaftAdminRequest,
          fbc::CreateRaftAdminRequest(builder, static_cast<uint8_t>(body.op), target).Union()};
}

Result<ClientRequestBody> decode_raft_admin_request(const fbc::ClientRequest& request,
                                                    FieldReader& reader, const Where& where) {
  const auto* table = request.body_as_RaftAdminRequest();
  if (table == nullptr) return no_table(where, "RaftAdminRequest");
  if (table->op() > static_cast<uint8_t>(RaftAdminOp::remove_peer)) {
    return malformed(Where(where, "op"), "has unknown value " + std::to_string(table->op()));
  }
  RaftAdminRequest body;
  body.op = static_cast<RaftAdminOp>(table->op());
  CONCLAVE_WIRE_TRY(
      reader.read_string(table->target(), kMaxTargetBytes, Where(where, "target"), body.target));
  return ClientRequestBody(std::move(body));
}

EncodedResponse encode_raft_peers_response(flatbuffers::FlatBufferBuilder& builder,
                                           const RaftPeersResponse& body) {
  std::vector<flatbuffers::Offset<fbc::RaftPeer>> peers;
  for (const RaftPeer& peer : body.peers) {
    const auto name = optional_string(builder, std::string_view(peer.name));
    const auto server_id = optional_string(builder, std::string_view(peer.server_id));
    const auto health = optional_string(builder, std::string_view(peer.health));
    peers.push_back(fbc::CreateRaftPeer(builder, name, server_id, peer.voter, peer.leader,
                                        peer.match_index, peer.last_contact_ms, health));
  }
  const auto vector = peers.empty() ? 0 : builder.CreateVector(peers);
  return {fbc::ResponseBody::RaftPeersResponse,
          fbc::CreateRaftPeersResponse(builder, vector, body.commit_index, body.last_index)
              .Union()};
}

Result<ClientResponseBody> decode_raft_peers_response(const fbc::ClientResponse& response,
                                                      FieldReader& reader, const Where& where) {
  const auto* table = response.body_as_RaftPeersResponse();
  if (table == nullptr) return no_table(where, "RaftPeersResponse");
  RaftPeersResponse body;
  body.commit_index = table->commit_index();
  body.last_index = table->last_index();
  const auto* peers = table->peers();
  CONCLAVE_WIRE_TRY(check_count(peers, kMaxGroupMembers * 2, Where(where, "peers")));
  if (peers != nullptr) {
    body.peers.resize(peers->size());
    for (flatbuffers::uoffset_t i = 0; i < peers->size(); ++i) {
      const fbc::RaftPeer* peer = peers->Get(i);
      RaftPeer& out = body.peers[i];
      const Where peer_where(where, "peer", i);
      CONCLAVE_WIRE_TRY(reader.read_string(peer->name(), gossip::kMaxNameBytes,
                                           Where(peer_where, "name"), out.name));
      CONCLAVE_WIRE_TRY(reader.read_string(peer->server_id(), kMaxTargetBytes,
                                           Where(peer_where, "server_id"), out.server_id));
      CONCLAVE_WIRE_TRY(reader.read_string(peer->health(), kMaxHealthBytes,
                                           Where(peer_where, "health"), out.health));
      out.voter = peer->voter();
      out.leader = peer->leader();
      out.match_index = peer->match_index();
      out.last_contact_ms = peer->last_contact_ms();
    }
  }
  return ClientResponseBody(std::move(body));
}

}  // namespace conclave::wire::detail
