// The cluster the nemesis attacks: three servers and two client agents as real `conclave agent`
// processes, each on its own loopback address (127.0.0.201-205) so that firewall rules can cut
// any link, plus, during a membership change, a fourth server (127.0.0.206). Applies one fault
// at a time and undoes it (heal). Every process is killed and every rule removed when the
// objects go out of scope, also when the run fails.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/nemesis/fault_plan.h"
#include "tests/process/harness.h"

namespace conclave::nemesis {

class NemesisCluster {
 public:
  // `agent_args` are added to every agent's command line (the planted bug's flag).
  NemesisCluster(const std::filesystem::path& folder, testing::LoopbackFirewall& firewall,
                 std::vector<std::string> agent_args);

  // Starts the agents and waits until every one answers and every server names one leader;
  // false when that does not happen within limit_ms.
  bool start(int64_t limit_ms);
  // The five agents' sockets: the workloads' ways in.
  std::vector<std::string> sockets() const;
  std::vector<std::string> names() const;

  struct Applied {
    bool done = false;     // false: skipped (no leader to aim at within 5 s)
    std::string said;      // what was done ("isolated s2 (the leader)") or why not
  };
  // Applies `fault`. One at a time: heal() before the next.
  Applied apply(const PlannedFault& fault);
  // Undoes the current fault: rules removed, paused agents continued, killed agents restarted,
  // then the extra server must become a voter and leave. Says what it did.
  std::string heal();
  // What went wrong with the cluster itself since the last call (a membership change that did
  // not complete), for the run's verdict.
  std::vector<std::string> take_problems();
  // Waits until every server names the same leader; the time it took, or -1.
  int64_t wait_for_leader(int64_t limit_ms);
  // The leader's name as the servers see it ("" when none is known).
  std::string current_leader();
  std::string logs() const;

 private:
  testing::ClusterAgent& agent_named(const std::string& name);
  testing::ClusterAgent& pick_target(Random& random);   // the leader half the time
  // The leader, waiting up to 5 s for one ("" if none).
  std::string leader_to_aim_at();
  std::string add_extra_server();
  std::string remove_extra_server();

  std::filesystem::path folder_;
  testing::LoopbackFirewall& firewall_;
  std::vector<std::string> agent_args_;
  std::vector<testing::ClusterAgent> agents_;          // s1 s2 s3 (servers), c1 c2 (clients)
  std::optional<testing::ClusterAgent> extra_;
  int extras_started_ = 0;
  std::vector<testing::ClusterAgent*> killed_;
  std::vector<testing::ClusterAgent*> paused_;
  std::vector<std::string> problems_;
};

}  // namespace conclave::nemesis
