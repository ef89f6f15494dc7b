// libFuzzer target: parse_config_text on arbitrary text (built and run by scripts/fuzz.sh).
// A config file is rejected with a message naming it, or accepted with every value within the
// limits the parser promises (agent/config.h); merging it with itself is harmless.
//
// Linked with toml++ as conclave is (Debian 12's libtomlplusplus 3.3.0), which is neither
// instrumented nor sanitized. Compiled header-only with the sanitizers instead, toml++ 3.3.0
// stops within minutes on bugs of its own, all known upstream, whose inputs
// tests/fuzz/regressions/config_fuzz/ keeps (the shipped library rejects each with a parse
// error):
//  - toml_header_key_starts_with_*: a table header whose key starts with a character that
//    cannot start a key ("[&") fails a debug assertion in parse_key() (marzer/tomlplusplus#294,
//    fixed by #301); the code after it reports the parse error.
//  - toml_time_starts_with_at_sign: the same in parse_time() ("1979-05-27T@7:32:00Z").
//  - toml_non_ascii_*: some non-ASCII code points (U+00A1 to U+0499, among others) where
//    whitespace may be ("node_name = é") reach __builtin_unreachable() in
//    is_non_ascii_horizontal_whitespace() (undefined behaviour in every build, the shipped one
//    included; marzer/tomlplusplus#295, fixed by #305).
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/config.h"
#include "common/check.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using conclave::agent::AclRuleConfig;
using conclave::agent::AgentConfig;

void check_accepted(const AgentConfig& config) {
  for (const auto& port : {config.gossip_port, config.server_port}) {
    CONCLAVE_CHECK(!port || (*port >= 1 && *port <= 65535), "accepted a port out of range");
  }
  for (const auto& count : {config.bootstrap_expect, config.autopilot_min_voters}) {
    CONCLAVE_CHECK(!count || (*count >= 1 && *count <= 7), "accepted a count out of range");
  }
  CONCLAVE_CHECK(!config.profile || *config.profile == "lan" || *config.profile == "wan",
                 "accepted an unknown profile");
  CONCLAVE_CHECK(!config.acl_default || *config.acl_default == "allow" ||
                     *config.acl_default == "deny",
                 "accepted an unknown acl_default");
  if (config.tags) {
    CONCLAVE_CHECK(conclave::agent::validate_tags(*config.tags, "fuzz").ok(),
                   "accepted tags that validate_tags refuses");
  }
  if (config.acl) {
    for (const AclRuleConfig& rule : *config.acl) {
      const int whos = (rule.user ? 1 : 0) + (rule.uid ? 1 : 0) + (rule.group ? 1 : 0) +
                       (rule.gid ? 1 : 0);
      CONCLAVE_CHECK(whos == 1, "accepted an acl rule that does not name exactly one subject");
      CONCLAVE_CHECK(!rule.allow.empty(), "accepted an acl rule that allows nothing");
      for (const auto& id : {rule.uid, rule.gid}) {
        CONCLAVE_CHECK(!id || (*id >= 0 && *id <= UINT32_MAX), "accepted an id out of range");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace conclave::agent;
  const std::string text(conclave::wire::fuzz::as_view(data, size));
  const auto parsed = parse_config_text(text, "fuzz.toml");
  if (!parsed.ok()) {
    CONCLAVE_CHECK(parsed.error().message.find("fuzz.toml") != std::string::npos,
                   "a config error does not name the file");
    return 0;
  }
  check_accepted(parsed.value());
  check_accepted(merge_config(parsed.value(), parsed.value()));
  check_accepted(merge_config(AgentConfig{}, parsed.value()));
  return 0;
}
