// Copyright 2026 Azimuth authors.
//
// csv.h — a strict, fast CSV reader for the offline interchange files
// (docs/design.md, "Offline interchange"): a header row naming the columns in any
// order, RFC 4180 quoting, and errors that name the file, line and field.
//
//   AZ_ASSIGN_OR_RETURN(CsvFile file, CsvFile::Open(path, {"id", "model"}));
//   CsvRow row;
//   while (file.Next(&row)) {
//     absl::StatusOr<std::int64_t> n = row.Int64("tokens_in");
//   }
//   AZ_RETURN_IF_ERROR(file.status());
#ifndef AZIMUTH_SCHEDULER_OFFLINE_CSV_H_
#define AZIMUTH_SCHEDULER_OFFLINE_CSV_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace azimuth::scheduler {

class CsvFile;

// CsvRow
//
// One data row; fields are looked up by column name. Views stay valid until
// the file is destroyed.
class CsvRow {
 public:
  std::int64_t line() const { return line_; }
  absl::string_view Text(absl::string_view column) const;
  // Typed fields: errors name the file, line, column and the bad text.
  absl::StatusOr<std::int64_t> Int64(absl::string_view column, std::int64_t min, std::int64_t max) const;
  absl::StatusOr<double> NonNegativeDouble(absl::string_view column) const;
  absl::StatusOr<bool> Bool(absl::string_view column) const;
  absl::Status Error(absl::string_view column, absl::string_view reason) const;

 private:
  friend class CsvFile;
  const CsvFile* file_ = nullptr;
  std::int64_t line_ = 0;
  std::vector<absl::string_view> fields_;
};

// CsvFile
class CsvFile {
 public:
  // Open()
  //
  // Reads the whole file and its header. The header must name every
  // `required` column and may name `optional` ones, each once, in any order,
  // and nothing else. An absent optional column reads as empty text.
  static absl::StatusOr<CsvFile> Open(const std::string& path, const std::vector<std::string>& required,
                                      const std::vector<std::string>& optional = {});
  // Has(): the header names `column`.
  bool Has(absl::string_view column) const;

  // Next() reads the next non-blank row; false at the end or on an error
  // (then status() says which).
  bool Next(CsvRow* row);
  const absl::Status& status() const { return status_; }
  // Number of data lines, counted once up front (for reservations).
  std::int64_t approximate_rows() const { return approximate_rows_; }
  const std::string& path() const { return path_; }

 private:
  friend class CsvRow;
  bool ParseLine(std::vector<absl::string_view>* fields);
  int ColumnIndex(absl::string_view column) const;

  std::string path_;
  std::string text_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 0;      // lines consumed so far
  std::int64_t row_line_ = 0;  // first line of the last row
  std::int64_t approximate_rows_ = 0;
  std::size_t header_size_ = 0;
  std::vector<std::string> columns_;  // required, then optional
  std::vector<int> index_of_;         // position in the file of columns_[i]
  std::deque<std::string> unquoted_;  // storage for fields that had escapes
  absl::Status status_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_OFFLINE_CSV_H_
