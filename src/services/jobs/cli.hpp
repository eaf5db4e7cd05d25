#pragma once
// `taskhub jobs ...`: the job queue from the shell.
#include <string>
#include <vector>

#include "app/config.hpp"
#include "ports/clock.hpp"
#include "ports/sql.hpp"

namespace taskhub::jobs {

extern const char* const kJobsHelp;

// args: everything after "jobs". Returns the exit code; results on stdout, errors on stderr.
int run_jobs_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args);

}  // namespace taskhub::jobs
