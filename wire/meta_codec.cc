// NodeMeta <-> NodeMeta table (wire/meta.fbs): an agent's gossip metadata.
#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/meta_generated.h"

namespace conclave::wire {

namespace fbm = fb::meta;
using detail::FieldReader;
using detail::malformed;
using detail::Where;

namespace {

static_assert(static_cast<int>(fbm::Role::Client) == static_cast<int>(NodeRole::client));
static_assert(static_cast<int>(fbm::Role::Server) == static_cast<int>(NodeRole::server));

const detail::VerifyLimits kMetaLimits{.max_bytes = gossip::kMaxMetadataBytes,
                                       .max_depth = 8,
                                       .max_tables = 8};

}  // namespace

const char* node_role_name(NodeRole role) {
  switch (role) {
    case NodeRole::client: return "client";
    case NodeRole::server: return "server";
  }
  return "unknown";
}

std::string encode_node_meta(const NodeMeta& meta) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto rpc_address = detail::optional_string(builder, meta.rpc_address);
  builder.Finish(fbm::CreateNodeMeta(builder, kProtocolVersion,
                                     static_cast<fbm::Role>(meta.role), rpc_address,
                                     meta.boot_id, meta.server_id, meta.cluster_id,
                                     meta.bootstrap_expect, meta.bootstrap_promise));
  return detail::finish_to_string(builder);
}

Result<NodeMeta> decode_node_meta(std::string_view bytes) {
  const Where meta_where("node metadata");
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<fbm::NodeMeta>(bytes, kMetaLimits, meta_where);
  if (!verified.ok()) return verified.error();
  const auto* table = verified.value().root<fbm::NodeMeta>();
  CONCLAVE_WIRE_TRY(detail::check_version(table->version(), meta_where));
  const auto role = static_cast<uint8_t>(table->role());
  if (role > static_cast<uint8_t>(fbm::Role::MAX)) {
    return malformed(Where(meta_where, "role"), "has unknown value " + std::to_string(role));
  }
  FieldReader reader(bytes.size());
  NodeMeta meta;
  meta.role = static_cast<NodeRole>(role);
  CONCLAVE_WIRE_TRY(reader.read_string(table->rpc_address(), gossip::kMaxAddressBytes,
                                       Where(meta_where, "rpc_address"), meta.rpc_address));
  meta.boot_id = table->boot_id();
  meta.server_id = table->server_id();
  meta.cluster_id = table->cluster_id();
  meta.bootstrap_expect = table->bootstrap_expect();
  meta.bootstrap_promise = table->bootstrap_promise();
  return meta;
}

}  // namespace conclave::wire
