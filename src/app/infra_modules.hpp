#pragma once
// Infrastructure modules: they own no domain data, they provide ports to the services.
#include <memory>

#include "app/modules.hpp"

namespace taskhub {

// Opens DATABASE_URL with the pool settings of the configuration (DB_POOL_SIZE,
// SQLITE_SYNCHRONOUS). Every command that touches the database opens it here, so `migrate`,
// `seed` and `admin` write with the same durability as `serve`.
std::unique_ptr<sql::Database> open_configured_database(const Config& config);

std::unique_ptr<Module> make_database_module(AppContext& ctx);
std::unique_ptr<Module> make_mailer_module(AppContext& ctx);
std::unique_ptr<Module> make_ops_module(AppContext& ctx);

}  // namespace taskhub
