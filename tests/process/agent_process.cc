#include "tests/process/agent_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace conclave::testing {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

pid_t spawn(const std::filesystem::path& folder, const std::vector<std::string>& args,
            const std::filesystem::path& out_path, const std::filesystem::path& err_path,
            const std::filesystem::path& in_path = "/dev/null") {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (chdir(folder.c_str()) != 0) _exit(126);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int in = open(in_path.c_str(), O_RDONLY);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    unsetenv("CONCLAVE_SOCKET");
    std::vector<std::string> argv_strings = {conclave_binary()};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& argument : argv_strings) argv.push_back(argument.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string conclave_binary() {
  const char* path = std::getenv("CONCLAVE_BINARY");
  if (path == nullptr) throw std::runtime_error("CONCLAVE_BINARY is not set (run through meson test)");
  return path;
}

TempFolder::TempFolder() {
  char pattern[] = "/tmp/conclave-process-XXXXXX";
  const char* made = mkdtemp(pattern);
  if (made == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = made;
}

TempFolder::~TempFolder() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int free_port() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int tcp = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    getsockname(tcp, reinterpret_cast<sockaddr*>(&address), &length);
    const int udp = socket(AF_INET, SOCK_DGRAM, 0);
    const bool udp_free = bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(udp);
    close(tcp);
    if (udp_free) return ntohs(address.sin_port);
  }
  throw std::runtime_error("no free port found");
}

CommandResult run_cli(const std::filesystem::path& folder, const std::vector<std::string>& args,
                      const std::optional<std::string>& input) {
  static int counter = 0;
  const std::filesystem::path out = folder / ("cli-" + std::to_string(++counter) + ".out");
  const std::filesystem::path err = folder / ("cli-" + std::to_string(counter) + ".err");
  std::filesystem::path in = "/dev/null";
  if (input) {
    in = folder / ("cli-" + std::to_string(counter) + ".in");
    std::ofstream(in, std::ios::binary) << *input;
  }
  CommandResult result;
  result.exit_code = wait_for(spawn(folder, args, out, err, in));
  result.out = read_file(out);
  result.err = read_file(err);
  return result;
}

AgentProcess::AgentProcess(const std::filesystem::path& folder, std::vector<std::string> args)
    : folder_(folder), args_(std::move(args)) {
  static int counter = 0;
  log_path_ = folder_ / ("agent-" + std::to_string(++counter) + ".log");
  start();
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_for(pid_);
  }
}

std::unique_ptr<AgentProcess> AgentProcess::command(const std::filesystem::path& folder,
                                                    const std::string& name,
                                                    std::vector<std::string> args) {
  std::unique_ptr<AgentProcess> process(new AgentProcess(folder, std::move(args), name));
  return process;
}

AgentProcess::AgentProcess(const std::filesystem::path& folder, std::vector<std::string> args,
                           const std::string& name)
    : folder_(folder), args_(std::move(args)), agent_(false) {
  log_path_ = folder_ / (name + ".log");
  start();
}

void AgentProcess::start() {
  std::vector<std::string> args;
  if (agent_) args.push_back("agent");
  args.insert(args.end(), args_.begin(), args_.end());
  ++starts_;
  pid_ = spawn(folder_, args, log_path_, log_path_);
}

void AgentProcess::signal(int number) {
  if (pid_ > 0) ::kill(pid_, number);
}

int AgentProcess::wait() {
  if (pid_ <= 0) return -1;
  const int code = wait_for(pid_);
  pid_ = -1;
  return code;
}

std::optional<int> AgentProcess::wait_at_most(int64_t limit_ms) {
  if (pid_ <= 0) return std::nullopt;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(limit_ms)) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string AgentProcess::log() const { return read_file(log_path_); }

}  // namespace conclave::testing
