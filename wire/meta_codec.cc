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
                                       .max_tables = 8 + kMaxTags};

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
  std::vector<flatbuffers::Offset<fbm::Tag>> tags;
  for (const auto& [key, value] : meta.tags) {
    const auto key_offset = builder.CreateString(key);
    const auto value_offset = builder.CreateString(value);
    tags.push_back(fbm::CreateTag(builder, key_offset, value_offset));
  }
  const auto tags_vector = tags.empty() ? 0 : builder.CreateVector(tags);
  builder.Finish(fbm::CreateNodeMeta(builder, kProtocolVersion,
                                     static_cast<fbm::Role>(meta.role), rpc_address,
                                     meta.boot_id, meta.server_id, meta.cluster_id,
                                     meta.bootstrap_expect, meta.bootstrap_promise,
                                     tags_vector));
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
  const auto* tags = table->tags();
  CONCLAVE_WIRE_TRY(detail::check_count(tags, kMaxTags, Where(meta_where, "tags")));
  if (tags != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < tags->size(); ++i) {
      const Where tag_where(meta_where, "tag", i);
      std::string key;
      std::string value;
      CONCLAVE_WIRE_TRY(
          reader.read_string(tags->Get(i)->key(), kMaxTagKeyBytes, Where(tag_where, "key"), key));
      CONCLAVE_WIRE_TRY(reader.read_string(tags->Get(i)->value(), kMaxTagValueBytes,
                                           Where(tag_where, "value"), value));
      meta.tags[std::move(key)] = std::move(value);
    }
  }
  return meta;
}

}  // namespace conclave::wire
