#pragma once
// The unit of work (read or write transaction) open on the current thread, per Database.
//
// Why: a service that reads through another service's in-process client (tasks asking projects
// "may this user see this project?") would otherwise open a second read transaction, with a
// second pool checkout and, on PostgreSQL, two more round trips (BEGIN/COMMIT). A read()
// called while the same thread already runs a read() or write() on the same Database joins
// that unit instead: same connection, same snapshot (or the writer's own uncommitted view).
// A write() never joins: it runs its own transaction on a writing connection, as before.
#include <stdexcept>

#include "ports/sql.hpp"

namespace taskhub::sql::detail {

// The connection read_one() hands out: one statement, then std::logic_error (the contract).
class OneStatement final : public Connection {
 public:
  explicit OneStatement(Connection& c) : c_(c) {}
  using Connection::query;
  Result query(std::string_view sql, std::span<const Param> params) override {
    if (used_++) throw std::logic_error("read_one: a second statement; use read() for units of several");
    return c_.query(sql, params);
  }
  void exec_script(std::string_view) override { throw std::logic_error("read_one: exec_script"); }
  void reset() { used_ = 0; }

 private:
  Connection& c_;
  int used_ = 0;
};

struct OpenUnit {
  const Database* db = nullptr;
  Connection* conn = nullptr;
  bool writable = false;
  const OpenUnit* outer = nullptr;
};

inline thread_local const OpenUnit* t_open_unit = nullptr;

// The unit `db` has open on this thread, or nullptr.
inline const OpenUnit* open_unit(const Database* db) {
  for (const OpenUnit* u = t_open_unit; u; u = u->outer)
    if (u->db == db) return u;
  return nullptr;
}

// Marks a unit open for its lifetime (construct after BEGIN succeeded).
class UnitScope {
 public:
  UnitScope(const Database* db, Connection* conn, bool writable) : unit_{db, conn, writable, t_open_unit} {
    t_open_unit = &unit_;
  }
  ~UnitScope() { t_open_unit = unit_.outer; }
  UnitScope(const UnitScope&) = delete;
  UnitScope& operator=(const UnitScope&) = delete;

 private:
  OpenUnit unit_;
};

}  // namespace taskhub::sql::detail
