// Copyright 2026 Azimuth authors.
//
// redis.h — one blocking connection to a Redis server: plain TCP or TLS
// (OpenSSL), ACL authentication, a deadline on every command. The protocol is
// hiredis's (its command formatter and its reply reader); only the socket is
// ours, because Debian's hiredis 0.14 has no TLS.
//
//   RedisOptions options;
//   options.host = "10.0.0.5";
//   options.port = 6380;
//   options.tls = true;
//   AZ_ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> redis, RedisConnection::Connect(options));
//   AZ_ASSIGN_OR_RETURN(RedisReply r, redis->Command({"INCR", "azimuth:n"}));
//
// Not thread-safe: one connection per thread that talks to Redis.
#ifndef AZIMUTH_SCHEDULER_CLUSTER_REDIS_H_
#define AZIMUTH_SCHEDULER_CLUSTER_REDIS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace azimuth::scheduler {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // TLS: the server's certificate is verified against ca_file (the system's
  // roots when empty) and `server_name` (host when empty). cert_file and
  // key_file: a client certificate, for servers that ask for one.
  bool tls = false;
  std::string ca_file, server_name, cert_file, key_file;
  // AUTH: with a username, `AUTH username password` (Redis 6 ACLs);
  // password alone, `AUTH password`.
  std::string username, password;
  int connect_timeout_ms = 1000;
  // Every command must be answered within this, or the connection is
  // closed and the command fails (UNAVAILABLE).
  int io_timeout_ms = 500;
};

// RedisReply
//
// An owned copy of one reply. An error reply (`-ERR ...`) is kError with the
// message in `str`: Command() still returns it, so that callers can tell
// NOSCRIPT from a broken connection.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;
  std::int64_t integer = 0;
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

class RedisConnection {
 public:
  // Connect()
  //
  // Connects, completes the TLS handshake and AUTHenticates; UNAVAILABLE
  // naming the address for a network failure, UNAUTHENTICATED when AUTH is
  // refused.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(const RedisOptions& options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Command()
  //
  // Sends one command and waits for its reply. UNAVAILABLE on a network
  // failure or timeout, after which the connection is unusable (ok() false).
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);

  // Pipeline()
  //
  // Sends every command, then reads their replies in order: one round trip.
  absl::StatusOr<std::vector<RedisReply>> Pipeline(const std::vector<std::vector<std::string>>& commands);

  bool ok() const { return fd_ >= 0; }
  const std::string& address() const { return address_; }

 private:
  struct Tls;
  RedisConnection() = default;
  absl::Status WriteAll(const std::string& bytes);
  absl::StatusOr<RedisReply> ReadReply();
  // Waits until the socket is readable (or writable) before the deadline.
  absl::Status Wait(bool for_write, std::int64_t deadline_ms);
  void Close();
  absl::Status Fail(const std::string& what);

  RedisOptions options_;
  std::string address_;
  int fd_ = -1;
  std::unique_ptr<Tls> tls_;
  void* reader_ = nullptr;  // redisReader*
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CLUSTER_REDIS_H_
