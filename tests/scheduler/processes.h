// Copyright 2026 Azimuth authors.
//
// processes.h — real processes for the integration tests: a temporary
// directory, a child process with its stderr in a file (azimuthd), a real
// redis-server on a free loopback port, and test certificates.
//
//   const fs::path dir = TempDir("azimuth-cluster-test");
//   RedisServer redis(dir);
//   ASSERT_TRUE(redis.Start());
//   Process azimuthd(AZIMUTHD_PATH, dir / "a.log", {"--config", path});
#ifndef AZIMUTH_TESTS_SCHEDULER_PROCESSES_H_
#define AZIMUTH_TESTS_SCHEDULER_PROCESSES_H_

#include <fcntl.h>
#include <signal.h>
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
#include <vector>

#include "gtest/gtest.h"
#include "tests/scheduler/loopback.h"

namespace azimuth::scheduler {

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

// A running child process, its stderr (and stdout) in a file; killed if the
// test did not stop it.
class Process {
 public:
  Process(const std::string& binary, const fs::path& log, std::vector<std::string> args) : log_(log) {
    pid_ = ::fork();
    if (pid_ == 0) {
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
  explicit RedisServer(fs::path dir, std::vector<std::string> extra = {})
      : dir_(std::move(dir)), extra_(std::move(extra)) {}

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
          "redis-server", dir_ / ("redis-" + std::to_string(port_) + "-" + std::to_string(starts_++) + ".log"), args);
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
    if (process_) {
      process_->Signal(SIGTERM);
      if (process_->Wait() < 0) process_->Kill();
      process_.reset();
    }
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
  int port_ = 0;
  int starts_ = 0;
  bool restarting_ = false;
  std::unique_ptr<Process> process_;
};

inline void Openssl(const fs::path& dir, const std::string& args) {
  const std::string command = "cd '" + dir.string() + "' && openssl " + args + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

// A CA, a server certificate for localhost/127.0.0.1 and a client
// certificate, all signed by the CA.
inline void MakeCertificates(const fs::path& dir) {
  Openssl(dir, "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=azimuth-test-ca");
  std::ofstream(dir / "san.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  for (const char* who : {"server", "client"}) {
    const std::string w = who;
    Openssl(dir, "req -newkey rsa:2048 -nodes -keyout " + w + ".key -out " + w + ".csr -subj /CN=localhost");
    Openssl(dir, "x509 -req -in " + w + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " + w +
                     ".pem -days 1 -extfile san.ext");
  }
}

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_TESTS_SCHEDULER_PROCESSES_H_
