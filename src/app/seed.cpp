#include "app/seed.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "core/ids.hpp"
#include "services/auth/password.hpp"
#include "services/auth/repository.hpp"
#include "services/projects/seed_support.hpp"
#include "services/tasks/seed_support.hpp"

namespace taskhub::seed {

const char* const kSeedHelp = R"(Usage: taskhub seed [--users N] [--password P] [--email-prefix S] [--domain D]
                    [--workspace NAME] [--projects P] [--tasks T] [--comments-per-task C]
                    [--seed S] [--batch N]

Fills the database (DATABASE_URL; migrations are applied first) with a sample data set for
benchmarks and demos, and prints what it created and how long it took. Safe to re-run:
existing accounts are kept and reused; each run with --workspace adds a new workspace.

Options:
  --users N          accounts to create (default 10): <prefix>-000001@<domain>, ...
                     every one can log in with the same password
  --password P       their password (default "seed-password", at least 8 characters);
                     hashed once with Argon2id and the hash reused for every account
  --email-prefix S   e-mail local-part prefix (default "seed-user")
  --domain D         e-mail domain (default "example.test")
  --workspace NAME   create a workspace NAME whose members are the seeded accounts (the
                     first is the owner; some admins and guests), with projects and tasks
  --projects P       projects in it (default 1), keys WEB, API, OPS, ..., each with the
                     default workflow states and ~10 labels; members with roles
  --tasks T          tasks in all, spread evenly over the projects (default 0) and over
                     states and priorities: 0-3 assignees, 0-3 labels, due dates around today
                     (some overdue), ~10% subtasks, watchers, relations, reactions, activity, full-text index;
                     numbers 1..n per project (the next task created gets n+1)
  --comments-per-task C
                     comments per task on average (default 2; 0 to 2C each)
  --seed S           pseudo-random seed (default 42): same seed, same data set shape
  --batch N          rows per transaction (default 5000)
  -h, --help         show this help

--projects or --tasks without --workspace use the workspace name "Seed workspace".
Example (100k tasks): taskhub seed --users 50 --workspace Acme --projects 10 --tasks 100000
)";

namespace {

int parse_count(const std::string& flag, const std::string& v, int min, int max) {
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < min || n > max)
    throw std::invalid_argument(flag + " must be a number from " + std::to_string(min) + " to " + std::to_string(max));
  return static_cast<int>(n);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

SeedOptions parse_seed_args(const std::vector<std::string>& args) {
  SeedOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "--users") {
      o.users = parse_count(a, value(), 0, 10'000'000);
    } else if (a == "--password") {
      o.password = value();
    } else if (a == "--email-prefix") {
      o.email_prefix = value();
    } else if (a == "--domain") {
      o.email_domain = value();
    } else if (a == "--batch") {
      o.batch = parse_count(a, value(), 1, 100'000);
    } else if (a == "--workspace") {
      o.workspace = value();
      if (o.workspace->empty() || o.workspace->size() > 200)
        throw std::invalid_argument("--workspace must be 1 to 200 characters");
    } else if (a == "--projects") {
      o.projects = parse_count(a, value(), 1, 10'000);
      if (!o.workspace) o.workspace = "Seed workspace";
    } else if (a == "--tasks") {
      o.tasks = parse_count(a, value(), 0, 100'000'000);
      if (!o.workspace) o.workspace = "Seed workspace";
    } else if (a == "--comments-per-task") {
      o.comments_per_task = parse_count(a, value(), 0, 100);
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(parse_count(a, value(), 0, 2'000'000'000));
    } else {
      throw std::invalid_argument("unknown option '" + a + "' (see taskhub seed --help)");
    }
  }
  if (std::string p = auth::password_problem(o.password); !p.empty()) throw std::invalid_argument("--password: " + p);
  if (o.email_prefix.empty() || o.email_domain.empty() || o.email_prefix.find('@') != std::string::npos ||
      o.email_domain.find('@') != std::string::npos)
    throw std::invalid_argument("--email-prefix and --domain must be non-empty and without '@'");
  for (char& c : o.email_prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : o.email_domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::vector<SeededUser> seed_users(sql::Database& db, Clock& clock, const SeedOptions& o, SeedReport& report) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<SeededUser> out;
  out.reserve(static_cast<std::size_t>(o.users));
  if (o.users == 0) return out;
  const std::string hash = auth::PasswordHasher{}.hash(o.password);  // once, reused for every account
  char num[16];
  for (int start = 1; start <= o.users; start += o.batch) {
    int end = std::min(o.users, start + o.batch - 1);
    db.write([&](sql::Connection& c) {
      const int64_t now = clock.now_ms();
      for (int i = start; i <= end; ++i) {
        std::snprintf(num, sizeof num, "%06d", i);
        std::string email = o.email_prefix + "-" + num + "@" + o.email_domain;
        if (auto existing = auth::repo::find_user_by_email(c, email)) {
          out.push_back({existing->id, email, false});
          continue;
        }
        auth::UserRecord u;
        u.id = new_uuid_v7();
        u.email = email;
        u.display_name = "Seed User " + std::to_string(i);
        u.timezone = "UTC";
        u.password_hash = hash;
        u.created_at = now;
        u.updated_at = now;
        auth::repo::insert_user(c, u);
        out.push_back({u.id, email, true});
      }
    });
  }
  for (const auto& u : out) (u.created ? report.users_created : report.users_existing)++;
  report.seconds_users = seconds_since(t0);
  return out;
}

void seed_workspace_and_tasks(sql::Database& db, Clock& clock, const SeedOptions& o, SeedReport& report) {
  auto t0 = std::chrono::steady_clock::now();
  std::mt19937_64 rng(o.seed);
  std::vector<std::string> user_ids;
  user_ids.reserve(report.users.size());
  for (const auto& u : report.users) user_ids.push_back(u.id);
  const int64_t now = clock.now_ms();
  projects::seed::SeedWorkspace ws;
  db.write([&](sql::Connection& c) { ws = projects::seed::seed_workspace(c, *o.workspace, o.projects, user_ids, rng, now); });
  report.workspace_id = ws.id;
  report.workspace_members = ws.workspace_members;
  report.project_members = ws.project_members;
  report.states = ws.states;
  report.labels = ws.labels;
  for (const auto& p : ws.projects) report.projects.emplace_back(p.id, p.key);
  report.seconds_projects = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  tasks::seed::SeedTaskCounts counts;
  const int64_t np = static_cast<int64_t>(ws.projects.size());
  for (int64_t i = 0; i < np; ++i) {
    const auto& p = ws.projects[static_cast<std::size_t>(i)];
    tasks::seed::SeedProjectRef ref;
    ref.id = p.id;
    for (const auto& s : p.states) ref.states.emplace_back(s.id, s.group);
    ref.label_ids = p.label_ids;
    ref.member_ids = p.member_ids.empty() ? std::vector<std::string>{user_ids.front()} : p.member_ids;
    int64_t n = o.tasks / np + (i < o.tasks % np ? 1 : 0);
    tasks::seed::seed_tasks(db, ref, n, o.comments_per_task, o.batch, rng, now, counts);
  }
  // Planner statistics for the bulk-loaded tables (PostgreSQL autovacuum would get there later;
  // SQLite has none until ANALYZE), so that the first queries after seeding get their indexes.
  db.write([&](sql::Connection& c) { c.exec_script("ANALYZE"); });
  report.tasks = counts.tasks;
  report.subtasks = counts.subtasks;
  report.overdue = counts.overdue;
  report.assignees = counts.assignees;
  report.task_labels = counts.labels;
  report.watchers = counts.watchers;
  report.comments = counts.comments;
  report.activity = counts.activity;
  report.relations = counts.relations;
  report.reactions = counts.reactions;
  report.seconds_tasks = seconds_since(t1);
}

int run_seed_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args) {
  SeedOptions o;
  try {
    o = parse_seed_args(args);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "taskhub seed: %s\n", e.what());
    return 2;
  }
  SeedReport report;
  report.users = seed_users(db, clock, o, report);
  std::printf("users: %lld created, %lld already existed (%.2f s)\n", static_cast<long long>(report.users_created),
              static_cast<long long>(report.users_existing), report.seconds_users);
  if (!report.users.empty()) {
    std::printf("  e-mails: %s ... %s\n", report.users.front().email.c_str(), report.users.back().email.c_str());
    std::printf("  password: %s\n", o.password.c_str());
  }
  if (o.workspace) {
    if (report.users.empty()) {
      std::fprintf(stderr, "taskhub seed: --workspace needs at least one user (--users N)\n");
      return 2;
    }
    try {
      seed_workspace_and_tasks(db, clock, o, report);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "taskhub seed: %s\n", e.what());
      return 1;
    }
    std::printf("workspace: \"%s\" %s, %lld members (%.2f s)\n", o.workspace->c_str(), report.workspace_id.c_str(),
                static_cast<long long>(report.workspace_members), report.seconds_projects);
    std::printf("projects: %zu (", report.projects.size());
    for (std::size_t i = 0; i < report.projects.size() && i < 10; ++i)
      std::printf("%s%s", i ? ", " : "", report.projects[i].second.c_str());
    std::printf("%s), %lld project members, %lld states, %lld labels\n", report.projects.size() > 10 ? ", ..." : "",
                static_cast<long long>(report.project_members), static_cast<long long>(report.states),
                static_cast<long long>(report.labels));
    std::printf("  first project: %s\n", report.projects.front().first.c_str());
    std::printf("tasks: %lld (%lld subtasks, %lld overdue), %lld assignees, %lld labels, %lld watchers, %lld comments, "
                "%lld relations, %lld reactions, %lld activity rows (%.2f s, %.0f tasks/s)\n",
                static_cast<long long>(report.tasks), static_cast<long long>(report.subtasks),
                static_cast<long long>(report.overdue), static_cast<long long>(report.assignees),
                static_cast<long long>(report.task_labels), static_cast<long long>(report.watchers),
                static_cast<long long>(report.comments), static_cast<long long>(report.relations),
                static_cast<long long>(report.reactions), static_cast<long long>(report.activity), report.seconds_tasks,
                report.seconds_tasks > 0 ? static_cast<double>(report.tasks) / report.seconds_tasks : 0.0);
    std::printf("total: %.2f s\n", report.seconds_users + report.seconds_projects + report.seconds_tasks);
  }
  return 0;
}

}  // namespace taskhub::seed
