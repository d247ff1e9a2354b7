// Seeds the registry with bundled adapters (the demo model's), so a fresh
// server has something to generate with.
#ifndef LORAPLEX_SERVICE_SERVER_SEED_ADAPTERS_H_
#define LORAPLEX_SERVICE_SERVER_SEED_ADAPTERS_H_

#include <string>

#include "service/registry/adapter_registry.h"

namespace loraplex::service {

// For every directory <seed_dir>/<name>/ holding a PEFT adapter, stores it
// as `tenant`'s adapter <name>, PUBLIC, through the same staged, validated
// upload path as UploadAdapter, unless the tenant already has one of that
// name. Best effort: a missing seed_dir or an adapter that does not
// validate is logged and skipped. Returns how many adapters it stored.
int SeedAdapters(AdapterRegistry& registry, const std::string& seed_dir,
                 const std::string& tenant);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_SEED_ADAPTERS_H_
