#include "agent/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "wire/node_meta.h"

namespace conclave::agent {
namespace {

Error config_error(const std::string& source, const std::string& message) {
  return make_error(ErrorCode::invalid_argument, "config " + source + ": " + message);
}

// Only a TOML boolean reads as a bool, and only a TOML integer as an integer (as for ports):
// toml++'s value<int64_t>() would also take a float, and casts one out of range (1e65) without
// a check, which is undefined behaviour (found by config_fuzz).
template <typename T>
Status read_value(const toml::node& node, const std::string& source, const std::string& key,
                  const char* expected, std::optional<T>& out) {
  constexpr bool kInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;
  const bool right_type =
      std::is_same_v<T, bool> == node.is_boolean() && (!kInteger || node.is_integer());
  const std::optional<T> value = right_type ? node.value<T>() : std::nullopt;
  if (!value) return config_error(source, "key '" + key + "' must be " + expected);
  out = *value;
  return Status();
}

Status read_port(const toml::node& node, const std::string& source, const std::string& key,
                 std::optional<int>& out) {
  if (!node.is_integer()) return config_error(source, "key '" + key + "' must be an integer");
  const int64_t port = node.value<int64_t>().value_or(0);
  if (port < 1 || port > 65535) {
    return config_error(source, "key '" + key + "' must be a port number from 1 to 65535");
  }
  out = static_cast<int>(port);
  return Status();
}

// `[[acl]]`: an array of tables, each one rule; errors name the rule by its position.
Status read_acl_rules(const toml::node& node, const std::string& source,
                      std::optional<std::vector<AclRuleConfig>>& out) {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return config_error(source, "key 'acl' must be an array of tables ([[acl]] sections)");
  }
  std::vector<AclRuleConfig> rules;
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string where = "acl rule " + std::to_string(i + 1);
    const toml::table* table = (*array)[i].as_table();
    if (table == nullptr) return config_error(source, where + " must be a table");
    AclRuleConfig rule;
    for (const auto& [raw_key, value] : *table) {
      const std::string key(raw_key.str());
      Status status;
      if (key == "user" || key == "group" || key == "kv_prefix" || key == "lock_prefix") {
        std::optional<std::string> text;
        status = read_value(value, source, where + "." + key, "a string", text);
        if (key == "user") rule.user = text;
        if (key == "group") rule.group = text;
        if (key == "kv_prefix") rule.kv_prefix = text;
        if (key == "lock_prefix") rule.lock_prefix = text;
      } else if (key == "uid" || key == "gid") {
        std::optional<int64_t> id;
        status = read_value(value, source, where + "." + key, "a number", id);
        if (status.ok() && (*id < 0 || *id > UINT32_MAX)) {
          status = config_error(source, where + "." + key + " is out of range");
        }
        (key == "uid" ? rule.uid : rule.gid) = id;
      } else if (key == "allow") {
        const toml::array* allowed = value.as_array();
        if (allowed == nullptr) {
          status = config_error(source, where + ".allow must be an array such as [\"read\"]");
        } else {
          for (const toml::node& element : *allowed) {
            auto word = element.value<std::string>();
            if (!word || (*word != "read" && *word != "write" && *word != "lock" &&
                          *word != "admin")) {
              status = config_error(source, where + ".allow may hold only \"read\", "
                                                    "\"write\", \"lock\" and \"admin\"");
              break;
            }
            rule.allow.push_back(*word);
          }
        }
      } else {
        status = config_error(source, where + " has an unknown key '" + key +
                                          "' (known: user, uid, group, gid, kv_prefix, "
                                          "lock_prefix, allow)");
      }
      if (!status.ok()) return status;
    }
    const int whos = (rule.user ? 1 : 0) + (rule.uid ? 1 : 0) + (rule.group ? 1 : 0) +
                     (rule.gid ? 1 : 0);
    if (whos != 1) {
      return config_error(source, where + " must name exactly one of user, uid, group, gid");
    }
    const bool admin_only =
        !rule.allow.empty() &&
        std::all_of(rule.allow.begin(), rule.allow.end(),
                    [](const std::string& word) { return word == "admin"; });
    if (!rule.kv_prefix && !rule.lock_prefix && !admin_only) {
      return config_error(source, where + " needs kv_prefix or lock_prefix (\"\" covers "
                                          "everything)");
    }
    if (rule.allow.empty()) return config_error(source, where + " needs allow = [...]");
    rules.push_back(std::move(rule));
  }
  out = std::move(rules);
  return Status();
}

std::string key_list() {
  std::string list;
  for (const std::string& key : known_config_keys()) list += (list.empty() ? "" : ", ") + key;
  return list;
}

}  // namespace

Status validate_tags(const std::map<std::string, std::string>& tags, const std::string& source) {
  if (tags.size() > wire::kMaxTags) {
    return make_error(ErrorCode::invalid_argument,
                      source + ": " + std::to_string(tags.size()) + " tags; at most " +
                          std::to_string(wire::kMaxTags));
  }
  for (const auto& [key, value] : tags) {
    const bool key_ok =
        !key.empty() && key.size() <= wire::kMaxTagKeyBytes &&
        std::all_of(key.begin(), key.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
        });
    if (!key_ok) {
      return make_error(ErrorCode::invalid_argument,
                        source + ": tag key '" + key + "' must be 1 to " +
                            std::to_string(wire::kMaxTagKeyBytes) +
                            " characters of A-Z a-z 0-9 _ . -");
    }
    if (value.size() > wire::kMaxTagValueBytes) {
      return make_error(ErrorCode::invalid_argument,
                        source + ": tag '" + key + "' has a value of " +
                            std::to_string(value.size()) + " bytes; at most " +
                            std::to_string(wire::kMaxTagValueBytes));
    }
  }
  return Status();
}

Result<std::map<std::string, std::string>> parse_tags(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> tags;
  for (const std::string& pair : pairs) {
    const size_t equals = pair.find('=');
    if (equals == std::string::npos) {
      return make_error(ErrorCode::invalid_argument,
                        "-tag " + pair + ": expected key=value, e.g. -tag role=web");
    }
    tags[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  if (Status status = validate_tags(tags, "-tag"); !status.ok()) return status.error();
  return tags;
}

const std::vector<std::string>& known_config_keys() {
  static const std::vector<std::string> keys = {
      "dev",       "server",      "node_name", "bootstrap_expect", "data_dir",
      "bind_addr", "socket_path", "join",      "log_level",        "profile",
      "ports.gossip", "ports.server", "autopilot_dead_server", "autopilot_min_voters",
      "lease_reads", "tags", "reap_after", "encrypt", "encrypt_verify_incoming",
      "encrypt_verify_outgoing", "socket_mode", "socket_group", "acl", "acl_default"};
  return keys;
}

Result<AgentConfig> parse_config_text(const std::string& text, const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    return config_error(source, "line " + std::to_string(where.line) + ", column " +
                                    std::to_string(where.column) + ": " +
                                    std::string(error.description()));
  }
  AgentConfig config;
  for (const auto& [raw_key, node] : table) {
    const std::string key(raw_key.str());
    Status status;
    if (key == "dev") {
      status = read_value(node, source, key, "true or false", config.dev);
    } else if (key == "server") {
      status = read_value(node, source, key, "true or false", config.server);
    } else if (key == "node_name") {
      status = read_value(node, source, key, "a string", config.node_name);
    } else if (key == "data_dir") {
      status = read_value(node, source, key, "a string", config.data_dir);
    } else if (key == "bind_addr") {
      status = read_value(node, source, key, "a string (an IPv4 address)", config.bind_addr);
    } else if (key == "socket_path") {
      status = read_value(node, source, key, "a string", config.socket_path);
    } else if (key == "log_level") {
      status = read_value(node, source, key, "a string", config.log_level);
    } else if (key == "profile") {
      status = read_value(node, source, key, "\"lan\" or \"wan\"", config.profile);
    } else if (key == "lease_reads") {
      status = read_value(node, source, key, "true or false", config.lease_reads);
    } else if (key == "socket_mode") {
      status = read_value(node, source, key, "an octal string such as \"0660\"",
                          config.socket_mode);
    } else if (key == "socket_group") {
      status = read_value(node, source, key, "a group name", config.socket_group);
    } else if (key == "acl") {
      status = read_acl_rules(node, source, config.acl);
    } else if (key == "acl_default") {
      status = read_value(node, source, key, "\"allow\" or \"deny\"", config.acl_default);
      if (status.ok() && *config.acl_default != "allow" && *config.acl_default != "deny") {
        status = config_error(source, "key 'acl_default' must be \"allow\" or \"deny\"");
      }
    } else if (key == "encrypt") {
      status = read_value(node, source, key, "a string (a base64 key from `conclave keygen`)",
                          config.encrypt);
    } else if (key == "encrypt_verify_incoming") {
      status = read_value(node, source, key, "true or false", config.encrypt_verify_incoming);
    } else if (key == "encrypt_verify_outgoing") {
      status = read_value(node, source, key, "true or false", config.encrypt_verify_outgoing);
    } else if (key == "reap_after") {
      status = read_value(node, source, key, "a duration string such as \"24h\"",
                          config.reap_after);
    } else if (key == "autopilot_dead_server") {
      status = read_value(node, source, key, "a duration string such as \"10s\"",
                          config.autopilot_dead_server);
    } else if (key == "autopilot_min_voters") {
      std::optional<int64_t> value;
      status = read_value(node, source, key, "an integer", value);
      if (status.ok() && (*value < 1 || *value > 7)) {
        status = config_error(source, "key 'autopilot_min_voters' must be from 1 to 7");
      }
      if (status.ok()) config.autopilot_min_voters = static_cast<int>(*value);
    } else if (key == "bootstrap_expect") {
      std::optional<int64_t> value;
      status = read_value(node, source, key, "an integer", value);
      if (status.ok() && (*value < 1 || *value > 7)) {
        status = config_error(source, "key 'bootstrap_expect' must be from 1 to 7 (3 or 5 is "
                                      "usual)");
      }
      if (status.ok()) config.bootstrap_expect = static_cast<int>(*value);
    } else if (key == "tags") {
      const toml::table* table = node.as_table();
      std::map<std::string, std::string> tags;
      if (table == nullptr) {
        status = config_error(source, "key 'tags' must be a table of strings, e.g. "
                                      "tags = { role = \"web\" }");
      } else {
        for (const auto& [tag_key, tag_value] : *table) {
          auto value = tag_value.value<std::string>();
          if (!value) {
            status = config_error(source, "key 'tags." + std::string(tag_key.str()) +
                                              "' must be a string");
            break;
          }
          tags[std::string(tag_key.str())] = *value;
        }
      }
      if (status.ok()) status = validate_tags(tags, source);
      if (status.ok()) config.tags = tags;
    } else if (key == "join") {
      const toml::array* array = node.as_array();
      std::vector<std::string> seeds;
      if (array == nullptr) {
        status = config_error(source, "key 'join' must be an array of \"host:port\" strings");
      } else {
        for (const toml::node& element : *array) {
          auto seed = element.value<std::string>();
          if (!seed) {
            status = config_error(source, "key 'join' must hold only \"host:port\" strings");
            break;
          }
          seeds.push_back(*seed);
        }
      }
      if (status.ok()) config.join = seeds;
    } else if (key == "ports") {
      const toml::table* ports = node.as_table();
      if (ports == nullptr) {
        status = config_error(source, "key 'ports' must be a table (ports.gossip, ports.server)");
      } else {
        for (const auto& [raw_port_key, port_node] : *ports) {
          const std::string port_key(raw_port_key.str());
          if (port_key == "gossip") {
            status = read_port(port_node, source, "ports.gossip", config.gossip_port);
          } else if (port_key == "server") {
            status = read_port(port_node, source, "ports.server", config.server_port);
          } else {
            status = config_error(source, "unknown key 'ports." + port_key +
                                              "' (known keys: " + key_list() + ")");
          }
          if (!status.ok()) break;
        }
      }
    } else {
      status = config_error(source, "unknown key '" + key + "' (known keys: " + key_list() + ")");
    }
    if (!status.ok()) return status.error();
  }
  if (config.profile && *config.profile != "lan" && *config.profile != "wan") {
    return config_error(source, "key 'profile' must be \"lan\" or \"wan\"");
  }
  return config;
}

Result<AgentConfig> load_config_file(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return config_error(path, "cannot be read (" + std::string(std::strerror(errno)) + ")");
  }
  std::string text;
  char chunk[4096];
  size_t count;
  while ((count = std::fread(chunk, 1, sizeof(chunk), file)) > 0) {
    text.append(chunk, count);
    if (text.size() > 1024 * 1024) {
      std::fclose(file);
      return config_error(path, "is larger than 1 MiB; is it the right file?");
    }
  }
  std::fclose(file);
  return parse_config_text(text, path);
}

AgentConfig merge_config(AgentConfig base, const AgentConfig& overrides) {
  auto take = [](auto& target, const auto& source) {
    if (source) target = source;
  };
  take(base.dev, overrides.dev);
  take(base.server, overrides.server);
  take(base.node_name, overrides.node_name);
  take(base.bootstrap_expect, overrides.bootstrap_expect);
  take(base.data_dir, overrides.data_dir);
  take(base.bind_addr, overrides.bind_addr);
  take(base.gossip_port, overrides.gossip_port);
  take(base.server_port, overrides.server_port);
  take(base.socket_path, overrides.socket_path);
  take(base.join, overrides.join);
  take(base.tags, overrides.tags);
  take(base.log_level, overrides.log_level);
  take(base.profile, overrides.profile);
  take(base.autopilot_dead_server, overrides.autopilot_dead_server);
  take(base.reap_after, overrides.reap_after);
  take(base.autopilot_min_voters, overrides.autopilot_min_voters);
  take(base.lease_reads, overrides.lease_reads);
  take(base.encrypt, overrides.encrypt);
  take(base.encrypt_verify_incoming, overrides.encrypt_verify_incoming);
  take(base.encrypt_verify_outgoing, overrides.encrypt_verify_outgoing);
  take(base.socket_mode, overrides.socket_mode);
  take(base.socket_group, overrides.socket_group);
  take(base.acl, overrides.acl);
  take(base.acl_default, overrides.acl_default);
  return base;
}

}  // namespace conclave::agent
