// Agent settings: defaults, then the TOML file (-config), then command-line flags, each layer
// overriding the one before. toml++ is only included by config.cc (it is a heavy header).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace conclave::agent {

// One `[[acl]]` rule as written (agent/access_policy.h): exactly one of user/uid/group/gid,
// kv_prefix and/or lock_prefix (neither for a rule that allows only "admin"), and `allow`.
struct AclRuleConfig {
  std::optional<std::string> user;
  std::optional<int64_t> uid;
  std::optional<std::string> group;
  std::optional<int64_t> gid;
  std::optional<std::string> kv_prefix;
  std::optional<std::string> lock_prefix;
  std::vector<std::string> allow;  // read, write, lock, admin
};

// Everything an agent can be told. Unset optionals take the defaults in resolve_settings().
struct AgentConfig {
  std::optional<bool> dev;
  std::optional<bool> server;
  std::optional<std::string> node_name;
  std::optional<int> bootstrap_expect;
  std::optional<std::string> data_dir;
  std::optional<std::string> bind_addr;
  std::optional<int> gossip_port;
  std::optional<int> server_port;
  std::optional<std::string> socket_path;
  std::optional<std::vector<std::string>> join;
  std::optional<std::string> log_level;
  std::optional<std::string> profile;  // "lan" (default) or "wan"
  // Autopilot (agent/autopilot.h): how long a server must be failed before the leader removes
  // it (a duration such as "10s"), and the fewest voters it may leave.
  std::optional<std::string> autopilot_dead_server;
  std::optional<int> autopilot_min_voters;
  // Lease reads instead of a ReadIndex round per batch of reads (raft::Config::lease_reads):
  // faster, but linearizable only while clocks drift less than 25% over an election timeout.
  std::optional<bool> lease_reads;
  // User tags shown by `conclave members` (-tag key=value, repeatable; TOML table `tags`).
  std::optional<std::map<std::string, std::string>> tags;
  // How long dead and left members stay listed before they are forgotten (a duration such as
  // "24h"; gossip::Options::dead_member_reap_ms).
  std::optional<std::string> reap_after;
  // The cluster key (base64, `conclave keygen`) that seals gossip and agent-to-agent traffic
  // (agent/traffic_keys.h), and the two plaintext-to-encrypted migration switches.
  std::optional<std::string> encrypt;
  std::optional<bool> encrypt_verify_incoming;
  std::optional<bool> encrypt_verify_outgoing;
  // Local access (agent/access_policy.h): the client socket's mode (octal text, default
  // "0660") and group (default: the agent's), the rules, and what no rule covers ("allow" or
  // "deny"; default "allow").
  std::optional<std::string> socket_mode;
  std::optional<std::string> socket_group;
  std::optional<std::vector<AclRuleConfig>> acl;
  std::optional<std::string> acl_default;
};

// "key=value" pairs (from -tag flags) as a map; an error names the bad pair. Keys: 1 to 64 of
// [A-Za-z0-9_.-]; values: up to 256 bytes; at most 32 tags (wire/node_meta.h).
Result<std::map<std::string, std::string>> parse_tags(const std::vector<std::string>& pairs);
Status validate_tags(const std::map<std::string, std::string>& tags, const std::string& source);

// Reads a TOML file. Unknown keys, wrong types and out-of-range values are errors naming the
// file, the key and what is expected.
Result<AgentConfig> load_config_file(const std::string& path);
Result<AgentConfig> parse_config_text(const std::string& text, const std::string& source_name);

// `overrides` fields that are set replace those of `base`.
AgentConfig merge_config(AgentConfig base, const AgentConfig& overrides);

// The TOML keys the file may hold, for help text and error messages.
const std::vector<std::string>& known_config_keys();

}  // namespace conclave::agent
