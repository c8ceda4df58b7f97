// Copyright 2026 Azimuth authors.
#include "scheduler/common/log.h"

#include <cstdio>
#include <ctime>

#include "absl/strings/str_format.h"

namespace azimuth::scheduler {

void Log(const std::string& message) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  absl::FPrintF(stderr, "azimuthd %s %s\n", stamp, message);
}

}  // namespace azimuth::scheduler
