// The `conclave` command: `conclave agent` runs an agent; the other subcommands are clients of
// the local agent's Unix socket.
//
// Flags may be written consul-style with one dash (-server, -bootstrap-expect 3) or with two;
// everything after a bare `--` is left alone (for values that start with a dash).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/access_config.h"
#include "agent/bench_command.h"
#include "agent/cli_output.h"
#include "agent/txn_text.h"
#include "agent/config.h"
#include "agent/duration.h"
#include "agent/lock_command.h"
#include "agent/runtime.h"
#include "client/client.h"
#include "client/kv_watch.h"
#include "crypto/keyring.h"
#include "wire/codec.h"

using namespace conclave;

namespace {

// Exit codes of the client commands (README "Exit codes"): scripts may rely on them.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;     // any other error (the message says which)
constexpr int kExitUsage = 2;     // a wrong flag or argument
constexpr int kExitNotFound = 3;  // `kv get` of a key that does not exist
constexpr int kExitConflict = 4;  // a failed compare (`kv put -cas`), a refused fenced write
constexpr uint32_t kDefaultTimeoutMs = 5000;

// Rewrites "-long-name" into "--long-name" for the option names we know, so that consul-style
// single-dash flags work with CLI11 (which reads a single dash as a cluster of short flags).
std::vector<std::string> normalise_arguments(int argc, char** argv,
                                             const std::set<std::string>& long_names) {
  std::vector<std::string> result;
  bool options_ended = false;
  for (int i = 0; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--") options_ended = true;
    if (!options_ended && argument.size() > 2 && argument[0] == '-' && argument[1] != '-') {
      const std::string name = argument.substr(1, argument.find('=') - 1);
      if (long_names.count(name) != 0) argument = "-" + argument;
    }
    result.push_back(std::move(argument));
  }
  return result;
}

std::string local_hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "conclave";
  return name;
}

void set_up_logging(const std::string& level_name) {
  auto logger = spdlog::stderr_color_mt("conclave");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level_name));
}

// Settings for `conclave agent`, resolved from defaults, the config file and flags.
// `planted_stale_reads` is the nemesis's planted bug (hidden flag, never for real use).
int run_agent(const agent::AgentConfig& flags, const std::optional<std::string>& config_path,
              bool planted_stale_reads) {
  agent::AgentConfig config;
  if (config_path) {
    auto loaded = agent::load_config_file(*config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "Error: %s\n", loaded.error().message.c_str());
      return kExitUsage;
    }
    config = loaded.value();
  }
  config = agent::merge_config(config, flags);

  const bool dev = config.dev.value_or(false);
  const std::string log_level = config.log_level.value_or("info");
  if (spdlog::level::from_str(log_level) == spdlog::level::off && log_level != "off") {
    std::fprintf(stderr, "Error: unknown log level '%s' (trace, debug, info, warn, error)\n",
                 log_level.c_str());
    return kExitUsage;
  }
  set_up_logging(log_level);

  agent::RuntimeOptions options;
  agent::NodeOptions& node = options.node;
  node.name = config.node_name.value_or(local_hostname());
  node.server = dev || config.server.value_or(false);
  // Only -dev (or an explicit -bootstrap-expect) lets a server form a new cluster; a server
  // started without it runs Raft only from the voters recorded in its data folder.
  node.bootstrap_expect = dev ? 1 : config.bootstrap_expect.value_or(0);
  // A lone server that joins nobody has no one to agree with: no reason to wait (bootstrap.h).
  if (node.bootstrap_expect == 1 && !config.join) node.bootstrap_settle_ms = 0;
  if (dev && config.bootstrap_expect.value_or(1) != 1) {
    std::fprintf(stderr, "Error: -dev runs a one-server cluster; drop -bootstrap-expect\n");
    return kExitUsage;
  }
  if (!node.server && config.bootstrap_expect) {
    std::fprintf(stderr, "Error: -bootstrap-expect only applies to servers; add -server\n");
    return kExitUsage;
  }
  if (!dev && !config.data_dir) {
    std::fprintf(stderr,
                 "Error: -data-dir is required (or run `conclave agent -dev` for a local "
                 "one-server cluster with data in ./conclave-data)\n");
    return kExitUsage;
  }
  options.data_dir = config.data_dir.value_or("conclave-data");
  options.socket_path = config.socket_path.value_or(
      dev ? options.data_dir + "/agent.sock" : std::string(client::kSystemSocketPath));
  const std::string bind = config.bind_addr.value_or("127.0.0.1");
  node.gossip_address = bind + ":" + std::to_string(config.gossip_port.value_or(8301));
  node.rpc_address = bind + ":" + std::to_string(config.server_port.value_or(8300));
  node.join_addresses = config.join.value_or(std::vector<std::string>{});
  node.tags = config.tags.value_or(std::map<std::string, std::string>{});
  {
    // Everything an agent says about itself must fit the gossip metadata.
    wire::NodeMeta largest;
    largest.rpc_address = node.rpc_address;
    largest.boot_id = largest.server_id = largest.cluster_id = largest.bootstrap_promise =
        UINT64_MAX;
    largest.bootstrap_expect = 255;
    largest.tags = node.tags;
    const size_t bytes = wire::encode_node_meta(largest).size();
    if (bytes > gossip::kMaxMetadataBytes) {
      std::fprintf(stderr,
                   "Error: the tags take too much room: this agent's gossip metadata would be "
                   "%zu bytes, at most %zu fit. Use fewer or shorter tags\n",
                   bytes, gossip::kMaxMetadataBytes);
      return kExitUsage;
    }
  }
  if (config.profile.value_or("lan") == "wan") {
    // Slower timings for links with high latency and loss (memberlist's WAN profile).
    node.gossip.probe_interval_ms = 5000;
    node.gossip.probe_timeout_ms = 3000;
    node.gossip.gossip_interval_ms = 500;
    node.gossip.suspicion_multiplier = 6;
    node.gossip.push_pull_interval_ms = 60000;
    node.heartbeat_ticks = 20;   // 200 ms
    node.election_ticks = 200;   // 2-4 s
  }
  if (config.reap_after) {
    auto parsed = agent::parse_duration_ms(*config.reap_after);
    if (!parsed.ok() || parsed.value() < 60000) {
      std::fprintf(stderr, "Error: -reap-after: %s\n",
                   parsed.ok() ? "at least 1m (a member must stay listed long enough to be "
                                 "seen failed or left)"
                               : parsed.error().message.c_str());
      return kExitUsage;
    }
    node.gossip.dead_member_reap_ms = parsed.value();
    node.gossip.dead_member_reconnect_ms =
        std::min(node.gossip.dead_member_reconnect_ms, node.gossip.dead_member_reap_ms);
  }
  if (config.autopilot_dead_server) {
    auto parsed = agent::parse_duration_ms(*config.autopilot_dead_server);
    if (!parsed.ok() || parsed.value() < 1000) {
      std::fprintf(stderr, "Error: -autopilot-dead-server: %s\n",
                   parsed.ok() ? "at least 1s (shorter would remove servers on a blip)"
                               : parsed.error().message.c_str());
      return kExitUsage;
    }
    node.autopilot.dead_server_ms = parsed.value();
  }
  node.lease_reads = config.lease_reads.value_or(false);
  node.inject_stale_reads = planted_stale_reads;
  if (planted_stale_reads) {
    spdlog::warn("-test-only-planted-stale-reads: this server answers every get from its own "
                 "state; reads are NOT linearizable (a planted bug for the nemesis)");
  }
  if (config.autopilot_min_voters) {
    node.autopilot.min_voters = static_cast<size_t>(*config.autopilot_min_voters);
  }
  if (config.encrypt) {
    auto key = crypto::parse_key(*config.encrypt);
    if (!key.ok()) {
      std::fprintf(stderr, "Error: -encrypt: %s\n", key.error().message.c_str());
      return kExitUsage;
    }
    CONCLAVE_CHECK(options.traffic_keys.keyring.install(key.value()).ok(),
                   "an empty keyring takes any key");
  } else if (config.encrypt_verify_incoming || config.encrypt_verify_outgoing) {
    std::fprintf(stderr, "Error: encrypt_verify_incoming and encrypt_verify_outgoing need a key "
                         "(encrypt, or -encrypt)\n");
    return kExitUsage;
  }
  auto socket_access = agent::socket_access_from(config);
  if (!socket_access.ok()) {
    std::fprintf(stderr, "Error: %s\n", socket_access.error().message.c_str());
    return kExitUsage;
  }
  options.socket_access = socket_access.value();
  auto access_policy = agent::access_policy_from(config, static_cast<uint32_t>(::getuid()));
  if (!access_policy.ok()) {
    std::fprintf(stderr, "Error: %s\n", access_policy.error().message.c_str());
    return kExitUsage;
  }
  options.access_policy = std::move(access_policy).value();
  options.traffic_keys.verify_incoming = config.encrypt_verify_incoming.value_or(true);
  options.traffic_keys.verify_outgoing = config.encrypt_verify_outgoing.value_or(true);
  if (options.socket_path.rfind("/run/conclave/", 0) == 0) {
    std::error_code ignored;
    std::filesystem::create_directories("/run/conclave", ignored);
  }
  agent::Runtime runtime(options);
  return runtime.run();
}

int report(const Error& error) {
  std::fprintf(stderr, "Error: %s\n", error.message.c_str());
  return kExitError;
}

Result<client::Client> connect_client(const std::optional<std::string>& socket) {
  auto path = client::find_socket(socket);
  if (!path.ok()) return path.error();
  return client::Client::connect(path.value());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "conclave: a cluster agent. Agents find each other and detect failures by gossip; a few "
      "server agents replicate a key/value store with Raft.\n\nQuick start: `conclave agent "
      "-dev` in one terminal, then `conclave kv put greeting hello` and `conclave kv get "
      "greeting` in another.",
      "conclave"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "conclave 0.1.0");

  // Client options shared by every client subcommand.
  std::optional<std::string> socket;
  uint32_t timeout_ms = kDefaultTimeoutMs;
  std::string format = "table";
  auto add_client_options = [&](CLI::App* command) {
    command->add_option("--socket", socket,
                        "The agent's Unix socket. Default: $CONCLAVE_SOCKET, then "
                        "./conclave-data/agent.sock, then /run/conclave/agent.sock");
    command->add_option("--timeout", timeout_ms, "Milliseconds to wait for an answer")
        ->capture_default_str()
        ->check(CLI::Range(1u, 600000u));
  };

  // conclave agent
  agent::AgentConfig flags;
  std::optional<std::string> config_path;
  bool dev_flag = false, server_flag = false;
  std::vector<std::string> join;
  std::vector<std::string> tag_pairs;
  CLI::App* agent_command = app.add_subcommand(
      "agent",
      "Run an agent in the foreground. `-dev` starts a one-server cluster with data in "
      "./conclave-data; a production server uses -server -bootstrap-expect N -data-dir DIR "
      "-join ADDR.");
  agent_command->add_flag("--dev", dev_flag,
                          "Development mode: one server, bootstrap at once, data and socket in "
                          "./conclave-data, bound to 127.0.0.1");
  agent_command->add_flag("--server", server_flag, "Run as a server (a Raft voter)");
  agent_command->add_option("--bootstrap-expect", flags.bootstrap_expect,
                            "Servers to wait for before electing the first leader (3 or 5)")
      ->check(CLI::Range(1, 7));
  agent_command->add_option("--join", join,
                            "Gossip address (host:port) of an agent to join; repeatable");
  agent_command->add_option("--tag", tag_pairs,
                            "A tag key=value shown by `conclave members` (repeatable; TOML "
                            "table `tags`); changed tags spread when the agent restarts");
  agent_command->add_option("--node", flags.node_name, "Node name, unique in the cluster "
                                                       "(default: the host name)");
  agent_command->add_option("--data-dir", flags.data_dir,
                            "Folder for the SQLite database (required unless -dev)");
  agent_command->add_option("--bind", flags.bind_addr,
                            "IPv4 address to bind and advertise (default 127.0.0.1)");
  agent_command->add_option("--gossip-port", flags.gossip_port, "UDP gossip port (default 8301)")
      ->check(CLI::Range(1, 65535));
  agent_command->add_option("--server-port", flags.server_port,
                            "TCP port for agent-to-agent traffic (default 8300)")
      ->check(CLI::Range(1, 65535));
  agent_command->add_option("--socket", flags.socket_path,
                            "Client Unix socket path (default: <data-dir>/agent.sock with -dev, "
                            "else /run/conclave/agent.sock)");
  agent_command->add_option("--config", config_path,
                            "TOML config file; flags override it. Keys: dev, server, node_name, "
                            "bootstrap_expect, data_dir, bind_addr, socket_path, join, "
                            "log_level, profile, autopilot_dead_server, autopilot_min_voters, "
                            "lease_reads, tags, reap_after, encrypt, encrypt_verify_incoming, "
                            "encrypt_verify_outgoing, socket_mode, socket_group, acl_default, "
                            "[[acl]] rules, [ports] gossip, server (examples/agent.toml)");
  agent_command->add_option("--encrypt", flags.encrypt,
                            "The cluster key (base64, from `conclave keygen`): gossip and "
                            "agent-to-agent traffic are encrypted and authenticated with it, "
                            "and anything else is refused. Every agent needs the same key");
  agent_command->add_option("--encrypt-verify-incoming", flags.encrypt_verify_incoming,
                            "false: also accept unencrypted traffic (only while moving a "
                            "running cluster to encryption; docs/security.md)");
  agent_command->add_option("--encrypt-verify-outgoing", flags.encrypt_verify_outgoing,
                            "false: send unencrypted (only while moving a running cluster to "
                            "encryption; docs/security.md)");
  agent_command->add_option("--log-level", flags.log_level,
                            "trace, debug, info (default), warn, error");
  bool lease_reads_flag = false;
  agent_command->add_flag("--lease-reads", lease_reads_flag,
                          "Serve linearizable reads on the leader's lease instead of a "
                          "heartbeat round (off by default): faster, but only correct while no "
                          "server's clock runs more than 25% fast over an election timeout");
  // Hidden (empty group): a deliberately broken server for scripts/nemesis.sh to catch.
  bool planted_stale_reads_flag = false;
  agent_command
      ->add_flag("--test-only-planted-stale-reads", planted_stale_reads_flag,
                 "BREAKS CONSISTENCY: every server answers every get from its own state")
      ->group("");
  agent_command->add_option("--reap-after", flags.reap_after,
                            "How long dead and left members stay listed before they are "
                            "forgotten (default 24h)");
  agent_command->add_option("--autopilot-dead-server", flags.autopilot_dead_server,
                            "How long a server must be failed in gossip before the leader "
                            "removes it from the Raft membership (default 10s)");
  agent_command->add_option("--autopilot-min-voters", flags.autopilot_min_voters,
                            "The autopilot never removes failed voters below this many "
                            "(default 3)")
      ->check(CLI::Range(1, 7));
  agent_command->add_option("--profile", flags.profile,
                            "Timing profile: lan (default) or wan")
      ->check(CLI::IsMember({"lan", "wan"}));

  // conclave members
  CLI::App* members_command =
      app.add_subcommand("members", "List the cluster members this agent knows, with status");
  add_client_options(members_command);
  members_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  std::string status_filter;
  members_command
      ->add_option("--status", status_filter,
                   "Only members in this state: alive, suspect, failed (listed as dead) or left")
      ->check(CLI::IsMember({"alive", "suspect", "failed", "dead", "left"}));
  std::vector<std::string> tag_filters;
  members_command->add_option("--tag", tag_filters,
                              "Only members with this tag (KEY=VALUE; repeat to require several)");
  bool members_watch = false;
  members_command->add_flag(
      "--watch", members_watch,
      "Stream this agent's membership events until interrupted: first one `member` line per "
      "member now, then joined, updated, suspect, failed, left and reaped as gossip sees them "
      "(one JSON object per line with -format json). The filters apply to the events too");

  // conclave leave
  CLI::App* leave_command = app.add_subcommand(
      "leave",
      "Make the local agent leave the cluster gracefully and stop, as SIGTERM does: a leader "
      "hands leadership over first; the others then list it as left, not failed");
  add_client_options(leave_command);

  // conclave keygen
  CLI::App* keygen_command = app.add_subcommand(
      "keygen", "Print a new random cluster key (32 bytes, base64) for -encrypt / encrypt");

  // conclave status
  CLI::App* status_command = app.add_subcommand(
      "status", "Show this agent's Raft state (role, term, leader, indexes) and counters");
  add_client_options(status_command);
  status_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));

  // conclave kv get|put
  CLI::App* kv_command = app.add_subcommand("kv", "Read and write the replicated key/value store");
  kv_command->require_subcommand(1);
  std::string key, value;
  bool detailed = false;
  CLI::App* get_command = kv_command->add_subcommand(
      "get", "Print the value at KEY (a linearizable read: never stale). Exit 3 if missing");
  get_command->add_option("key", key, "The key")->required();
  get_command->add_flag("--detailed", detailed, "Also print the key's revisions");
  bool stale = false;
  get_command->add_option("--format", format,
                          "table (the value alone) or json ({\"key\", \"value\", "
                          "\"create_revision\", \"mod_revision\", \"version\"})")
      ->check(CLI::IsMember({"table", "json"}));
  get_command->add_flag("--stale", stale,
                        "Answer from the local server's state at once, without confirming with "
                        "the leader: fast and available without a quorum, but possibly behind");
  add_client_options(get_command);
  CLI::App* put_command =
      kv_command->add_subcommand("put", "Set KEY to VALUE (`-` reads the value from stdin)");
  put_command->add_option("key", key, "The key")->required();
  put_command->add_option("value", value, "The value, or - for stdin")->required();
  std::optional<uint64_t> cas_revision;
  put_command->add_option("--cas", cas_revision,
                          "Compare-and-set: write only if KEY's mod revision is REV (0: only if "
                          "KEY does not exist); otherwise exit 4 and say the current revision");
  std::string fence_lock;
  uint64_t fence_token = 0;
  bool fenced = false;
  put_command->add_option("--lock", fence_lock,
                          "Fenced write: apply only while --token holds this lock");
  put_command->add_option("--token", fence_token, "The fencing token for --lock");
  put_command->add_flag("--fenced", fenced,
                        "Fenced write with $CONCLAVE_LOCK_NAME and $CONCLAVE_LOCK_TOKEN (set by "
                        "`conclave lock` for its command)");
  add_client_options(put_command);
  CLI::App* txn_command = kv_command->add_subcommand(
      "txn",
      "Run a transaction read from stdin, atomically: if every comparison holds the `then:` "
      "operations, else the `else:` ones. Exit 0 if the comparisons held, 4 if not.\n\n"
      "  if:\n"
      "    mod(\"config/a\") = 7          # value | version | create | mod; = != < >\n"
      "    value(\"config/b\") != \"x\"\n"
      "  then:\n"
      "    put config/a \"new value\"\n"
      "    del config/tmp/ -prefix\n"
      "    get config/a\n"
      "  else:\n"
      "    get config/a\n\n"
      "Words are bare or \"double-quoted\" (escapes \\\" \\\\ \\n \\t); # starts a comment. "
      "A missing key has no value and version and revisions 0. Prints SUCCESS or FAILURE, "
      "then a line per operation");
  txn_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(txn_command);
  CLI::App* watch_command = kv_command->add_subcommand(
      "watch",
      "Print every change to KEY (or, with -prefix, to every key starting with it) as it "
      "happens, one line per change, in revision order, until interrupted: `PUT KEY VALUE (rev "
      "N)` or `DELETE KEY (rev N)`, or one JSON object per line. From -from-rev N it starts "
      "with the changes since that revision (if still kept: the recent history is bounded). "
      "It follows leader changes and agent restarts without missing or repeating a change. "
      "If it falls behind the history (stopped while more than 100,000 changes went by), it "
      "prints one FELL_BEHIND line (JSON type fell_behind) naming the revisions lost and goes "
      "on from the oldest kept: read the keys again then");
  std::string watch_key;
  watch_command->add_option("key", watch_key, "The key, or the prefix with -prefix");
  bool watch_prefix = false;
  watch_command->add_flag("--prefix", watch_prefix, "Watch every key that starts with KEY");
  uint64_t watch_from = 0;
  watch_command->add_option("--from-rev", watch_from,
                            "Start with the changes at this revision and after (default: the "
                            "next change)");
  watch_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(watch_command);
  CLI::App* ls_command = kv_command->add_subcommand(
      "ls", "List the keys that start with PREFIX (every key without one), in key order: one "
            "per line, or with -values KEY<TAB>VALUE. A linearizable read");
  std::string ls_prefix;
  ls_command->add_option("prefix", ls_prefix, "The prefix");
  bool ls_values = false;
  ls_command->add_flag("--values", ls_values, "Print each key's value after a tab");
  uint64_t ls_limit = 0;
  ls_command->add_option("--limit", ls_limit, "Print at most this many keys (default: all)");
  ls_command->add_option("--format", format,
                         "table or json (an array of {\"key\", \"value\", "
                         "\"create_revision\", \"mod_revision\", \"version\"})")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(ls_command);
  CLI::App* del_command = kv_command->add_subcommand(
      "del", "Delete KEY, or with -prefix every key that starts with it (deleting nothing is "
             "not an error)");
  del_command->add_option("key", key, "The key, or the prefix with -prefix")->required();
  bool del_prefix = false;
  del_command->add_flag("--prefix", del_prefix, "Delete every key that starts with KEY");
  add_client_options(del_command);

  // conclave lock NAME -- CMD ARGS... | conclave lock ls [PREFIX]
  agent::LockCommandOptions lock_options;
  std::string lock_timeout;
  std::string lock_delay;
  bool lock_try = false;
  CLI::App* lock_command = app.add_subcommand(
      "lock",
      "Run CMD while holding the cluster-wide lock NAME: `conclave lock NAME -- CMD ARGS...`. "
      "CMD gets CONCLAVE_LOCK_NAME and CONCLAVE_LOCK_TOKEN (the fencing token). Exit codes: "
      "CMD's own on completion; 124 timed out waiting (or -try found it held); 125 the lock "
      "was lost and CMD was terminated; 126 CMD could not be run; 127 CMD not found; 1 the "
      "agent could not be reached. `conclave lock ls [PREFIX]` lists holders and waiters.");
  lock_command->require_subcommand(0, 1);
  lock_command->add_option("name", lock_options.name, "The lock's name");
  lock_command->add_option("command", lock_options.command, "The command to run, after --");
  lock_command->add_option("-n,--slots", lock_options.limit,
                           "Semaphore: up to N holders at once (every holder must use the same "
                           "N)")
      ->check(CLI::Range(1u, 1000u));
  lock_command->add_option("--timeout", lock_timeout,
                           "Wait at most this long for the lock, e.g. 30s (default: as long as "
                           "it takes)");
  lock_command->add_flag("--try", lock_try, "Do not wait: exit 124 at once if the lock is held");
  lock_command->add_flag("--verbose", lock_options.verbose,
                         "Also note on stderr when the lock is acquired (token, session)");
  lock_command->add_option("--lock-delay", lock_delay,
                           "How long the lock stays blocked after this host is seen failed "
                           "(default 1s, at most 60s)");
  // Not add_client_options: -timeout here is the wait for the lock.
  lock_command->add_option("--socket", socket,
                           "The agent's Unix socket. Default: $CONCLAVE_SOCKET, then "
                           "./conclave-data/agent.sock, then /run/conclave/agent.sock");
  std::string lock_prefix;
  CLI::App* lock_ls_command =
      lock_command->add_subcommand("ls", "List locks with their holders and waiters");
  lock_ls_command->add_option("prefix", lock_prefix, "Only locks whose name starts with this");
  lock_ls_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(lock_ls_command);

  // conclave bench put|get|lock|lock-contended
  agent::BenchOptions bench_options;
  std::vector<std::string> bench_sockets;
  CLI::App* bench_command = app.add_subcommand(
      "bench",
      "Load the cluster through the real socket(s) and report ops/s and latency: `conclave bench "
      "put|get|lock|lock-contended [-clients N] [-ops N] [-value-size BYTES] [-keys N] [-format "
      "json] [--socket PATH ...]`");
  bench_command->add_option("mode", bench_options.mode, "put, get, lock or lock-contended")
      ->required()
      ->check(CLI::IsMember({"put", "get", "lock", "lock-contended"}));
  bench_command->add_option("--clients", bench_options.clients, "Concurrent clients")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  bench_command->add_option("--ops", bench_options.ops, "Operations in all")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  bench_command->add_option("--value-size", bench_options.value_size, "Bytes per value")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, wire::kMaxValueBytes));
  bench_command->add_option("--keys", bench_options.keys, "Distinct keys")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  bench_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  bench_command->add_option("--socket", bench_sockets,
                            "An agent's socket; repeat to spread the clients over agents");
  bench_command->add_option("--timeout", timeout_ms, "Milliseconds to wait for each answer")
      ->capture_default_str();

  // conclave session ls
  CLI::App* session_command = app.add_subcommand("session", "Sessions of the cluster's clients");
  session_command->require_subcommand(1);
  CLI::App* session_ls_command =
      session_command->add_subcommand("ls", "List sessions with their node and locks");
  session_ls_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(session_ls_command);

  // conclave raft peers | transfer-leader [NODE] | remove-peer NODE
  CLI::App* raft_command =
      app.add_subcommand("raft", "Inspect and change the servers' Raft membership");
  raft_command->require_subcommand(1);
  std::string raft_target;
  CLI::App* raft_peers_command = raft_command->add_subcommand(
      "peers",
      "List voters and learners with their replication state (match index, last contact) and "
      "gossip health, as the leader sees them");
  raft_peers_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(raft_peers_command);
  CLI::App* raft_transfer_command = raft_command->add_subcommand(
      "transfer-leader",
      "Hand leadership to NODE (default: the most caught-up voter) without an election "
      "timeout");
  raft_transfer_command->add_option("node", raft_target, "Node name or server id");
  add_client_options(raft_transfer_command);
  CLI::App* raft_remove_command = raft_command->add_subcommand(
      "remove-peer",
      "Remove NODE (a voter or learner) from the membership, e.g. a server that is gone for "
      "good. The autopilot adds it again as a learner if it comes back");
  raft_remove_command->add_option("node", raft_target, "Node name or server id")->required();
  add_client_options(raft_remove_command);

  // conclave keyring list | install KEY | use KEY | remove KEY
  CLI::App* keyring_command = app.add_subcommand(
      "keyring",
      "Rotate the cluster key on a running cluster: the local agent does it and asks every "
      "other alive agent to; each step reports every agent. Rotation: install NEW, then use "
      "NEW, then remove OLD (docs/security.md)");
  keyring_command->require_subcommand(1);
  std::string keyring_key;
  CLI::App* keyring_list_command = keyring_command->add_subcommand(
      "list", "List the keys and how many agents hold each (and use it as primary)");
  keyring_list_command->add_option("--format", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  add_client_options(keyring_list_command);
  CLI::App* keyring_install_command = keyring_command->add_subcommand(
      "install", "Add KEY to every agent's keyring (accepted from then on; not yet used)");
  CLI::App* keyring_use_command = keyring_command->add_subcommand(
      "use", "Make KEY, installed everywhere, the key every agent sends under");
  CLI::App* keyring_remove_command = keyring_command->add_subcommand(
      "remove", "Remove KEY (not the one in use) from every agent's keyring");
  for (CLI::App* command : {keyring_install_command, keyring_use_command,
                            keyring_remove_command}) {
    command->add_option("key", keyring_key, "The key, base64 (`conclave keygen`)")->required();
    command->add_option("--format", format, "table or json")
        ->check(CLI::IsMember({"table", "json"}));
    add_client_options(command);
  }

  // Every long option name, for the single-dash rewrite.
  std::set<std::string> long_names;
  for (CLI::App* command : {&app, agent_command, members_command, leave_command,
                            status_command, get_command,
                            put_command, del_command, ls_command, txn_command, watch_command,
                            lock_command,
                            lock_ls_command,
                            session_ls_command,
                            bench_command, raft_peers_command, raft_transfer_command,
                            raft_remove_command, keyring_list_command, keyring_install_command,
                            keyring_use_command, keyring_remove_command}) {
    for (const CLI::Option* option : command->get_options()) {
      for (const std::string& name : option->get_lnames()) long_names.insert(name);
    }
  }
  std::vector<std::string> arguments = normalise_arguments(argc, argv, long_names);
  std::vector<char*> pointers;
  for (std::string& argument : arguments) pointers.push_back(argument.data());
  try {
    app.parse(static_cast<int>(pointers.size()), pointers.data());
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (keygen_command->parsed()) {
    std::printf("%s\n", crypto::encode_key(crypto::generate_key()).c_str());
    return kExitOk;
  }
  if (agent_command->parsed()) {
    if (dev_flag) flags.dev = true;
    if (server_flag) flags.server = true;
    if (lease_reads_flag) flags.lease_reads = true;
    if (!join.empty()) flags.join = join;
    if (!tag_pairs.empty()) {
      auto tags = agent::parse_tags(tag_pairs);
      if (!tags.ok()) {
        std::fprintf(stderr, "Error: %s\n", tags.error().message.c_str());
        return kExitUsage;
      }
      flags.tags = tags.value();
    }
    return run_agent(flags, config_path, planted_stale_reads_flag);
  }

  if (lock_command->parsed() && !lock_ls_command->parsed()) {
    if (lock_options.name.empty() || lock_options.command.empty()) {
      std::fprintf(stderr, "Error: usage: conclave lock [-n N] [-timeout 30s | -try] NAME -- "
                           "CMD ARGS...\n");
      return kExitUsage;
    }
    if (lock_options.name.size() > wire::kMaxLockNameBytes) {
      std::fprintf(stderr, "Error: a lock name is at most %zu bytes\n", wire::kMaxLockNameBytes);
      return kExitUsage;
    }
    if (lock_try && !lock_timeout.empty()) {
      std::fprintf(stderr, "Error: -try and -timeout exclude each other\n");
      return kExitUsage;
    }
    if (lock_try) lock_options.wait_ms = 0;
    if (!lock_timeout.empty()) {
      auto parsed = agent::parse_duration_ms(lock_timeout);
      if (!parsed.ok() || parsed.value() > 0xffffffffLL) {
        std::fprintf(stderr, "Error: -timeout: %s\n",
                     parsed.ok() ? "at most 49 days" : parsed.error().message.c_str());
        return kExitUsage;
      }
      lock_options.wait_ms = parsed.value() == 0 ? -1 : parsed.value();
    }
    if (!lock_delay.empty()) {
      auto parsed = agent::parse_duration_ms(lock_delay);
      if (!parsed.ok() || parsed.value() > 60000) {
        std::fprintf(stderr, "Error: -lock-delay: %s\n",
                     parsed.ok() ? "at most 60s" : parsed.error().message.c_str());
        return kExitUsage;
      }
      lock_options.lock_delay_ms = static_cast<int32_t>(parsed.value());
    }
    auto path = client::find_socket(socket);
    if (!path.ok()) return report(path.error());
    lock_options.socket = path.value();
    lock_options.request_timeout_ms = timeout_ms;
    return agent::run_lock_command(lock_options);
  }

  if (bench_command->parsed()) {
    if (bench_sockets.empty()) {
      auto path = client::find_socket(std::nullopt);
      if (!path.ok()) return report(path.error());
      bench_sockets.push_back(path.value());
    }
    bench_options.sockets = bench_sockets;
    bench_options.json = format == "json";
    bench_options.timeout_ms = timeout_ms;
    return agent::run_bench(bench_options);
  }

  auto connected = connect_client(socket);
  if (!connected.ok()) return report(connected.error());
  client::Client& agent_client = connected.value();

  if (members_command->parsed()) {
    std::map<std::string, std::string> wanted_tags;
    for (const std::string& filter : tag_filters) {
      const size_t equals = filter.find('=');
      if (equals == std::string::npos || equals == 0) {
        std::fprintf(stderr, "Error: -tag %s: expected KEY=VALUE\n", filter.c_str());
        return kExitUsage;
      }
      wanted_tags[filter.substr(0, equals)] = filter.substr(equals + 1);
    }
    const std::string wanted_state = status_filter == "failed" ? "dead" : status_filter;
    auto filtered_out = [&](const wire::MemberInfo& member) {
      if (!wanted_state.empty() && member.state != wanted_state) return true;
      for (const auto& [key, value] : wanted_tags) {
        auto tag = member.tags.find(key);
        if (tag == member.tags.end() || tag->second != value) return true;
      }
      return false;
    };
    if (members_watch) {
      auto snapshot = agent_client.members_watch(timeout_ms);
      if (!snapshot.ok()) return report(snapshot.error());
      for (const auto& member : snapshot.value().members) {
        if (!filtered_out(member)) agent::print_member_event("member", member, format == "json");
      }
      for (;;) {
        auto event = agent_client.next_member_event(60'000);
        if (!event.ok()) return report(event.error());
        if (event.value() && !filtered_out(event.value()->member)) {
          agent::print_member_event(event.value()->type, event.value()->member,
                                    format == "json");
        }
      }
    }
    auto members = agent_client.members(timeout_ms);
    if (!members.ok()) return report(members.error());
    std::erase_if(members.value().members, filtered_out);
    agent::print_members(members.value(), format == "json");
    return kExitOk;
  }
  if (keyring_command->parsed()) {
    wire::KeyringRequest request;
    request.key = keyring_key;
    request.op = keyring_install_command->parsed() ? wire::KeyringOp::install
                 : keyring_use_command->parsed()   ? wire::KeyringOp::use
                 : keyring_remove_command->parsed() ? wire::KeyringOp::remove
                                                    : wire::KeyringOp::list;
    // The agent waits up to 5 s for the others: leave it room to answer.
    auto answer = agent_client.call(request, std::max<uint32_t>(timeout_ms, 10'000));
    if (!answer.ok()) return report(answer.error());
    if (answer.value().error_code != ErrorCode::ok) {
      return report(Error{answer.value().error_code, answer.value().error_message});
    }
    const auto* keys = std::get_if<wire::KeyringResponse>(&answer.value().body);
    if (keys == nullptr) return report(Error{ErrorCode::internal, "unexpected answer"});
    return agent::print_keyring(*keys, format == "json") ? kExitOk : kExitError;
  }
  if (leave_command->parsed()) {
    if (Status left = agent_client.leave(timeout_ms); !left.ok()) return report(left.error());
    std::printf("the agent is leaving the cluster: it tells the other members, then stops\n");
    return kExitOk;
  }
  if (status_command->parsed()) {
    auto status = agent_client.status(timeout_ms);
    if (!status.ok()) return report(status.error());
    agent::print_status(status.value(), format == "json");
    return kExitOk;
  }
  if (lock_ls_command->parsed()) {
    auto locks = agent_client.lock_list(lock_prefix, timeout_ms);
    if (!locks.ok()) return report(locks.error());
    agent::print_locks(locks.value(), format == "json");
    return kExitOk;
  }
  if (raft_peers_command->parsed()) {
    auto peers = agent_client.raft_peers(timeout_ms);
    if (!peers.ok()) return report(peers.error());
    agent::print_raft_peers(peers.value(), format == "json");
    return kExitOk;
  }
  if (raft_transfer_command->parsed()) {
    if (Status status = agent_client.raft_transfer_leader(raft_target, timeout_ms); !status.ok()) {
      return report(status.error());
    }
    std::fprintf(stderr, "Leadership transfer to %s started\n",
                 raft_target.empty() ? "the most caught-up voter" : raft_target.c_str());
    return kExitOk;
  }
  if (raft_remove_command->parsed()) {
    if (Status status = agent_client.raft_remove_peer(raft_target, timeout_ms); !status.ok()) {
      return report(status.error());
    }
    std::fprintf(stderr, "Removed %s from the Raft membership\n", raft_target.c_str());
    return kExitOk;
  }
  if (session_ls_command->parsed()) {
    auto sessions = agent_client.session_list(timeout_ms);
    if (!sessions.ok()) return report(sessions.error());
    agent::print_sessions(sessions.value(), format == "json");
    return kExitOk;
  }
  if (get_command->parsed()) {
    auto got = agent_client.kv_get(key, timeout_ms, stale);
    if (!got.ok()) return report(got.error());
    if (!got.value().found) {
      std::fprintf(stderr, "Error! No key exists at: %s\n", key.c_str());
      return kExitNotFound;
    }
    if (format == "json") {
      const wire::KvGetResponse& found = got.value();
      const wire::KvEntry entry{key, found.value, found.create_revision, found.mod_revision,
                                found.version};
      std::printf("%s\n", agent::kv_entry_json(entry).c_str());
      return kExitOk;
    }
    std::fwrite(got.value().value.data(), 1, got.value().value.size(), stdout);
    std::fputc('\n', stdout);
    if (detailed) {
      std::printf("create_revision: %llu\nmod_revision:    %llu\nversion:         %llu\n",
                  static_cast<unsigned long long>(got.value().create_revision),
                  static_cast<unsigned long long>(got.value().mod_revision),
                  static_cast<unsigned long long>(got.value().version));
    }
    return kExitOk;
  }
  if (watch_command->parsed()) {
    // Long polls, each from the revision after the last one seen (client/kv_watch.h): a
    // leader change or an agent restart in between loses nothing and repeats nothing.
    client::KvWatch watch(wire::KvWatchRequest{watch_key, watch_prefix, watch_from, 0, 0});
    std::optional<client::Client> reconnected;
    client::Client* watcher = &agent_client;
    std::string last_problem;
    for (;;) {
      auto step = watch.next(*watcher);
      if (step.ok()) {
        last_problem.clear();
        if (step.value().fell_behind) {
          agent::print_watch_fell_behind(*step.value().fell_behind, format == "json");
        }
        for (const wire::KvEvent& event : step.value().events) {
          agent::print_kv_event(event, format == "json");
        }
        continue;
      }
      if (step.error().code == ErrorCode::not_found ||
          step.error().code == ErrorCode::invalid_argument) {
        return report(step.error());
      }
      if (step.error().message != last_problem) {
        std::fprintf(stderr, "watch: %s; retrying\n", step.error().message.c_str());
        last_problem = step.error().message;
      }
      ::usleep(200 * 1000);
      if (step.error().code == ErrorCode::unavailable) {
        // The agent closed the connection (restarting?): connect again.
        auto path = client::find_socket(socket);
        if (path.ok()) {
          auto fresh = client::Client::connect(path.value());
          if (fresh.ok()) {
            reconnected.emplace(std::move(fresh).value());
            watcher = &*reconnected;
          }
        }
      }
    }
  }
  if (txn_command->parsed()) {
    const std::string text((std::istreambuf_iterator<char>(std::cin)),
                           std::istreambuf_iterator<char>());
    auto txn = agent::parse_txn(text);
    if (!txn.ok()) {
      std::fprintf(stderr, "Error: %s\n", txn.error().message.c_str());
      return kExitUsage;
    }
    auto done = agent_client.kv_txn(txn.value(), timeout_ms);
    if (!done.ok()) return report(done.error());
    agent::print_txn(done.value(), format == "json");
    return done.value().succeeded ? kExitOk : kExitConflict;
  }
  if (ls_command->parsed()) {
    // Page through the keys (each page a linearizable read of its own).
    std::vector<wire::KvEntry> entries;
    wire::KvListRequest request;
    request.prefix = ls_prefix;
    request.keys_only = !ls_values && format != "json";
    while (true) {
      if (ls_limit > 0) {
        request.limit = static_cast<uint32_t>(
            std::min<uint64_t>(ls_limit - entries.size(), wire::kMaxListLimit));
      }
      auto page = agent_client.kv_list(request, timeout_ms);
      if (!page.ok()) return report(page.error());
      for (auto& entry : page.value().items) entries.push_back(std::move(entry));
      if (!page.value().more || entries.empty() || (ls_limit > 0 && entries.size() >= ls_limit)) {
        break;
      }
      request.after = entries.back().key;
    }
    agent::print_kv_list(entries, ls_values, format == "json");
    return kExitOk;
  }
  if (del_command->parsed()) {
    auto deleted = agent_client.kv_delete(key, del_prefix, timeout_ms);
    if (!deleted.ok()) return report(deleted.error());
    const unsigned long long count = deleted.value().deleted;
    std::fprintf(stderr, "Success! Deleted %llu key%s %s %s (revision %llu)\n", count,
                 count == 1 ? "" : "s", del_prefix ? "starting with" : "at", key.c_str(),
                 static_cast<unsigned long long>(deleted.value().revision));
    return kExitOk;
  }
  if (put_command->parsed()) {
    if (value == "-") {
      value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    if (fenced) {
      const char* name = std::getenv("CONCLAVE_LOCK_NAME");
      const char* token = std::getenv("CONCLAVE_LOCK_TOKEN");
      if (name == nullptr || token == nullptr) {
        std::fprintf(stderr, "Error: -fenced needs $CONCLAVE_LOCK_NAME and $CONCLAVE_LOCK_TOKEN "
                             "(run it under `conclave lock`)\n");
        return kExitUsage;
      }
      fence_lock = name;
      fence_token = std::strtoull(token, nullptr, 10);
    }
    if (cas_revision && !fence_lock.empty()) {
      std::fprintf(stderr, "Error: -cas and a fenced write (-lock/-fenced) cannot be combined\n");
      return kExitUsage;
    }
    auto put = cas_revision ? agent_client.kv_put_if(key, value, *cas_revision, timeout_ms)
               : fence_lock.empty()
                   ? agent_client.kv_put(key, value, timeout_ms)
                   : agent_client.kv_put_fenced(key, value, fence_lock, fence_token, timeout_ms);
    if (!put.ok()) {
      report(put.error());
      return put.error().code == ErrorCode::conflict ? kExitConflict : kExitError;
    }
    // The confirmation goes to stderr so that stdout carries data only.
    std::fprintf(stderr, "Success! Data written to: %s (revision %llu)\n", key.c_str(),
                 static_cast<unsigned long long>(put.value().revision));
    return kExitOk;
  }
  return kExitUsage;
}
