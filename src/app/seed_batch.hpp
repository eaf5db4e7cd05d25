#pragma once
// Multi-row INSERT helper for `taskhub seed`: rows are buffered and flushed as
// INSERT INTO t (cols) VALUES (?, ...), (?, ...) ... in statements of bounded size.
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::seed {

class BatchInsert {
 public:
  BatchInsert(std::string table, std::vector<std::string> columns, std::string suffix = {})
      : table_(std::move(table)), columns_(std::move(columns)), suffix_(std::move(suffix)) {
    rows_per_stmt_ = std::max<std::size_t>(1, 30000 / columns_.size());
    if (rows_per_stmt_ > 500) rows_per_stmt_ = 500;
  }
  // Appends one row (params.size() == columns.size()).
  void add(std::vector<sql::Param> row) {
    for (auto& p : row) params_.push_back(std::move(p));
    ++rows_;
    ++total_;
  }
  std::size_t pending() const { return rows_; }
  int64_t total() const { return total_; }
  void flush(sql::Connection& c) {
    const std::size_t n = columns_.size();
    std::size_t done = 0;
    while (done < rows_) {
      std::size_t k = std::min(rows_per_stmt_, rows_ - done);
      std::string s = "INSERT INTO " + table_ + " (";
      for (std::size_t i = 0; i < n; ++i) s += (i ? ", " : "") + columns_[i];
      s += ") VALUES ";
      std::string one = "(";
      for (std::size_t i = 0; i < n; ++i) one += i ? ", ?" : "?";
      one += ")";
      for (std::size_t r = 0; r < k; ++r) s += (r ? ", " : "") + one;
      s += suffix_;
      c.query(s, std::span<const sql::Param>(params_.data() + done * n, k * n));
      done += k;
    }
    params_.clear();
    rows_ = 0;
  }

 private:
  std::string table_;
  std::vector<std::string> columns_;
  std::string suffix_;
  std::size_t rows_per_stmt_ = 1;
  std::vector<sql::Param> params_;
  std::size_t rows_ = 0;
  int64_t total_ = 0;
};

}  // namespace taskhub::seed
