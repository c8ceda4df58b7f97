// Copyright 2026 Azimuth authors.
//
// io.h — reading a whole text file with an error that names it, and a
// protobuf message as the JSON the project writes (field names as in the
// .proto, indented).
#ifndef AZIMUTH_SCHEDULER_COMMON_IO_H_
#define AZIMUTH_SCHEDULER_COMMON_IO_H_

#include <string>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace azimuth::scheduler {

// ReadTextFile()
//
// NOT_FOUND "<path>: cannot open the <what>" when it cannot be read.
absl::StatusOr<std::string> ReadTextFile(const std::string& path, absl::string_view what);

// MessageJson()
//
// `all_fields` prints fields at their default values too.
std::string MessageJson(const google::protobuf::Message& message, bool all_fields = false);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_COMMON_IO_H_
