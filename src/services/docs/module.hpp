#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::docs {
// Serves /api/openapi.json (embedded), Swagger UI at /api/docs and ReDoc at /api/redoc with
// assets from DOCS_ASSETS_DIR (npm packages swagger-ui-dist and redoc; no CDN).
std::unique_ptr<Module> make_module(AppContext& ctx);
}  // namespace taskhub::docs
