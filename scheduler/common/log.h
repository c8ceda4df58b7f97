// Copyright 2026 Azimuth authors.
//
// log.h — azimuthd's log: one line on stderr per event, with a UTC stamp.
//
//   Log("cluster: redis reachable again");
//   // azimuthd 2026-12-02T15:44:01Z cluster: redis reachable again
#ifndef AZIMUTH_SCHEDULER_COMMON_LOG_H_
#define AZIMUTH_SCHEDULER_COMMON_LOG_H_

#include <string>

namespace azimuth::scheduler {

// Log()
//
// One line on stderr: "azimuthd <time> <message>". Thread-safe.
void Log(const std::string& message);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_COMMON_LOG_H_
