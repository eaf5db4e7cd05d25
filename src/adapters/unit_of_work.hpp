#pragma once
// The unit of work (read or write transaction) open on the current thread, per Database.
//
// Why: a service that reads through another service's in-process client (tasks asking projects
// "may this user see this project?") would otherwise open a second read transaction, with a
// second pool checkout and, on PostgreSQL, two more round trips (BEGIN/COMMIT). A read()
// called while the same thread already runs a read() or write() on the same Database joins
// that unit instead: same connection, same snapshot (or the writer's own uncommitted view).
// A write() never joins: it runs its own transaction on a writing connection, as before.
#include "ports/sql.hpp"

namespace taskhub::sql::detail {

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
