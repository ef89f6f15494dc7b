#include <catch2/catch.hpp>

#include <fstream>

#include "agent/config.h"

using namespace conclave;
using namespace conclave::agent;

TEST_CASE("a full config file parses") {
  auto config = parse_config_text(R"(
dev = false
server = true
node_name = "alpha"
bootstrap_expect = 3
data_dir = "/var/lib/conclave"
bind_addr = "10.0.0.5"
socket_path = "/run/conclave/agent.sock"
join = ["10.0.0.6:8301", "10.0.0.7:8301"]
log_level = "debug"
profile = "wan"
[ports]
gossip = 9301
server = 9300
)", "test.toml");
  REQUIRE(config.ok());
  CHECK(*config.value().server);
  CHECK(*config.value().node_name == "alpha");
  CHECK(*config.value().bootstrap_expect == 3);
  CHECK(config.value().join->size() == 2);
  CHECK(*config.value().gossip_port == 9301);
  CHECK(*config.value().server_port == 9300);
  CHECK(*config.value().profile == "wan");
}

TEST_CASE("config errors name the file, the key and what is expected") {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"bootstrap_expct = 3", "unknown key 'bootstrap_expct'"},
      {"server = \"yes\"", "key 'server' must be true or false"},
      {"bootstrap_expect = 0", "bootstrap_expect' must be from 1 to 7"},
      {"join = \"10.0.0.1:8301\"", "key 'join' must be an array"},
      {"join = [1, 2]", "key 'join' must hold only"},
      {"[ports]\ngossip = 70000", "ports.gossip' must be a port number"},
      {"[ports]\nhttp = 80", "unknown key 'ports.http'"},
      {"profile = \"moon\"", "key 'profile' must be"},
      {"server = ", "line 1"},
  };
  for (const Case& item : cases) {
    auto config = parse_config_text(item.text, "bad.toml");
    INFO(item.text);
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().message.find("config bad.toml") != std::string::npos);
    CHECK(config.error().message.find(item.expected) != std::string::npos);
  }
}

TEST_CASE("flags override the file") {
  AgentConfig file;
  file.server = true;
  file.node_name = "from-file";
  file.gossip_port = 1;
  AgentConfig flags;
  flags.node_name = "from-flag";
  AgentConfig merged = merge_config(file, flags);
  CHECK(*merged.node_name == "from-flag");
  CHECK(*merged.server);
  CHECK(*merged.gossip_port == 1);
}

TEST_CASE("a missing config file is a clear error") {
  auto config = load_config_file("/nonexistent/conclave.toml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().message.find("/nonexistent/conclave.toml") != std::string::npos);
}

TEST_CASE("tags come from -tag key=value or the TOML table, and bad ones are named") {
  auto parsed = parse_config_text("tags = { role = \"web\", zone = \"eu-1a\" }\n", "agent.toml");
  REQUIRE(parsed.ok());
  const std::map<std::string, std::string> expected = {{"role", "web"}, {"zone", "eu-1a"}};
  CHECK(parsed.value().tags == expected);
  auto flags = parse_tags({"role=web", "zone=eu-1a", "role=db"});
  REQUIRE(flags.ok());
  CHECK(flags.value().at("role") == "db");  // the last one wins
  auto no_equals = parse_tags({"role"});
  REQUIRE_FALSE(no_equals.ok());
  CHECK_THAT(no_equals.error().message, Catch::Contains("expected key=value"));
  auto bad_key = parse_tags({"ro le=web"});
  REQUIRE_FALSE(bad_key.ok());
  CHECK_THAT(bad_key.error().message, Catch::Contains("tag key 'ro le'"));
  auto not_string = parse_config_text("tags = { port = 8080 }\n", "agent.toml");
  REQUIRE_FALSE(not_string.ok());
  CHECK_THAT(not_string.error().message, Catch::Contains("'tags.port' must be a string"));
}

TEST_CASE("reap_after is a duration string in the file") {
  auto parsed = parse_config_text("reap_after = \"48h\"\n", "agent.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed.value().reap_after == std::optional<std::string>("48h"));
  auto wrong = parse_config_text("reap_after = 48\n", "agent.toml");
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains("reap_after"));
}

// examples/agent.toml documents every key the agent reads: it parses, and sets each one.
TEST_CASE("the sample examples/agent.toml parses and sets every known key") {
  const std::string path = std::string(CONCLAVE_SOURCE_ROOT) + "/examples/agent.toml";
  auto loaded = agent::load_config_file(path);
  INFO((loaded.ok() ? std::string() : loaded.error().message));
  REQUIRE(loaded.ok());
  const agent::AgentConfig& config = loaded.value();
  CHECK(config.dev.has_value());
  CHECK(config.server.has_value());
  CHECK(config.node_name.has_value());
  CHECK(config.bootstrap_expect.has_value());
  CHECK(config.data_dir.has_value());
  CHECK(config.bind_addr.has_value());
  CHECK(config.gossip_port.has_value());
  CHECK(config.server_port.has_value());
  CHECK(config.socket_path.has_value());
  CHECK(config.join.has_value());
  CHECK(config.log_level.has_value());
  CHECK(config.profile.has_value());
  CHECK(config.autopilot_dead_server.has_value());
  CHECK(config.autopilot_min_voters.has_value());
  CHECK(config.lease_reads.has_value());
  CHECK(config.tags.has_value());
  CHECK(config.reap_after.has_value());
  CHECK(config.encrypt.has_value());
  CHECK(config.encrypt_verify_incoming.has_value());
  CHECK(config.encrypt_verify_outgoing.has_value());
  CHECK(config.socket_mode.has_value());
  CHECK(config.socket_group.has_value());
  CHECK(config.acl_default.has_value());
  REQUIRE(config.acl.has_value());
  CHECK(config.acl->size() == 1);
  // Every key the agent knows is in the sample (the list above must grow with them).
  std::ifstream file(path);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  for (const std::string& key : agent::known_config_keys()) {
    const std::string last = key.substr(key.find('.') == std::string::npos ? 0 : key.find('.') + 1);
    INFO(key);
    CHECK((text.find("\n" + last + " = ") != std::string::npos ||
           text.find("\n[" + key + "]") != std::string::npos ||
           text.find("\n[[" + key + "]]") != std::string::npos));
  }
}

TEST_CASE("acl rules: each names one user or group, covers a prefix and allows known words") {
  auto parsed = parse_config_text(
      "acl_default = \"deny\"\n"
      "[[acl]]\nuser = \"backup\"\nkv_prefix = \"backup/\"\nallow = [\"read\", \"write\"]\n"
      "[[acl]]\ngid = 50\nallow = [\"admin\"]\n",
      "agent.toml");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.value().acl->size() == 2);
  CHECK(parsed.value().acl->at(0).user == std::optional<std::string>("backup"));
  CHECK(parsed.value().acl->at(1).gid == std::optional<int64_t>(50));
  CHECK(parsed.value().acl_default == std::optional<std::string>("deny"));
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"[[acl]]\nuser = \"a\"\nuid = 3\nkv_prefix = \"\"\nallow = [\"read\"]\n",
       "acl rule 1 must name exactly one of user, uid, group, gid"},
      {"[[acl]]\nuser = \"a\"\nallow = [\"read\"]\n", "acl rule 1 needs kv_prefix or lock_prefix"},
      {"[[acl]]\nuser = \"a\"\nkv_prefix = \"\"\nallow = [\"fly\"]\n",
       "acl rule 1.allow may hold only"},
      {"[[acl]]\nuser = \"a\"\nkv_prefix = \"\"\nallow = [\"read\"]\ncolour = 1\n",
       "acl rule 1 has an unknown key 'colour'"},
      {"acl_default = \"maybe\"\n", "acl_default"},
  };
  for (const auto& [text, message] : wrong) {
    auto refused = parse_config_text(text, "agent.toml");
    INFO(text);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains(message));
  }
}

TEST_CASE("a number key given a float is refused, however large (no out-of-range cast)") {
  for (const char* text : {"bootstrap_expect = 1e300\n", "bootstrap_expect = 3.0\n",
                           "autopilot_min_voters = -1e300\n"}) {
    auto refused = parse_config_text(text, "agent.toml");
    INFO(text);
    REQUIRE_FALSE(refused.ok());
  }
}
