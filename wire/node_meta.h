// NodeMeta: what an agent says about itself to the other agents, carried as the opaque
// metadata of its gossip member record (encoded with wire/meta.fbs, at most
// gossip::kMaxMetadataBytes). Only agent/ gives it meaning; gossip/ just spreads the bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace conclave::wire {

enum class NodeRole : uint8_t { client = 0, server = 1 };

constexpr size_t kMaxTags = 32;
constexpr size_t kMaxTagKeyBytes = 64;
constexpr size_t kMaxTagValueBytes = 256;

const char* node_role_name(NodeRole role);

struct NodeMeta {
  NodeRole role = NodeRole::client;
  std::string rpc_address;         // host:port of the agent's TCP listener
  uint64_t boot_id = 0;            // random per process start
  uint64_t server_id = 0;          // a server's Raft id (created with its data folder); 0 client
  uint64_t cluster_id = 0;         // 0 until part of a bootstrapped cluster
  uint8_t bootstrap_expect = 0;    // servers: -bootstrap-expect; 0 = never bootstrap
  uint64_t bootstrap_promise = 0;  // digest of the promised bootstrap set; 0 = none
  // User tags (`-tag key=value`): at most kMaxTags, keys up to kMaxTagKeyBytes, values up to
  // kMaxTagValueBytes; all of it within the 512 bytes of gossip metadata (the agent checks at
  // startup).
  std::map<std::string, std::string> tags;

  bool operator==(const NodeMeta&) const = default;
};

}  // namespace conclave::wire
