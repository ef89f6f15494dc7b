// The nemesis (layer 5, docs/reliability.md): real `conclave agent` processes on loopback
// addresses, three workloads through the real client path, and faults drawn from a printed
// seed (fault_plan.h) applied with iptables and signals (nemesis_cluster.h). At the end the
// cluster is healed, the set is read once, and every history is checked: registers for
// linearizability, locks for token order, exclusion and fenced writes, the set for lost adds.
// Run it through scripts/nemesis.sh, which sets the environment below and ends with the
// summary line.
//
//   CONCLAVE_NEMESIS_DURATION_S   how long faults are injected (default 120)
//   CONCLAVE_NEMESIS_SEED         the schedule's seed (default: drawn and printed)
//   CONCLAVE_NEMESIS_KINDS        comma-separated fault kinds (default: all)
//   CONCLAVE_NEMESIS_PLANTED_BUG  "stale-reads": every server answers gets from its own state
//   CONCLAVE_NEMESIS_SUMMARY      a file to write the summary line to
//   CONCLAVE_NEMESIS_LOG_DIR      where the agents' logs are copied when the run fails
#include <catch2/catch.hpp>

#include <sys/random.h>

#include <cstdarg>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "check/history_report.h"
#include "check/history_shrink.h"
#include "tests/nemesis/fault_plan.h"
#include "tests/nemesis/nemesis_cluster.h"
#include "tests/nemesis/workloads.h"

using namespace conclave;
using namespace conclave::nemesis;

namespace {

struct Settings {
  int64_t duration_s = 120;
  uint64_t seed = 0;
  std::vector<FaultKind> kinds;
  bool planted_stale_reads = false;
  std::string summary_path;
  std::string log_dir = "nemesis-logs";
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

Settings settings_from_environment() {
  Settings settings;
  if (!env("CONCLAVE_NEMESIS_DURATION_S").empty()) {
    settings.duration_s = std::stoll(env("CONCLAVE_NEMESIS_DURATION_S"));
  }
  if (!env("CONCLAVE_NEMESIS_SEED").empty()) {
    settings.seed = std::stoull(env("CONCLAVE_NEMESIS_SEED"));
  } else {
    uint32_t drawn = 0;
    REQUIRE(getrandom(&drawn, sizeof(drawn), 0) == static_cast<ssize_t>(sizeof(drawn)));
    settings.seed = drawn;
  }
  std::stringstream kinds(env("CONCLAVE_NEMESIS_KINDS"));
  for (std::string name; std::getline(kinds, name, ',');) {
    if (name.empty()) continue;
    auto kind = fault_kind_named(name);
    INFO("unknown fault kind " << name);
    REQUIRE(kind.has_value());
    settings.kinds.push_back(*kind);
  }
  const std::string planted = env("CONCLAVE_NEMESIS_PLANTED_BUG");
  REQUIRE((planted.empty() || planted == "stale-reads"));
  settings.planted_stale_reads = planted == "stale-reads";
  settings.summary_path = env("CONCLAVE_NEMESIS_SUMMARY");
  if (!env("CONCLAVE_NEMESIS_LOG_DIR").empty()) settings.log_dir = env("CONCLAVE_NEMESIS_LOG_DIR");
  return settings;
}

void say(const char* format, ...) __attribute__((format(printf, 1, 2)));
void say(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
  std::printf("\n");
  std::fflush(stdout);
}

std::string with_commas(uint64_t n) {
  std::string digits = std::to_string(n);
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) digits.insert(static_cast<size_t>(at), ",");
  return digits;
}

void keep_logs(const std::filesystem::path& from, const std::string& to) {
  std::error_code ignored;
  std::filesystem::create_directories(to, ignored);
  for (const auto& entry : std::filesystem::directory_iterator(from, ignored)) {
    if (entry.path().extension() == ".log") {
      std::filesystem::copy_file(entry.path(), std::filesystem::path(to) / entry.path().filename(),
                                 std::filesystem::copy_options::overwrite_existing, ignored);
    }
  }
}

}  // namespace

TEST_CASE("nemesis: faults on real agents, histories checked") {
  const Settings settings = settings_from_environment();
  say("nemesis: seed %llu, %lld s of faults%s (replay: scripts/nemesis.sh -seed %llu -duration %lld)",
      static_cast<unsigned long long>(settings.seed), static_cast<long long>(settings.duration_s),
      settings.planted_stale_reads ? ", PLANTED BUG stale-reads" : "",
      static_cast<unsigned long long>(settings.seed), static_cast<long long>(settings.duration_s));

  testing::TempFolder folder;
  testing::LoopbackFirewall firewall;
  std::vector<std::string> agent_args;
  if (settings.planted_stale_reads) agent_args.push_back("-test-only-planted-stale-reads");
  NemesisCluster cluster(folder.path(), firewall, agent_args);
  {
    const bool started = cluster.start(30000);
    if (!started) keep_logs(folder.path(), settings.log_dir);
    INFO("the cluster did not form; agents' logs in " << settings.log_dir);
    REQUIRE(started);
  }

  WorkloadOptions workload_options;
  workload_options.sockets = cluster.sockets();
  workload_options.seed = settings.seed;
  Workloads workloads(workload_options);
  workloads.start();

  FaultPlanOptions plan_options;
  plan_options.kinds = settings.kinds;
  const auto plan = plan_faults(settings.seed, 10000, plan_options);
  const int64_t started_ms = monotonic_ms();
  auto at = [&] { return static_cast<double>(monotonic_ms() - started_ms) / 1000.0; };
  std::map<std::string, int> faults_by_kind;
  // Per fault kind, what the workloads did in its cycles (from the end of the previous cycle:
  // the quiet time, the fault, the healing until one leader).
  struct CycleTotals {
    uint64_t register_ok = 0, register_unknown = 0, lock_grants = 0, lock_errors = 0,
             set_ok = 0, set_unknown = 0;
  };
  std::map<std::string, CycleTotals> cycles_by_kind;
  CycleTotals before;
  auto snapshot = [&] {
    const WorkloadCounts& now = workloads.counts();
    return CycleTotals{now.register_ok, now.register_unknown, now.lock_grants,
                       now.lock_errors, now.set_ok, now.set_unknown};
  };
  int slow_recoveries = 0;
  for (const PlannedFault& fault : plan) {
    if (monotonic_ms() - started_ms + fault.quiet_before_ms + fault.duration_ms >
        settings.duration_s * 1000) {
      break;
    }
    testing::sleep_ms(static_cast<int>(fault.quiet_before_ms));
    const std::string did = cluster.apply(fault);
    say("nemesis: %6.1f s  %s for %.1f s: %s", at(), fault_kind_name(fault.kind),
        static_cast<double>(fault.duration_ms) / 1000.0, did.c_str());
    testing::sleep_ms(static_cast<int>(fault.duration_ms));
    const std::string healed = cluster.heal();
    const int64_t leader_ms = cluster.wait_for_leader(30000);
    if (leader_ms < 0) ++slow_recoveries;
    say("nemesis: %6.1f s  %s; %s; %s", at(), healed.c_str(),
        leader_ms >= 0 ? ("one leader after " + std::to_string(leader_ms) + " ms").c_str()
                       : "NO agreed leader 30 s after healing",
        workloads.progress().c_str());
    ++faults_by_kind[fault_kind_name(fault.kind)];
    const CycleTotals after = snapshot();
    CycleTotals& totals = cycles_by_kind[fault_kind_name(fault.kind)];
    totals.register_ok += after.register_ok - before.register_ok;
    totals.register_unknown += after.register_unknown - before.register_unknown;
    totals.lock_grants += after.lock_grants - before.lock_grants;
    totals.lock_errors += after.lock_errors - before.lock_errors;
    totals.set_ok += after.set_ok - before.set_ok;
    totals.set_unknown += after.set_unknown - before.set_unknown;
    before = after;
  }
  testing::sleep_ms(2000);
  workloads.stop();
  const double fault_seconds = at();
  auto final_set = workloads.read_set(60000);

  // The checks, with times shown from the workloads' start.
  std::vector<std::string> problems;
  const int64_t origin_ms = workloads.started_ms();
  auto register_history = workloads.register_history();
  for (auto& op : register_history) {
    op.invoke_ms -= origin_ms;
    if (op.response_ms) *op.response_ms -= origin_ms;
  }
  auto grants = workloads.lock_grants();
  for (auto& grant : grants) {
    grant.invoke_ms -= origin_ms;
    grant.granted_ms -= origin_ms;
    grant.valid_until_ms -= origin_ms;
    if (grant.gave_up_ms) *grant.gave_up_ms -= origin_ms;
  }
  auto linearizable = check::check_linearizable(register_history);
  REQUIRE(linearizable.ok());
  size_t register_keys = 0, inconclusive = 0;
  for (const auto& key : linearizable.value().keys) {
    ++register_keys;
    if (key.verdict == check::Verdict::violation) {
      problems.push_back("register " + key.key + " not linearizable");
      say("nemesis: VIOLATION on register %s: %s", key.key.c_str(), key.explanation.c_str());
      for (const auto& line : key.slice) say("nemesis:     %s", line.c_str());
      std::vector<check::Operation> key_history;
      for (const auto& op : register_history) {
        if (op.key == key.key) key_history.push_back(op);
      }
      const auto shrunk = check::shrink_violation(key_history, key.stuck_response_ms);
      say("nemesis:   the smallest slice found that is still not linearizable (%zu of %zu "
          "operations, times in ms from the workloads' start):",
          shrunk.operations.size(), key_history.size());
      for (const auto& op : shrunk.operations) {
        say("nemesis:     %s", check::format_operation(op).c_str());
      }
    } else if (key.verdict == check::Verdict::inconclusive) {
      ++inconclusive;
      problems.push_back("register " + key.key + " inconclusive");
      say("nemesis: INCONCLUSIVE register %s: %s", key.key.c_str(), key.explanation.c_str());
    }
  }
  const auto writes = workloads.fenced_counter().accepted_writes();
  const auto locks = check::check_lock_history(grants, writes);
  for (const auto& violation : locks.violations) {
    problems.push_back("lock");
    say("nemesis: VIOLATION on the lock: %s", violation.c_str());
  }
  check::SetVerdict set;
  if (!final_set.ok()) {
    problems.push_back("set not read");
    say("nemesis: %s", final_set.error().message.c_str());
  } else {
    set = check::check_set(workloads.set_adds(), final_set.value());
    for (const auto& lost : set.lost) {
      problems.push_back("set lost " + lost);
      say("nemesis: VIOLATION on the set: acknowledged add %s is lost", lost.c_str());
    }
    for (const auto& invented : set.unexpected) {
      problems.push_back("set invented " + invented);
      say("nemesis: VIOLATION on the set: %s was never added", invented.c_str());
    }
  }

  say("nemesis: | fault | cycles | register ops ok / unknown | lock grants / errors | set adds "
      "ok / unknown |");
  say("nemesis: |---|---|---|---|---|");
  for (const auto& [kind, totals] : cycles_by_kind) {
    say("nemesis: | %s | %d | %s / %s | %s / %s | %s / %s |", kind.c_str(), faults_by_kind[kind],
        with_commas(totals.register_ok).c_str(), with_commas(totals.register_unknown).c_str(),
        with_commas(totals.lock_grants).c_str(), with_commas(totals.lock_errors).c_str(),
        with_commas(totals.set_ok).c_str(), with_commas(totals.set_unknown).c_str());
  }
  std::string kinds_text;
  for (const auto& [kind, count] : faults_by_kind) {
    kinds_text += (kinds_text.empty() ? "" : " ") + kind + "x" + std::to_string(count);
  }
  char summary[1024];
  std::snprintf(
      summary, sizeof(summary),
      "nemesis: %s seed=%llu%s %.0f s, faults: %s; registers: %s ops on %zu keys, %s; locks: %s "
      "grants, %s fenced writes (%s refused), %s; set: %s adds (%s unknown), %s; %zu "
      "violation(s)%s",
      problems.empty() ? "PASS" : "FAIL", static_cast<unsigned long long>(settings.seed),
      settings.planted_stale_reads ? " planted=stale-reads" : "", fault_seconds,
      kinds_text.c_str(), with_commas(register_history.size()).c_str(), register_keys,
      inconclusive > 0 ? "INCONCLUSIVE keys" :
      linearizable.value().overall() == check::Verdict::ok ? "linearizable" : "NOT linearizable",
      with_commas(locks.grants).c_str(), with_commas(locks.fenced_writes).c_str(),
      with_commas(workloads.fenced_counter().refused()).c_str(), locks.ok ? "ok" : "VIOLATED",
      with_commas(set.acknowledged + set.unknown).c_str(), with_commas(set.unknown).c_str(),
      !final_set.ok() ? "NOT READ" : set.ok ? "none lost" : "LOST OR INVENTED",
      problems.size(),
      slow_recoveries > 0 ? (", " + std::to_string(slow_recoveries) +
                             " heal(s) without an agreed leader within 30 s").c_str()
                          : "");
  if (!problems.empty()) {
    keep_logs(folder.path(), settings.log_dir);
    say("nemesis: agents' logs kept in %s", settings.log_dir.c_str());
  }
  if (!settings.summary_path.empty()) std::ofstream(settings.summary_path) << summary << "\n";
  say("%s", summary);
  CHECK(problems.empty());
}
