#include "services/jobs/cli.hpp"

#include <cstdio>
#include <stdexcept>

#include "core/error.hpp"
#include "core/time.hpp"
#include "services/jobs/module.hpp"
#include "services/jobs/queue.hpp"

namespace taskhub::jobs {

const char* const kJobsHelp = R"(Usage: taskhub jobs <command> [options]

Commands:
  list [--state S] [--kind K] [--limit N]
                   newest jobs first (S: queued, running, succeeded, failed, cancelled;
                   N: 1..200, default 50)
  retry <id>       queue a failed, cancelled or queued job to run now with fresh attempts
  cancel <id>      cancel a queued or failed job (a running job cannot be cancelled)
  enqueue --kind testing.record [--payload JSON] [--key K] [--max-attempts N] [--delay-ms N]
                   testing only (TASKHUB_ENV=testing): add a job; prints its id

"failed" is the dead-letter state: the job used all its attempts (JOB_MAX_ATTEMPTS).
)";

namespace {

int usage(const std::string& msg) {
  std::fprintf(stderr, "taskhub jobs: %s\n\n%s", msg.c_str(), kJobsHelp);
  return 2;
}

void print_row(const JobRecord& j) {
  std::string err = j.last_error.value_or("");
  for (char& c : err)
    if (c == '\n' || c == '\t') c = ' ';
  if (err.size() > 80) err = err.substr(0, 77) + "...";
  std::printf("%s  %-9s  %-24s  %d/%d  %s  %s\n", j.id.c_str(), j.state.c_str(), j.kind.c_str(), j.attempt,
              j.max_attempts, format_rfc3339_ms(j.run_at).c_str(), err.c_str());
}

int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
  try {
    std::size_t used = 0;
    int n = std::stoi(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return n;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(flag + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi));
}

}  // namespace

int run_jobs_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args) {
  if (args.empty()) return usage("a command is required");
  SqlJobQueue queue(db, clock, queue_options(config));
  const std::string& cmd = args[0];
  try {
    if (cmd == "list") {
      std::optional<std::string> state, kind;
      int limit = 50;
      for (std::size_t i = 1; i < args.size(); ++i) {
        if (i + 1 >= args.size()) return usage("option " + args[i] + " needs a value");
        if (args[i] == "--state") {
          state = args[++i];
          if (*state != "queued" && *state != "running" && *state != "succeeded" && *state != "failed" &&
              *state != "cancelled")
            return usage("--state must be queued, running, succeeded, failed or cancelled");
        } else if (args[i] == "--kind") {
          kind = args[++i];
        } else if (args[i] == "--limit") {
          limit = parse_int("--limit", args[++i], 1, 200);
        } else {
          return usage("unknown option " + args[i]);
        }
      }
      auto page = queue.list(state, kind, std::nullopt, limit);
      std::printf("%-36s  %-9s  %-24s  %s  %s  %s\n", "ID", "STATE", "KIND", "TRY", "RUN_AT", "LAST_ERROR");
      for (const auto& j : page.items) print_row(j);
      return 0;
    }
    if (cmd == "retry" || cmd == "cancel") {
      if (args.size() != 2) return usage(cmd + " takes exactly one job id");
      auto j = cmd == "retry" ? queue.retry(args[1]) : queue.cancel(args[1]);
      if (!j) {
        std::fprintf(stderr, "taskhub jobs %s: no job %s\n", cmd.c_str(), args[1].c_str());
        return 1;
      }
      print_row(*j);
      return 0;
    }
    if (cmd == "enqueue") {
      if (config.env != Environment::testing) {
        std::fprintf(stderr, "taskhub jobs enqueue: only available with TASKHUB_ENV=testing\n");
        return 1;
      }
      NewJob job;
      for (std::size_t i = 1; i < args.size(); ++i) {
        if (i + 1 >= args.size()) return usage("option " + args[i] + " needs a value");
        if (args[i] == "--kind") job.kind = args[++i];
        else if (args[i] == "--payload") job.payload = args[++i];
        else if (args[i] == "--key") job.key = args[++i];
        else if (args[i] == "--max-attempts") job.max_attempts = parse_int("--max-attempts", args[++i], 1, kMaxAttemptsLimit);
        else if (args[i] == "--delay-ms") job.run_at_ms = clock.now_ms() + parse_int("--delay-ms", args[++i], 0, 86'400'000);
        else return usage("unknown option " + args[i]);
      }
      if (job.kind != kTestingKind) return usage(std::string("--kind must be ") + kTestingKind);
      auto id = db.write_value([&](sql::Connection& c) { return queue.add(c, job); });
      if (!id) {
        std::fprintf(stderr, "taskhub jobs enqueue: a job with key '%s' already exists\n", job.key.c_str());
        return 1;
      }
      std::printf("%s\n", id->c_str());
      return 0;
    }
  } catch (const ApiError& e) {
    std::fprintf(stderr, "taskhub jobs %s: %s\n", cmd.c_str(), e.detail().c_str());
    return 1;
  } catch (const std::invalid_argument& e) {
    return usage(e.what());
  }
  return usage("unknown command '" + cmd + "'");
}

}  // namespace taskhub::jobs
