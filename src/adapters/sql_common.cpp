// Row accessors, dialect names and open_database() URL dispatch for the SQL port.
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "adapters/postgres/postgres_database.hpp"
#include "adapters/sqlite/sqlite_database.hpp"
#include "ports/sql.hpp"

#include "adapters/unit_of_work.hpp"

namespace taskhub::sql {

namespace {

std::string render_double(double d) {
  char buf[40];
  // Shortest representation that round-trips.
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
  if (ec != std::errc()) {
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
  }
  return std::string(buf, p);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

int64_t parse_i64(std::string_view text, std::size_t col) {
  std::string_view t = trim(text);
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (ec != std::errc() || p != t.data() + t.size() || t.empty())
    throw Error("column " + std::to_string(col) + ": not an integer");
  return out;
}

double parse_f64(std::string_view text, std::size_t col) {
  std::string t(trim(text));
  if (t.empty()) throw Error("column " + std::to_string(col) + ": not a number");
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);  // accepts "Infinity", "NaN", "inf"
  if (end != t.c_str() + t.size()) throw Error("column " + std::to_string(col) + ": not a number");
  return d;
}

}  // namespace

const char* dialect_name(Dialect d) {
  switch (d) {
    case Dialect::sqlite:
      return "sqlite";
    case Dialect::postgres:
      return "postgres";
  }
  return "unknown";
}

const Value& Row::at(std::size_t i) const {
  if (i >= cells_->size())
    throw Error("column index " + std::to_string(i) + " out of range (row has " + std::to_string(cells_->size()) +
                " columns)");
  return (*cells_)[i];
}

bool Row::is_null(std::size_t i) const { return std::holds_alternative<std::monostate>(at(i)); }

int64_t Row::i64(std::size_t i) const {
  const Value& v = at(i);
  if (auto p = std::get_if<int64_t>(&v)) return *p;
  if (auto p = std::get_if<std::string>(&v)) return parse_i64(*p, i);
  if (auto p = std::get_if<bool>(&v)) return *p ? 1 : 0;
  if (auto p = std::get_if<double>(&v)) {
    if (std::isfinite(*p) && std::trunc(*p) == *p && std::fabs(*p) < 9.2e18) return static_cast<int64_t>(*p);
    throw Error("column " + std::to_string(i) + ": not an integer");
  }
  if (std::holds_alternative<std::monostate>(v)) throw Error("column " + std::to_string(i) + " is NULL");
  throw Error("column " + std::to_string(i) + ": blob is not an integer");
}

double Row::f64(std::size_t i) const {
  const Value& v = at(i);
  if (auto p = std::get_if<double>(&v)) return *p;
  if (auto p = std::get_if<int64_t>(&v)) return static_cast<double>(*p);
  if (auto p = std::get_if<std::string>(&v)) return parse_f64(*p, i);
  if (auto p = std::get_if<bool>(&v)) return *p ? 1.0 : 0.0;
  if (std::holds_alternative<std::monostate>(v)) throw Error("column " + std::to_string(i) + " is NULL");
  throw Error("column " + std::to_string(i) + ": blob is not a number");
}

bool Row::boolean(std::size_t i) const {
  const Value& v = at(i);
  if (auto p = std::get_if<bool>(&v)) return *p;
  if (auto p = std::get_if<int64_t>(&v)) {
    if (*p == 0 || *p == 1) return *p == 1;
    throw Error("column " + std::to_string(i) + ": not a boolean");
  }
  if (auto p = std::get_if<std::string>(&v)) {
    std::string_view t = trim(*p);
    if (t == "t" || t == "true" || t == "1" || t == "TRUE" || t == "T") return true;
    if (t == "f" || t == "false" || t == "0" || t == "FALSE" || t == "F") return false;
    throw Error("column " + std::to_string(i) + ": not a boolean");
  }
  if (auto p = std::get_if<double>(&v)) {
    if (*p == 0.0 || *p == 1.0) return *p == 1.0;
    throw Error("column " + std::to_string(i) + ": not a boolean");
  }
  if (std::holds_alternative<std::monostate>(v)) throw Error("column " + std::to_string(i) + " is NULL");
  throw Error("column " + std::to_string(i) + ": blob is not a boolean");
}

std::string Row::str(std::size_t i) const {
  const Value& v = at(i);
  if (auto p = std::get_if<std::string>(&v)) return *p;
  if (auto p = std::get_if<Blob>(&v)) return p->bytes;
  if (auto p = std::get_if<int64_t>(&v)) return std::to_string(*p);
  if (auto p = std::get_if<double>(&v)) return render_double(*p);
  if (auto p = std::get_if<bool>(&v)) return *p ? "true" : "false";
  throw Error("column " + std::to_string(i) + " is NULL");
}

std::optional<std::string> Row::opt_str(std::size_t i) const {
  if (is_null(i)) return std::nullopt;
  return str(i);
}

std::optional<int64_t> Row::opt_i64(std::size_t i) const {
  if (is_null(i)) return std::nullopt;
  return i64(i);
}

void Connection::before_commit(std::string key, std::function<void(Connection&)> fn) {
  for (const auto& [k, f] : before_commit_)
    if (k == key) return;
  before_commit_.emplace_back(std::move(key), std::move(fn));
}

void Connection::run_before_commit() {
  // A callback may register another one (appending while we walk by index is fine).
  for (std::size_t i = 0; i < before_commit_.size(); ++i) {
    auto fn = before_commit_[i].second;
    fn(*this);
  }
  before_commit_.clear();
}

std::unique_ptr<Database> open_database(const std::string& url, const PoolOptions& options) {
  auto starts_with = [&](std::string_view prefix) { return url.rfind(prefix, 0) == 0; };
  if (starts_with("sqlite:")) return sqlite::open(url, options);
  if (starts_with("postgres://") || starts_with("postgresql://")) return postgres::open(url, options);
  // Never echo the URL: it may carry a password. The scheme alone is safe to show.
  std::string scheme;
  auto colon = url.find(':');
  if (colon != std::string::npos && colon <= 20) {
    scheme = url.substr(0, colon);
    for (char c : scheme)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) {
        scheme.clear();
        break;
      }
  }
  if (url.empty()) throw Error("DATABASE_URL is empty (expected sqlite:///path/to/file.db or postgres://...)");
  throw Error("unsupported DATABASE_URL scheme" + (scheme.empty() ? std::string() : " '" + scheme + "'") +
              " (expected sqlite:///path/to/file.db, sqlite::memory: or postgres://user:pass@host:port/db)");
}

// The default: an ordinary read unit (SQLite: no round trips to save), with the contract
// enforced so a unit that grows a second statement fails in the SQLite tests too.
void Database::read_one(const std::function<void(Connection&)>& fn) {
  read([&](Connection& c) {
    detail::OneStatement one(c);
    fn(one);
  });
}

}  // namespace taskhub::sql
