// Copyright 2026 Azimuth authors.
#include "scheduler/offline/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace azimuth::scheduler {

absl::StatusOr<CsvFile> CsvFile::Open(const std::string& path, const std::vector<std::string>& required,
                                      const std::vector<std::string>& optional) {
  std::vector<std::string> columns = required;
  columns.insert(columns.end(), optional.begin(), optional.end());
  const std::string expected =
      absl::StrCat(absl::StrJoin(required, ","),
                   optional.empty() ? "" : absl::StrCat(" (optional: ", absl::StrJoin(optional, ","), ")"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  CsvFile file;
  file.path_ = path;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  file.text_ = std::move(buffer).str();
  // Spreadsheets start a UTF-8 file with a byte-order mark: not part of the
  // first column's name.
  if (file.text_.compare(0, 3, "\xEF\xBB\xBF") == 0) file.pos_ = 3;
  file.approximate_rows_ = std::count(file.text_.begin(), file.text_.end(), '\n');
  file.columns_ = columns;
  std::vector<absl::string_view> header;
  if (!file.ParseLine(&header)) {
    if (!file.status_.ok()) return file.status_;
    return absl::InvalidArgumentError(absl::StrCat(path, ":1: empty file, expected a header row: ", expected));
  }
  file.index_of_.assign(columns.size(), -1);
  for (std::size_t i = 0; i < header.size(); ++i) {
    auto it = std::find(columns.begin(), columns.end(), header[i]);
    if (it == columns.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", file.line_, ": unexpected column '", header[i], "'; expected exactly: ", expected));
    }
    int& slot = file.index_of_[it - columns.begin()];
    if (slot >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", file.line_, ": column '", header[i], "' appears twice"));
    }
    slot = static_cast<int>(i);
  }
  file.header_size_ = header.size();
  for (std::size_t i = 0; i < required.size(); ++i) {
    if (file.index_of_[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", file.line_, ": missing column '", columns[i], "'"));
    }
  }
  return file;
}

bool CsvFile::ParseLine(std::vector<absl::string_view>* fields) {
  fields->clear();
  while (pos_ < text_.size()) {
    ++line_;
    // A blank line (or trailing newline) carries no row.
    if (text_[pos_] == '\n' || (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n')) {
      pos_ += text_[pos_] == '\n' ? 1 : 2;
      continue;
    }
    const std::int64_t start_line = line_;
    while (true) {
      if (pos_ < text_.size() && text_[pos_] == '"') {
        std::string value;
        ++pos_;
        while (true) {
          if (pos_ >= text_.size()) {
            status_ = absl::InvalidArgumentError(absl::StrCat(path_, ":", start_line, ": unterminated quoted field"));
            return false;
          }
          const char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') {
              value.push_back('"');
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n') ++line_;
          value.push_back(c);
        }
        unquoted_.push_back(std::move(value));
        fields->push_back(unquoted_.back());
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          status_ = absl::InvalidArgumentError(absl::StrCat(path_, ":", start_line, ": text after a closing quote"));
          return false;
        }
      } else {
        const std::size_t end = text_.find_first_of(",\n", pos_);
        std::size_t stop = end == std::string::npos ? text_.size() : end;
        std::size_t trimmed = stop;
        if (trimmed > pos_ && text_[trimmed - 1] == '\r') --trimmed;
        fields->push_back(absl::string_view(text_).substr(pos_, trimmed - pos_));
        pos_ = stop;
      }
      if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
      if (pos_ >= text_.size() || text_[pos_] == '\n') {
        if (pos_ < text_.size()) ++pos_;
        row_line_ = start_line;
        return true;
      }
      ++pos_;  // the comma
    }
  }
  return false;
}

bool CsvFile::Next(CsvRow* row) {
  if (!status_.ok()) return false;
  std::vector<absl::string_view> raw;
  if (!ParseLine(&raw)) return false;
  row->file_ = this;
  row->line_ = row_line_;
  if (raw.size() != header_size_) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat(path_, ":", row_line_, ": ", raw.size(), " fields, expected ", header_size_, " (the header's)"));
    return false;
  }
  row->fields_.resize(columns_.size());
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    row->fields_[i] = index_of_[i] >= 0 ? raw[index_of_[i]] : absl::string_view();
  }
  return true;
}

int CsvFile::ColumnIndex(absl::string_view column) const {
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == column) return static_cast<int>(i);
  }
  return -1;
}

bool CsvFile::Has(absl::string_view column) const {
  const int i = ColumnIndex(column);
  return i >= 0 && index_of_[i] >= 0;
}

absl::string_view CsvRow::Text(absl::string_view column) const {
  const int i = file_->ColumnIndex(column);
  return i < 0 ? absl::string_view() : fields_[i];
}

absl::Status CsvRow::Error(absl::string_view column, absl::string_view reason) const {
  return absl::InvalidArgumentError(absl::StrCat(file_->path_, ":", line_, ": field '", column, "': ", reason));
}

absl::StatusOr<std::int64_t> CsvRow::Int64(absl::string_view column, std::int64_t min, std::int64_t max) const {
  const absl::string_view text = Text(column);
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Error(column, absl::StrCat("'", text, "' is not an integer"));
  }
  if (value < min || value > max) {
    return Error(column, absl::StrCat(value, " is out of range [", min, ", ", max, "]"));
  }
  return value;
}

absl::StatusOr<double> CsvRow::NonNegativeDouble(absl::string_view column) const {
  const absl::string_view text = Text(column);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Error(column, absl::StrCat("'", text, "' is not a decimal number"));
  }
  if (!std::isfinite(value)) return Error(column, absl::StrCat("'", text, "' is not a finite number"));
  if (value < 0) return Error(column, absl::StrCat(text, " is negative"));
  return value;
}

absl::StatusOr<bool> CsvRow::Bool(absl::string_view column) const {
  const absl::string_view text = Text(column);
  if (text == "true") return true;
  if (text == "false") return false;
  return Error(column, absl::StrCat("'", text, "' is not true or false"));
}

}  // namespace azimuth::scheduler
