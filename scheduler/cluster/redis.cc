// Copyright 2026 Azimuth authors.
#include "scheduler/cluster/redis.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace azimuth::scheduler {

namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string SslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("unknown TLS error") : out;
}

RedisReply Copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(Copy(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

// Replies larger than this are refused: Azimuth's own keys stay far below it,
// and a hostile or confused server cannot make a replica allocate without
// bound.
constexpr std::size_t kMaxReplyBytes = std::size_t{256} << 20;

}  // namespace

struct RedisConnection::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~Tls() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
};

RedisConnection::~RedisConnection() {
  Close();
  if (reader_ != nullptr) redisReaderFree(static_cast<redisReader*>(reader_));
}

void RedisConnection::Close() {
  if (tls_ && tls_->ssl != nullptr && fd_ >= 0) SSL_shutdown(tls_->ssl);
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::Status RedisConnection::Fail(const std::string& what) {
  Close();
  return absl::UnavailableError(absl::StrCat("redis ", address_, ": ", what));
}

absl::Status RedisConnection::Wait(bool for_write, std::int64_t deadline_ms) {
  for (;;) {
    const std::int64_t left = deadline_ms - NowMs();
    if (left <= 0) return Fail("timed out");
    pollfd p{fd_, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return Fail(absl::StrCat("poll: ", std::strerror(errno)));
  }
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(const RedisOptions& options) {
  std::unique_ptr<RedisConnection> c(new RedisConnection());
  c->options_ = options;
  c->address_ = absl::StrCat(options.host, ":", options.port, options.tls ? " (TLS)" : "");
  const std::int64_t deadline = NowMs() + options.connect_timeout_ms;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  if (const int e = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found); e != 0) {
    return absl::UnavailableError(absl::StrCat("redis ", c->address_, ": cannot resolve: ", gai_strerror(e)));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr && c->fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    c->fd_ = fd;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        ::close(fd);
        c->fd_ = -1;
        continue;
      }
      if (absl::Status s = c->Wait(true, deadline); !s.ok()) {
        last_error = "connect timed out";
        continue;  // Wait() closed it
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last_error = std::strerror(err);
        ::close(fd);
        c->fd_ = -1;
        continue;
      }
    }
  }
  ::freeaddrinfo(found);
  if (c->fd_ < 0) return absl::UnavailableError(absl::StrCat("redis ", c->address_, ": cannot connect: ", last_error));
  const int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  if (options.tls) {
    c->tls_ = std::make_unique<Tls>();
    c->tls_->ctx = SSL_CTX_new(TLS_client_method());
    if (c->tls_->ctx == nullptr) return c->Fail(SslErrors());
    SSL_CTX_set_min_proto_version(c->tls_->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->tls_->ctx, SSL_VERIFY_PEER, nullptr);
    const int loaded = options.ca_file.empty()
                           ? SSL_CTX_set_default_verify_paths(c->tls_->ctx)
                           : SSL_CTX_load_verify_locations(c->tls_->ctx, options.ca_file.c_str(), nullptr);
    if (loaded != 1) return c->Fail(absl::StrCat("cannot load the CA '", options.ca_file, "': ", SslErrors()));
    if (!options.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(c->tls_->ctx, options.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(c->tls_->ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        return c->Fail(absl::StrCat("cannot load the client certificate: ", SslErrors()));
      }
    }
    c->tls_->ssl = SSL_new(c->tls_->ctx);
    if (c->tls_->ssl == nullptr) return c->Fail(SslErrors());
    const std::string& name = options.server_name.empty() ? options.host : options.server_name;
    SSL_set_tlsext_host_name(c->tls_->ssl, name.c_str());
    SSL_set1_host(c->tls_->ssl, name.c_str());
    SSL_set_fd(c->tls_->ssl, c->fd_);
    for (;;) {
      const int r = SSL_connect(c->tls_->ssl);
      if (r == 1) break;
      const int e = SSL_get_error(c->tls_->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (absl::Status s = c->Wait(e == SSL_ERROR_WANT_WRITE, deadline); !s.ok()) return s;
        continue;
      }
      return c->Fail(absl::StrCat("TLS handshake failed: ", SslErrors()));
    }
  }
  c->reader_ = redisReaderCreate();
  if (c->reader_ == nullptr) return c->Fail("out of memory");

  if (!options.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options.username.empty()) auth.push_back(options.username);
    auth.push_back(options.password);
    absl::StatusOr<RedisReply> r = c->Command(auth);
    if (!r.ok()) return r.status();
    if (r->is_error()) {
      c->Close();
      return absl::UnauthenticatedError(absl::StrCat("redis ", c->address_, ": AUTH refused: ", r->str));
    }
  }
  return c;
}

absl::Status RedisConnection::WriteAll(const std::string& bytes) {
  const std::int64_t deadline = NowMs() + options_.io_timeout_ms;
  std::size_t done = 0;
  while (done < bytes.size()) {
    if (tls_) {
      const int n = SSL_write(tls_->ssl, bytes.data() + done, static_cast<int>(bytes.size() - done));
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      const int e = SSL_get_error(tls_->ssl, n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return Fail(absl::StrCat("write: ", SslErrors()));
      if (absl::Status s = Wait(e == SSL_ERROR_WANT_WRITE, deadline); !s.ok()) return s;
      continue;
    }
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (absl::Status s = Wait(true, deadline); !s.ok()) return s;
    } else if (n < 0 && errno != EINTR) {
      return Fail(absl::StrCat("write: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisConnection::ReadReply() {
  auto* reader = static_cast<redisReader*>(reader_);
  const std::int64_t deadline = NowMs() + options_.io_timeout_ms;
  std::size_t received = 0;
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader, &raw) != REDIS_OK) return Fail(absl::StrCat("protocol error: ", reader->errstr));
    if (raw != nullptr) {
      RedisReply out = Copy(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      return out;
    }
    char buf[16384];
    ssize_t n;
    if (tls_) {
      n = SSL_read(tls_->ssl, buf, sizeof buf);
      if (n <= 0) {
        const int e = SSL_get_error(tls_->ssl, static_cast<int>(n));
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          if (absl::Status s = Wait(e == SSL_ERROR_WANT_WRITE, deadline); !s.ok()) return s;
          continue;
        }
        return Fail(e == SSL_ERROR_ZERO_RETURN ? std::string("connection closed")
                                               : absl::StrCat("read: ", SslErrors()));
      }
    } else {
      n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return Fail("connection closed");
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (absl::Status s = Wait(false, deadline); !s.ok()) return s;
        } else if (errno != EINTR) {
          return Fail(absl::StrCat("read: ", std::strerror(errno)));
        }
        continue;
      }
    }
    received += static_cast<std::size_t>(n);
    if (received > kMaxReplyBytes) return Fail("reply larger than 256 MiB");
    if (redisReaderFeed(reader, buf, static_cast<std::size_t>(n)) != REDIS_OK) return Fail("protocol error");
  }
}

absl::StatusOr<std::vector<RedisReply>> RedisConnection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (fd_ < 0) return absl::UnavailableError(absl::StrCat("redis ", address_, ": not connected"));
  std::string bytes;
  for (const std::vector<std::string>& args : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* formatted = nullptr;
    const int len = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(), lens.data());
    if (len < 0) return absl::ResourceExhaustedError("redis: cannot format a command");
    bytes.append(formatted, static_cast<std::size_t>(len));
    redisFreeCommand(formatted);
  }
  if (absl::Status s = WriteAll(bytes); !s.ok()) return s;
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    absl::StatusOr<RedisReply> r = ReadReply();
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<RedisReply> RedisConnection::Command(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<RedisReply>> r = Pipeline({args});
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

}  // namespace azimuth::scheduler
