// Copyright 2026 Azimuth authors.
//
// processes.h — what the integration tests start: the processes of
// bench/common/processes.h, and test certificates.
#ifndef AZIMUTH_TESTS_SCHEDULER_PROCESSES_H_
#define AZIMUTH_TESTS_SCHEDULER_PROCESSES_H_

#include <cstdlib>
#include <fstream>
#include <string>

#include "bench/common/processes.h"
#include "gtest/gtest.h"

namespace azimuth::scheduler {

namespace fs = std::filesystem;
using bench::FreePort;
using bench::Process;
using bench::RedisServer;
using bench::TempDir;

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
