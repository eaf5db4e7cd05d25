#include "app/seed.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "core/ids.hpp"
#include "services/auth/password.hpp"
#include "services/auth/repository.hpp"

namespace taskhub::seed {

const char* const kSeedHelp = R"(Usage: taskhub seed [--users N] [--password P] [--email-prefix S] [--domain D]
                    [--batch N]

Fills the database (DATABASE_URL; migrations are applied first) with a sample data set for
benchmarks and demos, and prints what it created. Safe to re-run: existing accounts are
kept and reused.

Options:
  --users N          accounts to create (default 10): <prefix>-000001@<domain>, ...
                     every one can log in with the same password
  --password P       their password (default "seed-password", at least 8 characters);
                     hashed once with Argon2id and the hash reused for every account
  --email-prefix S   e-mail local-part prefix (default "seed-user")
  --domain D         e-mail domain (default "example.test")
  --batch N          rows per transaction (default 1000)
  -h, --help         show this help

Workspaces, projects and tasks (with comments, labels, assignees and history) are seeded
by later stages as the projects and tasks services provide them.
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
  // Next stages (workspaces, projects, tasks...) go here, taking report.users as members.
  return 0;
}

}  // namespace taskhub::seed
