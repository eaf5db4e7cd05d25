#pragma once
// `taskhub admin ...` subcommands (instance administration from the shell).
#include <string>
#include <vector>

#include "app/config.hpp"
#include "ports/clock.hpp"
#include "ports/sql.hpp"

namespace taskhub::auth {

// args: everything after "admin", e.g. {"create-user", "--email", "a@b.c", "--admin"}.
// Returns the process exit code; prints results to stdout and errors to stderr.
int run_admin_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args);

}  // namespace taskhub::auth
