// Copyright 2026 Azimuth authors.
//
// processes.h — real processes for integration tests and benchmarks: a
// temporary directory, a free loopback port, a child process with its output
// in a file (azimuthd), and a real redis-server.
//
//   const fs::path dir = TempDir("azimuth-cluster-test");
//   RedisServer redis(dir);
//   if (!redis.Start()) ...;
//   Process azimuthd(AZIMUTHD_PATH, dir / "a.log", {"--config", path});
//   const std::string port = azimuthd.WaitForLog("serving: tcp port (\\d+)");
#ifndef AZIMUTH_BENCH_COMMON_PROCESSES_H_
#define AZIMUTH_BENCH_COMMON_PROCESSES_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace azimuth::bench {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary one, unique per process.
inline fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A loopback TCP port nobody listens on now (another process may take it
// before it is used: callers retry).
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A running child process, its stderr (and stdout) in a file; killed if it
// was not stopped.
class Process {
 public:
  // `env`: variables set in the child unless its environment has them.
  Process(const std::string& binary, const fs::path& log, std::vector<std::string> args,
          const std::vector<std::pair<std::string, std::string>>& env = {})
      : log_(log) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // It goes with its parent (the thread that started it), however that
      // ends.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(0);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 0);
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      std::string bin = binary;
      argv.push_back(bin.data());
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(bin.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~Process() { Kill(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Waits until the log matches `pattern`; returns the first group or "".
  std::string WaitForLog(const std::string& pattern,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(15000)) const {
    const std::regex re(pattern);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string text = Log();
      if (std::regex_search(text, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  // Exit status, or -1 if it did not exit in time.
  int Wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  // Stop(): SIGTERM, as an orchestrator stops it; SIGKILL past `timeout`.
  void Stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
    if (!running()) return;
    Signal(SIGTERM);
    if (Wait(timeout) < 0) Kill();
  }
  void Kill() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      exited_ = true;
    }
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

// A real redis-server on 127.0.0.1, no persistence (a restart loses every
// key, as a cache without AOF does), its files in `dir`.
class RedisServer {
 public:
  explicit RedisServer(fs::path dir, std::vector<std::string> extra = {}, std::string binary = "redis-server")
      : dir_(std::move(dir)), extra_(std::move(extra)), binary_(std::move(binary)) {}

  // Start() on a free port (the same port again after Stop()); false when
  // redis-server did not answer.
  bool Start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (port_ == 0 || attempt > 0) port_ = FreePort();
      std::vector<std::string> args = {
          "--port",      std::to_string(port_), "--bind",    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
          dir_.string(), "--maxmemory-policy",  "noeviction"};
      args.insert(args.end(), extra_.begin(), extra_.end());
      // A log per start, named by its port: several servers may share `dir`.
      process_ = std::make_unique<Process>(
          binary_, dir_ / ("redis-" + std::to_string(port_) + "-" + std::to_string(starts_++) + ".log"), args);
      if (!process_->WaitForLog("Ready to accept connections", std::chrono::milliseconds(10000)).empty()) {
        return true;
      }
      process_->Kill();
      if (restarting_) return false;  // the port must stay the same
    }
    return false;
  }
  // Stop(): SIGTERM, as an orchestrator stops it; Restart(): empty again.
  void Stop() {
    if (process_) process_->Stop();
    process_.reset();
  }
  bool Restart() {
    Stop();
    restarting_ = true;
    const bool ok = Start();
    restarting_ = false;
    return ok;
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  fs::path dir_;
  std::vector<std::string> extra_;
  std::string binary_;
  int port_ = 0;
  int starts_ = 0;
  bool restarting_ = false;
  std::unique_ptr<Process> process_;
};

}  // namespace azimuth::bench

#endif  // AZIMUTH_BENCH_COMMON_PROCESSES_H_
