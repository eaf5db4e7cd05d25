#pragma once
// Analytics: the durable outbox consumer that keeps the read model (read_model.hpp) and the
// reports, which read only the read model. Reports answer JSON objects; routes.cpp renders
// them as JSON, CSV or SVG.
#include <boost/json/object.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/background_loop.hpp"
#include "ports/clock.hpp"
#include "services/events/consumer_pacing.hpp"
#include "ports/event_bus.hpp"
#include "ports/sql.hpp"
#include "services/analytics/range.hpp"
#include "services/analytics/read_model.hpp"
#include "services/projects/client.hpp"

namespace taskhub::analytics {

inline constexpr std::size_t kConsumerBatch = 200;
inline constexpr int kBackfillBatch = 1000;
inline constexpr int kMaxExportRows = 100'000;
inline constexpr int kDefaultExportRows = 10'000;

struct Options {
  int64_t consumer_lease_ms = 10'000;
  int64_t consumer_poll_ms = 1000;
};

class AnalyticsService {
 public:
  AnalyticsService(sql::Database& db, projects::Client& projects, events::Outbox& outbox, Clock& clock,
                   Options options = {});
  ~AnalyticsService();

  // ---- consumer: one pass (the backfill first, then events); nullopt when another process
  // holds the lease, else the number of events or backfilled tasks handled.
  std::optional<std::size_t> consume_once(const std::string& holder);
  void start();
  void stop();
  void wake();

  // ---- reports (404 when the project / workspace is not visible to the user)
  boost::json::object summary(const std::string& user_id, const std::string& project_id, const std::string& tz);
  boost::json::object workspace_summary(const std::string& user_id, const std::string& workspace_id,
                                        const std::string& tz);
  boost::json::object workload(const std::string& user_id, const std::string& workspace_id);
  boost::json::object throughput(const std::string& user_id, const std::string& project_id, const Range& r);
  boost::json::object burndown(const std::string& user_id, const std::string& project_id, const Range& r);
  boost::json::object cumulative_flow(const std::string& user_id, const std::string& project_id, const Range& r);
  // Per-task list ordered by completion, keyset cursor after (completed_at, task_id).
  boost::json::object cycle_time(const std::string& user_id, const std::string& project_id, const Range& r,
                                 const std::optional<std::string>& cursor, int limit);

  struct Export {
    projects::ProjectAccess project;
    std::vector<Fact> tasks;
    std::vector<projects::StateInfo> states;
  };
  // Tasks (not deleted) ordered by number, after number `after`, at most `limit`.
  Export export_tasks(const std::string& user_id, const std::string& project_id, int64_t after, int limit);

  // 404 unless the user can see the project.
  projects::ProjectAccess require_project(const std::string& user_id, const std::string& project_id);
  std::string metrics() const;

 private:
  std::vector<std::string> workspace_projects(const std::string& user_id, const std::string& workspace_id);
  boost::json::object counts(const std::vector<std::string>& project_ids, const std::string& tz, bool with_project);
  boost::json::object as_of();
  // For each metric, the sum of its differences before each boundary of the range (the bucket
  // starts, then the last bucket's end): metric -> [(count, points) per boundary]. A level at a
  // boundary is that sum; an amount within a bucket is the difference of two.
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> prefix_sums(const std::string& project_id,
                                                                              const std::vector<std::string>& metrics,
                                                                              const Range& r);
  std::optional<std::size_t> backfill_once(const std::string& holder, const repo::Cursor& cur);
  BackgroundLoop::Next consume_tick();

  sql::Database& db_;
  projects::Client& projects_;
  events::Outbox& outbox_;
  Clock& clock_;
  Options opt_;
  std::string holder_;
  std::atomic<int64_t> applied_{0}, backfilled_{0}, cursor_{0};
  events::ConsumerPacing pacing_;  // the consumer thread's own
  BackgroundLoop consumer_;  // last: stopped before the members its tick uses are destroyed
};

}  // namespace taskhub::analytics
