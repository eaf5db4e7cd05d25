#pragma once
#include "http/router.hpp"
#include "services/files/service.hpp"

namespace taskhub::files {

void register_routes(http::Router& router, FilesService& svc);

}  // namespace taskhub::files
