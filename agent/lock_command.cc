#include "agent/lock_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

#include "client/client.h"

namespace conclave::agent {
namespace {

int signal_pipe[2] = {-1, -1};

void on_signal(int number) {
  const int saved = errno;
  const char byte = static_cast<char>(number);
  (void)!::write(signal_pipe[1], &byte, 1);
  errno = saved;
}

int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One line on stderr: "conclave lock [<monotonic ms>]: ...".
void note(const char* format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  std::fprintf(stderr, "conclave lock [%lld]: %s\n", static_cast<long long>(monotonic_ms()),
               text);
}

int exit_status_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Starts CMD in a process group of its own. Returns the pid, or -errno when it cannot run
// (reported through a close-on-exec pipe, so a failed exec is told from CMD's own exit 127).
pid_t start_command(const LockCommandOptions& options, uint64_t token, uint64_t session) {
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) return -errno;
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int saved = errno;
    ::close(exec_pipe[0]);
    ::close(exec_pipe[1]);
    return -saved;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    for (int number : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(number, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setenv("CONCLAVE_LOCK_NAME", options.name.c_str(), 1);
    ::setenv("CONCLAVE_LOCK_TOKEN", std::to_string(token).c_str(), 1);
    ::setenv("CONCLAVE_LOCK_SESSION", std::to_string(session).c_str(), 1);
    std::vector<char*> argv;
    for (const std::string& argument : options.command) {
      argv.push_back(const_cast<char*>(argument.c_str()));
    }
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    const int saved = errno;
    (void)!::write(exec_pipe[1], &saved, sizeof(saved));
    ::_exit(saved == ENOENT ? kExitNotFound : kExitCannotRun);
  }
  ::setpgid(pid, pid);  // also here: no window in which a signal misses the group
  ::close(exec_pipe[1]);
  int child_errno = 0;
  const ssize_t count = ::read(exec_pipe[0], &child_errno, sizeof(child_errno));
  ::close(exec_pipe[0]);
  if (count == sizeof(child_errno)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return -child_errno;
  }
  return pid;
}

// Ends CMD's whole process group: SIGTERM, then SIGKILL after the grace. Returns once CMD is
// reaped.
void terminate_group(pid_t pid) {
  ::kill(-pid, SIGTERM);
  note("sent SIGTERM to process group %d", static_cast<int>(pid));
  const int64_t kill_at = monotonic_ms() + kLostKillGraceMs;
  int status = 0;
  bool reaped = false;
  // The whole group gets the grace, not only CMD: a grandchild may still be running its own
  // SIGTERM handler when CMD has already exited.
  while (monotonic_ms() < kill_at) {
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) reaped = true;
    if (reaped && ::kill(-pid, 0) != 0 && errno == ESRCH) break;  // the group is gone
    ::usleep(5000);
  }
  // Whatever is left of the group is killed in any case.
  ::kill(-pid, SIGKILL);
  if (!reaped) {
    note("sent SIGKILL to process group %d", static_cast<int>(pid));
    ::waitpid(pid, &status, 0);
  }
}

}  // namespace

int run_lock_command(const LockCommandOptions& options) {
  auto connected = client::Client::connect(options.socket);
  if (!connected.ok()) {
    note("%s", connected.error().message.c_str());
    return 1;
  }
  client::Client& agent = connected.value();
  client::Client::SessionOptions session_options;
  session_options.description = "conclave lock " + options.name + " (pid " +
                                std::to_string(::getpid()) + ")";
  auto session = agent.session_create(session_options, options.request_timeout_ms);
  if (!session.ok()) {
    note("cannot create a session: %s", session.error().message.c_str());
    return 1;
  }
  // While waiting, SIGINT/SIGTERM/SIGHUP keep their default effect: this process ends, its
  // connection closes, and the agent ends the session (and the wait) at once.
  client::Client::LockOptions lock;
  lock.name = options.name;
  lock.session = session.value();
  lock.limit = options.limit;
  lock.wait_ms = options.wait_ms < 0 ? std::numeric_limits<uint32_t>::max()
                                     : static_cast<uint32_t>(options.wait_ms);
  lock.lock_delay_ms = options.lock_delay_ms;
  auto granted = agent.lock_acquire(lock, options.request_timeout_ms);
  if (!granted.ok()) {
    const ErrorCode code = granted.error().code;
    note("%s", granted.error().message.c_str());
    return code == ErrorCode::timed_out || code == ErrorCode::conflict ? kExitLockTimedOut : 1;
  }
  const uint64_t token = granted.value().token;
  int64_t valid_until_ms = granted.value().valid_until_ms;
  if (options.verbose) {
    note("acquired %s (token %llu, session %llu)", options.name.c_str(),
         static_cast<unsigned long long>(token), static_cast<unsigned long long>(session.value()));
  }

  if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    note("cannot create a pipe: %s", std::strerror(errno));
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int number : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::sigaction(number, &action, nullptr);

  const pid_t pid = start_command(options, token, session.value());
  if (pid < 0) {
    note("cannot run %s: %s", options.command.front().c_str(), std::strerror(-pid));
    (void)agent.lock_release(options.name, session.value(), options.request_timeout_ms);
    return -pid == ENOENT ? kExitNotFound : kExitCannotRun;
  }

  auto lost = [&](const std::string& why) {
    note("lost %s: %s", options.name.c_str(), why.c_str());
    terminate_group(pid);
    return kExitLockLost;
  };
  for (;;) {
    // Events already buffered, or arriving now.
    auto event = agent.next_lock_event(0);
    if (!event.ok()) return lost("lost the connection to the local agent (" +
                                 event.error().message + ")");
    if (event.value()) {
      const wire::LockEvent& happened = *event.value();
      switch (happened.kind) {
        case wire::LockEventKind::granted:
        case wire::LockEventKind::renewed:
          valid_until_ms = std::max(valid_until_ms, happened.valid_until_ms);
          break;
        case wire::LockEventKind::jeopardy:
          valid_until_ms = happened.valid_until_ms;
          note("jeopardy: %s", happened.message.c_str());
          break;
        case wire::LockEventKind::lost:
        case wire::LockEventKind::released:
          return lost(happened.message.empty() ? "the agent says so" : happened.message);
      }
      continue;
    }
    const int64_t now = monotonic_ms();
    if (now >= valid_until_ms) {
      return lost("no renewal from the local agent before the lock's validity ran out (is the "
                  "agent paused or overloaded?)");
    }
    pollfd fds[2] = {{agent.fd(), POLLIN, 0}, {signal_pipe[0], POLLIN, 0}};
    const int wait_ms = static_cast<int>(std::min<int64_t>(valid_until_ms - now, 100));
    ::poll(fds, 2, wait_ms);
    if (fds[1].revents & POLLIN) {
      char number = 0;
      while (::read(signal_pipe[0], &number, 1) == 1) {
        if (number == SIGCHLD) {
          int status = 0;
          if (::waitpid(pid, &status, WNOHANG) == pid) {
            Status released =
                agent.lock_release(options.name, session.value(), options.request_timeout_ms);
            if (!released.ok()) {
              note("releasing %s: %s (it is released when this process exits)",
                   options.name.c_str(), released.error().message.c_str());
            }
            return exit_status_of(status);
          }
        } else {
          ::kill(-pid, number);  // forwarded to CMD's group
        }
      }
    }
  }
}

}  // namespace conclave::agent
