// Helpers for process tests: start real `conclave agent` processes, run the real CLI, pick free
// loopback ports, and clean up (every agent is killed and every temp folder removed).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace conclave::testing {

// The `conclave` binary under test ($CONCLAVE_BINARY, set by meson).
std::string conclave_binary();

// A fresh folder under /tmp, removed with everything in it on destruction.
class TempFolder {
 public:
  TempFolder();
  ~TempFolder();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A port free for both TCP and UDP on 127.0.0.1 right now.
int free_port();

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `conclave ARGS...` in `folder` (with $CONCLAVE_SOCKET cleared) and waits; stdin is
// `input` (empty when not given).
CommandResult run_cli(const std::filesystem::path& folder, const std::vector<std::string>& args,
                      const std::optional<std::string>& input = std::nullopt);

class AgentProcess {
 public:
  // Starts `conclave agent ARGS...` in `folder`, logging to folder/agent-N.log.
  AgentProcess(const std::filesystem::path& folder, std::vector<std::string> args);
  // Starts `conclave ARGS...` (any subcommand) in the background, logging to folder/NAME.log.
  static std::unique_ptr<AgentProcess> command(const std::filesystem::path& folder,
                                               const std::string& name,
                                               std::vector<std::string> args);
  ~AgentProcess();  // SIGKILL if still running
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  void start();
  // The `conclave agent` arguments; a change applies at the next start().
  std::vector<std::string>& arguments() { return args_; }
  void signal(int number);
  pid_t pid() const { return pid_; }
  void kill9() { signal(SIGKILL); wait(); }
  // Waits for exit; returns the exit status (or 128+signal).
  int wait();
  // Waits at most `limit_ms` for the process to exit on its own; its exit status, or nullopt
  // when it is still running.
  std::optional<int> wait_at_most(int64_t limit_ms);
  bool running() const { return pid_ > 0; }
  std::string log() const;

 private:
  AgentProcess(const std::filesystem::path& folder, std::vector<std::string> args,
               const std::string& name);
  std::filesystem::path folder_;
  std::vector<std::string> args_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int starts_ = 0;
  bool agent_ = true;  // prefix the arguments with "agent"
};

}  // namespace conclave::testing
